package inventory

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/dynamo-infra/dynamo-infra/internal/kubenode"
	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
)

// SchemaVersion versions the JSON/YAML document of `dynamoctl gpus` (docs/gpu-inventory.md).
// v2 (2026-12-02): free is never negative (overcommitted says why), pools separate sharing modes
// and name their unit, totals count whole GPUs only (other units in totals.other).
const SchemaVersion = "dynamo-infra.dev/gpu-inventory/v2"

// PodUsage is the part of a pod the inventory keeps: where it runs and what NVIDIA resources it
// requests. Whole Pod objects are never held.
type PodUsage struct {
	Node     string
	Requests map[string]int64
}

// PodUsageOf reduces a pod to its NVIDIA requests (init containers by the max rule, sidecars and
// pod overhead included, as the scheduler counts them). ok is false for pods that hold nothing:
// unscheduled, terminal (Succeeded/Failed), or without NVIDIA requests.
func PodUsageOf(pod *corev1.Pod) (PodUsage, bool) {
	if !kubenode.PodActive(pod) {
		return PodUsage{}, false
	}
	reqs := kubenode.StoredPodRequests(pod)
	u := PodUsage{Node: pod.Spec.NodeName}
	for name, q := range reqs {
		if isNvidiaResource(string(name)) && !q.IsZero() {
			if u.Requests == nil {
				u.Requests = map[string]int64{}
			}
			u.Requests[string(name)] = q.Value()
		}
	}
	if u.Requests == nil {
		return PodUsage{}, false
	}
	return u, true
}

// Inventory is the result of `dynamoctl gpus`.
type Inventory struct {
	SchemaVersion string `json:"schemaVersion"`
	// Source is api or kubectl; SourceNote says why the fallback was used.
	Source     string    `json:"source"`
	SourceNote string    `json:"sourceNote,omitempty"`
	Nodes      []NodeGPU `json:"nodes"`
	Pools      []Pool    `json:"pools"`
	Totals     Totals    `json:"totals"`
	// Summary is the original gpu_inventory.py's single "best" group, for compatibility.
	Summary Summary       `json:"summary"`
	Probes  []ProbeResult `json:"probes,omitempty"`
}

// Pool groups GPU nodes with the same product, memory per GPU, MIG layout and sharing mode.
// GPUs counts physical GPUs; Allocatable, Requested and Free count Unit: whole GPUs, shared
// replicas, or MIG devices (MIG single).
type Pool struct {
	Name      string `json:"name"`
	Product   string `json:"product"`
	MemoryMiB int64  `json:"memoryMiB"`
	MIGLayout string `json:"migLayout"`
	// Sharing is none, time-slicing or mps; ReplicasPerGPU how many pods share one GPU.
	Sharing        string   `json:"sharing"`
	ReplicasPerGPU int64    `json:"replicasPerGPU"`
	Unit           string   `json:"unit"`
	Nodes          []string `json:"nodes"`
	GPUs           int64    `json:"gpus"`
	Allocatable    int64    `json:"allocatable"`
	Requested      int64    `json:"requested"`
	Free           int64    `json:"free"`
	// OvercommittedNodes request more than they have (their free counts as 0).
	OvercommittedNodes []string `json:"overcommittedNodes,omitempty"`
	// MIG sums each MIG resource over the pool's nodes.
	MIG []ResourceUsage `json:"mig,omitempty"`
}

// Totals sums over every GPU node: GPUs counts physical GPUs; Allocatable, Requested and Free
// count whole GPUs only (pools whose unit is GPU). Shared replicas and MIG devices are summed
// apart, per unit, in Other: they are not GPUs.
type Totals struct {
	Nodes       int   `json:"nodes"`
	GPUNodes    int   `json:"gpuNodes"`
	GPUs        int64 `json:"gpus"`
	Allocatable int64 `json:"allocatable"`
	Requested   int64 `json:"requested"`
	Free        int64 `json:"free"`
	// Other sums the pools counted in replicas or MIG devices, one entry per unit.
	Other []UnitTotal `json:"other,omitempty"`
	// OvercommittedNodes counts nodes whose pods request more than they have.
	OvercommittedNodes int `json:"overcommittedNodes,omitempty"`
}

func (t *Totals) addOther(unit string, alloc, req, free int64) {
	i := slices.IndexFunc(t.Other, func(u UnitTotal) bool { return u.Unit == unit })
	if i < 0 {
		t.Other = append(t.Other, UnitTotal{Unit: unit})
		i = len(t.Other) - 1
	}
	t.Other[i].Allocatable += alloc
	t.Other[i].Requested += req
	t.Other[i].Free += free
}

