// Command dynamoctl is the dynamo-infra command line. Built or installed as kubectl-dynamo it
// is kubectl's plugin `kubectl dynamo`.
package main

import (
	"os"
	"path/filepath"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/dynamo-infra/dynamo-infra/internal/cli"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/command"
	"github.com/dynamo-infra/dynamo-infra/internal/version"
)

func main() {
	command.SilenceKlog()
	root := cli.NewRootCommand(genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	if filepath.Base(os.Args[0]) == version.PluginBinary {
		cli.AsKubectlPlugin(root)
	}
	os.Exit(command.Main(root))
}
