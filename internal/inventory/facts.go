// Package inventory builds a GPU inventory of a Kubernetes cluster: per-node GPU facts from every
// form a cluster exposes them in (GFD labels incl. MIG and sharing, managed-cloud and NFD labels,
// allocatable), what pods request and what is free, pools of like nodes, and nvidia-smi probes
// for nodes whose model or memory is unknown. Reading and deciding are separate: Build is pure.
package inventory

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/dynamo-infra/dynamo-infra/internal/kubenode"
	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
)

// NodeGPU is what the inventory knows about one node.
type NodeGPU struct {
	Name string `json:"name"`
	// GPU is true when any signal says the node has NVIDIA GPUs.
	GPU bool `json:"gpu"`
	// Sources lists where the GPU facts came from: gfd, gke, aks, karpenter, nfd, allocatable, nvidia-smi.
	Sources []string `json:"sources,omitempty"`
	// Product is the GPU model without GFD's -MIG-<profile>, -MIG-INVALID and -SHARED suffixes.
	Product string `json:"product,omitempty"`
	// LabelProduct is nvidia.com/gpu.product as found, suffixes included.
	LabelProduct string `json:"labelProduct,omitempty"`
	// Count is the number of physical GPUs; 0 when unknown (MIG single hides it).
	Count int64 `json:"count"`
	// MemoryMiB is the memory of one physical GPU; 0 when unknown.
	MemoryMiB int64 `json:"memoryMiB,omitempty"`
	// MemoryInferred is true when MemoryMiB was read from the product name, not reported.
	MemoryInferred bool    `json:"memoryInferred,omitempty"`
	Family         string  `json:"family,omitempty"`
	MIG            MIG     `json:"mig"`
	Sharing        Sharing `json:"sharing"`
	DriverVersion  string  `json:"driverVersion,omitempty"`
	CUDAVersion    string  `json:"cudaRuntimeVersion,omitempty"`
	// Resources holds capacity, allocatable, requested and free of every NVIDIA resource.
	Resources     []ResourceUsage `json:"resources,omitempty"`
	Ready         bool            `json:"ready"`
	Unschedulable bool            `json:"unschedulable"`
	// Taints are the node's NoSchedule and NoExecute taints as key[=value]:effect.
	Taints []string `json:"taints,omitempty"`
	// Overcommitted: pods request more of a resource than the node has (see ResourceUsage).
	Overcommitted bool `json:"overcommitted,omitempty"`
	// Warnings explain facts that could not be read or look wrong.
	Warnings []string `json:"warnings,omitempty"`
}

// MIG describes a node's Multi-Instance GPU setup.
type MIG struct {
	Capable bool `json:"capable"`
	// Strategy is none, single or mixed.
	Strategy string `json:"strategy"`
	// Invalid is GFD's -MIG-INVALID: mixed enabled/disabled GPUs, several profiles, or an empty MIG GPU.
	Invalid bool         `json:"invalid,omitempty"`
	Devices []MIGDevices `json:"devices,omitempty"`
}

// MIGDevices is the number of MIG devices of one profile on a node.
type MIGDevices struct {
	Profile   string `json:"profile"`
	Count     int64  `json:"count"`
	MemoryMiB int64  `json:"memoryMiB,omitempty"`
}

// SharingNone is the sharing strategy of a node whose GPUs are not shared.
const SharingNone = "none"

// Sharing describes GPU time-slicing or MPS.
type Sharing struct {
	// Strategy is none, time-slicing or mps.
	Strategy string `json:"strategy"`
	// Replicas is how many pods share one GPU (1 without sharing).
	Replicas int64 `json:"replicas"`
	// Resource is the resource that carries the shares (nvidia.com/gpu or nvidia.com/gpu.shared).
	Resource string `json:"resource,omitempty"`
}

// ResourceUsage is one NVIDIA resource of a node. Free is Allocatable − Requested, never below
// 0: when pods request more than the node has (it lost allocatable under running pods, or does
// not advertise the resource), Overcommitted says so and Free is 0.
type ResourceUsage struct {
	Name          string `json:"name"`
	Capacity      int64  `json:"capacity"`
	Allocatable   int64  `json:"allocatable"`
	Requested     int64  `json:"requested"`
	Free          int64  `json:"free"`
	Overcommitted bool   `json:"overcommitted,omitempty"`
}

// Units of what a resource counts.
const (
	UnitGPU       = "GPU"
	UnitReplica   = "replica"
	UnitMIGDevice = "MIG device"
)

