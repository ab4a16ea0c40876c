// Package clidocs is dynamoctl's whole command tree as its users see it — dynamoctl's commands
// and, under dev, the dynamoctl-dev binary's — and the reference written from it (docs/cli).
package clidocs

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/dynamo-infra/dynamo-infra/internal/cli"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/dev"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/exit"
)

// GenerateDocs writes the Markdown reference of every command into dir (docs/cli). Defaults that
// depend on the user's cache dir are shown as ~/.cache, so the output is the same everywhere.
func GenerateDocs(dir string) error {
	if err := os.Setenv("XDG_CACHE_HOME", "~/.cache"); err != nil {
		return err
	}
	root := Tree(genericiooptions.IOStreams{In: os.Stdin, Out: io.Discard, ErrOut: io.Discard})
	root.InitDefaultCompletionCmd()
	root.DisableAutoGenTag = true
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := doc.GenMarkdownTree(root, dir); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "exit-codes.md"), exitCodesPage(), 0o644)
}

// Tree is dynamoctl's command tree with `dev`'s own commands (the dynamoctl-dev binary's) in place
// of the command that runs that binary.
func Tree(streams genericiooptions.IOStreams) *cobra.Command {
	root := cli.NewRootCommand(streams)
	for _, c := range root.Commands() {
		if c.Name() == "dev" {
			root.RemoveCommand(c)
		}
	}
	root.AddCommand(dev.NewCommand(streams))
	return root
}

// exitCodesPage is docs/cli/exit-codes.md: every command's codes, from the exit package.
func exitCodesPage() []byte {
	var b bytes.Buffer
	b.WriteString("# dynamoctl exit codes\n\nEvery command exits with one of these; each command's help says which it uses.\n\n| code | meaning |\n|---|---|\n")
	for _, m := range exit.Meanings {
		fmt.Fprintf(&b, "| %d | %s |\n", m.Code, m.Meaning)
	}
	return b.Bytes()
}
