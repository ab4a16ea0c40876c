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

// Upstream's webhook rules for spec.restart: a Sequential order names every component once, and
// the id does not change while a rolling update is Pending or InProgress.
func TestValidateRestart(t *testing.T) {
	main := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: MainContainerName, Image: "x"}}}}
	graph := func(restart *Restart, rolling string) *DynamoGraphDeployment {
		g := &DynamoGraphDeployment{Spec: DynamoGraphDeploymentSpec{Restart: restart,
			Components: []ComponentSpec{{Name: "frontend", PodTemplate: main}, {Name: "decode", PodTemplate: main}}}}
		if rolling != "" {
			g.Status.RollingUpdate = &RollingUpdateStatus{Phase: rolling}
		}
		return g
	}
	order := func(names ...string) *Restart { return &Restart{ID: "1", Strategy: &RestartStrategy{Order: names}} }
	for _, tc := range []struct {
		name     string
		g, old   *DynamoGraphDeployment
		fields   []string
		contains string
	}{
		{"every component once", graph(order("decode", "frontend"), ""), nil, nil, ""},
		{"no order", graph(&Restart{ID: "1"}, ""), nil, nil, ""},
		{"one missing", graph(order("decode"), ""), nil, []string{"spec.restart.strategy.order"}, "missing: frontend"},
		{"a duplicate", graph(order("decode", "decode", "frontend"), ""), nil, []string{"spec.restart.strategy.order[1]"}, "Duplicate"},
		{"an unknown one", graph(order("decode", "frontend", "planner"), ""), nil, []string{"spec.restart.strategy.order[2]"}, "planner"},
		{"a new id while rolling", graph(&Restart{ID: "2"}, ""), graph(&Restart{ID: "1"}, "InProgress"), []string{"spec.restart.id"}, "InProgress"},
		{"a first id while pending", graph(&Restart{ID: "1"}, ""), graph(nil, "Pending"), []string{"spec.restart.id"}, "Pending"},
		{"the same id while rolling", graph(&Restart{ID: "1"}, ""), graph(&Restart{ID: "1"}, "InProgress"), nil, ""},
		{"a new id once Completed", graph(&Restart{ID: "2"}, ""), graph(&Restart{ID: "1"}, "Completed"), nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := tc.g.ValidateUpdate(tc.old)
			var fields []string
			for _, e := range errs {
				fields = append(fields, e.Field)
			}
			if strings.Join(fields, ",") != strings.Join(tc.fields, ",") {
				t.Fatalf("errors %v, want on %v", errs.ToAggregate(), tc.fields)
			}
			if tc.contains != "" && !strings.Contains(errs.ToAggregate().Error(), tc.contains) {
				t.Errorf("%v does not say %q", errs.ToAggregate(), tc.contains)
			}
		})
	}
}
