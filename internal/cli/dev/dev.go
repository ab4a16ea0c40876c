// Package dev is `dynamoctl dev`: local development environments.
package dev

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/dynamo-infra/dynamo-infra/internal/cli/dev/cluster"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/dev/services"
)

// NewCommand returns `dynamoctl dev`.
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Local development environments: a simulated GPU cluster, NATS and etcd",
	}
	cmd.AddCommand(cluster.NewCommand(streams), services.NewCommand(streams))
	return cmd
}
