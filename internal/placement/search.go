package placement

import (
	"cmp"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
)

// DefaultSearchBudget bounds Search: nodes tried, in all. Graphs of up to 64 pods on up to 500
// candidate nodes finish well inside it when nodes come in few kinds (see TestSearch*).
const DefaultSearchBudget = 200_000

// SearchResult is what Search found.
type SearchResult struct {
	// Found: Result places every pod of every demand.
	Found  bool
	Result Result
	// Complete: the search tried every distinct placement, so when nothing was found no
	// placement exists. False when it stopped at its budget.
	Complete bool
	// Steps counts the nodes tried.
	Steps int
	// Work counts the node visits (nodes weighed, tried or not).
	Work int64
}

// Search looks for a placement of every pod where first-fit may miss one: replicas one at a
// time (most GPUs per replica first, then fewest candidate nodes), each pod on a candidate node
// with room — a group's pods on distinct nodes — trying the nodes that would have the least
// left first (best fit: whole nodes stay free), and going back to an earlier choice when a
// replica finds no room. Of nodes alike — the same free amounts and the same demands allowed —
// only one is tried, so a cluster of many identical nodes costs what a few kinds cost. It
// stops after budget nodes tried or DefaultWork node visits (Complete false: the caller keeps
// first-fit's answer). A demand with more pods than its candidate nodes could ever hold
// (capacityOn) ends it at once, complete: no placement exists, and no state is built for pods
// that could never be placed.
func Search(nodes []Node, demands []Demand, budget int) SearchResult {
	return SearchWithin(nodes, demands, budget, DefaultWork)
}

// SearchWithin is Search doing at most work node visits.
func SearchWithin(nodes []Node, demands []Demand, budget int, work int64) SearchResult {
	s := newSearch(nodes, demands, budget, work)
	if s.impossible {
		return SearchResult{Complete: true, Work: s.work}
	}
	if s.stopped {
		return SearchResult{Work: s.work}
	}
	found := s.place(0)
	out := SearchResult{Found: found, Complete: found || !s.stopped, Steps: s.steps, Work: s.work}
	if found {
		out.Result = s.result()
	}
	return out
}

type search struct {
	nodes   []Node
	demands []Demand
	budget  int
	steps   int
	stopped bool
	// work counts node visits, maxWork bounds them.
	work, maxWork int64
	// impossible: some demand has more pods than its candidate nodes could hold.
	impossible bool
	free       []map[string]int64
	// allowed[d] are the nodes demand d may use; class[i] says which demands may use node i.
	allowed [][]int
	class   []string
	// units are the replicas to place, in order: demand index per unit.
	units []int
	// resources are every resource any demand asks for (the free amounts compared).
	resources []string
	// groupKeys are the demands' GroupKeys (nodes alike share their values).
	groupKeys []string
	// gpu[i]: node i has some NVIDIA resource.
	gpu []bool
	// at[u] are the nodes of unit u's pods, once placed.
	at [][]int
	// ip tracks the demands' inter-pod constraints (nil: none).
	ip *interPod
	// keys caches key(i) while node i's free amounts stay (without inter-pod constraints a
	// node's likeness depends on its own state only): a step changes one node, and a step's
	// candidates would otherwise rebuild every node's key.
	keys []string
}

