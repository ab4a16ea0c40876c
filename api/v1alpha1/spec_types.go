package v1alpha1

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// The spec has the names and shapes of the original operator's nvidia.com/v1alpha1
// DynamoGraphDeployment, so its manifests apply unchanged. Fields whose behaviour dynamo-infra
// does not implement yet are admitted like the original admits them and then reported (see
// docs/api/dynamographdeployment.md): the graph's Ready condition names the field, and nothing
// is applied.

// DynamoGraphDeploymentSpec is the desired graph.
//
// +kubebuilder:validation:XValidation:rule="oldSelf.hasValue() || !has(self.restart)",message="spec.restart must be unset on create; set spec.restart.id after creation to request a restart",optionalOldSelf=true
type DynamoGraphDeploymentSpec struct {
	// Annotations are added to every child object and pod template; service annotations win.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
	// Labels are added to every child object and pod template; service labels win.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// PriorityClassName is the original's PriorityClass for Grove PodCliqueSets. Reported: there
	// is no Grove path here; set extraPodSpec.priorityClassName on services instead.
	// +optional
	PriorityClassName string `json:"priorityClassName,omitempty"`

	// PVCs the graph uses; those with create are created (and kept when the graph is deleted).
	// +optional
	// +kubebuilder:validation:MaxItems=100
	// +listType=map
	// +listMapKey=name
	PVCs []PVC `json:"pvcs,omitempty"`

	// Services of the graph by name (Frontend, VllmDecodeWorker, ...). Each becomes a Deployment
	// and a Service named <dgd>-<lowercased service name>.
	// +kubebuilder:validation:MinProperties=1
	// +kubebuilder:validation:MaxProperties=25
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$'))",message="service names must be alphanumeric with inner dashes (they become part of DNS names)"
	// +kubebuilder:validation:XValidation:rule="self.all(k, self.filter(j, j.lowerAscii() == k.lowerAscii()).size() == 1)",message="service names must differ in more than case (Frontend and FRONTEND would name the same child objects)"
	Services map[string]*ServiceSpec `json:"services"`

	// Envs are set in every service's main container; a service's own envs win.
	// +optional
	// +listType=map
	// +listMapKey=name
	Envs []corev1.EnvVar `json:"envs,omitempty"`

	// BackendFramework is the inference engine of the workers. Immutable once set.
	// +optional
	// +kubebuilder:validation:Enum=sglang;vllm;trtllm
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.backendFramework is immutable"
	BackendFramework string `json:"backendFramework,omitempty"`

	// Restart asks for a restart of the graph's pods when its id changes (set it on a running
	// graph; a new graph must not carry one): each service's pods are replaced, one service
	// after the other (Sequential, alphabetical unless strategy.order) or all at once
	// (Parallel); status.restart follows it (docs/operator.md#restart).
	// +optional
	Restart *Restart `json:"restart,omitempty"`

	// TopologyConstraint is the graph's topology placement: the profile of topology levels and
	// the domain every service's pods are packed in (docs/topology.md).
	// +optional
	TopologyConstraint *SpecTopologyConstraint `json:"topologyConstraint,omitempty"`
}

// Restart requests a restart of the graph when ID changes.
//
// +kubebuilder:validation:XValidation:rule="!has(self.strategy) || !has(self.strategy.order) || !has(self.strategy.type) || self.strategy.type != 'Parallel'",message="spec.restart.strategy.order is not allowed with the Parallel strategy"
type Restart struct {
	// ID is any string; changing it requests a restart.
	// +kubebuilder:validation:MinLength=1
	ID string `json:"id"`
	// Strategy of the restart.
	// +optional
	Strategy *RestartStrategy `json:"strategy,omitempty"`
}

// RestartStrategy orders a restart.
type RestartStrategy struct {
	// Type is Sequential (one service after the other) or Parallel.
	// +optional
	// +kubebuilder:validation:Enum=Sequential;Parallel
	// +kubebuilder:default=Sequential
	Type string `json:"type,omitempty"`
	// Order of the services in a Sequential restart: every service once (the webhook refuses
	// another list).
	// +optional
	// +listType=set
	Order []string `json:"order,omitempty"`
}

