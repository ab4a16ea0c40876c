package command

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/klog/v2"

	"github.com/dynamo-infra/dynamo-infra/internal/cli/exit"
)

// Root makes cmd a root command writing to streams: errors are returned, not printed (Main
// prints them once), usage is not printed after a failure, and a flag error is a usage error.
func Root(cmd *cobra.Command, streams genericiooptions.IOStreams) *cobra.Command {
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetIn(streams.In)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return exit.UsageError(err) })
	return cmd
}

// Main runs root with the process's arguments under a context Ctrl-C cancels, prints the error
// it returns on one line, and returns the exit code (internal/cli/exit): what a binary's main
// passes to os.Exit.
func Main(root *cobra.Command) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := root.ExecuteContext(ctx)
	interrupted := ctx.Err() != nil
	stop()
	if err == nil {
		return 0
	}
	fmt.Fprintf(os.Stderr, "error: %v\n", err)
	code := exit.Code(err)
	if interrupted && code == exit.Failure {
		code = exit.Interrupted
	}
	return code
}

// SilenceKlog sends klog's output nowhere. client-go reports errors it cannot return (a stream
// torn down by Ctrl-C, a closed connection) through klog, which would print "Unhandled Error"
// lines over a command's own output; every error that matters reaches the command, which prints
// it once.
func SilenceKlog() {
	// Errors also go to stderr at or above the stderr threshold (ERROR by default), whatever
	// the output: raise it past them.
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	for name, value := range map[string]string{"logtostderr": "false", "alsologtostderr": "false", "stderrthreshold": "FATAL"} {
		_ = fs.Set(name, value)
	}
	klog.SetOutput(io.Discard)
}
