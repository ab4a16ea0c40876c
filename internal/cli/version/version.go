// Package version is `dynamoctl version`.
package version

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/dynamo-infra/dynamo-infra/internal/cli/command"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/output"
	buildversion "github.com/dynamo-infra/dynamo-infra/internal/version"
)

// Options are the flags of `dynamoctl version`.
type Options struct {
	out     *output.Flag
	format  output.Format
	streams genericiooptions.IOStreams
}

// NewCommand returns `dynamoctl version`.
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{streams: streams}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the dynamoctl version, commit and Go version",
		Args:  cobra.NoArgs,
	}
	o.out = output.AddFlag(cmd, output.Table, output.JSON, output.YAML)
	return command.Bind(cmd, o)
}

// Complete reads the output format.
func (o *Options) Complete(_ []string) error {
	var err error
	o.format, err = o.out.Format()
	return err
}

// Validate has nothing more to check.
func (o *Options) Validate() error { return nil }

// Run prints the version.
func (o *Options) Run(_ context.Context) error {
	info := buildversion.Get()
	if o.format == output.Table {
		_, err := fmt.Fprintf(o.streams.Out, "dynamoctl %s (commit %s, %s, %s)\n", info.Version, info.Commit, info.GoVersion, info.Platform)
		return err
	}
	return output.Encode(o.streams.Out, o.format, info)
}
