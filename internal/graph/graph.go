// Package graph resolves a DynamoGraphDeployment into the graph every other package reads: an
// ordered list of components, each with its type, replicas, node count, workload kind, names
// and the user's pod as one PodTemplateSpec, and the graph-wide facts (discovery backend, Dynamo
// namespace, backend framework, topology). Defaults are applied here and nowhere else, and only
// this package reads spec.services: render, the controller, status, diagnose, explain, plan,
// preflight and observability read the resolved graph, so that a second API version (v1beta1's
// components, each with a podTemplate) is one more resolver, not a change to each of them.
// Pure: no client.
package graph

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
)

// DefaultDiscovery is the discovery backend of a graph whose annotation names none when the
// operator's configuration names none either: Kubernetes, as the original's default.
const DefaultDiscovery = v1alpha1.DiscoveryKubernetes

// Defaults of a component the graph leaves unset.
var (
	defaultReplicas     = int32(1)
	defaultSharedMemory = resource.MustParse("8Gi")
)

// Options are the operator's settings resolution reads.
type Options struct {
	// Discovery is the discovery backend of graphs whose annotation names none ("":
	// DefaultDiscovery).
	Discovery string
}

// WorkloadKind is the kind of object that runs a component's pods.
type WorkloadKind string

// Workload kinds: a single-node component's Deployment, a multi-node one's LeaderWorkerSet.
const (
	KindDeployment      WorkloadKind = "Deployment"
	KindLeaderWorkerSet WorkloadKind = "LeaderWorkerSet"
)

// Graph is a resolved DynamoGraphDeployment. Read it, do not change it: render, status and
// plans share one.
type Graph struct {
	// ObjectMeta is the graph's own metadata (its annotations are the graph's, not spec.annotations).
	metav1.ObjectMeta
	// Status is the graph's status as read.
	Status v1alpha1.DynamoGraphDeploymentStatus
	// CommonLabels and CommonAnnotations are spec.labels and spec.annotations: on every
	// component's children and pods, under the component's own.
	CommonLabels, CommonAnnotations map[string]string
	// Discovery is the discovery backend: the graph's annotation, else Options.Discovery,
	// else DefaultDiscovery.
	Discovery string
	// Backend is spec.backendFramework ("" when unset; each worker's Backend is resolved).
	Backend string
	// DynamoNamespace is the graph's Dynamo namespace: <namespace>-<name, dots as dashes>.
	DynamoNamespace string
	// PVCs are the claims the graph lists (created or referenced).
	PVCs []v1alpha1.PVC
	// Topology is spec.topologyConstraint (nil: none); components carry their own PackDomain.
	Topology *v1alpha1.SpecTopologyConstraint
	// WaitForCapacity is the wait-for-capacity annotation read as Kubernetes reads a boolean;
	// WaitForCapacityErr says why a value that is not one counts as false.
	WaitForCapacity    bool
	WaitForCapacityErr error
	// WorkerHash is the worker generation the spec asks for (the WorkerHash function): it names
	// every worker's children, labels them and their pods (v1alpha1.LabelWorkerHash) and is
	// their DYN_NAMESPACE_WORKER_SUFFIX. CurrentWorkerHash is the generation that serves, from
	// the graph's annotation ("": none recorded yet; v1alpha1.LegacyWorkerHash: workers named
	// before generations). They differ while a worker change rolls out (internal/rollout).
	WorkerHash, CurrentWorkerHash string
	// RolloutPaused and RolloutPartition are the graph's dynamo-infra.dev/rollout-paused (as
	// Kubernetes reads a boolean) and dynamo-infra.dev/rollout-partition annotations: a rollout
	// holds, or moves only that share of each worker service (rollout.Share reads it).
	RolloutPaused    bool
	RolloutPartition string
	// RolloutIndependent is dynamo-infra.dev/rollout-coordinated: "false": each worker service
	// rolls on its own (the original's way), not in step with the others.
	RolloutIndependent bool
	// Restart is spec.restart (nil: none): internal/restart carries it out.
	Restart *v1alpha1.Restart
	// Components are the graph's services, sorted by name.
	Components []*Component

	// err is why the graph cannot be rendered (Err); refusal the part of it no component
	// escapes (Refusal).
	err, refusal error
	// unimplemented are the fields set whose behaviour is not built (Err's *UnimplementedError).
	unimplemented []UnimplementedField
}

