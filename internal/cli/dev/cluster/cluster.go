// Package cluster is `dynamoctl dev cluster up|down|status`: a local Kubernetes cluster from real
// control-plane binaries with simulated GPU nodes (internal/devcluster does the work).
package cluster

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/dynamo-infra/dynamo-infra/internal/devcluster"
)

// NewCommand returns `dynamoctl dev cluster`.
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Run a local Kubernetes cluster with simulated GPU nodes",
		Long: `Run a local Kubernetes cluster from real control-plane binaries (etcd, kube-apiserver,
kube-controller-manager, kube-scheduler) with kwok making simulated GPU nodes Ready and their pods
Running. The real scheduler places pods by nvidia.com/gpu and MIG resources.

Simulated nodes carry the taint kwok.x-k8s.io/node=fake:NoSchedule; pods meant for them tolerate it:

  tolerations:
  - key: kwok.x-k8s.io/node
    operator: Exists
    effect: NoSchedule

The binaries come from 'make cluster-bin' (built from source through the Go module proxy).`,
	}
	cmd.AddCommand(newUpCommand(streams), newDownCommand(streams), newStatusCommand(streams), newServeCommand(streams))
	return cmd
}

// addDirFlag registers --dir, the cluster's state directory.
func addDirFlag(cmd *cobra.Command, dir *string) {
	*dir = devcluster.DefaultDir()
	cmd.Flags().StringVar(dir, "dir", *dir, "State directory of the cluster (PIDs, logs, kubeconfig, etcd data)")
	_ = cmd.MarkFlagDirname("dir")
}
