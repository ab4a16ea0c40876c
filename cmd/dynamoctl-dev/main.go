// Command dynamoctl-dev is dynamo-infra's developer tooling: the simulated GPU cluster and the
// dev services (NATS, etcd). Users run it as `dynamoctl dev ...` (dynamoctl runs this binary);
// it is apart so that the kubectl plugin stays small.
package main

import (
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/dynamo-infra/dynamo-infra/internal/cli/command"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/dev"
	"github.com/dynamo-infra/dynamo-infra/internal/version"
)

func main() {
	command.SilenceKlog()
	root := dev.NewBinaryRoot(genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}, os.Getenv(version.EnvDevDisplayName))
	os.Exit(command.Main(root))
}
