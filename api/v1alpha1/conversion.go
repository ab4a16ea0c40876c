package v1alpha1

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/conversion"

	"github.com/dynamo-infra/dynamo-infra/api/v1beta1"
	"github.com/dynamo-infra/dynamo-infra/internal/residual"
)

// The annotations that carry, on an object of one version, what the other version held and
// this one cannot (upstream Dynamo's names and meaning: live fields win). Their value is a
// residual.Record; one written by upstream's operator (a sparse spec) is read too.
const (
	AnnotationConversionSpec   = "nvidia.com/dgd-spec"
	AnnotationConversionStatus = "nvidia.com/dgd-status"
)

// ConvertTo converts this graph to the hub version, v1beta1. What v1beta1 cannot hold (pvcs,
// ingress, a service's serviceName, ...) is kept in the annotations, and what the graph's own
// annotations kept of an earlier v1beta1 form comes back (see internal/residual).
func (src *DynamoGraphDeployment) ConvertTo(dstRaw conversion.Hub) error {
	dst, ok := dstRaw.(*v1beta1.DynamoGraphDeployment)
	if !ok {
		return fmt.Errorf("convert to %T: want *v1beta1.DynamoGraphDeployment", dstRaw)
	}
	meta := src.ObjectMeta.DeepCopy()
	specRec, statusRec, err := popResiduals(&meta.Annotations)
	if err != nil {
		return err
	}
	spec, err := restored(SpecToHub(&src.Spec), specRec)
	if err != nil {
		return fmt.Errorf("spec: %w", err)
	}
	status, err := restored(StatusToHub(&src.Status), statusRec)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	// What this version held that the converted object cannot: the difference between the
	// spec and the spec the hub form converts back to.
	backSpec, err := SpecFromHub(&spec)
	if err != nil {
		return fmt.Errorf("spec: %w", err)
	}
	if err := keepResidual(&meta.Annotations, AnnotationConversionSpec, &src.Spec, backSpec); err != nil {
		return err
	}
	backStatus := StatusFromHub(&status)
	if err := keepResidual(&meta.Annotations, AnnotationConversionStatus, &src.Status, &backStatus); err != nil {
		return err
	}
	dst.TypeMeta = src.TypeMeta
	dst.APIVersion = v1beta1.GroupVersion.String()
	dst.ObjectMeta = *meta
	dst.Spec, dst.Status = spec, status
	return nil
}

// ConvertFrom converts a hub (v1beta1) graph to this version, keeping what v1alpha1 cannot
// hold (components' order, a podTemplate's own fields, minAvailable, roles, ...) in the
// annotations.
func (dst *DynamoGraphDeployment) ConvertFrom(srcRaw conversion.Hub) error {
	src, ok := srcRaw.(*v1beta1.DynamoGraphDeployment)
	if !ok {
		return fmt.Errorf("convert from %T: want *v1beta1.DynamoGraphDeployment", srcRaw)
	}
	meta := src.ObjectMeta.DeepCopy()
	specRec, statusRec, err := popResiduals(&meta.Annotations)
	if err != nil {
		return err
	}
	plain, err := SpecFromHub(&src.Spec)
	if err != nil {
		return fmt.Errorf("spec: %w", err)
	}
	spec, err := restored(*plain, specRec)
	if err != nil {
		return fmt.Errorf("spec: %w", err)
	}
	status, err := restored(StatusFromHub(&src.Status), statusRec)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	backSpec := SpecToHub(&spec)
	if err := keepResidual(&meta.Annotations, AnnotationConversionSpec, &src.Spec, &backSpec); err != nil {
		return err
	}
	backStatus := StatusToHub(&status)
	if err := keepResidual(&meta.Annotations, AnnotationConversionStatus, &src.Status, &backStatus); err != nil {
		return err
	}
	dst.TypeMeta = src.TypeMeta
	dst.APIVersion = GroupVersion.String()
	dst.ObjectMeta = *meta
	dst.Spec, dst.Status = spec, status
	return nil
}

