// Package clitest builds dynamoctl once for a test binary and runs it as a user would: the one
// kit of the end-to-end and hostile suites.
package clitest

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
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/dynamo-infra/dynamo-infra/internal/cli"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/exit"
)

// Build builds dynamoctl into dir, with dynamoctl-dev beside it (`dynamoctl dev` runs it), and
// returns dynamoctl's path.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "dynamoctl")
	build := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "github.com/dynamo-infra/dynamo-infra/cmd/dynamoctl", "github.com/dynamo-infra/dynamo-infra/cmd/dynamoctl-dev")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	return bin, build.Run()
}

// Result is one finished run.
type Result struct {
	Stdout, Stderr string
	Code           int
	// Took is how long the run took.
	Took time.Duration
	// MaxRSS is the most memory the process held at once, in bytes (binary runs only): its
	// VmHWM, read every few milliseconds while it ran (rusage would count the test's own memory,
	// which the child holds between fork and exec).
	MaxRSS int64
}

// Run runs bin with args, extra environment variables (KEY=VALUE, over the test's own) and a
// time limit; a run that hits the limit fails the test.
func Run(t testing.TB, bin string, timeout time.Duration, env []string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Start()
	var hwm int64
	if err == nil {
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			for {
				if v := VmHWM(cmd.Process.Pid); v > 0 {
					hwm = v
				}
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		}()
		err = cmd.Wait()
		close(stop)
		<-sampled
	}
	if ctx.Err() != nil {
		t.Fatalf("dynamoctl %s: timed out after %s\nstderr:\n%s", strings.Join(args, " "), timeout, errOut.String())
	}
	r := Result{Stdout: out.String(), Stderr: errOut.String(), Took: time.Since(start), MaxRSS: hwm}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	case err != nil:
		t.Fatalf("dynamoctl %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// RunInProcess runs dynamoctl's root command in this process against a kubeconfig, as a user
// would run the binary: stdout, stderr (with the error it returns) and the exit code.
func RunInProcess(ctx context.Context, kubeconfig string, args ...string) Result {
	var out, errOut SyncBuffer
	root := cli.NewRootCommand(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	root.SetArgs(append([]string{"--kubeconfig", kubeconfig}, args...))
	start := time.Now()
	err := root.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintln(&errOut, err)
	}
	return Result{Stdout: out.String(), Stderr: errOut.String(), Code: exit.Code(err), Took: time.Since(start)}
}

// VmHWM is a running process's peak resident memory in bytes, from /proc (0 when it cannot be
// read: the process has ended).
func VmHWM(pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
