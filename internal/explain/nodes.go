package explain

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/dynamo-infra/dynamo-infra/internal/diagnose"
	"github.com/dynamo-infra/dynamo-infra/internal/inventory"
	"github.com/dynamo-infra/dynamo-infra/internal/kube"
	"github.com/dynamo-infra/dynamo-infra/internal/placement"
)

// Candidates are the nodes a pod with this spec may run on: Ready, not cordoned, its node
// selector and required node affinity matched and its taints tolerated — the scheduler's
// filters before resources. The command reads the GPU usage of these nodes only.
func Candidates(spec *corev1.PodSpec, nodes []corev1.Node) []corev1.Node {
	var out []corev1.Node
	for i := range nodes {
		n := &nodes[i]
		if kube.NodeReady(n) && !n.Spec.Unschedulable && placement.Allowed(spec, n) {
			out = append(out, *n)
		}
	}
	return out
}

// NodeSelector is a label selector that lists only nodes the spec's nodeSelector allows ("" when
// it sets none), so the API server filters them.
func NodeSelector(spec *corev1.PodSpec) string {
	if len(spec.NodeSelector) == 0 {
		return ""
	}
	return labels.SelectorFromSet(spec.NodeSelector).String()
}

// nodeView is how much of the resource the scheduler found short is free on the nodes a pod
// could run on.
type nodeView struct {
	listed     int
	selector   string
	candidates int
	// resource is the first resource the scheduler said is short (an NVIDIA one first).
	resource string
	// perPod is the pod's request of resource.
	perPod int64
	// perPodText is perPod as Kubernetes writes the quantity ("500m", "64Gi").
	perPodText string
	// group is the pods per replica of a multi-node service.
	group int32
	// plan: the numbers are a plan's, over the GPU nodes.
	plan bool
	// nvidia: free amounts are known (the usage of NVIDIA resources was read).
	nvidia bool
	// best is the candidate with the most free, bestFree how much.
	best     string
	bestFree int64
	// withRoom counts candidates with perPod free.
	withRoom int
	// having counts candidates that have the (NVIDIA) resource at all.
	having int
	// product is the GPU product every candidate has ("" when they differ).
	product string
	// short is the scheduler's count of nodes short of resource.
	short int
	// selected counts Ready, schedulable nodes the pod's node selector and affinity match;
	// taints are the taints among them the pod does not tolerate, with their nodes.
	selected int
	taints   []taintNodes
}

// taintNodes is one taint ("key=value:Effect") and the nodes that carry it.
type taintNodes struct {
	taint string
	nodes []string
}

func (v *nodeView) addTaint(taint, node string) {
	for i := range v.taints {
		if v.taints[i].taint == taint {
			v.taints[i].nodes = append(v.taints[i].nodes, node)
			return
		}
	}
	v.taints = append(v.taints, taintNodes{taint: taint, nodes: []string{node}})
}

// taintList is "dedicated=infra:NoSchedule on infra-0; gpu=x:NoSchedule on 3 nodes".
func (v *nodeView) taintList() string {
	var parts []string
	for _, t := range v.taints {
		where := strings.Join(t.nodes, ", ")
		if len(t.nodes) > 3 {
			where = fmt.Sprintf("%d nodes", len(t.nodes))
		}
		parts = append(parts, t.taint+" on "+where)
	}
	return strings.Join(parts, "; ")
}

func newNodeView(spec *corev1.PodSpec, nodes *Nodes, scheduler string, group int32) *nodeView {
	cands := Candidates(spec, nodes.Items)
	v := &nodeView{listed: len(nodes.Items), selector: nodes.Selector, candidates: len(cands), group: group}
	// The scheduler (1.36) counts "untolerated taint(s)" without naming them: name them.
	for i := range nodes.Items {
		n := &nodes.Items[i]
		if !kube.NodeReady(n) || n.Spec.Unschedulable || !placement.Selected(spec, n) {
			continue
		}
		v.selected++
		for _, t := range placement.Untolerated(spec, n) {
			v.addTaint(t.ToString(), n.Name)
		}
	}
	v.resource = ShortResource(spec, scheduler)
	for _, r := range diagnose.SchedulerReasons(scheduler) {
		if r.Reason == "Insufficient "+v.resource || (v.resource == "pods" && r.Reason == "Too many pods") {
			v.short = r.Nodes
		}
	}
	if v.resource == "" {
		return v
	}
	req := diagnose.PodDemand(spec)
	if q, ok := req[corev1.ResourceName(v.resource)]; ok {
		v.perPod, v.perPodText = q.Value(), q.String()
	} else if v.resource == "pods" {
		v.perPod, v.perPodText = 1, "1"
	}
	if !strings.HasPrefix(v.resource, "nvidia.com/") {
		return v
	}
	v.nvidia = true
	inv := inventory.Build(cands, nodes.Usage, inventory.BuildOptions{AllNodes: true})
	v.bestFree = -1
	for i := range inv.Nodes {
		n := &inv.Nodes[i]
		r := n.Resource(v.resource)
		if r.Allocatable <= 0 {
			continue // a CPU node, or another GPU resource: not where this pod's GPUs could be
		}
		// A node whose pods were not read has no more allocatable than the most free found
		// (see UsagePlan): it changes neither the most free nor the nodes with room.
		if nodes.Read == nil || nodes.Read[n.Name] {
			free := max(r.Free, 0)
			if free > v.bestFree {
				v.best, v.bestFree = n.Name, free
			}
			if free >= v.perPod {
				v.withRoom++
			}
		}
		switch {
		case v.having == 0:
			v.product = n.Product
		case v.product != n.Product:
			v.product = ""
		}
		v.having++
	}
	v.bestFree = max(v.bestFree, 0)
	return v
}