// SpecTopologyConstraint is the graph-level topology constraint of the original (Grove).
type SpecTopologyConstraint struct {
	// TopologyProfile names the ClusterTopology that defines the domains.
	// +kubebuilder:validation:MinLength=1
	TopologyProfile string `json:"topologyProfile"`
	// PackDomain is the default domain to pack pods within.
	// +optional
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`
	PackDomain string `json:"packDomain,omitempty"`
}

// TopologyConstraint is a service's topology constraint (Grove).
type TopologyConstraint struct {
	// PackDomain is the domain to pack the service's pods within.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`
	PackDomain string `json:"packDomain"`
}

// PVC is a persistent volume claim the graph mounts, created when Create is true.
//
// +kubebuilder:validation:XValidation:rule="!has(self.create) || !self.create || (has(self.storageClass) && has(self.size) && has(self.volumeAccessMode))",message="storageClass, size and volumeAccessMode are required when create is true"
type PVC struct {
	// Name of the claim.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`
	// Create the claim if it does not exist. A created claim is kept when the graph is deleted.
	// +optional
	Create *bool `json:"create,omitempty"`
	// StorageClass of a created claim.
	// +optional
	StorageClass string `json:"storageClass,omitempty"`
	// Size of a created claim.
	// +optional
	Size *resource.Quantity `json:"size,omitempty"`
	// VolumeAccessMode of a created claim.
	// +optional
	// +kubebuilder:validation:Enum=ReadWriteOnce;ReadOnlyMany;ReadWriteMany;ReadWriteOncePod
	VolumeAccessMode corev1.PersistentVolumeAccessMode `json:"volumeAccessMode,omitempty"`
}

