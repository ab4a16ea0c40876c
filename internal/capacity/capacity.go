// Package capacity says how much of the resource a pod is short of is free on the nodes it may
// use — the figure behind insufficient_capacity. The computation (MostFree) is pure; the
// operator's status and dynamoctl explain both call it, the operator over its View (a
// snapshot of the nodes and their NVIDIA usage), explain over what it reads.
package capacity

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/dynamo-infra/dynamo-infra/internal/diagnose"
	"github.com/dynamo-infra/dynamo-infra/internal/inventory"
	"github.com/dynamo-infra/dynamo-infra/internal/kube"
	"github.com/dynamo-infra/dynamo-infra/internal/placement"
)

// Candidates are the nodes a pod with this spec may run on: Ready, not cordoned, its node
// selector and required node affinity matched and its taints tolerated — the scheduler's
// filters before resources.
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
	return FirstNvidia(spec)
}

// FirstNvidia is the first NVIDIA resource (by name) the pod asks for ("" when none).
func FirstNvidia(spec *corev1.PodSpec) string {
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

// MostFree computes the Fit of a pod with spec, which the scheduler could not place for the
// reasons in its message, over nodes and the NVIDIA usage of their active pods. read says
// whose pods were read (nil: every node's); a node not read counts toward Having but not
// toward Best or WithRoom (see explain's usage plan: it has no more allocatable than the most
// free found).
func MostFree(spec *corev1.PodSpec, scheduler string, nodes []corev1.Node, usage []inventory.PodUsage, read func(node string) bool) Fit {
	cands := Candidates(spec, nodes)
	f := Fit{Candidates: len(cands), Resource: ShortResource(spec, scheduler)}
	if f.Resource == "" {
		return f
	}
	if q, ok := diagnose.PodDemand(spec)[corev1.ResourceName(f.Resource)]; ok {
		f.PerPod, f.PerPodText = q.Value(), q.String()
	} else if f.Resource == "pods" {
		f.PerPod, f.PerPodText = 1, "1"
	}
	if !strings.HasPrefix(f.Resource, "nvidia.com/") {
		return f
	}
	f.NVIDIA = true
	inv := inventory.Build(cands, usage, inventory.BuildOptions{AllNodes: true})
	f.BestFree = -1
	for i := range inv.Nodes {
		n := &inv.Nodes[i]
		r := n.Resource(f.Resource)
		if r.Allocatable <= 0 {
			continue // a CPU node, or another GPU resource: not where this pod's GPUs could be
		}
		if read == nil || read(n.Name) {
			free := max(r.Free, 0)
			if free > f.BestFree {
				f.Best, f.BestFree = n.Name, free
			}
			if free >= f.PerPod {
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
