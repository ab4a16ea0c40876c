// Package plan answers `dynamoctl plan`: where every pod of a graph would go on the cluster as it
// is now — NVIDIA resources (whole GPUs, MIG profiles, shared replicas), CPU, memory, ephemeral
// storage and pod slots, node selectors, affinity and taints — what is left free per node and
// pool, how fragmented the GPUs are after it, whether each Deployment's rolling update has room
// for its surge pods, and for a service that does not fit, why. Build is pure: the caller reads
// the cluster (ListFromAPI) and renders the graph's demands (demand.Pods).
package plan

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/inventory"
	"github.com/dynamo-infra/dynamo-infra/internal/kubenode"
	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
	"github.com/dynamo-infra/dynamo-infra/internal/placement"
	"github.com/dynamo-infra/dynamo-infra/internal/topology"
)

// SchemaVersion names the JSON/YAML report's shape (docs/plan.md).
const SchemaVersion = "dynamo-infra.dev/plan/v1"

// The exact search's reach (issue 16): beyond it the plan is a heuristic and says so.
const (
	MaxExactPods  = 64
	MaxExactNodes = 500
)

// Modes of a plan.
const (
	// ModeNew plans a graph not on the cluster (a file): every active pod counts.
	ModeNew = "new"
	// ModeChange plans a deployed graph as it would be now: its own pods do not count against it.
	ModeChange = "change"
)

// Methods of a plan.
const (
	MethodExact     = "exact"
	MethodHeuristic = "heuristic"
)

// Report is a plan.
type Report struct {
	SchemaVersion string `json:"schemaVersion"`
	Graph         string `json:"graph"`
	Namespace     string `json:"namespace"`
	Mode          string `json:"mode"`
	// Fits: every pod of every service has a node.
	Fits bool `json:"fits"`
	// Method is exact (graphs up to MaxExactPods pods on up to MaxExactNodes candidate nodes:
	// "does not fit" means no placement exists) or heuristic (beyond: best fit, then first fit).
	Method string `json:"method"`
	// Proven: Fits is false and no placement exists: the search tried every distinct
	// placement, or some service has more pods than its candidate nodes could ever hold.
	Proven bool `json:"proven"`
	// Stopped: the plan ran out of its work budget (Options.Work) before every pod was
	// weighed; Fits is false and says nothing about whether the graph fits.
	Stopped  bool      `json:"stopped,omitempty"`
	Services []Service `json:"services"`
	// Nodes are the nodes the plan puts pods on, by name, with what is left on them.
	Nodes []NodeUse `json:"nodes"`
	// Pools are the usable GPU nodes by pool, free before and after the plan, in the pool's unit.
	Pools         []Pool        `json:"pools"`
	Fragmentation Fragmentation `json:"fragmentation"`
	Rollouts      []Rollout     `json:"rollouts,omitempty"`
	// Topology is the domain the plan packs each single-domain scope in (graph or service);
	// a per-group scope packs each group in a domain of its own (see the nodes).
	Topology []TopologyChoice `json:"topology,omitempty"`
	Cluster  Cluster          `json:"cluster"`
	Notes    []string         `json:"notes,omitempty"`
}

// Service is one service's verdict.
type Service struct {
	Name     string `json:"name"`
	Replicas int64  `json:"replicas"`
	// GroupSize is the pods (nodes) per replica of a multi-node service.
	GroupSize int64 `json:"groupSize"`
	// PerPod is what each pod asks for, in Kubernetes quantities.
	PerPod         map[string]string `json:"perPod"`
	CandidateNodes int               `json:"candidateNodes"`
	// Placed counts replicas (whole groups) with nodes.
	Placed    int64      `json:"placed"`
	Fits      bool       `json:"fits"`
	Placement []NodePods `json:"placement,omitempty"`
	// Reason says why it does not fit.
	Reason string `json:"reason,omitempty"`
	// Short is, when it does not fit and some node may take its pods, the resource fewest of
	// its candidate nodes have enough of, after the graph's other pods took their share.
	Short *Shortage `json:"short,omitempty"`
	// RefusedBy counts, when it does not fit, the candidate nodes with room for a pod that its
	// required pod affinity, pod anti-affinity, another pod's anti-affinity or topology spread
	// refuse, by constraint.
	RefusedBy map[string]int `json:"refusedBy,omitempty"`
}

