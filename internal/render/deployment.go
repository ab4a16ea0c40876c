package render

import (
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
)

// Deployment renders one service's Deployment.
func Deployment(dgd *v1alpha1.DynamoGraphDeployment, service string, cfg Config) (*appsv1.Deployment, error) {
	s := dgd.Spec.Services[service]
	if s == nil {
		return nil, fmt.Errorf("service %q is empty", service)
	}
	pod, err := PodSpec(dgd, service, cfg)
	if err != nil {
		return nil, fmt.Errorf("service %s: %w", service, err)
	}
	replicas := defaultReplicas
	if s.Replicas != nil {
		replicas = *s.Replicas
	}
	podLabels := childLabels(dgd, service)
	podAnnotations := childAnnotations(dgd, service)
	if m := s.ExtraPodMetadata; m != nil {
		podLabels = merge(m.Labels, podLabels)
		if len(m.Annotations) > 0 {
			podAnnotations = merge(podAnnotations, m.Annotations)
		}
	}
	return &appsv1.Deployment{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{
			Name: ChildName(dgd, service), Namespace: dgd.Namespace,
			Labels: childLabels(dgd, service), Annotations: childAnnotations(dgd, service), OwnerReferences: ownerRefs(dgd),
		},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: selectorLabels(dgd, service)},
			Strategy: appsv1.DeploymentStrategy{
				Type:          appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &rollingMaxSurge, MaxUnavailable: &rollingMaxUnavail},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: podAnnotations},
				Spec:       pod,
			},
		},
	}, nil
}