// ServiceSpec is one service of the graph: the original's DynamoComponentDeploymentSharedSpec.
//
// +kubebuilder:validation:XValidation:rule="(has(self.componentType) && self.componentType == 'epp') || (has(self.extraPodSpec) && has(self.extraPodSpec.mainContainer) && has(self.extraPodSpec.mainContainer.image) && size(self.extraPodSpec.mainContainer.image) > 0)",message="extraPodSpec.mainContainer.image is required: every service needs an image"
// +kubebuilder:validation:XValidation:rule="!has(self.componentType) || self.componentType != 'epp' || ((!has(self.replicas) || self.replicas == 1) && has(self.eppConfig) && (has(self.eppConfig.configMapRef) != has(self.eppConfig.config)))",message="an epp service has exactly 1 replica and eppConfig with exactly one of configMapRef and config"
// +kubebuilder:validation:XValidation:rule="!has(self.failover) || !self.failover.enabled || (has(self.failover.mode) && self.failover.mode == 'interPod') || (has(self.gpuMemoryService) && self.gpuMemoryService.enabled)",message="failover.enabled requires gpuMemoryService.enabled (intraPod mode; interPod failover runs its own weight servers)"
// +kubebuilder:validation:XValidation:rule="!has(self.replicas) || !has(self.multinode) || self.replicas * self.multinode.nodeCount <= 150000",message="replicas × multinode.nodeCount must be at most 150000 pods (the most a Kubernetes cluster supports)"
type ServiceSpec struct {
	// Annotations are added to the service's child objects and pods.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
	// Labels are added to the service's child objects and pods.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// ServiceName is the original's component name field of a DynamoComponentDeployment;
	// ignored in a graph (the key under spec.services names the service).
	// +optional
	ServiceName string `json:"serviceName,omitempty"`
	// ComponentType is the role of the service: frontend, worker, prefill, decode, planner get
	// the original's defaults (command, ports, probes, env); epp runs the Gateway API Inference
	// Extension's Endpoint Picker with the graph's InferencePool (eppConfig); main, default or
	// none get only the common ones.
	// +optional
	// +kubebuilder:validation:Enum=frontend;worker;prefill;decode;planner;epp;main;default
	ComponentType string `json:"componentType,omitempty"`
	// SubComponentType is the worker's sub-role (prefill, decode); it labels the pods.
	// +optional
	SubComponentType string `json:"subComponentType,omitempty"`
	// DynamoNamespace is deprecated and ignored: the Dynamo namespace derives from the graph.
	// +optional
	DynamoNamespace *string `json:"dynamoNamespace,omitempty"`
	// GlobalDynamoNamespace puts the service in the global Dynamo namespace "dynamo".
	// +optional
	GlobalDynamoNamespace bool `json:"globalDynamoNamespace,omitempty"`
	// Resources of the main container; gpu becomes nvidia.com/gpu (or gpuType).
	// +optional
	Resources *Resources `json:"resources,omitempty"`
	// Autoscaling is deprecated and ignored, as by the original: scale with replicas.
	// +optional
	Autoscaling *Autoscaling `json:"autoscaling,omitempty"`
	// Envs of the main container; they win over spec.envs and extraPodSpec.mainContainer.env.
	// +optional
	// +listType=map
	// +listMapKey=name
	Envs []corev1.EnvVar `json:"envs,omitempty"`
	// EnvFromSecret names a Secret whose keys become environment variables.
	// +optional
	EnvFromSecret *string `json:"envFromSecret,omitempty"`
	// VolumeMounts mount PVCs into the main container.
	// +optional
	// +listType=map
	// +listMapKey=name
	VolumeMounts []VolumeMount `json:"volumeMounts,omitempty"`
	// Ingress exposes the service outside the cluster when enabled: an Ingress to its Service's
	// port 8000, or an Istio VirtualService with useVirtualService.
	// +optional
	Ingress *IngressSpec `json:"ingress,omitempty"`
	// ModelRef names the base model the service serves: its pods join the namespace's headless
	// Service of the model (dynamo-model-<hash>), where DynamoModels load LoRA adapters.
	// +optional
	ModelRef *ModelReference `json:"modelRef,omitempty"`
	// SharedMemory sizes /dev/shm (8Gi by default).
	// +optional
	SharedMemory *SharedMemory `json:"sharedMemory,omitempty"`
	// ExtraPodMetadata is added to the pods.
	// +optional
	ExtraPodMetadata *ExtraPodMetadata `json:"extraPodMetadata,omitempty"`
	// ExtraPodSpec is a pod spec merged over the rendered one, and mainContainer a container
	// merged over the main container.
	// +optional
	ExtraPodSpec *ExtraPodSpec `json:"extraPodSpec,omitempty"`
	// LivenessProbe replaces the default liveness probe of the component type.
	// +optional
	LivenessProbe *corev1.Probe `json:"livenessProbe,omitempty"`
	// ReadinessProbe replaces the default readiness probe of the component type.
	// +optional
	ReadinessProbe *corev1.Probe `json:"readinessProbe,omitempty"`
	// Replicas of the service's pods (default 1); at most 150000 (MaxPods), the most pods a
	// Kubernetes cluster supports (ours; the original has no maximum).
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=150000
	Replicas *int32 `json:"replicas,omitempty"`
	// Multinode spreads each replica over nodeCount nodes: the service runs as a
	// LeaderWorkerSet (sigs.k8s.io/lws) whose groups have nodeCount pods, each with the
	// service's resources, and the engine is launched across them (see docs/multinode.md).
	// +optional
	Multinode *MultinodeSpec `json:"multinode,omitempty"`
	// ScalingAdapter, when enabled, hands the service's replicas to a
	// DynamoGraphDeploymentScalingAdapter (<graph>-<service>, with /scale): kubectl scale, an
	// HPA or the planner scale the service through it.
	// +optional
	ScalingAdapter *ScalingAdapter `json:"scalingAdapter,omitempty"`
	// EPPConfig configures an Endpoint Picker (componentType epp): its EndpointPickerConfig,
	// inline (config) or in a ConfigMap key (configMapRef).
	// +optional
	EPPConfig *EPPConfig `json:"eppConfig,omitempty"`
	// FrontendSidecar adds upstream's generated frontend container (sidecar-frontend) to the
	// pods; its args replace the frontend's (-m dynamo.frontend).
	// +optional
	FrontendSidecar *FrontendSidecarSpec `json:"frontendSidecar,omitempty"`
	// Checkpoint restores pods from a checkpoint. Reported when enabled: not implemented.
	// +optional
	Checkpoint *ServiceCheckpointConfig `json:"checkpoint,omitempty"`
	// TopologyConstraint packs the service's pods in a topology domain (docs/topology.md).
	// +optional
	TopologyConstraint *TopologyConstraint `json:"topologyConstraint,omitempty"`
	// GPUMemoryService, when enabled in intraPod mode, shares the pod's GPUs through a DRA
	// claim and adds the gms-server sidecar; interPod mode is reported (not implemented).
	// +optional
	GPUMemoryService *GPUMemoryServiceSpec `json:"gpuMemoryService,omitempty"`
	// Failover, when enabled in intraPod mode, runs the main container as an active and a
	// standby engine (engine-0, engine-1) over the GPU Memory Service (vLLM, TRT-LLM); interPod mode
	// is reported (not implemented).
	// +optional
	Failover *FailoverSpec `json:"failover,omitempty"`
}