// Describe is what the service asks for: "2 pod(s) × 4 nvidia.com/gpu + 1 cpu", or "1 replica(s)
// × 2 nodes × 8 nvidia.com/gpu" — the per-pod resources keep selects (nil: every one but the pod
// slot), NVIDIA ones first, as the plan wrote them.
func (s Service) Describe(keep func(resource string) bool) string {
	names := slices.Sorted(maps.Keys(s.PerPod))
	slices.SortStableFunc(names, func(a, b string) int {
		switch an, bn := nvidia.IsResource(a), nvidia.IsResource(b); {
		case an == bn:
			return 0
		case an:
			return -1
		}
		return 1
	})
	var per []string
	for _, r := range names {
		if r != string(corev1.ResourcePods) && (keep == nil || keep(r)) {
			per = append(per, s.PerPod[r]+" "+r)
		}
	}
	if s.GroupSize > 1 {
		return fmt.Sprintf("%d replica(s) × %d nodes × %s", s.Replicas, s.GroupSize, strings.Join(per, " + "))
	}
	return fmt.Sprintf("%d pod(s) × %s", s.Replicas, strings.Join(per, " + "))
}

// Shortage is the resource fewest of a service's candidate nodes still have enough of for one
// pod, in the resource's base unit (millicores, bytes, counts), and the most free on one.
type Shortage struct {
	Resource string `json:"resource"`
	PerPod   int64  `json:"perPod"`
	// NodesHaving are the candidate nodes that have the resource at all; NodesWithRoom those
	// with enough of it left for one pod.
	NodesHaving   int `json:"nodesHaving"`
	NodesWithRoom int `json:"nodesWithRoom"`
	// MostFree is the most left on one candidate node that has the resource at all, and
	// MostFreeNode that node ("": none has it).
	MostFree     int64  `json:"mostFree"`
	MostFreeNode string `json:"mostFreeNode,omitempty"`
}

// NodePods is how many of a service's pods a node takes.
type NodePods struct {
	Node string `json:"node"`
	Pods int64  `json:"pods"`
}

// NodeUse is a node the plan uses: its pods per service and what is left free after them.
type NodeUse struct {
	Name string           `json:"name"`
	Pool string           `json:"pool,omitempty"`
	Pods map[string]int64 `json:"pods"`
	// FreeAfter is what is left of every resource the graph asks for.
	FreeAfter map[string]string `json:"freeAfter"`
}

// Pool is the usable GPU nodes of one pool.
type Pool struct {
	Name       string `json:"name"`
	Unit       string `json:"unit"`
	Nodes      int    `json:"nodes"`
	FreeBefore int64  `json:"freeBefore"`
	FreeAfter  int64  `json:"freeAfter"`
}

// Fragmentation is how whole-GPU nodes are left after the plan: GPUs free on nodes that are
// partly used strand capacity a pod of a whole node's GPUs cannot use.
type Fragmentation struct {
	StrandedGPUs    int64 `json:"strandedGPUs"`
	PartlyUsedNodes int   `json:"partlyUsedNodes"`
	WholeFreeNodes  int   `json:"wholeFreeNodes"`
}

// Rollout says whether a Deployment's rolling update has room: while it runs, up to maxSurge
// new pods run beside the old ones; when they do not fit, only maxUnavailable old pods at a
// time make room, and at 0 the update stalls.
type Rollout struct {
	Service        string `json:"service"`
	Replicas       int64  `json:"replicas"`
	MaxSurge       int64  `json:"maxSurge"`
	MaxUnavailable int64  `json:"maxUnavailable"`
	SurgeFits      bool   `json:"surgeFits"`
	Stalls         bool   `json:"stalls"`
	Advice         string `json:"advice"`
}

// Cluster counts the nodes read and why some were left out.
type Cluster struct {
	Nodes         int `json:"nodes"`
	Usable        int `json:"usable"`
	NotReady      int `json:"notReady"`
	Unschedulable int `json:"unschedulable"`
	// Added are what-if nodes (--add-nodes), counted in Nodes.
	Added int `json:"added,omitempty"`
	// OwnPods are the graph's running pods not counted against it (ModeChange).
	OwnPods int `json:"ownPods,omitempty"`
}

