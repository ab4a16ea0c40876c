package simnode

import "slices"

// NodeKind is a built-in simulated machine type a profile can name.
type NodeKind struct {
	// Name is the key used in profiles ("h100").
	Name string
	// Description says what real machine the kind stands for.
	Description  string
	InstanceType string
	CPU          string
	Memory       string
	// GPU is nil for CPU-only nodes.
	GPU *GPUSpec
	// RackSize, when set, groups the kind's nodes in racks of that many, by index: each rack
	// one NVLink domain (nvidia.com/gpu.clique), one rack label, one zone (RackLabels).
	RackSize int
}

// GPUSpec describes the GPUs of a node kind as GFD would label them.
type GPUSpec struct {
	Product      string
	Count        int // physical GPUs
	MemoryMiB    int // per GPU
	Family       string
	ComputeMajor int
	ComputeMinor int
	// MIG, when set, partitions some GPUs under the mixed strategy.
	MIG *MIGLayout
	// MIGSingle, when set, partitions every GPU into devices of one profile (single strategy);
	// its Count is the node's total of MIG devices.
	MIGSingle *MIGDevices
	// Sharing, when set, time-slices or MPS-shares every GPU.
	Sharing *SharingSpec
	// Exposure says which labels describe the GPUs: GPU Feature Discovery (the default), or only
	// a managed cloud's or NFD's labels, as on clusters without the GPU Operator.
	Exposure Exposure
	// CloudAccelerator is the GKE/AKS/Karpenter label value for the non-GFD exposures.
	CloudAccelerator string
}

// SharingSpec is GPU time-slicing or MPS as the device plugin configures it.
type SharingSpec struct {
	Strategy string // time-slicing or mps
	Replicas int
	// Rename advertises nvidia.com/gpu.shared instead of nvidia.com/gpu.
	Rename bool
}

// Exposure is how a node tells the world about its GPUs.
type Exposure string

// Exposures of simulated GPU nodes.
const (
	ExposeGFD       Exposure = ""
	ExposeGKE       Exposure = "gke"
	ExposeAKS       Exposure = "aks"
	ExposeKarpenter Exposure = "karpenter"
	ExposeNFD       Exposure = "nfd"
)

// MIGLayout is a mixed-strategy MIG partitioning: WholeGPUs stay plain nvidia.com/gpu, the rest
// are exposed as nvidia.com/mig-<profile> devices.
type MIGLayout struct {
	WholeGPUs int
	Devices   []MIGDevices
}

// MIGDevices is the number of MIG devices of one profile on a node.
type MIGDevices struct {
	Profile         string // "1g.10gb"
	Count           int
	MemoryMiB       int
	Multiprocessors int
	SlicesGI        int
	SlicesCI        int
}

// Driver versions every simulated GPU node reports (a current R570 datacenter driver).
const (
	driverMajor    = "570"
	driverMinor    = "133"
	driverRevision = "20"
	runtimeMajor   = "12"
	runtimeMinor   = "8"
)

