package graph

import (
	"testing"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
)

// The wait-for-capacity annotation reads as Kubernetes reads booleans; anything else does not
// hold the graph and is said (it silently released a held change for TRUE, yes, 1, " true").
func TestWaitsForCapacity(t *testing.T) {
	for v, want := range map[string]bool{"true": true, "TRUE": true, "True": true, "1": true, "t": true,
		"false": false, "0": false, "F": false} {
		g := &v1alpha1.DynamoGraphDeployment{}
		g.Annotations = map[string]string{v1alpha1.AnnotationWaitForCapacity: v}
		if got, err := waitsForCapacity(g); got != want || err != nil {
			t.Errorf("%q: %v %v, want %v", v, got, err, want)
		}
	}
	for _, v := range []string{"yes", " true", "on", ""} {
		g := &v1alpha1.DynamoGraphDeployment{}
		g.Annotations = map[string]string{v1alpha1.AnnotationWaitForCapacity: v}
		got, err := waitsForCapacity(g)
		r, _ := Resolve(g, Options{})
		if got || err == nil || len(r.Warnings()) != 1 {
			t.Errorf("%q: %v %v, warnings %v; want false with a warning", v, got, err, r.Warnings())
		}
	}
	if got, err := waitsForCapacity(&v1alpha1.DynamoGraphDeployment{}); got || err != nil {
		t.Errorf("unset: %v %v", got, err)
	}
}