// Amount writes n of a unit: "1 GPU", "14 GPUs", "6 replicas", "87 MIG devices".
func Amount(n int64, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// Unit is what the node's primary resource counts: whole GPUs, shared replicas (time-slicing,
// MPS), or MIG devices (MIG single exposes them as nvidia.com/gpu).
func (n *NodeGPU) Unit() string {
	switch {
	case n.Sharing.Strategy != "" && n.Sharing.Strategy != SharingNone:
		return UnitReplica
	case n.MIG.Strategy == MIGSingle:
		return UnitMIGDevice
	}
	return UnitGPU
}

// SharesGPUs reports whether the node's nvidia.com/gpu counts shared replicas (time-slicing,
// or MPS not renamed): a pod counts them as GPUs only when it asks for shares.
func (n *NodeGPU) SharesGPUs() bool {
	return n.Unit() == UnitReplica && n.Sharing.Resource == nvidia.ResourceGPU
}

// PoolName names the node's pool: product, memory per GPU, MIG layout, and the sharing mode.
func (n *NodeGPU) PoolName() string {
	name := PoolName(n.Product, n.MemoryMiB, n.MIG.MIGLayout())
	if n.Unit() == UnitReplica {
		name += fmt.Sprintf(" %s x%d", n.Sharing.Strategy, n.Sharing.Replicas)
	}
	return name
}

// NeedsProbe reports whether nvidia-smi should fill in the model or memory.
func (n *NodeGPU) NeedsProbe() bool {
	return n.GPU && (n.Product == "" || n.MemoryMiB == 0) && !slices.Contains(n.Sources, SourceProbe)
}

// PrimaryResource is the resource that holds whole GPUs (or their shares) on the node.
func (n *NodeGPU) PrimaryResource() string {
	if n.Sharing.Resource != "" {
		return n.Sharing.Resource
	}
	return nvidia.ResourceGPU
}

// Resource returns the usage of one resource (zero when the node has none).
func (n *NodeGPU) Resource(name string) ResourceUsage {
	for _, r := range n.Resources {
		if r.Name == name {
			return r
		}
	}
	return ResourceUsage{Name: name}
}

// MIGLayout is a short stable description of the MIG setup, used in pool keys and tables:
// "none", "single 1g.10gb", "mixed 1g.10gb=28,2g.20gb=6", "invalid".
func (m MIG) MIGLayout() string {
	switch {
	case m.Invalid:
		return "invalid"
	case m.Strategy == MIGSingle && len(m.Devices) == 1:
		return "single " + m.Devices[0].Profile
	case m.Strategy == MIGMixed && len(m.Devices) > 0:
		parts := make([]string, len(m.Devices))
		for i, d := range m.Devices {
			parts[i] = d.Profile + "=" + strconv.FormatInt(d.Count, 10)
		}
		return "mixed " + strings.Join(parts, ",")
	}
	return MIGNone
}

// NodeFacts reads one node's GPU facts from its labels, capacity, allocatable, conditions and
// taints. Requested and Free are left zero; Build fills them in from pods.
func NodeFacts(node *corev1.Node) NodeGPU {
	n := NodeGPU{
		Name:          node.Name,
		Ready:         kubenode.Ready(node),
		Unschedulable: node.Spec.Unschedulable,
		Sharing:       Sharing{Strategy: SharingNone, Replicas: 1},
		MIG:           MIG{Strategy: MIGNone},
	}
	for _, t := range node.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
			s := t.Key
			if t.Value != "" {
				s += "=" + t.Value
			}
			n.Taints = append(n.Taints, s+":"+string(t.Effect))
		}
	}
	r := labelReader{labels: node.Labels, node: &n}
	readResources(&n, node)
	readGFD(&n, &r)
	readCloud(&n, &r)
	fillFromResources(&n)
	if n.Product != "" && n.MemoryMiB == 0 {
		if mib, ok := MemoryFromProductName(n.Product); ok {
			n.MemoryMiB, n.MemoryInferred = mib, true
		}
	}
	n.GPU = n.GPU || len(n.Sources) > 0
	return n
}

