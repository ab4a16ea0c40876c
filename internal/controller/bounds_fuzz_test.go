package controller

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/capacity"
	"github.com/dynamo-infra/dynamo-infra/internal/demand"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/placement"
	"github.com/dynamo-infra/dynamo-infra/internal/plan"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
	"github.com/dynamo-infra/dynamo-infra/internal/simnode"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
)

// planMemoryLimit bounds what one graph's plans may allocate, all three together, on up to
// 2,000 nodes: what they hold grows with the nodes and the pods they place, never with the
// replicas a graph asks for (a 2³¹−1-replica graph took the operator past 24 GB before).
const planMemoryLimit = 512 << 20

// extremeGraph is a graph of services workers (1–25; the first multi-node when nodeCount > 1)
// of replicas replicas each, every pod asking for gpus GPUs and cpu millicores — values taken
// as they come, beyond what the CRD admits, as a graph stored under an older CRD would be.
func extremeGraph(services uint8, replicas, nodeCount int32, gpus, cpu int64) *v1alpha1.DynamoGraphDeployment {
	g := testkit.Graph("ns", "x").UID("u")
	for i := range 1 + int(services)%25 {
		s := testkit.Service(v1alpha1.ComponentWorker).Replicas(replicas).Limits(fmt.Sprint(gpus), cpu).
			Image("").Command([]string{"python3", "-m", "dynamo.vllm"}, "--model", "m")
		if i == 0 && nodeCount > 1 {
			s.Multinode(nodeCount)
		}
		g.Service(fmt.Sprintf("W%d", i), s)
	}
	return g.Obj()
}

// extremeNodes are n Ready nodes: a third CPU nodes, the rest H100 nodes of 8 GPUs.
func extremeNodes(n int) []corev1.Node {
	h100, _ := simnode.LookupNodeKind("h100")
	cpuKind, _ := simnode.LookupNodeKind("cpu")
	out := make([]corev1.Node, n)
	for i := range out {
		kind := h100
		if i%3 == 2 {
			kind = cpuKind
		}
		out[i] = *simnode.NewNode(kind, fmt.Sprintf("%s-%d", kind.Name, i), "z")
		out[i].Spec.Taints = nil
		out[i].Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	}
	return out
}

// Every graph costs bounded work on each path that plans it, and both paths give one verdict: the operator's Schedulable plan
// (planGraph) and the one `dynamoctl plan`, `preflight -f` and `explain -f` use (fit.Graph:
// the same planner on the graph's admitted pods) — with extreme replicas, group sizes, services,
// resources and node counts. The seeds run in make test; go test -fuzz FuzzPlanBounds explores.
func FuzzPlanBounds(f *testing.F) {
	f.Add(uint8(1), int32(math.MaxInt32), int32(1), int64(1), int64(100), uint16(2000))
	f.Add(uint8(1), int32(math.MaxInt32), int32(math.MaxInt32), int64(8), int64(1000), uint16(2000))
	f.Add(uint8(24), int32(150000), int32(1), int64(1), int64(1), uint16(2000))
	f.Add(uint8(3), int32(100), int32(5000), int64(1), int64(0), uint16(300))
	f.Add(uint8(2), int32(7), int32(2), int64(math.MaxInt64/2), int64(math.MaxInt64/1000), uint16(40))
	f.Add(uint8(0), int32(math.MaxInt32), int32(1), int64(0), int64(0), uint16(0))
	f.Add(uint8(5), int32(1000), int32(1), int64(0), int64(1), uint16(1500))
	f.Fuzz(func(t *testing.T, services uint8, replicas, nodeCount int32, gpus, cpu int64, nodeN uint16) {
		if replicas < 0 || nodeCount < 0 || gpus < 0 || cpu < 0 {
			t.Skip("the CRD refuses negative values")
		}
		g, _ := graph.Resolve(extremeGraph(services, replicas, nodeCount, gpus, cpu), graph.Options{})
		nodes := extremeNodes(int(nodeN) % 2001)
		cfg := render.Config{}
		var op, quick, cli plan.Report
		used := allocated(func() {
			r := &Reconciler{LWS: true}
			snap := capacity.NewSnapshot(nodes, nil, time.Unix(0, 0))
			var ok bool
			op, ok = r.planGraph(context.Background(), g, cfg, nil, snap, nil, &admission{}, false)
			if !ok {
				return // a render error: the Ready condition's
			}
			quick, _ = r.planGraph(context.Background(), g, cfg, nil, snap, nil, &admission{}, true)
			demands, err := demand.Pods([]*graph.Graph{g}, cfg, nil)
			if err != nil {
				t.Fatalf("planGraph rendered what demand.Pods refuses: %v", err)
			}
			cli = plan.Build(demands, plan.Input{Nodes: nodes}, plan.Options{Graph: g.Name, Namespace: g.Namespace, InterPod: placement.InterPodAll})
		})
		if used > planMemoryLimit {
			t.Fatalf("%d MiB allocated (limit %d MiB)", used>>20, planMemoryLimit>>20)
		}
		for _, rep := range []plan.Report{op, cli} {
			for _, s := range rep.Services {
				if s.Placed > s.Replicas || s.Fits != (s.Placed == s.Replicas) {
					t.Fatalf("%s: placed %d of %d, fits %v", s.Name, s.Placed, s.Replicas, s.Fits)
				}
			}
			if rep.Stopped && rep.Fits {
				t.Fatal("a stopped plan says the graph fits")
			}
		}
		// One verdict (issue 27): the operator's Schedulable plan and the one dynamoctl plan,
		// preflight -f and explain -f use agree on the same graph and nodes.
		if op.Services != nil && !op.Stopped && !cli.Stopped && (op.Fits != cli.Fits || op.Proven != cli.Proven) {
			t.Fatalf("the operator's plan says fits %v (proven %v), the CLI's %v (proven %v)", op.Fits, op.Proven, cli.Fits, cli.Proven)
		}
		// First fit (the quick plan of a graph without a Schedulable condition) says fits only
		// where the whole plan does.
		if quick.Fits && !cli.Stopped && !cli.Fits {
			t.Fatalf("first fit says the graph fits, the plan does not: %+v", cli.Services)
		}
	})
}

// allocated is how many bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
