package plan_test

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/dynamo-infra/dynamo-infra/internal/devcluster/devclustertest"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
	"github.com/dynamo-infra/dynamo-infra/internal/plan"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
	"github.com/dynamo-infra/dynamo-infra/test/clitest"
)

// draGraph is a decode service whose GPUs come from a DRA claim: 8 devices of NVIDIA's GPU
// class per pod, no nvidia.com/gpu.
const draGraph = `apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeployment
metadata: {name: NAME, namespace: default}
spec:
  services:
    decode:
      componentType: decode
      replicas: REPLICAS
      resources: {claims: [{name: gpus}]}
      extraPodSpec:
        resourceClaims: [{name: gpus, resourceClaimTemplateName: eight-gpus}]
        mainContainer: {image: registry.example/worker:1}
`

func draFile(t *testing.T, dir, name, replicas string) string {
	t.Helper()
	file := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(file, []byte(strings.NewReplacer("NAME", name, "REPLICAS", replicas).Replace(draGraph)), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// A graph whose GPUs come from a DRA claim is planned on the devices the nodes' ResourceSlices
// publish (the dev cluster publishes its GPUs as NVIDIA's driver does), and the real scheduler
// places its pods where the plan says; devices claims hold are not free to the next plan; plan,
// preflight -f and explain -f say the same.
func TestDRAClaimsPlannedAndScheduled(t *testing.T) {
	c := devclustertest.Start(t, "h100=2,cpu=1", devclustertest.WithDRA)
	cs := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	tmpl := devclustertest.GPUClaimTemplate("default", "eight-gpus", 8)
	if _, err := cs.ResourceV1().ResourceClaimTemplates("default").Create(ctx, tmpl, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	kc, dir := c.KubeconfigPath(), t.TempDir()

	// A GPU Memory Service graph not applied yet: its GPUs come from the claim template it
	// renders (not in the cluster), planned as devices — two pods of 8 fit, one of 9 does not.
	gms := func(name, gpus, replicas string) string {
		f := filepath.Join(dir, name+".yaml")
		body := strings.NewReplacer("NAME", name, "GPUS", gpus, "REPLICAS", replicas).Replace(`apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeployment
metadata: {name: NAME, namespace: default}
spec:
  services:
    decode:
      componentType: decode
      replicas: REPLICAS
      gpuMemoryService: {enabled: true}
      resources: {limits: {gpu: "GPUS"}}
      extraPodSpec: {mainContainer: {image: registry.example/worker:1}}
`)
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	if r := clitest.RunInProcess(ctx, kc, "plan", "-f", gms("gms-fits", "8", "2"), "-o", "json"); r.Code != 0 || !decodeJSON(t, r).Fits ||
		len(svc(t, decodeJSON(t, r), "decode").Placement) != 2 {
		t.Errorf("GMS 2 × 8 GPUs: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if r := clitest.RunInProcess(ctx, kc, "plan", "-f", gms("gms-short", "9", "1"), "-o", "json"); r.Code != 1 || decodeJSON(t, r).Fits ||
		svc(t, decodeJSON(t, r), "decode").Short == nil || !strings.HasPrefix(svc(t, decodeJSON(t, r), "decode").Short.Resource, "devices.dynamo-infra.dev/"+nvidia.DeviceClassGPU) {
		t.Errorf("GMS 9 GPUs on 8-GPU nodes: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	three := draFile(t, dir, "three", "3")
	r := clitest.RunInProcess(ctx, kc, "plan", "-f", three, "-o", "json")
	if rep := decodeJSON(t, r); r.Code != 1 || rep.Fits || svc(t, rep, "decode").Placed != 2 || svc(t, rep, "decode").Short == nil ||
		!strings.HasPrefix(svc(t, rep, "decode").Short.Resource, "devices.dynamo-infra.dev/"+nvidia.DeviceClassGPU) {
		t.Errorf("3 × 8 devices on two 8-GPU nodes: exit %d %+v", r.Code, rep.Services)
	}
	if r := clitest.RunInProcess(ctx, kc, "preflight", "-f", three, "--skip", "api-connectivity,default-storageclass,gpu-nodes,gpu-operator"); r.Code != 1 {
		t.Errorf("preflight -f of 3 × 8 devices: exit %d\n%s", r.Code, r.Stdout)
	}

	two := draFile(t, dir, "two", "2")
	r = clitest.RunInProcess(ctx, kc, "plan", "-f", two, "-o", "json")
	rep := decodeJSON(t, r)
	var planned []string
	for _, p := range svc(t, rep, "decode").Placement {
		planned = append(planned, p.Node)
	}
	slices.Sort(planned)
	if r.Code != 0 || !rep.Fits || !slices.Equal(planned, []string{"h100-0", "h100-1"}) {
		t.Fatalf("2 × 8 devices: exit %d %+v\n%s", r.Code, rep.Services, r.Stderr)
	}
	if r := clitest.RunInProcess(ctx, kc, "explain", "-f", two); r.Code != 0 {
		t.Errorf("explain -f of 2 × 8 devices: exit %d\n%s", r.Code, r.Stdout)
	}

	// The scheduler allocates the claims (the resourceclaim controller makes them from the
	// template) and places the pods where the plan did.
	createPods(t, ctx, cs, two, 2)
	var bound []string
	testkit.Eventually(t, "both pods bound", 2*time.Minute, func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "dra-test=two"})
		if err != nil {
			return false, err
		}
		bound = nil
		for _, p := range pods.Items {
			if p.Spec.NodeName != "" {
				bound = append(bound, p.Spec.NodeName)
			}
		}
		return len(bound) == 2, nil
	})
	slices.Sort(bound)
	t.Logf("planned on %v, scheduled on %v", planned, bound)
	if !slices.Equal(bound, planned) {
		t.Errorf("the scheduler placed the pods on %v, the plan on %v", bound, planned)
	}

	// The running graph planned again is a change: its own claims give their devices back.
	r = clitest.RunInProcess(ctx, kc, "plan", "-f", two, "-o", "json")
	if rep := decodeJSON(t, r); r.Code != 0 || !rep.Fits || rep.Mode != plan.ModeChange {
		t.Errorf("the running graph as a change: exit %d mode %s %+v", r.Code, rep.Mode, rep.Services)
	}

	// Every device is now held by a claim: a plan of one more pod has none free.
	one := draFile(t, dir, "one", "1")
	if r := clitest.RunInProcess(ctx, kc, "plan", "-f", one, "-o", "json"); r.Code != 1 || decodeJSON(t, r).Fits {
		t.Errorf("one more pod with every device allocated: exit %d\n%s", r.Code, r.Stdout)
	}
	createPods(t, ctx, cs, one, 1)
	time.Sleep(3 * time.Second)
	pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "dra-test=one"})
	if err != nil || len(pods.Items) != 1 || pods.Items[0].Spec.NodeName != "" {
		t.Errorf("the scheduler placed the pod the plan has no devices for: %v %+v", err, pods)
	}
}

// createPods creates n pods of the file's decode service as the operator renders them.
func createPods(t *testing.T, ctx context.Context, cs kubernetes.Interface, file string, n int) {
	t.Helper()
	docs, err := render.ReadGraphs(file, nil, "default")
	if err != nil {
		t.Fatal(err)
	}
	g, _ := graph.Resolve(docs.Graphs()[0], graph.Options{})
	tmpl, err := render.PodTemplate(g, g.Component("decode"), render.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tmpl.Spec.ServiceAccountName = "" // the discovery account is the operator's to create
	for range n {
		labels := maps.Clone(tmpl.Labels) // the graph's: a plan of it as a change finds them
		labels["dra-test"] = g.Name
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: g.Name + "-", Labels: labels}, Spec: *tmpl.Spec.DeepCopy()}
		if _, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}