// Resources are requests and limits in the original's short form, and DRA claims.
type Resources struct {
	// +optional
	Requests *ResourceItem `json:"requests,omitempty"`
	// +optional
	Limits *ResourceItem `json:"limits,omitempty"`
	// Claims are DRA resource claims of the main container (by name, from
	// extraPodSpec.resourceClaims).
	// +optional
	// +listType=map
	// +listMapKey=name
	Claims []corev1.ResourceClaim `json:"claims,omitempty"`
}

// ResourceItem is one set of quantities; gpu is the number of GPUs of gpuType.
type ResourceItem struct {
	// +optional
	CPU *resource.Quantity `json:"cpu,omitempty"`
	// +optional
	Memory *resource.Quantity `json:"memory,omitempty"`
	// GPU is a whole number of GPUs, as a string ("1").
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9]+$`
	GPU string `json:"gpu,omitempty"`
	// GPUType is the resource name gpu counts (default nvidia.com/gpu; e.g. gpu.intel.com/xe).
	// +optional
	// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`
	GPUType string `json:"gpuType,omitempty"`
	// Custom resources by name (nvidia.com/mig-1g.10gb: "1").
	// +optional
	Custom map[string]resource.Quantity `json:"custom,omitempty"`
}

// Autoscaling is the original's deprecated, ignored autoscaling block.
type Autoscaling struct {
	// +optional
	Enabled bool `json:"enabled,omitempty"`
	// +optional
	MinReplicas int `json:"minReplicas,omitempty"`
	// +optional
	MaxReplicas int `json:"maxReplicas,omitempty"`
	// +optional
	Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
	// +optional
	Metrics []autoscalingv2.MetricSpec `json:"metrics,omitempty"`
}

// VolumeMount mounts a PVC into the main container.
//
// +kubebuilder:validation:XValidation:rule="has(self.mountPoint) || (has(self.useAsCompilationCache) && self.useAsCompilationCache)",message="mountPoint is required unless useAsCompilationCache is true"
type VolumeMount struct {
	// Name of the PVC (one of spec.pvcs, or an existing claim).
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// MountPoint is the absolute path in the main container; optional for a compilation cache
	// of a backend that has a default (vLLM: /root/.cache/vllm).
	// +optional
	// +kubebuilder:validation:Pattern=`^/`
	MountPoint string `json:"mountPoint,omitempty"`
	// UseAsCompilationCache makes the volume the backend's compilation cache (vLLM:
	// VLLM_CACHE_ROOT).
	// +optional
	// +kubebuilder:default=false
	UseAsCompilationCache bool `json:"useAsCompilationCache,omitempty"`
}

// SharedMemory configures /dev/shm.
//
// +kubebuilder:validation:XValidation:rule="!(has(self.disabled) && self.disabled && has(self.size))",message="sharedMemory.size must not be set when sharedMemory.disabled is true"
type SharedMemory struct {
	// Disabled leaves /dev/shm at the runtime's default.
	// +optional
	Disabled bool `json:"disabled,omitempty"`
	// Size of the in-memory /dev/shm volume (default 8Gi).
	// +optional
	Size *resource.Quantity `json:"size,omitempty"`
}

