package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DynamoGraphDeployment deploys an inference graph — a frontend and its workers (prefill,
// decode, ...) — as one unit: a Deployment and a Service per service, with parameters (NATS,
// etcd, discovery) injected and GPUs requested.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=dgd,categories=dynamo
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="Backend",type=string,JSONPath=`.spec.backendFramework`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 40",message="metadata.name: at most 40 characters, so that every child name <name>-<service> is a valid DNS label"
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name: lowercase letters, digits and dashes, starting with a letter (no dots): Services are named after the graph"
// +kubebuilder:validation:XValidation:rule="self.spec.services.all(s, size(self.metadata.name) + 1 + size(s) <= 63)",message="spec.services: the DGD name, a dash and each service name must fit in 63 characters (child objects are named <dgd>-<service>)"
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

// DynamoGraphDeploymentSpec is the desired graph.
//
// +kubebuilder:validation:XValidation:rule="!has(self.restart)",message="spec.restart is not supported by dynamo-infra yet (restart orchestration); remove it"
// +kubebuilder:validation:XValidation:rule="!has(self.topologyConstraint)",message="spec.topologyConstraint is not supported by dynamo-infra yet (Grove topology-aware scheduling); remove it"
type DynamoGraphDeploymentSpec struct {
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

	// PVCs the graph uses; those with create are created (and kept when the graph is deleted).
	// +optional
	// +kubebuilder:validation:MaxItems=100
	// +listType=map
	// +listMapKey=name
	PVCs []PVC `json:"pvcs,omitempty"`

	// BackendFramework is the inference engine of the workers. Immutable once set.
	// +optional
	// +kubebuilder:validation:Enum=sglang;vllm;trtllm
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.backendFramework is immutable"
	BackendFramework string `json:"backendFramework,omitempty"`

	// Labels are added to every child object; service labels win.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations are added to every child object; service annotations win.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`

	// Restart is accepted by the original operator; dynamo-infra refuses it until implemented.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	Restart *apiextensionsv1.JSON `json:"restart,omitempty"`
	// TopologyConstraint is accepted by the original operator; refused until implemented.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	TopologyConstraint *apiextensionsv1.JSON `json:"topologyConstraint,omitempty"`
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

// ServiceSpec is one service of the graph.
//
// +kubebuilder:validation:XValidation:rule="!has(self.multinode)",message="multinode is not supported by dynamo-infra yet (Grove/LWS multi-node workers); remove it"
// +kubebuilder:validation:XValidation:rule="!has(self.ingress)",message="ingress is not supported by dynamo-infra yet; expose the frontend Service with your own Ingress or Gateway"
// +kubebuilder:validation:XValidation:rule="!has(self.scalingAdapter)",message="scalingAdapter is not supported by dynamo-infra yet (planner scaling adapters); remove it"
// +kubebuilder:validation:XValidation:rule="!has(self.checkpoint)",message="checkpoint is not supported by dynamo-infra yet; remove it"
// +kubebuilder:validation:XValidation:rule="!has(self.autoscaling)",message="autoscaling is not supported (the original ignores it too); use an HPA on the Deployment"
// +kubebuilder:validation:XValidation:rule="has(self.extraPodSpec) && has(self.extraPodSpec.mainContainer) && has(self.extraPodSpec.mainContainer.image) && size(self.extraPodSpec.mainContainer.image) > 0",message="extraPodSpec.mainContainer.image is required: every service needs an image"
type ServiceSpec struct {
	// ComponentType is the role of the service.
	// +optional
	// +kubebuilder:default=default
	// +kubebuilder:validation:Enum=frontend;worker;prefill;decode;planner;default
	ComponentType string `json:"componentType,omitempty"`
	// Replicas of the service's pods.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Replicas *int32 `json:"replicas,omitempty"`
	// Resources of the main container; gpu becomes nvidia.com/gpu.
	// +optional
	Resources *Resources `json:"resources,omitempty"`
	// Envs of the main container; they win over spec.envs.
	// +optional
	// +listType=map
	// +listMapKey=name
	Envs []corev1.EnvVar `json:"envs,omitempty"`
	// EnvFromSecret names a Secret whose keys become environment variables.
	// +optional
	EnvFromSecret *string `json:"envFromSecret,omitempty"`
	// VolumeMounts mount spec.pvcs into the main container.
	// +optional
	// +listType=map
	// +listMapKey=name
	VolumeMounts []VolumeMount `json:"volumeMounts,omitempty"`
	// SharedMemory sizes /dev/shm (8Gi by default).
	// +optional
	SharedMemory *SharedMemory `json:"sharedMemory,omitempty"`
	// ExtraPodMetadata is added to the pods.
	// +optional
	ExtraPodMetadata *ExtraPodMetadata `json:"extraPodMetadata,omitempty"`
	// ExtraPodSpec is merged into the pod spec; mainContainer into the main container.
	// +optional
	ExtraPodSpec *ExtraPodSpec `json:"extraPodSpec,omitempty"`
	// LivenessProbe replaces the default liveness probe of the component type.
	// +optional
	LivenessProbe *corev1.Probe `json:"livenessProbe,omitempty"`
	// ReadinessProbe replaces the default readiness probe of the component type.
	// +optional
	ReadinessProbe *corev1.Probe `json:"readinessProbe,omitempty"`
	// Labels are added to the service's child objects and pods.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations are added to the service's child objects and pods.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
	// DynamoNamespace is deprecated and ignored: the Dynamo namespace derives from the graph.
	// +optional
	DynamoNamespace *string `json:"dynamoNamespace,omitempty"`

	// Fields of the original refused until implemented (see the validation messages).
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	Multinode *apiextensionsv1.JSON `json:"multinode,omitempty"`
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	Ingress *apiextensionsv1.JSON `json:"ingress,omitempty"`
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	ScalingAdapter *apiextensionsv1.JSON `json:"scalingAdapter,omitempty"`
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	Checkpoint *apiextensionsv1.JSON `json:"checkpoint,omitempty"`
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	Autoscaling *apiextensionsv1.JSON `json:"autoscaling,omitempty"`
}

// Resources are requests and limits in the original's short form.
type Resources struct {
	// +optional
	Requests *ResourceItem `json:"requests,omitempty"`
	// +optional
	Limits *ResourceItem `json:"limits,omitempty"`
}

// ResourceItem is one set of quantities; gpu is the number of nvidia.com/gpu.
type ResourceItem struct {
	// +optional
	CPU *resource.Quantity `json:"cpu,omitempty"`
	// +optional
	Memory *resource.Quantity `json:"memory,omitempty"`
	// GPU is a whole number of GPUs, as a string ("1").
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9]+$`
	GPU string `json:"gpu,omitempty"`
	// Custom resources by name (nvidia.com/mig-1g.10gb: "1").
	// +optional
	Custom map[string]resource.Quantity `json:"custom,omitempty"`
}

// VolumeMount mounts a PVC of spec.pvcs.
type VolumeMount struct {
	// Name of a PVC in spec.pvcs.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// MountPoint is the absolute path in the main container.
	// +kubebuilder:validation:Pattern=`^/`
	MountPoint string `json:"mountPoint"`
}

// SharedMemory configures /dev/shm.
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

// ExtraPodSpec holds the pod-spec fields a service may set, and its main container. Fields not
// listed here are refused (unknown field) rather than silently dropped.
type ExtraPodSpec struct {
	// MainContainer is merged into the container named main.
	// +optional
	MainContainer *MainContainer `json:"mainContainer,omitempty"`
	// Containers are sidecars added next to main.
	// +optional
	Containers []corev1.Container `json:"containers,omitempty"`
	// +optional
	InitContainers []corev1.Container `json:"initContainers,omitempty"`
	// +optional
	Volumes []corev1.Volume `json:"volumes,omitempty"`
	// +optional
	TerminationGracePeriodSeconds *int64 `json:"terminationGracePeriodSeconds,omitempty"`
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// Affinity replaces the default GPU-node affinity when set.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`
	// Tolerations are added to the default nvidia.com/gpu toleration of GPU services.
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
	// +optional
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
	// +optional
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`
	// +optional
	SecurityContext *corev1.PodSecurityContext `json:"securityContext,omitempty"`
	// +optional
	PriorityClassName string `json:"priorityClassName,omitempty"`
	// +optional
	SchedulerName string `json:"schedulerName,omitempty"`
	// +optional
	RuntimeClassName *string `json:"runtimeClassName,omitempty"`
	// +optional
	HostIPC bool `json:"hostIPC,omitempty"`
	// +optional
	DNSPolicy corev1.DNSPolicy `json:"dnsPolicy,omitempty"`
}

// MainContainer is what a service sets of its main container (always named main). The image is
// required (validated on the service).
type MainContainer struct {
	// +optional
	Image string `json:"image,omitempty"`
	// +optional
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`
	// +optional
	Command []string `json:"command,omitempty"`
	// +optional
	Args []string `json:"args,omitempty"`
	// +optional
	WorkingDir string `json:"workingDir,omitempty"`
	// Env is added after the injected and graph/service envs (it wins over both).
	// +optional
	Env []corev1.EnvVar `json:"env,omitempty"`
	// +optional
	EnvFrom []corev1.EnvFromSource `json:"envFrom,omitempty"`
	// +optional
	Ports []corev1.ContainerPort `json:"ports,omitempty"`
	// Resources are merged over spec.services[].resources.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
	// +optional
	LivenessProbe *corev1.Probe `json:"livenessProbe,omitempty"`
	// +optional
	ReadinessProbe *corev1.Probe `json:"readinessProbe,omitempty"`
	// +optional
	StartupProbe *corev1.Probe `json:"startupProbe,omitempty"`
	// +optional
	SecurityContext *corev1.SecurityContext `json:"securityContext,omitempty"`
	// +optional
	VolumeMounts []corev1.VolumeMount `json:"volumeMounts,omitempty"`
	// +optional
	Lifecycle *corev1.Lifecycle `json:"lifecycle,omitempty"`
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
}

// ServiceReplicaStatus counts one service's replicas as its Deployment reports them.
type ServiceReplicaStatus struct {
	Replicas          int32 `json:"replicas"`
	UpdatedReplicas   int32 `json:"updatedReplicas"`
	ReadyReplicas     int32 `json:"readyReplicas"`
	AvailableReplicas int32 `json:"availableReplicas"`
}
