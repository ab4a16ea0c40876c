// Package version is `dynamoctl version`.
package version

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/dynamo-infra/dynamo-infra/internal/cli/exit"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/output"
	buildversion "github.com/dynamo-infra/dynamo-infra/internal/version"
)

// NewCommand returns `dynamoctl version`.
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	var out *output.Flag
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the dynamoctl version, commit and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := out.Format()
			if err != nil {
				return exit.UsageError(err)
			}
			info := buildversion.Get()
			if format == output.Table {
				_, err := fmt.Fprintf(streams.Out, "dynamoctl %s (commit %s, %s, %s)\n", info.Version, info.Commit, info.GoVersion, info.Platform)
				return err
			}
			return output.Encode(streams.Out, format, info)
		},
	}
	out = output.AddFlag(cmd, output.Table, output.JSON, output.YAML)
	return cmd
}