// ExtraPodMetadata is added to the pods' metadata.
type ExtraPodMetadata struct {
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// ExtraPodSpec is a full pod spec merged over the rendered one (fields it sets win, lists
// replace), plus the main container's overrides.
type ExtraPodSpec struct {
	// +optional
	*corev1.PodSpec `json:",inline"`
	// MainContainer is merged over the main container (fields it sets win; env merges by name).
	// +optional
	MainContainer *corev1.Container `json:"mainContainer,omitempty"`
}

// MultinodeSpec spreads each replica over several nodes.
type MultinodeSpec struct {
	// NodeCount is the number of nodes per replica: at least 2, at most 5000 (MaxNodes), the
	// most nodes a Kubernetes cluster supports (ours; the original has no maximum).
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=2
	// +kubebuilder:validation:Maximum=5000
	NodeCount int32 `json:"nodeCount"`
}

// IngressSpec is the original's ingress block.
type IngressSpec struct {
	// +optional
	Enabled bool `json:"enabled,omitempty"`
	// +optional
	Host string `json:"host,omitempty"`
	// +optional
	UseVirtualService bool `json:"useVirtualService,omitempty"`
	// +optional
	VirtualServiceGateway *string `json:"virtualServiceGateway,omitempty"`
	// +optional
	HostPrefix *string `json:"hostPrefix,omitempty"`
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// +optional
	TLS *IngressTLSSpec `json:"tls,omitempty"`
	// +optional
	HostSuffix *string `json:"hostSuffix,omitempty"`
	// +optional
	IngressControllerClassName *string `json:"ingressControllerClassName,omitempty"`
}

// IngressTLSSpec names the TLS Secret of an ingress.
type IngressTLSSpec struct {
	// +optional
	SecretName string `json:"secretName,omitempty"`
}

// ModelReference names a model.
type ModelReference struct {
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// +optional
	Revision string `json:"revision,omitempty"`
}

// ScalingAdapter hands a service's replicas to a DynamoGraphDeploymentScalingAdapter.
type ScalingAdapter struct {
	// +optional
	// +kubebuilder:default=false
	Enabled bool `json:"enabled,omitempty"`
}

// EPPConfig configures an Endpoint Picker Plugin service.
type EPPConfig struct {
	// ConfigMapRef names a ConfigMap key holding an EndpointPickerConfig.
	// +optional
	ConfigMapRef *corev1.ConfigMapKeySelector `json:"configMapRef,omitempty"`
	// Config is an EndpointPickerConfig inline.
	// +optional
	// +kubebuilder:validation:Type=object
	// +kubebuilder:pruning:PreserveUnknownFields
	Config *apiextensionsv1.JSON `json:"config,omitempty"`
}

// FrontendSidecarSpec is the original's generated frontend sidecar.
type FrontendSidecarSpec struct {
	// +kubebuilder:validation:MinLength=1
	Image string `json:"image"`
	// +optional
	Args []string `json:"args,omitempty"`
	// +optional
	EnvFromSecret *string `json:"envFromSecret,omitempty"`
	// +optional
	Envs []corev1.EnvVar `json:"envs,omitempty"`
}

// ServiceCheckpointConfig is the original's checkpoint block.
//
// +kubebuilder:validation:XValidation:rule="!has(self.enabled) || !self.enabled || (has(self.checkpointRef) && size(self.checkpointRef) > 0) || has(self.identity)",message="When enabled, either checkpointRef or identity must be specified"
type ServiceCheckpointConfig struct {
	// +optional
	// +kubebuilder:default=false
	Enabled bool `json:"enabled,omitempty"`
	// +optional
	// +kubebuilder:default=Auto
	// +kubebuilder:validation:Enum=Auto;Manual
	Mode string `json:"mode,omitempty"`
	// +optional
	CheckpointRef *string `json:"checkpointRef,omitempty"`
	// Identity of the checkpoint (model, backendFramework, ...).
	// +optional
	// +kubebuilder:validation:Type=object
	// +kubebuilder:pruning:PreserveUnknownFields
	Identity *apiextensionsv1.JSON `json:"identity,omitempty"`
}

// GPUMemoryServiceSpec is the original's GPU Memory Service block.
type GPUMemoryServiceSpec struct {
	Enabled bool `json:"enabled"`
	// +optional
	// +kubebuilder:default=intraPod
	// +kubebuilder:validation:Enum=intraPod;interPod
	Mode string `json:"mode,omitempty"`
	// +optional
	// +kubebuilder:default="gpu.nvidia.com"
	DeviceClassName string `json:"deviceClassName,omitempty"`
}

// FailoverSpec is the original's active/standby failover block.
type FailoverSpec struct {
	Enabled bool `json:"enabled"`
	// +optional
	// +kubebuilder:default=intraPod
	// +kubebuilder:validation:Enum=intraPod;interPod
	Mode string `json:"mode,omitempty"`
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1
	NumShadows int32 `json:"numShadows,omitempty"`
}
