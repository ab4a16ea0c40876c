package render

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
	"github.com/dynamo-infra/dynamo-infra/test/reference"
)

var testConfig = Config{NATSAddress: "nats://nats.dynamo-system:4222", EtcdAddress: "http://etcd.dynamo-system:2379"}

// ToYAML writes objects as one multi-document YAML stream.
func toYAML(t *testing.T, objs []runtime.Object) string {
	t.Helper()
	var b bytes.Buffer
	for i, o := range objs {
		if i > 0 {
			b.WriteString("---\n")
		}
		y, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(y)
	}
	return b.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	testkit.Golden(t, filepath.Join("testdata", "out", name), []byte(got))
}

func decodeFile(t testing.TB, path string, replace ...string) *v1alpha1.DynamoGraphDeployment {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	for i := 0; i+1 < len(replace); i += 2 {
		text = strings.ReplaceAll(text, replace[i], replace[i+1])
	}
	dgds, err := DecodeGraphs(strings.NewReader(text), path, "default")
	if err != nil {
		t.Fatal(err)
	}
	return dgds[0]
}

// TestGraphGolden holds the rendering of edge cases (affinity, extras, probes, …) against
// snapshots under testdata/out, refreshed with -update when a change is meant; whether pods are
// what upstream renders is TestPodTemplatesAsUpstream's, against templates written by hand.
func TestGraphGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "in", "*.yaml"))
	if err != nil || len(inputs) < 10 {
		t.Fatalf("inputs %v %v", inputs, err)
	}
	for _, in := range inputs {
		name := filepath.Base(in)
		t.Run(name, func(t *testing.T) {
			objs, err := renderGraph(decodeFile(t, in), testConfig)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, name, toYAML(t, objs))
		})
	}
}

// The original's example, read from shared/ beside the repository (it is not ours to copy).
func TestGraphReference(t *testing.T) {
	raw, err := reference.DGDExample()
	if err != nil {
		t.Fatal(err)
	}
	dgds, err := DecodeGraphs(bytes.NewReader(raw), "reference dgd.yaml", "default")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := renderGraph(dgds[0], testConfig)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "reference.yaml", toYAML(t, objs))

	// 3 ServiceAccount/Role/RoleBinding for Kubernetes discovery, then Deployment+Service × 3.
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetObjectKind().GroupVersionKind().Kind)
	}
	want := []string{"ServiceAccount", "Role", "RoleBinding", "Deployment", "Service", "Deployment", "Service", "Deployment", "Service"}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("kinds (-want +got):\n%s", diff)
	}
	decode := objs[5].(*appsv1.Deployment)
	main := *MainContainer(&decode.Spec.Template.Spec)
	if decode.Name != "dynamo-vllmdecodeworker-"+graph.WorkerHash(dgds[0]) || main.Name != "main" || main.Resources.Limits.Name(nvidia.ResourceGPU, "").Value() != 1 {
		t.Errorf("decode worker: %s %s %v", decode.Name, main.Name, main.Resources.Limits)
	}
	if main.LivenessProbe.FailureThreshold < 2 {
		t.Errorf("worker liveness failure threshold %d: one slow answer would restart the worker", main.LivenessProbe.FailureThreshold)
	}
}

func TestEnvPrecedence(t *testing.T) {
	dgd := decodeFile(t, filepath.Join("testdata", "in", "envs.yaml"))
	pod, err := podSpecOf(dgd, "Worker", testConfig)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	var names []string
	for _, e := range MainContainer(&pod).Env {
		env[e.Name] = e.Value
		names = append(names, e.Name)
	}
	if !slices.IsSorted(names) {
		t.Errorf("env not sorted by name: %v", names)
	}
	for k, want := range map[string]string{"DYN_LOG": "debug", "HF_HOME": "/models", "NATS_SERVER": "nats://override:4222", "A_FIRST": "1", "DYN_SYSTEM_PORT": "9191"} {
		if env[k] != want {
			t.Errorf("%s = %q, want %q", k, env[k], want)
		}
	}
}

// Graph refuses what the CRD refuses too, for graphs that reach it without the API server (Go
// callers); files are refused earlier, by DecodeGraphs.
func TestGraphErrors(t *testing.T) {
	noImage := &v1alpha1.DynamoGraphDeployment{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "default"},
		Spec: v1alpha1.DynamoGraphDeploymentSpec{Services: map[string]*v1alpha1.ServiceSpec{"A": {ComponentType: v1alpha1.ComponentWorker}}}}
	empty := &v1alpha1.DynamoGraphDeployment{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "default"}}
	for dgd, want := range map[*v1alpha1.DynamoGraphDeployment]string{noImage: "service A: extraPodSpec.mainContainer.image is required", empty: "has no services"} {
		if _, err := renderGraph(dgd, Config{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Graph error %v, want %q", err, want)
		}
	}
}

