package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DynamoGraphDeployment deploys an inference graph — a frontend and its workers (prefill,
// decode, ...) — as one unit: a Deployment and a Service per service, with parameters (NATS,
// etcd, discovery) injected and GPUs requested.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:deprecatedversion:warning="nvidia.com/v1alpha1 DynamoGraphDeployment is deprecated; use nvidia.com/v1beta1 (dynamoctl convert -f FILE --to v1beta1)"
// +kubebuilder:resource:shortName=dgd,categories=dynamo
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="Services",type=string,JSONPath=`.status.readyServices`,description="services with all replicas ready / services"
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Backend",type=string,JSONPath=`.spec.backendFramework`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 40",message="metadata.name: at most 40 characters, so that every child name <name>-<service> is a valid DNS label"
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name: lowercase letters, digits and dashes, starting with a letter (no dots): Services are named after the graph"
// +kubebuilder:validation:XValidation:rule="self.spec.services.all(s, size(self.metadata.name) + 1 + size(s) <= 63)",message="spec.services: the DGD name, a dash and each service name must fit in 63 characters (child objects are named <dgd>-<service>)"
// +kubebuilder:validation:XValidation:rule="self.spec.services.all(s, !has(self.spec.services[s].multinode) || size(self.metadata.name) + 1 + size(s) <= 45)",message="spec.services: for a multinode service the DGD name, a dash and the service name must fit in 45 characters (its LeaderWorkerSet's pods and StatefulSets add suffixes to <dgd>-<service>)"
type DynamoGraphDeployment struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   DynamoGraphDeploymentSpec   `json:"spec"`
	Status DynamoGraphDeploymentStatus `json:"status,omitempty"`
}

// DynamoGraphDeploymentList is a list of DynamoGraphDeployments.
//
// +kubebuilder:object:root=true
type DynamoGraphDeploymentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DynamoGraphDeployment `json:"items"`
}

// DynamoGraphDeploymentStatus is the observed state of the graph.
type DynamoGraphDeploymentStatus struct {
	// ObservedGeneration is the generation whose spec was last applied.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// State sums the graph up: initializing, pending, successful or failed.
	// +optional
	// +kubebuilder:validation:Enum=initializing;pending;successful;failed
	State string `json:"state,omitempty"`
	// Conditions; Ready is True when every service has its replicas ready.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Services reports replicas per service.
	// +optional
	Services map[string]ServiceReplicaStatus `json:"services,omitempty"`
	// ReadyServices is "<ready>/<total>": how many of the graph's services have all their
	// replicas ready (kubectl get dgd and dynamoctl get dgd show it). Not in upstream's status.
	// +optional
	ReadyServices string `json:"readyServices,omitempty"`
	// Placement records, for each topology constraint of the graph, where its pods run: the
	// domain's node label, its values and the nodes (PlacementVerified sums it up). Not in
	// upstream's status (Grove reports topology on its own objects).
	// +optional
	// +listType=atomic
	Placement []TopologyPlacement `json:"placement,omitempty"`
	// RollingUpdate is the progress of the managed rolling update of the graph's workers (the
	// original's field): a worker spec change rolls every worker service to a new generation.
	// +optional
	RollingUpdate *RollingUpdateStatus `json:"rollingUpdate,omitempty"`
	// Restart is the progress of the restart spec.restart asks for (the original's field).
	// +optional
	Restart *RestartStatus `json:"restart,omitempty"`
}

// RestartStatus is the progress of a graph restart (docs/operator.md#restart).
type RestartStatus struct {
	// ObservedID is the spec.restart.id being (or last) carried out.
	// +optional
	ObservedID string `json:"observedID,omitempty"`
	// Phase is Restarting (pods are replaced), Completed, Superseded (a worker rolling update
	// was in flight when the id changed: the rollout replaces the workers' pods instead) or
	// Failed.
	// +optional
	// +kubebuilder:validation:Enum=Pending;Restarting;Completed;Failed;Superseded
	Phase string `json:"phase,omitempty"`
	// InProgress are the services being restarted now: one at a time (Sequential) or every
	// one not yet done (Parallel).
	// +optional
	// +listType=atomic
	InProgress []string `json:"inProgress,omitempty"`
}

// Restart phases (the original's).
const (
	RestartPhasePending    = "Pending"
	RestartPhaseRestarting = "Restarting"
	RestartPhaseCompleted  = "Completed"
	RestartPhaseFailed     = "Failed"
	RestartPhaseSuperseded = "Superseded"
)

// Restart strategies.
const (
	RestartStrategySequential = "Sequential"
	RestartStrategyParallel   = "Parallel"
)

