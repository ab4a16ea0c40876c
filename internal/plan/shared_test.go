package plan

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dynamo-infra/dynamo-infra/internal/demand"
	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
)

// Time-sliced replicas advertised as nvidia.com/gpu are marked shared in the plan's nodes (renamed
// nvidia.com/gpu.shared and dedicated GPUs are not), and a pod asks for shares by naming GPU
// sharing in its node selector or required affinity.
func TestSharedCapacity(t *testing.T) {
	mk := func(name string, labels map[string]string, res corev1.ResourceName, n int64) corev1.Node {
		q := *resource.NewQuantity(n, resource.DecimalSI)
		return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
			Status: corev1.NodeStatus{Capacity: corev1.ResourceList{res: q}, Allocatable: corev1.ResourceList{res: q},
				Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
	}
	l4 := map[string]string{nvidia.LabelGPUProduct: "NVIDIA-L4", nvidia.LabelGPUCount: "4", nvidia.LabelGPUMemory: "23034"}
	with := func(m map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	nodes := []corev1.Node{
		mk("dedicated", l4, nvidia.ResourceGPU, 4),
		mk("timesliced", with(l4, nvidia.LabelGPUReplicas, "4", nvidia.LabelGPUSharing, "time-slicing"), nvidia.ResourceGPU, 16),
		mk("mps", with(l4, nvidia.LabelGPUReplicas, "2", nvidia.LabelGPUSharing, "mps"), nvidia.ResourceGPUShared, 8),
	}
	shared := map[string][]string{}
	usableNodes, _, _ := usable(Input{Nodes: nodes}, "")
	for _, n := range usableNodes {
		shared[n.Node.Name] = n.Shared
	}
	if len(shared["dedicated"]) != 0 || len(shared["mps"]) != 0 || len(shared["timesliced"]) != 1 || shared["timesliced"][0] != nvidia.ResourceGPU {
		t.Errorf("shared resources per node: %v", shared)
	}
	for _, tt := range []struct {
		name string
		spec corev1.PodSpec
		want bool
	}{
		{"no constraint", corev1.PodSpec{}, false},
		{"product", corev1.PodSpec{NodeSelector: map[string]string{nvidia.LabelGPUProduct: "NVIDIA-L4"}}, false},
		{"shared product", corev1.PodSpec{NodeSelector: map[string]string{nvidia.LabelGPUProduct: "NVIDIA-L4-SHARED"}}, true},
		{"sharing strategy", corev1.PodSpec{NodeSelector: map[string]string{nvidia.LabelGPUSharing: "time-slicing"}}, true},
		{"replicas in affinity", corev1.PodSpec{Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: nvidia.LabelGPUReplicas, Operator: corev1.NodeSelectorOpExists}}}}}}}}, true},
	} {
		if got := demand.AsksForShared(&tt.spec); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
