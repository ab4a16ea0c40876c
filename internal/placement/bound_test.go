package placement

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// allocated is how many bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func cluster(n int, free int64) []Node {
	out := make([]Node, n)
	for i := range out {
		out[i] = node(fmt.Sprintf("n%04d", i), free, nil)
		out[i].Free["pods"] = 110
	}
	return out
}

// A service of 2³¹−1 replicas costs what the cluster holds, not what it asks for: the search
// proves at once that it does not fit, first fit places what has room and stops.
func TestReplicasBeyondTheClusterCostTheCluster(t *testing.T) {
	nodes := cluster(100, 8)
	huge := []Demand{{Service: "w", Replicas: math.MaxInt32, Requests: map[string]int64{gpu: 1, "pods": 1}}}
	var s SearchResult
	if b := allocated(func() { s = Search(nodes, huge, DefaultSearchBudget) }); b > 1<<20 {
		t.Errorf("Search allocated %d bytes", b)
	}
	if s.Found || !s.Complete || s.Steps != 0 {
		t.Errorf("Search: %+v, want complete, not found, no step", s)
	}
	var r Result
	if b := allocated(func() { r = Place(nodes, huge) }); b > 4<<20 {
		t.Errorf("Place allocated %d bytes", b)
	}
	sr := r.Services[0]
	if sr.Placed != 800 || r.Stopped || sr.Shortfall[gpu] != math.MaxInt32-800 {
		t.Errorf("Place: placed %d, stopped %v, short %v; want 800 placed, short %d", sr.Placed, r.Stopped, sr.Shortfall, math.MaxInt32-800)
	}
	// Linear: the candidates once, then a visit per pod (and the last, failed, scan).
	if r.Work > 4*100+800+100 {
		t.Errorf("Place took %d node visits", r.Work)
	}
	// A group of 2³¹−1 nodes, and shortfall products that overflow int64, saturate.
	group := []Demand{{Service: "g", Replicas: math.MaxInt32, GroupSize: math.MaxInt32, Requests: map[string]int64{gpu: math.MaxInt64 / 2}}}
	if s := Search(nodes, group, DefaultSearchBudget); s.Found || !s.Complete {
		t.Errorf("Search of a huge group: %+v", s)
	}
	if r := Place(nodes, group); r.Services[0].Shortfall[gpu] != math.MaxInt64 {
		t.Errorf("shortfall %v, want saturated", r.Services[0].Shortfall)
	}
}

// Pods that ask for nothing (not even a pod slot) are bounded by the work budget alone.
func TestWorkBudget(t *testing.T) {
	nodes := cluster(10, 8)
	free := []Demand{{Service: "x", Replicas: math.MaxInt32}}
	r := PlaceWithin(nodes, free, 5000)
	if !r.Stopped || r.Work < 5000 || r.Work > 5100 || r.Services[0].Placed == 0 {
		t.Errorf("unbounded pods within 5,000 visits: placed %d, stopped %v, work %d", r.Services[0].Placed, r.Stopped, r.Work)
	}
	// More units than the work could ever place: the search stops before building them.
	if s := SearchWithin(nodes, free, DefaultSearchBudget, 5000); s.Found || s.Complete {
		t.Errorf("search of unbounded pods: %+v, want stopped", s)
	}
	// A search that runs out of visits (not steps) says it stopped.
	both := []Demand{{Service: "x", Replicas: 10, Requests: map[string]int64{gpu: 5}}, {Service: "y", Replicas: 1, Requests: map[string]int64{gpu: 4}}}
	if s := SearchWithin(cluster(10, 8), both, DefaultSearchBudget, 100); s.Found || s.Complete || s.Work < 100 {
		t.Errorf("search within 100 visits: %+v", s)
	}
	// Services after the budget ran out are left unplaced, and said to be.
	two := []Demand{{Service: "a", Replicas: 50, Requests: map[string]int64{gpu: 1}}, {Service: "b", Replicas: 1, Requests: map[string]int64{gpu: 1}}}
	r = PlaceWithin(cluster(10, 8), two, 60)
	if !r.Stopped || r.Services[1].Placed != 0 {
		t.Errorf("within 60 visits: %+v", r)
	}
}

