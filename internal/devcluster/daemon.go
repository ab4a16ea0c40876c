package devcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/dynamo-infra/dynamo-infra/internal/simnode"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
	"github.com/dynamo-infra/dynamo-infra/internal/supervise"
)

// SupervisorLog is the log file of the background supervisor in a cluster directory.
const SupervisorLog = "supervisor.log"

// DefaultDir is where `dynamoctl dev cluster` keeps its cluster without --dir.
func DefaultDir() string { return filepath.Join(CacheDir(), "dev-cluster") }

// EnvOwnerPID ties a background cluster to a process (supervise.EnvOwnerPID).
const EnvOwnerPID = supervise.EnvOwnerPID

// ErrAlreadyRunning means a cluster directory already has a live supervisor.
var ErrAlreadyRunning = errors.New("a dev cluster is already running")

// checkNotRunning fails with ErrAlreadyRunning when dir records a live supervisor.
func checkNotRunning(dir string) error {
	if s, err := ReadState(dir); err == nil && supervise.Alive(s.Supervisor) {
		return fmt.Errorf("%w in %s (supervisor pid %d): stop it with `dynamoctl dev cluster down --dir %s`", ErrAlreadyRunning, dir, s.Supervisor, dir)
	}
	return nil
}

// Supervise runs a cluster in the foreground of this process until ctx ends (a signal) or a
// component exits, recording its state in opts.Dir. It is the body of the background process
// that `dynamoctl dev cluster up` starts, and of `up --foreground`. onReady, when set, is called
// once the cluster is Ready.
func Supervise(ctx context.Context, opts Options, onReady func(State)) error {
	if opts.Dir == "" {
		return errors.New("supervise needs a cluster directory")
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return err
	}
	if err := checkNotRunning(opts.Dir); err != nil {
		return err
	}
	opts.KeepDir = true
	self := os.Getpid()
	ctx, cancel := supervise.WithOwner(ctx, opts.Progress)
	defer cancel()
	if err := WriteState(opts.Dir, State{Dir: opts.Dir, Phase: PhaseStarting, Supervisor: self, Profile: opts.Profile.String(), StartedAt: time.Now().UTC()}); err != nil {
		return err
	}
	c, err := Start(ctx, opts)
	if err != nil {
		_ = WriteState(opts.Dir, State{Dir: opts.Dir, Phase: PhaseFailed, Error: err.Error(), Supervisor: self, Profile: opts.Profile.String()})
		return err
	}
	record := func(phase Phase, msg string) {
		s := c.State()
		s.Supervisor, s.Phase, s.Error = self, phase, msg
		_ = WriteState(opts.Dir, s)
	}
	record(PhaseReady, "")
	fmt.Fprintf(opts.Progress, "cluster ready: %s\n", c.Server())
	if onReady != nil {
		onReady(c.State())
	}
	select {
	case <-ctx.Done():
		fmt.Fprintln(opts.Progress, "stopping: signal received")
		record(PhaseStopping, "")
		if err := c.Stop(); err != nil {
			record(PhaseFailed, err.Error())
			return err
		}
		record(PhaseStopped, "")
		return nil
	case exitErr := <-c.Exited():
		fmt.Fprintf(opts.Progress, "stopping: %v\n", exitErr)
		record(PhaseFailed, exitErr.Error())
		return errors.Join(exitErr, c.Stop())
	}
}

// LaunchOptions start a background supervisor.
type LaunchOptions struct {
	Dir string
	// Command is the supervisor's argv: the program and arguments that run Supervise for Dir.
	Command []string
	// Timeout bounds the wait for the cluster to become Ready.
	Timeout time.Duration
	// Progress receives the supervisor's progress lines while Launch waits.
	Progress io.Writer
	// Description says what is being started, for the first progress line.
	Description string
}

// Launch starts a detached supervisor (its own session, so it outlives this process and the
// terminal) and waits until its cluster is Ready or has failed. When ctx ends first (Ctrl-C),
// or the wait times out, the supervisor is stopped and nothing is left running.
func Launch(ctx context.Context, opts LaunchOptions) (State, error) {
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	if err := checkNotRunning(opts.Dir); err != nil {
		return State{}, err
	}
	fmt.Fprintf(opts.Progress, "Starting dev cluster in %s (%s)\n", opts.Dir, opts.Description)
	// Whatever a dead supervisor left is stale: clear it so the new cluster starts clean.
	if err := removeClusterFiles(opts.Dir); err != nil {
		return State{}, err
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return State{}, fmt.Errorf("create cluster dir: %w", err)
	}
	var st State
	_, err := supervise.Launch(ctx, supervise.Spec{
		Name: "the dev cluster's supervisor", Command: opts.Command, Log: filepath.Join(opts.Dir, SupervisorLog),
		Timeout: opts.Timeout, Progress: opts.Progress,
		Ready: func(pid int) (bool, error) {
			s, err := ReadState(opts.Dir)
			if err != nil || s.Supervisor != pid {
				return false, nil
			}
			st = s
			if s.Phase == PhaseFailed {
				return false, fmt.Errorf("cluster failed to start: %s (logs in %s)", s.Error, filepath.Join(opts.Dir, "logs"))
			}
			return s.Phase == PhaseReady, nil
		},
	})
	return st, err
}