func TestDecodeGraphsStrict(t *testing.T) {
	for _, tt := range []struct {
		in, want string
	}{
		{"apiVersion: nvidia.com/v1alpha1\nkind: DynamoGraphDeployment\nmetadata: {name: x}\nspec: {servicez: {}}\n", `unknown field "spec.servicez"`},
		// Other kinds pass (render prints them unchanged); a file of only them has no graph.
		{"apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n", "no DynamoGraphDeployment found"},
		{"apiVersion: nvidia.com/v1beta2\nkind: DynamoGraphDeployment\nmetadata: {name: x}\n", "dynamo-infra serves nvidia.com/v1beta1 and nvidia.com/v1alpha1"},
		{"metadata: {name: x}\n", "without apiVersion and kind"},
		{"# nothing\n", "no DynamoGraphDeployment found"},
		// Refused by the CRD's schema, in process, as the API server would.
		{"apiVersion: nvidia.com/v1alpha1\nkind: DynamoGraphDeployment\nmetadata: {name: x}\nspec: {services: {}}\n", "spec.services in body should have at least 1 properties"},
	} {
		_, err := DecodeGraphs(strings.NewReader(tt.in), "in", "default")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("DecodeGraphs(%q) error %v, want %q", tt.in, err, tt.want)
		}
	}
}

func FuzzDecodeGraphs(f *testing.F) {
	inputs, _ := filepath.Glob(filepath.Join("testdata", "in", "*.yaml"))
	for _, in := range inputs {
		b, _ := os.ReadFile(in)
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, s string) {
		dgds, err := DecodeGraphs(strings.NewReader(s), "fuzz", "default")
		if err != nil {
			return
		}
		for _, d := range dgds {
			// Rendering any decodable graph either works or fails with an error; never panics.
			if objs, err := renderGraph(d, testConfig); err == nil && len(objs) < 2 {
				t.Fatalf("rendered %d objects", len(objs))
			}
		}
	})
}

// upstream's getIngressHost: hostPrefix + host + "." + hostSuffix, "local" when no suffix.
func TestIngressHost(t *testing.T) {
	prefix, suffix := "a-", "example.com"
	for _, tc := range []struct {
		spec v1alpha1.IngressSpec
		want string
	}{
		{v1alpha1.IngressSpec{Host: "llm"}, "llm.local"},
		{v1alpha1.IngressSpec{Host: "llm", HostPrefix: &prefix}, "a-llm.local"},
		{v1alpha1.IngressSpec{Host: "llm", HostPrefix: &prefix, HostSuffix: &suffix}, "a-llm.example.com"},
	} {
		if got := IngressHost(&tc.spec); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.spec, got, tc.want)
		}
	}
}

// frontendSidecar as upstream's generateFrontendSidecar: the frontend's container named
// sidecar-frontend after the main one, with the sidecar's image, args, secret and envs, and the
// operator's NATS and etcd addresses; a container of that name already there is refused.
func TestFrontendSidecar(t *testing.T) {
	g := resolve(decodeFile(t, filepath.Join("testdata", "in", "sidecar.yaml")))
	d, err := Deployment(g, g.Component("Worker"), testConfig)
	if err != nil {
		t.Fatal(err)
	}
	cs := d.Spec.Template.Spec.Containers
	if len(cs) != 2 || cs[1].Name != "sidecar-frontend" || MainContainer(&d.Spec.Template.Spec).Name != "main" {
		t.Fatalf("containers %v", cs)
	}
	s := cs[1]
	env := map[string]string{}
	for _, e := range s.Env {
		env[e.Name] = e.Value
	}
	if s.Image != "registry.example/frontend:1" || strings.Join(s.Command, " ") != "python3" ||
		strings.Join(s.Args, " ") != "-m dynamo.frontend --router-mode direct" ||
		len(s.Ports) != 1 || s.Ports[0].Name != "http" || s.Ports[0].ContainerPort != 8000 ||
		s.LivenessProbe == nil || s.LivenessProbe.HTTPGet.Path != "/live" || s.ReadinessProbe.HTTPGet.Path != "/health" ||
		len(s.EnvFrom) != 1 || s.EnvFrom[0].SecretRef.Name != "hf-token" {
		t.Errorf("sidecar %+v", s)
	}
	for k, v := range map[string]string{"NATS_SERVER": testConfig.NATSAddress, "ETCD_ENDPOINTS": testConfig.EtcdAddress, "DYN_LOG": "debug",
		"DYN_NAMESPACE": "default-sidecar", "DYN_NAMESPACE_PREFIX": "default-sidecar", "DYN_COMPONENT": "frontend"} {
		if env[k] != v {
			t.Errorf("sidecar env %s=%q, want %q", k, env[k], v)
		}
	}
	if _, ok := env["DYN_NAMESPACE_WORKER_SUFFIX"]; ok {
		t.Error("the sidecar frontend carries the worker suffix: it would see only its own generation")
	}
	conflict := decodeFile(t, filepath.Join("testdata", "in", "sidecar.yaml"),
		"extraPodSpec: {mainContainer:", "extraPodSpec: {containers: [{name: sidecar-frontend, image: x}], mainContainer:")
	if _, err := Graph(resolve(conflict), testConfig); err == nil || !strings.Contains(err.Error(), `a container named "sidecar-frontend" already exists`) {
		t.Errorf("a sidecar-frontend container already there: %v", err)
	}
}

