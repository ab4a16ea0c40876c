// Package cli builds dynamoctl's command tree. Commands parse flags, call one package function
// and print; the work lives in the internal packages.
package cli

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/dynamo-infra/dynamo-infra/internal/cli/command"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/convert"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/explain"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/get"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/gpus"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/observability"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/plan"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/preflight"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/pvc"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/render"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/rollout"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/version"
	"github.com/dynamo-infra/dynamo-infra/internal/kube"
	dynamoversion "github.com/dynamo-infra/dynamo-infra/internal/version"
)

// AsKubectlPlugin makes root's usage, help and completion say "kubectl dynamo", for the binary
// run as version.PluginBinary.
func AsKubectlPlugin(root *cobra.Command) {
	root.Use = dynamoversion.PluginBinary
	if root.Annotations == nil {
		root.Annotations = map[string]string{}
	}
	root.Annotations[cobra.CommandDisplayNameAnnotation] = "kubectl dynamo"
}

// NewRootCommand returns the dynamoctl root command writing to streams.
func NewRootCommand(streams genericiooptions.IOStreams) *cobra.Command {
	root := &cobra.Command{
		Use:   "dynamoctl",
		Short: "Deploy and operate NVIDIA Dynamo inference graphs on Kubernetes GPU clusters",
		Long: `dynamoctl is the command line of dynamo-infra: GPU inventory, pre-deployment checks, PVC tooling,
DynamoGraphDeployment rendering, listing and diagnosis (explain: why a graph is not Ready and what
to change), observability configuration. Installed as kubectl-dynamo (make build writes both), it
is the kubectl plugin: kubectl dynamo ... The developer tooling (dynamoctl dev: a local simulated
GPU cluster, NATS and etcd) is a second binary, dynamoctl-dev, which dynamoctl dev runs.

Exit codes: 0 success, 1 failure, 2 usage error, 3 cluster not running or unreachable,
4 warnings with --strict (preflight),
130 interrupted (after cleaning up).`,
	}
	command.Root(root, streams)
	// kubectl's connection flags (--kubeconfig, --context, -n, --request-timeout, ...) for every
	// command that talks to a cluster.
	kubeFlags := kube.NewConfigFlags()
	kubeFlags.AddFlags(root.PersistentFlags())
	root.AddCommand(version.NewCommand(streams), newDevCommand(streams), gpus.NewCommand(kubeFlags, streams), render.NewCommand(kubeFlags, streams), convert.NewCommand(kubeFlags, streams), get.NewCommand(kubeFlags, streams), explain.NewCommand(kubeFlags, streams), plan.NewCommand(kubeFlags, streams), preflight.NewCommand(kubeFlags, streams), pvc.NewCommand(kubeFlags, streams), observability.NewCommand(kubeFlags, streams), rollout.NewCommand(kubeFlags, streams))
	return root
}