// readResources records capacity and allocatable of every NVIDIA resource.
func readResources(n *NodeGPU, node *corev1.Node) {
	names := map[string]bool{}
	for name := range node.Status.Capacity {
		if isNvidiaResource(string(name)) {
			names[string(name)] = true
		}
	}
	for name := range node.Status.Allocatable {
		if isNvidiaResource(string(name)) {
			names[string(name)] = true
		}
	}
	for _, name := range sortedKeys(names) {
		c := node.Status.Capacity[corev1.ResourceName(name)]
		a := node.Status.Allocatable[corev1.ResourceName(name)]
		n.Resources = append(n.Resources, ResourceUsage{Name: name, Capacity: c.Value(), Allocatable: a.Value(), Free: a.Value()})
	}
}

func isNvidiaResource(name string) bool { return strings.HasPrefix(name, nvidia.Prefix) }

// labelReader parses labels, recording a warning for each value that is present but unreadable.
type labelReader struct {
	labels map[string]string
	node   *NodeGPU
}

func (r *labelReader) str(key string) string { return strings.TrimSpace(r.labels[key]) }

func (r *labelReader) count(key string) (int64, bool) {
	v, ok := r.labels[key]
	if !ok {
		return 0, false
	}
	n, err := ParseCount(v)
	if err != nil {
		r.node.Warnings = append(r.node.Warnings, fmt.Sprintf("label %s=%q: %v", key, v, err))
		return 0, false
	}
	return n, true
}

func (r *labelReader) boolean(key string) (bool, bool) {
	v, ok := r.labels[key]
	if !ok {
		return false, false
	}
	b, err := ParseBool(v)
	if err != nil {
		r.node.Warnings = append(r.node.Warnings, fmt.Sprintf("label %s=%q: %v", key, v, err))
		return false, false
	}
	return b, true
}

func readGFD(n *NodeGPU, r *labelReader) {
	gfd := false
	if present, ok := r.boolean(nvidia.LabelGPUPresent); ok && present {
		n.GPU = true
	}
	if raw := r.str(nvidia.LabelGPUProduct); raw != "" {
		gfd = true
		n.LabelProduct = raw
		p := ParseProduct(raw)
		n.Product = p.Base
		switch {
		case p.MIGInvalid:
			n.MIG.Invalid = true
			n.MIG.Strategy = MIGSingle
			n.Warnings = append(n.Warnings, "MIG layout is invalid (product "+raw+"): GPUs mix MIG enabled and disabled, use several profiles, or have no MIG devices")
		case p.MIGProfile != "":
			n.MIG.Strategy = MIGSingle
		}
		if p.Shared {
			n.Sharing.Strategy = "time-slicing"
		}
	}
	count, hasCount := r.count(nvidia.LabelGPUCount)
	mem, hasMem := r.count(nvidia.LabelGPUMemory)
	gfd = gfd || hasCount || hasMem
	if n.MIG.Strategy == MIGSingle && !n.MIG.Invalid {
		// Under MIG single, count and memory describe MIG devices, not physical GPUs.
		n.MIG.Devices = []MIGDevices{{Profile: ParseProduct(n.LabelProduct).MIGProfile, Count: count, MemoryMiB: mem}}
	} else if !n.MIG.Invalid {
		n.Count, n.MemoryMiB = count, mem
	}
	n.Family = r.str(nvidia.LabelGPUFamily)
	if capable, ok := r.boolean(nvidia.LabelMIGCapable); ok {
		n.MIG.Capable = capable
		gfd = true
	}
	if s := r.str(nvidia.LabelMIGStrategy); s != "" {
		switch s {
		case MIGNone, MIGSingle, MIGMixed:
			if !n.MIG.Invalid {
				n.MIG.Strategy = s
			}
		default:
			n.Warnings = append(n.Warnings, fmt.Sprintf("label %s=%q: want none, single or mixed", nvidia.LabelMIGStrategy, s))
		}
	}
	if n.MIG.Strategy == MIGMixed {
		n.MIG.Devices = mixedDevices(r)
	}
	if reps, ok := r.count(nvidia.LabelGPUReplicas); ok && reps > 1 {
		n.Sharing.Replicas = reps
		if n.Sharing.Strategy == "none" {
			n.Sharing.Strategy = "time-slicing"
		}
	}
	if s := r.str(nvidia.LabelGPUSharing); s != "" && s != "none" {
		n.Sharing.Strategy = s
	}
	n.DriverVersion = r.str(nvidia.LabelDriverFull)
	if n.DriverVersion == "" && r.str(nvidia.LabelLegacyDriverMajor) != "" {
		n.DriverVersion = joinVersion(r.str(nvidia.LabelLegacyDriverMajor), r.str(nvidia.LabelLegacyDriverMinor), r.str(nvidia.LabelLegacyDriverRev))
	}
	n.CUDAVersion = r.str(nvidia.LabelRuntimeFull)
	if n.CUDAVersion == "" && r.str(nvidia.LabelLegacyRuntimeMajor) != "" {
		n.CUDAVersion = joinVersion(r.str(nvidia.LabelLegacyRuntimeMajor), r.str(nvidia.LabelLegacyRuntimeMinor))
	}
	if gfd {
		n.Sources = append(n.Sources, SourceGFD)
	}
}

