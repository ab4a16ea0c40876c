package controller

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	resourcev1 "k8s.io/api/resource/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	lwsv1 "sigs.k8s.io/lws/api/leaderworkerset/v1"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/capacity"
	"github.com/dynamo-infra/dynamo-infra/internal/demand"
	"github.com/dynamo-infra/dynamo-infra/internal/devices"
	"github.com/dynamo-infra/dynamo-infra/internal/fit"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/kubenode"
	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
	"github.com/dynamo-infra/dynamo-infra/internal/placement"
	"github.com/dynamo-infra/dynamo-infra/internal/plan"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
	"github.com/dynamo-infra/dynamo-infra/internal/topology"
)

// The Schedulable condition: whether the whole graph fits the cluster — `dynamoctl plan`'s
// planner, run by the operator on its capacity view before a change that adds pods is applied
// and again while the scheduler refuses some pod of the graph.
const (
	ConditionSchedulable = v1alpha1.ConditionSchedulable
	// ReasonPlacementExists: a placement of every pod exists; pods still Pending wait on the
	// scheduler's order (or on capacity freed since the view was read).
	ReasonPlacementExists = "PlacementExists"
	// ReasonDoesNotFit: the plan leaves pods without a node; the message says which and why.
	ReasonDoesNotFit = "DoesNotFit"
	// ReasonAllPlaced: every pod has a node (set only where the condition was there before).
	ReasonAllPlaced = "AllPodsPlaced"
	// ReasonReadingCapacity: a graph that waits for capacity is held while the operator reads
	// the cluster for the first time (Schedulable Unknown).
	ReasonReadingCapacity = "ReadingCapacity"
	// ReasonInvalidAnnotation (a Warning event): the wait-for-capacity annotation's value is not
	// a boolean; the graph does not wait.
	ReasonInvalidAnnotation = "InvalidAnnotation"
	// ReasonPlanUnfinished: the plan ran out of its work budget (Schedulable Unknown); the graph
	// is handled as if it had not been planned — applied, never held.
	ReasonPlanUnfinished = "PlanUnfinished"
	// ReasonWaitingForCapacity (of the Ready condition): the graph's change is not applied; it
	// waits for room (AnnotationWaitForCapacity).
	ReasonWaitingForCapacity = v1alpha1.ReasonWaitingForCapacity
)

// gate is the verdict of the plan before apply.
type gate struct {
	cond *metav1.Condition // nil: no verdict
	// hold: do not apply — the graph waits for capacity and its change does not fit (or the
	// cluster is being read).
	hold    bool
	reading bool
	// stalls are the plan's advice for worker services whose rollout would stall: no room for a
	// surge pod and maxUnavailable 0.
	stalls []string
}

