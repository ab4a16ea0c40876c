package v1beta1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DynamoGraphDeployment deploys an inference graph — a frontend and its workers (prefill,
// decode, ...) — as one unit. v1beta1 is upstream Dynamo's current shape of the resource;
// v1alpha1 is the same resource in its earlier shape, and either can be read and written.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:resource:shortName=dgd,categories=dynamo
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="Components",type=string,JSONPath=`.status.readyComponents`,description="components with all replicas ready / components"
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Backend",type=string,JSONPath=`.spec.backendFramework`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 40",message="metadata.name: at most 40 characters, so that every child name <name>-<component> is a valid DNS label"
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name: lowercase letters, digits and dashes, starting with a letter (no dots): Services are named after the graph"
// +kubebuilder:validation:XValidation:rule="!has(self.spec.components) || self.spec.components.all(c, size(self.metadata.name) + 1 + size(c.name) <= 63)",message="spec.components: the DGD name, a dash and each component name must fit in 63 characters (child objects are named <dgd>-<component>)"
// +kubebuilder:validation:XValidation:rule="!has(self.spec.components) || self.spec.components.all(c, !has(c.multinode) || size(self.metadata.name) + 1 + size(c.name) <= 45)",message="spec.components: for a multinode component the DGD name, a dash and the component name must fit in 45 characters (its LeaderWorkerSet's pods and StatefulSets add suffixes to <dgd>-<component>)"
type DynamoGraphDeployment struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   DynamoGraphDeploymentSpec   `json:"spec"`
	Status DynamoGraphDeploymentStatus `json:"status,omitempty"`
}

// Hub marks v1beta1 as the version the others convert through.
func (*DynamoGraphDeployment) Hub() {}

// DynamoGraphDeploymentList is a list of graphs.
//
// +kubebuilder:object:root=true
type DynamoGraphDeploymentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DynamoGraphDeployment `json:"items"`
}

// DynamoGraphDeploymentSpec is the desired graph.
//
// +kubebuilder:validation:XValidation:rule="oldSelf.hasValue() || !has(self.restart)",message="spec.restart must be unset on create; set spec.restart.id after creation to request a restart",optionalOldSelf=true
type DynamoGraphDeploymentSpec struct {
	// annotations are added to every child object and pod template; a component's podTemplate
	// annotations win.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
	// labels are added to every child object and pod template; a component's podTemplate labels
	// win.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// priorityClassName is upstream's PriorityClass for Grove PodCliqueSets. Reported: there is
	// no Grove path here; set podTemplate.spec.priorityClassName on components instead.
	// +optional
	PriorityClassName string `json:"priorityClassName,omitempty"`
	// providerOverride is a sparse fragment of the provider's own resource (Grove's
	// PodCliqueSet). Reported: there is no Grove path here.
	// +optional
	ProviderOverride *ProviderOverride `json:"providerOverride,omitempty"`

	// components of the graph (Frontend, prefill and decode workers, ...). Each becomes a
	// Deployment — or a LeaderWorkerSet when multinode — and a Service named
	// <dgd>-<lowercased component name>.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=25
	// +kubebuilder:validation:XValidation:rule="self.filter(c, has(c.type) && c.type == 'epp').size() <= 1",message="at most one component may have type epp"
	// +kubebuilder:validation:XValidation:rule="self.all(c1, self.filter(c2, c2.name.lowerAscii() == c1.name.lowerAscii()).size() == 1)",message="component names must be unique case-insensitively"
	Components []ComponentSpec `json:"components,omitempty"`

	// env is set in every component's main container; a component's own env wins.
	// +optional
	// +listType=map
	// +listMapKey=name
	Env []corev1.EnvVar `json:"env,omitempty"`

	// backendFramework is the inference engine of the workers. Immutable once set.
	// +optional
	// +kubebuilder:validation:Enum=sglang;vllm;trtllm
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.backendFramework is immutable"
	BackendFramework string `json:"backendFramework,omitempty"`

	// restart asks for a restart of the graph's pods when its id changes (set it on a running
	// graph; a new graph must not carry one): each component's pods are replaced, one
	// component after the other (Sequential, alphabetical unless strategy.order) or all at once
	// (Parallel); status.restart follows it (docs/operator.md#restart).
	// +optional
	Restart *Restart `json:"restart,omitempty"`

	// topologyConstraint is the graph's topology placement: the ClusterTopology that names the
	// domains, and the domain to pack every pod within.
	// +optional
	TopologyConstraint *SpecTopologyConstraint `json:"topologyConstraint,omitempty"`

	// experimental holds graph-level preview features (kvTransferPolicy, componentGroups).
	// Reported: not implemented.
	// +optional
	Experimental *GraphExperimentalSpec `json:"experimental,omitempty"`
}

// Restart requests a restart of the graph when ID changes.
//
// +kubebuilder:validation:XValidation:rule="!has(self.strategy) || !has(self.strategy.order) || !has(self.strategy.type) || self.strategy.type != 'Parallel'",message="spec.restart.strategy.order is not allowed with the Parallel strategy"
type Restart struct {
	// id is any string; changing it requests a restart.
	// +kubebuilder:validation:MinLength=1
	ID string `json:"id"`
	// strategy of the restart.
	// +optional
	Strategy *RestartStrategy `json:"strategy,omitempty"`
}

