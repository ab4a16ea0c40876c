package clitest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// BuildOperator builds dynamo-operator into dir and returns its path.
func BuildOperator(dir string) (string, error) {
	bin := filepath.Join(dir, "dynamo-operator")
	build := exec.Command("go", "build", "-o", bin, "github.com/dynamo-infra/dynamo-infra/cmd/dynamo-operator")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	return bin, build.Run()
}

// Process is a started command whose output is kept.
type Process struct {
	Cmd  *exec.Cmd
	Logs *SyncBuffer
	// Exited is closed when the command has ended; Err is set then.
	Exited chan struct{}
	Err    error
}

// StartProcess starts cmd, capturing its output. When the test ends it sends SIGINT (what
// Ctrl-C sends) and waits up to 30 s — then kills it and fails the test — and prints the
// output if the test failed. A process the test already stopped is left as it is.
func StartProcess(t testing.TB, name string, cmd *exec.Cmd) *Process {
	t.Helper()
	p := &Process{Cmd: cmd, Logs: &SyncBuffer{}, Exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.Logs, p.Logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.Err = cmd.Wait(); close(p.Exited) }()
	t.Cleanup(func() {
		select {
		case <-p.Exited:
		default:
			_ = cmd.Process.Signal(os.Interrupt)
			select {
			case <-p.Exited:
				t.Logf("%s exited: %v", name, p.Err)
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				<-p.Exited
				t.Errorf("%s ignored SIGINT for 30s (killed: %v)", name, p.Err)
			}
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.Logs.String())
		}
	})
	return p
}

// Kill stops the process at once (SIGKILL: no clean-up, as a crashed node would) and waits.
func (p *Process) Kill() {
	_ = p.Cmd.Process.Kill()
	<-p.Exited
}

// Stop sends SIGINT and waits for the process to end, up to timeout; it reports whether it did.
func (p *Process) Stop(timeout time.Duration) bool {
	_ = p.Cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.Exited:
		return true
	case <-time.After(timeout):
		return false
	}
}

// SyncBuffer is a bytes.Buffer safe for a process's output and a test reading it.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
