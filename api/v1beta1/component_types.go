package v1beta1

import (
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// MainContainerName is the container of a component's podTemplate that runs the engine: the
// operator lays its defaults (command, env, ports, probes) under it, as upstream does. A
// component without one gets it generated.
const MainContainerName = "main"

// FrontendSidecarDefaultName is the container name v1alpha1's frontendSidecar becomes.
const FrontendSidecarDefaultName = "sidecar-frontend"

// ComponentSpec is one component of the graph: upstream's v1beta1
// DynamoComponentDeploymentSharedSpec. Upstream's webhook-only rules (a main container with an
// image, frontendSidecar naming a container) walk the pod's containers, which the CRD's CEL
// cost budget cannot (a pod's container list is unbounded): Validate holds them.
//
// +kubebuilder:validation:XValidation:rule="!has(self.eppConfig) || (has(self.type) && self.type == 'epp')",message="eppConfig may only be set when type is epp"
// +kubebuilder:validation:XValidation:rule="!has(self.minAvailable) || !has(self.replicas) || self.minAvailable <= self.replicas",message="minAvailable must not exceed replicas"
// +kubebuilder:validation:XValidation:rule="!has(self.roles) || (self.roles.exists_one(r, r.name == 'leader') && self.roles.exists_one(r, r.name == 'worker') && size(self.roles) == 2)",message="roles: exactly one leader and one worker"
// +kubebuilder:validation:XValidation:rule="!has(self.replicas) || !has(self.multinode) || self.replicas * self.multinode.nodeCount <= 150000",message="replicas × multinode.nodeCount must be at most 150000 pods (the most a Kubernetes cluster supports)"
type ComponentSpec struct {
	// name identifies the component in the graph; child objects are named <dgd>-<lowercased
	// name> (v1alpha1: the key under spec.services).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$`
	Name string `json:"name"`
	// type is the role of the component: frontend, worker, prefill, decode, planner get
	// upstream's defaults (command, ports, probes, env); epp runs the Gateway API Inference
	// Extension's Endpoint Picker with the graph's InferencePool (eppConfig).
	// prefill and decode are v1alpha1's worker with subComponentType prefill or decode.
	// Immutable.
	// +optional
	// +kubebuilder:validation:Enum=frontend;worker;prefill;decode;planner;epp
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="type is immutable"
	Type string `json:"type,omitempty"`
	// runtimeVersionOverride is the Dynamo runtime version of the component's image, for
	// upstream's version-skew checks. Kept, not used.
	// +optional
	// +kubebuilder:validation:Pattern=`^(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})$`
	RuntimeVersionOverride string `json:"runtimeVersionOverride,omitempty"`
	// globalDynamoNamespace puts the component in the global Dynamo namespace "dynamo".
	// +optional
	GlobalDynamoNamespace bool `json:"globalDynamoNamespace,omitempty"`

	// podTemplate is the component's pod: the container named main runs the engine and gets
	// the operator's defaults under the fields it sets; other containers are the user's
	// sidecars, taken as they are.
	// +optional
	PodTemplate *corev1.PodTemplateSpec `json:"podTemplate,omitempty"`

	// replicas of the component (default 1); at most 150000.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=150000
	Replicas *int32 `json:"replicas,omitempty"`
	// minAvailable is upstream's gang minimum (replicas scheduled together). Reported: not
	// implemented. Immutable.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="minAvailable is immutable"
	MinAvailable *int32 `json:"minAvailable,omitempty"`
	// multinode spreads each replica over nodeCount nodes (a LeaderWorkerSet).
	// +optional
	Multinode *MultinodeSpec `json:"multinode,omitempty"`
	// roles name the pod roles of a multinode component (leader and worker). Reported when a
	// role sets more than its name and replicas.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=2
	Roles []ComponentRoleSpec `json:"roles,omitempty"`
	// providerOverride is a sparse fragment of the provider's resource (Grove). Reported.
	// +optional
	ProviderOverride *ProviderOverride `json:"providerOverride,omitempty"`

	// sharedMemorySize sizes /dev/shm: unset is 8Gi, "0" disables the volume.
	// +optional
	SharedMemorySize *resource.Quantity `json:"sharedMemorySize,omitempty"`
	// modelRef names the base model the component serves: its pods join the namespace's
	// headless Service of the model, where DynamoModels load LoRA adapters.
	// +optional
	ModelRef *ModelReference `json:"modelRef,omitempty"`
	// scalingAdapter, present (even {}), hands replicas to a DynamoGraphDeploymentScalingAdapter
	// (kubectl scale, an HPA, the planner).
	// +optional
	ScalingAdapter *ScalingAdapter `json:"scalingAdapter,omitempty"`
	// eppConfig configures an Endpoint Picker (type epp): its EndpointPickerConfig, inline or in
	// a ConfigMap key.
	// +optional
	EPPConfig *EPPConfig `json:"eppConfig,omitempty"`
	// frontendSidecar names the container of podTemplate that runs a frontend beside main; it
	// gets upstream's frontend defaults (command, port, probes, Dynamo env).
	// +optional
	FrontendSidecar *string `json:"frontendSidecar,omitempty"`
	// compilationCache mounts a PVC as the backend's compilation cache (vLLM:
	// /root/.cache/vllm unless mountPath is given).
	// +optional
	CompilationCache *CompilationCacheConfig `json:"compilationCache,omitempty"`
	// topologyConstraint packs the component's pods in a topology domain.
	// +optional
	TopologyConstraint *TopologyConstraint `json:"topologyConstraint,omitempty"`
	// experimental holds preview features: gpuMemoryService and failover (intraPod mode
	// implemented; interPod reported), grove, checkpoint (reported: not implemented).
	// +optional
	Experimental *ExperimentalSpec `json:"experimental,omitempty"`
}

// ProviderOverride is a sparse fragment of a provider's resource.
type ProviderOverride struct {
	// +kubebuilder:validation:MinLength=1
	APIVersion string `json:"apiVersion"`
	// +optional
	Target string `json:"target,omitempty"`
	// +kubebuilder:validation:Type=object
	// +kubebuilder:pruning:PreserveUnknownFields
	Value apiextensionsv1.JSON `json:"value"`
}

// ComponentRoleSpec is one pod role of a compound component.
type ComponentRoleSpec struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`
	// +optional
	// +kubebuilder:validation:Minimum=1
	Replicas *int32 `json:"replicas,omitempty"`
	// +optional
	ProviderOverride *ProviderOverride `json:"providerOverride,omitempty"`
	// +optional
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	// +kubebuilder:pruning:PreserveUnknownFields
	PodTemplate *corev1.PodTemplateSpec `json:"podTemplate,omitempty"`
}

// MultinodeSpec spreads each replica over several nodes.
type MultinodeSpec struct {
	// nodeCount is the number of nodes per replica: at least 2, at most 5000.
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=2
	// +kubebuilder:validation:Maximum=5000
	NodeCount int32 `json:"nodeCount"`
}

// ModelReference names a model.
type ModelReference struct {
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// +optional
	Revision string `json:"revision,omitempty"`
}

// ScalingAdapter is a presence marker: set, a scaling adapter owns the component's replicas.
type ScalingAdapter struct{}

// EPPConfig configures an Endpoint Picker Plugin component.
//
// +kubebuilder:validation:XValidation:rule="has(self.configMapRef) != has(self.config)",message="exactly one of configMapRef or config must be specified"
type EPPConfig struct {
	// +optional
	ConfigMapRef *corev1.ConfigMapKeySelector `json:"configMapRef,omitempty"`
	// +optional
	// +kubebuilder:validation:Type=object
	// +kubebuilder:pruning:PreserveUnknownFields
	Config *apiextensionsv1.JSON `json:"config,omitempty"`
}

// CompilationCacheConfig mounts a PVC as the backend's compilation cache.
type CompilationCacheConfig struct {
	// +kubebuilder:validation:MinLength=1
	PVCName string `json:"pvcName"`
	// +optional
	// +kubebuilder:validation:Pattern=`^/`
	MountPath string `json:"mountPath,omitempty"`
}

// TopologyConstraint packs a component's pods in a topology domain.
type TopologyConstraint struct {
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`
	PackDomain string `json:"packDomain"`
}

