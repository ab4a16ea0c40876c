package get_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/get"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
)

// A row is what the status says; a graph the operator has not reported on yet shows dashes.
func TestRow(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	two := int32(2)
	g := &v1alpha1.DynamoGraphDeployment{
		ObjectMeta: metav1.ObjectMeta{Name: "g", Namespace: "ns", CreationTimestamp: metav1.NewTime(now.Add(-90 * time.Minute))},
		Spec: v1alpha1.DynamoGraphDeploymentSpec{Services: map[string]*v1alpha1.ServiceSpec{
			"Frontend": {}, "Decode": {Replicas: &two, Multinode: &v1alpha1.MultinodeSpec{NodeCount: 2}}}},
	}
	if diff := cmp.Diff([]string{"g", "-", "-", "-", "-", "90m"}, get.Row(resolve(g), false, false, now)); diff != "" {
		t.Errorf("new graph (-want +got):\n%s", diff)
	}
	g.Spec.BackendFramework = "sglang"
	g.Status = v1alpha1.DynamoGraphDeploymentStatus{State: "pending", ReadyServices: "1/2",
		Conditions: []metav1.Condition{{Type: "Ready", Status: metav1.ConditionFalse, Reason: "ResourcesNotReady"}},
		Services:   map[string]v1alpha1.ServiceReplicaStatus{"Decode": {ReadyReplicas: 1}, "Frontend": {ReadyReplicas: 1}}}
	want := []string{"ns", "g", "False", "pending", "1/2", "ResourcesNotReady", "90m", "sglang", "Decode=1/2,Frontend=1/1"}
	if diff := cmp.Diff(want, get.Row(resolve(g), true, true, now)); diff != "" {
		t.Errorf("reported graph, wide, all namespaces (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"NAMESPACE", "NAME", "READY", "STATE", "SERVICES", "REASON", "AGE", "BACKEND", "REPLICAS"}, get.Header(true, true)); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
}

func resolve(g *v1alpha1.DynamoGraphDeployment) *graph.Graph {
	r, _ := graph.Resolve(g, graph.Options{})
	return r
}
