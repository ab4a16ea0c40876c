package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/dynamo-infra/dynamo-infra/internal/devcluster/devclustertest"
	"github.com/dynamo-infra/dynamo-infra/test/clitest"
)

func httpGet(url string) (int, string) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// startOperator builds the operator binary (once per package run) and runs it with args and
// extra environment until the test ends; it fails the test if the operator ignores SIGINT and
// prints its log when the test failed.
func startOperator(t *testing.T, env []string, args ...string) *clitest.Process {
	t.Helper()
	cmd := exec.Command(operatorBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	return clitest.StartProcess(t, "operator", cmd)
}

// operatorBinary builds the operator once per package run.
func operatorBinary(t *testing.T) string {
	t.Helper()
	buildOperator.Do(func() { operatorBin, buildOperatorErr = clitest.BuildOperator(filepath.Dir(dynamoctl)) })
	if buildOperatorErr != nil {
		t.Fatalf("build operator: %v", buildOperatorErr)
	}
	return operatorBin
}

var (
	buildOperator    sync.Once
	operatorBin      string
	buildOperatorErr error
)

// The operator binary as deployed: flags, /healthz and /readyz, metrics, a leader-election
// Lease, and --watch-namespace leaving other namespaces alone.
func TestOperatorBinary(t *testing.T) {
	kc, cs := upCluster(t, "h100=1,cpu=1")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if r := runCLI(t, time.Minute, "version"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	// CRD and two namespaces.
	cfg := installCRDs(t, kc)
	for _, ns := range []string{"watched", "ignored"} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	metrics, health := devclustertest.FreePort(t), devclustertest.FreePort(t)
	startOperator(t, nil, "--kubeconfig", kc, "--leader-elect", "--leader-election-namespace", "watched",
		"--watch-namespace", "watched", "--nats-address", "nats://nats:4222",
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", metrics), fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", health))

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			if ctx.Err() != nil {
				t.Fatalf("%s: timed out", what)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitFor("/readyz", func() bool { code, _ := httpGet(fmt.Sprintf("http://127.0.0.1:%d/readyz", health)); return code == 200 })
	if code, _ := httpGet(fmt.Sprintf("http://127.0.0.1:%d/healthz", health)); code != 200 {
		t.Errorf("/healthz %d", code)
	}
	waitFor("leader lease", func() bool {
		l, err := cs.CoordinationV1().Leases("watched").Get(ctx, "dynamo-operator.nvidia.com", metav1.GetOptions{})
		return err == nil && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != ""
	})

	dgds := dynamic.NewForConfigOrDie(cfg).Resource(schema.GroupVersionResource{Group: "nvidia.com", Version: "v1alpha1", Resource: "dynamographdeployments"})
	graph := func(ns string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "nvidia.com/v1alpha1", "kind": "DynamoGraphDeployment",
			"metadata": map[string]any{"name": "g", "namespace": ns},
			"spec": map[string]any{"services": map[string]any{"Frontend": map[string]any{
				"componentType": "frontend", "extraPodSpec": map[string]any{"mainContainer": map[string]any{"image": "registry.example/frontend:1"}}}}},
		}}
	}
	for _, ns := range []string{"watched", "ignored"} {
		if _, err := dgds.Namespace(ns).Create(ctx, graph(ns), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor("graph in the watched namespace Ready", func() bool {
		u, err := dgds.Namespace("watched").Get(ctx, "g", metav1.GetOptions{})
		if err != nil {
			return false
		}
		state, _, _ := unstructured.NestedString(u.Object, "status", "state")
		return state == "successful"
	})
	if _, err := cs.AppsV1().Deployments("ignored").Get(ctx, "g-frontend", metav1.GetOptions{}); err == nil {
		t.Error("the operator reconciled a graph outside --watch-namespace")
	}
	if u, err := dgds.Namespace("ignored").Get(ctx, "g", metav1.GetOptions{}); err == nil {
		// Read through conversion, a graph without a status shows an empty one: only what the
		// operator writes counts.
		if st, _, _ := unstructured.NestedMap(u.Object, "status"); len(st) > 0 {
			t.Errorf("the graph outside --watch-namespace got a status: %v", st)
		}
	}
	code, body := httpGet(fmt.Sprintf("http://127.0.0.1:%d/metrics", metrics))
	// The original operator's series and label sets (dashboards and alerts written for it work).
	for _, want := range []string{`dynamo_operator_reconcile_total{namespace="watched",resource_type="DynamoGraphDeployment",result="success"}`,
		`dynamo_operator_reconcile_duration_seconds_bucket{namespace="watched",resource_type="DynamoGraphDeployment",result="success",le="60"}`,
		`dynamo_operator_resources_total{namespace="watched",resource_type="DynamoGraphDeployment",status="successful"} 1`,
		`dynamo_operator_managed_pods_total{component_type="frontend",namespace="watched"} 1`,
		`dynamo_operator_child_applies_total{kind="Deployment"}`, "controller_runtime_reconcile_total"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics (HTTP %d) lacks %s", code, want)
		}
	}
}
