package clidocs_test

import (
	"testing"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/dynamo-infra/dynamo-infra/internal/cli/clidocs"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/command"
)

// Every leaf command that does something has the one command shape: Options with Complete,
// Validate and Run(ctx), bound with command.Bind (cobra's own help and completion aside).
func TestEveryLeafHasTheOptionsShape(t *testing.T) {
	root := clidocs.Tree(genericiooptions.NewTestIOStreamsDiscard())
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	leaves := 0
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if c.HasSubCommands() || !c.Runnable() {
			return
		}
		switch {
		case c.Name() == "help" || c.Name() == "completion" || c.Parent() != nil && c.Parent().Name() == "completion":
			return // cobra's own
		case c.Annotations[command.Annotation] == "":
			t.Errorf("%s is not bound with command.Bind (Options with Complete, Validate, Run(ctx))", c.CommandPath())
		}
		leaves++
	}
	walk(root)
	t.Logf("%d leaf commands", leaves)
	if leaves < 20 {
		t.Errorf("only %d leaf commands found", leaves)
	}
}