// RollingUpdateStatus is the progress of a managed rolling update (docs/rollout.md).
type RollingUpdateStatus struct {
	// Phase is Pending (a worker change was seen), InProgress (the new generation comes up and
	// the old one goes down) or Completed (the old generation is deleted).
	// +optional
	// +kubebuilder:validation:Enum=Pending;InProgress;Completed;Failed;""
	Phase string `json:"phase,omitempty"`
	// StartTime is when the rolling update began; EndTime when it completed.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// +optional
	EndTime *metav1.Time `json:"endTime,omitempty"`
	// UpdatedServices are the worker services whose new generation has every replica ready
	// and whose old one none.
	// +optional
	// +listType=atomic
	UpdatedServices []string `json:"updatedServices,omitempty"`
	// Message says why a rollout in progress does not move (paused, held at its partition, a
	// partition that cannot be read). Not in upstream's status.
	// +optional
	Message string `json:"message,omitempty"`
}

// TopologyPlacement is where the pods of one topology constraint run.
type TopologyPlacement struct {
	// Service is the constrained service; empty for the graph's own constraint (all its pods).
	// +optional
	Service string `json:"service,omitempty"`
	// Domain is the packDomain; Key the node label that names its domains.
	Domain string `json:"domain"`
	Key    string `json:"key"`
	// PerGroup: a multi-node service, each replica's group packed on its own.
	// +optional
	PerGroup bool `json:"perGroup,omitempty"`
	// Values are the domains (label values) the pods run in.
	// +optional
	Values []string `json:"values,omitempty"`
	// Nodes are the nodes the pods run on.
	// +optional
	Nodes []string `json:"nodes,omitempty"`
	// Unlabelled are nodes of the pods without the domain's label.
	// +optional
	Unlabelled []string `json:"unlabelled,omitempty"`
	// Verified: the pods run in one domain (per group: each group's), on labelled nodes.
	Verified bool `json:"verified"`
}

// ServiceReplicaStatus counts one service's replicas as its Deployment reports them (or its
// LeaderWorkerSet, in groups).
type ServiceReplicaStatus struct {
	// ComponentKind is the kind of the service's workload, as upstream reports it: Deployment,
	// or LeaderWorkerSet for a multi-node service.
	// +optional
	// +kubebuilder:validation:Enum=PodClique;PodCliqueScalingGroup;Deployment;LeaderWorkerSet
	ComponentKind string `json:"componentKind,omitempty"`
	// ComponentName is the name of the service's workload (deprecated upstream for
	// componentNames; both are set).
	// +optional
	ComponentName string `json:"componentName,omitempty"`
	// ComponentNames are the names of the service's workloads.
	// +optional
	ComponentNames []string `json:"componentNames,omitempty"`
	// RuntimeNamespace is the service's Dynamo namespace (upstream's field).
	// +optional
	RuntimeNamespace  string `json:"runtimeNamespace,omitempty"`
	Replicas          int32  `json:"replicas"`
	UpdatedReplicas   int32  `json:"updatedReplicas"`
	ReadyReplicas     int32  `json:"readyReplicas"`
	AvailableReplicas int32  `json:"availableReplicas"`
	// ScheduledReplicas counts the service's pods bound to a node (not in upstream's status).
	// +optional
	ScheduledReplicas int32 `json:"scheduledReplicas,omitempty"`
	// Reason says why the service is not ready, typed (not in upstream's status; upstream's
	// strings where it has them): insufficient_capacity, unschedulable, image_pull, crash_loop,
	// probe_failing, pods_not_created, progress_deadline, pending_pvc, missing_pvc, updating, pods_not_ready,
	// not_created. Empty when ready.
	// +optional
	Reason string `json:"reason,omitempty"`
	// Message is the reason in one line: the scheduler's, kubelet's or controller's words.
	// +optional
	Message string `json:"message,omitempty"`
	// Capacity is set with reason insufficient_capacity when the pod is short of an NVIDIA
	// resource and the operator could read the nodes: what one pod needs and the most free
	// on a node it may use (not in upstream's status).
	// +optional
	Capacity *ServiceCapacity `json:"capacity,omitempty"`
}

// ServiceCapacity is how much of the resource a service's pod is short of is free on the
// nodes it may use, from the operator's view of the nodes and their pods' NVIDIA requests
// (read at most once a minute while a graph is short; see docs/operator.md).
type ServiceCapacity struct {
	// Resource is the resource the scheduler found short (an NVIDIA one first).
	Resource string `json:"resource"`
	// PerPod is what one pod requests of Resource.
	PerPod int64 `json:"perPod"`
	// CandidateNodes counts the nodes the pod may use: Ready, not cordoned, matching its node
	// selector and required affinity, taints tolerated.
	CandidateNodes int32 `json:"candidateNodes"`
	// NodesWithResource counts the candidates that have Resource at all.
	NodesWithResource int32 `json:"nodesWithResource"`
	// Product is the GPU product every one of them has (empty when they differ).
	// +optional
	Product string `json:"product,omitempty"`
	// MostFree is the most of Resource free on one candidate, on MostFreeNode.
	MostFree int64 `json:"mostFree"`
	// +optional
	MostFreeNode string `json:"mostFreeNode,omitempty"`
	// NodesWithRoom counts the candidates with PerPod free (above 0 only when the view is
	// newer than the scheduler's last attempt, or for a group of pods on distinct nodes).
	NodesWithRoom int32 `json:"nodesWithRoom"`
}
