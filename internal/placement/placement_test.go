package placement

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	gpu = "nvidia.com/gpu"
	cpu = "cpu"
)

func node(name string, free int64, labels map[string]string, taints ...corev1.Taint) Node {
	return Node{
		Node: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: corev1.NodeSpec{Taints: taints}},
		Free: map[string]int64{gpu: free},
	}
}

var (
	gpuTaint   = corev1.Taint{Key: gpu, Value: "present", Effect: corev1.TaintEffectNoSchedule}
	tolerate   = &corev1.PodSpec{Tolerations: []corev1.Toleration{{Key: gpu, Operator: corev1.TolerationOpExists}}}
	onlyH100   = &corev1.PodSpec{NodeSelector: map[string]string{"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}}
	h100Labels = map[string]string{"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
	l4Labels   = map[string]string{"nvidia.com/gpu.product": "NVIDIA-L4"}
)

func TestPlace(t *testing.T) {
	cases := []struct {
		name    string
		nodes   []Node
		demands []Demand
		want    map[string]ServiceResult // by service: Placed, Shortfall, LargestFree, Nodes checked
		first   string                   // first unplaced service, "" when all fit
	}{
		{
			name:    "fits on one node",
			nodes:   []Node{node("a", 8, nil)},
			demands: []Demand{{Service: "decode", Replicas: 2, Requests: map[string]int64{gpu: 2}}, {Service: "prefill", Replicas: 1, Requests: map[string]int64{gpu: 4}}},
			want: map[string]ServiceResult{
				"decode":  {Placed: 2, Nodes: []string{"a"}},
				"prefill": {Placed: 1, Nodes: []string{"a"}},
			},
		},
		{
			// Largest first: the 8-GPU pod takes node a whole, the 1-GPU pods go to b. Smallest
			// first would have split a and left the 8-GPU pod nowhere.
			name:    "decreasing order avoids fragmentation",
			nodes:   []Node{node("a", 8, nil), node("b", 4, nil)},
			demands: []Demand{{Service: "small", Replicas: 4, Requests: map[string]int64{gpu: 1}}, {Service: "big", Replicas: 1, Requests: map[string]int64{gpu: 8}}},
			want: map[string]ServiceResult{
				"big":   {Placed: 1, Nodes: []string{"a"}},
				"small": {Placed: 4, Nodes: []string{"b"}},
			},
		},
		{
			name:    "shortfall named with the largest free block",
			nodes:   []Node{node("a", 6, nil), node("b", 6, nil)},
			demands: []Demand{{Service: "decode", Replicas: 3, Requests: map[string]int64{gpu: 4}}},
			want:    map[string]ServiceResult{"decode": {Placed: 2, Nodes: []string{"a", "b"}, Shortfall: map[string]int64{gpu: 4}, LargestFree: 2}},
			first:   "decode",
		},
		{
			name:    "total is enough but no single node is",
			nodes:   []Node{node("a", 4, nil), node("b", 4, nil)},
			demands: []Demand{{Service: "tp8", Replicas: 1, Requests: map[string]int64{gpu: 8}}},
			want:    map[string]ServiceResult{"tp8": {Placed: 0, Shortfall: map[string]int64{gpu: 8}, LargestFree: 4}},
			first:   "tp8",
		},
		{
			name:    "node selector limits the candidates",
			nodes:   []Node{node("h", 1, h100Labels), node("l", 8, l4Labels)},
			demands: []Demand{{Service: "decode", Replicas: 2, Requests: map[string]int64{gpu: 1}, Pod: onlyH100}},
			want:    map[string]ServiceResult{"decode": {Placed: 1, Nodes: []string{"h"}, Shortfall: map[string]int64{gpu: 1}, Candidates: 1}},
			first:   "decode",
		},
		{
			name:    "tainted GPU nodes need the toleration",
			nodes:   []Node{node("t", 8, nil, gpuTaint)},
			demands: []Demand{{Service: "plain", Replicas: 1, Requests: map[string]int64{gpu: 1}}, {Service: "tolerant", Replicas: 1, Requests: map[string]int64{gpu: 1}, Pod: tolerate}},
			want: map[string]ServiceResult{
				"plain":    {Placed: 0, Shortfall: map[string]int64{gpu: 1}},
				"tolerant": {Placed: 1, Nodes: []string{"t"}, Candidates: 1},
			},
			first: "plain",
		},
		{
			name:    "services compete for the same GPUs",
			nodes:   []Node{node("a", 2, nil)},
			demands: []Demand{{Service: "decode", Replicas: 1, Requests: map[string]int64{gpu: 1}}, {Service: "prefill", Replicas: 2, Requests: map[string]int64{gpu: 1}}},
			want: map[string]ServiceResult{
				"decode":  {Placed: 1, Nodes: []string{"a"}},
				"prefill": {Placed: 1, Nodes: []string{"a"}, Shortfall: map[string]int64{gpu: 1}},
			},
			first: "prefill",
		},
		{
			name:    "MIG resource",
			nodes:   []Node{{Node: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "mig"}}, Free: map[string]int64{"nvidia.com/mig-1g.10gb": 7}}},
			demands: []Demand{{Service: "tiny", Replicas: 7, Requests: map[string]int64{"nvidia.com/mig-1g.10gb": 1}}},
			want:    map[string]ServiceResult{"tiny": {Placed: 7, Nodes: []string{"mig"}}},
		},
		{
			// Time-sliced replicas advertised as nvidia.com/gpu are not whole GPUs: a demand
			// for 4 GPUs does not go to the node with 16 replicas free, unless it asks for
			// shared GPUs.
			name: "whole GPUs not placed on shared replicas",
			nodes: []Node{{Node: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "l4-ts"}}, Free: map[string]int64{gpu: 16}, Shared: []string{gpu}},
				node("h100", 2, nil)},
			demands: []Demand{{Service: "decode", Replicas: 1, Requests: map[string]int64{gpu: 4}},
				{Service: "tiny", Replicas: 3, Requests: map[string]int64{gpu: 1}, Shared: true}},
			// tiny fills h100 first (name order), then takes a replica.
			want: map[string]ServiceResult{"decode": {Placed: 0, Candidates: 1, LargestFree: 2, Shortfall: map[string]int64{gpu: 4}},
				"tiny": {Placed: 3, Nodes: []string{"h100", "l4-ts"}}},
			first: "decode",
		},
		{
			// A group's pods need distinct nodes: 16 GPUs free on one node do not hold a
			// 2-node group, and a group is placed whole or not at all.
			name:    "multi-node group needs one node per pod",
			nodes:   []Node{node("a", 16, nil), node("b", 8, nil)},
			demands: []Demand{{Service: "decode", Replicas: 2, GroupSize: 2, Requests: map[string]int64{gpu: 8}}},
			want: map[string]ServiceResult{"decode": {Placed: 1, Nodes: []string{"a", "b"}, Shortfall: map[string]int64{gpu: 16},
				LargestFree: 8, NodesWithRoom: 1}},
			first: "decode",
		},
		{
			// Groups go first (16 GPUs per replica): the single pods take what is left.
			name:  "groups before single pods",
			nodes: []Node{node("a", 8, nil), node("b", 8, nil), node("c", 4, nil)},
			demands: []Demand{{Service: "prefill", Replicas: 3, Requests: map[string]int64{gpu: 4}},
				{Service: "decode", Replicas: 1, GroupSize: 2, Requests: map[string]int64{gpu: 8}}},
			want: map[string]ServiceResult{
				"decode":  {Placed: 1, Nodes: []string{"a", "b"}},
				"prefill": {Placed: 1, Nodes: []string{"c"}, Shortfall: map[string]int64{gpu: 8}},
			},
			first: "prefill",
		},
		{
			name:    "no nodes",
			demands: []Demand{{Service: "decode", Replicas: 1, Requests: map[string]int64{gpu: 1}}},
			want:    map[string]ServiceResult{"decode": {Placed: 0, Shortfall: map[string]int64{gpu: 1}}},
			first:   "decode",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := make([]int64, len(c.nodes))
			for i, n := range c.nodes {
				before[i] = n.Free[gpu]
			}
			res := Place(c.nodes, c.demands)
			if len(res.Services) != len(c.demands) {
				t.Fatalf("%d results for %d services", len(res.Services), len(c.demands))
			}
			for _, got := range res.Services {
				want := c.want[got.Service]
				if got.Placed != want.Placed || !reflect.DeepEqual(got.Nodes, want.Nodes) || !reflect.DeepEqual(got.Shortfall, want.Shortfall) {
					t.Errorf("%s: placed %d on %v short %v; want %d on %v short %v", got.Service, got.Placed, got.Nodes, got.Shortfall, want.Placed, want.Nodes, want.Shortfall)
				}
				if want.LargestFree != 0 && got.LargestFree != want.LargestFree {
					t.Errorf("%s: largest free %d, want %d", got.Service, got.LargestFree, want.LargestFree)
				}
				if want.NodesWithRoom != 0 && got.NodesWithRoom != want.NodesWithRoom {
					t.Errorf("%s: %d nodes with room, want %d", got.Service, got.NodesWithRoom, want.NodesWithRoom)
				}
				if want.Candidates != 0 && got.Candidates != want.Candidates {
					t.Errorf("%s: %d candidate nodes, want %d", got.Service, got.Candidates, want.Candidates)
				}
			}
			first, unplaced := res.FirstUnplaced()
			if (c.first != "") != unplaced || first.Service != c.first {
				t.Errorf("first unplaced = %q (%v), want %q", first.Service, unplaced, c.first)
			}
			for i, n := range c.nodes {
				if n.Free[gpu] != before[i] {
					t.Errorf("Place changed the caller's free count of %s", n.Node.Name)
				}
			}
		})
	}
}

