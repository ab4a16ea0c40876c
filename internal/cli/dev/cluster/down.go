package cluster

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/dynamo-infra/dynamo-infra/internal/devcluster"
)

func newDownCommand(streams genericiooptions.IOStreams) *cobra.Command {
	var dir string
	var keep bool
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop the dev cluster and remove its files (safe to repeat)",
		Long: `Stop every process of the dev cluster in --dir and remove its files (certificates, etcd data,
logs, kubeconfig). Only the cluster's own files are removed. Running it when no cluster is running
is not an error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := filepath.Abs(dir)
			if err != nil {
				return err
			}
			res, err := devcluster.Down(cmd.Context(), d, keep)
			if err != nil {
				return err
			}
			switch {
			case res.Stopped:
				fmt.Fprintf(streams.ErrOut, "Stopped the dev cluster in %s\n", d)
			default:
				fmt.Fprintf(streams.ErrOut, "No dev cluster running in %s\n", d)
			}
			if keep {
				fmt.Fprintf(streams.ErrOut, "Kept its files (logs in %s/logs)\n", d)
			}
			return nil
		},
	}
	addDirFlag(cmd, &dir)
	cmd.Flags().BoolVar(&keep, "keep-dir", false, "Keep the cluster's files (logs, etcd data) after stopping")
	return cmd
}