// popResiduals takes the residual annotations off an object's annotations.
func popResiduals(annotations *map[string]string) (spec, status residual.Record, err error) {
	for _, r := range []struct {
		key string
		rec *residual.Record
	}{{AnnotationConversionSpec, &spec}, {AnnotationConversionStatus, &status}} {
		raw, ok := (*annotations)[r.key]
		if !ok {
			continue
		}
		delete(*annotations, r.key)
		if raw == "" {
			continue
		}
		if *r.rec, err = residual.Decode(raw); err != nil {
			return residual.Record{}, residual.Record{}, fmt.Errorf("annotation %s: %w", r.key, err)
		}
	}
	if len(*annotations) == 0 {
		*annotations = nil
	}
	return spec, status, nil
}

// restored lays a residual over a converted value.
func restored[T any](v T, rec residual.Record) (T, error) {
	if rec.Empty() {
		return v, nil
	}
	tree, err := residual.ToJSON(v)
	if err != nil {
		return v, err
	}
	var out T
	if err := residual.FromJSON(residual.Restore(tree, rec), &out); err != nil {
		return v, fmt.Errorf("restore from the conversion annotation: %w", err)
	}
	return out, nil
}

// keepResidual records, under key, where back (the converted value converted back) differs
// from orig.
func keepResidual(annotations *map[string]string, key string, orig, back any) error {
	o, err := residual.ToJSON(orig)
	if err != nil {
		return err
	}
	b, err := residual.ToJSON(back)
	if err != nil {
		return err
	}
	rec := residual.Diff(o, b)
	if rec.Empty() {
		return nil
	}
	raw, err := rec.Encode()
	if err != nil {
		return err
	}
	if *annotations == nil {
		*annotations = map[string]string{}
	}
	(*annotations)[key] = raw
	return nil
}

// SpecToHub converts a spec to v1beta1, field by field as upstream maps them; what has no
// v1beta1 field is left out (ConvertTo keeps it in the annotation).
func SpecToHub(s *DynamoGraphDeploymentSpec) v1beta1.DynamoGraphDeploymentSpec {
	out := v1beta1.DynamoGraphDeploymentSpec{
		Annotations:       maps.Clone(s.Annotations),
		Labels:            maps.Clone(s.Labels),
		PriorityClassName: s.PriorityClassName,
		Env:               slices.Clone(s.Envs),
		BackendFramework:  s.BackendFramework,
	}
	if r := s.Restart; r != nil {
		out.Restart = &v1beta1.Restart{ID: r.ID}
		if r.Strategy != nil {
			out.Restart.Strategy = &v1beta1.RestartStrategy{Type: r.Strategy.Type, Order: slices.Clone(r.Strategy.Order)}
		}
	}
	if t := s.TopologyConstraint; t != nil {
		out.TopologyConstraint = &v1beta1.SpecTopologyConstraint{ClusterTopologyName: t.TopologyProfile, PackDomain: t.PackDomain}
	}
	// The map becomes a list in name order (upstream's order for a graph first written in
	// v1alpha1).
	for _, name := range slices.Sorted(maps.Keys(s.Services)) {
		if svc := s.Services[name]; svc != nil {
			out.Components = append(out.Components, componentToHub(name, svc.DeepCopy()))
		}
	}
	return out
}