// mixedDevices reads nvidia.com/mig-<profile>.count|memory labels, sorted by profile.
func mixedDevices(r *labelReader) []MIGDevices {
	byProfile := map[string]*MIGDevices{}
	for key := range r.labels {
		if !strings.HasPrefix(key, nvidia.LabelMIGPrefix) {
			continue
		}
		// Profiles hold a dot themselves (1g.10gb): the field is after the last dot.
		rest := strings.TrimPrefix(key, nvidia.LabelMIGPrefix)
		i := strings.LastIndexByte(rest, '.')
		if i <= 0 {
			continue
		}
		profile, field := rest[:i], rest[i+1:]
		if field != "count" && field != "memory" {
			continue
		}
		d := byProfile[profile]
		if d == nil {
			d = &MIGDevices{Profile: profile}
			byProfile[profile] = d
		}
		v, ok := r.count(key)
		if !ok {
			continue
		}
		if field == "count" {
			d.Count = v
		} else {
			d.MemoryMiB = v
		}
	}
	out := make([]MIGDevices, 0, len(byProfile))
	for _, p := range sortedKeys(byProfile) {
		out = append(out, *byProfile[p])
	}
	return out
}

func readCloud(n *NodeGPU, r *labelReader) {
	if acc := r.str(nvidia.LabelGKEAccelerator); acc != "" {
		n.Sources = append(n.Sources, SourceGKE)
		if n.Product == "" {
			if known, ok := gkeAccelerators[acc]; ok {
				n.Product, n.MemoryMiB = known.product, known.memoryMiB
			} else {
				n.Product = acc
			}
		}
		if p := r.str(nvidia.LabelGKEPartitionSize); p != "" && n.MIG.Strategy == MIGNone {
			n.MIG.Strategy = MIGSingle
			n.MIG.Capable = true
		}
		if s := r.str(nvidia.LabelGKESharing); s != "" {
			n.Sharing.Strategy = map[string]string{"time-sharing": "time-slicing", "mps": "mps"}[s]
			if n.Sharing.Strategy == "" {
				n.Sharing.Strategy = s
			}
			if reps, ok := r.count(nvidia.LabelGKEMaxSharedPerGPU); ok && reps > 0 {
				n.Sharing.Replicas = reps
			}
		}
	}
	if acc := r.str(nvidia.LabelAKSAccelerator); acc != "" {
		n.Sources = append(n.Sources, SourceAKS)
		if n.Product == "" && !strings.EqualFold(acc, "nvidia") {
			n.Product = acc
		}
	}
	if name := r.str(nvidia.LabelKarpenterGPUName); name != "" || r.str(nvidia.LabelKarpenterGPUCount) != "" {
		maker := r.str(nvidia.LabelKarpenterGPUMaker)
		if maker == "" || strings.EqualFold(maker, "nvidia") {
			n.Sources = append(n.Sources, SourceKarpenter)
			if n.Product == "" {
				n.Product = name
			}
			if c, ok := r.count(nvidia.LabelKarpenterGPUCount); ok && n.Count == 0 {
				n.Count = c
			}
			if m, ok := r.count(nvidia.LabelKarpenterGPUMem); ok && n.MemoryMiB == 0 {
				n.MemoryMiB = m
			}
		}
	}
	if present, ok := r.boolean(nvidia.LabelNFDNvidiaPCI); ok && present {
		n.Sources = append(n.Sources, SourceNFD)
	}
}