// planBeforeApply plans the graph on the capacity view before its children are applied, when
// its change adds pods: a service without a workload yet, more pods than its workload runs, or
// pods asking for more. The plan counts every service, the graph's own running pods given back,
// each service's pods as one of its running pods was admitted — or, for pods not created yet,
// as the namespace admits pods (namespaceAdmission: the operator may not dry-run pods). A graph that does not fit is applied all the
// same (capacity may free up) unless it waits for capacity; then it is held while the plan
// proves no placement exists for pods that have candidate nodes — a verdict admission could
// not change — and planned again as the view refreshes. No view, no snapshot yet, or no new
// pods: no verdict.
func (r *Reconciler) planBeforeApply(ctx context.Context, g *graph.Graph, cfg render.Config, scopes []topology.Scope, old map[string][]oldWorkload) (gate, error) {
	if r.Capacity == nil {
		return gate{}, nil
	}
	grows, pods, err := r.grows(ctx, g, cfg)
	if err != nil || !grows {
		return gate{}, err
	}
	// A rollout's old generation runs the graph's own pods too: given back like the new one's.
	pods = withOld(pods, old)
	wait := g.WaitForCapacity
	if werr := g.WaitForCapacityErr; werr != nil {
		r.warn(g, ReasonInvalidAnnotation, "Plan", werr.Error())
	}
	snap := r.Capacity.Get()
	if snap == nil {
		if !wait {
			return gate{}, nil
		}
		return gate{hold: true, reading: true, cond: &metav1.Condition{Type: ConditionSchedulable, Status: metav1.ConditionUnknown,
			Reason: ReasonReadingCapacity, Message: "reading the cluster's capacity before applying: the graph waits for capacity (" + v1alpha1.AnnotationWaitForCapacity + ")"}}, nil
	}
	adm, err := r.namespaceAdmission(ctx, g, pods)
	if err != nil {
		return gate{}, err
	}
	// A graph with no Schedulable condition that fits says nothing: first fit may answer that
	// without the whole plan.
	quick := meta.FindStatusCondition(g.Status.Conditions, ConditionSchedulable) == nil
	rep, ok := r.planGraph(ctx, g, cfg, scopes, snap, pods, adm, quick)
	if !ok {
		return gate{}, nil
	}
	if rep.Stopped {
		return gate{cond: schedulableCondition(rep, snap.Taken, phaseBefore)}, nil
	}
	if rep.Fits {
		var stalls []string
		for _, ro := range rep.Rollouts {
			if c := g.Component(ro.Service); ro.Stalls && c != nil && c.WorkerHash != "" {
				stalls = append(stalls, ro.Service+": "+ro.Advice)
			}
		}
		if meta.FindStatusCondition(g.Status.Conditions, ConditionSchedulable) == nil {
			return gate{stalls: stalls}, nil // a graph that fits says nothing until the scheduler refuses a pod
		}
		return gate{cond: schedulableCondition(rep, snap.Taken, phaseBefore), stalls: stalls}, nil
	}
	if slices.ContainsFunc(rep.Services, func(s plan.Service) bool { return !s.Fits && s.CandidateNodes == 0 }) {
		// No node for pods not admitted yet: admission (a webhook, a default toleration or
		// node selector) may change that; the scheduler's answer will tell.
		return gate{}, nil
	}
	hold := wait && rep.Proven
	phase := phaseBefore
	if hold {
		phase = phaseHeld
	}
	// A held graph comes back soon when a newer view is being read.
	return gate{hold: hold, reading: hold && r.Capacity.Reading(), cond: schedulableCondition(rep, snap.Taken, phase)}, nil
}

// grows reads the graph's workloads and pods from the cache and says whether applying the
// graph adds pods: a service with no workload, more pods than its workload has, or pods that
// ask for more of some resource.
func (r *Reconciler) grows(ctx context.Context, g *graph.Graph, cfg render.Config) (bool, map[string][]corev1.Pod, error) {
	pods := map[string][]corev1.Pod{}
	grows := false
	for _, c := range g.Components {
		role := render.RoleMain
		var live *corev1.PodSpec
		var livePods int64
		if c.Multinode() {
			if !r.LWS {
				continue // reported as MultinodeUnavailable
			}
			role = render.RoleWorker
			l := &lwsv1.LeaderWorkerSet{}
			err := r.Client.Get(ctx, client.ObjectKey{Namespace: g.Namespace, Name: c.WorkloadName}, l)
			if err != nil && !apierrors.IsNotFound(err) {
				return false, nil, err
			}
			if err == nil {
				live, livePods = &l.Spec.LeaderWorkerTemplate.WorkerTemplate.Spec, int64(ptr.Deref(l.Spec.Replicas, 1))*int64(ptr.Deref(l.Spec.LeaderWorkerTemplate.Size, 1))
			}
		} else {
			d := &appsv1.Deployment{}
			err := r.Client.Get(ctx, client.ObjectKey{Namespace: g.Namespace, Name: c.WorkloadName}, d)
			if err != nil && !apierrors.IsNotFound(err) {
				return false, nil, err
			}
			if err == nil {
				live, livePods = &d.Spec.Template.Spec, int64(ptr.Deref(d.Spec.Replicas, 1))
			}
		}
		desired, err := render.RolePodSpec(g, c, cfg, role)
		if err != nil {
			return false, nil, nil // a render error is the Ready condition's
		}
		if live == nil || c.Pods() > livePods || asksMore(demand.Requests(&desired), demand.Requests(live)) {
			grows = true
		}
	}
	if !grows {
		return false, nil, nil // the common reconcile: no pods read
	}
	for _, c := range g.Components {
		list := &corev1.PodList{}
		if err := r.Client.List(ctx, list, client.InNamespace(g.Namespace), client.MatchingLabels{v1alpha1.LabelSelector: c.ChildName}); err != nil {
			return false, nil, err
		}
		pods[c.Name] = list.Items
	}
	return true, pods, nil
}

