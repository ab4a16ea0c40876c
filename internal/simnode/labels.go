package simnode

// Well-known label, annotation and taint keys the simulated nodes carry. Their GPU keys (those GFD
// and the GPU Operator publish on real nodes) are package nvidia's.
const (
	// LabelNodeKind names the built-in kind a node was made from (h100, cpu, ...).
	LabelNodeKind = "dynamo-infra.dev/node-kind"
	// ManagedByValue is the v1alpha1.LabelManagedBy value of nodes this package created.
	ManagedByValue = "dynamoctl-dev-cluster"

	LabelHostname     = "kubernetes.io/hostname"
	LabelOS           = "kubernetes.io/os"
	LabelArch         = "kubernetes.io/arch"
	LabelInstanceType = "node.kubernetes.io/instance-type"
	LabelZone         = "topology.kubernetes.io/zone"
	LabelRegion       = "topology.kubernetes.io/region"
	// LabelKwokType is the label kwok's own examples put on fake nodes.
	LabelKwokType = "type"

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