// componentToHub converts one service (a copy the caller gives up).
func componentToHub(name string, s *ServiceSpec) v1beta1.ComponentSpec {
	c := v1beta1.ComponentSpec{
		Name:                  name,
		Type:                  s.ComponentType,
		GlobalDynamoNamespace: s.GlobalDynamoNamespace,
		Replicas:              s.Replicas,
	}
	switch {
	case s.ComponentType == ComponentWorker && (s.SubComponentType == ComponentPrefill || s.SubComponentType == ComponentDecode):
		// prefill and decode are component types of their own in v1beta1.
		c.Type = s.SubComponentType
	case s.ComponentType == ComponentMain || s.ComponentType == ComponentDefault:
		// v1alpha1's catch-alls, which v1beta1's enum has not: a component without a type
		// gets the same (the common defaults only).
		c.Type = ""
	}
	if s.Multinode != nil {
		c.Multinode = &v1beta1.MultinodeSpec{NodeCount: s.Multinode.NodeCount}
	}
	if s.ModelRef != nil {
		c.ModelRef = &v1beta1.ModelReference{Name: s.ModelRef.Name, Revision: s.ModelRef.Revision}
	}
	if s.TopologyConstraint != nil {
		c.TopologyConstraint = &v1beta1.TopologyConstraint{PackDomain: s.TopologyConstraint.PackDomain}
	}
	if e := s.EPPConfig; e != nil {
		c.EPPConfig = &v1beta1.EPPConfig{ConfigMapRef: e.ConfigMapRef, Config: e.Config}
	}
	if sm := s.SharedMemory; sm != nil {
		switch {
		case sm.Disabled:
			zero := resource.MustParse("0")
			c.SharedMemorySize = &zero
		case sm.Size != nil && !sm.Size.IsZero():
			c.SharedMemorySize = sm.Size
		}
	}
	if s.ScalingAdapter != nil && s.ScalingAdapter.Enabled {
		c.ScalingAdapter = &v1beta1.ScalingAdapter{}
	}
	var mounts []VolumeMount
	for _, vm := range s.VolumeMounts {
		if vm.UseAsCompilationCache && c.CompilationCache == nil {
			c.CompilationCache = &v1beta1.CompilationCacheConfig{PVCName: vm.Name, MountPath: vm.MountPoint}
			continue
		}
		mounts = append(mounts, vm)
	}
	c.Experimental = experimentalToHub(s)
	c.PodTemplate, c.FrontendSidecar = podTemplateToHub(s, mounts)
	return c
}

func experimentalToHub(s *ServiceSpec) *v1beta1.ExperimentalSpec {
	x := &v1beta1.ExperimentalSpec{}
	if g := s.GPUMemoryService; g != nil && g.Enabled {
		x.GPUMemoryService = &v1beta1.GPUMemoryServiceSpec{Mode: upperFirst(g.Mode), DeviceClassName: g.DeviceClassName}
	}
	if f := s.Failover; f != nil && f.Enabled {
		x.Failover = &v1beta1.FailoverSpec{Mode: upperFirst(f.Mode), NumShadows: f.NumShadows}
	}
	if cp := s.Checkpoint; cp != nil {
		x.Checkpoint = &v1beta1.ComponentCheckpointConfig{Enabled: cp.Enabled, Mode: cp.Mode, CheckpointRef: cp.CheckpointRef, Identity: cp.Identity}
	}
	if *x == (v1beta1.ExperimentalSpec{}) {
		return nil
	}
	return x
}