// gpuMemoryService as upstream's dra.ApplyClaim and gms.EnsureServerSidecar: the main
// container's nvidia.com/gpu becomes the shared claim intrapod-shared-gpu from the template
// <graph>-<service>-gpu, the pod tolerates the GPU taint, the socket volume is mounted with
// GMS_SOCKET_DIR, and gms-server runs from the main image as a restartable init container.
func TestGPUMemoryService(t *testing.T) {
	g := resolve(decodeFile(t, filepath.Join("testdata", "in", "gms.yaml")))
	c := g.Component("Worker")
	d, err := Deployment(g, c, testConfig)
	if err != nil {
		t.Fatal(err)
	}
	pod := d.Spec.Template.Spec
	main := MainContainer(&pod)
	if _, ok := main.Resources.Limits["nvidia.com/gpu"]; ok || len(main.Resources.Claims) != 1 || main.Resources.Claims[0].Name != "intrapod-shared-gpu" {
		t.Errorf("main resources %+v", main.Resources)
	}
	if len(pod.ResourceClaims) != 1 || pod.ResourceClaims[0].Name != "intrapod-shared-gpu" || *pod.ResourceClaims[0].ResourceClaimTemplateName != "gms-worker-gpu" {
		t.Errorf("pod claims %+v", pod.ResourceClaims)
	}
	if !slices.ContainsFunc(pod.Tolerations, func(t corev1.Toleration) bool {
		return t.Key == "nvidia.com/gpu" && t.Operator == corev1.TolerationOpExists && t.Effect == corev1.TaintEffectNoSchedule
	}) {
		t.Errorf("tolerations %+v", pod.Tolerations)
	}
	if len(pod.InitContainers) != 1 {
		t.Fatalf("init containers %+v", pod.InitContainers)
	}
	s := pod.InitContainers[0]
	if s.Name != "gms-server" || s.Image != "registry.example/vllm:1" || strings.Join(s.Command, " ") != "python3 -m gpu_memory_service.cli.server" ||
		s.RestartPolicy == nil || *s.RestartPolicy != corev1.ContainerRestartPolicyAlways || len(s.Resources.Claims) != 1 ||
		s.StartupProbe == nil || strings.Join(s.StartupProbe.Exec.Command, " ") != "test -f /gms-intrapod-control/gms-ready" ||
		s.StartupProbe.PeriodSeconds != 1 || s.StartupProbe.FailureThreshold != 300 {
		t.Errorf("gms-server %+v", s)
	}
	if !slices.Contains(main.VolumeMounts, corev1.VolumeMount{Name: "gms-intrapod-control", MountPath: "/gms-intrapod-control"}) ||
		!slices.Contains(main.Env, corev1.EnvVar{Name: "GMS_SOCKET_DIR", Value: "/gms-intrapod-control"}) {
		t.Errorf("main mounts %v env %v", main.VolumeMounts, main.Env)
	}
	tmpl := GMSClaimTemplate(g, c)
	if r := tmpl.Spec.Spec.Devices.Requests; tmpl.Name != "gms-worker-gpu" || len(r) != 1 || r[0].Exactly.Count != 2 || r[0].Exactly.DeviceClassName != "gpu.nvidia.com" {
		t.Errorf("template %s %+v", tmpl.Name, r)
	}
	// Without a GPU count there is nothing to claim: refused by name.
	none := decodeFile(t, filepath.Join("testdata", "in", "gms.yaml"), `resources: {limits: {gpu: "2"}}`, "")
	if _, err := Graph(resolve(none), testConfig); err == nil || !strings.Contains(err.Error(), "resources.limits.gpu") {
		t.Errorf("no GPUs: %v", err)
	}
}
