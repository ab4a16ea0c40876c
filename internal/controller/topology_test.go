package controller_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/controller"
	"github.com/dynamo-infra/dynamo-infra/internal/controller/controllertest"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster/devclustertest"
	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
	"github.com/dynamo-infra/dynamo-infra/internal/plan"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
	"github.com/dynamo-infra/dynamo-infra/test/clitest"
)

// packed is a disaggregated graph packed in one NVLink domain, as the ClusterTopology "nvl72"
// names it: a frontend, two prefill and two decode workers of 4 GPUs.
const packed = `apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeployment
metadata: {name: packed, namespace: default}
spec:
  topologyConstraint: {topologyProfile: nvl72, packDomain: nvlink}
  services:
    Frontend:
      componentType: frontend
      extraPodSpec: {mainContainer: {image: registry.example/frontend:1}}
    prefill:
      componentType: prefill
      replicas: 2
      resources: {limits: {gpu: "4"}}
      extraPodSpec: {mainContainer: {image: registry.example/vllm:1}}
    decode:
      componentType: decode
      replicas: 2
      resources: {limits: {gpu: "4"}}
      extraPodSpec: {mainContainer: {image: registry.example/vllm:1}}
`

// On two NVL72-like racks (dev-cluster kind gb200, 18 nodes each, one NVLink clique per rack)
// and a CPU node, with a Grove ClusterTopology "nvl72" whose level nvlink is GFD's
// nvidia.com/gpu.clique: a graph packed by nvlink lands in one clique — every pod, prefill and
// decode alike — its status records the clique and the nodes, and PlacementVerified is True. A
// node of the graph relabelled into the other clique (as a move would) makes PlacementVerified
// False, naming both.
func TestTopologyPackedGraph(t *testing.T) {
	c, cl := controllertest.Setup(t, "gb200=36,cpu=1")
	ctx := context.Background()
	devclustertest.InstallCRDs(t, c.RESTConfig(), testkit.ClusterTopologyCRDPath())
	ct := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "grove.io/v1alpha1", "kind": "ClusterTopology",
		"metadata": map[string]any{"name": "nvl72"},
		"spec": map[string]any{"levels": []any{
			map[string]any{"domain": "zone", "key": "topology.kubernetes.io/zone"},
			map[string]any{"domain": "nvlink", "key": nvidia.LabelGPUClique},
		}}}}
	if err := cl.Create(ctx, ct); err != nil {
		t.Fatal(err)
	}
	// dynamoctl plan places it first under the same constraint (the profile read from the
	// ClusterTopology): every node it uses in the clique it names.
	file := filepath.Join(t.TempDir(), "packed.yaml")
	if err := os.WriteFile(file, []byte(packed), 0o644); err != nil {
		t.Fatal(err)
	}
	r := clitest.RunInProcess(ctx, c.KubeconfigPath(), "plan", "-f", file, "-o", "json")
	var rep plan.Report
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil || r.Code != 0 || !rep.Fits || len(rep.Topology) != 1 ||
		rep.Topology[0].Domain != "nvlink" || rep.Topology[0].Key != nvidia.LabelGPUClique || rep.Topology[0].Value == "" {
		t.Fatalf("plan: exit %d %v topology %+v\n%s", r.Code, err, rep.Topology, r.Stderr)
	}
	for _, u := range rep.Nodes {
		var n corev1.Node
		if err := cl.Get(ctx, client.ObjectKey{Name: u.Name}, &n); err != nil {
			t.Fatal(err)
		}
		if n.Labels[nvidia.LabelGPUClique] != rep.Topology[0].Value {
			t.Errorf("plan uses %s outside clique %s", u.Name, rep.Topology[0].Value)
		}
	}
	controllertest.CreateGraph(t, cl, packed)
	key := types.NamespacedName{Namespace: "default", Name: "packed"}
	var got v1alpha1.DynamoGraphDeployment
	waitForGraph(t, cl, key, "Ready and placement verified", 2*time.Minute, func(d *v1alpha1.DynamoGraphDeployment, ready *metav1.Condition) (bool, error) {
		got = *d
		pv := meta.FindStatusCondition(d.Status.Conditions, controller.ConditionPlacementVerified)
		return ready != nil && ready.Status == metav1.ConditionTrue && pv != nil && pv.Status == metav1.ConditionTrue, nil
	})
	var pods corev1.PodList
	if err := cl.List(ctx, &pods, client.InNamespace("default"), client.MatchingLabels{v1alpha1.LabelGraphDeploymentName: "packed"}); err != nil {
		t.Fatal(err)
	}
	racks, nodes := map[string]bool{}, map[string]bool{}
	for _, p := range pods.Items {
		var n corev1.Node
		if err := cl.Get(ctx, client.ObjectKey{Name: p.Spec.NodeName}, &n); err != nil {
			t.Fatal(err)
		}
		racks[n.Labels[nvidia.LabelGPUClique]] = true
		nodes[n.Name] = true
	}
	if len(pods.Items) != 5 || len(racks) != 1 {
		t.Fatalf("%d pods in racks %v", len(pods.Items), racks)
	}
	var rack string
	for r := range racks {
		rack = r
	}
	if len(got.Status.Placement) != 1 {
		t.Fatalf("placement %+v", got.Status.Placement)
	}
	p := got.Status.Placement[0]
	if p.Service != "" || p.Domain != "nvlink" || p.Key != nvidia.LabelGPUClique || !slices.Equal(p.Values, []string{rack}) || !p.Verified || len(p.Nodes) != len(nodes) {
		t.Errorf("placement %+v, want rack %s on %d nodes", p, rack, len(nodes))
	}
	pv := meta.FindStatusCondition(got.Status.Conditions, controller.ConditionPlacementVerified)
	if pv.Reason != controller.ReasonTopologyRespected || pv.Message != "the graph's pods in nvlink "+rack {
		t.Errorf("PlacementVerified %s: %s", pv.Reason, pv.Message)
	}

	// A node of the graph moves to the other clique.
	other := strings.TrimSuffix(rack, ".0") + ".1"
	if !strings.HasSuffix(rack, ".0") {
		other = strings.TrimSuffix(rack, ".1") + ".0"
	}
	var n corev1.Node
	if err := cl.Get(ctx, client.ObjectKey{Name: p.Nodes[0]}, &n); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(n.DeepCopy())
	n.Labels[nvidia.LabelGPUClique] = other
	if err := cl.Patch(ctx, &n, patch); err != nil {
		t.Fatal(err)
	}
	waitForGraph(t, cl, key, "PlacementVerified False", time.Minute, func(d *v1alpha1.DynamoGraphDeployment, _ *metav1.Condition) (bool, error) {
		got = *d
		pv := meta.FindStatusCondition(d.Status.Conditions, controller.ConditionPlacementVerified)
		return pv != nil && pv.Status == metav1.ConditionFalse, nil
	})
	pv = meta.FindStatusCondition(got.Status.Conditions, controller.ConditionPlacementVerified)
	want := []string{rack, other}
	slices.Sort(want)
	if pv.Reason != controller.ReasonTopologyViolated || !strings.Contains(pv.Message, "the graph's pods run in 2 nvlink domains ("+nvidia.LabelGPUClique+": "+strings.Join(want, ", ")+"), not one") {
		t.Errorf("PlacementVerified %s: %s", pv.Reason, pv.Message)
	}
	if ready := meta.FindStatusCondition(got.Status.Conditions, controller.ConditionReady); ready.Status != metav1.ConditionTrue {
		t.Errorf("Ready %s: the graph still serves; only its placement is wrong", ready.Status)
	}
}
