// Package supervise runs the background processes of `dynamoctl dev cluster up` and `dev
// services up`, one way: started detached in a session of their own (they outlive the terminal),
// their output in a log, waited for until the state they record says ready or failed, stopped
// again (SIGTERM, then SIGKILL) when the wait is interrupted or times out; and, inside the
// background process, tied to an owner process (EnvOwnerPID) so that a killed test binary
// leaves nothing running.
package supervise

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// EnvOwnerPID, when set to a process id, ties a background process to that process: it stops
// once the owner is gone. Test suites set it to their own pid.
const EnvOwnerPID = "DYNAMO_DEV_CLUSTER_OWNER_PID"

// WithOwner returns a context that also ends once the process named in EnvOwnerPID is gone
// (saying so on progress); without the variable, ctx itself.
func WithOwner(ctx context.Context, progress io.Writer) (context.Context, context.CancelFunc) {
	owner, err := strconv.Atoi(os.Getenv(EnvOwnerPID))
	if err != nil || owner <= 0 {
		return context.WithCancel(ctx)
	}
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		for Alive(owner) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
		fmt.Fprintf(progress, "owner process %d is gone: stopping\n", owner)
		cancel()
	}()
	return ctx, cancel
}

// Alive reports whether a process with the given pid exists and has not exited. A zombie
// (exited, not yet reaped — a detached process whose new parent does not reap) is not alive.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	// The state letter follows the parenthesized command name, which may itself hold ") ".
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z' && stat[i+2] != 'X'
	}
	return true
}

// Spec is a background process to start.
type Spec struct {
	// Name says what starts, in errors ("the dev cluster's supervisor", "dev services").
	Name string
	// Command is the argv.
	Command []string
	// Log receives the process's output (truncated first).
	Log string
	// Timeout bounds the wait for Ready.
	Timeout time.Duration
	// Progress receives the log's lines while Launch waits (nil: they are not copied).
	Progress io.Writer
	// Ready reads the state the process records: true once it is ready, an error once it
	// recorded a failure, (false, nil) while it starts.
	Ready func(pid int) (bool, error)
}

// Launch starts the process and waits until it is ready (its pid), has failed (Ready's error,
// after it exited), or exited without saying. When ctx ends first (Ctrl-C) or the wait times
// out, the process is stopped and nothing is left running.
func Launch(ctx context.Context, s Spec) (int, error) {
	logFile, err := os.OpenFile(s.Log, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(s.Command[0], s.Command[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	_ = logFile.Close()
	if err != nil {
		return 0, fmt.Errorf("start %s: %w", s.Name, err)
	}
	pid := cmd.Process.Pid
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	copyLog := func() {}
	if s.Progress != nil {
		tail, err := os.Open(s.Log)
		if err != nil {
			terminate(pid, exited)
			return 0, err
		}
		defer tail.Close()
		lines := bufio.NewReader(tail)
		copyLog = func() { copyLines(lines, s.Progress) }
	}
	deadline := time.NewTimer(s.Timeout)
	defer deadline.Stop()
	for {
		copyLog()
		switch ready, err := s.Ready(pid); {
		case err != nil:
			<-exited
			copyLog()
			return pid, err
		case ready:
			return pid, nil
		}
		select {
		case <-exited:
			copyLog()
			// It may have recorded why between the last read and its exit.
			if _, err := s.Ready(pid); err != nil {
				return pid, err
			}
			how := "exit status 0"
			if waitErr != nil {
				how = waitErr.Error()
			}
			return pid, fmt.Errorf("%s exited before it was ready (%s); see %s", s.Name, how, s.Log)
		case <-ctx.Done():
			terminate(pid, exited)
			return pid, fmt.Errorf("interrupted: %s stopped, nothing left running: %w", s.Name, ctx.Err())
		case <-deadline.C:
			terminate(pid, exited)
			return pid, fmt.Errorf("%s not ready after %s: stopped it; see %s", s.Name, s.Timeout, s.Log)
		case <-time.After(150 * time.Millisecond):
		}
	}
}

// copyLines copies what was written so far; a partial last line is printed, its rest comes
// with the next call.
func copyLines(r *bufio.Reader, w io.Writer) {
	for {
		line, err := r.ReadString('\n')
		fmt.Fprint(w, line)
		if err != nil {
			return
		}
	}
}

// terminate stops a process this one started: SIGTERM, SIGKILL after 30 s.
func terminate(pid int, exited <-chan struct{}) {
	_ = syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(pid, syscall.SIGKILL)
		<-exited
	}
}

// Terminate asks a process started earlier (by another dynamoctl) to stop with SIGTERM and
// waits up to grace for it to be gone; false when it is still alive (or ctx ended first).
func Terminate(ctx context.Context, pid int, grace time.Duration) bool {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return !Alive(pid)
	}
	return WaitGone(ctx, pid, grace)
}

// WaitGone waits up to limit for a process to be gone.
func WaitGone(ctx context.Context, pid int, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for Alive(pid) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}
