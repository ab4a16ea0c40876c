package devcluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/dynamo-infra/dynamo-infra/internal/supervise"
)

// Phase is where a cluster is in its life.
type Phase string

// Phases a State goes through.
const (
	PhaseStarting Phase = "Starting"
	PhaseReady    Phase = "Ready"
	PhaseFailed   Phase = "Failed"
	PhaseStopping Phase = "Stopping"
	PhaseStopped  Phase = "Stopped"
)

// StateFile is the name of the state file in a cluster directory.
const StateFile = "state.json"

// State is what a running cluster records in its directory so that other processes
// (`dynamoctl dev cluster status|down`) can find and check it.
type State struct {
	Dir        string           `json:"dir"`
	Kubeconfig string           `json:"kubeconfig"`
	Server     string           `json:"server"`
	Profile    string           `json:"profile,omitempty"`
	Phase      Phase            `json:"phase"`
	Error      string           `json:"error,omitempty"`
	Supervisor int              `json:"supervisorPID,omitempty"`
	Components []ComponentState `json:"components"`
	CAFile     string           `json:"caFile"`
	ClientCert string           `json:"clientCert"`
	ClientKey  string           `json:"clientKey"`
	StartedAt  time.Time        `json:"startedAt"`
}

// ComponentState is one control-plane process.
type ComponentState struct {
	Name      string `json:"name"`
	PID       int    `json:"pid"`
	HealthURL string `json:"healthURL"`
	Log       string `json:"log"`
}

// ComponentHealth is the result of checking one component.
type ComponentHealth struct {
	ComponentState
	Running bool   `json:"running"`
	Healthy bool   `json:"healthy"`
	Detail  string `json:"detail,omitempty"`
}

// WriteState writes s to dir/state.json atomically.
func WriteState(dir string, s State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, StateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, StateFile))
}

// ErrNoCluster means a directory holds no cluster state.
var ErrNoCluster = errors.New("no dev cluster")

// ReadState reads dir/state.json; it returns ErrNoCluster when there is none.
func ReadState(dir string) (State, error) {
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if errors.Is(err, os.ErrNotExist) {
		return State{}, fmt.Errorf("%w in %s", ErrNoCluster, dir)
	}
	if err != nil {
		return State{}, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, fmt.Errorf("read %s: %w", filepath.Join(dir, StateFile), err)
	}
	return s, nil
}

// CheckHealth checks every component of a recorded cluster: process alive and health endpoint
// answering 200. Each check has its own timeout.
func (s State) CheckHealth(ctx context.Context) []ComponentHealth {
	hc, err := s.healthClient()
	out := make([]ComponentHealth, len(s.Components))
	for i, comp := range s.Components {
		h := ComponentHealth{ComponentState: comp, Running: supervise.Alive(comp.PID)}
		switch {
		case !h.Running:
			h.Detail = "process not running"
		case err != nil:
			h.Detail = err.Error()
		default:
			if cerr := checkHealth(ctx, hc, comp.HealthURL); cerr != nil {
				h.Detail = cerr.Error()
			} else {
				h.Healthy = true
			}
		}
		out[i] = h
	}
	return out
}

// healthClient is an HTTPS client trusting the cluster CA and presenting the admin certificate;
// the same client serves every component's health endpoint.
func (s State) healthClient() (*http.Client, error) {
	ca, err := os.ReadFile(s.CAFile)
	if err != nil {
		return nil, fmt.Errorf("read cluster CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("no certificate in %s", s.CAFile)
	}
	cert, err := tls.LoadX509KeyPair(s.ClientCert, s.ClientKey)
	if err != nil {
		return nil, fmt.Errorf("load admin client certificate: %w", err)
	}
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
			DisableKeepAlives: true,
		},
	}, nil
}

func checkHealth(ctx context.Context, hc *http.Client, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d: %s", url, resp.StatusCode, firstLine(string(body)))
	}
	return nil
}

func firstLine(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	return s
}
