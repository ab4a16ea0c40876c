package placement

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// Placements first-fit misses and the search finds: a large pod first-fit puts on the only
// node a smaller, pickier pod may use; a group first-fit spreads over the nodes a later
// whole-node pod needed.
func TestSearchFindsWhatFirstFitMisses(t *testing.T) {
	onlyA := &corev1.PodSpec{NodeSelector: map[string]string{"pool": "a"}}
	cases := []struct {
		name    string
		nodes   []Node
		demands []Demand
		want    map[string][]string // service → nodes
	}{
		{
			name:  "picky pod",
			nodes: []Node{node("a", 8, map[string]string{"pool": "a"}), node("b", 8, map[string]string{"pool": "b"})},
			demands: []Demand{{Service: "decode", Replicas: 1, Requests: map[string]int64{gpu: 8}},
				{Service: "prefill", Replicas: 1, Requests: map[string]int64{gpu: 6}, Pod: onlyA}},
			want: map[string][]string{"decode": {"b"}, "prefill": {"a"}},
		},
		{
			name:  "group spread",
			nodes: []Node{node("a", 8, nil), node("b", 8, nil), node("c", 4, nil)},
			demands: []Demand{{Service: "group", Replicas: 1, GroupSize: 2, Requests: map[string]int64{gpu: 4}},
				{Service: "whole", Replicas: 1, Requests: map[string]int64{gpu: 8}}},
			want: map[string][]string{"group": {"a", "c"}, "whole": {"b"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, bad := Place(tc.nodes, tc.demands).FirstUnplaced(); !bad {
				t.Fatal("first-fit places it: not a case for the search")
			}
			s := Search(tc.nodes, tc.demands, DefaultSearchBudget)
			if !s.Found || !s.Complete {
				t.Fatalf("search: %+v", s)
			}
			for _, sr := range s.Result.Services {
				if !sr.Fits() || fmt.Sprint(sr.Nodes) != fmt.Sprint(tc.want[sr.Service]) {
					t.Errorf("%s: placed %d on %v, want all on %v", sr.Service, sr.Placed, sr.Nodes, tc.want[sr.Service])
				}
			}
			assertValid(t, tc.nodes, tc.demands, s)
		})
	}
}

// "Does not fit" is proved when the search has tried everything; a search stopped by its
// budget says so.
func TestSearchProvesOrGivesUp(t *testing.T) {
	nodes := []Node{node("a", 8, nil), node("b", 4, nil)}
	s := Search(nodes, []Demand{{Service: "x", Replicas: 2, Requests: map[string]int64{gpu: 8}}}, DefaultSearchBudget)
	if s.Found || !s.Complete {
		t.Errorf("two 8-GPU pods on 8 + 4: %+v", s)
	}
	// 500 alike nodes with 7 free, 64 pods of 8: nothing fits, known at once.
	var many []Node
	for i := range 500 {
		many = append(many, node(fmt.Sprintf("n%03d", i), 7, nil))
	}
	s = Search(many, []Demand{{Service: "x", Replicas: 64, Requests: map[string]int64{gpu: 8}}}, DefaultSearchBudget)
	if s.Found || !s.Complete || s.Steps != 0 {
		t.Errorf("64 × 8 on 500 × 7: %+v", s)
	}
	// 32 nodes with 8 free: 33 pods of 8 do not fit; alike nodes make it linear.
	for i := range 32 {
		many[i].Free[gpu] = 8
	}
	// More pods than the nodes could ever hold: proven before any is tried.
	s = Search(many[:32], []Demand{{Service: "x", Replicas: 33, Requests: map[string]int64{gpu: 8}}}, DefaultSearchBudget)
	if s.Found || !s.Complete || s.Steps != 0 {
		t.Errorf("33 × 8 on 32 × 8: %+v", s)
	}
	// Each demand alone has room, both do not: searched, linear on alike nodes, or stopped.
	both := []Demand{{Service: "x", Replicas: 32, Requests: map[string]int64{gpu: 5}}, {Service: "y", Replicas: 1, Requests: map[string]int64{gpu: 4}}}
	s = Search(many[:32], both, DefaultSearchBudget)
	if s.Found || !s.Complete || s.Steps == 0 || s.Steps > 128 {
		t.Errorf("32 × 5 and 4 on 32 × 8: %+v", s)
	}
	s = Search(many[:32], both, 10)
	if s.Found || s.Complete || s.Steps != 10 {
		t.Errorf("budget 10: %+v", s)
	}
	// 64 pods of mixed sizes on 500 nodes of four kinds (partly used): found within the budget.
	for i := range many {
		many[i].Free[gpu] = []int64{8, 6, 3, 1}[i%4]
	}
	mixed := []Demand{{Service: "big", Replicas: 16, Requests: map[string]int64{gpu: 8}},
		{Service: "group", Replicas: 8, GroupSize: 2, Requests: map[string]int64{gpu: 6}},
		{Service: "mid", Replicas: 16, Requests: map[string]int64{gpu: 3}},
		{Service: "small", Replicas: 16, Requests: map[string]int64{gpu: 1}}}
	s = Search(many, mixed, DefaultSearchBudget)
	if !s.Found {
		t.Fatalf("mixed: %+v", s)
	}
	assertValid(t, many, mixed, s)
}

// On small random clusters and graphs, the search finds a placement exactly when one exists
// (checked by trying every assignment), and every placement it gives is valid.
func TestSearchAgainstBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	onlyA := &corev1.PodSpec{NodeSelector: map[string]string{"pool": "a"}}
	for trial := range 400 {
		var nodes []Node
		for i := range 2 + rng.IntN(3) {
			labels := map[string]string{"pool": []string{"a", "b"}[rng.IntN(2)]}
			n := node(fmt.Sprintf("n%d", i), int64(rng.IntN(9)), labels)
			// CPU in half the trials: the search's likeness of nodes counts CPU only up to what
			// the demands could take, and must stay exact.
			if trial%2 == 1 {
				n.Free[gpu] = []int64{4, 8}[rng.IntN(2)] // GPU-alike nodes: the CPU decides
				n.Free[cpu] = int64(rng.IntN(17))
			}
			nodes = append(nodes, n)
		}
		var demands []Demand
		pods := 0
		for d := range 1 + rng.IntN(3) {
			dm := Demand{Service: fmt.Sprintf("s%d", d), Replicas: int64(1 + rng.IntN(2)), GroupSize: int64(1 + rng.IntN(2)),
				Requests: map[string]int64{gpu: int64(1 + rng.IntN(8))}}
			if trial%2 == 1 {
				dm.Requests[cpu] = int64(rng.IntN(9))
				if rng.IntN(4) == 0 {
					delete(dm.Requests, gpu) // a CPU-only service
				}
			}
			if rng.IntN(3) == 0 {
				dm.Pod = onlyA
			}
			pods += int(dm.Replicas * dm.GroupSize)
			demands = append(demands, dm)
		}
		if pods > 6 {
			continue
		}
		want := bruteForce(nodes, demands)
		s := Search(nodes, demands, DefaultSearchBudget)
		if s.Found != want || !s.Complete {
			t.Fatalf("trial %d: search found=%v complete=%v, a placement exists: %v\nnodes %v\ndemands %+v", trial, s.Found, s.Complete, want, nodes, demands)
		}
		if s.Found {
			assertValid(t, nodes, demands, s)
		}
	}
}

