package render

import (
	"fmt"
	"regexp"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
)

// The pod of a service is built the way the original operator builds it on its Deployment path
// (deploy/operator/internal/dynamo: component_*.go, graph.go GenerateBasePodSpec, backend_*.go),
// in the same order, so that a manifest written for it runs the same processes here:
//
//  1. the component type's base container: the common env, then per type the command, ports,
//     probes and env (frontend: python3 -m dynamo.frontend on 8000; worker, prefill, decode:
//     system 9090 and NIXL 19090; planner: metrics 9085 and system 9090; others /bin/sh -c);
//  2. extraPodSpec.mainContainer laid over it (what it sets wins; env merges by name);
//  3. the graph's envs < the service's envs, over that; the service's probes replace whole;
//  4. the service's resources over the container's, key by key; DRA claims appended;
//  5. envFromSecret, the operator's NATS/etcd addresses (under everything else), PVC mounts
//     and the compilation cache, the backend's env (vLLM: VLLM_CACHE_ROOT);
//  6. the base pod spec (grace 60 s, planner's account) with extraPodSpec laid over it, fsGroup
//     1000 unless a securityContext is given, the discovery account, volumes, /dev/shm, and the
//     main container appended after extraPodSpec's containers;
//  7. for a multi-node service's leader and workers, the backend's launch (multinode.go): in
//     the container before the compilation cache's env, in the pod after the main container.
//
// Deliberate differences are listed in docs/api/dynamographdeployment.md.

// Defaults of rendered children.
var (
	defaultSharedMemory = resource.MustParse("8Gi")
	defaultGracePeriod  = int64(60)
	defaultFSGroup      = int64(1000)
	defaultReplicas     = int32(1)
	rollingMaxSurge     = intstr.FromString("25%")
	rollingMaxUnavail   = intstr.FromString("25%")
	startupFailures     = int32(720) // 10 s × 720 = 2 h to load a model
	// workerLivenessFailures is 1 in the original (docs/api: deliberate differences).
	workerLivenessFailures = int32(3)
)

// Deployment renders one service's Deployment.
func Deployment(dgd *v1alpha1.DynamoGraphDeployment, service string, cfg Config) (*appsv1.Deployment, error) {
	s := dgd.Spec.Services[service]
	if s == nil {
		return nil, fmt.Errorf("service %q is empty", service)
	}
	template, err := PodTemplate(dgd, service, cfg)
	if err != nil {
		return nil, err
	}
	replicas := Replicas(s)
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: workloadMeta(dgd, service, ChildName(dgd, service)),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: selectorLabels(dgd, service)},
			Strategy: appsv1.DeploymentStrategy{
				Type:          appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &rollingMaxSurge, MaxUnavailable: &rollingMaxUnavail},
			},
			Template: template,
		},
	}, nil
}

// PodTemplate is the pod template of a service (a multi-node service's leader): its labels,
// annotations and spec, as the operator's Deployment or LeaderWorkerSet carries them.
func PodTemplate(dgd *v1alpha1.DynamoGraphDeployment, service string, cfg Config) (corev1.PodTemplateSpec, error) {
	pod, err := PodSpec(dgd, service, cfg)
	if err != nil {
		return corev1.PodTemplateSpec{}, fmt.Errorf("service %s: %w", service, err)
	}
	labels := podLabels(dgd, service, cfg)
	if NodeCount(dgd.Spec.Services[service]) > 1 {
		labels[v1alpha1.LabelRole] = string(RoleLeader)
	}
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: podAnnotations(dgd, service)}, Spec: pod}, nil
}

// workloadMeta is the metadata of a service's workload (Deployment or LeaderWorkerSet) named name.
func workloadMeta(dgd *v1alpha1.DynamoGraphDeployment, service, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: name, Namespace: dgd.Namespace,
		Labels: childLabels(dgd, service), Annotations: childAnnotations(dgd, service), OwnerReferences: ownerRefs(dgd),
	}
}

// Replicas is the number of pods a service asks for: replicas, or 1.
func Replicas(s *v1alpha1.ServiceSpec) int32 {
	if s.Replicas != nil {
		return *s.Replicas
	}
	return defaultReplicas
}