// Component is one resolved service of a graph.
type Component struct {
	// Name is the service's key in spec.services.
	Name string
	// Type and SubType are componentType (frontend, worker, prefill, decode, planner, epp,
	// main, or none) and subComponentType.
	Type, SubType string
	// Replicas is the number of pods (groups, for a multi-node component): replicas, or 1.
	Replicas int32
	// NodeCount is the number of pods of one replica: multinode.nodeCount, or 1.
	NodeCount int32
	// Kind is the workload that runs the pods: a LeaderWorkerSet when NodeCount > 1.
	Kind WorkloadKind
	// ChildName names the component's Deployment and Service and selects its pods:
	// <graph>-<lowercased name>, and -<WorkerHash> after it for a worker.
	ChildName string
	// WorkerHash is the generation of a worker's children (the graph's WorkerHash); "" for
	// other types, which are changed in place.
	WorkerHash string
	// WorkloadName is the Deployment's name (ChildName), or the LeaderWorkerSet's
	// (<ChildName>-0, as the original names it: LWS gives the set a headless Service of its
	// own name, which cannot be the component's Service's).
	WorkloadName string
	// DynamoNamespace is the graph's, or "dynamo" for a globalDynamoNamespace component.
	DynamoNamespace string
	// Labels and Annotations are the service's own (over the graph's common ones).
	Labels, Annotations map[string]string
	// Backend is a worker's inference engine: spec.backendFramework, or the one its command
	// runs (python -m dynamo.vllm ...); "" for other types or none found.
	Backend string
	// Template is the user's pod: extraPodMetadata's labels and annotations; extraPodSpec with
	// the main container last — mainContainer with the graph's and the service's envs merged
	// into its env, the service's resources laid over its own, envFromSecret, and a mount per
	// volumeMount (whose claim volumes follow extraPodSpec's). Render lays it over the
	// component type's base pod; mainContainer's probes merge over the base ones, its
	// startupProbe replaces the base one whole.
	Template corev1.PodTemplateSpec
	// LivenessProbe and ReadinessProbe are the service's own, which replace the rendered probes
	// whole (nil: none given).
	LivenessProbe, ReadinessProbe *corev1.Probe
	// CompilationCache is the mount point of the volume used as the compilation cache ("": none).
	CompilationCache string
	// SharedMemory is the size of the /dev/shm volume (nil: disabled).
	SharedMemory *resource.Quantity
	// GPUResource is the resource the service's gpu counts (gpuType, or nvidia.com/gpu).
	GPUResource corev1.ResourceName
	// PackDomain is the service's topologyConstraint.packDomain ("": none).
	PackDomain string
	// GMS is the service's GPU Memory Service (gpuMemoryService, intraPod mode; nil: none): its
	// GPUs come from a DRA claim every container of the pod shares, and a gms-server sidecar
	// holds the weights in GPU memory.
	GMS *v1alpha1.GPUMemoryServiceSpec
	// Failover: the service's main container runs as an active and a standby engine (failover
	// enabled, intraPod mode; vLLM and TRT-LLM, as upstream), which share its GPU Memory Service.
	Failover bool
	// FrontendSidecar is the frontend the service's pods run beside their main container
	// (frontendSidecar; nil: none), as upstream generates it.
	FrontendSidecar *v1alpha1.FrontendSidecarSpec
	// BaseModel is modelRef.name: the base model the service's workers serve ("": none). Its
	// pods carry LabelBaseModelHash and join the namespace's headless model Service
	// (ModelServiceName), where DynamoModels find the endpoints to load LoRA adapters on.
	BaseModel string
	// Ingress is the service's ingress when enabled (nil: none): an Ingress, or an Istio
	// VirtualService with useVirtualService and a gateway, routing its host to the Service.
	Ingress *v1alpha1.IngressSpec
	// EPP is an Endpoint Picker's eppConfig (componentType epp; nil for other types): its
	// EndpointPickerConfig, inline (rendered into the graph's EPPConfigMapName) or in a
	// ConfigMap of the user's. The graph's InferencePool (InferencePoolName) names its Service.
	EPP *v1alpha1.EPPConfig
	// ScalingAdapter names the DynamoGraphDeploymentScalingAdapter that owns the component's
	// replicas (<graph>-<lowercased name>, the original's name; "": none): its spec.replicas
	// is copied into the graph, so kubectl scale, an HPA or the planner scale the component.
	ScalingAdapter string
	// Err is why the component cannot be rendered (nil: it can). The graph's Err reports it.
	Err error

	// settings are the graph's metadata annotations with the service's over them: the
	// annotations the original copies from the graph into each service's.
	settings map[string]string
	// service is the spec as written, for Unimplemented and Warnings.
	service *v1alpha1.ServiceSpec
}