// Options of Build.
type Options struct {
	Graph, Namespace string
	// Own, for a deployed graph, is "namespace/name": pods of that graph do not count.
	Own string
	// Added is how many of the input's nodes are what-if nodes (reported only).
	Added int
	// Budget bounds the exact search (placement.DefaultSearchBudget when 0).
	Budget int
	// Work bounds the whole plan, in node visits (placement.DefaultWork when 0): the plan's
	// time and memory grow with the cluster and the pods it can place, never with the pods a
	// graph asks for; past it the report says Stopped.
	Work int64
	// Surge are the rolling-update parameters per service with a Deployment (GPU services that
	// are not multi-node); nil: no rollout advice.
	Surge map[string]Surge
	// Scopes are the graph's topology constraints (render.Scopes).
	Scopes []topology.Scope
	// InterPod says what the pods' required pod affinity, anti-affinity and topology spread are
	// checked against: InterPodAll when the input holds the pods they could count (Input.Pods),
	// InterPodGraph when only the graph's own pods are known.
	InterPod placement.InterPod
}

// Surge is a Deployment's maxSurge and maxUnavailable, resolved against its replicas.
type Surge struct{ MaxSurge, MaxUnavailable int64 }

// Build plans demands on the input's nodes.
func Build(demands []placement.Demand, in Input, opts Options) Report {
	rep := Report{SchemaVersion: SchemaVersion, Graph: opts.Graph, Namespace: opts.Namespace, Mode: ModeNew}
	if opts.Own != "" {
		rep.Mode = ModeChange
	}
	nodes, facts, cl := usable(in, opts.Own)
	cl.Added = opts.Added
	rep.Cluster = cl
	demands = interPod(demands, opts)

	var pods int64
	candidates := 0
	allowed := make([]int, len(demands))
	for d, dm := range demands {
		pods = placement.AddSat(pods, placement.MulSat(max(dm.Replicas, 0), max(dm.GroupSize, 1)))
		for _, n := range nodes {
			if placement.Allowed(dm.Pod, n.Node) {
				allowed[d]++
			}
		}
		candidates = max(candidates, allowed[d])
	}
	budget := opts.Budget
	if budget == 0 {
		budget = placement.DefaultSearchBudget
	}
	work := opts.Work
	if work == 0 {
		work = placement.DefaultWork
	}
	exact := pods <= MaxExactPods && candidates <= MaxExactNodes
	base := packGroups(demands, opts.Scopes)
	choices := domainChoices(nodes, base, opts.Scopes)
	var res placement.Result
	var tried []string
	proven, found := true, false
	for i, c := range choices {
		ds := c.apply(base)
		a := attempt(nodes, ds, budget, work, exact, pods, candidates)
		budget = max(budget-a.steps, 1)
		work = max(work-a.work, 1)
		proven = proven && a.proven
		// The answer is the first choice that fits, else the one that places the most.
		if a.found || i == 0 || placed(a.res) > placed(res) {
			res, rep.Method, rep.Notes = a.res, a.method, a.notes
			demands, rep.Topology = ds, c.report(opts.Scopes)
		}
		if a.found {
			found = true
			break
		}
		if a.stopped {
			rep.Stopped = true
			break
		}
		tried = append(tried, c.String())
	}
	if opts.InterPod != placement.InterPodOff {
		rep.Notes = append(rep.Notes, unchecked(demands)...)
	}
	switch {
	case rep.Stopped:
		rep.Notes = append(rep.Notes, fmt.Sprintf("the plan stopped at its work budget (%d node visits): whether the graph fits is not known", opts.workOr()))
	case !found:
		rep.Proven = proven
		if len(choices[0].values) > 0 {
			rep.Notes = append(rep.Notes, fmt.Sprintf("packed by topology: no choice of domains has room for every pod (tried %d: %s)", len(tried), strings.Join(tried, "; ")))
		}
	}
	byName := map[string]placement.ServiceResult{}
	for _, sr := range res.Services {
		byName[sr.Service] = sr
	}
	after := freeAfter(nodes, demands, byName)
	rep.Fits = true
	for d, dm := range demands {
		sr := byName[dm.Service]
		svc := Service{Name: dm.Service, Replicas: dm.Replicas, GroupSize: max(dm.GroupSize, 1), PerPod: quantities(dm.Requests),
			CandidateNodes: allowed[d], Placed: sr.Placed, Fits: sr.Fits()}
		for _, n := range sr.Nodes {
			svc.Placement = append(svc.Placement, NodePods{Node: n, Pods: sr.PodsPerNode[n]})
		}
		if !svc.Fits {
			rep.Fits = false
			svc.RefusedBy = sr.Refused
			svc.Short = shortage(dm, nodes, after)
			svc.Reason = reason(dm, svc)
		}
		rep.Services = append(rep.Services, svc)
	}
	rep.Nodes = nodeUses(nodes, facts, demands, byName, after)
	rep.Pools, rep.Fragmentation = pools(nodes, facts, after)
	if rep.Fits {
		rep.Rollouts = rollouts(demands, nodes, byName, after, opts.Surge, work)
	}
	return rep
}

