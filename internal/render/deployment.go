package render

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/topology"
)

// The pod of a service is built the way the original operator builds it on its Deployment path
// (deploy/operator/internal/dynamo: component_*.go, graph.go GenerateBasePodSpec, backend_*.go),
// in the same order, so that a manifest written for it runs the same processes here:
//
//  1. the component type's base container: the common env, then per type the command, ports,
//     probes and env (frontend: python3 -m dynamo.frontend on 8000; worker, prefill, decode:
//     system 9090 and NIXL 19090; planner: metrics 9085 and system 9090; an Endpoint Picker:
//     its image's entrypoint with the pool's flags, gRPC 9002 and its health port (epp.go);
//     others /bin/sh -c);
//  2. extraPodSpec.mainContainer laid over it (what it sets wins; env merges by name);
//  3. the graph's envs < the service's envs, over that; the service's probes replace whole;
//  4. the service's resources over the container's, key by key; DRA claims appended;
//  5. envFromSecret, the operator's NATS/etcd addresses (under everything else), PVC mounts
//     and the compilation cache, the backend's env (vLLM: VLLM_CACHE_ROOT);
//  6. the base pod spec (grace 60 s, planner's account; an Endpoint Picker's account, grace and
//     config volume) with extraPodSpec laid over it, fsGroup
//     1000 unless a securityContext is given, the discovery account, volumes, /dev/shm, and the
//     main container appended after extraPodSpec's containers;
//  7. for a multi-node service's leader and workers, the backend's launch (multinode.go): in
//     the container before the compilation cache's env, in the pod after the main container.
//
// Deliberate differences are listed in docs/api/dynamographdeployment.md.

// Defaults of rendered children.
var (
	defaultGracePeriod = int64(60)
	defaultFSGroup     = int64(1000)
	rollingMaxSurge    = intstr.FromString("25%")
	rollingMaxUnavail  = intstr.FromString("25%")
	startupFailures    = int32(720) // 10 s × 720 = 2 h to load a model
	// workerLivenessFailures is 1 in the original (docs/api: deliberate differences).
	workerLivenessFailures = int32(3)
)

// deployment renders one single-node component's Deployment.
func deployment(g *graph.Graph, c *graph.Component, cfg Config, scopes []topology.Scope) (*appsv1.Deployment, error) {
	template, err := podTemplate(g, c, cfg, scopes)
	if err != nil {
		return nil, err
	}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: workloadMeta(g, c),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(c.Replicas),
			Selector: &metav1.LabelSelector{MatchLabels: selectorLabels(c)},
			Strategy: appsv1.DeploymentStrategy{
				Type:          appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &rollingMaxSurge, MaxUnavailable: &rollingMaxUnavail},
			},
			Template: template,
		},
	}, nil
}

// Deployment renders one single-node component's Deployment (the operator renders a graph
// whole: Graph).
func Deployment(g *graph.Graph, c *graph.Component, cfg Config) (*appsv1.Deployment, error) {
	if err := usable(g, c); err != nil {
		return nil, err
	}
	scopes, err := g.Scopes(cfg.Topology)
	if err != nil {
		return nil, err
	}
	return deployment(g, c, cfg, scopes)
}

// usable refuses a component the graph cannot render.
func usable(g *graph.Graph, c *graph.Component) error {
	if err := g.Refusal(); err != nil {
		return err
	}
	return c.Err
}

// PodTemplate is the pod template of a component (a multi-node component's leader): its
// labels, annotations and spec, as the operator's Deployment or LeaderWorkerSet carries them.
func PodTemplate(g *graph.Graph, c *graph.Component, cfg Config) (corev1.PodTemplateSpec, error) {
	if err := usable(g, c); err != nil {
		return corev1.PodTemplateSpec{}, err
	}
	scopes, err := g.Scopes(cfg.Topology)
	if err != nil {
		return corev1.PodTemplateSpec{}, err
	}
	return podTemplate(g, c, cfg, scopes)
}

