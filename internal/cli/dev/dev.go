// Package dev is `dynamoctl dev`: local development environments. It is the dynamoctl-dev
// binary's command tree (dynamoctl's own `dev` runs that binary).
package dev

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/dynamo-infra/dynamo-infra/internal/cli/command"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/dev/cluster"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/dev/services"
	"github.com/dynamo-infra/dynamo-infra/internal/kube"
	"github.com/dynamo-infra/dynamo-infra/internal/version"
)

// NewCommand returns `dynamoctl dev`.
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Local development environments: a simulated GPU cluster, NATS and etcd",
		Long: `Local development environments: a simulated GPU cluster (dev cluster) and NATS and etcd (dev
services).

These commands are a second binary's, dynamoctl-dev, which dynamoctl dev runs from beside dynamoctl
(make build writes both) or from PATH: the kubectl plugin stays small without them.`,
	}
	cmd.AddCommand(cluster.NewCommand(streams), services.NewCommand(streams))
	return cmd
}

// NewBinaryRoot returns the dynamoctl-dev binary's root: `dynamoctl dev` itself, shown to the
// user as displayName (default "dynamoctl dev"), with the connection flags dynamoctl's root
// carries, which `dynamoctl dev` commands have always accepted.
func NewBinaryRoot(streams genericiooptions.IOStreams, displayName string) *cobra.Command {
	if displayName == "" {
		displayName = "dynamoctl dev"
	}
	root := command.Root(NewCommand(streams), streams)
	root.Use = version.DevBinary
	root.Annotations = map[string]string{cobra.CommandDisplayNameAnnotation: displayName}
	// Completion is dynamoctl's (it asks this binary through cobra's hidden __complete).
	root.CompletionOptions.DisableDefaultCmd = true
	kube.NewConfigFlags().AddFlags(root.PersistentFlags())
	return root
}