// ExperimentalSpec holds a component's preview features.
//
// +kubebuilder:validation:XValidation:rule="!has(self.failover) || has(self.gpuMemoryService)",message="failover requires gpuMemoryService"
// +kubebuilder:validation:XValidation:rule="!has(self.failover) || !has(self.gpuMemoryService) || !has(self.failover.mode) || !has(self.gpuMemoryService.mode) || self.failover.mode == self.gpuMemoryService.mode",message="failover.mode must match gpuMemoryService.mode"
type ExperimentalSpec struct {
	// +optional
	GPUMemoryService *GPUMemoryServiceSpec `json:"gpuMemoryService,omitempty"`
	// +optional
	Failover *FailoverSpec `json:"failover,omitempty"`
	// +optional
	Grove *GroveSpec `json:"grove,omitempty"`
	// +optional
	Checkpoint *ComponentCheckpointConfig `json:"checkpoint,omitempty"`
}

// GPUMemoryServiceSpec is upstream's GPU Memory Service (presence opts in).
//
// +kubebuilder:validation:XValidation:rule="!has(self.extraClientContainers) || size(self.extraClientContainers) == 0 || self.mode == 'IntraPod'",message="extraClientContainers is only supported with mode=IntraPod"
// +kubebuilder:validation:XValidation:rule="!has(self.extraClientPods) || size(self.extraClientPods) == 0",message="extraClientPods is reserved for inter-pod GMS and is not implemented yet"
type GPUMemoryServiceSpec struct {
	// +optional
	// +kubebuilder:default=IntraPod
	// +kubebuilder:validation:Enum=IntraPod;InterPod
	Mode string `json:"mode,omitempty"`
	// +optional
	// +kubebuilder:default="gpu.nvidia.com"
	DeviceClassName string `json:"deviceClassName,omitempty"`
	// +optional
	// +listType=set
	ExtraClientContainers []string `json:"extraClientContainers,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=name
	ExtraClientPods []GMSClientPodSpec `json:"extraClientPods,omitempty"`
}

// GMSClientPodSpec is an extra GMS client pod (reserved upstream; refused).
type GMSClientPodSpec struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	// +kubebuilder:pruning:PreserveUnknownFields
	PodTemplate corev1.PodTemplateSpec `json:"podTemplate"`
}

// FailoverSpec is upstream's active/standby failover (presence opts in).
type FailoverSpec struct {
	// +optional
	// +kubebuilder:default=IntraPod
	// +kubebuilder:validation:Enum=IntraPod;InterPod
	Mode string `json:"mode,omitempty"`
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1
	NumShadows int32 `json:"numShadows,omitempty"`
}

// GroveSpec holds upstream's Grove rendering options.
type GroveSpec struct {
	// +optional
	ForceScalingGroup *bool `json:"forceScalingGroup,omitempty"`
}

// ComponentCheckpointConfig is upstream's checkpoint block.
//
// +kubebuilder:validation:XValidation:rule="!has(self.job) || !has(self.checkpointRef) || size(self.checkpointRef) == 0",message="checkpoint.job cannot be set when checkpointRef is specified"
type ComponentCheckpointConfig struct {
	Enabled bool `json:"enabled"`
	// +optional
	// +kubebuilder:validation:Enum=Auto;Manual
	Mode string `json:"mode,omitempty"`
	// +optional
	// +kubebuilder:validation:Enum=Immediate;WaitForCheckpoint
	StartupPolicy string `json:"startupPolicy,omitempty"`
	// +optional
	// +kubebuilder:validation:Enum=Delete;Retain
	DeletionPolicy string `json:"deletionPolicy,omitempty"`
	// +optional
	CheckpointRef *string `json:"checkpointRef,omitempty"`
	// +optional
	// +kubebuilder:validation:Type=object
	// +kubebuilder:pruning:PreserveUnknownFields
	Identity *apiextensionsv1.JSON `json:"identity,omitempty"`
	// +optional
	TargetContainerName string `json:"targetContainerName,omitempty"`
	// +optional
	// +kubebuilder:validation:Type=object
	// +kubebuilder:pruning:PreserveUnknownFields
	Job *apiextensionsv1.JSON `json:"job,omitempty"`
}