// asksMore: some resource of want exceeds have's.
func asksMore(want, have map[string]int64) bool {
	for r, q := range want {
		if q > have[r] {
			return true
		}
	}
	return false
}

// observeSchedulable gives the Schedulable verdict after apply: while the scheduler refuses some
// of the graph's pods, the plan of the whole graph (each service's pods as admitted); else the
// verdict of the plan before apply, if any; else, once every pod of the graph has a node, that
// (only where the condition was there before). A held graph keeps the verdict that holds it.
func (r *Reconciler) observeSchedulable(ctx context.Context, gr *graph.Graph, cfg render.Config, scopes []topology.Scope, g gate, obs *Observed) {
	if r.Capacity == nil {
		return
	}
	obs.PlanOn = true
	if g.hold {
		obs.Schedulable = g.cond
		obs.Held = "Not applied: the graph waits for capacity (" + v1alpha1.AnnotationWaitForCapacity + "): " + g.cond.Message
		obs.CapacityShort, obs.CapacityWaiting = true, g.reading
		return
	}
	pods := withOld(obs.Pods, obs.Old) // a rollout's old generation's pods are the graph's too
	refused := lastRefusal(pods)
	if refused.IsZero() {
		switch {
		case g.cond != nil:
			obs.Schedulable = g.cond
		case meta.FindStatusCondition(gr.Status.Conditions, ConditionSchedulable) != nil && allPlaced(gr, obs.Pods):
			obs.Schedulable = &metav1.Condition{Type: ConditionSchedulable, Status: metav1.ConditionTrue, Reason: ReasonAllPlaced,
				Message: "every pod of the graph has a node"}
		}
		return
	}
	obs.CapacityShort = true // looked at again when the view may have a newer snapshot
	// A verdict about a refused pod is made on a view read after the refusal: one read before
	// it may not hold the pods bound just before, which made the scheduler refuse (the last
	// verdict stays until that read ends).
	r.Capacity.Get() // keeps the view fresh (MaxAge) for the capacity figures
	snap := r.Capacity.GetAfter(refused)
	if snap == nil {
		obs.CapacityWaiting = r.Capacity.Reading()
		return
	}
	if rep, ok := r.planGraph(ctx, gr, cfg, scopes, snap, pods, nil, false); ok {
		obs.Schedulable = schedulableCondition(rep, snap.Taken, phaseAfter)
	}
}

