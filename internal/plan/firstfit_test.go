package plan

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/dynamo-infra/dynamo-infra/internal/capacity"
	"github.com/dynamo-infra/dynamo-infra/internal/placement"
	"github.com/dynamo-infra/dynamo-infra/internal/simnode"
)

// FirstFit is a sufficient condition of Build's Fits: on random clusters (every node kind of the
// dev cluster — MIG, time-slicing, MPS, CPU — some cordoned, not Ready or tainted, partly used)
// and random simple graphs (selectors, tolerations, GPU, MIG, CPU and memory requests), every
// graph first fit places, Build places too; and first fit does place most graphs that fit
// plainly (it is not vacuous).
func TestFirstFitImpliesBuildFits(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 3))
	kinds := []string{"h100", "h200", "a100-mig", "a100-mig-single", "l4-timeslice", "l4-mps", "l4", "gb200", "cpu"}
	gpuKinds := []string{"nvidia.com/gpu", "nvidia.com/mig-1g.10gb", "nvidia.com/gpu.shared"}
	firstFits, buildFits := 0, 0
	for round := range 400 {
		in := Input{}
		for i := range 2 + rng.IntN(12) {
			kind, ok := simnode.LookupNodeKind(kinds[rng.IntN(len(kinds))])
			if !ok {
				t.Fatal("unknown node kind")
			}
			n := simnode.NewNode(kind, fmt.Sprintf("n%d-%d", round, i), []string{"zone-a", "zone-b"}[rng.IntN(2)])
			ready := corev1.ConditionTrue
			if rng.IntN(10) == 0 {
				ready = corev1.ConditionFalse
			}
			n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready}}
			n.Spec.Unschedulable = rng.IntN(10) == 0
			if rng.IntN(5) == 0 {
				n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: "dedicated", Value: "infer", Effect: corev1.TaintEffectNoSchedule})
			}
			in.Nodes = append(in.Nodes, TrimNode(n))
			for range rng.IntN(4) {
				r := map[string]int64{"pods": 1, "cpu": int64(rng.IntN(8000)), "memory": int64(rng.IntN(64)) << 30}
				if rng.IntN(2) == 0 {
					r[gpuKinds[rng.IntN(len(gpuKinds))]] = int64(1 + rng.IntN(4))
				}
				in.Add(Load{Node: n.Name, Requests: r})
			}
		}
		var demands []placement.Demand
		for s := range 1 + rng.IntN(3) {
			spec := &corev1.PodSpec{Tolerations: []corev1.Toleration{simnode.KwokToleration()}}
			if rng.IntN(3) == 0 {
				spec.Tolerations = append(spec.Tolerations, corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpExists})
			}
			if rng.IntN(4) == 0 {
				spec.NodeSelector = map[string]string{"topology.kubernetes.io/zone": "zone-a"}
			}
			req := map[string]int64{"pods": 1, "cpu": int64(500 + rng.IntN(16000)), "memory": int64(1+rng.IntN(128)) << 30}
			if rng.IntN(3) > 0 {
				req[gpuKinds[rng.IntN(2)]] = int64(1 + rng.IntN(8))
			}
			demands = append(demands, placement.Demand{Service: fmt.Sprintf("s%d", s), Replicas: int64(rng.IntN(6)), Requests: req, Pod: spec})
		}
		fits, ok := FirstFit(demands, capacity.NodeList(in.Nodes), in.Used)
		if !ok {
			t.Fatalf("round %d: simple demands not taken", round)
		}
		rep := Build(demands, in, Options{})
		if rep.Fits {
			buildFits++
		}
		if !fits {
			continue
		}
		firstFits++
		if !rep.Fits {
			t.Fatalf("round %d: first fit placed every pod, Build did not: %+v", round, rep.Services)
		}
	}
	if firstFits < buildFits/2 || firstFits < 40 {
		t.Fatalf("first fit placed %d graphs of the %d Build placed: too few to test", firstFits, buildFits)
	}
	t.Logf("first fit placed %d of the %d graphs Build placed (400 rounds)", firstFits, buildFits)
}

// Demands first fit cannot judge are left to Build.
func TestFirstFitDeclines(t *testing.T) {
	anti := &corev1.PodSpec{Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{TopologyKey: "kubernetes.io/hostname"}}}}}
	spread := &corev1.PodSpec{TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: corev1.DoNotSchedule}}}
	soft := &corev1.PodSpec{TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: corev1.ScheduleAnyway}}}
	for _, c := range []struct {
		name string
		d    placement.Demand
		ok   bool
	}{
		{"group", placement.Demand{Replicas: 1, GroupSize: 2}, false},
		{"group key", placement.Demand{Replicas: 1, GroupKey: "rack"}, false},
		{"shared GPUs", placement.Demand{Replicas: 1, Shared: true}, false},
		{"anti-affinity", placement.Demand{Replicas: 1, Pod: anti}, false},
		{"hard spread", placement.Demand{Replicas: 1, Pod: spread}, false},
		{"soft spread", placement.Demand{Replicas: 1, Pod: soft}, true},
	} {
		if _, ok := FirstFit([]placement.Demand{c.d}, slices.Values([]*corev1.Node{}), nil); ok != c.ok {
			t.Errorf("%s: ok %v, want %v", c.name, ok, c.ok)
		}
	}
}