// RestartStrategy orders a restart.
type RestartStrategy struct {
	// type is Sequential (one component after the other) or Parallel.
	// +optional
	// +kubebuilder:validation:Enum=Sequential;Parallel
	// +kubebuilder:default=Sequential
	Type string `json:"type,omitempty"`
	// order of the components in a Sequential restart: every component once (the webhook
	// refuses another list).
	// +optional
	// +listType=set
	Order []string `json:"order,omitempty"`
}

// SpecTopologyConstraint is the graph-level topology constraint.
type SpecTopologyConstraint struct {
	// clusterTopologyName names the ClusterTopology that defines the domains (v1alpha1's
	// topologyProfile).
	// +kubebuilder:validation:MinLength=1
	ClusterTopologyName string `json:"clusterTopologyName"`
	// packDomain is the default domain to pack pods within.
	// +optional
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`
	PackDomain string `json:"packDomain,omitempty"`
}

// GraphExperimentalSpec holds graph-level preview features.
type GraphExperimentalSpec struct {
	// kvTransferPolicy routes KV-cache transfers between prefill and decode by topology.
	// +optional
	KvTransferPolicy *KvTransferPolicy `json:"kvTransferPolicy,omitempty"`
	// componentGroups scale several components together.
	// +optional
	// +listType=map
	// +listMapKey=name
	ComponentGroups []ComponentGroupSpec `json:"componentGroups,omitempty"`
}

// KvTransferPolicy is upstream's topology-aware KV transfer routing.
//
// +kubebuilder:validation:XValidation:rule="(has(self.labelKey) && !has(self.clusterTopologyName)) || (!has(self.labelKey) && has(self.clusterTopologyName))",message="exactly one of labelKey or clusterTopologyName is required"
// +kubebuilder:validation:XValidation:rule="!has(self.enforcement) || self.enforcement != 'preferred' || has(self.preferredWeight)",message="preferredWeight is required when enforcement is preferred"
// +kubebuilder:validation:XValidation:rule="!has(self.preferredWeight) || (has(self.enforcement) && self.enforcement == 'preferred')",message="preferredWeight may only be set when enforcement is preferred"
type KvTransferPolicy struct {
	// +optional
	// +kubebuilder:validation:MinLength=1
	ClusterTopologyName string `json:"clusterTopologyName,omitempty"`
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=317
	LabelKey string `json:"labelKey,omitempty"`
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`
	Domain string `json:"domain"`
	// +optional
	// +kubebuilder:default=required
	// +kubebuilder:validation:Enum=required;preferred
	Enforcement string `json:"enforcement,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1
	PreferredWeight *float64 `json:"preferredWeight,omitempty"`
}

// ComponentGroupSpec scales several components of the graph together.
type ComponentGroupSpec struct {
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	Replicas *int32 `json:"replicas,omitempty"`
	// +optional
	ScalingAdapter *ScalingAdapter `json:"scalingAdapter,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=name
	Components []ComponentGroupMember `json:"components,omitempty"`
}

// ComponentGroupMember names a component of a group.
type ComponentGroupMember struct {
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
}

// DynamoGraphDeploymentStatus is the observed state of the graph: upstream's v1beta1 status and
// dynamo-infra's own fields (readyComponents, topologyPlacement, and each component's reason,
// message and capacity).
type DynamoGraphDeploymentStatus struct {
	// observedGeneration is the generation whose spec was last applied.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// state sums the graph up: initializing, pending, successful or failed.
	// +optional
	// +kubebuilder:validation:Enum=initializing;pending;successful;failed
	State string `json:"state,omitempty"`
	// conditions; Ready is True when every component has its replicas ready.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// components reports replicas per component, by name.
	// +optional
	Components map[string]ComponentReplicaStatus `json:"components,omitempty"`
	// readyComponents is "<ready>/<total>": how many of the graph's components have all their
	// replicas ready (v1alpha1's readyServices). Not in upstream's status.
	// +optional
	ReadyComponents string `json:"readyComponents,omitempty"`
	// topologyPlacement records, for each topology constraint of the graph, where its pods run
	// (v1alpha1's placement; upstream's v1beta1 placement is a scheduler score, which the
	// operator does not write). Not in upstream's status.
	// +optional
	// +listType=atomic
	TopologyPlacement []TopologyPlacement `json:"topologyPlacement,omitempty"`

	// rollingUpdate is the progress of the managed rolling update of the workers (upstream's;
	// docs/rollout.md); restart the progress of spec.restart. checkpoints and placement are
	// upstream's too; dynamo-infra's operator does not write them (checkpoints and Grove
	// placement scores are not implemented) but keeps them, so a graph written by upstream's
	// operator reads back unchanged.
	// +optional
	Restart *RestartStatus `json:"restart,omitempty"`
	// +optional
	Checkpoints map[string]ComponentCheckpointStatus `json:"checkpoints,omitempty"`
	// +optional
	RollingUpdate *RollingUpdateStatus `json:"rollingUpdate,omitempty"`
	// +optional
	Placement *PlacementStatus `json:"placement,omitempty"`
}

