package supervise

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// spec runs script under sh (exec'ing its last command, so the pid is the process's) with a
// state file the script writes and Ready reads: "ready", "failed", or nothing yet.
func spec(t *testing.T, script string, timeout time.Duration) (Spec, string) {
	t.Helper()
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	return Spec{
		Name: "the test process", Command: []string{"sh", "-c", script, "sh", state}, Log: filepath.Join(dir, "log"), Timeout: timeout,
		Ready: func(pid int) (bool, error) {
			b, err := os.ReadFile(state)
			if err != nil {
				return false, nil
			}
			switch f := strings.Fields(string(b)); {
			case len(f) == 2 && f[0] == strconv.Itoa(pid) && f[1] == "ready":
				return true, nil
			case len(f) == 2 && f[0] == strconv.Itoa(pid) && f[1] == "failed":
				return false, errors.New("it said it failed")
			}
			return false, nil
		},
	}, state
}

func stopped(t *testing.T, pid int) {
	t.Helper()
	if !WaitGone(context.Background(), pid, 5*time.Second) {
		t.Errorf("pid %d still running", pid)
		Terminate(context.Background(), pid, time.Second)
	}
}

func TestLaunchReady(t *testing.T) {
	s, _ := spec(t, `echo starting; echo "$$ ready" > "$1"; exec sleep 60`, 10*time.Second)
	var progress strings.Builder
	s.Progress = &progress
	pid, err := Launch(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if !Alive(pid) {
		t.Fatal("the ready process is not running")
	}
	if !Terminate(context.Background(), pid, 5*time.Second) || Alive(pid) {
		t.Fatal("Terminate left it running")
	}
	if !strings.Contains(progress.String(), "starting") {
		t.Errorf("progress %q lacks the log's lines", progress.String())
	}
}

// A recorded failure is the process's own error; an exit without one says so and names the log.
func TestLaunchFails(t *testing.T) {
	s, _ := spec(t, `echo "$$ failed" > "$1"; exit 3`, 10*time.Second)
	if _, err := Launch(context.Background(), s); err == nil || err.Error() != "it said it failed" {
		t.Errorf("recorded failure: %v", err)
	}
	s, _ = spec(t, `exit 3`, 10*time.Second)
	if _, err := Launch(context.Background(), s); err == nil || !strings.Contains(err.Error(), "exited before it was ready (exit status 3)") || !strings.Contains(err.Error(), s.Log) {
		t.Errorf("silent exit: %v", err)
	}
}

// A process that is never ready is stopped at the timeout, and on Ctrl-C (ctx): nothing is
// left running.
func TestLaunchStopsWhatIsNotReady(t *testing.T) {
	s, _ := spec(t, `exec sleep 60`, 500*time.Millisecond)
	pid, err := Launch(context.Background(), s)
	if err == nil || !strings.Contains(err.Error(), "not ready after 500ms: stopped it") {
		t.Errorf("timeout: %v", err)
	}
	stopped(t, pid)
	s, _ = spec(t, `exec sleep 60`, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	pid, err = Launch(ctx, s)
	if err == nil || !strings.HasPrefix(err.Error(), "interrupted:") || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("interrupted: %v", err)
	}
	stopped(t, pid)
}

// The background side: its context ends once the owner named by EnvOwnerPID is gone.
func TestWithOwner(t *testing.T) {
	s, _ := spec(t, `echo "$$ ready" > "$1"; exec sleep 60`, 10*time.Second)
	owner, err := Launch(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvOwnerPID, strconv.Itoa(owner))
	var progress strings.Builder
	ctx, cancel := WithOwner(context.Background(), &progress)
	defer cancel()
	select {
	case <-ctx.Done():
		t.Fatal("ended while the owner runs")
	case <-time.After(700 * time.Millisecond):
	}
	Terminate(context.Background(), owner, 5*time.Second)
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("still running after its owner is gone")
	}
	if Alive(os.Getpid()) != true || Alive(0) || Alive(-1) {
		t.Error("Alive of this process, 0 or -1")
	}
}