// PodSpec renders a service's pod (see the steps at the top of this file): a multi-node
// service's leader, whose scheduling constraints and resources its workers share.
func PodSpec(dgd *v1alpha1.DynamoGraphDeployment, service string, cfg Config) (corev1.PodSpec, error) {
	role := RoleMain
	if NodeCount(dgd.Spec.Services[service]) > 1 {
		role = RoleLeader
	}
	return RolePodSpec(dgd, service, cfg, role)
}

// RolePodSpec renders the pod of one role of a service (a single-node service has only
// RoleMain: the role asked for is ignored).
func RolePodSpec(dgd *v1alpha1.DynamoGraphDeployment, service string, cfg Config, role Role) (corev1.PodSpec, error) {
	s := dgd.Spec.Services[service]
	if NodeCount(s) <= 1 {
		role = RoleMain
	}
	ct := s.ComponentType
	extra := s.ExtraPodSpec
	if extra == nil {
		extra = &v1alpha1.ExtraPodSpec{}
	}
	if extra.MainContainer == nil || extra.MainContainer.Image == "" {
		return corev1.PodSpec{}, fmt.Errorf("extraPodSpec.mainContainer.image is required")
	}

	main := baseContainer(dgd, service, cfg)
	baseEnv := main.Env
	main = overlay(main, extra.MainContainer.DeepCopy())
	main.Env = mergeEnv(baseEnv, extra.MainContainer.Env)
	if extra.MainContainer.StartupProbe != nil {
		main.StartupProbe = extra.MainContainer.StartupProbe.DeepCopy() // replaced, not merged
	}
	main.Env = mergeEnv(main.Env, dgd.Spec.Envs, s.Envs)
	if s.LivenessProbe != nil {
		main.LivenessProbe = s.LivenessProbe.DeepCopy()
	}
	if s.ReadinessProbe != nil {
		main.ReadinessProbe = s.ReadinessProbe.DeepCopy()
	}
	var err error
	if main.Resources, err = Resources(s, main.Resources); err != nil {
		return corev1.PodSpec{}, err
	}
	if s.EnvFromSecret != nil {
		main.EnvFrom = append(main.EnvFrom, corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: *s.EnvFromSecret}}})
	}
	main.Env = mergeEnv(infrastructureEnv(cfg), main.Env)

	backend := workerBackend(dgd, s, &main)
	var volumes []corev1.Volume
	cacheDir := ""
	for _, vm := range s.VolumeMounts {
		mount := vm.MountPoint
		if vm.UseAsCompilationCache {
			if mount == "" {
				if mount = compilationCacheDefault(backend); mount == "" {
					return corev1.PodSpec{}, fmt.Errorf("volumeMounts %s: useAsCompilationCache needs a mountPoint for backend %q (only vllm has a default)", vm.Name, backend)
				}
			}
			cacheDir = mount
		}
		volumes = append(volumes, corev1.Volume{Name: vm.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: vm.Name}}})
		main.VolumeMounts = append(main.VolumeMounts, corev1.VolumeMount{Name: vm.Name, MountPath: mount})
	}
	if role != RoleMain {
		if err := multinodeContainer(dgd, service, backend, role, &main); err != nil {
			return corev1.PodSpec{}, err
		}
	}
	if backend == "vllm" && cacheDir != "" {
		main.Env = append(main.Env, corev1.EnvVar{Name: v1alpha1.EnvVLLMCacheRoot, Value: cacheDir})
	}

	pod := overlay(basePodSpec(ct), extra.PodSpec.DeepCopy())
	if extra.PodSpec == nil || extra.SecurityContext == nil {
		if pod.SecurityContext == nil {
			pod.SecurityContext = &corev1.PodSecurityContext{}
		}
		if pod.SecurityContext.FSGroup == nil {
			pod.SecurityContext.FSGroup = ptr.To(defaultFSGroup)
		}
	}
	if pod.ServiceAccountName == "" && discoveryBackend(dgd, cfg) == v1alpha1.DiscoveryKubernetes {
		pod.ServiceAccountName = DiscoveryServiceAccount(dgd)
	}
	pod.Volumes = append(pod.Volumes, volumes...)
	if sm := s.SharedMemory; sm == nil || !sm.Disabled {
		size := defaultSharedMemory
		if sm != nil && sm.Size != nil && !sm.Size.IsZero() {
			size = *sm.Size
		}
		pod.Volumes = append(pod.Volumes, corev1.Volume{Name: v1alpha1.SharedMemoryVolume, VolumeSource: corev1.VolumeSource{
			EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: &size}}})
		main.VolumeMounts = append(main.VolumeMounts, corev1.VolumeMount{Name: v1alpha1.SharedMemoryVolume, MountPath: v1alpha1.SharedMemoryMountPath})
	}
	pod.Containers = append(pod.Containers, main)
	if role != RoleMain {
		multinodePod(dgd, cfg, backend, role, &pod)
	}
	scopes, err := Scopes(dgd, cfg)
	if err != nil {
		return corev1.PodSpec{}, err
	}
	topologyAffinity(dgd, service, scopes, &pod)
	return pod, nil
}