func podTemplate(g *graph.Graph, c *graph.Component, cfg Config, scopes []topology.Scope) (corev1.PodTemplateSpec, error) {
	role := RoleMain
	if c.Multinode() {
		role = RoleLeader
	}
	pod, err := rolePodSpec(g, c, cfg, role, scopes)
	if err != nil {
		return corev1.PodTemplateSpec{}, fmt.Errorf("service %s: %w", c.Name, err)
	}
	labels := podLabels(g, c)
	if c.Multinode() {
		labels[v1alpha1.LabelRole] = string(RoleLeader)
	}
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: podAnnotations(g, c)}, Spec: pod}, nil
}

// workloadMeta is the metadata of a component's workload (Deployment or LeaderWorkerSet).
func workloadMeta(g *graph.Graph, c *graph.Component) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: c.WorkloadName, Namespace: g.Namespace,
		Labels: childLabels(g, c), Annotations: childAnnotations(g, c), OwnerReferences: ownerRefs(g),
	}
}

// RolePodSpec renders the pod of one role of a component (see the steps at the top of this
// file; a single-node component has only RoleMain: the role asked for is ignored).
func RolePodSpec(g *graph.Graph, c *graph.Component, cfg Config, role Role) (corev1.PodSpec, error) {
	if err := usable(g, c); err != nil {
		return corev1.PodSpec{}, err
	}
	scopes, err := g.Scopes(cfg.Topology)
	if err != nil {
		return corev1.PodSpec{}, err
	}
	return rolePodSpec(g, c, cfg, role, scopes)
}

func rolePodSpec(g *graph.Graph, c *graph.Component, cfg Config, role Role, scopes []topology.Scope) (corev1.PodSpec, error) {
	if !c.Multinode() {
		role = RoleMain
	}
	// The user's pod, less its main container, over the type's base pod; the user's main
	// container over the type's base container.
	user := c.Template.Spec.DeepCopy()
	userMain := user.Containers[len(user.Containers)-1]
	user.Containers = user.Containers[:len(user.Containers)-1]
	if len(user.Containers) == 0 {
		user.Containers = nil
	}

	main := baseContainer(g, c)
	baseEnv := main.Env
	main = overlay(main, &userMain)
	main.Env = graph.MergeEnv(infrastructureEnv(cfg), baseEnv, userMain.Env)
	if userMain.StartupProbe != nil {
		main.StartupProbe = userMain.StartupProbe // replaced, not merged
	}
	if c.LivenessProbe != nil {
		main.LivenessProbe = c.LivenessProbe.DeepCopy()
	}
	if c.ReadinessProbe != nil {
		main.ReadinessProbe = c.ReadinessProbe.DeepCopy()
	}
	if role != RoleMain {
		if err := multinodeContainer(g, c, role, &main); err != nil {
			return corev1.PodSpec{}, err
		}
	}
	if c.Backend == "vllm" && c.CompilationCache != "" {
		main.Env = append(main.Env, corev1.EnvVar{Name: v1alpha1.EnvVLLMCacheRoot, Value: c.CompilationCache})
	}

	pod := overlay(basePodSpec(g, c), user)
	if user.SecurityContext == nil {
		if pod.SecurityContext == nil {
			pod.SecurityContext = &corev1.PodSecurityContext{}
		}
		if pod.SecurityContext.FSGroup == nil {
			pod.SecurityContext.FSGroup = ptr.To(defaultFSGroup)
		}
	}
	if pod.ServiceAccountName == "" && g.KubernetesDiscovery() {
		pod.ServiceAccountName = g.DiscoveryServiceAccount()
	}
	if c.SharedMemory != nil {
		pod.Volumes = append(pod.Volumes, corev1.Volume{Name: v1alpha1.SharedMemoryVolume, VolumeSource: corev1.VolumeSource{
			EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: ptr.To(c.SharedMemory.DeepCopy())}}})
		main.VolumeMounts = append(main.VolumeMounts, corev1.VolumeMount{Name: v1alpha1.SharedMemoryVolume, MountPath: v1alpha1.SharedMemoryMountPath})
	}
	if c.GMS != nil {
		withGMS(g, c, &pod, &main)
	}
	if c.Failover {
		pod.Containers = append(pod.Containers, failoverEngineContainers(c, main)...)
	} else {
		pod.Containers = append(pod.Containers, main)
	}
	if c.FrontendSidecar != nil {
		pod.Containers = append(pod.Containers, frontendSidecar(g, c, cfg))
	}
	if role != RoleMain {
		multinodePod(g, c, cfg, role, &pod)
	}
	topologyAffinity(g, c, scopes, &pod)
	return pod, nil
}