// bruteForce says whether any assignment of every pod to a node fits: capacity, selectors,
// a group's pods on distinct nodes.
func bruteForce(nodes []Node, demands []Demand) bool {
	type pod struct{ d, group int }
	var pods []pod
	g := 0
	for d, dm := range demands {
		for range dm.Replicas {
			for range groupSize(dm) {
				pods = append(pods, pod{d, g})
			}
			g++
		}
	}
	at := make([]int, len(pods))
	var try func(k int) bool
	try = func(k int) bool {
		if k == len(pods) {
			used := make([]map[string]int64, len(nodes))
			for p, i := range at {
				if used[i] == nil {
					used[i] = map[string]int64{}
				}
				for r, q := range demands[pods[p].d].Requests {
					used[i][r] += q
				}
			}
			for i := range nodes {
				for r, q := range used[i] {
					if q > nodes[i].Free[r] {
						return false
					}
				}
			}
			return true
		}
		for i := range nodes {
			if !Allowed(demands[pods[k].d].Pod, nodes[i].Node) {
				continue
			}
			clash := false
			for p := range k {
				clash = clash || (pods[p].group == pods[k].group && at[p] == i)
			}
			if clash {
				continue
			}
			at[k] = i
			if try(k + 1) {
				return true
			}
		}
		return false
	}
	return try(0)
}