func newSearch(nodes []Node, demands []Demand, budget int, work int64) *search {
	s := &search{nodes: nodes, demands: demands, budget: budget, free: make([]map[string]int64, len(nodes)),
		allowed: make([][]int, len(demands)), class: make([]string, len(nodes)), maxWork: work}
	seen := map[string]bool{}
	s.gpu = make([]bool, len(nodes))
	for i, n := range nodes {
		s.gpu[i] = hasGPUs(n)
		s.free[i] = maps.Clone(n.Free)
		if s.free[i] == nil {
			s.free[i] = map[string]int64{}
		}
	}
	classes := make([][]byte, len(nodes))
	for d, dm := range demands {
		for r := range dm.Requests {
			if !seen[r] {
				seen[r] = true
				s.resources = append(s.resources, r)
			}
		}
		for i, n := range nodes {
			ok := Allowed(dm.Pod, n.Node) && (dm.Shared || !sharesAny(n.Shared, dm.Requests))
			if ok {
				s.allowed[d] = append(s.allowed[d], i)
			}
			classes[i] = append(classes[i], map[bool]byte{true: '1', false: '0'}[ok])
		}
		s.work += int64(len(nodes))
		if dm.GroupKey != "" && !slices.Contains(s.groupKeys, dm.GroupKey) {
			s.groupKeys = append(s.groupKeys, dm.GroupKey)
		}
	}
	// The pods to place: none when some demand can never be placed whole, and none when there
	// are more than the work could place (each takes a visit at least) — the units are the
	// search's only state that grows with the replicas.
	var total int64
	for d, dm := range demands {
		if pods(dm) > capacityOn(s.allowed[d], s.free, dm) {
			s.impossible = true
			return s
		}
		total = AddSat(total, max(dm.Replicas, 0))
	}
	if AddSat(s.work, total) > s.maxWork {
		s.stopped = true
		return s
	}
	for d, dm := range demands {
		for range dm.Replicas {
			s.units = append(s.units, d)
		}
	}
	slices.Sort(s.resources)
	for i := range nodes {
		s.class[i] = string(classes[i])
	}
	slices.SortStableFunc(s.units, func(a, b int) int {
		da, db := demands[a], demands[b]
		if c := cmp.Compare(gpus(db.Requests)*groupSize(db), gpus(da.Requests)*groupSize(da)); c != 0 {
			return c
		}
		if c := cmp.Compare(len(s.allowed[a]), len(s.allowed[b])); c != 0 {
			return c
		}
		return strings.Compare(da.Service, db.Service)
	})
	// A demand whose pod affinity selects another's pods goes after it.
	if s.ip = newInterPod(nodes, demands); s.ip != nil {
		var ds []int
		for _, d := range s.units {
			if !slices.Contains(ds, d) {
				ds = append(ds, d)
			}
		}
		units := s.units[:0:0]
		for _, d := range s.ip.order(ds) {
			for range demands[d].Replicas {
				units = append(units, d)
			}
		}
		s.units = units
	}
	s.at = make([][]int, len(s.units))
	return s
}

// place places units u and after; false when they cannot all be placed (or the budget ran out).
func (s *search) place(u int) bool {
	if u == len(s.units) {
		return true
	}
	d := s.demands[s.units[u]]
	return s.group(u, d, nil)
}

// group places the pods of unit u one by one (chosen so far), then the units after it.
func (s *search) group(u int, d Demand, chosen []int) bool {
	if int64(len(chosen)) == groupSize(d) {
		s.at[u] = slices.Clone(chosen)
		return s.place(u + 1)
	}
	for _, i := range s.candidates(s.units[u], d, chosen) {
		if s.steps >= s.budget || s.work >= s.maxWork {
			s.stopped = true
			return false
		}
		s.steps++
		s.take(i, s.units[u], 1)
		if s.group(u, d, append(chosen, i)) {
			return true
		}
		s.take(i, s.units[u], -1)
		if s.stopped {
			return false
		}
	}
	return false
}

// take places (delta 1) or takes back (-1) a pod of demand d on node i.
func (s *search) take(i, d int, delta int64) {
	for r, q := range s.demands[d].Requests {
		s.free[i][r] -= delta * q
	}
	if s.keys != nil {
		s.keys[i] = ""
	}
	if s.ip != nil {
		s.ip.place(i, d, int(delta))
	}
}

