package plan

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/dynamo-infra/dynamo-infra/internal/placement"
	"github.com/dynamo-infra/dynamo-infra/internal/simnode"
)

// BenchmarkBuild2000 plans a frontend and four 2-GPU decode workers on 2,000 dev-cluster nodes of
// five kinds with 20,000 pods on them (half with a GPU): what `dynamoctl plan` computes once the
// lists are read (bench/plan measures the whole command).
func BenchmarkBuild2000(b *testing.B) {
	kinds := []string{"h100", "h200", "a100-mig", "l4", "aks-a100"}
	in := Input{}
	for i := range 2000 {
		kind, _ := simnode.LookupNodeKind(kinds[i%len(kinds)])
		n := simnode.NewNode(kind, fmt.Sprintf("%s-%d", kind.Name, i), "zone-a")
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
		in.Nodes = append(in.Nodes, TrimNode(n))
	}
	for i := range 20000 {
		r := map[string]int64{"pods": 1, "cpu": 100, "memory": 1 << 28}
		if i%2 == 0 {
			r["nvidia.com/gpu"] = 1
		}
		in.Add(Load{Node: in.Nodes[i%2000].Name, Requests: r})
	}
	tol := []corev1.Toleration{simnode.KwokToleration()}
	fe := placement.Demand{Service: "Frontend", Replicas: 1, Requests: map[string]int64{"pods": 1, "cpu": 2000, "memory": 4 << 30}, Pod: &corev1.PodSpec{Tolerations: tol}}
	dec := placement.Demand{Service: "decode", Replicas: 4, Requests: map[string]int64{"pods": 1, "cpu": 8000, "memory": 64 << 30, "nvidia.com/gpu": 2}, Pod: &corev1.PodSpec{Tolerations: tol}}
	b.ReportAllocs()
	for b.Loop() {
		rep := Build([]placement.Demand{fe, dec}, in, Options{})
		if !rep.Fits {
			b.Fatal("does not fit")
		}
	}
}
