package controller

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/demand"
	"github.com/dynamo-infra/dynamo-infra/internal/placement"
	"github.com/dynamo-infra/dynamo-infra/internal/plan"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
	"github.com/dynamo-infra/dynamo-infra/internal/topology"
)

// The Schedulable condition: while the scheduler refuses some pod of the graph, whether the
// whole graph fits the cluster — `dynamoctl plan`'s planner, run by the operator on its
// capacity view.
const (
	ConditionSchedulable = v1alpha1.ConditionSchedulable
	// ReasonPlacementExists: a placement of every pod exists; pods still Pending wait on the
	// scheduler's order (or on capacity freed since the view was read).
	ReasonPlacementExists = "PlacementExists"
	// ReasonDoesNotFit: the plan leaves pods without a node; the message says which and why.
	ReasonDoesNotFit = "DoesNotFit"
	// ReasonAllPlaced: every pod has a node (set only where the condition was there before).
	ReasonAllPlaced = "AllPodsPlaced"
)

// observeSchedulable plans the graph when the scheduler refuses some of its pods: on the
// capacity view's snapshot, with each service's pods as they were admitted (the operator may not
// dry-run pods, and admission adds tolerations and selectors its template does not have), the
// graph's own pods not counted against it. A graph whose pods are all placed costs nothing.
func (r *Reconciler) observeSchedulable(dgd *v1alpha1.DynamoGraphDeployment, cfg render.Config, scopes []topology.Scope, obs *Observed) {
	if r.Capacity == nil {
		return
	}
	obs.PlanOn = true
	if !anyPending(obs.Pods) {
		if meta.FindStatusCondition(dgd.Status.Conditions, ConditionSchedulable) != nil {
			obs.Schedulable = &metav1.Condition{Type: ConditionSchedulable, Status: metav1.ConditionTrue, Reason: ReasonAllPlaced,
				Message: "every pod of the graph has a node"}
		}
		return
	}
	obs.CapacityShort = true // looked at again when the view may have a newer snapshot
	snap := r.Capacity.Get()
	if snap == nil {
		obs.CapacityWaiting = r.Capacity.Reading()
		return
	}
	var missing []string
	admit := func(_, service string, spec *corev1.PodSpec) *corev1.PodSpec {
		for i := range obs.Pods[service] {
			if p := &obs.Pods[service][i]; p.DeletionTimestamp == nil {
				return admittedSpec(spec, p)
			}
		}
		missing = append(missing, service)
		return spec
	}
	demands, err := demand.Pods([]*v1alpha1.DynamoGraphDeployment{dgd}, cfg, admit)
	if err != nil || len(missing) > 0 {
		return // a render error is the Ready condition's; a service without pods yet is planned once it has one
	}
	own := dgd.Namespace + "/" + dgd.Name
	in := plan.Input{Nodes: snap.NodeList(), Used: snap.Requested(), Graphs: map[string]map[string]map[string]int64{own: ownUsage(demands, obs.Pods)}}
	// One plan at a time: a plan's working set grows with the nodes (its own copies of free
	// amounts), and graphs refused together — a cluster losing nodes — would hold one each.
	r.planMu.Lock()
	rep := plan.Build(demands, in, plan.Options{Graph: dgd.Name, Namespace: dgd.Namespace, Own: own, Scopes: scopes,
		// Its view holds no pod labels: inter-pod constraints among the graph's own pods only.
		InterPod: placement.InterPodGraph})
	r.planMu.Unlock()
	obs.Schedulable = schedulableCondition(rep, snap.Taken)
}

// schedulableCondition sums a plan up.
func schedulableCondition(rep plan.Report, taken time.Time) *metav1.Condition {
	at := taken.UTC().Format("15:04:05Z")
	if rep.Fits {
		return &metav1.Condition{Type: ConditionSchedulable, Status: metav1.ConditionTrue, Reason: ReasonPlacementExists,
			Message: fmt.Sprintf("a placement of every pod exists on the cluster as read at %s (%s plan): pods still Pending wait on the scheduler's order, not on capacity (dynamoctl plan dgd/%s shows it)", at, rep.Method, rep.Graph)}
	}
	var short []string
	for _, s := range rep.Services {
		if !s.Fits {
			short = append(short, s.Name+": "+s.Reason)
		}
	}
	msg := strings.Join(short, "; ")
	if rep.Proven {
		msg += " (no placement exists"
	} else {
		msg += " (" + rep.Method + " plan"
	}
	msg += fmt.Sprintf(", cluster as read at %s); the graph stays applied: capacity may free up", at)
	return &metav1.Condition{Type: ConditionSchedulable, Status: metav1.ConditionFalse, Reason: ReasonDoesNotFit, Message: msg}
}

// anyPending: the scheduler has refused some pod of the graph (PodScheduled False,
// Unschedulable). A pod just created, not tried yet, is not counted: planning then would read the
// cluster while its own pods are still being bound.
func anyPending(pods map[string][]corev1.Pod) bool {
	for _, list := range pods {
		for i := range list {
			p := &list[i]
			if p.Spec.NodeName != "" || p.DeletionTimestamp != nil {
				continue
			}
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
					return true
				}
			}
		}
	}
	return false
}

// admittedSpec is spec with where the pod may go as it was admitted: its node selector,
// tolerations and node affinity (the pod affinity of a topology constraint stays the template's).
func admittedSpec(spec *corev1.PodSpec, p *corev1.Pod) *corev1.PodSpec {
	out := *spec
	out.NodeSelector, out.Tolerations = p.Spec.NodeSelector, p.Spec.Tolerations
	aff := &corev1.Affinity{}
	if spec.Affinity != nil {
		aff = spec.Affinity.DeepCopy()
	}
	aff.NodeAffinity = nil
	if p.Spec.Affinity != nil {
		aff.NodeAffinity = p.Spec.Affinity.NodeAffinity
	}
	out.Affinity = aff
	return &out
}

// ownUsage sums, per node, what the graph's placed pods request (each as its service's pod
// asks now): the plan of the graph as a change gives it back.
func ownUsage(demands []placement.Demand, pods map[string][]corev1.Pod) map[string]map[string]int64 {
	out := map[string]map[string]int64{}
	for _, d := range demands {
		for i := range pods[d.Service] {
			p := &pods[d.Service][i]
			if p.Spec.NodeName == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				continue
			}
			demand.AddTo(out, p.Spec.NodeName, d.Requests)
		}
	}
	return out
}

// setSchedulable records the verdict, keeps the last one when there is none new, and removes the
// condition when the operator has no capacity view.
func setSchedulable(st *v1alpha1.DynamoGraphDeploymentStatus, dgd *v1alpha1.DynamoGraphDeployment, obs Observed) {
	switch {
	case !obs.PlanOn:
		meta.RemoveStatusCondition(&st.Conditions, ConditionSchedulable)
	case obs.Schedulable != nil:
		c := *obs.Schedulable
		c.ObservedGeneration = dgd.Generation
		meta.SetStatusCondition(&st.Conditions, c)
	}
}