// DownResult says what Down did.
type DownResult struct {
	Dir     string `json:"dir"`
	Stopped bool   `json:"stopped"` // a running cluster was stopped
	Removed bool   `json:"removed"` // its files were removed
}

// Down stops the cluster recorded in dir: SIGTERM to the supervisor (which stops the
// components), SIGKILL to anything still alive after the grace period, then removes the cluster's
// files unless keep. A directory without a cluster is not an error, so Down is safe to repeat.
func Down(ctx context.Context, dir string, keep bool) (DownResult, error) {
	res := DownResult{Dir: dir}
	s, err := ReadState(dir)
	if errors.Is(err, ErrNoCluster) {
		return res, nil
	}
	if err != nil {
		return res, err
	}
	// A foreground supervisor cleaning up after itself is the caller: never signal ourselves.
	if s.Supervisor != os.Getpid() && supervise.Alive(s.Supervisor) {
		res.Stopped = true
		if !supervise.Terminate(ctx, s.Supervisor, 45*time.Second) {
			_ = syscall.Kill(s.Supervisor, syscall.SIGKILL)
		}
	}
	// Components die with their supervisor (Pdeathsig); make sure of it.
	for _, comp := range s.Components {
		if supervise.Alive(comp.PID) {
			res.Stopped = true
			_ = killGroup(comp.PID, syscall.SIGKILL)
			supervise.WaitGone(ctx, comp.PID, 5*time.Second)
		}
	}
	if keep {
		return res, nil
	}
	if err := removeClusterFiles(dir); err != nil {
		return res, err
	}
	res.Removed = true
	return res, nil
}

// clusterFiles are the entries a cluster creates in its directory; only these are removed, so a
// --dir that holds other files keeps them.
var clusterFiles = []string{"pki", "kubeconfigs", "kubeconfig", "etcd", "logs", "apiserver", "kwok.yaml", "admission.yaml", "lws", "operator.log", StateFile, StateFile + ".tmp", SupervisorLog}

func removeClusterFiles(dir string) error {
	var errs []error
	for _, f := range clusterFiles {
		if err := os.RemoveAll(filepath.Join(dir, f)); err != nil {
			errs = append(errs, err)
		}
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) == 0 {
		_ = os.Remove(dir)
	}
	return errors.Join(errs...)
}

// Status is a health report of a recorded cluster.
type Status struct {
	State      State             `json:"state"`
	Running    bool              `json:"running"`
	Healthy    bool              `json:"healthy"`
	Components []ComponentHealth `json:"components"`
	Nodes      []NodeSummary     `json:"nodes"`
	NodesError string            `json:"nodesError,omitempty"`
}

// NodeSummary is one node as `status` shows it.
type NodeSummary struct {
	Name       string            `json:"name"`
	Ready      bool              `json:"ready"`
	Kind       string            `json:"kind,omitempty"`
	Zone       string            `json:"zone,omitempty"`
	GPUProduct string            `json:"gpuProduct,omitempty"`
	GPUs       int64             `json:"gpus"`
	MIG        map[string]int64  `json:"mig,omitempty"`
	Labels     map[string]string `json:"-"`
}

// GetStatus checks the cluster recorded in dir: supervisor, every component's health endpoint,
// and the nodes as the API server reports them. It returns ErrNoCluster when dir has none.
func GetStatus(ctx context.Context, dir string) (Status, error) {
	s, err := ReadState(dir)
	if err != nil {
		return Status{}, err
	}
	st := Status{State: s, Running: supervise.Alive(s.Supervisor)}
	if !st.Running {
		return st, nil
	}
	st.Components = s.CheckHealth(ctx)
	st.Healthy = s.Phase == PhaseReady && len(st.Components) > 0
	for _, h := range st.Components {
		st.Healthy = st.Healthy && h.Healthy
	}
	if s.Phase != PhaseReady {
		return st, nil
	}
	nodes, err := listNodes(ctx, s.Kubeconfig)
	if err != nil {
		st.NodesError = err.Error()
		st.Healthy = false
		return st, nil
	}
	st.Nodes = nodes
	return st, nil
}

func listNodes(ctx context.Context, kubeconfig string) ([]NodeSummary, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.Timeout = 10 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	out := make([]NodeSummary, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, SummarizeNode(&list.Items[i]))
	}
	return out, nil
}

// SummarizeNode reduces a node to what `status` prints.
func SummarizeNode(n *corev1.Node) NodeSummary {
	s := NodeSummary{
		Name:       n.Name,
		Ready:      NodeReady(n),
		Kind:       n.Labels[simnode.LabelNodeKind],
		Zone:       n.Labels[simnode.LabelZone],
		GPUProduct: n.Labels[nvidia.LabelGPUProduct],
	}
	for name, q := range n.Status.Allocatable {
		switch {
		case name == nvidia.ResourceGPU:
			s.GPUs = q.Value()
		case len(name) > len(nvidia.ResourceMIGPrefix) && string(name[:len(nvidia.ResourceMIGPrefix)]) == nvidia.ResourceMIGPrefix:
			if s.MIG == nil {
				s.MIG = map[string]int64{}
			}
			s.MIG[string(name[len(nvidia.ResourceMIGPrefix):])] = q.Value()
		}
	}
	return s
}