// assertValid checks a found placement against the nodes: every service whole, on nodes it
// may use, no node over its free amount.
func assertValid(t *testing.T, nodes []Node, demands []Demand, s SearchResult) {
	t.Helper()
	s2 := newSearch(nodes, demands, DefaultSearchBudget, DefaultWork)
	if !s2.place(0) {
		t.Fatal("replaying the search found nothing")
	}
	used := map[int]map[string]int64{}
	for u, d := range s2.units {
		dm := demands[d]
		if int64(len(s2.at[u])) != groupSize(dm) {
			t.Errorf("%s: a replica of %d pods, want %d", dm.Service, len(s2.at[u]), groupSize(dm))
		}
		seen := map[int]bool{}
		for _, i := range s2.at[u] {
			if seen[i] {
				t.Errorf("%s: two pods of a group on %s", dm.Service, nodes[i].Node.Name)
			}
			seen[i] = true
			if !Allowed(dm.Pod, nodes[i].Node) {
				t.Errorf("%s on %s, which it may not use", dm.Service, nodes[i].Node.Name)
			}
			if used[i] == nil {
				used[i] = map[string]int64{}
			}
			for r, q := range dm.Requests {
				used[i][r] += q
			}
		}
	}
	for i, u := range used {
		for r, q := range u {
			if q > nodes[i].Free[r] {
				t.Errorf("%s: %d %s placed on %d free", nodes[i].Node.Name, q, r, nodes[i].Free[r])
			}
		}
	}
	for _, sr := range s.Result.Services {
		if !sr.Fits() {
			t.Errorf("%s not placed whole: %+v", sr.Service, sr)
		}
	}
}

// 64 pods of four sizes on 500 partly used nodes of four kinds, where first-fit's order
// leaves pods over: what a search costs when preflight -f needs one.
func BenchmarkSearch(b *testing.B) {
	var nodes []Node
	for i := range 500 {
		nodes = append(nodes, node(fmt.Sprintf("n%03d", i), []int64{8, 6, 3, 1}[i%4], nil))
	}
	demands := []Demand{{Service: "big", Replicas: 16, Requests: map[string]int64{gpu: 8}},
		{Service: "group", Replicas: 8, GroupSize: 2, Requests: map[string]int64{gpu: 6}},
		{Service: "mid", Replicas: 16, Requests: map[string]int64{gpu: 3}},
		{Service: "small", Replicas: 16, Requests: map[string]int64{gpu: 1}}}
	for b.Loop() {
		if s := Search(nodes, demands, DefaultSearchBudget); !s.Found {
			b.Fatal("not found")
		}
	}
}

// A group packed by domain (GroupKey): its pods all in one rack. Rack a has one node with room,
// rack b two: first fit and the search both put the 2-node group in b, and with no rack of two
// nodes with room neither places it — nor on nodes without the label.
func TestGroupPackedByDomain(t *testing.T) {
	const rack = "example.com/rack"
	nodes := []Node{
		node("a-0", 8, map[string]string{rack: "a"}), node("a-1", 0, map[string]string{rack: "a"}),
		node("b-0", 8, map[string]string{rack: "b"}), node("b-1", 8, map[string]string{rack: "b"}),
		node("x-0", 8, nil),
	}
	d := []Demand{{Service: "decode", Replicas: 1, GroupSize: 2, Requests: map[string]int64{gpu: 8}, GroupKey: rack}}
	if r := Place(nodes, d).Services[0]; !r.Fits() || !slices.Equal(r.Nodes, []string{"b-0", "b-1"}) {
		t.Errorf("first fit: %+v", r)
	}
	s := Search(nodes, d, DefaultSearchBudget)
	if !s.Found || !slices.Equal(s.Result.Services[0].Nodes, []string{"b-0", "b-1"}) {
		t.Errorf("search: %+v", s)
	}
	nodes[3].Free[gpu] = 4 // b has one node with room left
	if r := Place(nodes, d).Services[0]; r.Fits() {
		t.Errorf("first fit placed a split group: %+v", r)
	}
	if s := Search(nodes, d, DefaultSearchBudget); s.Found || !s.Complete {
		t.Errorf("search: found %v complete %v, want a proof that none fits", s.Found, s.Complete)
	}
	d[0].GroupKey = "" // unpacked: a-0 and b-0 (or x-0) do
	if s := Search(nodes, d, DefaultSearchBudget); !s.Found {
		t.Error("an unpacked group found no place")
	}
}
