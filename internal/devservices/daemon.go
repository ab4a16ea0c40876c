package devservices

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/dynamo-infra/dynamo-infra/internal/devcluster"
)

// StateFile records the background services in their directory.
const StateFile = "state.json"

// LogFile is the background process's log in its directory.
const LogFile = "services.log"

// DefaultDir is where `dynamoctl dev services` keeps its state without --dir.
func DefaultDir() string { return filepath.Join(devcluster.CacheDir(), "dev-services") }

// State is what `up` records and `status`/`down` read.
type State struct {
	Phase     string    `json:"phase"` // Starting, Ready, Failed, Stopped
	PID       int       `json:"pid"`
	DataDir   string    `json:"dataDir"`
	Endpoints Endpoints `json:"endpoints"`
	Error     string    `json:"error,omitempty"`
	StartedAt time.Time `json:"startedAt"`
}

// Phases of State.
const (
	PhaseStarting = "Starting"
	PhaseReady    = "Ready"
	PhaseFailed   = "Failed"
	PhaseStopped  = "Stopped"
)

// ErrNotRunning means no live services are recorded in the directory.
var ErrNotRunning = errors.New("dev services are not running")

func writeState(dir string, s State) error {
	b, _ := json.MarshalIndent(s, "", "  ")
	tmp := filepath.Join(dir, StateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, StateFile))
}

// ReadState reads the recorded state of dir.
func ReadState(dir string) (State, error) {
	var s State
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(b, &s)
}

// Serve runs the services in this process until ctx ends or a server fails, recording their
// state in dir. It is the body of the background process `dev services up` starts (and of
// `up --foreground`). With devcluster.EnvOwnerPID set, it also stops when that process is gone.
func Serve(ctx context.Context, dir string, o Options, progress io.Writer) error {
	if s, err := ReadState(dir); err == nil && devcluster.ProcessAlive(s.PID) && s.PID != os.Getpid() {
		return fmt.Errorf("dev services already running in %s (pid %d): stop them with dynamoctl dev services down", dir, s.PID)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ctx, cancel := devcluster.WithOwner(ctx, progress)
	defer cancel()
	st := State{Phase: PhaseStarting, PID: os.Getpid(), DataDir: o.DataDir, StartedAt: time.Now().UTC()}
	if err := writeState(dir, st); err != nil {
		return err
	}
	s, err := Start(ctx, o)
	if err != nil {
		st.Phase, st.Error = PhaseFailed, err.Error()
		_ = writeState(dir, st)
		return err
	}
	st.Phase, st.Endpoints = PhaseReady, s.Endpoints()
	if err := writeState(dir, st); err != nil {
		s.Stop()
		return err
	}
	fmt.Fprintf(progress, "ready: NATS %s, etcd %s\n", st.Endpoints.NATS, st.Endpoints.Etcd)
	var runErr error
	select {
	case <-ctx.Done():
		fmt.Fprintln(progress, "stopping: signal received")
	case runErr = <-s.Err():
		fmt.Fprintf(progress, "stopping: etcd failed: %v\n", runErr)
	}
	s.Stop()
	st.Phase = PhaseStopped
	if runErr != nil {
		st.Phase, st.Error = PhaseFailed, runErr.Error()
	}
	_ = writeState(dir, st)
	return runErr
}

// Launch starts argv (a `dev services serve` command) detached, in its own session, and waits
// until it records Ready or Failed. On timeout or ctx's end it stops the process again.
func Launch(ctx context.Context, dir string, argv []string, timeout time.Duration) (State, error) {
	if s, err := ReadState(dir); err == nil && devcluster.ProcessAlive(s.PID) {
		return s, fmt.Errorf("dev services already running in %s (pid %d): stop them with dynamoctl dev services down", dir, s.PID)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return State{}, err
	}
	_ = os.Remove(filepath.Join(dir, StateFile))
	logPath := filepath.Join(dir, LogFile)
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return State{}, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	_ = logFile.Close()
	if err != nil {
		return State{}, err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	deadline := time.After(timeout)
	for {
		if s, err := ReadState(dir); err == nil && s.PID == cmd.Process.Pid {
			switch s.Phase {
			case PhaseReady:
				return s, nil
			case PhaseFailed:
				<-exited
				return s, fmt.Errorf("dev services failed to start: %s (log: %s)", s.Error, logPath)
			}
		}
		select {
		case <-exited:
			// It may have recorded why between the last read and its exit.
			if s, err := ReadState(dir); err == nil && s.PID == cmd.Process.Pid && s.Phase == PhaseFailed {
				return s, fmt.Errorf("dev services failed to start: %s (log: %s)", s.Error, logPath)
			}
			return State{}, fmt.Errorf("dev services exited before they were ready; see %s", logPath)
		case <-ctx.Done():
			stop()
			return State{}, fmt.Errorf("interrupted: start aborted, nothing left running: %w", ctx.Err())
		case <-deadline:
			stop()
			return State{}, fmt.Errorf("dev services not ready after %s: stopped them; see %s", timeout, logPath)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Down stops the services recorded in dir (SIGTERM, then waits up to a minute for a graceful
// shutdown). The data directory is kept.
func Down(ctx context.Context, dir string) error {
	s, err := ReadState(dir)
	if err != nil || !devcluster.ProcessAlive(s.PID) {
		return fmt.Errorf("%w in %s", ErrNotRunning, dir)
	}
	if err := syscall.Kill(s.PID, syscall.SIGTERM); err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	for devcluster.ProcessAlive(s.PID) {
		if time.Now().After(deadline) {
			return fmt.Errorf("pid %d did not stop within a minute", s.PID)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// Health is one service's check.
type Health struct {
	Name string `json:"name"`
	// Address is what clients use; URL is what was probed.
	Address string `json:"address"`
	URL     string `json:"url"`
	Healthy bool   `json:"healthy"`
	Error   string `json:"error,omitempty"`
}

// Status reads the state of dir and checks NATS's /healthz, NATS's metrics endpoint (when on)
// and etcd's /health.
func Status(ctx context.Context, dir string) (State, []Health, error) {
	s, err := ReadState(dir)
	if err != nil || !devcluster.ProcessAlive(s.PID) {
		return s, nil, fmt.Errorf("%w in %s", ErrNotRunning, dir)
	}
	hc := &http.Client{Timeout: 3 * time.Second}
	var out []Health
	checks := []Health{{Name: "nats", Address: s.Endpoints.NATS, URL: s.Endpoints.NATSMonitor + "/healthz"}}
	if s.Endpoints.NATSMetrics != "" {
		checks = append(checks, Health{Name: "nats-metrics", Address: s.Endpoints.NATSMetrics, URL: s.Endpoints.NATSMetrics})
	}
	checks = append(checks, Health{Name: "etcd", Address: s.Endpoints.Etcd, URL: s.Endpoints.Etcd + "/health"})
	for _, c := range checks {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.URL, nil)
		resp, err := hc.Do(req)
		switch {
		case err != nil:
			c.Error = err.Error()
		case resp.StatusCode != http.StatusOK:
			c.Error = resp.Status
		default:
			c.Healthy = true
		}
		if resp != nil {
			_ = resp.Body.Close()
		}
		out = append(out, c)
	}
	return s, out, nil
}
