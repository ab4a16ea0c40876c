package kubenode

import (
	corev1 "k8s.io/api/core/v1"
	resourcehelper "k8s.io/component-helpers/resource"
)

// PodActive reports whether a pod holds its node's resources: bound and not terminal
// (Succeeded or Failed), as the scheduler counts it. The one answer every package asks.
func PodActive(p *corev1.Pod) bool {
	return p.Spec.NodeName != "" && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

// PodReady reports whether a pod serves: not being deleted, and every container Ready (read from
// the container statuses, which the operator's trimmed pods keep; its Ready condition they do
// not). A pod not started yet has no statuses and is not ready.
func PodReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || len(p.Status.ContainerStatuses) == 0 {
		return false
	}
	for _, c := range p.Status.ContainerStatuses {
		if !c.Ready {
			return false
		}
	}
	return true
}

// PodRequests is what the scheduler counts for a pod of this spec — init containers by the max
// rule, sidecars and overhead included — with a container's limit standing in for a request it
// does not set, as the API server defaults a pod's requests (a workload's template is not
// defaulted that way, and GPUs are usually given as limits only). spec is not changed.
func PodRequests(spec *corev1.PodSpec) corev1.ResourceList {
	pod := &corev1.Pod{Spec: *spec.DeepCopy()}
	fill := func(cs []corev1.Container) {
		for i := range cs {
			r := &cs[i].Resources
			for name, q := range r.Limits {
				if _, ok := r.Requests[name]; !ok {
					if r.Requests == nil {
						r.Requests = corev1.ResourceList{}
					}
					r.Requests[name] = q
				}
			}
		}
	}
	fill(pod.Spec.InitContainers)
	fill(pod.Spec.Containers)
	return StoredPodRequests(pod)
}

// StoredPodRequests is PodRequests of a pod the API server stored: its defaults are applied,
// so nothing is copied (plans and inventories read every active pod of the cluster).
func StoredPodRequests(pod *corev1.Pod) corev1.ResourceList {
	return resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
}
