package render

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
)

// The Endpoint Picker's objects besides its pod, as upstream renders them (epp/config.go,
// epp/inference_pool.go, graph.go GenerateComponentService, the chart's epp.yaml rules): the
// ConfigMap of the inline EndpointPickerConfig as its typed round trip writes it, the pool over
// the graph's workers, the Service on 9002 (HTTP/2), the namespace's EPP account bound to a
// Role with the chart's rules.
func TestEndpointPicker(t *testing.T) {
	g := resolve(decodeFile(t, filepath.Join("testdata", "upstream", "vllm-gaie.yaml")))
	objs, err := Graph(g, testConfig)
	if err != nil {
		t.Fatal(err)
	}
	find := func(kind, name string) any {
		t.Helper()
		for _, o := range objs {
			if o.GetObjectKind().GroupVersionKind().Kind == kind {
				if m, ok := o.(interface{ GetName() string }); ok && m.GetName() == name {
					return o
				}
			}
		}
		t.Fatalf("no %s %s rendered", kind, name)
		return nil
	}

	// upstream's marshalEndpointPickerConfig: apiVersion and kind set, every field of the
	// typed config (a plugin's absent name "", absent parameters and weight null), keys sorted.
	cm := find("ConfigMap", "qwen-agg-epp-config").(*corev1.ConfigMap)
	want := `apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
plugins:
- name: ""
  parameters: null
  type: disagg-profile-handler
- name: decode-filter
  parameters:
    allowsNoLabel: true
    label: nvidia.com/dynamo-sub-component-type
    validValues:
    - decode
  type: label-filter
- name: picker
  parameters: null
  type: max-score-picker
- name: dyn-decode
  parameters: null
  type: dyn-decode-scorer
schedulingProfiles:
- name: decode
  plugins:
  - pluginRef: decode-filter
    weight: null
  - pluginRef: dyn-decode
    weight: 1
  - pluginRef: picker
    weight: null
`
	if got := cm.Data["epp-config-dynamo.yaml"]; got != want || len(cm.Data) != 1 {
		t.Errorf("EPP config:\n%s\nwant:\n%s", got, want)
	}
	if cm.Labels["nvidia.com/dynamo-component"] != "Epp" || cm.Labels["nvidia.com/dynamo-component-type"] != "epp" || cm.Labels["nvidia.com/dynamo-graph-deployment-name"] != "qwen-agg" {
		t.Errorf("ConfigMap labels %v", cm.Labels)
	}

	pool := find("InferencePool", "qwen-agg-pool").(*unstructured.Unstructured)
	var wantPool map[string]any
	if err := yaml.Unmarshal([]byte(`
targetPorts: [{number: 8000}]
selector: {matchLabels: {nvidia.com/dynamo-component-type: worker, nvidia.com/dynamo-namespace: llm-qwen-agg}}
endpointPickerRef: {kind: Service, name: qwen-agg-epp, port: {number: 9002}}
`), &wantPool); err != nil {
		t.Fatal(err)
	}
	if pool.GetAPIVersion() != "inference.networking.k8s.io/v1" || pool.GetNamespace() != "llm" ||
		!equality.Semantic.DeepEqual(normalize(t, pool.Object["spec"]), normalize(t, wantPool)) {
		t.Errorf("InferencePool %s %s: %v", pool.GetAPIVersion(), pool.GetNamespace(), pool.Object["spec"])
	}

	svc := find("Service", "qwen-agg-epp").(*corev1.Service)
	if p := svc.Spec.Ports; len(p) != 1 || p[0].Name != "grpc" || p[0].Port != 9002 || p[0].TargetPort != intstr.FromInt32(9002) ||
		p[0].AppProtocol == nil || *p[0].AppProtocol != "http2" {
		t.Errorf("EPP Service ports %+v", p)
	}

	sa := find("ServiceAccount", "epp-serviceaccount").(*corev1.ServiceAccount)
	if len(sa.OwnerReferences) != 0 {
		t.Errorf("the EPP account is the namespace's (no owner): %+v", sa.OwnerReferences)
	}
	role := find("Role", "qwen-agg-epp").(*rbacv1.Role)
	rules := map[string]string{}
	for _, r := range role.Rules {
		for _, res := range r.Resources {
			rules[r.APIGroups[0]+"/"+res] = strings.Join(r.Verbs, ",")
		}
	}
	for res, verbs := range map[string]string{"inference.networking.k8s.io/inferencepools": "get,list,watch", "inference.networking.k8s.io/inferencepools/status": "get,list,watch",
		"/pods": "get,list,watch", "discovery.k8s.io/endpointslices": "get,list,watch", "nvidia.com/dynamoworkermetadatas": "get,list,watch"} {
		if rules[res] != verbs {
			t.Errorf("EPP Role: %s %q, want %q", res, rules[res], verbs)
		}
	}
	if len(rules) != 5 {
		t.Errorf("EPP Role grants more than the chart's rules: %v", rules)
	}
	rb := find("RoleBinding", "qwen-agg-epp").(*rbacv1.RoleBinding)
	if rb.RoleRef.Name != "qwen-agg-epp" || len(rb.Subjects) != 1 || rb.Subjects[0].Name != "epp-serviceaccount" {
		t.Errorf("EPP RoleBinding %+v %+v", rb.RoleRef, rb.Subjects)
	}

	// The sidecar's args replace the frontend's, as upstream's do: said.
	if !slices.ContainsFunc(g.Warnings(), func(w string) bool { return strings.Contains(w, "runs python3 --router-mode direct") }) {
		t.Errorf("no warning about the sidecar's args: %v", g.Warnings())
	}

	// A ConfigMap of the user's: no ConfigMap rendered, its key mounted as upstream's file.
	ref := resolve(withEPPConfig(t, "      eppConfig: {configMapRef: {name: mine, key: cfg.yaml}}\n"))
	objs, err = Graph(ref, testConfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GetObjectKind().GroupVersionKind().Kind == "ConfigMap" {
			t.Errorf("a ConfigMap rendered for configMapRef: %v", o)
		}
	}
	d, err := Deployment(ref, ref.Component("Epp"), testConfig)
	if err != nil {
		t.Fatal(err)
	}
	v := d.Spec.Template.Spec.Volumes[0]
	if v.Name != "epp-config" || v.ConfigMap == nil || v.ConfigMap.Name != "mine" || len(v.ConfigMap.Items) != 1 ||
		v.ConfigMap.Items[0] != (corev1.KeyToPath{Key: "cfg.yaml", Path: "epp-config-dynamo.yaml"}) {
		t.Errorf("EPP config volume %+v", v)
	}

	// Neither config nor configMapRef: refused by the CRD's rule, as by the API server.
	if _, err := decodeWithEPPConfig(t, ""); err == nil || !strings.Contains(err.Error(), "an epp service has exactly 1 replica and eppConfig with exactly one of configMapRef and config") {
		t.Errorf("an epp without eppConfig: %v", err)
	}
}

