// Command dynamoctl is the dynamo-infra command line. Built or installed as kubectl-dynamo it
// is kubectl's plugin `kubectl dynamo`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/dynamo-infra/dynamo-infra/internal/cli"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/exit"
	"github.com/dynamo-infra/dynamo-infra/internal/version"
)

func main() {
	cli.SilenceKlog()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	root := cli.NewRootCommand(streams)
	if filepath.Base(os.Args[0]) == version.PluginBinary {
		cli.AsKubectlPlugin(root)
	}
	err := root.ExecuteContext(ctx)
	interrupted := ctx.Err() != nil
	stop()
	if err == nil {
		return
	}
	fmt.Fprintf(os.Stderr, "error: %v\n", err)
	code := exit.Code(err)
	if interrupted && code == exit.Failure {
		code = exit.Interrupted
	}
	os.Exit(code)
}