// MainContainer returns the main container of a rendered pod: the last one but a frontend
// sidecar (the original appends it after extraPodSpec's containers, and the sidecar after it;
// mainContainer.name may rename it). A failover pod's is its standby engine, engine-1.
func MainContainer(pod *corev1.PodSpec) *corev1.Container {
	n := len(pod.Containers)
	if n > 1 && pod.Containers[n-1].Name == v1alpha1.FrontendSidecarContainerName {
		n--
	}
	if n == 0 {
		return nil
	}
	return &pod.Containers[n-1]
}

// frontendSidecar is the frontend container frontendSidecar adds to a service's pods, as
// upstream generates it: the frontend's own container (command, port http 8000, probes, the
// Dynamo env of the service's namespace) named sidecar-frontend, with the sidecar's image, its
// args in place of the frontend's when given, its envFromSecret and envs, and the operator's
// NATS and etcd addresses under them (upstream once forgot those).
func frontendSidecar(g *graph.Graph, c *graph.Component, cfg Config) corev1.Container {
	as := *c
	as.Type, as.WorkerHash = v1alpha1.ComponentFrontend, ""
	spec := c.FrontendSidecar
	ct := baseContainer(g, &as)
	ct.Name, ct.Image = v1alpha1.FrontendSidecarContainerName, spec.Image
	if len(spec.Args) > 0 {
		ct.Args = spec.Args
	}
	if spec.EnvFromSecret != nil {
		ct.EnvFrom = append(ct.EnvFrom, corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: *spec.EnvFromSecret}}})
	}
	ct.Env = graph.MergeEnv(infrastructureEnv(cfg), ct.Env, spec.Envs)
	return ct
}