// fillFromResources derives what labels left out from the node's resources: the sharing
// resource, a physical count (whole GPUs / replicas) and, with no label at all, the fact of GPUs.
func fillFromResources(n *NodeGPU) {
	gpu := n.Resource(nvidia.ResourceGPU)
	shared := n.Resource(nvidia.ResourceGPUShared)
	if shared.Capacity > 0 || shared.Allocatable > 0 {
		n.Sharing.Resource = nvidia.ResourceGPUShared
		if n.Sharing.Strategy == "none" {
			n.Sharing.Strategy = "time-slicing"
		}
	} else if n.Sharing.Strategy != "none" {
		n.Sharing.Resource = nvidia.ResourceGPU
	}
	primary := n.Resource(n.PrimaryResource())
	devices := max(primary.Capacity, primary.Allocatable)
	hasMIGResource := false
	for _, r := range n.Resources {
		if strings.HasPrefix(r.Name, nvidia.ResourceMIGPrefix) && (r.Capacity > 0 || r.Allocatable > 0) {
			hasMIGResource = true
		}
	}
	if n.Count == 0 && devices > 0 && n.MIG.Strategy != MIGSingle {
		n.Count = devices / max(n.Sharing.Replicas, 1)
	}
	if len(n.Sources) == 0 && (devices > 0 || hasMIGResource || gpu.Capacity > 0) {
		n.Sources = append(n.Sources, SourceAllocatable)
	}
	if n.MIG.Strategy == MIGMixed && len(n.MIG.Devices) == 0 {
		for _, r := range n.Resources {
			if strings.HasPrefix(r.Name, nvidia.ResourceMIGPrefix) {
				n.MIG.Devices = append(n.MIG.Devices, MIGDevices{Profile: strings.TrimPrefix(r.Name, nvidia.ResourceMIGPrefix), Count: r.Capacity})
			}
		}
	}
}

// Product is a GFD product label split into its parts.
type Product struct {
	Base       string
	MIGProfile string // MIG single: the profile after -MIG-
	MIGInvalid bool
	Shared     bool
}

// ParseProduct splits a GFD product label: "NVIDIA-A100-SXM4-40GB-MIG-1g.5gb" gives base
// NVIDIA-A100-SXM4-40GB and MIG profile 1g.5gb; "-MIG-INVALID" and "-SHARED" are flagged.
func ParseProduct(raw string) Product {
	p := Product{Base: strings.TrimSpace(raw)}
	if b, ok := strings.CutSuffix(p.Base, productSharedSuffix); ok {
		p.Base, p.Shared = b, true
	}
	if b, ok := strings.CutSuffix(p.Base, productMIGInvalid); ok {
		p.Base, p.MIGInvalid = b, true
		return p
	}
	if i := strings.LastIndex(p.Base, productMIGInfix); i > 0 && i+len(productMIGInfix) < len(p.Base) {
		p.Base, p.MIGProfile = p.Base[:i], p.Base[i+len(productMIGInfix):]
	}
	return p
}

// ParseCount reads a non-negative whole number label value (at most 10^9).
func ParseCount(s string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 || n > 1_000_000_000 {
		return 0, fmt.Errorf("not a whole number from 0 to 10^9")
	}
	return n, nil
}

// ParseBool reads true/false, yes/no, 1/0 in any case.
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "1":
		return true, nil
	case "false", "no", "0":
		return false, nil
	}
	return false, fmt.Errorf("not a boolean (true/false)")
}

var productMemoryRE = regexp.MustCompile(`(?i)(?:^|[-_ ])(\d{1,4})\s?GB(?:$|[-_ ])`)

// MemoryFromProductName reads the memory size many product names carry ("…-80GB-HBM3",
// "nvidia-h200-141gb") as MiB (GB taken as GiB, as NVIDIA names them).
func MemoryFromProductName(product string) (int64, bool) {
	m := productMemoryRE.FindStringSubmatch(product)
	if m == nil {
		return 0, false
	}
	gb, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || gb == 0 {
		return 0, false
	}
	return gb * 1024, true
}

// gkeAccelerators maps GKE accelerator names to the product and memory GFD would report.
var gkeAccelerators = map[string]struct {
	product   string
	memoryMiB int64
}{
	"nvidia-h200-141gb":     {"NVIDIA-H200", 143771},
	"nvidia-h100-80gb":      {"NVIDIA-H100-80GB-HBM3", 81559},
	"nvidia-h100-mega-80gb": {"NVIDIA-H100-80GB-HBM3", 81559},
	"nvidia-a100-80gb":      {"NVIDIA-A100-SXM4-80GB", 81920},
	"nvidia-tesla-a100":     {"NVIDIA-A100-SXM4-40GB", 40960},
	"nvidia-l4":             {"NVIDIA-L4", 23034},
	"nvidia-tesla-t4":       {"Tesla-T4", 15360},
	"nvidia-tesla-v100":     {"Tesla-V100-SXM2-16GB", 16384},
}

func joinVersion(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, ".")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