// podTemplateToHub gathers a service's pod fields — extraPodMetadata, extraPodSpec, its main
// container and the fields laid over it (envs, resources, envFromSecret, probes, volume
// mounts) and the frontend sidecar — into one pod template whose container "main" is first.
func podTemplateToHub(s *ServiceSpec, mounts []VolumeMount) (*corev1.PodTemplateSpec, *string) {
	t := &corev1.PodTemplateSpec{}
	if m := s.ExtraPodMetadata; m != nil {
		t.Labels, t.Annotations = m.Labels, m.Annotations
	}
	var main *corev1.Container
	if x := s.ExtraPodSpec; x != nil {
		if x.PodSpec != nil {
			t.Spec = *x.PodSpec
		}
		main = x.MainContainer
	}
	if main == nil {
		main = &corev1.Container{}
	}
	main.Name = v1beta1.MainContainerName
	main.Env = overEnv(main.Env, s.Envs)
	if r := s.Resources; r != nil {
		// A gpu that does not parse (the schema allows digits only) is left to the residual.
		laid := func(into corev1.ResourceList, item *ResourceItem) corev1.ResourceList {
			l, err := item.List()
			if err != nil || len(l) == 0 {
				return into
			}
			if into == nil {
				into = corev1.ResourceList{}
			}
			for k, v := range l {
				into[k] = v
			}
			return into
		}
		main.Resources.Requests = laid(main.Resources.Requests, r.Requests)
		main.Resources.Limits = laid(main.Resources.Limits, r.Limits)
		for _, c := range r.Claims {
			main.Resources.Claims = slices.DeleteFunc(main.Resources.Claims, func(x corev1.ResourceClaim) bool { return x.Name == c.Name })
			main.Resources.Claims = append(main.Resources.Claims, c)
		}
	}
	if s.EnvFromSecret != nil {
		main.EnvFrom = append(main.EnvFrom, corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: *s.EnvFromSecret}}})
	}
	if s.LivenessProbe != nil {
		main.LivenessProbe = s.LivenessProbe
	}
	if s.ReadinessProbe != nil {
		main.ReadinessProbe = s.ReadinessProbe
	}
	for _, vm := range mounts {
		if !slices.ContainsFunc(t.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == vm.Name }) {
			t.Spec.Volumes = append(t.Spec.Volumes, corev1.Volume{Name: vm.Name, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: vm.Name}}})
		}
		main.VolumeMounts = append(main.VolumeMounts, corev1.VolumeMount{Name: vm.Name, MountPath: vm.MountPoint})
	}
	others := slices.DeleteFunc(slices.Clone(t.Spec.Containers), func(c corev1.Container) bool { return c.Name == v1beta1.MainContainerName })
	t.Spec.Containers = append([]corev1.Container{*main}, others...)
	var sidecar *string
	if fs := s.FrontendSidecar; fs != nil {
		c := corev1.Container{Name: v1beta1.FrontendSidecarDefaultName, Image: fs.Image, Args: fs.Args, Env: fs.Envs}
		if fs.EnvFromSecret != nil {
			c.EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: *fs.EnvFromSecret}}}}
		}
		t.Spec.Containers = append(t.Spec.Containers, c)
		name := v1beta1.FrontendSidecarDefaultName
		sidecar = &name
	}
	return t, sidecar
}

// overEnv sets each of over's variables in env, in place by name or appended.
func overEnv(env, over []corev1.EnvVar) []corev1.EnvVar {
	out := slices.Clone(env)
	for _, e := range over {
		if i := slices.IndexFunc(out, func(x corev1.EnvVar) bool { return x.Name == e.Name }); i >= 0 {
			out[i] = e
		} else {
			out = append(out, e)
		}
	}
	return out
}

// SpecFromHub converts a v1beta1 spec to this version: each component becomes a service, its
// pod template extraPodMetadata and extraPodSpec with the container "main" as
// extraPodSpec.mainContainer. Two components of one name are an error (the API server refuses
// them; a file may not).
func SpecFromHub(s *v1beta1.DynamoGraphDeploymentSpec) (*DynamoGraphDeploymentSpec, error) {
	out := &DynamoGraphDeploymentSpec{
		Annotations:       maps.Clone(s.Annotations),
		Labels:            maps.Clone(s.Labels),
		PriorityClassName: s.PriorityClassName,
		Envs:              slices.Clone(s.Env),
		BackendFramework:  s.BackendFramework,
	}
	if r := s.Restart; r != nil {
		out.Restart = &Restart{ID: r.ID}
		if r.Strategy != nil {
			out.Restart.Strategy = &RestartStrategy{Type: r.Strategy.Type, Order: slices.Clone(r.Strategy.Order)}
		}
	}
	if t := s.TopologyConstraint; t != nil {
		out.TopologyConstraint = &SpecTopologyConstraint{TopologyProfile: t.ClusterTopologyName, PackDomain: t.PackDomain}
	}
	if len(s.Components) > 0 {
		out.Services = make(map[string]*ServiceSpec, len(s.Components))
	}
	for i := range s.Components {
		c := s.Components[i].DeepCopy()
		if _, dup := out.Services[c.Name]; dup {
			return nil, fmt.Errorf("spec.components: two components named %q", c.Name)
		}
		out.Services[c.Name] = componentFromHub(c)
	}
	return out, nil
}