// planGraph plans the whole graph on a snapshot: each service's pods as one of its pods was
// admitted — a service without a pod yet as adm would admit it, or with adm nil not at all
// (false) — the graph's own pods given back, inter-pod constraints among its own pods, DRA
// claims on the devices the cluster's ResourceSlices publish (read when the graph has claims; a
// read that fails gives no verdict). With quick, a graph that first fit places (plan.FirstFit:
// no topology scope, rollout or claims, simple demands) gets a bare report that it fits, without
// the plan and the node list it needs — what a new graph on a cluster with room costs.
func (r *Reconciler) planGraph(ctx context.Context, g *graph.Graph, cfg render.Config, scopes []topology.Scope, snap *capacity.Snapshot,
	pods map[string][]corev1.Pod, adm *admission, quick bool) (plan.Report, bool) {
	var missing []string
	admit := func(_, service string, spec *corev1.PodSpec) *corev1.PodSpec {
		for i := range pods[service] {
			if p := &pods[service][i]; p.DeletionTimestamp == nil {
				return admittedSpec(spec, p)
			}
		}
		missing = append(missing, service)
		if adm == nil {
			return spec
		}
		return adm.apply(spec)
	}
	demands, err := demand.Pods([]*graph.Graph{g}, cfg, admit)
	if err != nil || adm == nil && len(missing) > 0 {
		return plan.Report{}, false // a render error is the Ready condition's; a service without pods yet is planned once it has one
	}
	rolling := g.CurrentWorkerHash != "" && g.CurrentWorkerHash != g.WorkerHash
	if quick && len(scopes) == 0 && !rolling && !devices.HasClaims(demands) {
		// The graph's own pods count as used here (Build gives them back): first fit is only
		// the stricter for it.
		if fits, ok := plan.FirstFit(demands, snap.Nodes(), snap.Requested()); ok && fits {
			return plan.Report{Fits: true}, true
		}
	}
	own := g.Namespace + "/" + g.Name
	// The own pods' requests before their devices are added: their claims give the devices
	// back (devices.OwnedByPods), not their requests.
	in := plan.Input{Nodes: snap.NodeList(), Used: snap.Requested(), Graphs: map[string]map[string]map[string]int64{own: ownUsage(demands, pods, snap.Taken)}}
	var notes []string
	if devices.HasClaims(demands) {
		o, err := devices.Read(ctx, r.deviceLists(), g.Namespace)
		if err != nil || len(o.Notes) > 0 {
			// Not knowing the devices (DRA not served, lists forbidden — a namespaced
			// install), a verdict would be about the rest of the graph only: none is given.
			log.FromContext(ctx).Info("no Schedulable verdict: the graph's DRA claims cannot be planned", "error", err, "notes", o.Notes)
			return plan.Report{}, false
		}
		names := map[string]bool{}
		for _, list := range pods {
			for i := range list {
				names[list[i].Name] = true
			}
		}
		o.Own = devices.OwnedByPods(g.Namespace, names)
		o.WithTemplates(render.ClaimTemplates(g))
		if in.Nodes, notes, err = devices.Apply(ctx, o, demands, in.Nodes); err != nil {
			return plan.Report{}, false // a selector that does not compile: the scheduler refuses the claim too
		}
	}
	// One plan at a time: a plan's working set grows with the nodes (its own copies of free
	// amounts), and graphs planned together — many created at once — would hold one each.
	r.planMu.Lock()
	defer r.planMu.Unlock()
	opts := plan.Options{Graph: g.Name, Namespace: g.Namespace, Own: own, Scopes: scopes,
		// Its view holds no pod labels: inter-pod constraints among the graph's own pods only.
		InterPod: placement.InterPodGraph}
	if rolling {
		// A rollout in flight: whether each worker's surge has room (one that cannot move says
		// so before its pods are refused). Only then: placing surges costs every plan a second
		// placement per GPU service, which new graphs have no use for.
		opts.Surge = fit.Surges(g, cfg)
	}
	rep := plan.Build(demands, in, opts)
	rep.Notes = append(rep.Notes, notes...)
	return rep, true
}

// deviceLists reads DRA objects past the cache (read only for graphs with claims: caching
// every claim and slice of the cluster would cost every operator).
func (r *Reconciler) deviceLists() devices.Lists {
	rd := r.reader()
	return devices.Lists{
		Templates: func(ctx context.Context, ns string) ([]resourcev1.ResourceClaimTemplate, error) {
			l := &resourcev1.ResourceClaimTemplateList{}
			err := rd.List(ctx, l, client.InNamespace(ns))
			return l.Items, err
		},
		Slices: func(ctx context.Context) ([]resourcev1.ResourceSlice, error) {
			l := &resourcev1.ResourceSliceList{}
			err := rd.List(ctx, l)
			return l.Items, err
		},
		Claims: func(ctx context.Context) ([]resourcev1.ResourceClaim, error) {
			l := &resourcev1.ResourceClaimList{}
			err := rd.List(ctx, l)
			return l.Items, err
		},
		Classes: func(ctx context.Context) ([]resourcev1.DeviceClass, error) {
			l := &resourcev1.DeviceClassList{}
			err := rd.List(ctx, l)
			return l.Items, err
		},
	}
}

// admission is what the namespace's admission adds to a pod the operator renders, as far as
// placement cares: tolerations and node selector entries (PodTolerationRestriction's and
// PodNodeSelector's defaults, a webhook's), learnt from one of the operator's pods there.
type admission struct {
	tolerations  []corev1.Toleration
	nodeSelector map[string]string
}

// deploymentPods selects the operator's pods that a Deployment runs (not a LeaderWorkerSet).
var deploymentPods = func() labels.Selector {
	managed, _ := labels.NewRequirement(v1alpha1.LabelManagedBy, selection.Equals, []string{render.ManagedBy})
	notLWS, _ := labels.NewRequirement(lwsv1.SetNameLabelKey, selection.DoesNotExist, nil)
	return labels.NewSelector().Add(*managed, *notLWS)
}()