// candidates are the nodes a pod of demand d may go to next, one of each kind of node, least
// left after it first. A group's pods take nodes in the order of their index, so a group is
// tried as a set, not in every order.
func (s *search) candidates(dIdx int, d Demand, chosen []int) []int {
	last := -1
	if len(chosen) > 0 {
		last = chosen[len(chosen)-1]
	}
	first := firstResource(d.Requests)
	seen := map[string]bool{}
	var out []int
	domain := ""
	if d.GroupKey != "" && len(chosen) > 0 {
		domain = s.nodes[chosen[0]].Node.Labels[d.GroupKey]
	}
	if s.ip != nil {
		s.ip.prepare(dIdx)
	}
	s.work += int64(len(s.allowed[dIdx]))
	for _, i := range s.allowed[dIdx] {
		if i <= last || !covers(s.free[i], d.Requests) || s.ip != nil && s.ip.refuses(i, dIdx) != "" {
			continue
		}
		if d.GroupKey != "" {
			// A packed group: every pod in the first pod's domain; no domain, no group.
			if v := s.nodes[i].Node.Labels[d.GroupKey]; v == "" || domain != "" && v != domain {
				continue
			}
		}
		key := s.key(i)
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, i)
	}
	noGPU := gpus(d.Requests) == 0
	slices.SortStableFunc(out, func(a, b int) int {
		// A pod without GPUs goes to a node without them first: on a GPU node it takes CPU,
		// memory or a pod slot a GPU pod may need.
		if ga, gb := s.gpu[a], s.gpu[b]; noGPU && ga != gb {
			if gb {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(s.free[a][first], s.free[b][first]); c != 0 {
			return c
		}
		return strings.Compare(s.nodes[a].Node.Name, s.nodes[b].Node.Name)
	})
	return out
}

// key says which nodes are alike: the same demands allowed and the same free amounts. A free
// amount of CPU, memory, storage or pod slots counts only up to what the demands could ever
// take from the node (each demand's pods that fit by its GPUs there, all of them for a demand
// without GPUs): nodes with more than that are alike whatever the excess — so partly used CPU
// nodes do not each become a kind of their own, and the search stays exact.
func (s *search) key(i int) string {
	if s.ip == nil {
		if s.keys == nil {
			s.keys = make([]string, len(s.nodes))
		}
		if s.keys[i] == "" {
			s.keys[i] = s.buildKey(i)
		}
		return s.keys[i]
	}
	return s.buildKey(i)
}

func (s *search) buildKey(i int) string {
	var b strings.Builder
	b.WriteString(s.class[i])
	// Whether it has GPUs orders the nodes a pod without GPUs tries (candidates).
	if s.gpu[i] {
		b.WriteByte('g')
	} else {
		b.WriteByte('c')
	}
	// Nodes of different domains are not alike for a group packed by domain.
	for _, k := range s.groupKeys {
		b.WriteByte('|')
		b.WriteString(s.nodes[i].Node.Labels[k])
	}
	for _, r := range s.resources {
		b.WriteByte('|')
		free := s.free[i][r]
		if !nvidia.IsResource(r) {
			free = min(free, s.most(i, r))
		}
		b.WriteString(strconv.FormatInt(free, 10))
	}
	if s.ip != nil {
		s.ip.key(i, &b)
	}
	return b.String()
}

// most is an upper bound of how much of resource r the demands could still take from node i.
func (s *search) most(i int, r string) int64 {
	var sum int64
	for d, dm := range s.demands {
		q := dm.Requests[r]
		if q == 0 || s.class[i][d] != '1' {
			continue
		}
		pods := dm.Replicas // a group puts at most one pod of each replica on a node
		for g, need := range dm.Requests {
			if nvidia.IsResource(g) && need > 0 {
				pods = min(pods, s.free[i][g]/need)
			}
		}
		sum += max(pods, 0) * q
	}
	return sum
}

// result is the placement found, per demand in the order given, with the same figures Place
// gives (candidates, the most free left and where, nodes with room).
func (s *search) result() Result {
	var res Result
	for d, dm := range s.demands {
		sr := ServiceResult{Service: dm.Service, Replicas: dm.Replicas, GroupSize: groupSize(dm), PerPod: dm.Requests,
			Placed: dm.Replicas, Candidates: len(s.allowed[d])}
		for u, ud := range s.units {
			if ud != d {
				continue
			}
			for _, i := range s.at[u] {
				sr.addPod(s.nodes[i].Node.Name)
			}
		}
		slices.Sort(sr.Nodes)
		sr.setRoom(s.nodes, s.allowed[d], s.free, dm.Requests)
		sr.Refused = s.ip.refusedCounts(d, s.allowed[d], s.free, dm.Requests)
		res.Services = append(res.Services, sr)
	}
	return res
}

// hasGPUs: the node has some NVIDIA resource.
func hasGPUs(n Node) bool {
	for r := range n.Free {
		if nvidia.IsResource(r) {
			return true
		}
	}
	return false
}
