package plan

import (
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/dynamo-infra/dynamo-infra/internal/inventory"
	"github.com/dynamo-infra/dynamo-infra/internal/kubenode"
	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
	"github.com/dynamo-infra/dynamo-infra/internal/placement"
)

// FirstFit reports whether one pass of first fit places every pod of demands on nodes (each a
// node as Build reads it, used what the active pods on each request): a sufficient condition of
// Build's Fits, for the common case where the answer is plainly yes — a graph created on a
// cluster with room — at the cost of one pass over the nodes and no copy of them (Build needs
// the whole list, and its working set grows with it). Only simple demands qualify (ok false
// otherwise: ask Build): no multi-node groups or group key, no shares of GPUs asked for, no
// required pod affinity, anti-affinity or topology spread. Nodes are used as Build uses them —
// Ready and not cordoned, selector, affinity and taints allowed, each resource's allocatable
// less what is used — and time-sliced or MPS GPU nodes not at all (Build counts their replicas
// for pods asking for shares only). A node is visited once: fits false says nothing (first fit
// is not a search).
func FirstFit(demands []placement.Demand, nodes func(yield func(*corev1.Node) bool), used map[string]map[string]int64) (fits, ok bool) {
	left := make([]int64, len(demands))
	total := int64(0)
	for i, d := range demands {
		if d.GroupSize > 1 || d.GroupKey != "" || d.Shared || hasInterPod(d.Pod) {
			return false, false
		}
		left[i] = max(d.Replicas, 0)
		total += left[i]
	}
	if total == 0 {
		return true, true
	}
	free := map[string]int64{} // one node's, reused: first fit never comes back to a node
	for n := range nodes {
		if !kubenode.Ready(n) || n.Spec.Unschedulable {
			continue
		}
		clear(free)
		for name, q := range n.Status.Allocatable {
			r := string(name)
			free[r] = max(amount(r, q)-used[n.Name][r], 0)
		}
		var shared *bool
		for i := range demands {
			d := &demands[i]
			if left[i] == 0 || !placement.Allowed(d.Pod, n) {
				continue
			}
			if _, gpu := d.Requests[nvidia.ResourceGPU]; gpu {
				if shared == nil {
					f := inventory.NodeFacts(n)
					shared = new(f.SharesGPUs())
				}
				if *shared {
					continue
				}
			}
			for left[i] > 0 && holds(free, d.Requests) {
				for r, v := range d.Requests {
					free[r] -= v
				}
				left[i]--
				total--
			}
		}
		if total == 0 {
			return true, true
		}
	}
	return false, true
}

// holds: every request is free.
func holds(free, req map[string]int64) bool {
	for r, v := range req {
		if v > 0 && free[r] < v {
			return false
		}
	}
	return true
}

// hasInterPod: the pod has required pod affinity or anti-affinity, or a topology spread
// constraint that refuses nodes (DoNotSchedule).
func hasInterPod(spec *corev1.PodSpec) bool {
	if len(placement.RequiredAffinity(spec)) > 0 || len(placement.RequiredAntiAffinity(spec)) > 0 {
		return true
	}
	return spec != nil && slices.ContainsFunc(spec.TopologySpreadConstraints, func(c corev1.TopologySpreadConstraint) bool {
		return c.WhenUnsatisfiable == corev1.DoNotSchedule
	})
}