// namespaceAdmission learns admission from a pod of the graph, else from another of the
// operator's pods in the namespace: what it has beyond its Deployment's template. None there:
// nothing learnt (an empty admission).
func (r *Reconciler) namespaceAdmission(ctx context.Context, g *graph.Graph, pods map[string][]corev1.Pod) (*admission, error) {
	var cands []corev1.Pod
	for _, name := range g.Names() {
		cands = append(cands, pods[name]...)
	}
	if len(cands) == 0 {
		// A few of the namespace's pods of Deployments (a multi-node pod has none to compare
		// with), not all: every new graph asks, and a namespace may hold thousands.
		list := &corev1.PodList{}
		if err := r.Client.List(ctx, list, client.InNamespace(g.Namespace), client.MatchingLabelsSelector{Selector: deploymentPods}, client.Limit(8)); err != nil {
			return nil, err
		}
		cands = list.Items
	}
	for i := range cands {
		p := &cands[i]
		d := &appsv1.Deployment{}
		if err := r.Client.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: p.Labels[v1alpha1.LabelSelector]}, d); err != nil {
			continue // a multi-node pod, or its Deployment gone
		}
		return admissionOf(&d.Spec.Template.Spec, p), nil
	}
	return &admission{}, nil
}

// admissionOf is what pod has beyond tmpl: the tolerations and node selector entries admission
// added — not the tolerations of extended resources, which WithResourceTolerations adds for
// the resources each pod asks for.
func admissionOf(tmpl *corev1.PodSpec, p *corev1.Pod) *admission {
	a := &admission{}
	for _, t := range p.Spec.Tolerations {
		if !slices.ContainsFunc(tmpl.Tolerations, func(have corev1.Toleration) bool { return have.MatchToleration(&t) }) &&
			!nvidia.IsResource(t.Key) {
			a.tolerations = append(a.tolerations, t)
		}
	}
	for k, v := range p.Spec.NodeSelector {
		if _, ok := tmpl.NodeSelector[k]; !ok {
			if a.nodeSelector == nil {
				a.nodeSelector = map[string]string{}
			}
			a.nodeSelector[k] = v
		}
	}
	return a
}

// apply is spec as admission would admit it: the learnt tolerations and node selector entries
// (the spec's own win), and ExtendedResourceToleration's for the resources it asks for.
func (a *admission) apply(spec *corev1.PodSpec) *corev1.PodSpec {
	out := *spec
	for _, t := range a.tolerations {
		if !slices.ContainsFunc(out.Tolerations, func(have corev1.Toleration) bool { return have.MatchToleration(&t) }) {
			out.Tolerations = append(slices.Clip(out.Tolerations), t)
		}
	}
	if len(a.nodeSelector) > 0 {
		sel := maps.Clone(a.nodeSelector)
		maps.Copy(sel, spec.NodeSelector)
		out.NodeSelector = sel
	}
	return demand.WithResourceTolerations(&out)
}

// When a plan ran, for its message.
const (
	phaseBefore = iota // before apply; the graph is applied all the same
	phaseHeld          // before apply; the graph waits for capacity
	phaseAfter         // after apply, the scheduler having refused a pod
)

