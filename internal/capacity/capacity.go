// Package capacity says how much of the resource a pod is short of is free on the nodes it may
// use — the figure behind insufficient_capacity. The computation (MostFree) is pure; the
// operator's status and dynamoctl explain both call it, the operator over its View (a
// snapshot of the nodes and their NVIDIA usage), explain over what it reads.
package capacity

import (
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/dynamo-infra/dynamo-infra/internal/diagnose"
	"github.com/dynamo-infra/dynamo-infra/internal/inventory"
	"github.com/dynamo-infra/dynamo-infra/internal/kubenode"
	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
	"github.com/dynamo-infra/dynamo-infra/internal/placement"
)

// Candidates are the nodes a pod with this spec may run on: Ready, not cordoned, its node
// selector and required node affinity matched and its taints tolerated — the scheduler's
// filters before resources.
func Candidates(spec *corev1.PodSpec, nodes []corev1.Node) []corev1.Node {
	var out []corev1.Node
	for i := range nodes {
		if MayRun(spec, &nodes[i]) {
			out = append(out, nodes[i])
		}
	}
	return out
}

// MayRun reports whether a pod with this spec may run on node as far as the scheduler's
// filters before resources go: Ready, not cordoned, selector and affinity matched, taints
// tolerated.
func MayRun(spec *corev1.PodSpec, node *corev1.Node) bool {
	return kubenode.Ready(node) && !node.Spec.Unschedulable && placement.Allowed(spec, node)
}

// ShortResource is the resource a pod the scheduler could not place is short of: the first
// NVIDIA resource the scheduler names, else the first resource it names, else the first NVIDIA
// resource the pod asks for.
func ShortResource(spec *corev1.PodSpec, scheduler string) string {
	short := diagnose.Insufficient(scheduler)
	for _, r := range short {
		if nvidia.IsResource(r) {
			return r
		}
	}
	if len(short) > 0 {
		return short[0]
	}
	return FirstNvidia(spec)
}

// FirstNvidia is the first NVIDIA resource (by name) the pod asks for ("" when none).
func FirstNvidia(spec *corev1.PodSpec) string {
	var names []string
	for name := range kubenode.PodRequests(spec) {
		if nvidia.IsResource(string(name)) {
			names = append(names, string(name))
		}
	}
	if len(names) == 0 {
		return ""
	}
	return slices.Min(names) // by name, not by map order
}

// Fit is how much of the resource a pod is short of is free on the nodes it may use.
type Fit struct {
	// Resource is the resource the pod is short of (ShortResource); "" when none is known.
	Resource string
	// PerPod is the pod's request of Resource, PerPodText as Kubernetes writes it ("500m").
	PerPod     int64
	PerPodText string
	// NVIDIA: Resource is an NVIDIA one, so the free amounts below are known (usage of NVIDIA
	// resources is all that is read).
	NVIDIA bool
	// Candidates counts the nodes the pod may use (Candidates).
	Candidates int
	// Having counts the candidates that have Resource at all; Product is the GPU product
	// every one of them has ("" when they differ).
	Having  int
	Product string
	// Best is the candidate with the most of Resource free, BestFree how much (0 when none).
	Best     string
	BestFree int64
	// WithRoom counts candidates with PerPod free.
	WithRoom int
}

// Nodes yields nodes one at a time. A yielded node may be reused for the next one (the
// operator's snapshot rebuilds one Node per step instead of holding thousands): read it, do
// not keep it.
type Nodes func(yield func(*corev1.Node) bool)

// NodeList yields the nodes of a slice.
func NodeList(nodes []corev1.Node) Nodes {
	return func(yield func(*corev1.Node) bool) {
		for i := range nodes {
			if !yield(&nodes[i]) {
				return
			}
		}
	}
}

// MostFree computes the Fit of a pod with spec, which the scheduler could not place for the
// reasons in its message, over nodes and the NVIDIA requests of the active pods on each
// (inventory.Requested). read says whose pods were read (nil: every node's); a node not read counts
// toward Having but not toward Best or WithRoom (see explain's usage plan: it has no more
// allocatable than the most free found). Ties go to the first node by name.
func MostFree(spec *corev1.PodSpec, scheduler string, nodes Nodes, requested map[string]map[string]int64, read func(node string) bool) Fit {
	f := Fit{Resource: ShortResource(spec, scheduler)}
	if q, ok := kubenode.PodRequests(spec)[corev1.ResourceName(f.Resource)]; ok {
		f.PerPod, f.PerPodText = q.Value(), q.String()
	} else if f.Resource == "pods" {
		f.PerPod, f.PerPodText = 1, "1"
	}
	f.NVIDIA = nvidia.IsResource(f.Resource)
	f.BestFree = -1
	for node := range nodes {
		if !MayRun(spec, node) {
			continue
		}
		f.Candidates++
		if !f.NVIDIA {
			continue
		}
		n := inventory.NodeWithRequests(node, requested[node.Name])
		r := n.Resource(f.Resource)
		if r.Allocatable <= 0 {
			continue // a CPU node, or another GPU resource: not where this pod's GPUs could be
		}
		if read == nil || read(n.Name) {
			if r.Free > f.BestFree || (r.Free == f.BestFree && n.Name < f.Best) {
				f.Best, f.BestFree = n.Name, r.Free
			}
			if r.Free >= f.PerPod {
				f.WithRoom++
			}
		}
		switch {
		case f.Having == 0:
			f.Product = n.Product
		case f.Product != n.Product:
			f.Product = ""
		}
		f.Having++
	}
	f.BestFree = max(f.BestFree, 0)
	return f
}