// Resolve reads a graph. The result is always usable for what the spec admits without
// rendering (names, types, replicas, node counts, status); the error says why the graph cannot
// be rendered, as render and the operator's status report it: no services, two services whose
// children share a name, a field whose behaviour is not built (*UnimplementedError), then the
// first component's error in name order.
func Resolve(dgd *v1alpha1.DynamoGraphDeployment, opts Options) (*Graph, error) {
	g := &Graph{
		ObjectMeta:        dgd.ObjectMeta,
		Status:            dgd.Status,
		CommonLabels:      dgd.Spec.Labels,
		CommonAnnotations: dgd.Spec.Annotations,
		Backend:           dgd.Spec.BackendFramework,
		DynamoNamespace:   dgd.Namespace + "-" + strings.ReplaceAll(dgd.Name, ".", "-"),
		PVCs:              dgd.Spec.PVCs,
		Topology:          dgd.Spec.TopologyConstraint,
		WorkerHash:        WorkerHash(dgd),
		CurrentWorkerHash: dgd.Annotations[v1alpha1.AnnotationCurrentWorkerHash],
		RolloutPartition:  dgd.Annotations[v1alpha1.AnnotationRolloutPartition],
		Restart:           dgd.Spec.Restart,
	}
	g.RolloutPaused, _ = strconv.ParseBool(dgd.Annotations[v1alpha1.AnnotationRolloutPaused])
	if coordinated, err := strconv.ParseBool(dgd.Annotations[v1alpha1.AnnotationRolloutCoordinated]); err == nil && !coordinated {
		g.RolloutIndependent = true
	}
	g.Discovery = discovery(dgd, opts)
	g.WaitForCapacity, g.WaitForCapacityErr = waitsForCapacity(dgd)
	names := make([]string, 0, len(dgd.Spec.Services))
	for n := range dgd.Spec.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		g.Components = append(g.Components, g.resolve(dgd, name))
	}
	g.unimplemented = unimplemented(dgd, g.Components)
	g.refusal = g.refuse()
	g.err = g.refusal
	for _, c := range g.Components {
		if g.err == nil && c.Err != nil {
			g.err = c.Err
		}
	}
	return g, g.err
}

// ResolveAll resolves graphs read from a file or the API. Each one's error stays with it
// (Err): render, plans and reports say it where they reach the graph.
func ResolveAll(dgds []*v1alpha1.DynamoGraphDeployment, opts Options) []*Graph {
	out := make([]*Graph, len(dgds))
	for i, d := range dgds {
		out[i], _ = Resolve(d, opts)
	}
	return out
}

// WithReplicas is the graph with the named components' replicas changed (a what-if: plan
// --replicas); the graph itself is not changed. A name that is not a component's is an error.
func (g *Graph) WithReplicas(replicas map[string]int32) (*Graph, error) {
	if len(replicas) == 0 {
		return g, nil
	}
	out := *g
	out.Components = make([]*Component, len(g.Components))
	for i, c := range g.Components {
		out.Components[i] = c
		if n, ok := replicas[c.Name]; ok {
			changed := *c
			changed.Replicas = n
			out.Components[i] = &changed
		}
	}
	for _, name := range slices.Sorted(maps.Keys(replicas)) {
		if g.Component(name) == nil {
			return nil, fmt.Errorf("%s has no service %q (services: %s)", g.Name, name, strings.Join(g.Names(), ", "))
		}
	}
	return &out, nil
}

