package load

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/apimachinery/pkg/util/wait"
)

// Operator is a dynamo-operator binary running as its own process (so its memory is its own).
type Operator struct {
	cmd *exec.Cmd
	// Metrics is the URL of its /metrics.
	Metrics string
	done    chan error
	log     string
}

// StartOperator runs bin against kubeconfig with metrics and probes on free local ports and
// args added, logs to a temporary file, and waits until it is ready. The process dies with
// this one.
func StartOperator(ctx context.Context, bin, kubeconfig string, args ...string) (*Operator, error) {
	metrics, health := freeAddr(), freeAddr()
	logFile, err := os.CreateTemp("", "bench-operator-*.log")
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	argv := append([]string{"--kubeconfig", kubeconfig, "--metrics-bind-address", metrics, "--health-probe-bind-address", health,
		"--nats-address", "nats://nats:4222", "--zap-log-level", "error"}, args...)
	cmd := exec.Command(bin, argv...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	op := &Operator{cmd: cmd, Metrics: "http://" + metrics + "/metrics", done: make(chan error, 1), log: logFile.Name()}
	go func() { op.done <- cmd.Wait() }()
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		select {
		case err := <-op.done:
			return false, fmt.Errorf("operator exited (log: %s): %w", op.log, err)
		default:
		}
		resp, err := httpClient.Get("http://" + health + "/readyz")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		return nil, errors.Join(err, op.Stop())
	}
	return op, nil
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

// Stop ends the process (SIGTERM, then SIGKILL after 30 s) and removes its log.
func (op *Operator) Stop() error {
	_ = op.cmd.Process.Signal(syscall.SIGTERM)
	var waitErr error
	select {
	case waitErr = <-op.done:
	case <-time.After(30 * time.Second):
		_ = op.cmd.Process.Kill()
		waitErr = <-op.done
	}
	_ = waitErr // the signal's exit status: expected, not a failure
	return os.Remove(op.log)
}

// RSS reads a memory field (VmRSS, VmHWM) of the operator's process in KiB.
func (op *Operator) RSS(field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", op.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}

// Scrape reads its metrics.
func (op *Operator) Scrape() (map[string]*dto.MetricFamily, error) {
	resp, err := httpClient.Get(op.Metrics)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(io.Reader(resp.Body))
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}
