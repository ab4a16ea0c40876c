package v1alpha1

// Bounds of a graph beyond the original's (docs/api): Kubernetes' own scalability limits
// (kubernetes.io/docs/setup/best-practices/cluster-large), which no graph can exceed and run.
// The CRD's markers repeat them as numbers.
const (
	// MaxPods bounds a service's replicas × nodeCount: at most 150,000 pods in a cluster.
	MaxPods = 150000
	// MaxNodes bounds a multi-node service's nodeCount: at most 5,000 nodes in a cluster.
	MaxNodes = 5000
)

// Labels, annotations, env names and ports of the original operator that dynamo-infra keeps, so
// tools and dashboards built for it keep working.
const (
	LabelGraphDeploymentName = "nvidia.com/dynamo-graph-deployment-name"
	LabelComponent           = "nvidia.com/dynamo-component"
	LabelComponentType       = "nvidia.com/dynamo-component-type"
	LabelSubComponentType    = "nvidia.com/dynamo-sub-component-type"
	LabelDynamoNamespace     = "nvidia.com/dynamo-namespace"
	LabelSelector            = "nvidia.com/selector"
	LabelMetricsEnabled      = "nvidia.com/metrics-enabled"
	LabelDiscoveryBackend    = "nvidia.com/dynamo-discovery-backend"
	LabelDiscoveryEnabled    = "nvidia.com/dynamo-discovery-enabled"
	// LabelBaseModelHash on a modelRef service's pods, workloads and its headless model Service
	// is the hash of the base model's name (graph.ModelHash); AnnotationBaseModel the name.
	LabelBaseModelHash  = "nvidia.com/dynamo-base-model-hash"
	AnnotationBaseModel = "nvidia.com/dynamo-base-model"
	// LabelUpstreamManagedBy is the label upstream's operator puts on the model Services it
	// shares between graphs.
	LabelUpstreamManagedBy = "nvidia.com/managed-by"
	// LabelWorkerHash names the worker generation a worker's children and pods belong to: the
	// graph's worker hash when they were rendered (graph.WorkerHash).
	LabelWorkerHash = "nvidia.com/dynamo-worker-hash"
	// AnnotationCurrentWorkerHash on a graph is the worker generation that serves: the desired
	// hash once a rolling update to it completed.
	AnnotationCurrentWorkerHash = "nvidia.com/current-worker-hash"
	// AnnotationRestartAt on a service's workloads and pod templates is the spec.restart.id
	// whose restart reached the service (the original's): a new value replaces its pods.
	AnnotationRestartAt = "nvidia.com/restartAt"
	// LegacyWorkerHash is the current hash of a graph whose workers were rendered before
	// worker generations (children named <graph>-<service>): they roll to the desired hash.
	LegacyWorkerHash = "legacy"
	// AnnotationMaxSurge and AnnotationMaxUnavailable on a worker service bound its managed
	// rolling update: pods above replicas, and replicas not available, as a number or a
	// percentage of replicas (default 25% each; surge rounds up, unavailable down).
	AnnotationMaxSurge       = "nvidia.com/deployment-rolling-update-max-surge"
	AnnotationMaxUnavailable = "nvidia.com/deployment-rolling-update-max-unavailable"
	// AnnotationRolloutPaused "true" on a graph holds its rolling update where it is (ours; the
	// original has no pause): no generation is scaled until it is removed.
	AnnotationRolloutPaused = "dynamo-infra.dev/rollout-paused"
	// AnnotationRolloutPartition on a graph is how much of each worker service may move to a new
	// generation before its rolling update holds: replicas ("1") or a percentage ("30%", rounded
	// up). Ours; a canary the original lists as future work.
	AnnotationRolloutPartition = "dynamo-infra.dev/rollout-partition"
	// AnnotationRolloutCoordinated "false" on a graph rolls each worker service on its own, as
	// the original does; by default their new generations come up in step (rollout.Coordinate).
	AnnotationRolloutCoordinated = "dynamo-infra.dev/rollout-coordinated"
	// AnnotationWorkerSpec and AnnotationPreviousWorkerSpec on a graph are written by the
	// operator: the worker services' specs (JSON, v1alpha1 form) of the generation that serves
	// and of the one before it — what `dynamoctl rollout undo` puts back.
	AnnotationWorkerSpec         = "dynamo-infra.dev/worker-spec"
	AnnotationPreviousWorkerSpec = "dynamo-infra.dev/previous-worker-spec"

	// AnnotationDiscoveryBackend selects the discovery backend of a graph ("kubernetes").
	AnnotationDiscoveryBackend = "nvidia.com/dynamo-discovery-backend"
	// AnnotationKubeDiscoveryMode "container" makes each container, not each pod, a discovery
	// endpoint (CONTAINER_NAME and DYN_KUBE_DISCOVERY_MODE are injected).
	AnnotationKubeDiscoveryMode = "nvidia.com/dynamo-kube-discovery-mode"
	// AnnotationEnableMetrics set to "false" turns the metrics label off.
	AnnotationEnableMetrics = "nvidia.com/enable-metrics"
	// AnnotationWaitForCapacity "true" on a graph: the operator applies a change that adds pods
	// (a new graph, more replicas, bigger pods) only once its plan finds room for every pod
	// (the Schedulable condition says why it waits). Ours; the original has no such gate.
	AnnotationWaitForCapacity = "dynamo-infra.dev/wait-for-capacity"
	// AnnotationCreatedBy marks PVCs a graph created; they outlive the graph on purpose.
	AnnotationCreatedBy = "dynamo-infra.dev/created-by"
	// AnnotationOriginVersion is the version of the operator that created a graph (the
	// original's mutating webhook sets it). It gates behaviour that changed between versions:
	// multi-node vLLM uses Ray for graphs created before 1.0.0.
	AnnotationOriginVersion = "nvidia.com/dynamo-operator-origin-version"
	// AnnotationVLLMExecutorBackend ("mp" or "ray") chooses how multi-node vLLM spans its
	// nodes, over the origin version.
	AnnotationVLLMExecutorBackend = "nvidia.com/vllm-distributed-executor-backend"

	// LabelManagedBy is Kubernetes' recommended label naming what manages an object; its values
	// name our writers (the operator, dynamoctl's access pods and probes, the dev cluster).
	LabelManagedBy = "app.kubernetes.io/managed-by"

	// LabelRole says whether a pod of a multi-node service is its group's "leader" or a
	// "worker" (the original's label, name and values); the Service selects leaders.
	LabelRole = "role"

	ComponentFrontend = "frontend"
	ComponentWorker   = "worker"
	ComponentPrefill  = "prefill"
	ComponentDecode   = "decode"
	ComponentPlanner  = "planner"
	ComponentDefault  = "default"
	ComponentEPP      = "epp"
	ComponentMain     = "main"

	// GlobalDynamoNamespace is the Dynamo namespace of services with globalDynamoNamespace.
	GlobalDynamoNamespace = "dynamo"
	// ComponentKindDeployment is status.services[].componentKind of a service on Deployments.
	ComponentKindDeployment = "Deployment"
	// ComponentKindLeaderWorkerSet is status.services[].componentKind of a multi-node service.
	ComponentKindLeaderWorkerSet = "LeaderWorkerSet"
	// MPISSHSecret is the default name of the Secret holding the SSH key pair (private.key,
	// private.key.pub) TRT-LLM's multi-node launch (mpirun over SSH) uses.
	MPISSHSecret = "mpi-run-ssh-secret"
	// PlannerServiceAccount is the ServiceAccount planner pods run as.
	PlannerServiceAccount = "planner-serviceaccount"
	// DiscoveryModeContainer is the AnnotationKubeDiscoveryMode value for per-container discovery.
	DiscoveryModeContainer = "container"
	// DiscoveryEtcd is the discovery backend that turns Kubernetes discovery off.
	DiscoveryEtcd = "etcd"

	DiscoveryKubernetes = "kubernetes"

	EnvNamespace          = "DYN_NAMESPACE"
	EnvComponent          = "DYN_COMPONENT"
	EnvParentName         = "DYN_PARENT_DGD_K8S_NAME"
	EnvParentNamespace    = "DYN_PARENT_DGD_K8S_NAMESPACE"
	EnvPodName            = "POD_NAME"
	EnvPodNamespace       = "POD_NAMESPACE"
	EnvPodUID             = "POD_UID"
	EnvDiscoveryBackend   = "DYN_DISCOVERY_BACKEND"
	EnvNATSServer         = "NATS_SERVER"
	EnvEtcdEndpoints      = "ETCD_ENDPOINTS"
	EnvDynamoPort         = "DYNAMO_PORT"
	EnvHTTPPort           = "DYN_HTTP_PORT"
	EnvSystemEnabled      = "DYN_SYSTEM_ENABLED"
	EnvSystemPort         = "DYN_SYSTEM_PORT"
	EnvSystemHealthStatus = "DYN_SYSTEM_USE_ENDPOINT_HEALTH_STATUS"
	EnvHealthCheckEnabled = "DYN_HEALTH_CHECK_ENABLED"
	EnvNamespacePrefix    = "DYN_NAMESPACE_PREFIX"
	// EnvWorkerSuffix is a worker's generation (its worker hash): the runtime registers it in
	// the Dynamo namespace <DYN_NAMESPACE>-<suffix>; the frontend finds every generation by
	// DYN_NAMESPACE_PREFIX.
	EnvWorkerSuffix       = "DYN_NAMESPACE_WORKER_SUFFIX"
	EnvNixlTelemetry      = "NIXL_TELEMETRY_ENABLE"
	EnvNixlExporter       = "NIXL_TELEMETRY_EXPORTER"
	EnvNixlPrometheusPort = "NIXL_TELEMETRY_PROMETHEUS_PORT"
	EnvPlannerMetricsPort = "PLANNER_PROMETHEUS_PORT"
	EnvContainerName      = "CONTAINER_NAME"
	EnvKubeDiscoveryMode  = "DYN_KUBE_DISCOVERY_MODE"
	EnvVLLMCacheRoot      = "VLLM_CACHE_ROOT"
	// EnvVLLMNixlSideChannelHost is the address vLLM's NIXL side channel binds to on a
	// multi-node mp pod: its own IP.
	EnvVLLMNixlSideChannelHost = "VLLM_NIXL_SIDE_CHANNEL_HOST"
	// EnvOMPIKeepFQDN keeps mpirun from shortening the pod host names it was given.
	EnvOMPIKeepFQDN = "OMPI_MCA_orte_keep_fqdn_hostnames"
	// EnvLWSLeaderAddress and EnvLWSWorkerIndex are set by LeaderWorkerSet in each pod: the
	// group leader's DNS name and the pod's index in its group (0 for the leader).
	EnvLWSLeaderAddress = "LWS_LEADER_ADDRESS"
	EnvLWSWorkerIndex   = "LWS_WORKER_INDEX"

	// PortFrontend is the frontend's HTTP port; PortSystem the workers' and planner's system
	// (health, metrics) port; PortNixl the workers' NIXL telemetry port; PortPlannerMetrics the
	// planner's Prometheus port.
	PortFrontend       = 8000
	PortSystem         = 9090
	PortNixl           = 19090
	PortPlannerMetrics = 9085
	// Ports of the multi-node launches: the Ray head (vLLM with Ray), vLLM mp's master port,
	// SGLang's dist-init port, vLLM's data-parallel RPC port, and the SSH port of TRT-LLM's
	// mpirun.
	PortRayHead             = 6379
	PortVLLMMaster          = 29500
	PortSGLangDistInit      = 29500
	PortVLLMDataParallelRPC = 13445
	PortMPISSH              = 2222
	PortNameFrontend        = "http"
	PortNameSystem          = "system"
	PortNameNixl            = "nixl"
	PortNamePlannerMetrics  = "metrics"
	SharedMemoryVolume      = "shared-memory"
	SharedMemoryMountPath   = "/dev/shm"
	VLLMCompilationCacheDir = "/root/.cache/vllm"

	// MainContainerName is the name of every service's main container.
	MainContainerName = "main"
	// GMSModeInterPod is the gpuMemoryService mode of a weight-server pod per rank (Grove).
	GMSModeInterPod = "interPod"
	// FrontendSidecarContainerName is the container frontendSidecar adds beside the main one.
	FrontendSidecarContainerName = "sidecar-frontend"

	// The Endpoint Picker (componentType epp), as upstream runs it: the gRPC port the gateway
	// calls (9002, "grpc"), its gRPC health port (9003, service "inference-extension") and
	// metrics (9090, "metrics"); its account (every graph's of the namespace); its
	// EndpointPickerConfig, mounted from a ConfigMap key at EPPConfigDir/EPPConfigKey; the
	// InferencePool's API group (the Gateway API Inference Extension's stable v1).
	PortEPPGRPC             = 9002
	PortEPPHealth           = 9003
	PortNameEPPGRPC         = "grpc"
	PortNameEPPHealth       = "grpc-health"
	PortNameMetrics         = "metrics"
	EPPHealthService        = "inference-extension"
	EPPServiceAccount       = "epp-serviceaccount"
	EPPConfigVolume         = "epp-config"
	EPPConfigDir            = "/etc/epp"
	EPPConfigKey            = "epp-config-dynamo.yaml"
	InferencePoolGroup      = "inference.networking.k8s.io"
	EnvUseStreaming         = "USE_STREAMING"
	EnvRustLog              = "RUST_LOG"
	EnvEnforceDisagg        = "DYN_ENFORCE_DISAGG"
	EPPTerminationGraceSecs = 130
)
