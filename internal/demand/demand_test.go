package demand

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// As ExtendedResourceToleration admits a pod: a toleration per extended resource it asks for,
// none for CPU, memory or kubernetes.io resources, none twice; the spec given is not changed.
func TestWithResourceTolerations(t *testing.T) {
	spec := &corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
		"nvidia.com/gpu": resource.MustParse("8"), "nvidia.com/mig-1g.10gb": resource.MustParse("1"),
		corev1.ResourceCPU: resource.MustParse("4"), "example.kubernetes.io/thing": resource.MustParse("1")}}}}}
	got := WithResourceTolerations(spec)
	want := []corev1.Toleration{
		{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: "nvidia.com/mig-1g.10gb", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	}
	if len(got.Tolerations) != 2 || got.Tolerations[0] != want[0] || got.Tolerations[1] != want[1] {
		t.Errorf("tolerations %+v, want %+v", got.Tolerations, want)
	}
	if len(spec.Tolerations) != 0 {
		t.Error("the given spec was changed")
	}
	if again := WithResourceTolerations(got); again != got {
		t.Error("a spec that tolerates its resources' taints got more tolerations")
	}
	cpuOnly := &corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}}}
	if WithResourceTolerations(cpuOnly) != cpuOnly {
		t.Error("a CPU-only pod got tolerations")
	}
}
