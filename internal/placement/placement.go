// Package placement answers "does this graph fit on what is free now": every pod over the free
// resources (NVIDIA ones, CPU, memory, storage, pod slots) of the nodes its node selector,
// affinity and tolerations allow, under its required pod affinity, anti-affinity and topology
// spread when the caller asks (InterPod) — by first-fit decreasing (Place) or an exact best-fit
// search (Search). It is pure — callers bring nodes, free amounts, the pods on the nodes and
// pod templates — so `dynamoctl preflight`, `dynamoctl plan` and the operator share it.
package placement

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"

	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
)

// Node is a schedulable node and its free NVIDIA resources.
type Node struct {
	// Node carries the labels and taints the constraints are matched against.
	Node *corev1.Node
	// Free is allocatable minus requested, per resource.
	Free map[string]int64
	// Pods are the pods on the node that inter-pod constraints may count (InterPodAll): those an
	// affinity term or spread constraint of a demand selects and those with required
	// anti-affinity.
	Pods []Pod
	// Shared are the resources whose units are shares of a GPU (time-slicing or MPS replicas
	// advertised as nvidia.com/gpu): a demand for whole GPUs is not placed on them unless it
	// asks for shared GPUs (Demand.Shared).
	Shared []string
}

// Demand is one service of a graph: Replicas pods, each needing Requests of NVIDIA resources,
// allowed on the nodes its pod spec's node selector, required node affinity and tolerations
// accept. A multi-node service's replica is a group of GroupSize such pods, each on a node of
// its own, placed whole or not at all.
type Demand struct {
	Service  string
	Replicas int64
	// GroupSize is the number of pods per replica (0 or 1: one).
	GroupSize int64
	Requests  map[string]int64
	Pod       *corev1.PodSpec
	// Shared: the pods ask for shares of GPUs (their node selector or affinity names the sharing
	// labels), so shared replicas count for them.
	Shared bool
	// GroupKey, for a multi-node service packed per group, is a node label: a replica's pods
	// all go to nodes with one value of it (one rack, one NVLink domain).
	GroupKey string
	// Namespace and Labels are the pods' (what other pods' affinity terms and spread
	// constraints select).
	Namespace string
	Labels    map[string]string
	// InterPod says whether and against what the pods' required pod affinity, anti-affinity and
	// topology spread are checked.
	InterPod InterPod
}

// ServiceResult is where one service's pods went.
type ServiceResult struct {
	Service  string `json:"service"`
	Replicas int64  `json:"replicas"`
	// GroupSize is the pods per replica of a multi-node service, each on its own node (1 otherwise).
	GroupSize int64            `json:"groupSize"`
	PerPod    map[string]int64 `json:"perPod"`
	// Placed counts replicas (whole groups) placed.
	Placed int64    `json:"placed"`
	Nodes  []string `json:"nodes,omitempty"`
	// PodsPerNode is how many of its pods each node in Nodes takes.
	PodsPerNode map[string]int64 `json:"podsPerNode,omitempty"`
	Candidates  int              `json:"candidateNodes"`
	// Shortfall is what the unplaced pods need, per resource.
	Shortfall map[string]int64 `json:"shortfall,omitempty"`
	// LargestFree is the most of the service's first resource free on one candidate node
	// after placement: why a pod did not fit.
	LargestFree int64 `json:"largestFree"`
	// LargestFreeNode is the candidate node with LargestFree (the first by name on a tie).
	LargestFreeNode string `json:"largestFreeNode,omitempty"`
	// NodesWithRoom is how many candidate nodes could still take one of its pods after
	// placement: for a group, fewer than GroupSize is why it did not fit.
	NodesWithRoom int `json:"nodesWithRoom"`
	// Refused counts the candidate nodes with room that its required pod affinity,
	// anti-affinity or topology spread refuse after placement, by constraint (RefusedAffinity…).
	Refused map[string]int `json:"refused,omitempty"`
}

// Fits reports whether every pod of the service was placed.
func (s ServiceResult) Fits() bool { return s.Placed == s.Replicas }

// Result is the outcome for a whole graph, services in the order they were placed.
type Result struct {
	Services []ServiceResult `json:"services"`
	// Stopped: placement ran out of its work budget (PlaceWithin); pods it had not placed by
	// then are unplaced whether or not they would fit.
	Stopped bool `json:"stopped,omitempty"`
	// Work is the node visits it took.
	Work int64 `json:"-"`
}

// FirstUnplaced is the first service (in placement order) with pods left over.
func (r Result) FirstUnplaced() (ServiceResult, bool) {
	for _, s := range r.Services {
		if !s.Fits() {
			return s, true
		}
	}
	return ServiceResult{}, false
}

