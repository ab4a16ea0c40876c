package e2e

import (
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dynamo-infra/dynamo-infra/internal/devcluster"
	"github.com/dynamo-infra/dynamo-infra/internal/supervise"
)

func TestVersion(t *testing.T) {
	r := runCLI(t, 10*time.Second, "version", "-o", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var info struct{ Version, Commit, GoVersion, Platform string }
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil {
		t.Fatalf("version -o json: %v\n%s", err, r.stdout)
	}
	if info.Version == "" || !strings.HasPrefix(info.GoVersion, "go1.") || info.Platform == "" {
		t.Errorf("version info %+v", info)
	}
	r = runCLI(t, 10*time.Second, "version", "-o", "xml")
	if r.code != 2 || !strings.Contains(r.stderr, `unknown output format "xml"`) {
		t.Errorf("-o xml: exit %d, stderr %q; want exit 2 naming the format", r.code, r.stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	dir := clusterDir(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"dev", "cluster", "up", "--dir", dir, "--profile", "h100=2,b300=1"}, `unknown node kind "b300"`},
		{[]string{"dev", "cluster", "up", "--dir", dir, "--profile", "h100=x"}, `bad count "x"`},
		{[]string{"dev", "cluster", "up", "--dir", dir, "--nodes-file", "/nonexistent.yaml", "--profile", ""}, "--nodes-file"},
		{[]string{"dev", "cluster", "up", "--no-such-flag"}, "unknown flag"},
		{[]string{"no-such-command"}, "unknown command"},
	}
	for _, tt := range tests {
		r := runCLI(t, 20*time.Second, tt.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("dynamoctl %s: exit %d, stderr %q; want exit 2 and %q", strings.Join(tt.args, " "), r.code, r.stderr, tt.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, devcluster.StateFile)); err == nil {
		t.Error("a usage error left cluster state behind")
	}
}

func TestDevClusterLifecycle(t *testing.T) {
	dir := clusterDir(t)
	r := runCLI(t, 4*time.Minute, "dev", "cluster", "up", "--dir", dir, "--profile", "h100=1,a100-mig=1,cpu=1")
	if r.code != 0 {
		t.Fatalf("up: exit %d\n%s", r.code, r.stderr)
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if r.stdout != "export KUBECONFIG="+kubeconfig+"\n" {
		t.Errorf("up stdout = %q, want the export line", r.stdout)
	}

	r = runCLI(t, 30*time.Second, "dev", "cluster", "status", "--dir", dir, "-o", "json")
	if r.code != 0 {
		t.Fatalf("status: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var st devcluster.Status
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("status -o json: %v", err)
	}
	if !st.Running || !st.Healthy || len(st.Components) != len(devcluster.Binaries) {
		t.Errorf("status: running=%v healthy=%v components=%d", st.Running, st.Healthy, len(st.Components))
	}
	kinds := map[string]int{}
	for _, n := range st.Nodes {
		if !n.Ready {
			t.Errorf("node %s not Ready", n.Name)
		}
		kinds[n.Kind]++
	}
	if kinds["h100"] != 1 || kinds["a100-mig"] != 1 || kinds["cpu"] != 1 || len(st.Nodes) != 3 {
		t.Errorf("nodes by kind %v, want h100=1,a100-mig=1,cpu=1", kinds)
	}
	for _, n := range st.Nodes {
		if n.Kind == "a100-mig" && (n.MIG["1g.10gb"] != 28 || n.GPUs != 2) {
			t.Errorf("MIG node: gpus=%d mig=%v", n.GPUs, n.MIG)
		}
	}

	table := runCLI(t, 30*time.Second, "dev", "cluster", "status", "--dir", dir)
	for _, want := range []string{"Cluster:     Ready", "kube-scheduler", "a100-mig-0", "NVIDIA-H100-80GB-HBM3", "1g.10gb=28,2g.20gb=6"} {
		if !strings.Contains(table.stdout, want) {
			t.Errorf("status table lacks %q:\n%s", want, table.stdout)
		}
	}

	if kubectl, err := exec.LookPath("kubectl"); err == nil {
		out, err := exec.Command(kubectl, "--kubeconfig", kubeconfig, "--request-timeout=20s", "get", "nodes", "-L", "nvidia.com/gpu.product", "--no-headers").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "NVIDIA-A100-SXM4-80GB") {
			t.Errorf("kubectl get nodes -L nvidia.com/gpu.product: %v\n%s", err, out)
		}
	}

	again := runCLI(t, 30*time.Second, "dev", "cluster", "up", "--dir", dir)
	if again.code != 1 || !strings.Contains(again.stderr, "already running") {
		t.Errorf("second up: exit %d, stderr %q; want exit 1 saying it is already running", again.code, again.stderr)
	}

	down := runCLI(t, 90*time.Second, "dev", "cluster", "down", "--dir", dir)
	if down.code != 0 || !strings.Contains(down.stderr, "Stopped") {
		t.Fatalf("down: exit %d, %q", down.code, down.stderr)
	}
	assertNoProcesses(t, dir)
	for _, comp := range st.Components {
		if supervise.Alive(comp.PID) {
			t.Errorf("%s (pid %d) alive after down", comp.Name, comp.PID)
		}
	}
	if l, err := net.Listen("tcp", strings.TrimPrefix(st.State.Server, "https://")); err != nil {
		t.Errorf("API server port not free after down: %v", err)
	} else {
		l.Close()
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("cluster dir still there after down: %v", err)
	}

	repeat := runCLI(t, 30*time.Second, "dev", "cluster", "down", "--dir", dir)
	if repeat.code != 0 || !strings.Contains(repeat.stderr, "No dev cluster running") {
		t.Errorf("repeated down: exit %d, %q", repeat.code, repeat.stderr)
	}
	gone := runCLI(t, 30*time.Second, "dev", "cluster", "status", "--dir", dir)
	if gone.code != 3 {
		t.Errorf("status without a cluster: exit %d, want 3 (%s)", gone.code, gone.stderr)
	}
}

// Ctrl-C while `up` waits stops the half-started cluster and exits 130.
func TestDevClusterUpInterrupted(t *testing.T) {
	dir := clusterDir(t)
	cmd := exec.Command(dynamoctl, "dev", "cluster", "up", "--dir", dir, "--profile", "cpu=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt once the supervisor is recorded, i.e. while the cluster is starting.
	code := interruptAndWait(t, cmd, &stderr, func() bool {
		s, err := devcluster.ReadState(dir)
		return err == nil && s.Supervisor > 0
	})
	if code != 130 {
		t.Errorf("interrupted up: exit %d, want 130; stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("stderr does not say it was interrupted:\n%s", stderr.String())
	}
	assertNoProcesses(t, dir)
}

// A supervisor killed with SIGTERM takes every component with it; status then says so (exit 3)
// and down cleans up the files.
func TestDevClusterSupervisorTerminated(t *testing.T) {
	dir := clusterDir(t)
	if r := runCLI(t, 4*time.Minute, "dev", "cluster", "up", "--dir", dir, "--profile", "cpu=1"); r.code != 0 {
		t.Fatalf("up: exit %d\n%s", r.code, r.stderr)
	}
	s, err := devcluster.ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(s.Supervisor, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	assertNoProcesses(t, dir)
	r := runCLI(t, 30*time.Second, "dev", "cluster", "status", "--dir", dir)
	if r.code != 3 || !strings.Contains(r.stderr, "not running") {
		t.Errorf("status after SIGTERM: exit %d, %q; want 3 and 'not running'", r.code, r.stderr)
	}
	if r := runCLI(t, 30*time.Second, "dev", "cluster", "down", "--dir", dir); r.code != 0 {
		t.Errorf("down: exit %d %s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, devcluster.StateFile)); !os.IsNotExist(err) {
		t.Errorf("state file left after down: %v", err)
	}
}

// `up --foreground` serves until Ctrl-C, then stops everything and removes its files (exit 0).
func TestDevClusterForeground(t *testing.T) {
	dir := clusterDir(t)
	cmd := exec.Command(dynamoctl, "dev", "cluster", "up", "--foreground", "--dir", dir, "--profile", "cpu=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	ready := make(chan string, 1)
	go func() {
		b := make([]byte, 4096)
		n, _ := stdout.Read(b)
		ready <- string(b[:n])
		_, _ = io.Copy(io.Discard, stdout)
		done <- cmd.Wait()
	}()
	select {
	case line := <-ready:
		if line != "export KUBECONFIG="+filepath.Join(dir, "kubeconfig")+"\n" {
			t.Errorf("foreground stdout %q, want the export line", line)
		}
	case <-time.After(3 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("foreground cluster not ready; stderr:\n%s", stderr.String())
	}
	if again := runCLI(t, 30*time.Second, "dev", "cluster", "up", "--foreground", "--dir", dir); again.code != 1 || !strings.Contains(again.stderr, "already running") {
		t.Errorf("second foreground up: exit %d, %q", again.code, again.stderr)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("foreground up after Ctrl-C: %v, want exit 0; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(90 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("foreground up did not exit after SIGINT")
	}
	assertNoProcesses(t, dir)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("foreground cluster left %s behind (%v)", dir, err)
	}
}

// A background cluster tied to an owner process stops when that process dies.
func TestDevClusterStopsWithOwner(t *testing.T) {
	dir := clusterDir(t)
	owner := exec.Command("sleep", "300")
	if err := owner.Start(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(dynamoctl, "dev", "cluster", "up", "--dir", dir, "--profile", "cpu=1")
	cmd.Env = append(os.Environ(), devcluster.EnvOwnerPID+"="+strconv.Itoa(owner.Process.Pid))
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = owner.Process.Kill()
		t.Fatalf("up: %v\n%s", err, out)
	}
	if len(processesMentioning(dir)) == 0 {
		t.Fatal("no cluster processes after up")
	}
	_ = owner.Process.Kill()
	_ = owner.Wait()
	assertNoProcesses(t, dir)
}
