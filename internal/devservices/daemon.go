package devservices

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/dynamo-infra/dynamo-infra/internal/devcluster"
	"github.com/dynamo-infra/dynamo-infra/internal/supervise"
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
// `up --foreground`). With supervise.EnvOwnerPID set, it also stops when that process is gone.
func Serve(ctx context.Context, dir string, o Options, progress io.Writer) error {
	if s, err := ReadState(dir); err == nil && supervise.Alive(s.PID) && s.PID != os.Getpid() {
		return fmt.Errorf("dev services already running in %s (pid %d): stop them with dynamoctl dev services down", dir, s.PID)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ctx, cancel := supervise.WithOwner(ctx, progress)
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
	if s, err := ReadState(dir); err == nil && supervise.Alive(s.PID) {
		return s, fmt.Errorf("dev services already running in %s (pid %d): stop them with dynamoctl dev services down", dir, s.PID)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return State{}, err
	}
	_ = os.Remove(filepath.Join(dir, StateFile))
	logPath := filepath.Join(dir, LogFile)
	var st State
	_, err := supervise.Launch(ctx, supervise.Spec{
		Name: "dev services", Command: argv, Log: logPath, Timeout: timeout,
		Ready: func(pid int) (bool, error) {
			s, err := ReadState(dir)
			if err != nil || s.PID != pid {
				return false, nil
			}
			st = s
			if s.Phase == PhaseFailed {
				return false, fmt.Errorf("dev services failed to start: %s (log: %s)", s.Error, logPath)
			}
			return s.Phase == PhaseReady, nil
		},
	})
	if err != nil {
		return st, err
	}
	return st, nil
}

// Down stops the services recorded in dir (SIGTERM, then waits up to a minute for a graceful
// shutdown). The data directory is kept.
func Down(ctx context.Context, dir string) error {
	s, err := ReadState(dir)
	if err != nil || !supervise.Alive(s.PID) {
		return fmt.Errorf("%w in %s", ErrNotRunning, dir)
	}
	// No SIGKILL: etcd's data outlives the services and must not be cut mid-write.
	if !supervise.Terminate(ctx, s.PID, time.Minute) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("pid %d did not stop within a minute", s.PID)
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
	if err != nil || !supervise.Alive(s.PID) {
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
