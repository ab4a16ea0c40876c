package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/internal/controller"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster/devclustertest"
	"github.com/dynamo-infra/dynamo-infra/internal/simnode"
	"github.com/dynamo-infra/dynamo-infra/internal/tracing"
	"github.com/dynamo-infra/dynamo-infra/internal/tracing/otlptest"
	"github.com/dynamo-infra/dynamo-infra/test/clitest"
)

// The local observability path end to end: dev services (NATS, etcd) started by the CLI, the
// operator binary pointed at them with tracing on, the example graph reconciled — its
// components get the dev services' addresses, and each reconcile arrives as an OTLP trace
// naming the graph — then a real Prometheus (Debian's) running our prometheus.yml, with its
// targets moved to localhost, reports NATS, etcd and the operator up and has a series for every
// NATS, etcd and operator metric the dashboards may use (deploy/observability/metrics.yaml).
func TestObservabilityLocal(t *testing.T) {
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus not found: apt-get install -y prometheus (make test does: hack/test-deps.sh)")
	}
	kc, cs := upCluster(t, simnode.DefaultProfile)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	// Dev services on free ports.
	svcDir := filepath.Join(t.TempDir(), "services")
	natsMetrics := devclustertest.FreePort(t)
	r := runCLI(t, 2*time.Minute, "dev", "services", "up", "--dir", svcDir, "--nats-port", strconv.Itoa(devclustertest.FreePort(t)),
		"--nats-monitor-port", strconv.Itoa(devclustertest.FreePort(t)), "--nats-metrics-port", strconv.Itoa(natsMetrics),
		"--etcd-port", strconv.Itoa(devclustertest.FreePort(t)), "--etcd-peer-port", strconv.Itoa(devclustertest.FreePort(t)))
	if r.code != 0 {
		t.Fatalf("dev services up: exit %d: %s", r.code, r.stderr)
	}
	t.Cleanup(func() { runCLI(t, time.Minute, "dev", "services", "down", "--dir", svcDir) })
	env := servicesEnv(r.stdout)
	etcdHostPort := strings.TrimPrefix(env["ETCD_ENDPOINTS"], "http://")
	if env["NATS_SERVER"] == "" || etcdHostPort == "" {
		t.Fatalf("dev services up printed %q", r.stdout)
	}

	// The operator, tracing to an in-process OTLP receiver.
	recv := otlptest.Start(t)
	cfg := installCRDs(t, kc)
	opMetrics := devclustertest.FreePort(t)
	startOperator(t, []string{tracing.EnvEndpoint + "=http://" + recv.Addr},
		"--kubeconfig", kc, "--nats-address", env["NATS_SERVER"], "--etcd-address", env["ETCD_ENDPOINTS"],
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", opMetrics), fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", devclustertest.FreePort(t)))

	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "discovery", "dgd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	graph := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(raw, &graph.Object); err != nil {
		t.Fatal(err)
	}
	dgds := dynamic.NewForConfigOrDie(cfg).Resource(schema.GroupVersionResource{Group: "nvidia.com", Version: "v1alpha1", Resource: "dynamographdeployments"}).Namespace("default")
	if _, err := dgds.Create(ctx, graph, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	name := graph.GetName()
	for {
		u, err := dgds.Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			if state, _, _ := unstructured.NestedString(u.Object, "status", "state"); state == "successful" {
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("graph %s not successful: %v", name, u)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Every component was given the dev services' addresses.
	deps, err := cs.AppsV1().Deployments("default").List(ctx, metav1.ListOptions{LabelSelector: "nvidia.com/dynamo-graph-deployment-name=" + name})
	if err != nil || len(deps.Items) == 0 {
		t.Fatalf("deployments of %s: %v (%d)", name, err, len(deps.Items))
	}
	for _, d := range deps.Items {
		got := containerEnv(d)
		if got["NATS_SERVER"] != env["NATS_SERVER"] || got["ETCD_ENDPOINTS"] != env["ETCD_ENDPOINTS"] {
			t.Errorf("%s: NATS_SERVER=%q ETCD_ENDPOINTS=%q, want the dev services' %q %q", d.Name,
				got["NATS_SERVER"], got["ETCD_ENDPOINTS"], env["NATS_SERVER"], env["ETCD_ENDPOINTS"])
		}
	}

	// A trace of a reconcile of this graph, with its phases as children.
	root, ok := recv.WaitFor(30*time.Second, func(s otlptest.Span) bool {
		return s.Name == "Reconcile" && s.Attrs[controller.AttrGraphName] == name && s.Attrs[controller.AttrGraphState] != ""
	})
	if !ok {
		t.Fatalf("no Reconcile span for %s arrived; got %d spans", name, len(recv.Spans()))
	}
	if root.Service != "dynamo-operator" || root.Scope != controller.TracerName || root.Parent || root.Attrs[controller.AttrGraphNamespace] != "default" {
		t.Errorf("reconcile span: %+v", root)
	}
	var children []string
	for _, s := range recv.Spans() {
		if s.TraceID == root.TraceID && s.Parent {
			children = append(children, s.Name)
		}
	}
	for _, want := range []string{"apply prerequisites", "apply workloads", "observe", "write status"} {
		if !slices.Contains(children, want) {
			t.Errorf("trace of the reconcile lacks %q: %v", want, children)
		}
	}

	// Prometheus with our configuration, moved to where things run here.
	natsHostPort := fmt.Sprintf("127.0.0.1:%d", natsMetrics)
	promCfg, jobs := localPrometheusConfig(t, map[string]string{
		"nats-exporter:7777":        natsHostPort,
		"etcd-server:2379":          etcdHostPort,
		"host.docker.internal:8080": fmt.Sprintf("127.0.0.1:%d", opMetrics),
	})
	if want := []string{"dynamo-operator", "etcd", "nats"}; !slices.Equal(jobs, want) {
		t.Fatalf("prometheus.yml jobs with a local target: %v, want %v", jobs, want)
	}
	promURL := startPrometheus(t, promBin, promCfg)
	for {
		health, err := targetHealth(promURL)
		if err == nil && len(health) == len(jobs) && !slices.ContainsFunc(jobs, func(j string) bool { return health[j] != "up" }) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("targets not all up: %v %v", health, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	for exporter, names := range dashboardMetrics(t) {
		if exporter != "nats-exporter" && exporter != "etcd" && exporter != "operator" {
			continue // frontend, workers and DCGM do not run here
		}
		for _, m := range names {
			q := fmt.Sprintf(`count({__name__=~"%s(_bucket|_count|_sum)?"})`, m)
			if !promHasSeries(t, promURL, q) {
				t.Errorf("%s: %s is listed in metrics.yaml but Prometheus scraped no series of it", exporter, m)
			}
		}
	}
}

func containerEnv(d appsv1.Deployment) map[string]string {
	out := map[string]string{}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		out[e.Name] = e.Value
	}
	return out
}

// localPrometheusConfig rewrites deploy/observability/prometheus.yml for this machine: targets
// found in moved go to their new address, jobs left without a target are dropped, and every
// job scrapes each second so the test need not wait. It returns the file and the kept jobs.
func localPrometheusConfig(t *testing.T, moved map[string]string) (string, []string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "observability", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	var kept []any
	var jobs []string
	for _, j := range cfg["scrape_configs"].([]any) {
		job := j.(map[string]any)
		var statics []any
		for _, sc := range job["static_configs"].([]any) {
			static := sc.(map[string]any)
			var targets []any
			for _, tg := range static["targets"].([]any) {
				if to, ok := moved[tg.(string)]; ok {
					targets = append(targets, to)
				}
			}
			if len(targets) > 0 {
				static["targets"] = targets
				statics = append(statics, static)
			}
		}
		if len(statics) == 0 {
			continue
		}
		job["static_configs"], job["scrape_interval"] = statics, "1s"
		kept = append(kept, job)
		jobs = append(jobs, job["job_name"].(string))
	}
	cfg["scrape_configs"] = kept
	cfg["global"] = map[string]any{"scrape_interval": "1s", "evaluation_interval": "1s"}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	sort.Strings(jobs)
	return path, jobs
}

// startPrometheus runs Prometheus on config until the test ends and returns its URL once ready.
func startPrometheus(t *testing.T, bin, config string) string {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", devclustertest.FreePort(t))
	cmd := exec.Command(bin, "--config.file="+config, "--storage.tsdb.path="+t.TempDir(),
		"--web.listen-address="+addr, "--log.level=warn")
	p := clitest.StartProcess(t, "prometheus", cmd)
	u := "http://" + addr
	deadline := time.Now().Add(time.Minute)
	for {
		if code, _ := httpGet(u + "/-/ready"); code == 200 {
			return u
		}
		select {
		case <-p.Exited:
			t.Fatalf("prometheus exited: %v", p.Err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("prometheus not ready after a minute")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// targetHealth returns each job's health from Prometheus's API ("up" only if all its targets are).
func targetHealth(promURL string) (map[string]string, error) {
	code, body := httpGet(promURL + "/api/v1/targets?state=active")
	if code != 200 {
		return nil, fmt.Errorf("targets: HTTP %d %s", code, body)
	}
	var resp struct {
		Data struct {
			ActiveTargets []struct {
				Labels    map[string]string `json:"labels"`
				Health    string            `json:"health"`
				LastError string            `json:"lastError"`
			} `json:"activeTargets"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, tg := range resp.Data.ActiveTargets {
		job := tg.Labels["job"]
		if prev, ok := out[job]; ok && prev != "up" {
			continue
		}
		out[job] = tg.Health
		if tg.LastError != "" {
			out[job] += ": " + tg.LastError
		}
	}
	return out, nil
}

// promHasSeries runs an instant query and reports whether it returned a sample.
func promHasSeries(t *testing.T, promURL, query string) bool {
	t.Helper()
	code, body := httpGet(promURL + "/api/v1/query?query=" + url.QueryEscape(query))
	if code != 200 {
		t.Fatalf("query %s: HTTP %d %s", query, code, body)
	}
	var resp struct {
		Data struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		t.Fatal(err)
	}
	return len(resp.Data.Result) > 0
}

// dashboardMetrics reads deploy/observability/metrics.yaml: exporter → metric names.
func dashboardMetrics(t *testing.T) map[string][]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "observability", "metrics.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string][]string
	if err := yaml.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
