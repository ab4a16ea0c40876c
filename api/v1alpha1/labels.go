package v1alpha1

// Labels, annotations, env names and ports of the original operator that dynamo-infra keeps, so
// tools and dashboards built for it keep working.
const (
	LabelGraphDeploymentName = "nvidia.com/dynamo-graph-deployment-name"
	LabelComponent           = "nvidia.com/dynamo-component"
	LabelComponentType       = "nvidia.com/dynamo-component-type"
	LabelDynamoNamespace     = "nvidia.com/dynamo-namespace"
	LabelSelector            = "nvidia.com/selector"
	LabelMetricsEnabled      = "nvidia.com/metrics-enabled"
	LabelDiscoveryBackend    = "nvidia.com/dynamo-discovery-backend"
	LabelDiscoveryEnabled    = "nvidia.com/dynamo-discovery-enabled"

	// AnnotationDiscoveryBackend selects the discovery backend of a graph ("kubernetes").
	AnnotationDiscoveryBackend = "nvidia.com/dynamo-discovery-backend"
	// AnnotationEnableMetrics set to "false" turns the metrics label off.
	AnnotationEnableMetrics = "nvidia.com/enable-metrics"
	// AnnotationCreatedBy marks PVCs a graph created; they outlive the graph on purpose.
	AnnotationCreatedBy = "dynamo-infra.dev/created-by"

	ComponentFrontend = "frontend"
	ComponentWorker   = "worker"
	ComponentPrefill  = "prefill"
	ComponentDecode   = "decode"
	ComponentPlanner  = "planner"
	ComponentDefault  = "default"

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

	// PortFrontend is the frontend's HTTP port; PortSystem the workers' system (health, metrics) port.
	PortFrontend     = 8000
	PortSystem       = 9090
	PortNameFrontend = "http"
	PortNameSystem   = "system"

	// MainContainerName is the name of every service's main container.
	MainContainerName = "main"
	// ResourceGPU is what resources.*.gpu becomes.
	ResourceGPU = "nvidia.com/gpu"
)
