// Package chart tests the Helm chart: helm lint, helm template for default, namespaced and
// monitoring values, RBAC without wildcards, every rendered object accepted by a real API
// server (server-side dry run), and the operator reconciling a graph while running as the
// chart's ServiceAccount — the RBAC is sufficient, not only small.
package chart

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster/devclustertest"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
)

var root = func() string {
	r, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		panic(err)
	}
	return r
}()

const chartDir = "charts/dynamo-operator"

// kubeVersion is the simulated cluster's (helm built from source defaults to v1.20).
const kubeVersion = "v1.36.3"

// helm runs the pinned helm (hack/tool.sh builds it once into the cache).
func helm(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := testkit.RunTool("helm", args...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func render(t *testing.T, set ...string) []*unstructured.Unstructured {
	t.Helper()
	args := []string{"template", "dynamo", chartDir, "--namespace", "dynamo-system", "--kube-version", kubeVersion}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out := helm(t, args...)
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(out)))
	for {
		doc, err := dec.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &u.Object); err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
	return objs
}

func kinds(objs []*unstructured.Unstructured) []string {
	var k []string
	for _, o := range objs {
		k = append(k, o.GetKind())
	}
	slices.Sort(k)
	return k
}

func TestLintAndTemplate(t *testing.T) {
	for _, set := range [][]string{nil, {"namespaced=true"}, {"serviceMonitor.enabled=true", "podMonitors.enabled=true"}} {
		args := []string{"lint", chartDir, "--strict", "--kube-version", kubeVersion}
		for _, s := range set {
			args = append(args, "--set", s)
		}
		helm(t, args...)
	}
	// The schema refuses what the operator would not accept.
	for _, c := range []struct{ set, field string }{{"logging.level=loud", "/logging/level"}, {"tracing.otlpEndpoint=tempo:4317", "/tracing/otlpEndpoint"}} {
		if out, errOut, err := testkit.RunTool("helm", "template", "x", chartDir, "--kube-version", kubeVersion, "--set", c.set); err == nil || !strings.Contains(errOut, c.field) {
			t.Errorf("--set %s was accepted: %s%s", c.set, out, errOut)
		}
	}

	// Defaults: CRDs as templates (graphs, scaling adapters, models, worker metadata; so upgrades
	// upgrade them) kept on uninstall, two replicas
	// with a PodDisruptionBudget, secure metrics with their two ClusterRoles, the webhooks (a
	// Service, the validating configuration, a Role and a ClusterRole with their bindings).
	def := render(t)
	if got := kinds(def); !slices.Equal(got, []string{"ClusterRole", "ClusterRole", "ClusterRole", "ClusterRole", "ClusterRoleBinding", "ClusterRoleBinding", "ClusterRoleBinding",
		"CustomResourceDefinition", "CustomResourceDefinition", "CustomResourceDefinition", "CustomResourceDefinition", "Deployment", "PodDisruptionBudget", "Role", "Role", "RoleBinding", "RoleBinding", "Service", "Service", "ServiceAccount",
		"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "ValidatingWebhookConfiguration"}) {
		t.Errorf("default kinds: %v", got)
	}
	for _, o := range def {
		switch o.GetKind() {
		case "CustomResourceDefinition":
			if o.GetAnnotations()["helm.sh/resource-policy"] != "keep" || o.GetLabels()["app.kubernetes.io/instance"] != "dynamo" {
				t.Errorf("CRD %s: annotations %v labels %v, want resource-policy keep and the chart's labels", o.GetName(), o.GetAnnotations(), o.GetLabels())
			}
		case "Deployment":
			if r, _, _ := unstructured.NestedFieldNoCopy(o.Object, "spec", "replicas"); fmt.Sprint(r) != "2" {
				t.Errorf("replicas %v, want 2", r)
			}
			c, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			args := fmt.Sprint(c[0].(map[string]any)["args"])
			for _, want := range []string{"--metrics-secure", "--leader-elect-lease-duration=15s", "--leader-elect-renew-deadline=10s",
				"--webhook-port=9443", "--webhook-service=dynamo-system/dynamo-dynamo-operator-webhook", "--webhook-cert-secret=dynamo-system/dynamo-dynamo-operator-webhook-cert"} {
				if !strings.Contains(args, want) {
					t.Errorf("manager args %s lack %s", args, want)
				}
			}
		}
	}
	if got := kinds(render(t, "crds.install=false", "replicaCount=1", "metrics.secure=false", "graphAuthorPolicy.enabled=false")); !slices.Equal(got, []string{"ClusterRole", "ClusterRole", "ClusterRoleBinding", "ClusterRoleBinding", "Deployment", "Role", "Role", "RoleBinding", "RoleBinding", "Service", "Service", "ServiceAccount", "ValidatingWebhookConfiguration"}) {
		t.Errorf("kinds without CRDs, with one replica (no PDB) and plain metrics: %v", got)
	}
	for _, o := range render(t, "crds.keep=false") {
		if o.GetKind() == "CustomResourceDefinition" && o.GetAnnotations()["helm.sh/resource-policy"] != "" {
			t.Errorf("crds.keep=false: CRD %s still kept", o.GetName())
		}
	}
	ns := render(t, "namespaced=true", "metrics.secure=false", "nats.address=nats://nats:4222", "tracing.otlpEndpoint=http://tempo.monitoring:4317")
	if got := kinds(ns); !slices.Equal(got, []string{"CustomResourceDefinition", "CustomResourceDefinition", "CustomResourceDefinition", "CustomResourceDefinition", "Deployment", "PodDisruptionBudget", "Role", "Role", "RoleBinding", "RoleBinding", "Service", "ServiceAccount",
		"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}) {
		t.Errorf("namespaced kinds: %v", got)
	}
	// The graph-author policy: config/admission's, named after the release; a new install (and
	// helm template) denies, Warn warns and audits, a namespaced install binds its namespace.
	binding := func(objs []*unstructured.Unstructured) *unstructured.Unstructured {
		for _, o := range objs {
			if o.GetKind() == "ValidatingAdmissionPolicyBinding" {
				return o
			}
		}
		t.Fatal("no ValidatingAdmissionPolicyBinding")
		return nil
	}
	actions := func(b *unstructured.Unstructured) string {
		a, _, _ := unstructured.NestedStringSlice(b.Object, "spec", "validationActions")
		return strings.Join(a, ",")
	}
	if b := binding(def); actions(b) != "Deny" || b.GetName() != "dynamo-dynamo-operator-graph-author" {
		t.Errorf("default binding %s: %s, want Deny", b.GetName(), actions(b))
	}
	if b := binding(render(t, "graphAuthorPolicy.action=Warn")); actions(b) != "Warn,Audit" {
		t.Errorf("action=Warn: %s", actions(b))
	}
	if sel, _, _ := unstructured.NestedStringMap(binding(ns).Object, "spec", "matchResources", "namespaceSelector", "matchLabels"); sel["kubernetes.io/metadata.name"] != "dynamo-system" {
		t.Errorf("namespaced binding selects %v, want the release namespace", sel)
	}
	policyFile, err := os.ReadFile(filepath.Join(root, "config", "admission", "graph-author-policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{}
	if err := yaml.Unmarshal(policyFile, &want); err != nil {
		t.Fatal(err)
	}
	for _, o := range def {
		if o.GetKind() == "ValidatingAdmissionPolicy" && fmt.Sprint(o.Object["spec"]) != fmt.Sprint(want["spec"]) {
			t.Errorf("the chart's policy differs from config/admission's:\n%v\n%v", o.Object["spec"], want["spec"])
		}
	}
	for _, o := range ns {
		if o.GetKind() != "Deployment" {
			continue
		}
		c, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		main := c[0].(map[string]any)
		args := fmt.Sprint(main["args"])
		for _, want := range []string{"--watch-namespace=dynamo-system", "--leader-elect", "--nats-address=nats://nats:4222", "--metrics-bind-address=:8080"} {
			if !strings.Contains(args, want) {
				t.Errorf("manager args %s lack %s", args, want)
			}
		}
		if main["name"] != "manager" {
			t.Errorf("container %v", main["name"])
		}
		if env := fmt.Sprint(main["env"]); !strings.Contains(env, "name:OTEL_EXPORTER_OTLP_ENDPOINT value:http://tempo.monitoring:4317") {
			t.Errorf("tracing.otlpEndpoint not passed as OTEL_EXPORTER_OTLP_ENDPOINT: %s", env)
		}
		sc := main["securityContext"].(map[string]any)
		if sc["readOnlyRootFilesystem"] != true || sc["allowPrivilegeEscalation"] != false {
			t.Errorf("securityContext %v", sc)
		}
	}
	mon := render(t, "serviceMonitor.enabled=true", "podMonitors.enabled=true")
	if got := kinds(mon); !slices.Contains(got, "ServiceMonitor") || !slices.Contains(got, "PodMonitor") {
		t.Errorf("monitoring kinds: %v", got)
	}
	for _, o := range mon {
		if o.GetKind() == "ServiceMonitor" {
			ep, _, _ := unstructured.NestedSlice(o.Object, "spec", "endpoints")
			e := ep[0].(map[string]any)
			if e["scheme"] != "https" || e["bearerTokenFile"] == nil || fmt.Sprint(e["tlsConfig"]) != "map[insecureSkipVerify:true]" {
				t.Errorf("the ServiceMonitor does not scrape the secure endpoint with a token: %v", e)
			}
		}
		if o.GetKind() == "PodMonitor" {
			roles, _, _ := unstructured.NestedSlice(o.Object, "spec", "selector", "matchExpressions")
			text := fmt.Sprint(roles)
			for _, role := range []string{"frontend", "worker", "prefill", "decode", "planner"} {
				if !strings.Contains(text, role) {
					t.Errorf("the PodMonitor misses role %s: %s", role, text)
				}
			}
			// Each role's metrics port: the frontend's http, the workers' system, the planner's
			// metrics (9085) — what `observability scrape-config` scrapes too.
			eps, _, _ := unstructured.NestedSlice(o.Object, "spec", "podMetricsEndpoints")
			var ports []string
			for _, e := range eps {
				ports = append(ports, fmt.Sprint(e.(map[string]any)["port"]))
			}
			for _, port := range []string{v1alpha1.PortNameFrontend, v1alpha1.PortNameSystem, v1alpha1.PortNamePlannerMetrics} {
				if !slices.Contains(ports, port) {
					t.Errorf("the PodMonitor scrapes ports %v, not %s", ports, port)
				}
			}
		}
	}
}

// GitOps renders charts offline: helm template without --kube-version works with a helm
// stamped as release builds are (hack/tool.sh), whose default is its client-go's Kubernetes.
func TestTemplateOffline(t *testing.T) {
	if out := helm(t, "template", "dynamo", chartDir); !strings.Contains(out, "kind: Deployment") {
		t.Errorf("helm template rendered no Deployment:\n%s", tail(out, 5))
	}
}

// No rule of any Role or ClusterRole the chart renders grants "*".
func TestNoWildcardRBAC(t *testing.T) {
	for _, set := range [][]string{nil, {"namespaced=true"}} {
		for _, o := range render(t, set...) {
			if o.GetKind() != "Role" && o.GetKind() != "ClusterRole" {
				continue
			}
			rules, _, _ := unstructured.NestedSlice(o.Object, "rules")
			if len(rules) == 0 {
				t.Errorf("%s %s has no rules", o.GetKind(), o.GetName())
			}
			for _, r := range rules {
				for _, field := range []string{"apiGroups", "resources", "verbs"} {
					vals, _, _ := unstructured.NestedStringSlice(r.(map[string]any), field)
					if slices.Contains(vals, "*") {
						t.Errorf("%s %s: %s contains *", o.GetKind(), o.GetName(), field)
					}
				}
			}
		}
	}
}

// Every object the chart renders (default and namespaced) is accepted by the API server; then
// the chart's RBAC is installed for real and the operator, running as the chart's
// ServiceAccount, brings the example graph to Ready.
func TestOnClusterAsChartServiceAccount(t *testing.T) {
	c := devclustertest.Start(t, "h100=1,cpu=1")
	cfg := c.RESTConfig()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	crds, err := os.ReadFile(testkit.CRDPath())
	if err != nil {
		t.Fatal(err)
	}
	if err := devcluster.InstallCRDs(ctx, cfg, crds); err != nil {
		t.Fatal(err)
	}
	// The Prometheus Operator's ServiceMonitor and PodMonitor CRDs, generated from its API types
	// (make generate), so the chart's monitors are checked against their real schema.
	monitoring, err := filepath.Glob(filepath.Join(root, "config", "thirdparty", "prometheus-operator", "*.yaml"))
	if err != nil || len(monitoring) != 2 {
		t.Fatalf("Prometheus Operator CRDs: %v %v", monitoring, err)
	}
	for _, f := range monitoring {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := devcluster.InstallCRDs(ctx, cfg, raw); err != nil {
			t.Fatal(err)
		}
	}
	dyn := dynamic.NewForConfigOrDie(cfg)
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(discovery.NewDiscoveryClientForConfigOrDie(cfg)))
	nsRes := schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "dynamo-system"}}}
	if _, err := dyn.Resource(nsRes).Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	create := func(o *unstructured.Unstructured, dryRun bool) error {
		m, err := mapper.RESTMapping(o.GroupVersionKind().GroupKind(), o.GroupVersionKind().Version)
		if err != nil {
			return err
		}
		opts := metav1.CreateOptions{}
		if dryRun {
			opts.DryRun = []string{metav1.DryRunAll}
		}
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() == "namespace" {
			ri = dyn.Resource(m.Resource).Namespace(o.GetNamespace())
		}
		_, err = ri.Create(ctx, o, opts)
		return err
	}
	monitors := []string{"serviceMonitor.enabled=true", "podMonitors.enabled=true"}
	dryRun := 0
	for _, set := range [][]string{nil, {"namespaced=true"}, monitors, append([]string{"namespaced=true"}, monitors...)} {
		for _, o := range render(t, append([]string{"crds.install=false"}, set...)...) {
			if err := create(o, true); err != nil {
				t.Errorf("%v: %s %s refused: %v", set, o.GetKind(), o.GetName(), err)
			}
			if o.GetAPIVersion() == "monitoring.coreos.com/v1" {
				dryRun++
			}
		}
	}
	if dryRun != 4 { // a ServiceMonitor and a PodMonitor, cluster-wide and namespaced
		t.Errorf("dry-ran %d monitors, want 4", dryRun)
	}
	// The schema is enforced: a PodMonitor whose selector is not an object is refused.
	for _, o := range render(t, monitors...) {
		if o.GetKind() != "PodMonitor" {
			continue
		}
		bad := o.DeepCopy()
		if err := unstructured.SetNestedField(bad.Object, "app=dynamo", "spec", "selector"); err != nil {
			t.Fatal(err)
		}
		if err := create(bad, true); err == nil || !strings.Contains(err.Error(), "spec.selector") {
			t.Errorf("a PodMonitor with a string selector: err = %v, want a schema error naming spec.selector", err)
		}
	}

	// Install the default release's ServiceAccount and RBAC for real, its webhooks at the
	// operator run below on this machine (kwok runs no container).
	webhookPort := devclustertest.FreePort(t)
	webhookURL := fmt.Sprintf("https://127.0.0.1:%d", webhookPort)
	for _, o := range render(t, "crds.install=false", "webhook.url="+webhookURL) {
		if o.GetKind() == "Deployment" || o.GetKind() == "Service" {
			continue
		}
		if err := create(o, false); err != nil {
			t.Fatalf("install %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
	// The operator, running as the chart's ServiceAccount, brings the example graph to Ready.
	kubeconfig := asServiceAccount(t, c, "dynamo-system", "dynamo-dynamo-operator")
	op := startOperator(t, kubeconfig, "--leader-elect", "--leader-election-namespace", "dynamo-system",
		"--metrics-bind-address=0", "--health-probe-bind-address=0", "--nats-address", "nats://nats:4222",
		fmt.Sprintf("--webhook-port=%d", webhookPort), "--webhook-url="+webhookURL,
		"--webhook-cert-secret=dynamo-system/dynamo-dynamo-operator-webhook-cert", "--webhook-validating-config=dynamo-dynamo-operator-dynamographdeployments")
	if err := devcluster.WaitConverting(ctx, cfg); err != nil {
		t.Fatalf("the operator's conversion webhook: %v\n%s", err, tail(op.Logs.String(), 30))
	}
	dgds := dyn.Resource(graphs).Namespace("default")
	g := createGraph(ctx, t, dgds, filepath.Join(root, "deploy", "discovery", "dgd.yaml"))
	waitSuccessful(ctx, t, dgds, g.GetName(), op.Logs)
	if strings.Contains(op.Logs.String(), "forbidden") {
		t.Errorf("the operator hit forbidden requests:\n%s", tail(op.Logs.String(), 30))
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