// withEPPConfig is the gateway example with its Endpoint Picker's eppConfig block replaced.
func withEPPConfig(t *testing.T, block string) *v1alpha1.DynamoGraphDeployment {
	t.Helper()
	dgd, err := decodeWithEPPConfig(t, block)
	if err != nil {
		t.Fatal(err)
	}
	return dgd
}

func decodeWithEPPConfig(t *testing.T, block string) (*v1alpha1.DynamoGraphDeployment, error) {
	t.Helper()
	path := filepath.Join("testdata", "upstream", "vllm-gaie.yaml")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	start, end := strings.Index(text, "      eppConfig:\n"), strings.Index(text, "    VllmDecodeWorker:\n")
	if start < 0 || end < start {
		t.Fatal("the example's eppConfig block moved")
	}
	dgds, err := DecodeGraphs(strings.NewReader(text[:start]+block+text[end:]), path, "default")
	if err != nil {
		return nil, err
	}
	return dgds[0], nil
}

// normalize round-trips v through YAML, so that numbers compare whatever their Go type.
func normalize(t *testing.T, v any) any {
	t.Helper()
	raw, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := yaml.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// A graph whose workers run no frontend sidecar (upstream's earlier gateway examples: a
// frontend service beside them, as examples/backends/sglang/deploy/agg_epp.yaml) gets a pool of
// its frontends' pods — the ones that serve 8000 — not of workers that serve none.
func TestInferencePoolOfFrontends(t *testing.T) {
	dgds, err := DecodeGraphs(strings.NewReader(`apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeployment
metadata: {name: sglang-agg-epp}
spec:
  services:
    epp:
      componentType: epp
      eppConfig: {configMapRef: {name: cfg, key: epp.yaml}}
      extraPodSpec: {mainContainer: {image: my-registry/epp:my-tag}}
    Frontend:
      componentType: frontend
      replicas: 3
      extraPodSpec: {mainContainer: {image: my-registry/sglang-runtime:my-tag}}
    decode:
      componentType: worker
      extraPodSpec: {mainContainer: {image: my-registry/sglang-runtime:my-tag, command: [python3, -m, dynamo.sglang]}}
`), "agg_epp.yaml", "default")
	if err != nil {
		t.Fatal(err)
	}
	g := resolve(dgds[0])
	sel, _, _ := unstructured.NestedStringMap(InferencePool(g, g.Component("epp")).Object, "spec", "selector", "matchLabels")
	if sel["nvidia.com/dynamo-component-type"] != "frontend" || sel["nvidia.com/dynamo-namespace"] != "default-sglang-agg-epp" || len(sel) != 2 {
		t.Errorf("pool selector %v, want the graph's frontends", sel)
	}
}
