// Package command is the one shape of dynamoctl's leaf commands: an Options struct that
// completes itself from the arguments and the flags' values, validates them, and runs with the
// command's context (Ctrl-C cancels it). Bind wires one into cobra.
package command

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"github.com/dynamo-infra/dynamo-infra/internal/cli/exit"
)

// Leaf is a leaf command's options.
type Leaf interface {
	// Complete fills what the arguments and flags imply (defaults, parsed values); an error is a
	// usage error (exit 2).
	Complete(args []string) error
	// Validate refuses options that do not go together; an error is a usage error (exit 2).
	Validate() error
	// Run does the work; its error carries its exit code (internal/cli/exit).
	Run(ctx context.Context) error
}

// Annotation marks a command bound with Bind (TestEveryLeafHasTheOptionsShape looks for it).
const Annotation = "dynamo-infra.dev/options-shape"

// Bind sets cmd's RunE to Complete, Validate and Run o.
func Bind(cmd *cobra.Command, o Leaf) *cobra.Command {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[Annotation] = "true"
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := o.Complete(args); err != nil {
			return usage(err)
		}
		if err := o.Validate(); err != nil {
			return usage(err)
		}
		return o.Run(cmd.Context())
	}
	return cmd
}

// usage makes err a usage error unless it carries its own code (Complete may find that the
// machine, not the flags, is wrong: binaries missing, exit 1).
func usage(err error) error {
	var coded *exit.Error
	if errors.As(err, &coded) {
		return err
	}
	return exit.UsageError(err)
}