// The cursor of first fit (a node without room is not looked at again) places exactly as a
// scan from the first node for every pod would, groups and packed groups included: checked
// against that scan on random clusters.
func TestPlaceCursorKeepsFirstFit(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 26))
	for c := range 300 {
		var nodes []Node
		for i := range 1 + rng.IntN(12) {
			n := node(fmt.Sprintf("n%02d", i), rng.Int64N(9), map[string]string{"rack": fmt.Sprint(rng.IntN(3))})
			n.Free[cpu] = rng.Int64N(5)
			nodes = append(nodes, n)
		}
		var demands []Demand
		for d := range 1 + rng.IntN(3) {
			dm := Demand{Service: fmt.Sprintf("s%d", d), Replicas: rng.Int64N(8), GroupSize: 1 + rng.Int64N(3),
				Requests: map[string]int64{gpu: 1 + rng.Int64N(4), cpu: rng.Int64N(2)}}
			if rng.IntN(2) == 0 {
				dm.GroupKey = "rack"
			}
			demands = append(demands, dm)
		}
		got := Place(nodes, demands)
		want := scanFirstFit(nodes, demands)
		for _, sr := range got.Services {
			if fmt.Sprint(sr.PodsPerNode) != fmt.Sprint(want[sr.Service]) || sr.Placed != int64(len(want[sr.Service+"#"])) {
				t.Fatalf("case %d, %s: placed %d on %v, the scan places %d on %v", c, sr.Service, sr.Placed, sr.PodsPerNode,
					len(want[sr.Service+"#"]), want[sr.Service])
			}
		}
	}
}

// scanFirstFit is first fit without a cursor: every replica looks from the first node. Per
// service the pods per node, and under "service#" one entry per replica placed.
func scanFirstFit(nodes []Node, demands []Demand) map[string]map[string]int64 {
	free := make([]map[string]int64, len(nodes))
	order := indexes(len(nodes))
	for i, n := range nodes {
		free[i] = maps.Clone(n.Free)
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(nodes[a].Node.Name, nodes[b].Node.Name) })
	ds := firstFitOrder(demands)
	out := map[string]map[string]int64{}
	for _, d := range ds {
		per := map[string]int64{}
		placed := map[string]int64{}
		for p := int64(0); p < d.Replicas; p++ {
			groups := map[string][]int{}
			var group []int
			for _, i := range order {
				if !covers(free[i], d.Requests) {
					continue
				}
				v := ""
				if d.GroupKey != "" {
					if v = nodes[i].Node.Labels[d.GroupKey]; v == "" {
						continue
					}
				}
				groups[v] = append(groups[v], i)
				if int64(len(groups[v])) == groupSize(d) {
					group = groups[v]
					break
				}
			}
			if group == nil {
				break
			}
			for _, i := range group {
				for r, q := range d.Requests {
					free[i][r] -= q
				}
				per[nodes[i].Node.Name]++
			}
			placed[fmt.Sprint(p)] = 1
		}
		if len(per) == 0 {
			per = nil
		}
		out[d.Service] = per
		out[d.Service+"#"] = placed
	}
	return out
}

// BenchmarkPlaceBound is what DefaultWork costs: first fit of pods that ask for nothing (only
// the budget bounds them) on 2,000 nodes, one full budget per iteration; and a 2³¹−1-replica
// service, which the capacity bound ends before the search builds anything.
func BenchmarkPlaceBound(b *testing.B) {
	nodes := cluster(2000, 8)
	b.Run("budget", func(b *testing.B) {
		free := []Demand{{Service: "x", Replicas: math.MaxInt32}}
		for b.Loop() {
			if r := Place(nodes, free); !r.Stopped {
				b.Fatal("not stopped")
			}
		}
	})
	b.Run("beyond-capacity", func(b *testing.B) {
		huge := []Demand{{Service: "w", Replicas: math.MaxInt32, Requests: map[string]int64{gpu: 1, "pods": 1}}}
		for b.Loop() {
			_ = Search(nodes, huge, DefaultSearchBudget)
			_ = Place(nodes, huge)
		}
	})
}