// UnitTotal sums the pools of one unit other than whole GPUs.
type UnitTotal struct {
	Unit        string `json:"unit"`
	Allocatable int64  `json:"allocatable"`
	Requested   int64  `json:"requested"`
	Free        int64  `json:"free"`
}

// Summary is the original tool's aggregate: the group with the most GPUs per node, then the most
// memory. It hides heterogeneous clusters; Warning says so when there is more than one group.
type Summary struct {
	GPUsPerNode    int64  `json:"gpus_per_node"`
	Model          string `json:"model"`
	VRAMMiB        int64  `json:"vram"`
	DistinctGroups int    `json:"distinctGroups"`
	Warning        string `json:"warning,omitempty"`
}

// BuildOptions select what Build returns.
type BuildOptions struct {
	// AllNodes keeps nodes without GPUs in Nodes.
	AllNodes bool
}

// Build turns nodes and pod usage into the inventory: facts per node, requested and free per
// resource, pools, totals and the compatibility summary. It does no I/O.
func Build(nodes []corev1.Node, pods []PodUsage, opts BuildOptions) Inventory {
	requested := Requested(pods)
	inv := Inventory{SchemaVersion: SchemaVersion, Nodes: []NodeGPU{}, Pools: []Pool{}}
	for i := range nodes {
		n := NodeWithRequests(&nodes[i], requested[nodes[i].Name])
		inv.Totals.Nodes++
		if n.GPU {
			inv.Totals.GPUNodes++
		}
		if n.GPU || opts.AllNodes {
			inv.Nodes = append(inv.Nodes, n)
		}
	}
	sort.Slice(inv.Nodes, func(i, j int) bool { return inv.Nodes[i].Name < inv.Nodes[j].Name })
	inv.Recount()
	return inv
}

// aggregate recomputes pools, GPU totals and the summary from the nodes.
// Recount computes the pools, totals and summary from the nodes again (after probes changed
// their facts).
func (inv *Inventory) Recount() {
	inv.Pools = Pools(inv.Nodes)
	t := &inv.Totals
	t.GPUs, t.Allocatable, t.Requested, t.Free, t.Other, t.OvercommittedNodes = 0, 0, 0, 0, nil, 0
	for _, p := range inv.Pools {
		t.GPUs += p.GPUs
		t.OvercommittedNodes += len(p.OvercommittedNodes)
		if p.Unit == UnitGPU {
			t.Allocatable += p.Allocatable
			t.Requested += p.Requested
			t.Free += p.Free
		} else {
			t.addOther(p.Unit, p.Allocatable, p.Requested, p.Free)
		}
		// A mixed-MIG pool's devices count as MIG devices too (its primary resource is whole GPUs).
		for _, m := range p.MIG {
			t.addOther(UnitMIGDevice, m.Allocatable, m.Requested, m.Free)
		}
	}
	sort.Slice(t.Other, func(i, j int) bool { return t.Other[i].Unit < t.Other[j].Unit })
	inv.Summary = Summarize(inv.Nodes)
}

// applyRequests adds pod requests to a node's resources, including resources the node does not
// advertise (a pod bound before the device plugin went away), and computes Free.
// Requested sums the NVIDIA requests of active pods per node.
func Requested(pods []PodUsage) map[string]map[string]int64 {
	out := map[string]map[string]int64{}
	for _, p := range pods {
		m := out[p.Node]
		if m == nil {
			m = map[string]int64{}
			out[p.Node] = m
		}
		for name, v := range p.Requests {
			m[name] += v
		}
	}
	return out
}

// NodeWithRequests is a node's facts with the NVIDIA requests of its active pods applied
// (requested, free, overcommitted), as Build computes each node.
func NodeWithRequests(node *corev1.Node, requested map[string]int64) NodeGPU {
	n := NodeFacts(node)
	applyRequests(&n, requested)
	return n
}

func applyRequests(n *NodeGPU, req map[string]int64) {
	for _, name := range sortedKeys(req) {
		if !isNvidiaResource(name) {
			continue // the inventory counts NVIDIA resources; a caller may pass every request
		}
		i := slices.IndexFunc(n.Resources, func(r ResourceUsage) bool { return r.Name == name })
		if i < 0 {
			n.Resources = append(n.Resources, ResourceUsage{Name: name})
			i = len(n.Resources) - 1
			n.Warnings = append(n.Warnings, fmt.Sprintf("pods request %d %s but the node does not advertise it", req[name], name))
		}
		n.Resources[i].Requested = req[name]
	}
	n.Overcommitted = false
	for i := range n.Resources {
		r := &n.Resources[i]
		r.Free = r.Allocatable - r.Requested
		r.Overcommitted = r.Free < 0
		if r.Overcommitted {
			r.Free = 0 // flagged, not shown as a negative amount
			n.Overcommitted = true
		}
	}
	sort.Slice(n.Resources, func(i, j int) bool { return n.Resources[i].Name < n.Resources[j].Name })
}

