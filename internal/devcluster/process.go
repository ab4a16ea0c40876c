package devcluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// stopGrace is how long a component gets to exit after SIGTERM before its group gets SIGKILL.
const stopGrace = 10 * time.Second

// process is one running cluster component.
type process struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{} // closed when the process has exited and been reaped
	err  error         // exit error, valid after done
}

// startProcess starts bin with args, output to logPath. The child gets its own process group so
// stop can signal everything it spawned, and Pdeathsig so it dies with us even when we are killed
// without a chance to clean up (a panicking or timed-out test binary, kill -9).
func startProcess(name, bin string, args []string, logPath string) (*process, error) {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, err
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s (%s): %w", name, bin, err)
	}
	p := &process{name: name, cmd: cmd, log: logFile, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// pid returns the process id (and process group id).
func (p *process) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// died returns nil while the process runs; once it has ended, an error saying how, naming its log
// with the last lines, and wrapping errPortTaken when it lost a port (Start then retries).
func (p *process) died(logPath string) error {
	if !p.exited() {
		return nil
	}
	err := fmt.Errorf("%w; see %s%s", p.exitError(), logPath, logTail(logPath, 3))
	// Read whole lines (kwok logs JSON lines longer than the cut the message shows), and more
	// than the message shows: controller-runtime binaries (LWS) print a stack trace after the
	// error.
	if strings.Contains(strings.Join(lastLines(logPath, portErrorLines), "\n"), "address already in use") {
		err = fmt.Errorf("%w (address already in use): %w", errPortTaken, err)
	}
	return err
}

// portErrorLines is how many last log lines died reads for a bind error.
const portErrorLines = 12

// exitError describes how the process ended, for error messages.
func (p *process) exitError() error {
	if p.err == nil {
		return fmt.Errorf("%s exited", p.name)
	}
	return fmt.Errorf("%s exited: %w", p.name, p.err)
}

// stop sends SIGTERM to the process group, waits up to grace, then SIGKILLs the group. It returns
// once the process has been reaped; it is safe to call more than once.
func (p *process) stop(grace time.Duration) error {
	if p.exited() {
		_ = killGroup(p.pid(), syscall.SIGKILL) // children that outlived their leader
		return nil
	}
	if err := killGroup(p.pid(), syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal %s: %w", p.name, err)
	}
	select {
	case <-p.done:
	case <-time.After(grace):
	}
	_ = killGroup(p.pid(), syscall.SIGKILL)
	<-p.done
	return nil
}

// killGroup signals every process in the group led by pid.
func killGroup(pid int, sig syscall.Signal) error {
	return syscall.Kill(-pid, sig)
}