// ShortResource is the resource a pod the scheduler could not place is short of: the first
// NVIDIA resource the scheduler names, else the first resource it names, else the first NVIDIA
// resource the pod asks for.
func ShortResource(spec *corev1.PodSpec, scheduler string) string {
	short := diagnose.Insufficient(scheduler)
	for _, r := range short {
		if strings.HasPrefix(r, "nvidia.com/") {
			return r
		}
	}
	if len(short) > 0 {
		return short[0]
	}
	return firstNvidia(spec)
}

// UsagePlan is the order in which the command reads the pods of a pod's candidate nodes to
// find the most free of its NVIDIA resource: most allocatable first, so it can stop as soon
// as the most free found is at least every remaining node's allocatable and less than the pod
// needs (no remaining node can have more, nor room). Resource is "" when the pod is not short
// of an NVIDIA resource: then no usage is needed.
type UsagePlan struct {
	Resource string
	PerPod   int64
	// Nodes are the candidates, most allocatable of Resource first (then by name).
	Nodes []string
	alloc []int64
}

// PlanUsage orders the candidates of spec among nodes for reading their usage.
func PlanUsage(spec *corev1.PodSpec, scheduler string, nodes []corev1.Node) UsagePlan {
	r := ShortResource(spec, scheduler)
	if !strings.HasPrefix(r, "nvidia.com/") {
		return UsagePlan{}
	}
	p := UsagePlan{Resource: r}
	if q, ok := diagnose.PodDemand(spec)[corev1.ResourceName(r)]; ok {
		p.PerPod = q.Value()
	}
	cands := Candidates(spec, nodes)
	type cand struct {
		name  string
		alloc int64
	}
	cs := make([]cand, 0, len(cands))
	for i := range cands {
		q := cands[i].Status.Allocatable[corev1.ResourceName(r)]
		if q.Value() > 0 {
			cs = append(cs, cand{cands[i].Name, q.Value()})
		}
	}
	slices.SortFunc(cs, func(a, b cand) int {
		if a.alloc != b.alloc {
			return cmp.Compare(b.alloc, a.alloc)
		}
		return strings.Compare(a.name, b.name)
	})
	for _, c := range cs {
		p.Nodes, p.alloc = append(p.Nodes, c.name), append(p.alloc, c.alloc)
	}
	return p
}

// Allocatable is the i-th node's allocatable of Resource.
func (p UsagePlan) Allocatable(i int) int64 { return p.alloc[i] }

// Done reports whether, with the nodes before i read and best the most free among them,
// reading the rest can change nothing.
func (p UsagePlan) Done(i int, best int64) bool {
	return i >= len(p.Nodes) || (best >= p.alloc[i] && best < p.PerPod)
}

// firstNvidia is the first NVIDIA resource (by name) the pod asks for ("" when none).
func firstNvidia(spec *corev1.PodSpec) string {
	var names []string
	for name := range diagnose.PodDemand(spec) {
		if strings.HasPrefix(string(name), "nvidia.com/") {
			names = append(names, string(name))
		}
	}
	if len(names) == 0 {
		return ""
	}
	return slices.Min(names) // by name, not by map order
}

func (v *nodeView) link() Link {
	l := Link{Kind: LinkNodes}
	listed := fmt.Sprintf("%d %s", v.listed, v.nodesWord())
	if v.selector != "" {
		listed += " with " + v.selector
	}
	l.Summary = fmt.Sprintf("%d of %s match the pod's selector, affinity and tolerations", v.candidates, listed)
	having := v.resource
	if v.product != "" {
		having += " (" + v.product + ")"
	}
	if len(v.taints) > 0 {
		l.Details = append(l.Details, fmt.Sprintf("%d selected by its node selector/affinity; taints it does not tolerate: %s", v.selected, v.taintList()))
	}
	switch {
	case v.candidates == 0 || v.resource == "":
	case v.nvidia && v.having == 0:
		l.Details = append(l.Details, fmt.Sprintf("none of them has %s", v.resource))
	case v.nvidia:
		l.Details = append(l.Details, fmt.Sprintf("%d of them have %s; most free on one node: %d (%s); the pod needs %d", v.having, having, v.bestFree, v.best, v.perPod),
			fmt.Sprintf("%d node(s) have %d free", v.withRoom, v.perPod))
	default:
		l.Details = append(l.Details, fmt.Sprintf("the pod asks for %s %s; the scheduler found %d node(s) short of it", v.perPodText, v.resource, v.short))
	}
	return l
}

// nodesWord names what was counted: every node read, or (in a plan) the GPU nodes.
func (v *nodeView) nodesWord() string {
	if v.plan {
		return "GPU node(s)"
	}
	return "node(s)"
}
