package explain

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/capacity"
	"github.com/dynamo-infra/dynamo-infra/internal/diagnose"
	"github.com/dynamo-infra/dynamo-infra/internal/inventory"
	"github.com/dynamo-infra/dynamo-infra/internal/kubenode"
	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
	"github.com/dynamo-infra/dynamo-infra/internal/placement"
)

// NodeSelector is a label selector that lists only nodes the spec's nodeSelector allows ("" when
// it sets none), so the API server filters them.
func NodeSelector(spec *corev1.PodSpec) string {
	if len(spec.NodeSelector) == 0 {
		return ""
	}
	return labels.SelectorFromSet(spec.NodeSelector).String()
}

// nodeView is how much of the resource the scheduler found short is free on the nodes a pod
// could run on (capacity.Fit), and what was read to say it.
type nodeView struct {
	capacity.Fit
	listed   int
	selector string
	// short is the scheduler's count of nodes short of Resource.
	short int
	// group is the pods per replica of a multi-node service.
	group int32
	// plan: the numbers are a plan's, over the GPU nodes.
	plan bool
	// operator: the numbers are the operator's (the graph's status), no node was read.
	operator bool
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
	var read func(string) bool
	if nodes.Read != nil {
		read = func(n string) bool { return nodes.Read[n] }
	}
	v := &nodeView{Fit: capacity.MostFree(spec, scheduler, capacity.NodeList(nodes.Items), inventory.Requested(nodes.Usage), read),
		listed: len(nodes.Items), selector: nodes.Selector, group: group}
	// The scheduler (1.36) counts "untolerated taint(s)" without naming them: name them.
	for i := range nodes.Items {
		n := &nodes.Items[i]
		if !kubenode.Ready(n) || n.Spec.Unschedulable || !placement.Selected(spec, n) {
			continue
		}
		v.selected++
		for _, t := range placement.Untolerated(spec, n) {
			v.addTaint(t.ToString(), n.Name)
		}
	}
	v.short = shortNodes(scheduler, v.Resource)
	return v
}

// operatorView is the operator's capacity figure from the graph's status: no node is read.
func operatorView(c *v1alpha1.ServiceCapacity, scheduler string, group int32) *nodeView {
	v := &nodeView{operator: true, group: group, Fit: capacity.Fit{Resource: c.Resource, PerPod: c.PerPod,
		PerPodText: strconv.FormatInt(c.PerPod, 10), NVIDIA: true, Candidates: int(c.CandidateNodes),
		Having: int(c.NodesWithResource), Product: c.Product, Best: c.MostFreeNode, BestFree: c.MostFree,
		WithRoom: int(c.NodesWithRoom)}}
	v.short = shortNodes(scheduler, v.Resource)
	return v
}

// shortNodes is the scheduler's count of nodes short of resource.
func shortNodes(scheduler, resource string) int {
	for _, r := range diagnose.SchedulerReasons(scheduler) {
		if r.Reason == "Insufficient "+resource || (resource == "pods" && r.Reason == "Too many pods") {
			return r.Nodes
		}
	}
	return 0
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
	r := capacity.ShortResource(spec, scheduler)
	if !nvidia.IsResource(r) {
		return UsagePlan{}
	}
	p := UsagePlan{Resource: r}
	if q, ok := kubenode.PodRequests(spec)[corev1.ResourceName(r)]; ok {
		p.PerPod = q.Value()
	}
	cands := capacity.Candidates(spec, nodes)
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

func (v *nodeView) link() Link {
	l := Link{Kind: LinkNodes}
	listed := fmt.Sprintf("%d %s", v.listed, v.nodesWord())
	if v.selector != "" {
		listed += " with " + v.selector
	}
	l.Summary = fmt.Sprintf("%d of %s match the pod's selector, affinity and tolerations", v.Candidates, listed)
	if v.operator {
		l.Summary = fmt.Sprintf("%d node(s) match the pod's selector, affinity and tolerations (the operator's view in the graph's status; --read-nodes reads them now)", v.Candidates)
	}
	having := v.Resource
	if v.Product != "" {
		having += " (" + v.Product + ")"
	}
	if len(v.taints) > 0 {
		l.Details = append(l.Details, fmt.Sprintf("%d selected by its node selector/affinity; taints it does not tolerate: %s", v.selected, v.taintList()))
	}
	switch {
	case v.Candidates == 0 || v.Resource == "":
	case v.NVIDIA && v.Having == 0:
		l.Details = append(l.Details, fmt.Sprintf("none of them has %s", v.Resource))
	case v.NVIDIA:
		l.Details = append(l.Details, fmt.Sprintf("%d of them have %s; most free on one node: %d (%s); the pod needs %d", v.Having, having, v.BestFree, v.Best, v.PerPod),
			fmt.Sprintf("%d node(s) have %d free", v.WithRoom, v.PerPod))
	default:
		l.Details = append(l.Details, fmt.Sprintf("the pod asks for %s %s; the scheduler found %d node(s) short of it", v.PerPodText, v.Resource, v.short))
	}
	return l
}

// nodesWord names what was counted: every node read, or (in a plan) the cluster's nodes.
func (v *nodeView) nodesWord() string {
	if v.plan {
		return "node(s) of the cluster"
	}
	return "node(s)"
}