// Place assigns pods first-fit decreasing: services ordered by GPUs per replica (largest first,
// then by name), each pod to the first allowed node, in node-name order, with enough of every
// resource it asks for; a group's pods each to a different node, the group whole or not at all.
// It does not change nodes. It does at most DefaultWork node visits (PlaceWithin).
func Place(nodes []Node, demands []Demand) Result { return PlaceWithin(nodes, demands, DefaultWork) }

// PlaceWithin is Place doing at most work node visits: when they run out, the pods not placed
// yet stay unplaced and Result.Stopped says so. Its work grows with the pods placed, never with
// the pods asked for: a replica that finds no room ends its service's placement.
func PlaceWithin(nodes []Node, demands []Demand, work int64) Result {
	free := make([]map[string]int64, len(nodes))
	order := make([]int, len(nodes))
	for i, n := range nodes {
		free[i] = maps.Clone(n.Free)
		if free[i] == nil {
			free[i] = map[string]int64{}
		}
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(nodes[a].Node.Name, nodes[b].Node.Name) })
	ds := firstFitOrder(demands)
	ip := newInterPod(nodes, ds)
	res := Result{Work: int64(len(nodes))}
	for _, di := range ip.order(indexes(len(ds))) {
		d := ds[di]
		size := groupSize(d)
		sr := ServiceResult{Service: d.Service, Replicas: d.Replicas, GroupSize: size, PerPod: d.Requests}
		var allowed []int
		for _, i := range order {
			if Allowed(d.Pod, nodes[i].Node) && (d.Shared || !sharesAny(nodes[i].Shared, d.Requests)) {
				allowed = append(allowed, i)
			}
		}
		res.Work += int64(len(nodes))
		sr.Candidates = len(allowed)
		ok := func(int) bool { return true }
		if ip != nil {
			// A group's pods are weighed against the pods placed before it, not against each
			// other: first fit is the heuristic; Search places them one by one.
			ok = func(i int) bool { return ip.refuses(i, di) == "" }
		}
		// Without inter-pod constraints a node with no room for the service's pod has none
		// later either (free amounts only shrink): the next replica looks from the first node
		// that had room for the last one, so a service costs its candidates plus its pods, not
		// their product.
		from := 0
		for p := int64(0); p < d.Replicas && !res.Stopped; p++ {
			if ip != nil {
				ip.prepare(di)
				from = 0
			}
			group, first, visits := firstGroup(nodes, allowed[from:], free, d, size, ok, work-res.Work)
			res.Work += visits
			if res.Work >= work {
				res.Stopped = true
			}
			if group == nil {
				break // the same group will not fit on a later try either
			}
			from += first
			for _, i := range group {
				for r, q := range d.Requests {
					free[i][r] -= q
				}
				if ip != nil {
					ip.place(i, di, 1)
				}
				sr.addPod(nodes[i].Node.Name)
			}
			sr.Placed++
		}
		if missing := d.Replicas - sr.Placed; missing > 0 {
			sr.Shortfall = map[string]int64{}
			for r, q := range d.Requests {
				sr.Shortfall[r] = MulSat(q, MulSat(missing, size))
			}
		}
		sr.setRoom(nodes, allowed, free, d.Requests)
		sr.Refused = ip.refusedCounts(di, allowed, free, d.Requests)
		res.Services = append(res.Services, sr)
	}
	return res
}

// firstFitOrder is the order first fit places services in: most GPUs per replica first, then
// by name (a copy; demands is not changed).
func firstFitOrder(demands []Demand) []Demand {
	ds := slices.Clone(demands)
	slices.SortStableFunc(ds, func(a, b Demand) int {
		if c := cmp.Compare(gpus(b.Requests)*groupSize(b), gpus(a.Requests)*groupSize(a)); c != 0 {
			return c
		}
		return strings.Compare(a.Service, b.Service)
	})
	return ds
}

// setRoom records, after placement, the most of the service's first resource free on one of
// its candidate nodes (and where) and how many could still take one of its pods.
func (s *ServiceResult) setRoom(nodes []Node, allowed []int, free []map[string]int64, req map[string]int64) {
	first := firstResource(req)
	for _, i := range allowed {
		if first != "" && (s.LargestFreeNode == "" || free[i][first] > s.LargestFree) {
			s.LargestFree, s.LargestFreeNode = free[i][first], nodes[i].Node.Name
		}
		if covers(free[i], req) {
			s.NodesWithRoom++
		}
	}
}

