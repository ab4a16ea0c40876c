package controller_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/controller/controllertest"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster/devclustertest"
	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
)

const gmsGraph = `apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeployment
metadata: {name: gms, namespace: default}
spec:
  services:
    Worker:
      componentType: worker
      gpuMemoryService: {enabled: true}
      resources: {limits: {gpu: "2"}}
      extraPodSpec: {mainContainer: {image: registry.example/vllm:1, command: [python3, -m, dynamo.vllm]}}
`

// A GPU Memory Service graph schedules for real (a failover one too, testFailoverScheduled): its ResourceClaimTemplate (two GPUs of the
// gpu.nvidia.com class the dev cluster's DRA publishes) is created, the scheduler allocates the
// pod's claim from a node's ResourceSlice, the pod runs and the graph is Ready; a GPU count
// change replaces the (immutable) template.
func TestGPUMemoryService(t *testing.T) {
	c, cl := controllertest.Setup(t, "h100=1,cpu=1", devclustertest.WithDRA)
	ctx := context.Background()
	dgd := controllertest.CreateGraph(t, cl, gmsGraph)
	waitForGraph(t, cl, client.ObjectKeyFromObject(dgd), "graph Ready", 2*time.Minute, func(d *v1alpha1.DynamoGraphDeployment, ready *metav1.Condition) (bool, error) {
		return ready != nil && ready.Status == metav1.ConditionTrue, fmt.Errorf("%+v", ready)
	})
	tmpl, err := c.Client().ResourceV1().ResourceClaimTemplates("default").Get(ctx, "gms-worker-gpu", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r := tmpl.Spec.Spec.Devices.Requests; len(r) != 1 || r[0].Name != "gpus" || r[0].Exactly == nil || r[0].Exactly.Count != 2 ||
		r[0].Exactly.DeviceClassName != nvidia.DeviceClassGPU {
		t.Errorf("claim template requests %+v", r)
	}
	pods, err := c.Client().CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: v1alpha1.LabelComponent + "=Worker"})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("worker pods: %v %v", len(pods.Items), err)
	}
	p := pods.Items[0]
	if len(p.Status.ResourceClaimStatuses) != 1 || p.Status.ResourceClaimStatuses[0].ResourceClaimName == nil {
		t.Fatalf("the pod's claims: %+v", p.Status.ResourceClaimStatuses)
	}
	claim, err := c.Client().ResourceV1().ResourceClaims("default").Get(ctx, *p.Status.ResourceClaimStatuses[0].ResourceClaimName, metav1.GetOptions{})
	if err != nil || claim.Status.Allocation == nil || len(claim.Status.Allocation.Devices.Results) != 2 {
		t.Fatalf("the claim %v: allocation %+v", err, claim.Status.Allocation)
	}
	if p.Spec.NodeName != "h100-0" || !slices.ContainsFunc(p.Spec.InitContainers, func(ct corev1.Container) bool { return ct.Name == "gms-server" }) {
		t.Errorf("pod on %q, init containers %v", p.Spec.NodeName, p.Spec.InitContainers)
	}
	// Four GPUs: the template is replaced (its spec is immutable), and the new pod gets four.
	patchSpec(t, cl, client.ObjectKeyFromObject(dgd), func(d *v1alpha1.DynamoGraphDeployment) {
		d.Spec.Services["Worker"].Resources.Limits.GPU = "4"
	})
	eventually(t, "claim template of four GPUs", time.Minute, func(ctx context.Context) (bool, error) {
		t, err := c.Client().ResourceV1().ResourceClaimTemplates("default").Get(ctx, "gms-worker-gpu", metav1.GetOptions{})
		if err != nil {
			return false, client.IgnoreNotFound(err)
		}
		return t.Spec.Spec.Devices.Requests[0].Exactly.Count == 4, fmt.Errorf("count %d", t.Spec.Spec.Devices.Requests[0].Exactly.Count)
	})
	testFailoverScheduled(t, c, cl)
}

// failoverGraph is upstream's agg_failover.yaml in short: a vLLM worker whose main container
// runs as an active and a standby engine over its GPU Memory Service.
const failoverGraph = `apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeployment
metadata: {name: failover, namespace: default}
spec:
  backendFramework: vllm
  services:
    Worker:
      componentType: worker
      gpuMemoryService: {enabled: true}
      failover: {enabled: true}
      resources: {limits: {gpu: "2"}}
      extraPodSpec: {mainContainer: {image: registry.example/vllm:1, command: [python3, -m, dynamo.vllm]}}
`

// A failover worker schedules for real too: one claim for the pod, shared by the gms-server and
// both engines, allocated by the scheduler; the engines serve 9090 and 9091.
func testFailoverScheduled(t *testing.T, c *devcluster.Cluster, cl client.Client) {
	ctx := context.Background()
	dgd := controllertest.CreateGraph(t, cl, failoverGraph)
	waitForGraph(t, cl, client.ObjectKeyFromObject(dgd), "failover graph Ready", 2*time.Minute, func(d *v1alpha1.DynamoGraphDeployment, ready *metav1.Condition) (bool, error) {
		return ready != nil && ready.Status == metav1.ConditionTrue, fmt.Errorf("%+v", ready)
	})
	pods, err := c.Client().CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: v1alpha1.LabelGraphDeploymentName + "=failover"})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("failover pods: %v %v", len(pods.Items), err)
	}
	p := pods.Items[0]
	var names []string
	for _, ct := range p.Spec.Containers {
		names = append(names, fmt.Sprintf("%s:%d:%v", ct.Name, ct.Ports[0].ContainerPort, slices.ContainsFunc(ct.Resources.Claims, func(rc corev1.ResourceClaim) bool { return rc.Name == "intrapod-shared-gpu" })))
	}
	if !slices.Equal(names, []string{"engine-0:9090:true", "engine-1:9091:true"}) {
		t.Errorf("failover containers %v", names)
	}
	if len(p.Status.ResourceClaimStatuses) != 1 || p.Status.ResourceClaimStatuses[0].ResourceClaimName == nil {
		t.Fatalf("the pod's claims: %+v", p.Status.ResourceClaimStatuses)
	}
	claim, err := c.Client().ResourceV1().ResourceClaims("default").Get(ctx, *p.Status.ResourceClaimStatuses[0].ResourceClaimName, metav1.GetOptions{})
	if err != nil || claim.Status.Allocation == nil || len(claim.Status.Allocation.Devices.Results) != 2 {
		t.Fatalf("the claim %v: allocation %+v", err, claim.Status.Allocation)
	}
}