// PoolName names a pool: product, memory per GPU and MIG layout.
func PoolName(product string, memoryMiB int64, migLayout string) string {
	if product == "" {
		product = "unknown"
	}
	name := product
	if memoryMiB > 0 {
		name += " " + FormatGiB(memoryMiB)
	}
	if migLayout != MIGNone {
		name += " MIG " + migLayout
	}
	return name
}

// FormatGiB formats MiB as GiB with one decimal ("79.6GiB").
func FormatGiB(mib int64) string {
	return fmt.Sprintf("%.1fGiB", math.Round(float64(mib)/1024*10)/10)
}

// Pools groups GPU nodes by (product, memory per GPU, MIG layout, sharing mode), largest pool
// first.
func Pools(nodes []NodeGPU) []Pool {
	byKey := map[string]*Pool{}
	for _, n := range nodes {
		if !n.GPU {
			continue
		}
		key := n.PoolName()
		p := byKey[key]
		if p == nil {
			p = &Pool{Name: key, Product: n.Product, MemoryMiB: n.MemoryMiB, MIGLayout: n.MIG.MIGLayout(),
				Sharing: n.Sharing.Strategy, ReplicasPerGPU: max(n.Sharing.Replicas, 1), Unit: n.Unit()}
			byKey[key] = p
		}
		p.Nodes = append(p.Nodes, n.Name)
		if n.Overcommitted {
			p.OvercommittedNodes = append(p.OvercommittedNodes, n.Name)
		}
		p.GPUs += n.Count
		primary := n.Resource(n.PrimaryResource())
		p.Allocatable += primary.Allocatable
		p.Requested += primary.Requested
		p.Free += primary.Free
		for _, r := range n.Resources {
			if !strings.HasPrefix(r.Name, nvidia.ResourceMIGPrefix) {
				continue
			}
			j := slices.IndexFunc(p.MIG, func(m ResourceUsage) bool { return m.Name == r.Name })
			if j < 0 {
				p.MIG = append(p.MIG, ResourceUsage{Name: r.Name})
				j = len(p.MIG) - 1
			}
			p.MIG[j].Capacity += r.Capacity
			p.MIG[j].Allocatable += r.Allocatable
			p.MIG[j].Requested += r.Requested
			p.MIG[j].Free += r.Free
		}
	}
	pools := make([]Pool, 0, len(byKey))
	for _, p := range byKey {
		sort.Slice(p.MIG, func(i, j int) bool { return p.MIG[i].Name < p.MIG[j].Name })
		pools = append(pools, *p)
	}
	sort.Slice(pools, func(i, j int) bool {
		if pools[i].GPUs != pools[j].GPUs {
			return pools[i].GPUs > pools[j].GPUs
		}
		return pools[i].Name < pools[j].Name
	})
	return pools
}

// Summarize computes the original tool's aggregate over nodes that report a product or memory:
// group by (product, memory), pick the group with the highest GPUs per node, then memory.
func Summarize(nodes []NodeGPU) Summary {
	type group struct {
		product string
		mem     int64
		count   int64
	}
	groups := map[[2]string]*group{}
	var best *group
	var maxCount int64
	for _, n := range nodes {
		maxCount = max(maxCount, n.Count)
		if n.Product == "" && n.MemoryMiB == 0 {
			continue
		}
		k := [2]string{n.Product, fmt.Sprint(n.MemoryMiB)}
		g := groups[k]
		if g == nil {
			g = &group{product: n.Product, mem: n.MemoryMiB}
			groups[k] = g
		}
		g.count = max(g.count, n.Count)
	}
	for _, k := range slices.SortedFunc(func(yield func([2]string) bool) {
		for k := range groups {
			if !yield(k) {
				return
			}
		}
	}, func(a, b [2]string) int { return strings.Compare(a[0]+"/"+a[1], b[0]+"/"+b[1]) }) {
		g := groups[k]
		if best == nil || g.count > best.count || (g.count == best.count && g.mem > best.mem) {
			best = g
		}
	}
	if best == nil {
		return Summary{GPUsPerNode: maxCount, Warning: "no node reports a GPU model or memory; cannot summarize"}
	}
	s := Summary{GPUsPerNode: best.count, Model: best.product, VRAMMiB: best.mem, DistinctGroups: len(groups)}
	if len(groups) > 1 {
		s.Warning = fmt.Sprintf("the cluster has %d distinct GPU model/memory groups; this summary shows only one — see the pools", len(groups))
	}
	return s
}
