package fit

import (
	"testing"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/plan"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
)

// A worker rolls by its managed rollout's bounds (its annotations); any other GPU Deployment by
// its own strategy (25% / 25%, in place).
func TestSurgesAreHowEachServiceRolls(t *testing.T) {
	decode := testkit.Service(v1alpha1.ComponentDecode).Image("").Replicas(4).Limits("1", 0).
		Annotation(v1alpha1.AnnotationMaxSurge, "0").Annotation(v1alpha1.AnnotationMaxUnavailable, "1")
	dgd := testkit.Graph("ns", "g").Service("Decode", decode).
		Service("Engine", testkit.Service(v1alpha1.ComponentMain).Image("").Replicas(4).Limits("1", 0)).Obj()
	g, err := graph.Resolve(dgd, graph.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := Surges(g, render.Config{})
	if got["Decode"] != (plan.Surge{MaxSurge: 0, MaxUnavailable: 1}) || got["Engine"] != (plan.Surge{MaxSurge: 1, MaxUnavailable: 1}) {
		t.Errorf("surges %+v", got)
	}
}