// PodSpec renders a service's pod: the main container with injected env, ports, probes and
// resources; GPU scheduling; shared memory; PVC mounts; extraPodSpec on top.
func PodSpec(dgd *v1alpha1.DynamoGraphDeployment, service string, cfg Config) (corev1.PodSpec, error) {
	s := dgd.Spec.Services[service]
	ct := ComponentType(s)
	extra := s.ExtraPodSpec
	if extra == nil {
		extra = &v1alpha1.ExtraPodSpec{}
	}
	mc := extra.MainContainer
	if mc == nil || mc.Image == "" {
		return corev1.PodSpec{}, fmt.Errorf("extraPodSpec.mainContainer.image is required")
	}
	res, err := Resources(s, mc)
	if err != nil {
		return corev1.PodSpec{}, err
	}
	main := corev1.Container{
		Name:            v1alpha1.MainContainerName,
		Image:           mc.Image,
		ImagePullPolicy: mc.ImagePullPolicy,
		Command:         mc.Command,
		Args:            mc.Args,
		WorkingDir:      mc.WorkingDir,
		Env:             Env(dgd, service, cfg),
		EnvFrom:         mc.EnvFrom,
		Ports:           append(defaultPorts(ct), mc.Ports...),
		Resources:       res,
		SecurityContext: mc.SecurityContext,
		VolumeMounts:    mc.VolumeMounts,
		Lifecycle:       mc.Lifecycle,
	}
	if s.EnvFromSecret != nil && *s.EnvFromSecret != "" {
		main.EnvFrom = append(main.EnvFrom, corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: *s.EnvFromSecret}}})
	}
	main.LivenessProbe, main.ReadinessProbe, main.StartupProbe = defaultProbes(ct)
	// Service-level probes replace the defaults whole; main-container probes win over both.
	main.LivenessProbe = firstProbe(mc.LivenessProbe, s.LivenessProbe, main.LivenessProbe)
	main.ReadinessProbe = firstProbe(mc.ReadinessProbe, s.ReadinessProbe, main.ReadinessProbe)
	main.StartupProbe = firstProbe(mc.StartupProbe, main.StartupProbe)

	pod := corev1.PodSpec{
		TerminationGracePeriodSeconds: ptr.To(defaultGracePeriod),
		NodeSelector:                  extra.NodeSelector,
		TopologySpreadConstraints:     extra.TopologySpreadConstraints,
		ServiceAccountName:            extra.ServiceAccountName,
		ImagePullSecrets:              extra.ImagePullSecrets,
		SecurityContext:               extra.SecurityContext,
		PriorityClassName:             extra.PriorityClassName,
		SchedulerName:                 extra.SchedulerName,
		RuntimeClassName:              extra.RuntimeClassName,
		HostIPC:                       extra.HostIPC,
		DNSPolicy:                     extra.DNSPolicy,
		InitContainers:                extra.InitContainers,
		Volumes:                       append([]corev1.Volume(nil), extra.Volumes...),
	}
	if extra.TerminationGracePeriodSeconds != nil {
		pod.TerminationGracePeriodSeconds = extra.TerminationGracePeriodSeconds
	}
	if pod.SecurityContext == nil {
		pod.SecurityContext = &corev1.PodSecurityContext{FSGroup: ptr.To(defaultFSGroup)}
	}
	if pod.ServiceAccountName == "" && discoveryBackend(dgd, cfg) == v1alpha1.DiscoveryKubernetes {
		pod.ServiceAccountName = dgd.Name + "-k8s-service-discovery"
	}
	if sm := s.SharedMemory; sm == nil || !sm.Disabled {
		size := defaultSharedMemory
		if sm != nil && sm.Size != nil {
			size = *sm.Size
		}
		pod.Volumes = append(pod.Volumes, corev1.Volume{Name: "shared-memory", VolumeSource: corev1.VolumeSource{
			EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: &size}}})
		main.VolumeMounts = append(main.VolumeMounts, corev1.VolumeMount{Name: "shared-memory", MountPath: "/dev/shm"})
	}
	for _, vm := range s.VolumeMounts {
		pod.Volumes = append(pod.Volumes, corev1.Volume{Name: vm.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: vm.Name}}})
		main.VolumeMounts = append(main.VolumeMounts, corev1.VolumeMount{Name: vm.Name, MountPath: vm.MountPoint})
	}
	if usesGPU(res) {
		pod.Tolerations = append(pod.Tolerations, corev1.Toleration{Key: v1alpha1.ResourceGPU, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
		if extra.Affinity == nil {
			pod.Affinity = gpuNodeAffinity()
		}
	}
	if extra.Affinity != nil {
		pod.Affinity = extra.Affinity
	}
	pod.Tolerations = append(pod.Tolerations, extra.Tolerations...)
	pod.Containers = append([]corev1.Container{main}, extra.Containers...)
	return pod, nil
}

// Env is the main container's environment: the injected variables in the reference's order,
// the component type's, then graph envs < service envs < main-container env, each overriding an
// earlier variable of the same name in place.
func Env(dgd *v1alpha1.DynamoGraphDeployment, service string, cfg Config) []corev1.EnvVar {
	s := dgd.Spec.Services[service]
	field := func(path string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}
	}
	env := []corev1.EnvVar{
		{Name: v1alpha1.EnvNamespace, Value: DynamoNamespace(dgd)},
		{Name: v1alpha1.EnvComponent, Value: service},
		{Name: v1alpha1.EnvParentName, Value: dgd.Name},
		{Name: v1alpha1.EnvParentNamespace, Value: dgd.Namespace},
		{Name: v1alpha1.EnvPodName, ValueFrom: field("metadata.name")},
		{Name: v1alpha1.EnvPodNamespace, ValueFrom: field("metadata.namespace")},
		{Name: v1alpha1.EnvPodUID, ValueFrom: field("metadata.uid")},
		{Name: v1alpha1.EnvDiscoveryBackend, Value: discoveryBackend(dgd, cfg)},
	}
	if cfg.NATSAddress != "" {
		env = append(env, corev1.EnvVar{Name: v1alpha1.EnvNATSServer, Value: cfg.NATSAddress})
	}
	if cfg.EtcdAddress != "" {
		env = append(env, corev1.EnvVar{Name: v1alpha1.EnvEtcdEndpoints, Value: cfg.EtcdAddress})
	}
	switch ct := ComponentType(s); {
	case ct == v1alpha1.ComponentFrontend:
		port := fmt.Sprint(v1alpha1.PortFrontend)
		env = append(env, corev1.EnvVar{Name: v1alpha1.EnvDynamoPort, Value: port}, corev1.EnvVar{Name: v1alpha1.EnvHTTPPort, Value: port})
	case isWorker(ct):
		env = append(env,
			corev1.EnvVar{Name: v1alpha1.EnvSystemEnabled, Value: "true"},
			corev1.EnvVar{Name: v1alpha1.EnvSystemPort, Value: fmt.Sprint(v1alpha1.PortSystem)},
			corev1.EnvVar{Name: v1alpha1.EnvSystemHealthStatus, Value: `["generate"]`},
			corev1.EnvVar{Name: v1alpha1.EnvHealthCheckEnabled, Value: "false"},
		)
	}
	user := mergeEnv(dgd.Spec.Envs, s.Envs)
	if s.ExtraPodSpec != nil && s.ExtraPodSpec.MainContainer != nil {
		user = mergeEnv(user, s.ExtraPodSpec.MainContainer.Env)
	}
	return mergeEnv(env, user)
}

