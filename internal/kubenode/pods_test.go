package kubenode

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// A pod holds its node's resources while bound and not terminal.
func TestPodActive(t *testing.T) {
	for _, tt := range []struct {
		node  string
		phase corev1.PodPhase
		want  bool
	}{
		{"a", corev1.PodRunning, true}, {"a", corev1.PodPending, true}, {"", corev1.PodPending, false},
		{"a", corev1.PodSucceeded, false}, {"a", corev1.PodFailed, false},
	} {
		p := &corev1.Pod{Spec: corev1.PodSpec{NodeName: tt.node}, Status: corev1.PodStatus{Phase: tt.phase}}
		if got := PodActive(p); got != tt.want {
			t.Errorf("node %q phase %s: %v", tt.node, tt.phase, got)
		}
	}
}

// Limits stand in for requests a container does not set; an init container counts by the max
// rule; the spec is not changed.
func TestPodRequests(t *testing.T) {
	q := resource.MustParse
	spec := &corev1.PodSpec{
		InitContainers: []corev1.Container{{Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{"cpu": q("4")}}}},
		Containers: []corev1.Container{
			{Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{"nvidia.com/gpu": q("8")}, Requests: corev1.ResourceList{"cpu": q("1")}}},
			{Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{"cpu": q("1")}}},
		},
	}
	got := PodRequests(spec)
	if gpu, cpu := got["nvidia.com/gpu"], got["cpu"]; gpu.Value() != 8 || cpu.Value() != 4 {
		t.Errorf("requests %v: want 8 GPUs (the limit) and 4 cpu (the init container's max)", got)
	}
	if _, set := spec.Containers[0].Resources.Requests["nvidia.com/gpu"]; set {
		t.Error("the spec was changed")
	}
}
