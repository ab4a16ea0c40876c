package v1alpha1

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// DefaultGPUResource is the resource a service's gpu counts when it names no gpuType.
const DefaultGPUResource corev1.ResourceName = "nvidia.com/gpu"

// GPUResource is the resource name the item's gpu counts: gpuType, or nvidia.com/gpu.
func (item *ResourceItem) GPUResource() corev1.ResourceName {
	if item != nil && item.GPUType != "" {
		return corev1.ResourceName(item.GPUType)
	}
	return DefaultGPUResource
}

// List is the item in a container's terms: cpu, memory, gpu as its GPU resource (0 left
// out), custom resources by name.
func (item *ResourceItem) List() (corev1.ResourceList, error) {
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
			l[item.GPUResource()] = q
		}
	}
	for name, q := range item.Custom {
		l[corev1.ResourceName(name)] = q
	}
	return l, nil
}
