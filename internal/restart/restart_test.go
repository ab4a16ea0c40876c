package restart

import (
	"reflect"
	"testing"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
)

var services = []string{"VllmDecodeWorker", "Frontend", "VllmPrefillWorker"}

func status(id, phase string, inProgress ...string) *v1alpha1.RestartStatus {
	return &v1alpha1.RestartStatus{ObservedID: id, Phase: phase, InProgress: inProgress}
}

// A Sequential restart walks the services alphabetically (the original's default), one at a
// time, each only once the one before has every replica on the new id; the annotations reach
// the services as it goes, and the others keep what they carry.
func TestSequential(t *testing.T) {
	spec := &v1alpha1.Restart{ID: "b"}
	live := map[string]string{"Frontend": "a", "VllmDecodeWorker": "a", "VllmPrefillWorker": "a"}
	finished := map[string]bool{}
	done := func(s string) bool { return finished[s] }

	st := Step(spec, status("a", v1alpha1.RestartPhaseCompleted), false, services, done)
	want := status("b", v1alpha1.RestartPhaseRestarting, "Frontend")
	if !reflect.DeepEqual(st, want) {
		t.Fatalf("new id: %+v, want %+v", st, want)
	}
	ann := Annotations(spec, st, services, live)
	if !reflect.DeepEqual(ann, map[string]string{"Frontend": "b", "VllmDecodeWorker": "a", "VllmPrefillWorker": "a"}) {
		t.Errorf("annotations at Frontend: %v", ann)
	}
	// Not done yet: it holds.
	if st = Step(spec, st, false, services, done); !reflect.DeepEqual(st, want) {
		t.Fatalf("Frontend not done: %+v", st)
	}
	finished["Frontend"] = true
	st = Step(spec, st, false, services, done)
	if !reflect.DeepEqual(st, status("b", v1alpha1.RestartPhaseRestarting, "VllmDecodeWorker")) {
		t.Fatalf("after Frontend: %+v", st)
	}
	ann = Annotations(spec, st, services, map[string]string{"Frontend": "b", "VllmDecodeWorker": "a", "VllmPrefillWorker": "a"})
	if !reflect.DeepEqual(ann, map[string]string{"Frontend": "b", "VllmDecodeWorker": "b", "VllmPrefillWorker": "a"}) {
		t.Errorf("annotations at VllmDecodeWorker: %v", ann)
	}
	finished["VllmDecodeWorker"], finished["VllmPrefillWorker"] = true, true
	st = Step(spec, st, false, services, done)
	st = Step(spec, st, false, services, done)
	if !reflect.DeepEqual(st, status("b", v1alpha1.RestartPhaseCompleted)) {
		t.Fatalf("the end: %+v", st)
	}
	if ann = Annotations(spec, st, services, nil); len(ann) != 3 || ann["VllmPrefillWorker"] != "b" {
		t.Errorf("annotations once Completed: %v", ann)
	}
	// Completed stays Completed; taking spec.restart off keeps the id on the pods.
	if again := Step(spec, st, false, services, func(string) bool { return false }); !reflect.DeepEqual(again, st) {
		t.Errorf("Completed, again: %+v", again)
	}
	kept := Step(nil, st, false, services, done)
	if !reflect.DeepEqual(kept, st) || Annotations(nil, kept, services, nil)["Frontend"] != "b" {
		t.Errorf("spec.restart removed: %+v %v", kept, Annotations(nil, kept, services, nil))
	}
}

// strategy.order sets the order; a service that leaves it starts the order over.
func TestSequentialOrder(t *testing.T) {
	spec := &v1alpha1.Restart{ID: "x", Strategy: &v1alpha1.RestartStrategy{Order: []string{"VllmPrefillWorker", "VllmDecodeWorker", "Frontend"}}}
	st := Step(spec, nil, false, services, nil)
	if !reflect.DeepEqual(st, status("x", v1alpha1.RestartPhaseRestarting, "VllmPrefillWorker")) {
		t.Fatalf("first: %+v", st)
	}
	st = Step(spec, st, false, services, func(string) bool { return true })
	if !reflect.DeepEqual(st.InProgress, []string{"VllmDecodeWorker"}) {
		t.Fatalf("second: %+v", st)
	}
	if ann := Annotations(spec, st, services, nil); !reflect.DeepEqual(ann, map[string]string{"VllmPrefillWorker": "x", "VllmDecodeWorker": "x"}) {
		t.Errorf("annotations: %v", ann)
	}
	gone := Step(spec, status("x", v1alpha1.RestartPhaseRestarting, "Removed"), false, services, func(string) bool { return true })
	if !reflect.DeepEqual(gone.InProgress, []string{"VllmPrefillWorker"}) {
		t.Errorf("a service out of the order: %+v", gone)
	}
}

// A Parallel restart annotates every service at once and completes when each is done.
func TestParallel(t *testing.T) {
	spec := &v1alpha1.Restart{ID: "p", Strategy: &v1alpha1.RestartStrategy{Type: v1alpha1.RestartStrategyParallel}}
	st := Step(spec, nil, false, services, nil)
	if !reflect.DeepEqual(st, status("p", v1alpha1.RestartPhaseRestarting, "Frontend", "VllmDecodeWorker", "VllmPrefillWorker")) {
		t.Fatalf("new: %+v", st)
	}
	if ann := Annotations(spec, st, services, nil); len(ann) != 3 {
		t.Errorf("annotations: %v", ann)
	}
	st = Step(spec, st, false, services, func(s string) bool { return s != "VllmDecodeWorker" })
	if !reflect.DeepEqual(st, status("p", v1alpha1.RestartPhaseRestarting, "VllmDecodeWorker")) {
		t.Fatalf("one left: %+v", st)
	}
	if st = Step(spec, st, false, services, func(string) bool { return true }); st.Phase != v1alpha1.RestartPhaseCompleted {
		t.Fatalf("done: %+v", st)
	}
}

// A new id while a worker rollout is in flight is Superseded: nothing is annotated, the pods keep
// what they carry, and it stays so.
func TestSuperseded(t *testing.T) {
	spec := &v1alpha1.Restart{ID: "s"}
	st := Step(spec, status("a", v1alpha1.RestartPhaseCompleted), true, services, nil)
	if !reflect.DeepEqual(st, status("s", v1alpha1.RestartPhaseSuperseded)) {
		t.Fatalf("%+v", st)
	}
	live := map[string]string{"Frontend": "a"}
	if ann := Annotations(spec, st, services, live); !reflect.DeepEqual(ann, live) {
		t.Errorf("annotations: %v", ann)
	}
	if again := Step(spec, st, false, services, nil); !reflect.DeepEqual(again, st) {
		t.Errorf("after the rollout: %+v", again)
	}
	// Taken off the spec, a superseded id is not pushed (the original would restart every
	// service with it).
	if ann := Annotations(nil, st, services, live); !reflect.DeepEqual(ann, live) {
		t.Errorf("removed after Superseded: %v", ann)
	}
	if Step(nil, nil, false, services, nil) != nil {
		t.Error("no restart ever: a status")
	}
}