func TestAllowedAffinity(t *testing.T) {
	spec := &corev1.PodSpec{Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{
			{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "nvidia.com/gpu.present", Operator: corev1.NodeSelectorOpIn, Values: []string{"true"}}}},
			{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "cloud.google.com/gke-accelerator", Operator: corev1.NodeSelectorOpExists}}},
		}},
	}}}
	cases := map[string]struct {
		labels map[string]string
		want   bool
	}{
		"GFD label":     {map[string]string{"nvidia.com/gpu.present": "true"}, true},
		"GKE label":     {map[string]string{"cloud.google.com/gke-accelerator": "nvidia-l4"}, true},
		"neither":       {map[string]string{"kubernetes.io/os": "linux"}, false},
		"present=false": {map[string]string{"nvidia.com/gpu.present": "false"}, false},
	}
	for name, c := range cases {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: c.labels}}
		if got := Allowed(spec, n); got != c.want {
			t.Errorf("%s: Allowed = %v, want %v", name, got, c.want)
		}
	}
	noExec := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}, Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: "x", Effect: corev1.TaintEffectNoExecute}}}}
	prefer := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}, Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: "x", Effect: corev1.TaintEffectPreferNoSchedule}}}}
	if Allowed(&corev1.PodSpec{}, noExec) || !Allowed(&corev1.PodSpec{}, prefer) {
		t.Error("NoExecute taints must block and PreferNoSchedule must not")
	}
}