// WithRestartAt is the graph with each named component's nvidia.com/restartAt annotation set
// to its value (a restart's step: internal/restart). The annotation is the component's own,
// as the original puts it: on its workloads and their pod templates, where a new value replaces
// the pods. It is not part of the worker hash: a restart replaces pods within a generation.
func (g *Graph) WithRestartAt(at map[string]string) *Graph {
	if len(at) == 0 {
		return g
	}
	out := *g
	out.Components = make([]*Component, len(g.Components))
	for i, c := range g.Components {
		out.Components[i] = c
		if v, ok := at[c.Name]; ok && c.Annotations[v1alpha1.AnnotationRestartAt] != v {
			changed := *c
			changed.Annotations = maps.Clone(c.Annotations)
			if changed.Annotations == nil {
				changed.Annotations = map[string]string{}
			}
			changed.Annotations[v1alpha1.AnnotationRestartAt] = v
			out.Components[i] = &changed
		}
	}
	return &out
}

// Err is the error Resolve returned.
func (g *Graph) Err() error { return g.err }

// Refusal is why no component of the graph can be rendered: no services, two services whose
// children share a name, a field whose behaviour is not built (*UnimplementedError). nil: each
// component's Err says whether it can.
func (g *Graph) Refusal() error { return g.refusal }

// refuse is Refusal, in the order the operator has always reported them.
func (g *Graph) refuse() error {
	if len(g.Components) == 0 {
		return fmt.Errorf("graph %s has no services", g.Name)
	}
	seen := map[string]string{}
	for _, c := range g.Components {
		if other, ok := seen[c.ChildName]; ok {
			return fmt.Errorf("spec.services: %s and %s both name the child %s (service names must differ in more than case)", other, c.Name, c.ChildName)
		}
		seen[c.ChildName] = c.Name
	}
	if len(g.unimplemented) > 0 {
		return &UnimplementedError{Fields: g.unimplemented}
	}
	return nil
}