// MainContainer returns the main container of a rendered pod: the last one (the original
// appends it after extraPodSpec's containers; mainContainer.name may rename it).
func MainContainer(pod *corev1.PodSpec) *corev1.Container {
	if len(pod.Containers) == 0 {
		return nil
	}
	return &pod.Containers[len(pod.Containers)-1]
}

// baseContainer is the original's container for the service's component type: the common env,
// and the type's command, ports, probes and env.
func baseContainer(dgd *v1alpha1.DynamoGraphDeployment, service string, cfg Config) corev1.Container {
	s := dgd.Spec.Services[service]
	c := corev1.Container{Name: v1alpha1.MainContainerName, Command: []string{"/bin/sh", "-c"}}
	field := func(path string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}
	}
	ns := DynamoNamespace(dgd, service)
	c.Env = []corev1.EnvVar{
		{Name: v1alpha1.EnvNamespace, Value: ns},
		{Name: v1alpha1.EnvComponent, Value: s.ComponentType},
		{Name: v1alpha1.EnvParentName, Value: dgd.Name},
		{Name: v1alpha1.EnvParentNamespace, Value: dgd.Namespace},
		{Name: v1alpha1.EnvPodName, ValueFrom: field("metadata.name")},
		{Name: v1alpha1.EnvPodNamespace, ValueFrom: field("metadata.namespace")},
		{Name: v1alpha1.EnvPodUID, ValueFrom: field("metadata.uid")},
	}
	if discoveryBackend(dgd, cfg) != v1alpha1.DiscoveryEtcd {
		c.Env = append(c.Env, corev1.EnvVar{Name: v1alpha1.EnvDiscoveryBackend, Value: v1alpha1.DiscoveryKubernetes})
	}
	if annotation(dgd, service, v1alpha1.AnnotationKubeDiscoveryMode) == v1alpha1.DiscoveryModeContainer {
		c.Env = append(c.Env,
			corev1.EnvVar{Name: v1alpha1.EnvContainerName, Value: v1alpha1.MainContainerName},
			corev1.EnvVar{Name: v1alpha1.EnvKubeDiscoveryMode, Value: v1alpha1.DiscoveryModeContainer})
	}
	port := func(name string, n int32) corev1.ContainerPort {
		return corev1.ContainerPort{Name: name, ContainerPort: n, Protocol: corev1.ProtocolTCP}
	}
	env := func(name string, v any) corev1.EnvVar { return corev1.EnvVar{Name: name, Value: fmt.Sprint(v)} }
	switch ct := s.ComponentType; {
	case ct == v1alpha1.ComponentFrontend:
		c.Command, c.Args = []string{"python3"}, []string{"-m", "dynamo.frontend"}
		c.Ports = []corev1.ContainerPort{port(v1alpha1.PortNameFrontend, v1alpha1.PortFrontend)}
		c.LivenessProbe = httpProbe("/live", v1alpha1.PortNameFrontend, 15, 10, 1, 3)
		c.ReadinessProbe = httpProbe("/health", v1alpha1.PortNameFrontend, 10, 10, 3, 3)
		c.Env = append(c.Env, env(v1alpha1.EnvDynamoPort, v1alpha1.PortFrontend), env(v1alpha1.EnvHTTPPort, v1alpha1.PortFrontend),
			env(v1alpha1.EnvNamespacePrefix, ns))
	case isWorker(ct):
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
	case ct == v1alpha1.ComponentPlanner:
		c.Ports = []corev1.ContainerPort{port(v1alpha1.PortNamePlannerMetrics, v1alpha1.PortPlannerMetrics), port(v1alpha1.PortNameSystem, v1alpha1.PortSystem)}
		c.LivenessProbe = httpProbe("/live", v1alpha1.PortNameSystem, 0, 5, 4, 1)
		c.ReadinessProbe = httpProbe("/health", v1alpha1.PortNameSystem, 0, 10, 4, 3)
		c.StartupProbe = httpProbe("/live", v1alpha1.PortNameSystem, 0, 10, 5, startupFailures)
		c.Env = append(c.Env, env(v1alpha1.EnvPlannerMetricsPort, v1alpha1.PortPlannerMetrics), env(v1alpha1.EnvSystemPort, v1alpha1.PortSystem))
	}
	return c
}

