package v1beta1

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// Upstream's webhook holds new components to the image rule, and lets a component the graph
// already had pass without one (ValidateUpdate's rule); frontendSidecar must name a container
// on every change.
func TestValidateUpdate(t *testing.T) {
	pod := func(containers ...corev1.Container) *corev1.PodTemplateSpec {
		return &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: containers}}
	}
	main := corev1.Container{Name: MainContainerName, Image: "x"}
	graph := func(cs ...ComponentSpec) *DynamoGraphDeployment {
		return &DynamoGraphDeployment{Spec: DynamoGraphDeploymentSpec{Components: cs}}
	}
	old := graph(ComponentSpec{Name: "decode", PodTemplate: pod(main)})
	for _, tc := range []struct {
		name  string
		g     *DynamoGraphDeployment
		old   *DynamoGraphDeployment
		field string // "" when admitted
	}{
		{"new graph with images", graph(ComponentSpec{Name: "decode", PodTemplate: pod(main)}), nil, ""},
		{"new graph, no main image", graph(ComponentSpec{Name: "decode", PodTemplate: pod(corev1.Container{Name: MainContainerName})}), nil,
			"spec.components[decode].podTemplate.spec.containers"},
		{"new graph, no pod template", graph(ComponentSpec{Name: "decode"}), nil, "spec.components[decode].podTemplate.spec.containers"},
		{"epp needs no image", graph(ComponentSpec{Name: "epp", Type: "epp"}), nil, ""},
		{"an existing component without an image", graph(ComponentSpec{Name: "decode"}), old, ""},
		{"a component added without an image", graph(ComponentSpec{Name: "decode", PodTemplate: pod(main)}, ComponentSpec{Name: "prefill"}), old,
			"spec.components[prefill].podTemplate.spec.containers"},
		{"frontendSidecar names a container", graph(ComponentSpec{Name: "decode", FrontendSidecar: ptr.To("fe"),
			PodTemplate: pod(main, corev1.Container{Name: "fe", Image: "y"})}), old, ""},
		{"frontendSidecar names nothing, on an update", graph(ComponentSpec{Name: "decode", FrontendSidecar: ptr.To("fe"), PodTemplate: pod(main)}), old,
			"spec.components[decode].frontendSidecar"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := tc.g.ValidateUpdate(tc.old)
			if tc.field == "" {
				if len(errs) > 0 {
					t.Errorf("refused: %v", errs.ToAggregate())
				}
				return
			}
			if len(errs) != 1 || errs[0].Field != tc.field {
				t.Errorf("errors %v, want one on %s", errs.ToAggregate(), tc.field)
			}
			if len(errs) > 0 && !strings.Contains(errs.ToAggregate().Error(), tc.field) {
				t.Errorf("the message does not name the field: %v", errs.ToAggregate())
			}
		})
	}
}
