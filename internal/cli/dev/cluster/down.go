package cluster

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/dynamo-infra/dynamo-infra/internal/cli/command"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster"
)

// DownOptions are the flags of `dynamoctl dev cluster down`.
type DownOptions struct {
	Dir  string
	Keep bool

	streams genericiooptions.IOStreams
}

func newDownCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &DownOptions{streams: streams}
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop the dev cluster and remove its files (safe to repeat)",
		Long: `Stop every process of the dev cluster in --dir and remove its files (certificates, etcd data,
logs, kubeconfig). Only the cluster's own files are removed. Running it when no cluster is running
is not an error.`,
		Args: cobra.NoArgs,
	}
	addDirFlag(cmd, &o.Dir)
	cmd.Flags().BoolVar(&o.Keep, "keep-dir", false, "Keep the cluster's files (logs, etcd data) after stopping")
	return command.Bind(cmd, o)
}

// Complete makes --dir absolute.
func (o *DownOptions) Complete(_ []string) error {
	var err error
	o.Dir, err = filepath.Abs(o.Dir)
	return err
}

// Validate has nothing more to check.
func (o *DownOptions) Validate() error { return nil }

// Run stops the cluster and removes its files unless kept.
func (o *DownOptions) Run(ctx context.Context) error {
	res, err := devcluster.Down(ctx, o.Dir, o.Keep)
	if err != nil {
		return err
	}
	switch {
	case res.Stopped:
		fmt.Fprintf(o.streams.ErrOut, "Stopped the dev cluster in %s\n", o.Dir)
	default:
		fmt.Fprintf(o.streams.ErrOut, "No dev cluster running in %s\n", o.Dir)
	}
	if o.Keep {
		fmt.Fprintf(o.streams.ErrOut, "Kept its files (logs in %s/logs)\n", o.Dir)
	}
	return nil
}
