package cli

import (
	"io"
	"os"

	"github.com/spf13/cobra/doc"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// GenerateDocs writes the Markdown reference of every command into dir (docs/cli). Defaults that
// depend on the user's cache dir are shown as ~/.cache, so the output is the same everywhere.
func GenerateDocs(dir string) error {
	if err := os.Setenv("XDG_CACHE_HOME", "~/.cache"); err != nil {
		return err
	}
	root := NewRootCommand(genericiooptions.IOStreams{In: os.Stdin, Out: io.Discard, ErrOut: io.Discard})
	root.InitDefaultCompletionCmd()
	root.DisableAutoGenTag = true
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return doc.GenMarkdownTree(root, dir)
}