// componentFromHub converts one component (a copy the caller gives up).
func componentFromHub(c *v1beta1.ComponentSpec) *ServiceSpec {
	s := &ServiceSpec{
		ComponentType:         c.Type,
		GlobalDynamoNamespace: c.GlobalDynamoNamespace,
		Replicas:              c.Replicas,
	}
	if c.Type == ComponentPrefill || c.Type == ComponentDecode {
		s.ComponentType, s.SubComponentType = ComponentWorker, c.Type
	}
	if c.Multinode != nil {
		s.Multinode = &MultinodeSpec{NodeCount: c.Multinode.NodeCount}
	}
	if c.ModelRef != nil {
		s.ModelRef = &ModelReference{Name: c.ModelRef.Name, Revision: c.ModelRef.Revision}
	}
	if c.TopologyConstraint != nil {
		s.TopologyConstraint = &TopologyConstraint{PackDomain: c.TopologyConstraint.PackDomain}
	}
	if e := c.EPPConfig; e != nil {
		s.EPPConfig = &EPPConfig{ConfigMapRef: e.ConfigMapRef, Config: e.Config}
	}
	if q := c.SharedMemorySize; q != nil {
		if q.IsZero() {
			s.SharedMemory = &SharedMemory{Disabled: true}
		} else {
			s.SharedMemory = &SharedMemory{Size: q}
		}
	}
	if c.ScalingAdapter != nil {
		s.ScalingAdapter = &ScalingAdapter{Enabled: true}
	}
	if cc := c.CompilationCache; cc != nil {
		s.VolumeMounts = []VolumeMount{{Name: cc.PVCName, MountPoint: cc.MountPath, UseAsCompilationCache: true}}
	}
	if x := c.Experimental; x != nil {
		if g := x.GPUMemoryService; g != nil {
			s.GPUMemoryService = &GPUMemoryServiceSpec{Enabled: true, Mode: lowerFirst(g.Mode), DeviceClassName: g.DeviceClassName}
		}
		if f := x.Failover; f != nil {
			s.Failover = &FailoverSpec{Enabled: true, Mode: lowerFirst(f.Mode), NumShadows: f.NumShadows}
		}
		if cp := x.Checkpoint; cp != nil {
			s.Checkpoint = &ServiceCheckpointConfig{Enabled: cp.Enabled, Mode: cp.Mode, CheckpointRef: cp.CheckpointRef, Identity: cp.Identity}
		}
	}
	if t := c.PodTemplate; t != nil {
		if len(t.Labels) > 0 || len(t.Annotations) > 0 {
			s.ExtraPodMetadata = &ExtraPodMetadata{Labels: t.Labels, Annotations: t.Annotations}
		}
		spec := t.Spec
		var main *corev1.Container
		var others []corev1.Container
		for i := range spec.Containers {
			ct := spec.Containers[i]
			switch {
			case ct.Name == v1beta1.MainContainerName && main == nil:
				// As upstream decomposes it: env, resources and probes become the service's
				// own fields; the rest stays the main container.
				ct.Name = ""
				s.Envs, ct.Env = ct.Env, nil
				s.Resources, ct.Resources = resourcesFromContainer(ct.Resources), corev1.ResourceRequirements{}
				s.LivenessProbe, ct.LivenessProbe = ct.LivenessProbe, nil
				s.ReadinessProbe, ct.ReadinessProbe = ct.ReadinessProbe, nil
				if !containerEmpty(&ct) {
					main = &ct
				}
			case c.FrontendSidecar != nil && ct.Name == *c.FrontendSidecar && s.FrontendSidecar == nil:
				s.FrontendSidecar = &FrontendSidecarSpec{Image: ct.Image, Args: ct.Args, Envs: ct.Env}
				for _, ef := range ct.EnvFrom {
					if ef.SecretRef != nil {
						name := ef.SecretRef.Name
						s.FrontendSidecar.EnvFromSecret = &name
						break
					}
				}
			default:
				others = append(others, ct)
			}
		}
		spec.Containers = others
		x := &ExtraPodSpec{MainContainer: main}
		if !podSpecEmpty(&spec) {
			x.PodSpec = &spec
		}
		if x.MainContainer != nil || x.PodSpec != nil {
			s.ExtraPodSpec = x
		}
	}
	return s
}