// Pods is how many pods the graph asks for (saturated at math.MaxInt64).
func (r Report) Pods() int64 {
	var n int64
	for _, s := range r.Services {
		n = placement.AddSat(n, placement.MulSat(max(s.Replicas, 0), max(s.GroupSize, 1)))
	}
	return n
}

// workOr is the plan's work budget.
func (o Options) workOr() int64 {
	if o.Work == 0 {
		return placement.DefaultWork
	}
	return o.Work
}

// usable turns the input into placement nodes: Ready and schedulable, each resource's
// allocatable less what the active pods on it request (never below zero), the graph's own pods
// left out; and their GPU facts, index for index.
func usable(in Input, own string) ([]placement.Node, []inventory.NodeGPU, Cluster) {
	cl := Cluster{Nodes: len(in.Nodes)}
	ownUse := in.Graphs[own]
	if own == "" {
		ownUse = nil
	}
	for _, m := range ownUse {
		cl.OwnPods += int(m[string(corev1.ResourcePods)])
	}
	var out []placement.Node
	var facts []inventory.NodeGPU
	for i := range in.Nodes {
		n := &in.Nodes[i]
		switch {
		case !kubenode.Ready(n):
			cl.NotReady++
			continue
		case n.Spec.Unschedulable:
			cl.Unschedulable++
			continue
		}
		free := map[string]int64{}
		for name, q := range n.Status.Allocatable {
			r := string(name)
			// Never below zero, nor above allocatable (own pods given back that the pod
			// sums did not count).
			alloc := amount(r, q)
			free[r] = min(max(alloc-in.Used[n.Name][r]+ownUse[n.Name][r], 0), alloc)
		}
		pn := placement.Node{Node: n, Free: free}
		for _, p := range in.Pods[n.Name] {
			if own == "" || p.Graph != own {
				pn.Pods = append(pn.Pods, p.Pod)
			}
		}
		f := inventory.NodeFacts(n)
		if f.SharesGPUs() {
			pn.Shared = []string{nvidia.ResourceGPU}
		}
		out = append(out, pn)
		facts = append(facts, f)
	}
	cl.Usable = len(out)
	return out, facts, cl
}

// amount is a quantity in the unit plans count: millicores for CPU, the base unit otherwise.
func amount(name string, q resource.Quantity) int64 {
	if name == string(corev1.ResourceCPU) {
		return q.MilliValue()
	}
	return q.Value()
}

// quantity writes an amount back as Kubernetes writes it ("500m", "16Gi", "8").
func quantity(name string, v int64) string {
	switch name {
	case string(corev1.ResourceCPU):
		return resource.NewMilliQuantity(v, resource.DecimalSI).String()
	case string(corev1.ResourceMemory), string(corev1.ResourceEphemeralStorage):
		return resource.NewQuantity(v, resource.BinarySI).String()
	}
	return resource.NewQuantity(v, resource.DecimalSI).String()
}

func quantities(m map[string]int64) map[string]string {
	out := make(map[string]string, len(m))
	for r, v := range m {
		out[r] = quantity(r, v)
	}
	return out
}

// freeAfter is every node's free amounts with the placed pods taken away.
func freeAfter(nodes []placement.Node, demands []placement.Demand, placed map[string]placement.ServiceResult) map[string]map[string]int64 {
	out := make(map[string]map[string]int64, len(nodes))
	for _, n := range nodes {
		out[n.Node.Name] = maps.Clone(n.Free)
	}
	for _, dm := range demands {
		for node, pods := range placed[dm.Service].PodsPerNode {
			for r, q := range dm.Requests {
				out[node][r] -= q * pods
			}
		}
	}
	return out
}

