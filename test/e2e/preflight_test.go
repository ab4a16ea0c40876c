package e2e

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dynamo-infra/dynamo-infra/internal/preflight"
)

// dynamoctl preflight through its exit codes and output formats on a real cluster.
func TestPreflightExitCodes(t *testing.T) {
	kc, cs := upCluster(t, "h100=1,cpu=1")

	// Usage errors: nothing runs.
	for _, args := range [][]string{
		{"--profile", "prod"},
		{"--require", "gpus"},
		{"--require", "nats"},
		{"-o", "xml"},
		{"-f", "no-such-file.yaml"},
		{"--check-timeout", "0s"},
	} {
		r := runCLI(t, time.Minute, append([]string{"preflight", "--kubeconfig", kc}, args...)...)
		if r.code != 2 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("preflight %v: exit %d, stderr %q; want 2 and one line", args, r.code, r.stderr)
		}
	}

	// No StorageClass and no GPU Operator in the dev cluster: baseline fails (exit 1), JSON
	// on stdout names both.
	r := runCLI(t, time.Minute, "preflight", "--kubeconfig", kc, "-o", "json")
	if r.code != 1 {
		t.Fatalf("baseline: exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var rep preflight.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, r.stdout)
	}
	status := map[string]preflight.Status{}
	for _, c := range rep.Checks {
		status[c.ID] = c.Status
	}
	if rep.SchemaVersion != preflight.SchemaVersion || status["api-connectivity"] != preflight.Pass || status["gpu-nodes"] != preflight.Pass ||
		status["default-storageclass"] != preflight.Fail || status["gpu-operator"] != preflight.Fail {
		t.Errorf("report: %s", r.stdout)
	}

	// Skipping the failing checks leaves warnings only: 0, and 4 with --strict.
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "local", Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}}, Provisioner: "example.com/local"}
	if _, err := cs.StorageV1().StorageClasses().Create(t.Context(), sc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	args := []string{"preflight", "--kubeconfig", kc, "--skip", "gpu-operator", "--require", "rdma"}
	if r := runCLI(t, time.Minute, args...); r.code != 0 || !strings.Contains(r.stdout, "rdma") || !strings.Contains(r.stdout, "WARN") {
		t.Errorf("warnings only: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, time.Minute, append(args, "--strict")...); r.code != 4 {
		t.Errorf("--strict with a warning: exit %d, want 4\n%s", r.code, r.stderr)
	}

	// JUnit for CI systems.
	r = runCLI(t, time.Minute, "preflight", "--kubeconfig", kc, "-o", "junit")
	var suites struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
	}
	if err := xml.Unmarshal([]byte(r.stdout), &suites); err != nil || suites.Tests != 4 || suites.Failures != 1 || r.code != 1 {
		t.Errorf("junit: exit %d, %+v, %v\n%s", r.code, suites, err, r.stdout)
	}

	// A graph that fits, and one that does not (exit 1, the service named).
	dir := t.TempDir()
	graph, err := os.ReadFile(filepath.Join("..", "..", "deploy", "discovery", "dgd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	fits := filepath.Join(dir, "fits.yaml")
	tooBig := filepath.Join(dir, "too-big.yaml")
	_ = os.WriteFile(fits, graph, 0o644)
	_ = os.WriteFile(tooBig, []byte(strings.Replace(string(graph), `{gpu: "1"}`, `{gpu: "16"}`, 1)), 0o644)
	if r := runCLI(t, time.Minute, "preflight", "--kubeconfig", kc, "--skip", "gpu-operator", "-f", fits); r.code != 0 || !strings.Contains(r.stdout, "dgd-fits") {
		t.Errorf("fitting graph: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, time.Minute, "preflight", "--kubeconfig", kc, "--skip", "gpu-operator", "-f", tooBig)
	if r.code != 1 || !strings.Contains(r.stdout, "does not fit: needs 1 pod(s) × 16 nvidia.com/gpu") {
		t.Errorf("graph too big: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Unreachable: exit 3, bounded by the check timeout.
	bad := filepath.Join(dir, "bad-kubeconfig")
	cfg, _ := os.ReadFile(kc)
	_ = os.WriteFile(bad, []byte(replaceServer(string(cfg), "https://127.0.0.1:1")), 0o600)
	start := time.Now()
	r = runCLI(t, time.Minute, "preflight", "--kubeconfig", bad, "--check-timeout", "2s")
	if r.code != 3 || time.Since(start) > 20*time.Second {
		t.Errorf("unreachable: exit %d after %s\n%s", r.code, time.Since(start), r.stderr)
	}
}

// replaceServer points a kubeconfig's cluster at another address.
func replaceServer(kubeconfig, server string) string {
	var out []string
	for _, line := range strings.Split(kubeconfig, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "server:") {
			line = line[:strings.Index(line, "server:")] + "server: " + server
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}
