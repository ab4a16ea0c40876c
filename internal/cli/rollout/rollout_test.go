package rollout

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
)

func TestDescribe(t *testing.T) {
	g := testkit.Graph("ns", "g").Generation(2).
		Service("Frontend", testkit.Service("frontend").Image("")).
		Service("Decode", testkit.Service("decode").Image("w:2").Replicas(2)).
		Service("Prefill", testkit.Service("prefill").Image("")).Obj()
	hash := graph.WorkerHash(g)
	g.Annotations = map[string]string{v1alpha1.AnnotationCurrentWorkerHash: "0ld0ld00"}
	g.Status.ObservedGeneration = 1
	if line, done := Describe(g); done || !strings.Contains(line, "observe generation 2") {
		t.Errorf("not observed: %q %v", line, done)
	}
	g.Status.ObservedGeneration = 2
	g.Status.RollingUpdate = &v1alpha1.RollingUpdateStatus{Phase: "InProgress", UpdatedServices: []string{"Prefill"}, Message: "paused (x)"}
	g.Status.Services = map[string]v1alpha1.ServiceReplicaStatus{"Decode": {UpdatedReplicas: 1}, "Prefill": {UpdatedReplicas: 1}}
	want := "Waiting for dgd/g's rollout from 0ld0ld00 to " + hash + " (InProgress): Decode 1/2 new, Prefill 1/1 new (done); paused (x)"
	if line, done := Describe(g); done || line != want {
		t.Errorf("in progress:\n got %q\nwant %q", line, want)
	}
	end := metav1.NewTime(time.Date(2026, 12, 7, 15, 0, 0, 0, time.UTC))
	g.Annotations[v1alpha1.AnnotationCurrentWorkerHash] = hash
	g.Status.RollingUpdate = &v1alpha1.RollingUpdateStatus{Phase: "Completed", EndTime: &end}
	if line, done := Describe(g); !done || line != "dgd/g: rollout to worker generation "+hash+" complete (2026-12-07T15:00:00Z)" {
		t.Errorf("completed: %q %v", line, done)
	}
	g.Status.RollingUpdate = nil
	if line, done := Describe(g); !done || !strings.Contains(line, "no rollout in progress") {
		t.Errorf("none: %q %v", line, done)
	}
}