// shortage finds the resource fewest of a demand's candidate nodes have enough of for one pod
// (among equals an NVIDIA one), with the most free on one (nil: no candidate node).
func shortage(dm placement.Demand, nodes []placement.Node, after map[string]map[string]int64) *Shortage {
	var worst *Shortage
	candidates := false
	for _, r := range slices.Sorted(maps.Keys(dm.Requests)) {
		s := Shortage{Resource: r, PerPod: dm.Requests[r]}
		for _, n := range nodes {
			if !placement.Allowed(dm.Pod, n.Node) {
				continue
			}
			candidates = true
			f, has := after[n.Node.Name][r]
			if has {
				s.NodesHaving++
			}
			if f >= dm.Requests[r] {
				s.NodesWithRoom++
			}
			// The most free is said of nodes that have the resource at all.
			if has && (s.MostFreeNode == "" || f > s.MostFree) {
				s.MostFree, s.MostFreeNode = f, n.Node.Name
			}
		}
		if worst == nil || s.NodesWithRoom < worst.NodesWithRoom || s.NodesWithRoom == worst.NodesWithRoom && nvidia.IsResource(r) && !nvidia.IsResource(worst.Resource) {
			worst = &s
		}
	}
	if !candidates {
		return nil
	}
	return worst
}

// reason says why a service's pods do not all fit: no node it may use, or the resource fewest
// of its candidate nodes still have enough of, with the most free on one.
func reason(dm placement.Demand, svc Service) string {
	placed := fmt.Sprintf("%d of %d replica(s) placed", svc.Placed, svc.Replicas)
	worst := svc.Short
	if svc.CandidateNodes == 0 || worst == nil {
		return placed + "; no Ready, schedulable node matches its node selector and affinity and tolerates its taints"
	}
	need := fmt.Sprintf("each pod needs %s", describe(dm.Requests))
	if g := max(dm.GroupSize, 1); g > 1 {
		need = fmt.Sprintf("each replica needs %d nodes with %s each", g, describe(dm.Requests))
	}
	refused := ""
	if len(svc.RefusedBy) > 0 {
		refused = "; nodes with room refused: " + placement.FormatRefused(svc.RefusedBy)
	}
	if worst.MostFreeNode == "" {
		return fmt.Sprintf("%s; %s; none of its %d candidate node(s) has %s%s", placed, need, svc.CandidateNodes, worst.Resource, refused)
	}
	return fmt.Sprintf("%s; %s; %d of its %d candidate node(s) have %s %s left, the most is %s (%s)%s",
		placed, need, worst.NodesWithRoom, svc.CandidateNodes, quantity(worst.Resource, worst.PerPod), worst.Resource,
		quantity(worst.Resource, worst.MostFree), worst.MostFreeNode, refused)
}

// describe writes requests as "8 nvidia.com/gpu, 4 cpu, 16Gi memory, 1 pods", NVIDIA first.
func describe(m map[string]int64) string {
	keys := slices.Sorted(maps.Keys(m))
	slices.SortStableFunc(keys, func(a, b string) int {
		switch {
		case nvidia.IsResource(a) == nvidia.IsResource(b):
			return 0
		case nvidia.IsResource(a):
			return -1
		}
		return 1
	})
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		if k == string(corev1.ResourcePods) {
			continue // every pod takes one slot: saying so is noise
		}
		parts = append(parts, quantity(k, m[k])+" "+k)
	}
	return strings.Join(parts, ", ")
}

