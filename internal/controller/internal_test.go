package controller

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
)

// The resources gauge follows each graph's latest state and forgets deleted graphs.
func TestStateCounts(t *testing.T) {
	resourcesTotal.Reset()
	var c stateCounts
	a, b := types.NamespacedName{Namespace: "ns", Name: "a"}, types.NamespacedName{Namespace: "ns", Name: "b"}
	steps := []struct {
		do   func()
		want map[string]float64
	}{
		{func() { c.set(a, "") }, map[string]float64{StateInitializing: 1, StatePending: 0, StateSuccessful: 0, StateFailed: 0}},
		{func() { c.set(a, StatePending); c.set(b, StatePending) }, map[string]float64{StateInitializing: 0, StatePending: 2}},
		{func() { c.set(a, StateSuccessful); c.set(a, StateSuccessful) }, map[string]float64{StatePending: 1, StateSuccessful: 1}},
		{func() { c.forget(b); c.forget(b) }, map[string]float64{StatePending: 0, StateSuccessful: 1}},
		{func() { c.set(a, StateFailed) }, map[string]float64{StateSuccessful: 0, StateFailed: 1}},
	}
	for i, s := range steps {
		s.do()
		for state, want := range s.want {
			if got := testutil.ToFloat64(resourcesTotal.WithLabelValues(state)); got != want {
				t.Errorf("step %d: %s = %v, want %v", i, state, got, want)
			}
		}
	}
}

func TestReadyEvent(t *testing.T) {
	cond := func(status metav1.ConditionStatus, reason string) *metav1.Condition {
		return &metav1.Condition{Type: ConditionReady, Status: status, Reason: reason}
	}
	notReady, failed, ready := cond(metav1.ConditionFalse, ReasonResourcesNotReady), cond(metav1.ConditionFalse, ReasonReconcileFailed), cond(metav1.ConditionTrue, ReasonAllResourcesReady)
	cases := []struct {
		name          string
		before, after *metav1.Condition
		want          string // "" = no event
	}{
		{"new graph, not ready yet", nil, notReady, ""},
		{"new graph, ready at once", nil, ready, corev1.EventTypeNormal},
		{"new graph, reconcile fails", nil, failed, corev1.EventTypeWarning},
		{"becomes ready", notReady, ready, corev1.EventTypeNormal},
		{"stays ready", ready, ready, ""},
		{"loses ready", ready, notReady, corev1.EventTypeWarning},
		{"starts failing", notReady, failed, corev1.EventTypeWarning},
		{"keeps failing", failed, failed, ""},
		{"stops failing, not ready yet", failed, notReady, ""},
		{"ready graph fails", ready, failed, corev1.EventTypeWarning},
		{"no condition", notReady, nil, ""},
	}
	for _, c := range cases {
		got, ok := readyEvent(c.before, c.after)
		if !ok {
			got = ""
		}
		if got != c.want {
			t.Errorf("%s: event %q, want %q", c.name, got, c.want)
		}
	}
}

// The cached pod keeps what the status reads and nothing of the spec.
func TestTrimPod(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", Labels: map[string]string{"a": "b"}, Annotations: map[string]string{"big": "x"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubelet"}}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "img", Env: []corev1.EnvVar{{Name: "A", Value: "1"}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending,
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."},
				{Type: corev1.PodReady, Status: corev1.ConditionFalse},
			},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "main", Image: "img", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "long"}}}},
		},
	}
	got, err := TrimPod(pod)
	if err != nil {
		t.Fatal(err)
	}
	p := got.(*corev1.Pod)
	if len(p.Spec.Containers) != 0 || p.Annotations != nil || p.ManagedFields != nil || len(p.Status.Conditions) != 1 || p.Labels["a"] != "b" {
		t.Errorf("trimmed pod kept too much or too little: %+v", p)
	}
	if why := podProblem([]corev1.Pod{*p}); why != "pod p Unschedulable: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu." {
		t.Errorf("podProblem on the trimmed pod: %q", why)
	}
	p.Status.Conditions = nil
	if why := podProblem([]corev1.Pod{*p}); why != "pod p ImagePullBackOff" {
		t.Errorf("podProblem on the trimmed pod: %q", why)
	}
	if other, _ := TrimPod("not a pod"); other != "not a pod" {
		t.Error("non-pods pass through")
	}
}

func TestPodWatchMapping(t *testing.T) {
	pod := func(mutate func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", Labels: map[string]string{v1alpha1.LabelGraphDeploymentName: "g"}}}
		if mutate != nil {
			mutate(p)
		}
		return p
	}
	if got := graphOfPod(context.Background(), pod(nil)); len(got) != 1 || got[0].Namespace != "ns" || got[0].Name != "g" {
		t.Errorf("graphOfPod = %v", got)
	}
	if got := graphOfPod(context.Background(), pod(func(p *corev1.Pod) { p.Labels = nil })); len(got) != 0 {
		t.Errorf("a pod without the graph label mapped to %v", got)
	}
	pulling := func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull"}}}}
	}
	backoff := func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}}}}
	}
	for _, tc := range []struct {
		name          string
		before, after *corev1.Pod
		want          bool
	}{
		{"a problem appears", pod(nil), pod(pulling), true},
		{"the problem changes", pod(pulling), pod(backoff), true},
		{"the problem goes", pod(backoff), pod(nil), true},
		{"nothing the status shows changed", pod(pulling), pod(func(p *corev1.Pod) { pulling(p); p.Annotations = map[string]string{"x": "y"} }), false},
		{"an unrelated update", pod(nil), pod(func(p *corev1.Pod) { p.Status.PodIP = "10.0.0.1" }), false},
	} {
		if got := podProblemChanged.Update(event.UpdateEvent{ObjectOld: tc.before, ObjectNew: tc.after}); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if podProblemChanged.Create(event.CreateEvent{Object: pod(pulling)}) || podProblemChanged.Delete(event.DeleteEvent{Object: pod(pulling)}) {
		t.Error("creations and deletions pass the pod predicate")
	}
}