// mergeEnv overrides variables of base by name, in place, and appends the new ones, sorted.
func mergeEnv(base, over []corev1.EnvVar) []corev1.EnvVar {
	out := append([]corev1.EnvVar(nil), base...)
	index := map[string]int{}
	for i, e := range out {
		index[e.Name] = i
	}
	var added []corev1.EnvVar
	for _, e := range over {
		if i, ok := index[e.Name]; ok {
			out[i] = e
			continue
		}
		added = append(added, e)
	}
	sort.SliceStable(added, func(i, j int) bool { return added[i].Name < added[j].Name })
	return append(out, added...)
}

// Resources converts the service's short resources (gpu → nvidia.com/gpu, custom) and merges the
// main container's resources over them. A GPU request without a limit gets the limit too:
// extended resources must be equal in both.
func Resources(s *v1alpha1.ServiceSpec, mc *v1alpha1.MainContainer) (corev1.ResourceRequirements, error) {
	var out corev1.ResourceRequirements
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
				l[v1alpha1.ResourceGPU] = q
			}
		}
		for name, q := range item.Custom {
			l[corev1.ResourceName(name)] = q
		}
		return l, nil
	}
	var err error
	if s.Resources != nil {
		if out.Requests, err = conv(s.Resources.Requests); err != nil {
			return out, err
		}
		if out.Limits, err = conv(s.Resources.Limits); err != nil {
			return out, err
		}
	}
	if mc != nil && mc.Resources != nil {
		out.Requests = mergeResources(out.Requests, mc.Resources.Requests)
		out.Limits = mergeResources(out.Limits, mc.Resources.Limits)
	}
	if q, ok := out.Requests[v1alpha1.ResourceGPU]; ok {
		if _, has := out.Limits[v1alpha1.ResourceGPU]; !has {
			out.Limits = mergeResources(out.Limits, corev1.ResourceList{v1alpha1.ResourceGPU: q})
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

func usesGPU(r corev1.ResourceRequirements) bool {
	for _, l := range []corev1.ResourceList{r.Requests, r.Limits} {
		if q, ok := l[v1alpha1.ResourceGPU]; ok && !q.IsZero() {
			return true
		}
	}
	return false
}

// gpuNodeAffinity requires a node that any GPU signal marks as one: GFD/GPU Operator, NFD, or a
// managed cloud's accelerator label (node selector terms are ORed).
func gpuNodeAffinity() *corev1.Affinity {
	term := func(key string, op corev1.NodeSelectorOperator, values ...string) corev1.NodeSelectorTerm {
		return corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}}
	}
	return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{
			term("nvidia.com/gpu.present", corev1.NodeSelectorOpIn, "true"),
			term("feature.node.kubernetes.io/pci-10de.present", corev1.NodeSelectorOpIn, "true"),
			term("cloud.google.com/gke-accelerator", corev1.NodeSelectorOpExists),
			term("kubernetes.azure.com/accelerator", corev1.NodeSelectorOpExists),
			term("karpenter.k8s.aws/instance-gpu-count", corev1.NodeSelectorOpExists),
		}},
	}}
}

func defaultPorts(ct string) []corev1.ContainerPort {
	if ct == v1alpha1.ComponentFrontend {
		return []corev1.ContainerPort{{Name: v1alpha1.PortNameFrontend, ContainerPort: v1alpha1.PortFrontend, Protocol: corev1.ProtocolTCP}}
	}
	return []corev1.ContainerPort{{Name: v1alpha1.PortNameSystem, ContainerPort: v1alpha1.PortSystem, Protocol: corev1.ProtocolTCP}}
}

// defaultProbes are the reference's probes, except that a worker's liveness tolerates 3
// failures instead of 1 (one slow answer under load should not restart a loaded model).
func defaultProbes(ct string) (liveness, readiness, startup *corev1.Probe) {
	http := func(path, port string, delay, period, timeout, failures int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:        corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString(port)}},
			InitialDelaySeconds: delay, PeriodSeconds: period, TimeoutSeconds: timeout, FailureThreshold: failures, SuccessThreshold: 1,
		}
	}
	switch {
	case ct == v1alpha1.ComponentFrontend:
		return http("/live", v1alpha1.PortNameFrontend, 15, 10, 1, 3), http("/health", v1alpha1.PortNameFrontend, 10, 10, 3, 3), nil
	case isWorker(ct):
		return http("/live", v1alpha1.PortNameSystem, 0, 5, 4, 3), http("/health", v1alpha1.PortNameSystem, 0, 10, 4, 3),
			http("/live", v1alpha1.PortNameSystem, 0, 10, 5, workerStartupFailure)
	}
	return nil, nil, nil
}

// firstProbe returns the first probe that is set, in order of precedence.
func firstProbe(probes ...*corev1.Probe) *corev1.Probe {
	for _, p := range probes {
		if p != nil {
			return p
		}
	}
	return nil
}