// nodeKinds is the catalogue of built-in kinds; products and memory sizes are what GFD reports on
// the named cloud instance types.
var nodeKinds = []NodeKind{
	{
		Name: "h100", Description: "8x H100 80GB HBM3 (SXM)", InstanceType: "p5.48xlarge",
		CPU: "192", Memory: "2048Gi",
		GPU: &GPUSpec{Product: "NVIDIA-H100-80GB-HBM3", Count: 8, MemoryMiB: 81559, Family: "hopper", ComputeMajor: 9, ComputeMinor: 0},
	},
	{
		Name: "h200", Description: "8x H200 141GB (SXM)", InstanceType: "p5e.48xlarge",
		CPU: "192", Memory: "2048Gi",
		GPU: &GPUSpec{Product: "NVIDIA-H200", Count: 8, MemoryMiB: 143771, Family: "hopper", ComputeMajor: 9, ComputeMinor: 0},
	},
	{
		Name: "a100-40g", Description: "8x A100 40GB (SXM4)", InstanceType: "p4d.24xlarge",
		CPU: "96", Memory: "1152Gi",
		GPU: &GPUSpec{Product: "NVIDIA-A100-SXM4-40GB", Count: 8, MemoryMiB: 40960, Family: "ampere", ComputeMajor: 8, ComputeMinor: 0},
	},
	{
		Name: "a100-80g", Description: "8x A100 80GB (SXM4)", InstanceType: "p4de.24xlarge",
		CPU: "96", Memory: "1152Gi",
		GPU: &GPUSpec{Product: "NVIDIA-A100-SXM4-80GB", Count: 8, MemoryMiB: 81920, Family: "ampere", ComputeMajor: 8, ComputeMinor: 0},
	},
	{
		Name:         "a100-mig",
		Description:  "8x A100 80GB, MIG mixed: 2 whole GPUs, 4 as 7x 1g.10gb, 2 as 3x 2g.20gb",
		InstanceType: "p4de.24xlarge", CPU: "96", Memory: "1152Gi",
		GPU: &GPUSpec{
			Product: "NVIDIA-A100-SXM4-80GB", Count: 8, MemoryMiB: 81920, Family: "ampere", ComputeMajor: 8, ComputeMinor: 0,
			MIG: &MIGLayout{WholeGPUs: 2, Devices: []MIGDevices{
				{Profile: "1g.10gb", Count: 28, MemoryMiB: 9728, Multiprocessors: 14, SlicesGI: 1, SlicesCI: 1},
				{Profile: "2g.20gb", Count: 6, MemoryMiB: 19968, Multiprocessors: 28, SlicesGI: 2, SlicesCI: 2},
			}},
		},
	},
	{
		Name: "a100-mig-single", Description: "8x A100 40GB, MIG single: 56x 1g.5gb", InstanceType: "p4d.24xlarge",
		CPU: "96", Memory: "1152Gi",
		GPU: &GPUSpec{Product: "NVIDIA-A100-SXM4-40GB", Count: 8, MemoryMiB: 40960, Family: "ampere", ComputeMajor: 8, ComputeMinor: 0,
			MIGSingle: &MIGDevices{Profile: "1g.5gb", Count: 56, MemoryMiB: 4864, Multiprocessors: 14, SlicesGI: 1, SlicesCI: 1}},
	},
	{
		Name: "l4-timeslice", Description: "4x L4, time-slicing 4 ways as nvidia.com/gpu", InstanceType: "g6.12xlarge",
		CPU: "48", Memory: "192Gi",
		GPU: &GPUSpec{Product: "NVIDIA-L4", Count: 4, MemoryMiB: 23034, Family: "ada-lovelace", ComputeMajor: 8, ComputeMinor: 9,
			Sharing: &SharingSpec{Strategy: "time-slicing", Replicas: 4}},
	},
	{
		Name: "l4-mps", Description: "4x L4, MPS 2 ways, renamed to nvidia.com/gpu.shared", InstanceType: "g6.12xlarge",
		CPU: "48", Memory: "192Gi",
		GPU: &GPUSpec{Product: "NVIDIA-L4", Count: 4, MemoryMiB: 23034, Family: "ada-lovelace", ComputeMajor: 8, ComputeMinor: 9,
			Sharing: &SharingSpec{Strategy: "mps", Replicas: 2, Rename: true}},
	},
	{
		Name: "gke-l4", Description: "GKE g2-standard-48 (4x L4) without GFD: cloud.google.com/gke-accelerator only", InstanceType: "g2-standard-48",
		CPU: "48", Memory: "192Gi",
		GPU: &GPUSpec{Product: "NVIDIA-L4", Count: 4, MemoryMiB: 23034, Exposure: ExposeGKE, CloudAccelerator: "nvidia-l4"},
	},
	{
		Name: "aks-a100", Description: "AKS ND96asr_v4 (8x A100 40GB) without GFD: model unknown until probed", InstanceType: "Standard_ND96asr_v4",
		CPU: "96", Memory: "900Gi",
		GPU: &GPUSpec{Product: "NVIDIA-A100-SXM4-40GB", Count: 8, MemoryMiB: 40960, Exposure: ExposeAKS, CloudAccelerator: "nvidia"},
	},
	{
		Name: "karpenter-h100", Description: "Karpenter-provisioned p5.48xlarge without GFD: karpenter.k8s.aws/instance-gpu-* labels", InstanceType: "p5.48xlarge",
		CPU: "192", Memory: "2048Gi",
		GPU: &GPUSpec{Product: "NVIDIA-H100-80GB-HBM3", Count: 8, MemoryMiB: 81559, Exposure: ExposeKarpenter, CloudAccelerator: "h100"},
	},
	{
		Name: "nfd-gpu", Description: "2 GPUs seen only by NFD (pci-10de) and the device plugin: model unknown until probed", InstanceType: "custom",
		CPU: "32", Memory: "256Gi",
		GPU: &GPUSpec{Product: "NVIDIA-L40S", Count: 2, MemoryMiB: 46068, Exposure: ExposeNFD},
	},
	{
		Name: "l4", Description: "4x L4 24GB", InstanceType: "g6.12xlarge",
		CPU: "48", Memory: "192Gi",
		GPU: &GPUSpec{Product: "NVIDIA-L4", Count: 4, MemoryMiB: 23034, Family: "ada-lovelace", ComputeMajor: 8, ComputeMinor: 9},
	},
	{
		Name: "gb200", Description: "GB200 NVL72 compute tray: 4x B200 186GB; 18 trays (72 GPUs) per rack share one NVLink domain",
		InstanceType: "gb200-nvl72", CPU: "144", Memory: "884Gi",
		GPU:      &GPUSpec{Product: "NVIDIA-GB200", Count: 4, MemoryMiB: 189471, Family: "blackwell", ComputeMajor: 10, ComputeMinor: 0},
		RackSize: 18,
	},
	{
		Name: "cpu", Description: "CPU only", InstanceType: "m6i.4xlarge",
		CPU: "16", Memory: "64Gi",
	},
}

// NodeKinds returns the built-in node kinds in catalogue order.
func NodeKinds() []NodeKind { return slices.Clone(nodeKinds) }

// LookupNodeKind returns the built-in kind with the given name.
func LookupNodeKind(name string) (NodeKind, bool) {
	for _, k := range nodeKinds {
		if k.Name == name {
			return k, true
		}
	}
	return NodeKind{}, false
}

// NodeKindNames lists the built-in kind names, for help texts and errors.
func NodeKindNames() []string {
	names := make([]string, len(nodeKinds))
	for i, k := range nodeKinds {
		names[i] = k.Name
	}
	return names
}
