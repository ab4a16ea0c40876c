package preflight_test

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/dynamo-infra/dynamo-infra/internal/preflight"
)

func TestNodeProblems(t *testing.T) {
	cond := func(typ corev1.NodeConditionType, s corev1.ConditionStatus) corev1.NodeCondition {
		return corev1.NodeCondition{Type: typ, Status: s}
	}
	ready := cond(corev1.NodeReady, corev1.ConditionTrue)
	for _, tc := range []struct {
		name          string
		unschedulable bool
		conditions    []corev1.NodeCondition
		want          []string
	}{
		{name: "healthy", conditions: []corev1.NodeCondition{ready, cond(corev1.NodeMemoryPressure, corev1.ConditionFalse)}},
		{name: "not ready", conditions: []corev1.NodeCondition{cond(corev1.NodeReady, corev1.ConditionFalse)}, want: []string{"NotReady"}},
		{name: "ready unknown", conditions: []corev1.NodeCondition{cond(corev1.NodeReady, corev1.ConditionUnknown)}, want: []string{"NotReady"}},
		{name: "no conditions yet", want: []string{"NotReady"}},
		{name: "cordoned", unschedulable: true, conditions: []corev1.NodeCondition{ready}, want: []string{"cordoned"}},
		{name: "every pressure", conditions: []corev1.NodeCondition{ready, cond(corev1.NodeMemoryPressure, corev1.ConditionTrue),
			cond(corev1.NodeDiskPressure, corev1.ConditionTrue), cond(corev1.NodePIDPressure, corev1.ConditionTrue),
			cond(corev1.NodeNetworkUnavailable, corev1.ConditionTrue)}, want: []string{"MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable"}},
		{name: "not ready and cordoned", unschedulable: true, conditions: []corev1.NodeCondition{cond(corev1.NodeReady, corev1.ConditionFalse)},
			want: []string{"NotReady", "cordoned"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := &corev1.Node{Spec: corev1.NodeSpec{Unschedulable: tc.unschedulable}, Status: corev1.NodeStatus{Conditions: tc.conditions}}
			if got := preflight.NodeProblems(n); !slices.Equal(got, tc.want) {
				t.Errorf("NodeProblems = %v, want %v", got, tc.want)
			}
		})
	}
}
