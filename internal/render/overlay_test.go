package render

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// overlay's rules, as upstream's mergo merge with override, and where the manifest's atoms
// (ports by name or number, quantities) replace whole.
func TestOverlay(t *testing.T) {
	base := corev1.Container{
		Name: "main", Command: []string{"/bin/sh", "-c"}, Args: []string{"a"},
		Ports: []corev1.ContainerPort{{Name: "system", ContainerPort: 9090}},
		LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/live", Port: intstr.FromString("system")}},
			PeriodSeconds: 5, FailureThreshold: 1},
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{"cpu": resource.MustParse("1"), "memory": resource.MustParse("1Gi")}},
	}
	over := &corev1.Container{
		Args: []string{"b", "c"}, // replaces; command stays
		LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(9345)}},
			FailureThreshold: 3}, // merged field by field; the port replaces whole
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{"cpu": resource.MustParse("2")}}, // key by key
	}
	want := base.DeepCopy()
	want.Args = []string{"b", "c"}
	want.LivenessProbe.HTTPGet.Port = intstr.FromInt32(9345)
	want.LivenessProbe.FailureThreshold = 3
	want.Resources.Limits["cpu"] = resource.MustParse("2")
	got := overlay(*base.DeepCopy(), over)
	if diff := cmp.Diff(*want, got); diff != "" {
		t.Errorf("overlay (-want +got):\n%s", diff)
	}
	if got := overlay(base, nil); got.Args[0] != "a" {
		t.Errorf("overlay with nothing changed %v", got.Args)
	}
}
