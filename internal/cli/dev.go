package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/dynamo-infra/dynamo-infra/internal/cli/command"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/exit"
	"github.com/dynamo-infra/dynamo-infra/internal/version"
)

// devOptions is `dynamoctl dev ...`: every argument is dynamoctl-dev's.
type devOptions struct {
	cmd  *cobra.Command
	args []string
	path string
}

// newDevCommand returns `dynamoctl dev`, which runs dynamoctl-dev with its arguments, in place of
// this process (same PID, signals, terminal and exit code).
func newDevCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &devOptions{}
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Local development environments: a simulated GPU cluster, NATS and etcd (runs " + version.DevBinary + ")",
		Long: `Local development environments: a simulated GPU cluster (dev cluster) and NATS and etcd (dev
services). They live in a second binary, ` + version.DevBinary + `, beside dynamoctl (make build writes both) or
on PATH: dynamoctl dev ARGS runs dynamoctl-dev ARGS. dynamoctl dev --help lists its commands.

Exit codes: dynamoctl-dev's; 1 when it cannot be found.`,
		DisableFlagParsing: true,
		ValidArgsFunction:  o.completions,
	}
	o.cmd = cmd
	cmd.SetOut(streams.Out)
	return command.Bind(cmd, o)
}

func (o *devOptions) Complete(args []string) error {
	o.args = args
	path, err := devBinary()
	if err != nil {
		return exit.WithCode(exit.Failure, err)
	}
	o.path = path
	return nil
}

func (o *devOptions) Validate() error { return nil }

func (o *devOptions) Run(context.Context) error {
	root := o.cmd.Root().Name()
	if name := o.cmd.Root().Annotations[cobra.CommandDisplayNameAnnotation]; name != "" {
		root = name // kubectl dynamo
	}
	env := append(os.Environ(), version.EnvDevDisplayName+"="+root+" "+o.cmd.Name())
	err := syscall.Exec(o.path, append([]string{o.path}, o.args...), env)
	return exit.WithCode(exit.Failure, fmt.Errorf("run %s: %w", o.path, err))
}

// completions asks dynamoctl-dev for the completions of the words after `dev` (cobra's hidden
// __complete command prints one per line, then ":<directive>").
func (o *devOptions) completions(_ *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	path, err := devBinary()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, append(append([]string{cobra.ShellCompRequestCmd}, args...), toComplete)...).Output()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	lines := strings.Split(strings.TrimRight(string(bytes.TrimSpace(out)), "\n"), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, ":") {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	directive, err := strconv.Atoi(last[1:])
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	// cobra offers dynamoctl's own connection flags itself (dynamoctl-dev has the same ones).
	var words []string
	for _, l := range lines[:len(lines)-1] {
		name, _, _ := strings.Cut(strings.TrimLeft(l, "-"), "\t")
		if strings.HasPrefix(l, "-") && o.cmd.InheritedFlags().Lookup(name) != nil {
			continue
		}
		words = append(words, l)
	}
	return words, cobra.ShellCompDirective(directive)
}

// devBinary finds dynamoctl-dev: beside this binary (symlinks followed: kubectl-dynamo is a link
// to dynamoctl), else on PATH.
func devBinary() (string, error) {
	if self, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(self); err == nil {
			self = real
		}
		p := filepath.Join(filepath.Dir(self), version.DevBinary)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := exec.LookPath(version.DevBinary); err == nil {
		return p, nil
	} else if !errors.Is(err, exec.ErrNotFound) {
		return "", err
	}
	return "", fmt.Errorf("dynamoctl dev needs %s, the developer tooling (the simulated cluster, NATS and etcd): it is neither beside dynamoctl nor on PATH; make build writes bin/%s", version.DevBinary, version.DevBinary)
}
