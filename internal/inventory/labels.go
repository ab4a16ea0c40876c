package inventory

// Label and resource keys the inventory reads. GFD keys are NVIDIA GPU Feature Discovery's; the
// rest are what managed clouds and NFD put on GPU nodes that have no GFD.
const (
	LabelGPUPresent      = "nvidia.com/gpu.present"
	LabelGPUCount        = "nvidia.com/gpu.count"
	LabelGPUProduct      = "nvidia.com/gpu.product"
	LabelGPUMemory       = "nvidia.com/gpu.memory" // MiB per GPU (per MIG device under MIG single)
	LabelGPUFamily       = "nvidia.com/gpu.family"
	LabelGPUReplicas     = "nvidia.com/gpu.replicas"
	LabelGPUSharing      = "nvidia.com/gpu.sharing-strategy"
	LabelMIGCapable      = "nvidia.com/mig.capable"
	LabelMIGStrategy     = "nvidia.com/mig.strategy"
	LabelDriverFull      = "nvidia.com/cuda.driver-version.full"
	LabelRuntimeFull     = "nvidia.com/cuda.runtime-version.full"
	LabelLegacyDriverMaj = "nvidia.com/cuda.driver.major"
	LabelLegacyDriverMin = "nvidia.com/cuda.driver.minor"
	LabelLegacyDriverRev = "nvidia.com/cuda.driver.rev"
	LabelLegacyRTMaj     = "nvidia.com/cuda.runtime.major"
	LabelLegacyRTMin     = "nvidia.com/cuda.runtime.minor"
	// MIG mixed: nvidia.com/mig-<profile>.count|memory.
	labelMIGPrefix = "nvidia.com/mig-"

	LabelGKEAccelerator     = "cloud.google.com/gke-accelerator"
	LabelGKEPartitionSize   = "cloud.google.com/gke-gpu-partition-size"
	LabelGKESharing         = "cloud.google.com/gke-gpu-sharing-strategy"
	LabelGKEMaxSharedPerGPU = "cloud.google.com/gke-max-shared-clients-per-gpu"
	LabelAKSAccelerator     = "kubernetes.azure.com/accelerator"
	LabelKarpenterGPUName   = "karpenter.k8s.aws/instance-gpu-name"
	LabelKarpenterGPUCount  = "karpenter.k8s.aws/instance-gpu-count"
	LabelKarpenterGPUMem    = "karpenter.k8s.aws/instance-gpu-memory" // MiB per GPU
	LabelKarpenterGPUMaker  = "karpenter.k8s.aws/instance-gpu-manufacturer"
	LabelNFDNvidiaPCI       = "feature.node.kubernetes.io/pci-10de.present"

	// ResourceGPU is a whole GPU (or a time-slice of one, when sharing keeps the name).
	ResourceGPU = "nvidia.com/gpu"
	// ResourceGPUShared is the renamed resource of a shared (time-slicing/MPS) GPU.
	ResourceGPUShared = "nvidia.com/gpu.shared"
	// ResourceMIGPrefix prefixes MIG device resources under the mixed strategy.
	ResourceMIGPrefix = "nvidia.com/mig-"
	// resourceNvidiaPrefix selects every NVIDIA resource a pod can request.
	resourceNvidiaPrefix = "nvidia.com/"

	productMIGInfix     = "-MIG-"
	productMIGInvalid   = "-MIG-INVALID"
	productSharedSuffix = "-SHARED"
)

// Where a node's GPU facts came from (NodeGPU.Sources).
const (
	SourceGFD         = "gfd"
	SourceGKE         = "gke"
	SourceAKS         = "aks"
	SourceKarpenter   = "karpenter"
	SourceNFD         = "nfd"
	SourceAllocatable = "allocatable"
	SourceProbe       = "nvidia-smi"
)

// MIG strategies as GFD names them.
const (
	MIGNone   = "none"
	MIGSingle = "single"
	MIGMixed  = "mixed"
)
