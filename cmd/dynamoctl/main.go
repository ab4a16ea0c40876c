// Command dynamoctl is the dynamo-infra command line (also usable as `kubectl dynamo`).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/klog/v2"

	"github.com/dynamo-infra/dynamo-infra/internal/cli"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/exit"
)

func main() {
	// client-go reports errors it cannot return (a stream torn down by Ctrl-C, a closed
	// connection) through klog, which would print "Unhandled Error" lines over the command's
	// own output; every error that matters reaches the command and is printed once below.
	klog.SetOutput(io.Discard)
	klog.LogToStderr(false)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	err := cli.NewRootCommand(streams).ExecuteContext(ctx)
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