// resourcesFromContainer is a container's resources in the short form: cpu, memory,
// nvidia.com/gpu as gpu, the rest as custom, and the DRA claims.
func resourcesFromContainer(r corev1.ResourceRequirements) *Resources {
	item := func(l corev1.ResourceList) *ResourceItem {
		if len(l) == 0 {
			return nil
		}
		it := &ResourceItem{}
		for name, q := range l {
			switch {
			case name == corev1.ResourceCPU:
				it.CPU = &q
			case name == corev1.ResourceMemory:
				it.Memory = &q
			case name == DefaultGPUResource && q.Value() >= 0 && q.Equal(*resource.NewQuantity(q.Value(), resource.DecimalSI)):
				it.GPU = q.String()
			default:
				if it.Custom == nil {
					it.Custom = map[string]resource.Quantity{}
				}
				it.Custom[string(name)] = q
			}
		}
		return it
	}
	out := &Resources{Requests: item(r.Requests), Limits: item(r.Limits), Claims: r.Claims}
	if out.Requests == nil && out.Limits == nil && len(out.Claims) == 0 {
		return nil
	}
	return out
}

func containerEmpty(c *corev1.Container) bool {
	raw, err := residual.ToJSON(c)
	if err != nil {
		return false
	}
	m, _ := raw.(map[string]any)
	for k, v := range m {
		if k == "name" && v == "" || k == "resources" && v == nil {
			continue
		}
		if sub, ok := v.(map[string]any); ok && len(sub) == 0 {
			continue
		}
		return false
	}
	return true
}

func podSpecEmpty(s *corev1.PodSpec) bool {
	raw, err := residual.ToJSON(s)
	if err != nil {
		return false
	}
	m, _ := raw.(map[string]any)
	for k, v := range m {
		if k == "containers" && v == nil {
			continue
		}
		return false
	}
	return true
}

// upstream's v1beta1 modes are IntraPod and InterPod; v1alpha1's intraPod and interPod.
func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// StatusToHub converts a status to v1beta1: services become components (componentName folds
// into componentNames), readyServices readyComponents, placement topologyPlacement.
func StatusToHub(s *DynamoGraphDeploymentStatus) v1beta1.DynamoGraphDeploymentStatus {
	out := v1beta1.DynamoGraphDeploymentStatus{
		ObservedGeneration: s.ObservedGeneration,
		State:              s.State,
		Conditions:         slices.Clone(s.Conditions),
		ReadyComponents:    s.ReadyServices,
	}
	if len(s.Services) > 0 {
		out.Components = make(map[string]v1beta1.ComponentReplicaStatus, len(s.Services))
	}
	for name, r := range s.Services {
		c := v1beta1.ComponentReplicaStatus{
			ComponentKind:     r.ComponentKind,
			ComponentNames:    slices.Clone(r.ComponentNames),
			RuntimeNamespace:  r.RuntimeNamespace,
			Replicas:          r.Replicas,
			UpdatedReplicas:   r.UpdatedReplicas,
			ReadyReplicas:     ptrTo(r.ReadyReplicas),
			AvailableReplicas: ptrTo(r.AvailableReplicas),
			Reason:            r.Reason,
			Message:           r.Message,
		}
		if len(c.ComponentNames) == 0 && r.ComponentName != "" {
			c.ComponentNames = []string{r.ComponentName}
		}
		if r.ScheduledReplicas != 0 {
			c.ScheduledReplicas = ptrTo(r.ScheduledReplicas)
		}
		if cp := r.Capacity; cp != nil {
			c.Capacity = &v1beta1.ComponentCapacity{Resource: cp.Resource, PerPod: cp.PerPod, CandidateNodes: cp.CandidateNodes,
				NodesWithResource: cp.NodesWithResource, Product: cp.Product, MostFree: cp.MostFree,
				MostFreeNode: cp.MostFreeNode, NodesWithRoom: cp.NodesWithRoom}
		}
		out.Components[name] = c
	}
	for _, p := range s.Placement {
		out.TopologyPlacement = append(out.TopologyPlacement, v1beta1.TopologyPlacement{Component: p.Service, Domain: p.Domain,
			Key: p.Key, PerGroup: p.PerGroup, Values: slices.Clone(p.Values), Nodes: slices.Clone(p.Nodes),
			Unlabelled: slices.Clone(p.Unlabelled), Verified: p.Verified})
	}
	if ru := s.RollingUpdate; ru != nil {
		out.RollingUpdate = &v1beta1.RollingUpdateStatus{Phase: ru.Phase, StartTime: ru.StartTime.DeepCopy(),
			EndTime: ru.EndTime.DeepCopy(), UpdatedComponents: slices.Clone(ru.UpdatedServices), Message: ru.Message}
	}
	if r := s.Restart; r != nil {
		out.Restart = &v1beta1.RestartStatus{ObservedID: r.ObservedID, Phase: r.Phase, InProgress: slices.Clone(r.InProgress)}
	}
	return out
}

