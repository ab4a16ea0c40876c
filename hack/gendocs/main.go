// Command gendocs writes the Markdown reference of every dynamoctl command into a directory.
//
//	go run ./hack/gendocs docs/cli
package main

import (
	"fmt"
	"os"

	"github.com/dynamo-infra/dynamo-infra/internal/cli/clidocs"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gendocs DIR")
		os.Exit(2)
	}
	if err := clidocs.GenerateDocs(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