// basePodSpec is the original's pod spec of a component type before extraPodSpec.
func basePodSpec(ct string) corev1.PodSpec {
	p := corev1.PodSpec{TerminationGracePeriodSeconds: ptr.To(defaultGracePeriod), RestartPolicy: corev1.RestartPolicyAlways}
	if ct == v1alpha1.ComponentPlanner {
		p.ServiceAccountName = v1alpha1.PlannerServiceAccount
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

// backendCommand finds the engine a worker runs (python -m dynamo.vllm ...), as the original
// does when the graph does not name one.
var backendCommand = regexp.MustCompile(`python[0-9.]*\s+[^|&;]*-m\s+[^|&;]*dynamo\.(vllm|sglang|trtllm)`)

// workerBackend is the inference engine of a worker service: the graph's backendFramework, or
// the one its command runs. Other component types have none.
func workerBackend(dgd *v1alpha1.DynamoGraphDeployment, s *v1alpha1.ServiceSpec, main *corev1.Container) string {
	if !isWorker(s.ComponentType) {
		return ""
	}
	if dgd.Spec.BackendFramework != "" {
		return dgd.Spec.BackendFramework
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

// Resources lays the service's short resources (gpu → gpuType or nvidia.com/gpu, custom) over
// the container's, key by key, and appends its DRA claims. A GPU request without a limit gets
// the limit too: the API server refuses an extended resource requested but not limited.
func Resources(s *v1alpha1.ServiceSpec, base corev1.ResourceRequirements) (corev1.ResourceRequirements, error) {
	out := *base.DeepCopy()
	conv := func(item *v1alpha1.ResourceItem) (corev1.ResourceList, error) {
		if item == nil {
			return nil, nil
		}
		l := corev1.ResourceList{}
		if item.CPU != nil {
			l[corev1.ResourceCPU] = *item.CPU
		}
		if item.Memory != nil {
			l[corev1.ResourceMemory] = *item.Memory
		}
		if item.GPU != "" {
			q, err := resource.ParseQuantity(item.GPU)
			if err != nil {
				return nil, fmt.Errorf("resources gpu %q: %w", item.GPU, err)
			}
			if !q.IsZero() {
				l[GPUResource(item)] = q
			}
		}
		for name, q := range item.Custom {
			l[corev1.ResourceName(name)] = q
		}
		return l, nil
	}
	if r := s.Resources; r != nil {
		req, err := conv(r.Requests)
		if err != nil {
			return out, err
		}
		lim, err := conv(r.Limits)
		if err != nil {
			return out, err
		}
		out.Requests = mergeResources(out.Requests, req)
		out.Limits = mergeResources(out.Limits, lim)
		out.Claims = append(out.Claims, r.Claims...)
	}
	for name, q := range out.Requests {
		if isExtended(name) {
			if _, has := out.Limits[name]; !has {
				out.Limits = mergeResources(out.Limits, corev1.ResourceList{name: q})
			}
		}
	}
	if len(out.Requests) == 0 {
		out.Requests = nil
	}
	if len(out.Limits) == 0 {
		out.Limits = nil
	}
	return out, nil
}

// GPUResource is the resource name an item's gpu counts: gpuType, or nvidia.com/gpu.
func GPUResource(item *v1alpha1.ResourceItem) corev1.ResourceName {
	if item != nil && item.GPUType != "" {
		return corev1.ResourceName(item.GPUType)
	}
	return nvidia.ResourceGPU
}

// isExtended reports whether a resource is an extended one (GPUs, MIG slices): not cpu,
// memory, storage or hugepages.
func isExtended(name corev1.ResourceName) bool {
	switch name {
	case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage, corev1.ResourceStorage:
		return false
	}
	return !strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix) && strings.Contains(string(name), "/")
}

func mergeResources(base, over corev1.ResourceList) corev1.ResourceList {
	if len(over) == 0 {
		return base
	}
	out := corev1.ResourceList{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}
