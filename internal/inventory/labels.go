package inventory

// Label and resource keys are package nvidia's; these are how the inventory reads GFD's product
// names.
const (
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