// schedulableCondition sums a plan up.
func schedulableCondition(rep plan.Report, taken time.Time, phase int) *metav1.Condition {
	at := taken.UTC().Format("15:04:05Z")
	if rep.Stopped {
		msg := fmt.Sprintf("the plan of the graph on the cluster as read at %s stopped at its work budget (%d pods asked for): whether it fits is not known; the graph is applied as if unplanned",
			at, rep.Pods())
		return &metav1.Condition{Type: ConditionSchedulable, Status: metav1.ConditionUnknown, Reason: ReasonPlanUnfinished, Message: msg}
	}
	if rep.Fits {
		msg := fmt.Sprintf("a placement of every pod exists on the cluster as read at %s (%s plan)", at, rep.Method)
		if phase == phaseAfter {
			msg += fmt.Sprintf(": pods still Pending wait on the scheduler's order, not on capacity — %s (dynamoctl plan dgd/%s shows it whole)", placementSummary(rep), rep.Graph)
		} else {
			msg += ", planned before apply"
		}
		return &metav1.Condition{Type: ConditionSchedulable, Status: metav1.ConditionTrue, Reason: ReasonPlacementExists, Message: msg}
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
	msg += fmt.Sprintf(", cluster as read at %s", at)
	switch phase {
	case phaseBefore:
		msg += ", planned before apply); the graph is applied all the same: capacity may free up"
	case phaseHeld:
		msg += ", planned before apply); not applied: planned again as the cluster's view refreshes"
	default:
		msg += "); the graph stays applied: capacity may free up"
	}
	return &metav1.Condition{Type: ConditionSchedulable, Status: metav1.ConditionFalse, Reason: ReasonDoesNotFit, Message: msg}
}

// summaryNodes bounds the nodes named per service in a placement summary (a status message).
const summaryNodes = 6

// placementSummary names where a plan puts each service's pods: "decode on h100-0, h100-1 ×2;
// frontend on cpu-0", at most summaryNodes nodes per service.
func placementSummary(rep plan.Report) string {
	var parts []string
	for _, svc := range rep.Services {
		var nodes []string
		for i, p := range svc.Placement {
			if i == summaryNodes {
				nodes = append(nodes, fmt.Sprintf("%d more node(s)", len(svc.Placement)-summaryNodes))
				break
			}
			n := p.Node
			if p.Pods > 1 {
				n += fmt.Sprintf(" ×%d", p.Pods)
			}
			nodes = append(nodes, n)
		}
		parts = append(parts, svc.Name+" on "+strings.Join(nodes, ", "))
	}
	return "a placement that works: " + strings.Join(parts, "; ")
}

// allPlaced: the graph has every pod it asks for, each with a node.
func allPlaced(g *graph.Graph, pods map[string][]corev1.Pod) bool {
	for _, c := range g.Components {
		var placed int64
		for i := range pods[c.Name] {
			if p := &pods[c.Name][i]; p.Spec.NodeName != "" && p.DeletionTimestamp == nil {
				placed++
			}
		}
		if placed < c.Pods() {
			return false
		}
	}
	return true
}

// lastRefusal is when the scheduler last refused one of the graph's pods still Pending
// (PodScheduled False, Unschedulable: its transition, in whole seconds); zero when none is. A pod
// just created, not tried yet, is not counted: planning then would read the cluster while its
// own pods are still being bound.
func lastRefusal(pods map[string][]corev1.Pod) time.Time {
	var last time.Time
	for _, list := range pods {
		for i := range list {
			p := &list[i]
			if p.Spec.NodeName != "" || p.DeletionTimestamp != nil {
				continue
			}
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
					// The API server keeps whole seconds: the refusal came before the next one.
					if at := c.LastTransitionTime.Add(time.Second); at.After(last) {
						last = at
					}
				}
			}
		}
	}
	return last
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
// asks now): the plan of the graph as a change gives it back. Pods bound after the snapshot was
// taken are not in its sums, and not given back.
func ownUsage(demands []placement.Demand, pods map[string][]corev1.Pod, taken time.Time) map[string]map[string]int64 {
	out := map[string]map[string]int64{}
	for _, d := range demands {
		for i := range pods[d.Service] {
			p := &pods[d.Service][i]
			if !kubenode.PodActive(p) || boundAfter(p, taken) {
				continue
			}
			demand.AddTo(out, p.Spec.NodeName, d.Requests)
		}
	}
	return out
}

// boundAfter: the pod was bound (PodScheduled True) after t.
func boundAfter(p *corev1.Pod, t time.Time) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionTrue {
			return c.LastTransitionTime.After(t)
		}
	}
	return false
}

// setSchedulable records the verdict, keeps the last one when there is none new, and removes the
// condition when the operator has no capacity view.
func setSchedulable(st *v1alpha1.DynamoGraphDeploymentStatus, g *graph.Graph, obs Observed) {
	switch {
	case !obs.PlanOn:
		meta.RemoveStatusCondition(&st.Conditions, ConditionSchedulable)
	case obs.Schedulable != nil:
		c := *obs.Schedulable
		c.ObservedGeneration = g.Generation
		meta.SetStatusCondition(&st.Conditions, c)
	case obs.Held == "":
		// "Reading the cluster before applying" is not true of a graph that was applied
		// (its plan gave no verdict): it is not kept.
		if c := meta.FindStatusCondition(st.Conditions, ConditionSchedulable); c != nil && c.Reason == ReasonReadingCapacity {
			meta.RemoveStatusCondition(&st.Conditions, ConditionSchedulable)
		}
	}
}
