// Package e2e runs the built dynamoctl binary against the simulated cluster, as a user would.
package e2e

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

	"github.com/dynamo-infra/dynamo-infra/internal/devcluster"
	"github.com/dynamo-infra/dynamo-infra/test/clitest"
)

// dynamoctl is the path of the binary built once for the package.
var dynamoctl string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "dynamoctl-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// Clusters started through the CLI stop when this test binary is gone, even if it is killed
	// before its cleanups run.
	if err := os.Setenv(devcluster.EnvOwnerPID, strconv.Itoa(os.Getpid())); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// pvc access records the pods it starts under XDG_STATE_HOME: keep that out of the home.
	if err := os.Setenv("XDG_STATE_HOME", filepath.Join(dir, "state")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if dynamoctl, err = clitest.Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, "build dynamoctl:", err)
		return 1
	}
	return m.Run()
}

// result is one finished dynamoctl run.
type result struct {
	stdout, stderr string
	code           int
}

// runCLI runs dynamoctl with args and a time limit; a run that hits the limit fails the test.
func runCLI(t *testing.T, timeout time.Duration, args ...string) result {
	t.Helper()
	r := clitest.Run(t, dynamoctl, timeout, nil, args...)
	return result{stdout: r.Stdout, stderr: r.Stderr, code: r.Code}
}

// processesMentioning lists the pids of live processes whose command line contains s. Every
// cluster process names its state directory in its arguments.
func processesMentioning(s string) []string {
	var pids []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		// Zombies have an empty cmdline and are not running.
		if bytes.Contains(b, []byte(s)) {
			pids = append(pids, e.Name()+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return pids
}

// assertNoProcesses waits briefly for processes naming dir to be gone, then fails on any left.
func assertNoProcesses(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := processesMentioning(dir)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes still running for %s:\n%s", dir, strings.Join(left, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// clusterDir returns a fresh state directory and makes sure whatever the test starts in it is
// stopped when the test ends, pass or fail.
func clusterDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "cluster")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		_ = exec.CommandContext(ctx, dynamoctl, "dev", "cluster", "down", "--dir", dir).Run()
	})
	return dir
}

// interruptAndWait sends SIGINT to a started command once ready returns true (polled every
// 50 ms for up to a minute) and returns its exit code; it fails the test if the command does not
// end within a minute after the signal.
func interruptAndWait(t *testing.T, cmd *exec.Cmd, stderr fmt.Stringer, ready func() bool) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(time.Minute)
	for !ready() {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("not ready to interrupt after a minute (killed: %v); stderr:\n%s", <-done, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("did not exit within a minute of SIGINT; stderr:\n%s", stderr.String())
		return -1
	}
}