// Component returns the component called name (nil: none).
func (g *Graph) Component(name string) *Component {
	for _, c := range g.Components {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Names are the components' names, sorted.
func (g *Graph) Names() []string {
	out := make([]string, len(g.Components))
	for i, c := range g.Components {
		out[i] = c.Name
	}
	return out
}

// HasMultinode reports whether a component spans several nodes.
func (g *Graph) HasMultinode() bool {
	for _, c := range g.Components {
		if c.Multinode() {
			return true
		}
	}
	return false
}

// ModelHash is upstream's hash of a base model name: the first 8 hex characters of its
// SHA-256, a valid label value whatever the name.
func ModelHash(baseModel string) string {
	sum := sha256.Sum256([]byte(baseModel))
	return hex.EncodeToString(sum[:])[:8]
}

// ModelServicePrefix begins the name of every base model's headless Service.
const ModelServicePrefix = "dynamo-model-"

// ModelServiceName is the headless Service of a base model's endpoints, shared by every graph
// of the namespace that serves it: dynamo-model-<ModelHash>, as upstream names it.
func ModelServiceName(baseModel string) string { return ModelServicePrefix + ModelHash(baseModel) }

// BaseModels are the base models the graph's services serve (modelRef), sorted, once each.
func (g *Graph) BaseModels() []string {
	var out []string
	for _, c := range g.Components {
		if c.BaseModel != "" && !slices.Contains(out, c.BaseModel) {
			out = append(out, c.BaseModel)
		}
	}
	slices.Sort(out)
	return out
}

// HasVirtualService reports whether a component's ingress is an Istio VirtualService.
func (g *Graph) HasVirtualService() bool {
	for _, c := range g.Components {
		if c.VirtualService() {
			return true
		}
	}
	return false
}

// VirtualService: the component's ingress is an Istio VirtualService (useVirtualService with a
// virtualServiceGateway), not an Ingress.
func (c *Component) VirtualService() bool {
	return c.Ingress != nil && c.Ingress.UseVirtualService && c.Ingress.VirtualServiceGateway != nil && *c.Ingress.VirtualServiceGateway != ""
}

// HasScalingAdapter reports whether a component's replicas are owned by a scaling adapter.
func (g *Graph) HasScalingAdapter() bool {
	for _, c := range g.Components {
		if c.ScalingAdapter != "" {
			return true
		}
	}
	return false
}

// EPP is the graph's Endpoint Picker (componentType epp; at most one), or nil.
func (g *Graph) EPP() *Component {
	for _, c := range g.Components {
		if c.EPP != nil {
			return c
		}
	}
	return nil
}

// InferencePoolName is the graph's InferencePool (upstream's <graph>-pool): the workers its
// Endpoint Picker picks among, which a gateway's HTTPRoute sends requests to.
func (g *Graph) InferencePoolName() string { return g.Name + "-pool" }

// EPPConfigMapName holds the Endpoint Picker's inline EndpointPickerConfig (upstream's
// <graph>-epp-config).
func (g *Graph) EPPConfigMapName() string { return g.Name + "-epp-config" }

// HasPlanner reports whether a component is a planner (its pods run as the planner's account).
func (g *Graph) HasPlanner() bool {
	for _, c := range g.Components {
		if c.Type == v1alpha1.ComponentPlanner {
			return true
		}
	}
	return false
}

// DiscoveryServiceAccount is the account of the graph's pods when discovery runs on Kubernetes.
func (g *Graph) DiscoveryServiceAccount() string {
	return g.Name + "-k8s-service-discovery"
}

// KubernetesDiscovery reports whether the graph's pods discover each other through the API
// server (the discovery account, role and labels).
func (g *Graph) KubernetesDiscovery() bool { return g.Discovery == v1alpha1.DiscoveryKubernetes }

// Pods is the number of pods the component runs: replicas × node count.
func (c *Component) Pods() int64 { return int64(c.Replicas) * int64(c.NodeCount) }

// Multinode reports whether one replica spans several nodes (a LeaderWorkerSet).
func (c *Component) Multinode() bool { return c.NodeCount > 1 }

// IsWorker reports whether a component type runs an inference engine.
func IsWorker(ct string) bool {
	return ct == v1alpha1.ComponentWorker || ct == v1alpha1.ComponentPrefill || ct == v1alpha1.ComponentDecode
}

// Setting reads an annotation the original copies from the graph into each service's: the
// service's own, else the graph's.
func (c *Component) Setting(key string) string { return c.settings[key] }

// MainContainer is the main container of the component's Template (nil when the service
// is empty).
func (c *Component) MainContainer() *corev1.Container {
	if n := len(c.Template.Spec.Containers); n > 0 {
		return &c.Template.Spec.Containers[n-1]
	}
	return nil
}

// Claims are the names of the claims the component mounts, in the order it lists them.
func (c *Component) Claims() []string {
	if c.service == nil {
		return nil
	}
	out := make([]string, len(c.service.VolumeMounts))
	for i, vm := range c.service.VolumeMounts {
		out[i] = vm.Name
	}
	return out
}

func discovery(dgd *v1alpha1.DynamoGraphDeployment, opts Options) string {
	if v := dgd.Annotations[v1alpha1.AnnotationDiscoveryBackend]; v != "" {
		return v
	}
	if opts.Discovery != "" {
		return opts.Discovery
	}
	return DefaultDiscovery
}

// resolve reads one service. A service that cannot be rendered keeps what could be read.
func (g *Graph) resolve(dgd *v1alpha1.DynamoGraphDeployment, name string) *Component {
	s := dgd.Spec.Services[name]
	c := &Component{
		Name: name, Replicas: defaultReplicas, NodeCount: 1, Kind: KindDeployment,
		ChildName: g.Name + "-" + strings.ToLower(name), DynamoNamespace: g.DynamoNamespace,
		GPUResource: nvidia.ResourceGPU,
	}
	c.WorkloadName = c.ChildName
	if s == nil {
		c.Err = fmt.Errorf("service %q is empty", name)
		return c
	}
	c.service = s
	c.Type, c.SubType = s.ComponentType, s.SubComponentType
	if IsWorker(c.Type) {
		// Each worker generation has children of its own, so that old and new run side by side
		// during a rolling update (the original's names: <graph>-<service>-<hash>).
		c.WorkerHash = g.WorkerHash
		c.ChildName += "-" + g.WorkerHash
		c.WorkloadName = c.ChildName
	}
	c.Labels, c.Annotations = s.Labels, s.Annotations
	if s.Replicas != nil {
		c.Replicas = *s.Replicas
	}
	if s.Multinode != nil && s.Multinode.NodeCount > 1 {
		c.NodeCount = s.Multinode.NodeCount
		c.Kind = KindLeaderWorkerSet
		c.WorkloadName = c.ChildName + "-0"
	}
	if s.GlobalDynamoNamespace {
		c.DynamoNamespace = v1alpha1.GlobalDynamoNamespace
	}
	if s.TopologyConstraint != nil {
		c.PackDomain = s.TopologyConstraint.PackDomain
	}
	if s.ModelRef != nil {
		c.BaseModel = s.ModelRef.Name
	}
	if g := s.GPUMemoryService; g != nil && g.Enabled && g.Mode != v1alpha1.GMSModeInterPod {
		c.GMS = g
	}
	if s.FrontendSidecar != nil {
		c.FrontendSidecar = s.FrontendSidecar
		if e := s.ExtraPodSpec; e != nil && e.PodSpec != nil && slices.ContainsFunc(e.Containers, func(ct corev1.Container) bool {
			return ct.Name == v1alpha1.FrontendSidecarContainerName
		}) {
			c.Err = fmt.Errorf("spec.services.%s: cannot inject frontend sidecar: a container named %q already exists in extraPodSpec.containers", name, v1alpha1.FrontendSidecarContainerName)
			return c
		}
	}
	if s.Ingress != nil && s.Ingress.Enabled {
		c.Ingress = s.Ingress
	}
	if c.Type == v1alpha1.ComponentEPP && s.EPPConfig != nil {
		// Without eppConfig it is upstream's native (Rust) picker: reported (unimplemented).
		c.EPP = s.EPPConfig
		if (c.EPP.Config == nil) == (c.EPP.ConfigMapRef == nil) {
			c.Err = fmt.Errorf("spec.services.%s: an Endpoint Picker's eppConfig needs exactly one of config and configMapRef", name)
			return c
		}
	}
	if s.ScalingAdapter != nil && s.ScalingAdapter.Enabled {
		c.ScalingAdapter = g.Name + "-" + strings.ToLower(name)
	}
	c.settings = map[string]string{}
	for k, v := range dgd.Annotations {
		c.settings[k] = v
	}
	for k, v := range s.Annotations {
		c.settings[k] = v
	}
	c.GPUResource = gpuResource(s)
	if sm := s.SharedMemory; sm == nil || !sm.Disabled {
		size := defaultSharedMemory
		if sm != nil && sm.Size != nil && !sm.Size.IsZero() {
			size = *sm.Size
		}
		c.SharedMemory = &size
	}
	c.LivenessProbe, c.ReadinessProbe = s.LivenessProbe, s.ReadinessProbe
	if err := c.template(dgd, s); err != nil {
		c.Err = fmt.Errorf("service %s: %w", name, err)
	}
	if f := s.Failover; f != nil && f.Enabled && f.Mode != v1alpha1.GMSModeInterPod {
		c.Failover = true
		if c.Backend != "vllm" && c.Backend != "trtllm" && c.Err == nil {
			c.Err = fmt.Errorf("service %s: failover is supported for vLLM and TRT-LLM (backend %q: set spec.backendFramework, or run python3 -m dynamo.vllm or dynamo.trtllm; upstream's newest SGLang failover is not built here)", name, c.Backend)
		}
	}
	if c.GMS != nil && c.Err == nil && c.GMSGPUs() <= 0 {
		c.Err = fmt.Errorf("service %s: gpuMemoryService shares the service's GPUs through a DRA claim: set resources.limits.gpu", name)
	}
	if limit := maxChildName(c); len(c.ChildName) > limit && c.Err == nil {
		c.Err = fmt.Errorf("service %s: its children's name %s is %d characters, more than %d: shorten the graph's or the service's name (a worker's children add a dash and its 8-character generation)", name, c.ChildName, len(c.ChildName), limit)
	}
	return c
}

// GMSGPUs is how many GPUs a GPU Memory Service's claim asks for: the main container's GPU
// limit (its request without one), as upstream reads resources.limits.gpu.
func (c *Component) GMSGPUs() int64 {
	main := c.MainContainer()
	if main == nil {
		return 0
	}
	if q, ok := main.Resources.Limits[c.GPUResource]; ok {
		return q.Value()
	}
	q := main.Resources.Requests[c.GPUResource]
	return q.Value()
}

// GMSClaimTemplate is the name of a GPU Memory Service's ResourceClaimTemplate, upstream's:
// <graph>-<lowercased service>-gpu.
func (c *Component) GMSClaimTemplate(g *Graph) string {
	return g.Name + "-" + strings.ToLower(c.Name) + "-gpu"
}

// maxChildName is the longest a component's child name may be: a Service's name is a DNS label
// (63); a multi-node component's LeaderWorkerSet, StatefulSets and pods add suffixes to it (45,
// the CRD's bound on <dgd>-<service>, which a worker's generation suffix makes 9 longer).
func maxChildName(c *Component) int {
	if c.Multinode() {
		return 45
	}
	return 63
}

// template builds the user's pod (Component.Template) and what follows from it: the backend
// and the compilation cache.
func (c *Component) template(dgd *v1alpha1.DynamoGraphDeployment, s *v1alpha1.ServiceSpec) error {
	extra := s.ExtraPodSpec
	if extra == nil {
		extra = &v1alpha1.ExtraPodSpec{}
	}
	if m := s.ExtraPodMetadata; m != nil {
		c.Template.Labels, c.Template.Annotations = m.Labels, m.Annotations
	}
	if extra.PodSpec != nil {
		c.Template.Spec = *extra.PodSpec.DeepCopy()
	}
	main := corev1.Container{}
	if extra.MainContainer != nil {
		main = *extra.MainContainer.DeepCopy()
	}
	c.Backend = workerBackend(dgd.Spec.BackendFramework, s.ComponentType, &main)
	// The container is added even when the image is missing: a graph that cannot be rendered
	// still says which pod it asks for.
	defer func() { c.Template.Spec.Containers = append(c.Template.Spec.Containers, main) }()
	if main.Image == "" {
		return fmt.Errorf("extraPodSpec.mainContainer.image is required")
	}
	main.Env = MergeEnv(main.Env, dgd.Spec.Envs, s.Envs)
	var err error
	if main.Resources, err = resources(s, main.Resources); err != nil {
		return err
	}
	if s.EnvFromSecret != nil {
		main.EnvFrom = append(main.EnvFrom, corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: *s.EnvFromSecret}}})
	}
	for _, vm := range s.VolumeMounts {
		mount := vm.MountPoint
		if vm.UseAsCompilationCache {
			if mount == "" {
				if mount = compilationCacheDefault(c.Backend); mount == "" {
					return fmt.Errorf("volumeMounts %s: useAsCompilationCache needs a mountPoint for backend %q (only vllm has a default)", vm.Name, c.Backend)
				}
			}
			c.CompilationCache = mount
		}
		c.Template.Spec.Volumes = append(c.Template.Spec.Volumes, corev1.Volume{Name: vm.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: vm.Name}}})
		main.VolumeMounts = append(main.VolumeMounts, corev1.VolumeMount{Name: vm.Name, MountPath: mount})
	}
	return nil
}