// RestartStatus is the progress of a graph restart (upstream's).
type RestartStatus struct {
	// +optional
	ObservedID string `json:"observedID,omitempty"`
	// +optional
	Phase string `json:"phase,omitempty"`
	// +optional
	InProgress []string `json:"inProgress,omitempty"`
}

// ComponentCheckpointStatus is a component's checkpoint (upstream's).
type ComponentCheckpointStatus struct {
	// +optional
	CheckpointName string `json:"checkpointName,omitempty"`
	// +optional
	CheckpointID string `json:"checkpointID,omitempty"`
	// +optional
	IdentityHash string `json:"identityHash,omitempty"`
	// +optional
	Ready bool `json:"ready,omitempty"`
}

// RollingUpdateStatus is the progress of upstream's managed rolling update.
type RollingUpdateStatus struct {
	// +optional
	// +kubebuilder:validation:Enum=Pending;InProgress;Completed;Failed;""
	Phase string `json:"phase,omitempty"`
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// +optional
	EndTime *metav1.Time `json:"endTime,omitempty"`
	// +optional
	UpdatedComponents []string `json:"updatedComponents,omitempty"`
	// message says why a rollout in progress does not move (paused, held at its partition).
	// Not in upstream's status.
	// +optional
	Message string `json:"message,omitempty"`
}

// PlacementStatus is upstream's scheduler placement score.
type PlacementStatus struct {
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1
	Score *float64 `json:"score,omitempty"`
	// +optional
	// +kubebuilder:validation:Enum=Reported;Partial;Unsupported;Unknown
	State string `json:"state,omitempty"`
}

// TopologyPlacement is where the pods of one topology constraint run.
type TopologyPlacement struct {
	// component is the constrained component; empty for the graph's own constraint.
	// +optional
	Component string `json:"component,omitempty"`
	// domain is the packDomain; key the node label that names its domains.
	Domain string `json:"domain"`
	Key    string `json:"key"`
	// perGroup: a multi-node component, each replica's group packed on its own.
	// +optional
	PerGroup bool `json:"perGroup,omitempty"`
	// values are the domains (label values) the pods run in.
	// +optional
	Values []string `json:"values,omitempty"`
	// nodes are the nodes the pods run on.
	// +optional
	Nodes []string `json:"nodes,omitempty"`
	// unlabelled are nodes of the pods without the domain's label.
	// +optional
	Unlabelled []string `json:"unlabelled,omitempty"`
	// verified: the pods run in one domain (per group: each group's), on labelled nodes.
	Verified bool `json:"verified"`
}

// ComponentReplicaStatus counts one component's replicas as its workload reports them.
type ComponentReplicaStatus struct {
	// componentKind is the kind of the component's workload: Deployment, or LeaderWorkerSet for
	// a multi-node component.
	// +optional
	// +kubebuilder:validation:Enum=PodClique;PodCliqueScalingGroup;Deployment;LeaderWorkerSet
	ComponentKind string `json:"componentKind,omitempty"`
	// componentNames are the names of the component's workloads.
	// +optional
	ComponentNames []string `json:"componentNames,omitempty"`
	// runtimeNamespace is the component's Dynamo namespace.
	// +optional
	RuntimeNamespace string `json:"runtimeNamespace,omitempty"`
	// +kubebuilder:validation:Minimum=0
	Replicas int32 `json:"replicas"`
	// +kubebuilder:validation:Minimum=0
	UpdatedReplicas int32 `json:"updatedReplicas"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	ReadyReplicas *int32 `json:"readyReplicas,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	AvailableReplicas *int32 `json:"availableReplicas,omitempty"`
	// scheduledReplicas counts the component's replicas whose pods are bound to nodes.
	// +optional
	// +kubebuilder:validation:Minimum=0
	ScheduledReplicas *int32 `json:"scheduledReplicas,omitempty"`
	// reason says why the component is not ready, typed (see v1alpha1's services[].reason).
	// Not in upstream's status.
	// +optional
	Reason string `json:"reason,omitempty"`
	// message is the reason in one line. Not in upstream's status.
	// +optional
	Message string `json:"message,omitempty"`
	// capacity is set with reason insufficient_capacity (see v1alpha1). Not in upstream's
	// status.
	// +optional
	Capacity *ComponentCapacity `json:"capacity,omitempty"`
}

// ComponentCapacity is how much of the resource a component's pod is short of is free on the
// nodes it may use (v1alpha1's ServiceCapacity).
type ComponentCapacity struct {
	Resource          string `json:"resource"`
	PerPod            int64  `json:"perPod"`
	CandidateNodes    int32  `json:"candidateNodes"`
	NodesWithResource int32  `json:"nodesWithResource"`
	// +optional
	Product  string `json:"product,omitempty"`
	MostFree int64  `json:"mostFree"`
	// +optional
	MostFreeNode  string `json:"mostFreeNode,omitempty"`
	NodesWithRoom int32  `json:"nodesWithRoom"`
}