func nodeUses(nodes []placement.Node, facts []inventory.NodeGPU, demands []placement.Demand, placed map[string]placement.ServiceResult, after map[string]map[string]int64) []NodeUse {
	asked := map[string]bool{}
	for _, dm := range demands {
		for r := range dm.Requests {
			asked[r] = true
		}
	}
	byNode := map[string]*NodeUse{}
	for _, dm := range demands {
		for node, pods := range placed[dm.Service].PodsPerNode {
			u := byNode[node]
			if u == nil {
				u = &NodeUse{Name: node, Pods: map[string]int64{}, FreeAfter: map[string]string{}}
				byNode[node] = u
			}
			u.Pods[dm.Service] += pods
		}
	}
	var out []NodeUse
	for i, n := range nodes {
		u := byNode[n.Node.Name]
		if u == nil {
			continue
		}
		if facts[i].GPU {
			u.Pool = facts[i].PoolName()
		}
		for r := range asked {
			if _, ok := n.Free[r]; ok {
				u.FreeAfter[r] = quantity(r, after[n.Node.Name][r])
			}
		}
		out = append(out, *u)
	}
	slices.SortFunc(out, func(a, b NodeUse) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// pools sums the usable GPU nodes' primary resource per pool, before and after, and measures
// how the plan leaves whole-GPU nodes.
func pools(nodes []placement.Node, all []inventory.NodeGPU, after map[string]map[string]int64) ([]Pool, Fragmentation) {
	byName := map[string]*Pool{}
	var frag Fragmentation
	for i, n := range nodes {
		facts := &all[i]
		if !facts.GPU {
			continue
		}
		r := facts.PrimaryResource()
		name := facts.PoolName()
		p := byName[name]
		if p == nil {
			p = &Pool{Name: name, Unit: facts.Unit()}
			byName[name] = p
		}
		before, left := n.Free[r], after[n.Node.Name][r]
		p.Nodes++
		p.FreeBefore += before
		p.FreeAfter += left
		if facts.Unit() != inventory.UnitGPU {
			continue
		}
		alloc := amount(r, n.Node.Status.Allocatable[corev1.ResourceName(r)])
		switch {
		case left == alloc && alloc > 0:
			frag.WholeFreeNodes++
		case left > 0:
			frag.PartlyUsedNodes++
			frag.StrandedGPUs += left
		}
	}
	out := make([]Pool, 0, len(byName))
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		out = append(out, *byName[name])
	}
	return out, frag
}

// rollouts checks, for each GPU Deployment, whether its maxSurge new pods fit beside the
// planned ones.
func rollouts(demands []placement.Demand, nodes []placement.Node, placedBy map[string]placement.ServiceResult, after map[string]map[string]int64, surge map[string]Surge, work int64) []Rollout {
	// The planned pods are on the nodes now: surge pods meet them (one decode per node keeps a
	// surge pod off every node an old one runs on).
	planned := map[string][]placement.Pod{}
	for _, dm := range demands {
		for node, pods := range placedBy[dm.Service].PodsPerNode {
			for range pods {
				planned[node] = append(planned[node], dm.AsPod())
			}
		}
	}
	left := make([]placement.Node, len(nodes))
	for i, n := range nodes {
		left[i] = placement.Node{Node: n.Node, Free: after[n.Node.Name], Shared: n.Shared,
			Pods: append(slices.Clip(n.Pods), planned[n.Node.Name]...)}
	}
	var out []Rollout
	for _, dm := range demands {
		s, ok := surge[dm.Service]
		if !ok || max(dm.GroupSize, 1) > 1 || gpuCount(dm.Requests) == 0 {
			continue
		}
		r := Rollout{Service: dm.Service, Replicas: dm.Replicas, MaxSurge: s.MaxSurge, MaxUnavailable: s.MaxUnavailable}
		extra := dm
		extra.Replicas = s.MaxSurge
		pl := placement.PlaceWithin(left, []placement.Demand{extra}, work)
		work = max(work-pl.Work, 1)
		if pl.Stopped {
			continue // no advice rather than a wrong one
		}
		placed := pl.Services[0].Placed
		r.SurgeFits = placed == s.MaxSurge
		switch {
		case r.SurgeFits:
			r.Advice = fmt.Sprintf("an update runs %d new pod(s) beside the old ones: there is room", s.MaxSurge)
		case placed > 0:
			r.Advice = fmt.Sprintf("room for %d of its %d surge pod(s): an update runs slower, %d at a time", placed, s.MaxSurge, placed)
		case s.MaxUnavailable > 0:
			r.Advice = fmt.Sprintf("no room for a surge pod: an update replaces %d old pod(s) at a time (maxUnavailable), serving with %d fewer while it runs",
				s.MaxUnavailable, s.MaxUnavailable)
		default:
			r.Stalls = true
			r.Advice = fmt.Sprintf("no room for a surge pod and maxUnavailable is 0 (%d replica(s)): an update would stall — free room for one pod (%s), or roll with maxSurge 0 and maxUnavailable 1 (a worker's annotations %s: \"0\", %s: \"1\")",
				dm.Replicas, describe(dm.Requests), v1alpha1.AnnotationMaxSurge, v1alpha1.AnnotationMaxUnavailable)
		}
		out = append(out, r)
	}
	return out
}

func gpuCount(m map[string]int64) int64 {
	var t int64
	for r, q := range m {
		if nvidia.IsResource(r) {
			t += q
		}
	}
	return t
}
