// Package nvidia is the NVIDIA vocabulary the project shares: the labels NVIDIA GPU Feature
// Discovery (GFD) and the GPU Operator put on GPU nodes, the labels managed clouds and Node
// Feature Discovery put on GPU nodes without GFD, and the device plugin's resource names. It is
// the one owner of these strings: the inventory reads them, the simulated cluster writes them,
// placement, demand and render name the resources. Dynamo's own nvidia.com/* keys (graph labels
// and annotations) belong to the API (api/v1alpha1).
package nvidia

import "strings"

// GPU Feature Discovery and GPU Operator labels.
const (
	LabelGPUPresent      = "nvidia.com/gpu.present"
	LabelGPUCount        = "nvidia.com/gpu.count"
	LabelGPUProduct      = "nvidia.com/gpu.product"
	LabelGPUMemory       = "nvidia.com/gpu.memory" // MiB per GPU (per MIG device under MIG single)
	LabelGPUFamily       = "nvidia.com/gpu.family"
	LabelGPUComputeMajor = "nvidia.com/gpu.compute.major"
	LabelGPUComputeMinor = "nvidia.com/gpu.compute.minor"
	LabelGPUMachine      = "nvidia.com/gpu.machine"
	LabelGPUMode         = "nvidia.com/gpu.mode"
	// MIG-capable GPUs: streaming multiprocessors and GPU/compute instance slices.
	LabelGPUMultiprocessors = "nvidia.com/gpu.multiprocessors"
	LabelGPUSlicesGI        = "nvidia.com/gpu.slices.gi"
	LabelGPUSlicesCI        = "nvidia.com/gpu.slices.ci"
	LabelGPUReplicas        = "nvidia.com/gpu.replicas"
	LabelGPUSharing         = "nvidia.com/gpu.sharing-strategy"
	// LabelGPUClique is the NVLink domain (GB200 NVL72: a rack) a node's GPUs belong to.
	LabelGPUClique   = "nvidia.com/gpu.clique"
	LabelMIGCapable  = "nvidia.com/mig.capable"
	LabelMIGStrategy = "nvidia.com/mig.strategy"
	// LabelMIGPrefix starts the MIG mixed strategy's per-profile labels:
	// nvidia.com/mig-<profile>.count and .memory.
	LabelMIGPrefix  = "nvidia.com/mig-"
	LabelMPSCapable = "nvidia.com/mps.capable"
	// LabelRDMAPresent is the NVIDIA Network Operator's label of a node with RDMA.
	LabelRDMAPresent = "nvidia.com/rdma.present"

	LabelDriverFull         = "nvidia.com/cuda.driver-version.full"
	LabelDriverMajor        = "nvidia.com/cuda.driver-version.major"
	LabelDriverMinor        = "nvidia.com/cuda.driver-version.minor"
	LabelDriverRevision     = "nvidia.com/cuda.driver-version.revision"
	LabelRuntimeFull        = "nvidia.com/cuda.runtime-version.full"
	LabelRuntimeMajor       = "nvidia.com/cuda.runtime-version.major"
	LabelRuntimeMinor       = "nvidia.com/cuda.runtime-version.minor"
	LabelLegacyDriverMajor  = "nvidia.com/cuda.driver.major"
	LabelLegacyDriverMinor  = "nvidia.com/cuda.driver.minor"
	LabelLegacyDriverRev    = "nvidia.com/cuda.driver.rev"
	LabelLegacyRuntimeMajor = "nvidia.com/cuda.runtime.major"
	LabelLegacyRuntimeMinor = "nvidia.com/cuda.runtime.minor"
)

// Labels of GPU nodes without GFD: what managed clouds, Karpenter and Node Feature Discovery put.
const (
	LabelGKEAccelerator     = "cloud.google.com/gke-accelerator"
	LabelGKEPartitionSize   = "cloud.google.com/gke-gpu-partition-size"
	LabelGKESharing         = "cloud.google.com/gke-gpu-sharing-strategy"
	LabelGKEMaxSharedPerGPU = "cloud.google.com/gke-max-shared-clients-per-gpu"
	LabelAKSAccelerator     = "kubernetes.azure.com/accelerator"
	LabelKarpenterGPUName   = "karpenter.k8s.aws/instance-gpu-name"
	LabelKarpenterGPUCount  = "karpenter.k8s.aws/instance-gpu-count"
	LabelKarpenterGPUMem    = "karpenter.k8s.aws/instance-gpu-memory" // MiB per GPU
	LabelKarpenterGPUMaker  = "karpenter.k8s.aws/instance-gpu-manufacturer"
	// LabelNFDNvidiaPCI is Node Feature Discovery's label for an NVIDIA PCI device (vendor 10de).
	LabelNFDNvidiaPCI = "feature.node.kubernetes.io/pci-10de.present"
)

// The device plugin's extended resources.
const (
	// Prefix starts every NVIDIA resource a pod can request (and every NVIDIA label).
	Prefix = "nvidia.com/"
	// ResourceGPU is a whole GPU (or a time-slice of one, when sharing keeps the name).
	ResourceGPU = "nvidia.com/gpu"
	// ResourceGPUShared is the renamed resource of a shared (time-slicing or MPS) GPU.
	ResourceGPUShared = "nvidia.com/gpu.shared"
	// ResourceMIGPrefix starts MIG device resources under the mixed strategy
	// (nvidia.com/mig-1g.10gb).
	ResourceMIGPrefix = "nvidia.com/mig-"
)

// NVIDIA's DRA driver for GPUs: the driver of its ResourceSlices' devices, the DeviceClass it
// installs, and the device attributes the dev cluster publishes as it does.
const (
	DRADriverGPU        = "gpu.nvidia.com"
	DeviceClassGPU      = "gpu.nvidia.com"
	DRAAttributeType    = "type"
	DRAAttributeProduct = "productName"
)

// IsResource reports whether a resource is an NVIDIA one (whole GPUs, MIG devices, shared GPUs).
func IsResource(name string) bool { return strings.HasPrefix(name, Prefix) }
