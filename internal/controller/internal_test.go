package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/capacity"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/plan"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
)

// The gauges follow each graph's latest state and pod counts, per namespace as the original
// labels them, and read 0 (not a stale count) once no graph contributes to a series.
func TestGraphGauges(t *testing.T) {
	resourcesTotal.Reset()
	managedPodsTotal.Reset()
	r := &Reconciler{}
	a, b, c := types.NamespacedName{Namespace: "ns", Name: "a"}, types.NamespacedName{Namespace: "ns", Name: "b"}, types.NamespacedName{Namespace: "other", Name: "c"}
	pods := func(types ...string) Observed {
		o := Observed{Pods: map[string][]corev1.Pod{}}
		for i, ct := range types {
			o.Pods["svc"] = append(o.Pods["svc"], corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprint(i), Labels: map[string]string{v1alpha1.LabelComponentType: ct}}})
		}
		return o
	}
	state := func(ns, s string) float64 {
		return testutil.ToFloat64(resourcesTotal.WithLabelValues(ResourceType, ns, s))
	}
	podCount := func(ct, ns string) float64 { return testutil.ToFloat64(managedPodsTotal.WithLabelValues(ct, ns)) }
	steps := []struct {
		do   func()
		want map[string]float64
	}{
		{func() { r.count(a, "", pods("frontend", "worker")) }, map[string]float64{
			"ns/initializing": 1, "pods ns/frontend": 1, "pods ns/worker": 1}},
		{func() {
			r.count(a, StatePending, pods("frontend", "worker", "worker"))
			r.count(b, StatePending, pods("worker"))
		}, map[string]float64{
			"ns/initializing": 0, "ns/pending": 2, "pods ns/worker": 3, "pods ns/frontend": 1}},
		{func() { r.count(a, StateSuccessful, pods("worker")); r.count(c, StateSuccessful, Observed{}) }, map[string]float64{
			"ns/pending": 1, "ns/successful": 1, "other/successful": 1, "pods ns/frontend": 0, "pods ns/worker": 2}},
		{func() { r.forget(b); r.forget(b) }, map[string]float64{"ns/pending": 0, "ns/successful": 1, "pods ns/worker": 1}},
		{func() { r.count(a, StateFailed, pods("worker")) }, map[string]float64{"ns/successful": 0, "ns/failed": 1, "other/successful": 1}},
	}
	for i, s := range steps {
		s.do()
		for key, want := range s.want {
			var got float64
			if rest, ok := strings.CutPrefix(key, "pods "); ok {
				ns, ct, _ := strings.Cut(rest, "/")
				got = podCount(ct, ns)
			} else {
				ns, st, _ := strings.Cut(key, "/")
				got = state(ns, st)
			}
			if got != want {
				t.Errorf("step %d: %s = %v, want %v", i, key, got, want)
			}
		}
	}
}