// StatusFromHub converts a v1beta1 status to this version (rollingUpdate's updatedComponents
// are updatedServices here); upstream's checkpoints and placement score have no field here
// (ConvertFrom keeps them in the annotation).
func StatusFromHub(s *v1beta1.DynamoGraphDeploymentStatus) DynamoGraphDeploymentStatus {
	out := DynamoGraphDeploymentStatus{
		ObservedGeneration: s.ObservedGeneration,
		State:              s.State,
		Conditions:         slices.Clone(s.Conditions),
		ReadyServices:      s.ReadyComponents,
	}
	if len(s.Components) > 0 {
		out.Services = make(map[string]ServiceReplicaStatus, len(s.Components))
	}
	for name, c := range s.Components {
		r := ServiceReplicaStatus{
			ComponentKind:     c.ComponentKind,
			ComponentNames:    slices.Clone(c.ComponentNames),
			RuntimeNamespace:  c.RuntimeNamespace,
			Replicas:          c.Replicas,
			UpdatedReplicas:   c.UpdatedReplicas,
			ReadyReplicas:     deref(c.ReadyReplicas),
			AvailableReplicas: deref(c.AvailableReplicas),
			ScheduledReplicas: deref(c.ScheduledReplicas),
			Reason:            c.Reason,
			Message:           c.Message,
		}
		// componentName is the newest workload (upstream's: the last of componentNames).
		if n := len(c.ComponentNames); n > 0 {
			r.ComponentName = c.ComponentNames[n-1]
		}
		if cp := c.Capacity; cp != nil {
			r.Capacity = &ServiceCapacity{Resource: cp.Resource, PerPod: cp.PerPod, CandidateNodes: cp.CandidateNodes,
				NodesWithResource: cp.NodesWithResource, Product: cp.Product, MostFree: cp.MostFree,
				MostFreeNode: cp.MostFreeNode, NodesWithRoom: cp.NodesWithRoom}
		}
		out.Services[name] = r
	}
	for _, p := range s.TopologyPlacement {
		out.Placement = append(out.Placement, TopologyPlacement{Service: p.Component, Domain: p.Domain, Key: p.Key,
			PerGroup: p.PerGroup, Values: slices.Clone(p.Values), Nodes: slices.Clone(p.Nodes),
			Unlabelled: slices.Clone(p.Unlabelled), Verified: p.Verified})
	}
	if ru := s.RollingUpdate; ru != nil {
		out.RollingUpdate = &RollingUpdateStatus{Phase: ru.Phase, StartTime: ru.StartTime.DeepCopy(),
			EndTime: ru.EndTime.DeepCopy(), UpdatedServices: slices.Clone(ru.UpdatedComponents), Message: ru.Message}
	}
	if r := s.Restart; r != nil {
		out.Restart = &RestartStatus{ObservedID: r.ObservedID, Phase: r.Phase, InProgress: slices.Clone(r.InProgress)}
	}
	return out
}

func ptrTo[T any](v T) *T { return &v }

func deref(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}