// backendCommand finds the engine a worker runs (python -m dynamo.vllm ...), as the original
// does when the graph does not name one.
var backendCommand = regexp.MustCompile(`python[0-9.]*\s+[^|&;]*-m\s+[^|&;]*dynamo\.(vllm|sglang|trtllm)`)

// workerBackend is the inference engine of a worker: the graph's backendFramework, or the one
// its command runs. Other component types have none.
func workerBackend(framework, componentType string, main *corev1.Container) string {
	if !IsWorker(componentType) {
		return ""
	}
	if framework != "" {
		return framework
	}
	if m := backendCommand.FindStringSubmatch(strings.Join(append(append([]string{}, main.Command...), main.Args...), " ")); m != nil {
		return m[1]
	}
	return ""
}

// compilationCacheDefault is where a backend keeps its compilation cache ("" when it has no
// default and the mount point must be given).
func compilationCacheDefault(backend string) string {
	if backend == "vllm" {
		return v1alpha1.VLLMCompilationCacheDir
	}
	return ""
}

// MergeEnv merges variables by name, later lists winning, and sorts them by name, as the
// original does at each step (its MergeEnvs).
func MergeEnv(lists ...[]corev1.EnvVar) []corev1.EnvVar {
	byName := map[string]corev1.EnvVar{}
	for _, l := range lists {
		for _, e := range l {
			byName[e.Name] = e
		}
	}
	if len(byName) == 0 {
		return nil
	}
	out := make([]corev1.EnvVar, 0, len(byName))
	for _, e := range byName {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
