package graph

import (
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
)

// resources lays the service's short resources (gpu → gpuType or nvidia.com/gpu, custom) over
// the container's, key by key, and appends its DRA claims. A GPU request without a limit gets
// the limit too: the API server refuses an extended resource requested but not limited.
func resources(s *v1alpha1.ServiceSpec, base corev1.ResourceRequirements) (corev1.ResourceRequirements, error) {
	out := *base.DeepCopy()
	if r := s.Resources; r != nil {
		req, err := r.Requests.List()
		if err != nil {
			return out, err
		}
		lim, err := r.Limits.List()
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

// gpuResource is the resource a service's GPUs are counted in: its limits' gpuType, else its
// requests', else nvidia.com/gpu.
func gpuResource(s *v1alpha1.ServiceSpec) corev1.ResourceName {
	var item *v1alpha1.ResourceItem
	if s.Resources != nil {
		item = s.Resources.Limits
		if item == nil || item.GPUType == "" {
			if r := s.Resources.Requests; r != nil && r.GPUType != "" {
				item = r
			}
		}
	}
	return item.GPUResource()
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
