package devcluster

// Well-known label, annotation and taint keys the simulated nodes carry. The GPU keys are the ones
// NVIDIA GPU Feature Discovery (GFD) and the GPU Operator publish on real nodes.
const (
	// LabelNodeKind names the built-in kind a node was made from (h100, cpu, ...).
	LabelNodeKind = "dynamo-infra.dev/node-kind"
	// LabelManagedBy marks nodes this package created, so they can be told from user nodes.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is the LabelManagedBy value of nodes this package created.
	ManagedByValue = "dynamoctl-dev-cluster"

	LabelHostname     = "kubernetes.io/hostname"
	LabelOS           = "kubernetes.io/os"
	LabelArch         = "kubernetes.io/arch"
	LabelInstanceType = "node.kubernetes.io/instance-type"
	LabelZone         = "topology.kubernetes.io/zone"
	LabelRegion       = "topology.kubernetes.io/region"
	// LabelKwokType is the label kwok's own examples put on fake nodes.
	LabelKwokType = "type"

	LabelGPUPresent        = "nvidia.com/gpu.present"
	LabelGPUCount          = "nvidia.com/gpu.count"
	LabelGPUProduct        = "nvidia.com/gpu.product"
	LabelGPUMemory         = "nvidia.com/gpu.memory" // MiB per GPU
	LabelGPUFamily         = "nvidia.com/gpu.family"
	LabelGPUComputeMajor   = "nvidia.com/gpu.compute.major"
	LabelGPUComputeMinor   = "nvidia.com/gpu.compute.minor"
	LabelGPUMachine        = "nvidia.com/gpu.machine"
	LabelGPUMode           = "nvidia.com/gpu.mode"
	LabelGPUReplicas       = "nvidia.com/gpu.replicas"
	LabelGPUSharing        = "nvidia.com/gpu.sharing-strategy"
	LabelMIGCapable        = "nvidia.com/mig.capable"
	LabelMIGStrategy       = "nvidia.com/mig.strategy"
	LabelMPSCapable        = "nvidia.com/mps.capable"
	LabelDriverFull        = "nvidia.com/cuda.driver-version.full"
	LabelDriverMajor       = "nvidia.com/cuda.driver-version.major"
	LabelDriverMinor       = "nvidia.com/cuda.driver-version.minor"
	LabelDriverRevision    = "nvidia.com/cuda.driver-version.revision"
	LabelRuntimeFull       = "nvidia.com/cuda.runtime-version.full"
	LabelRuntimeMajor      = "nvidia.com/cuda.runtime-version.major"
	LabelRuntimeMinor      = "nvidia.com/cuda.runtime-version.minor"
	LabelLegacyDriverMajor = "nvidia.com/cuda.driver.major"
	LabelLegacyDriverMinor = "nvidia.com/cuda.driver.minor"
	LabelLegacyDriverRev   = "nvidia.com/cuda.driver.rev"
	LabelLegacyRuntimeMaj  = "nvidia.com/cuda.runtime.major"
	LabelLegacyRuntimeMin  = "nvidia.com/cuda.runtime.minor"
	// LabelNFDNvidiaPCI is Node Feature Discovery's label for an NVIDIA PCI device (vendor 10de).
	LabelNFDNvidiaPCI = "feature.node.kubernetes.io/pci-10de.present"

	LabelGKEAccelerator    = "cloud.google.com/gke-accelerator"
	LabelAKSAccelerator    = "kubernetes.azure.com/accelerator"
	LabelKarpenterGPUName  = "karpenter.k8s.aws/instance-gpu-name"
	LabelKarpenterGPUCount = "karpenter.k8s.aws/instance-gpu-count"
	LabelKarpenterGPUMem   = "karpenter.k8s.aws/instance-gpu-memory"
	LabelKarpenterGPUMaker = "karpenter.k8s.aws/instance-gpu-manufacturer"

	// ResourceGPUShared is the renamed resource of a shared GPU (time-slicing/MPS with rename).
	ResourceGPUShared = "nvidia.com/gpu.shared"
	// ResourceGPU is the device plugin's extended resource for a whole GPU.
	ResourceGPU = "nvidia.com/gpu"
	// ResourceMIGPrefix prefixes MIG device resources under the mixed strategy (nvidia.com/mig-1g.10gb).
	ResourceMIGPrefix = "nvidia.com/mig-"

	// AnnotationKwokNode marks a node kwok manages; kwok selects nodes by it.
	AnnotationKwokNode = "kwok.x-k8s.io/node"
	// KwokNodeValue is the AnnotationKwokNode value and the TaintKwokNode value.
	KwokNodeValue = "fake"
	// TaintKwokNode keeps workloads that do not expect fake nodes off them. Pods meant for the
	// simulated cluster tolerate it:
	//
	//	tolerations:
	//	- key: kwok.x-k8s.io/node
	//	  operator: Exists
	//	  effect: NoSchedule
	TaintKwokNode = "kwok.x-k8s.io/node"
)
