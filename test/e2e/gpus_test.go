package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster/devclustertest"
	"github.com/dynamo-infra/dynamo-infra/internal/inventory"
	"github.com/dynamo-infra/dynamo-infra/internal/simnode"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
)

// upCluster starts a dev cluster through the CLI and returns its kubeconfig and a client.
func upCluster(t *testing.T, profile string) (string, kubernetes.Interface) {
	t.Helper()
	dir := clusterDir(t)
	if r := runCLI(t, 4*time.Minute, "dev", "cluster", "up", "--dir", dir, "--profile", profile); r.code != 0 {
		t.Fatalf("up: exit %d\n%s", r.code, r.stderr)
	}
	kc := filepath.Join(dir, "kubeconfig")
	return kc, clientFor(t, kc)
}

// installCRDs installs the project's CRDs on the cluster of kubeconfig kc (graphs converted
// in the test process until an operator serves conversion) and returns its client config.
func installCRDs(t *testing.T, kc string) *rest.Config {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		t.Fatal(err)
	}
	devclustertest.InstallCRDs(t, cfg, testkit.CRDPath())
	return cfg
}

func TestGPUsJSONAndExitCodes(t *testing.T) {
	kc, _ := upCluster(t, "h100=1,aks-a100=1,cpu=1")
	r := runCLI(t, time.Minute, "gpus", "--kubeconfig", kc, "-o", "json")
	if r.code != 0 {
		t.Fatalf("gpus -o json: exit %d: %s", r.code, r.stderr)
	}
	var inv inventory.Inventory
	if err := json.Unmarshal([]byte(r.stdout), &inv); err != nil {
		t.Fatalf("stdout is not the JSON document: %v\n%s", err, r.stdout)
	}
	if inv.SchemaVersion != inventory.SchemaVersion || inv.Source != "api" || len(inv.Nodes) != 2 || inv.Totals.GPUs != 16 {
		t.Errorf("inventory: schema %q source %q nodes %d totals %+v", inv.SchemaVersion, inv.Source, len(inv.Nodes), inv.Totals)
	}
	r = runCLI(t, time.Minute, "gpus", "--kubeconfig", kc, "--all-nodes", "--aggregate")
	for _, want := range []string{"cpu-0", "POOL", "TOTAL", "Summary (as gpu_inventory.py reports it)", "Source: api"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, r.stdout)
		}
	}
	if r := runCLI(t, time.Minute, "gpus", "--kubeconfig", kc, "-l", "dynamo-infra.dev/node-kind=h100", "-o", "yaml"); r.code != 0 || !strings.Contains(r.stdout, "name: h100-0") || strings.Contains(r.stdout, "aks-a100-0") {
		t.Errorf("-l selector: exit %d\n%s", r.code, r.stdout)
	}

	// Usage errors: exit 2.
	for _, args := range [][]string{{"gpus", "--source", "carrier-pigeon"}, {"gpus", "-o", "csv"}, {"gpus", "--probe-concurrency", "0"}} {
		if r := runCLI(t, 10*time.Second, args...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, r.code, r.stderr)
		}
	}

	// Nothing listening: exit 3 with one line, quickly.
	dead := filepath.Join(t.TempDir(), "dead.kubeconfig")
	err := os.WriteFile(dead, []byte("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: \"https://127.0.0.1:1\"}}]\nusers: [{name: u, user: {token: x}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r = runCLI(t, time.Minute, "gpus", "--kubeconfig", dead, "--source", "api", "--request-timeout", "5s")
	if r.code != 3 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, "unreachable") {
		t.Errorf("unreachable cluster: exit %d, stderr %q; want exit 3 and one line", r.code, r.stderr)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("unreachable cluster took %s, longer than the 5s request timeout allows", d)
	}
}

// Ctrl-C while a probe waits: the probe Job and its pod are deleted and dynamoctl exits 130.
func TestGPUsProbeInterrupted(t *testing.T) {
	kc, cs := upCluster(t, "nfd-gpu=1")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Take both GPUs so the probe stays Pending.
	labels := map[string]string{"app": "hog"}
	_, err := cs.AppsV1().Deployments("default").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "hog"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
				Tolerations: []corev1.Toleration{simnode.KwokToleration()},
				Containers: []corev1.Container{{Name: "main", Image: "x", Resources: corev1.ResourceRequirements{
					Limits: corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("2")}}}},
			}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(dynamoctl, "gpus", "--kubeconfig", kc, "--probe", "--probe-timeout", "5m")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sel := metav1.ListOptions{LabelSelector: v1alpha1.LabelManagedBy + "=" + inventory.ManagedByDynamoctl}
	code := interruptAndWait(t, cmd, &stderr, func() bool {
		pods, err := cs.CoreV1().Pods("default").List(ctx, sel)
		return err == nil && len(pods.Items) > 0
	})
	if code != 130 {
		t.Errorf("interrupted gpus --probe: exit %d, want 130; stderr:\n%s", code, stderr.String())
	}
	jobs, err := cs.BatchV1().Jobs("default").List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	pods, err := cs.CoreV1().Pods("default").List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs.Items)+len(pods.Items) != 0 {
		t.Errorf("left behind after Ctrl-C: %d jobs, %d pods", len(jobs.Items), len(pods.Items))
	}
}