// baseContainer is the original's container for the service's component type: the common env,
// and the type's command, ports, probes and env.
func baseContainer(g *graph.Graph, comp *graph.Component) corev1.Container {
	c := corev1.Container{Name: v1alpha1.MainContainerName, Command: []string{"/bin/sh", "-c"}}
	field := func(path string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}
	}
	ns := comp.DynamoNamespace
	c.Env = []corev1.EnvVar{
		{Name: v1alpha1.EnvNamespace, Value: ns},
		{Name: v1alpha1.EnvComponent, Value: comp.Type},
		{Name: v1alpha1.EnvParentName, Value: g.Name},
		{Name: v1alpha1.EnvParentNamespace, Value: g.Namespace},
		{Name: v1alpha1.EnvPodName, ValueFrom: field("metadata.name")},
		{Name: v1alpha1.EnvPodNamespace, ValueFrom: field("metadata.namespace")},
		{Name: v1alpha1.EnvPodUID, ValueFrom: field("metadata.uid")},
	}
	if g.Discovery != v1alpha1.DiscoveryEtcd {
		c.Env = append(c.Env, corev1.EnvVar{Name: v1alpha1.EnvDiscoveryBackend, Value: v1alpha1.DiscoveryKubernetes})
	}
	if comp.Setting(v1alpha1.AnnotationKubeDiscoveryMode) == v1alpha1.DiscoveryModeContainer {
		c.Env = append(c.Env,
			corev1.EnvVar{Name: v1alpha1.EnvContainerName, Value: v1alpha1.MainContainerName},
			corev1.EnvVar{Name: v1alpha1.EnvKubeDiscoveryMode, Value: v1alpha1.DiscoveryModeContainer})
	}
	port := func(name string, n int32) corev1.ContainerPort {
		return corev1.ContainerPort{Name: name, ContainerPort: n, Protocol: corev1.ProtocolTCP}
	}
	env := func(name string, v any) corev1.EnvVar { return corev1.EnvVar{Name: name, Value: fmt.Sprint(v)} }
	switch ct := comp.Type; {
	case ct == v1alpha1.ComponentFrontend:
		c.Command, c.Args = []string{"python3"}, []string{"-m", "dynamo.frontend"}
		c.Ports = []corev1.ContainerPort{port(v1alpha1.PortNameFrontend, v1alpha1.PortFrontend)}
		c.LivenessProbe = httpProbe("/live", v1alpha1.PortNameFrontend, 15, 10, 1, 3)
		c.ReadinessProbe = httpProbe("/health", v1alpha1.PortNameFrontend, 10, 10, 3, 3)
		c.Env = append(c.Env, env(v1alpha1.EnvDynamoPort, v1alpha1.PortFrontend), env(v1alpha1.EnvHTTPPort, v1alpha1.PortFrontend),
			env(v1alpha1.EnvNamespacePrefix, ns))
	case graph.IsWorker(ct):
		c.Ports = []corev1.ContainerPort{port(v1alpha1.PortNameSystem, v1alpha1.PortSystem), port(v1alpha1.PortNameNixl, v1alpha1.PortNixl)}
		// Deliberate difference: the original's worker liveness fails on the first slow answer
		// (threshold 1) and restarts a loaded model; here it takes 3.
		c.LivenessProbe = httpProbe("/live", v1alpha1.PortNameSystem, 0, 5, 4, workerLivenessFailures)
		c.ReadinessProbe = httpProbe("/health", v1alpha1.PortNameSystem, 0, 10, 4, 3)
		c.StartupProbe = httpProbe("/live", v1alpha1.PortNameSystem, 0, 10, 5, startupFailures)
		c.Env = append(c.Env,
			env(v1alpha1.EnvSystemEnabled, "true"),
			env(v1alpha1.EnvSystemHealthStatus, `["generate"]`),
			env(v1alpha1.EnvSystemPort, v1alpha1.PortSystem),
			env(v1alpha1.EnvHealthCheckEnabled, "false"),
			env(v1alpha1.EnvNixlTelemetry, "n"),
			env(v1alpha1.EnvNixlExporter, "prometheus"),
			env(v1alpha1.EnvNixlPrometheusPort, v1alpha1.PortNixl),
		)
		if comp.WorkerHash != "" {
			c.Env = append(c.Env, env(v1alpha1.EnvWorkerSuffix, comp.WorkerHash))
		}
	case ct == v1alpha1.ComponentPlanner:
		c.Ports = []corev1.ContainerPort{port(v1alpha1.PortNamePlannerMetrics, v1alpha1.PortPlannerMetrics), port(v1alpha1.PortNameSystem, v1alpha1.PortSystem)}
		c.LivenessProbe = httpProbe("/live", v1alpha1.PortNameSystem, 0, 5, 4, 1)
		c.ReadinessProbe = httpProbe("/health", v1alpha1.PortNameSystem, 0, 10, 4, 3)
		c.StartupProbe = httpProbe("/live", v1alpha1.PortNameSystem, 0, 10, 5, startupFailures)
		c.Env = append(c.Env, env(v1alpha1.EnvPlannerMetricsPort, v1alpha1.PortPlannerMetrics), env(v1alpha1.EnvSystemPort, v1alpha1.PortSystem))
	case comp.EPP != nil:
		eppContainer(g, comp, &c)
	}
	return c
}

// basePodSpec is the original's pod spec of a component type before extraPodSpec.
func basePodSpec(g *graph.Graph, c *graph.Component) corev1.PodSpec {
	p := corev1.PodSpec{TerminationGracePeriodSeconds: ptr.To(defaultGracePeriod), RestartPolicy: corev1.RestartPolicyAlways}
	switch {
	case c.Type == v1alpha1.ComponentPlanner:
		p.ServiceAccountName = v1alpha1.PlannerServiceAccount
	case c.EPP != nil:
		eppPodSpec(g, c, &p)
	}
	return p
}

func httpProbe(path, port string, delay, period, timeout, failures int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:        corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString(port)}},
		InitialDelaySeconds: delay, PeriodSeconds: period, TimeoutSeconds: timeout, FailureThreshold: failures,
	}
}

// infrastructureEnv is what the operator's configuration injects; everything else wins over it.
func infrastructureEnv(cfg Config) []corev1.EnvVar {
	var env []corev1.EnvVar
	if cfg.NATSAddress != "" {
		env = append(env, corev1.EnvVar{Name: v1alpha1.EnvNATSServer, Value: cfg.NATSAddress})
	}
	if cfg.EtcdAddress != "" {
		env = append(env, corev1.EnvVar{Name: v1alpha1.EnvEtcdEndpoints, Value: cfg.EtcdAddress})
	}
	return env
}