// error_type follows the original's categories and sees through wrapping and joins.
func TestErrorType(t *testing.T) {
	gr := schema.GroupResource{Group: "apps", Resource: "deployments"}
	for _, c := range []struct {
		err  error
		want string
	}{
		{apierrors.NewForbidden(gr, "x", errors.New("no")), "forbidden"},
		{fmt.Errorf("apply Deployment x: %w", apierrors.NewConflict(gr, "x", errors.New("changed"))), "conflict"},
		{errors.Join(errors.New("other"), apierrors.NewNotFound(gr, "x")), "not_found"},
		{apierrors.NewInvalid(schema.GroupKind{Group: "apps", Kind: "Deployment"}, "x", nil), "validation"},
		{apierrors.NewTooManyRequests("slow down", 1), "rate_limited"},
		{&ConflictError{Kind: "Service", Name: "x"}, "internal"},
	} {
		if got := errorType(c.err); got != c.want {
			t.Errorf("errorType(%v) = %q, want %q", c.err, got, c.want)
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
		{"new graph, ready at once", nil, ready, ""},
		{"new graph, reconcile fails", nil, failed, corev1.EventTypeWarning},
		{"becomes ready", notReady, ready, ""},
		{"ready again after failing", failed, ready, ""},
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
	// A pod keeps where it may go, as admitted (the GPU toleration admission added), placed or
	// not (the Schedulable plan reads it); pod affinity is dropped.
	gpuToleration := corev1.Toleration{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
	nodeAffinity := &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{}}
	pod.Spec.NodeSelector = map[string]string{"pool": "a"}
	pod.Spec.Tolerations = []corev1.Toleration{gpuToleration}
	pod.Spec.Affinity = &corev1.Affinity{NodeAffinity: nodeAffinity, PodAffinity: &corev1.PodAffinity{}}
	got, _ = TrimPod(pod)
	p = got.(*corev1.Pod)
	if p.Spec.NodeSelector["pool"] != "a" || len(p.Spec.Tolerations) != 1 || p.Spec.Affinity.NodeAffinity != nodeAffinity || p.Spec.Affinity.PodAffinity != nil {
		t.Errorf("pending pod: %+v", p.Spec)
	}
	spec := admitted(&corev1.PodSpec{Containers: []corev1.Container{{Name: "main"}}}, []corev1.Pod{*p}, "p")
	if len(spec.Containers) != 1 || len(spec.Tolerations) != 1 || spec.NodeSelector["pool"] != "a" {
		t.Errorf("admitted: %+v", spec)
	}
	pod.Spec.NodeName = "n"
	got, _ = TrimPod(pod)
	if p := got.(*corev1.Pod); p.Spec.NodeName != "n" || p.Spec.NodeSelector["pool"] != "a" || len(p.Spec.Tolerations) != 1 || p.Spec.Affinity.PodAffinity != nil {
		t.Errorf("placed pod: %+v", p.Spec)
	}
}

// The capacity view's figure goes into the service's status and its message, for an NVIDIA
// resource only.
func TestStatusCapacity(t *testing.T) {
	dgd := testkit.Graph("", "g").Generation(1).Service("Decode", testkit.Service(v1alpha1.ComponentWorker)).Obj()
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "g-decode", Generation: 1},
		Spec:   appsv1.DeploymentSpec{Replicas: ptr.To[int32](1)},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1}}
	d.Spec.Template.Spec.Containers = []corev1.Container{{Name: "main", Resources: corev1.ResourceRequirements{
		Limits: corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("8")}}}}
	pending := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "g-decode-x"}, Status: corev1.PodStatus{Phase: corev1.PodPending,
		Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable",
			Message: "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}}}}
	obs := Observed{Deployments: map[string]*appsv1.Deployment{"Decode": d}, Pods: map[string][]corev1.Pod{"Decode": {pending}},
		Capacity: map[string]capacity.Fit{"Decode": {Resource: "nvidia.com/gpu", PerPod: 8, NVIDIA: true, Candidates: 3, Having: 2,
			Product: "NVIDIA-H100", Best: "h100-1", BestFree: 4}}}
	st := ComputeStatus(resolved(dgd), obs, nil)
	svc := st.Services["Decode"]
	want := v1alpha1.ServiceCapacity{Resource: "nvidia.com/gpu", PerPod: 8, CandidateNodes: 3, NodesWithResource: 2,
		Product: "NVIDIA-H100", MostFree: 4, MostFreeNode: "h100-1"}
	if svc.Reason != "insufficient_capacity" || svc.Capacity == nil || *svc.Capacity != want ||
		!strings.HasSuffix(svc.Message, "; each pod needs 8 nvidia.com/gpu; the most free on a node it may use is 4 (h100-1)") {
		t.Fatalf("service status %+v, capacity %+v", svc, svc.Capacity)
	}
	if c := meta.FindStatusCondition(st.Conditions, ConditionReady); !strings.HasSuffix(c.Message, "the most free on a node it may use is 4 (h100-1)") {
		t.Errorf("Ready message %q", c.Message)
	}
	obs.Capacity["Decode"] = capacity.Fit{Resource: "nvidia.com/gpu", PerPod: 8, NVIDIA: true, Candidates: 1}
	if svc := ComputeStatus(resolved(dgd), obs, nil).Services["Decode"]; !strings.HasSuffix(svc.Message, "; no node it may use has nvidia.com/gpu") {
		t.Errorf("no GPU node: %q", svc.Message)
	}
	obs.Capacity["Decode"] = capacity.Fit{Resource: "cpu", PerPod: 64}
	if svc := ComputeStatus(resolved(dgd), obs, nil).Services["Decode"]; svc.Capacity != nil || strings.Contains(svc.Message, "most free") {
		t.Errorf("short of cpu: %+v", svc)
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

// The first reconcile in a namespace creates every result and error type series at 0.
func TestNamespaceSeriesStartAtZero(t *testing.T) {
	before := testutil.CollectAndCount(reconcileErrors)
	recordReconcile("fresh-namespace", nil, false, time.Millisecond)
	if got := testutil.CollectAndCount(reconcileErrors) - before; got != len(errorTypes)+1 {
		t.Errorf("%d error series created, want %d (every error type and internal)", got, len(errorTypes)+1)
	}
	if v := testutil.ToFloat64(reconcileTotal.WithLabelValues(ResourceType, "fresh-namespace", resultError)); v != 0 {
		t.Errorf("error reconciles %v, want 0", v)
	}
	if v := testutil.ToFloat64(reconcileTotal.WithLabelValues(ResourceType, "fresh-namespace", resultSuccess)); v != 1 {
		t.Errorf("successful reconciles %v, want 1", v)
	}
	recordReconcile("fresh-namespace", nil, false, time.Millisecond)
	if got := testutil.CollectAndCount(reconcileErrors) - before; got != len(errorTypes)+1 {
		t.Errorf("a second reconcile changed the error series: %d", got)
	}
}

// What admission added to a pod, learnt against its template: the default tolerations and node
// selector entries, not the GPU taint's toleration (added per pod for the resources it asks
// for); applied to another pod's spec, the spec's own node selector wins and a GPU pod gets the
// toleration of its resource.
func TestAdmissionLearnt(t *testing.T) {
	kwok := corev1.Toleration{Key: "kwok.x-k8s.io/node", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
	gpuTol := corev1.Toleration{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
	own := corev1.Toleration{Key: "dedicated", Value: "ml", Effect: corev1.TaintEffectNoSchedule}
	tmpl := &corev1.PodSpec{Tolerations: []corev1.Toleration{own}, NodeSelector: map[string]string{"pool": "a"}}
	pod := &corev1.Pod{Spec: corev1.PodSpec{Tolerations: []corev1.Toleration{own, kwok, gpuTol},
		NodeSelector: map[string]string{"pool": "a", "region": "eu"}}}
	a := admissionOf(tmpl, pod)
	if len(a.tolerations) != 1 || a.tolerations[0] != kwok || len(a.nodeSelector) != 1 || a.nodeSelector["region"] != "eu" {
		t.Fatalf("learnt %+v", a)
	}
	spec := &corev1.PodSpec{NodeSelector: map[string]string{"region": "us"}, Containers: []corev1.Container{{Name: "main",
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("8")}}}}}
	got := a.apply(spec)
	if got.NodeSelector["region"] != "us" || len(got.Tolerations) != 2 || got.Tolerations[0] != kwok || got.Tolerations[1] != gpuTol {
		t.Errorf("applied: selector %v tolerations %+v", got.NodeSelector, got.Tolerations)
	}
	if len(spec.Tolerations) != 0 {
		t.Error("the given spec was changed")
	}
}

// A placement exists while pods wait: the condition names where the plan puts each service's
// pods, at most six nodes each.
func TestSchedulablePlacementSummary(t *testing.T) {
	rep := plan.Report{Graph: "g", Fits: true, Method: plan.MethodExact, Services: []plan.Service{
		{Name: "decode", Placement: []plan.NodePods{{Node: "h100-0", Pods: 2}, {Node: "h100-1", Pods: 1}}},
		{Name: "prefill", Placement: []plan.NodePods{{Node: "a"}, {Node: "b"}, {Node: "c"}, {Node: "d"}, {Node: "e"}, {Node: "f"}, {Node: "g"}, {Node: "h"}}},
	}}
	c := schedulableCondition(rep, time.Date(2026, 12, 3, 1, 2, 3, 0, time.UTC), phaseAfter)
	want := "a placement of every pod exists on the cluster as read at 01:02:03Z (exact plan): pods still Pending wait on the scheduler's order, not on capacity — " +
		"a placement that works: decode on h100-0 ×2, h100-1; prefill on a, b, c, d, e, f, 2 more node(s) (dynamoctl plan dgd/g shows it whole)"
	if c.Status != metav1.ConditionTrue || c.Reason != ReasonPlacementExists || c.Message != want {
		t.Errorf("condition %s %s:\n%s\nwant\n%s", c.Status, c.Reason, c.Message, want)
	}
}

// A plan that ran out of its work budget is no verdict: Unknown, and the graph is not held
// (it would have been held as "proven" before, or killed the operator planning it).
func TestSchedulableUnfinishedPlan(t *testing.T) {
	rep := plan.Report{Graph: "g", Stopped: true, Method: plan.MethodHeuristic, Services: []plan.Service{{Name: "decode", Replicas: 5000, GroupSize: 2}}}
	c := schedulableCondition(rep, time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC), phaseHeld)
	if c.Status != metav1.ConditionUnknown || c.Reason != ReasonPlanUnfinished ||
		c.Message != "the plan of the graph on the cluster as read at 01:02:03Z stopped at its work budget (10000 pods asked for): whether it fits is not known; the graph is applied as if unplanned" {
		t.Errorf("condition %s %s: %s", c.Status, c.Reason, c.Message)
	}
	st := &v1alpha1.DynamoGraphDeploymentStatus{Conditions: []metav1.Condition{{Type: ConditionSchedulable, Status: metav1.ConditionUnknown, Reason: ReasonReadingCapacity}}}
	setSchedulable(st, resolved(&v1alpha1.DynamoGraphDeployment{}), Observed{PlanOn: true})
	if len(st.Conditions) != 0 {
		t.Errorf("ReadingCapacity kept on a graph applied without a verdict: %+v", st.Conditions)
	}
}

// resolved is a test graph as the operator resolves it (its default settings).
func resolved(dgd *v1alpha1.DynamoGraphDeployment) *graph.Graph {
	g, _ := graph.Resolve(dgd, graph.Options{})
	return g
}