func indexes(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// Allowed reports whether a pod with this spec may run on node: node selector and required
// node affinity match, and every NoSchedule/NoExecute taint is tolerated. Unschedulable nodes
// are the caller's to leave out.
func Allowed(spec *corev1.PodSpec, node *corev1.Node) bool {
	return Selected(spec, node) && len(Untolerated(spec, node)) == 0
}

// Selected reports whether the pod's node selector and required node affinity match node.
func Selected(spec *corev1.PodSpec, node *corev1.Node) bool {
	if spec == nil {
		spec = &corev1.PodSpec{} // no constraints
	}
	ok, _ := nodeaffinity.GetRequiredNodeAffinity(&corev1.Pod{Spec: *spec}).Match(node)
	return ok
}

// Untolerated are node's NoSchedule/NoExecute taints the pod does not tolerate.
func Untolerated(spec *corev1.PodSpec, node *corev1.Node) []corev1.Taint {
	var tolerations []corev1.Toleration
	if spec != nil {
		tolerations = spec.Tolerations
	}
	var out []corev1.Taint
	for i := range node.Spec.Taints {
		t := node.Spec.Taints[i]
		if t.Effect != corev1.TaintEffectNoSchedule && t.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		// Gt/Lt tolerations compared as the 1.36 scheduler compares them.
		if _, untolerated := corev1helpers.FindMatchingUntoleratedTaint(klog.Background(), []corev1.Taint{t}, tolerations, nil, true); untolerated {
			out = append(out, t)
		}
	}
	return out
}

// Describe says in one line what a service needs, e.g. "2 pods × 4 nvidia.com/gpu", or for a
// multi-node service "1 replica(s) × 2 nodes × 8 nvidia.com/gpu".
func (s ServiceResult) Describe() string {
	if s.GroupSize > 1 {
		return fmt.Sprintf("%d replica(s) × %d nodes × %s", s.Replicas, s.GroupSize, FormatResources(s.PerPod))
	}
	return fmt.Sprintf("%d pod(s) × %s", s.Replicas, FormatResources(s.PerPod))
}

func groupSize(d Demand) int64 { return max(d.GroupSize, 1) }

// firstGroup is where first-fit puts one replica: its pods on the first nodes with room, one
// each — with a GroupKey, the first domain (in node order) with room for all of them. Nil when
// none has, or when it has visited work nodes. It also returns the position in allowed of the
// first node with room (nodes before it have none), and how many nodes it visited.
func firstGroup(nodes []Node, allowed []int, free []map[string]int64, d Demand, size int64, ok func(int) bool, work int64) ([]int, int, int64) {
	groups := map[string][]int{}
	roomFrom := -1
	var visits int64
	for k, i := range allowed {
		if visits >= work {
			return nil, 0, visits
		}
		visits++
		if !covers(free[i], d.Requests) || !ok(i) {
			continue
		}
		v := ""
		if d.GroupKey != "" {
			if v = nodes[i].Node.Labels[d.GroupKey]; v == "" {
				continue // a node outside every domain cannot hold a packed group
			}
		}
		if roomFrom < 0 {
			roomFrom = k
		}
		groups[v] = append(groups[v], i)
		if int64(len(groups[v])) == size {
			return groups[v], roomFrom, visits
		}
	}
	return nil, 0, visits
}

// addPod records one of the service's pods on node.
func (s *ServiceResult) addPod(node string) {
	if s.PodsPerNode == nil {
		s.PodsPerNode = map[string]int64{}
	}
	if s.PodsPerNode[node] == 0 {
		s.Nodes = append(s.Nodes, node)
	}
	s.PodsPerNode[node]++
}

// sharesAny: the demand asks for a resource the node only has as shares of GPUs.
func sharesAny(shared []string, req map[string]int64) bool {
	for _, r := range shared {
		if req[r] > 0 {
			return true
		}
	}
	return false
}

// FormatResources writes a resource map as "8 nvidia.com/gpu + 1 nvidia.com/mig-1g.10gb".
func FormatResources(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", m[k], k)
	}
	return strings.Join(parts, " + ")
}

func covers(free, want map[string]int64) bool {
	for r, q := range want {
		if free[r] < q {
			return false
		}
	}
	return true
}

// gpus sums a demand's NVIDIA resources: the order of placement (largest first). CPU, memory
// and pod slots, in their own units, only constrain.
func gpus(m map[string]int64) int64 {
	var t int64
	for r, q := range m {
		if nvidia.IsResource(r) {
			t += q
		}
	}
	return t
}

// firstResource is the resource a demand's figures (the most free left, best fit) are about:
// its first NVIDIA resource by name, or for a pod with none its first resource.
func firstResource(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if nvidia.IsResource(a) != nvidia.IsResource(b) {
			if nvidia.IsResource(a) {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	if len(keys) == 0 {
		return ""
	}
	return keys[0]
}
