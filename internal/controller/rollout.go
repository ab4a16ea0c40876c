package controller

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	lwsv1 "sigs.k8s.io/lws/api/leaderworkerset/v1"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/api/v1beta1"
	"github.com/dynamo-infra/dynamo-infra/internal/diagnose"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
	"github.com/dynamo-infra/dynamo-infra/internal/rollout"
)

// A worker change is rolled out the original's way (docs/rollout.md): the spec's worker hash
// (graph.WorkerHash) names a new generation of every worker service's children, which comes up
// beside the generation that serves (the graph's v1alpha1.AnnotationCurrentWorkerHash) within
// each service's maxSurge and maxUnavailable (internal/rollout decides each step); each
// generation registers in its own Dynamo namespace (DYN_NAMESPACE_WORKER_SUFFIX), so a new
// prefill worker never hands its KV cache to an old decode worker. When every worker service
// has moved, the old generation is deleted and the new one becomes current. Unlike the
// original, multi-node services roll the same way (a LeaderWorkerSet per generation).

// Events of a rollout (the original's reasons).
const (
	ReasonRollingUpdateStarted   = "RollingUpdateStarted"
	ReasonRollingUpdateCompleted = "RollingUpdateCompleted"
)

// oldWorkload is a worker's Deployment or LeaderWorkerSet of a generation the spec no longer
// asks for, as read before applying.
type oldWorkload struct {
	obj     client.Object
	service string
	// child is its generation's child name: its Service's name and its pods' selector.
	child string
	state rollout.Workload
	// pods are its pods (for status and a multi-node group's readiness).
	pods []corev1.Pod
}

// rolloutStep is what one reconcile does for a graph's rollout.
type rolloutStep struct {
	// replicas are the new generation's replicas by service while rolling (render's override).
	replicas map[string]int32
	// old are the old generations' workloads by service, kept (not pruned) while rolling, and
	// scale their replicas.
	old   map[string][]oldWorkload
	scale map[string]int32
	// status is status.rollingUpdate to write (nil: none yet).
	status *v1alpha1.RollingUpdateStatus
	// current is the worker hash to record as current, spec and previous the worker specs of
	// its generation and of the one before ("": leave the annotation).
	current, spec, previous string
	// event is the rollout event to record (reason "": none).
	event, message string
}

// keep says whether prune must leave obj: a child of an old generation while it drains.
func (s rolloutStep) keep(kind, name string) bool {
	for _, ws := range s.old {
		for _, w := range ws {
			if (kind == "Service" && name == w.child) || (kind == w.obj.GetObjectKind().GroupVersionKind().Kind && name == w.obj.GetName()) {
				return true
			}
		}
	}
	return false
}

// planRollout reads the graph's worker generations and decides this reconcile's step.
func (r *Reconciler) planRollout(ctx context.Context, g *graph.Graph) (rolloutStep, error) {
	step := rolloutStep{status: g.Status.RollingUpdate.DeepCopy()}
	workers := workerComponents(g)
	if g.Err() != nil || len(workers) == 0 {
		return step, nil
	}
	old, err := r.readOldGenerations(ctx, g, workers)
	if err != nil {
		return step, fmt.Errorf("read worker generations: %w", err)
	}
	current := g.CurrentWorkerHash
	if current == "" {
		// A new graph starts at its hash; one whose workers were rendered before generations
		// (children <graph>-<service>, no hash label) rolls from them.
		current = g.WorkerHash
		if len(old) > 0 {
			current = v1alpha1.LegacyWorkerHash
		}
		step.current = current
	}
	if current == g.WorkerHash && g.Annotations[v1alpha1.AnnotationWorkerSpec] == "" {
		step.spec = g.WorkerSpec() // recorded once for a graph that has none (rollout undo)
	}
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	if current == g.WorkerHash {
		// A rollout the spec went back on (the old generation asked for again) is over: what it
		// started is pruned and the generation that served is scaled back up.
		if s := step.status; s != nil && (s.Phase == rollout.PhasePending || s.Phase == rollout.PhaseInProgress) {
			s.Phase, s.EndTime, s.UpdatedServices = rollout.PhaseCompleted, &now, names(workers)
		}
		return step, nil
	}
	s := step.status
	switch {
	case s == nil || s.Phase == "" || s.Phase == rollout.PhaseCompleted || s.Phase == "Failed":
		step.status = &v1alpha1.RollingUpdateStatus{Phase: rollout.PhasePending, StartTime: &now}
		step.event, step.message = ReasonRollingUpdateStarted, fmt.Sprintf("Starting rolling update from worker hash %s to %s", current, g.WorkerHash)
	case s.Phase == rollout.PhasePending:
		s.Phase = rollout.PhaseInProgress
	}
	step.replicas, step.scale, step.old = map[string]int32{}, map[string]int32{}, map[string][]oldWorkload{}
	step.status.Message = ""
	paused, partition := g.RolloutPaused, g.RolloutPartition
	var updated, held []string
	svcs, steps := make([]rollout.Service, len(workers)), make([]rollout.Targets, len(workers))
	var stuck []string
	for i, c := range workers {
		svc, pods, err := r.rolloutService(ctx, g, c, old[c.Name])
		if err != nil {
			return step, err
		}
		svcs[i], steps[i] = svc, rollout.Step(svc)
		stuck = append(stuck, surgeStuck(svc, pods)...)
	}
	if !g.RolloutIndependent {
		steps = rollout.Coordinate(svcs, steps)
	}
	for i, c := range workers {
		svc, t := svcs[i], steps[i]
		if rollout.Updated(svc) {
			updated = append(updated, c.Name)
		}
		share, err := rollout.Share(partition, c.Replicas)
		switch {
		case paused:
			t = rollout.Paused(svc)
		case err != nil:
			// A partition that cannot be read holds the rollout rather than finishing it.
			t = rollout.Paused(svc)
			step.status.Message = fmt.Sprintf("held: %s %s", v1alpha1.AnnotationRolloutPartition, err)
		case share < c.Replicas:
			t = rollout.Hold(svc, t, share)
			held = append(held, fmt.Sprintf("%s %d/%d", c.Name, min(svc.New.Ready, share), c.Replicas))
		}
		step.replicas[c.Name] = t.New
		for name, n := range t.Old {
			step.scale[name] = n
		}
		step.old[c.Name] = old[c.Name]
	}
	step.status.UpdatedServices = updated
	switch {
	case paused:
		step.status.Message = "paused (" + v1alpha1.AnnotationRolloutPaused + "): remove the annotation to go on"
	case len(held) > 0 && step.status.Message == "":
		step.status.Message = fmt.Sprintf("held at partition %s (%s): ready on the new generation %s; raise or remove it to go on",
			partition, v1alpha1.AnnotationRolloutPartition, strings.Join(held, ", "))
	case len(stuck) > 0 && step.status.Message == "":
		step.status.Message = strings.Join(stuck, "; ")
	}
	if len(updated) == len(workers) && !paused {
		// Every worker service has moved: the old generation goes (not kept from pruning), the
		// new one serves at its full replicas.
		step.replicas, step.scale, step.old = nil, nil, nil
		step.status.Phase, step.status.EndTime, step.status.Message = rollout.PhaseCompleted, &now, ""
		step.current, step.spec, step.previous = g.WorkerHash, g.WorkerSpec(), g.Annotations[v1alpha1.AnnotationWorkerSpec]
		step.event, step.message = ReasonRollingUpdateCompleted, "Rolling update completed, worker hash "+g.WorkerHash
	}
	return step, nil
}

// withOld is pods by service with the old worker generations' pods added: the graph's own pods,
// which a plan gives back like the new generation's.
func withOld(pods map[string][]corev1.Pod, old map[string][]oldWorkload) map[string][]corev1.Pod {
	if len(old) == 0 {
		return pods
	}
	out := make(map[string][]corev1.Pod, len(pods))
	for name, list := range pods {
		out[name] = list
	}
	for name, ws := range old {
		for _, w := range ws {
			out[name] = append(slices.Clip(out[name]), w.pods...)
		}
	}
	return out
}

// advise adds the plan's word on a rollout that would stall (no room for a surge pod,
// maxUnavailable 0) to its message, unless the new pods' refusal already says it.
func (s *rolloutStep) advise(stalls []string) {
	ru := s.status
	if len(stalls) == 0 || ru == nil || (ru.Phase != rollout.PhasePending && ru.Phase != rollout.PhaseInProgress) ||
		strings.Contains(ru.Message, "keeps every old replica") {
		return
	}
	advice := "the plan: " + strings.Join(stalls, "; ")
	if ru.Message == "" {
		ru.Message = advice
		return
	}
	ru.Message += "; " + advice
}

// surgeStuck says why a service's rollout cannot move, and what to set: its new pods cannot be
// placed and maxUnavailable 0 keeps every old pod — a rollout that waits for room forever on a
// full cluster.
func surgeStuck(svc rollout.Service, pods []corev1.Pod) []string {
	if svc.MaxUnavailable > 0 || svc.New.Replicas == 0 || svc.New.Ready >= svc.New.Replicas {
		return nil
	}
	p := diagnose.FirstPodProblem(pods)
	if p.Reason != diagnose.ReasonInsufficientCapacity && p.Reason != diagnose.ReasonUnschedulable {
		return nil
	}
	return []string{fmt.Sprintf("%s: the new generation's %s, and maxUnavailable 0 keeps every old replica: it waits for room — free room for %d pod(s), or set %s: \"0\" and %s: \"1\" on %s to replace its replicas in place",
		svc.Name, p.Message, svc.New.Replicas-svc.New.Ready, v1alpha1.AnnotationMaxSurge, v1alpha1.AnnotationMaxUnavailable, svc.Name)}
}

// rolloutService reads a worker service's new generation (and its pods) and puts it beside its
// old ones.
func (r *Reconciler) rolloutService(ctx context.Context, g *graph.Graph, c *graph.Component, old []oldWorkload) (rollout.Service, []corev1.Pod, error) {
	svc := rollout.Service{Name: c.Name, Replicas: c.Replicas}
	svc.MaxSurge, svc.MaxUnavailable = rollout.Bounds(c.Annotations, c.Replicas, c.Multinode())
	for _, o := range old {
		svc.Old = append(svc.Old, o.state)
	}
	var live client.Object = &appsv1.Deployment{}
	if c.Multinode() {
		live = &lwsv1.LeaderWorkerSet{}
	}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: g.Namespace, Name: c.WorkloadName}, live)
	if client.IgnoreNotFound(err) != nil {
		return svc, nil, fmt.Errorf("read %s: %w", c.WorkloadName, err)
	}
	if err != nil || ownership(g, live) != ownedByGraph {
		return svc, nil, nil
	}
	pods, err := r.podsOf(ctx, g.Namespace, c.ChildName)
	if err != nil {
		return svc, nil, err
	}
	svc.New = workloadState(live, pods)
	return svc, pods, nil
}

// readOldGenerations lists the graph's worker workloads of other generations than the spec's,
// by service (workers of services the graph still has; the others are pruned).
func (r *Reconciler) readOldGenerations(ctx context.Context, g *graph.Graph, workers []*graph.Component) (map[string][]oldWorkload, error) {
	byName := map[string]*graph.Component{}
	for _, c := range workers {
		byName[c.Name] = c
	}
	lists := []client.ObjectList{&appsv1.DeploymentList{}}
	if r.LWS {
		lists = append(lists, &lwsv1.LeaderWorkerSetList{})
	}
	out := map[string][]oldWorkload{}
	for _, list := range lists {
		if err := r.Client.List(ctx, list, client.InNamespace(g.Namespace),
			client.MatchingLabels{v1alpha1.LabelGraphDeploymentName: g.Name, v1alpha1.LabelManagedBy: render.ManagedBy}); err != nil {
			return nil, err
		}
		var errs []error
		_ = meta.EachListItem(list, func(o runtime.Object) error {
			obj := o.(client.Object)
			l := obj.GetLabels()
			c := byName[l[v1alpha1.LabelComponent]]
			if c == nil || !graph.IsWorker(l[v1alpha1.LabelComponentType]) || l[v1alpha1.LabelWorkerHash] == g.WorkerHash || ownership(g, obj) != ownedByGraph {
				return nil
			}
			child := l[v1alpha1.LabelSelector]
			pods, err := r.podsOf(ctx, g.Namespace, child)
			if err != nil {
				errs = append(errs, err)
				return nil
			}
			obj.GetObjectKind().SetGroupVersionKind(gvkOf(obj))
			out[c.Name] = append(out[c.Name], oldWorkload{obj: obj, service: c.Name, child: child, state: workloadState(obj, pods), pods: pods})
			return nil
		})
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// gvkOf is the kind of a child as the reconciler names it (lists leave TypeMeta empty).
func gvkOf(obj client.Object) schema.GroupVersionKind {
	switch obj.(type) {
	case *lwsv1.LeaderWorkerSet:
		return lwsv1.GroupVersion.WithKind("LeaderWorkerSet")
	default:
		return appsv1.SchemeGroupVersion.WithKind("Deployment")
	}
}

// podsOf lists the pods of one generation's children (by their selector label).
func (r *Reconciler) podsOf(ctx context.Context, namespace, child string) ([]corev1.Pod, error) {
	pods := &corev1.PodList{}
	if err := r.Client.List(ctx, pods, client.InNamespace(namespace), client.MatchingLabels{v1alpha1.LabelSelector: child}); err != nil {
		return nil, fmt.Errorf("list pods of %s: %w", child, err)
	}
	return pods.Items, nil
}

// workloadState is a workload's replicas (groups for a LeaderWorkerSet, ready only when every
// pod of the group is) as a rollout counts them.
func workloadState(obj client.Object, pods []corev1.Pod) rollout.Workload {
	w := rollout.Workload{Name: obj.GetName(), Created: obj.GetCreationTimestamp().Time}
	switch o := obj.(type) {
	case *appsv1.Deployment:
		w.Replicas = ptr.Deref(o.Spec.Replicas, 1)
		w.Available, w.Ready = o.Status.AvailableReplicas, o.Status.ReadyReplicas
	case *lwsv1.LeaderWorkerSet:
		w.Replicas = ptr.Deref(o.Spec.Replicas, 1)
		w.Ready = diagnose.LeaderWorkerSetReady(o, pods)
		w.Available = w.Ready
	}
	return w
}

// finishRollout does what the step decided after the new generation is applied: scale the old
// generation, record the current hash, the event.
func (r *Reconciler) finishRollout(ctx context.Context, stored *v1beta1.DynamoGraphDeployment, g *graph.Graph, step rolloutStep) error {
	var errs []error
	for _, ws := range step.old {
		for _, w := range ws {
			n, ok := step.scale[w.obj.GetName()]
			if !ok || n == w.state.Replicas {
				continue
			}
			errs = append(errs, r.scaleWorkload(ctx, w.obj, n))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	record := map[string]string{}
	for k, v := range map[string]string{v1alpha1.AnnotationCurrentWorkerHash: step.current,
		v1alpha1.AnnotationWorkerSpec: step.spec, v1alpha1.AnnotationPreviousWorkerSpec: step.previous} {
		if v != "" && v != stored.Annotations[k] {
			record[k] = v
		}
	}
	if len(record) > 0 {
		patch := client.MergeFrom(stored.DeepCopy())
		if stored.Annotations == nil {
			stored.Annotations = map[string]string{}
		}
		maps.Copy(stored.Annotations, record)
		if err := r.Client.Patch(ctx, stored, patch); err != nil {
			return fmt.Errorf("record the current worker generation: %w", err)
		}
	}
	switch step.event {
	case ReasonRollingUpdateStarted:
		rollingUpdates.WithLabelValues(g.Namespace, "started").Inc()
	case ReasonRollingUpdateCompleted:
		rollingUpdates.WithLabelValues(g.Namespace, "completed").Inc()
		if s := step.status; s.StartTime != nil && s.EndTime != nil {
			rollingUpdateDuration.WithLabelValues(g.Namespace).Observe(s.EndTime.Sub(s.StartTime.Time).Seconds())
		}
	}
	if step.event != "" && r.Recorder != nil {
		r.Recorder.Eventf(stored, nil, corev1.EventTypeNormal, step.event, "Update", "%s", step.message)
		log.FromContext(ctx).Info(step.message)
	}
	return nil
}

// scaleWorkload sets an old generation's replicas (the original patches its old DCDs).
func (r *Reconciler) scaleWorkload(ctx context.Context, obj client.Object, replicas int32) error {
	base := obj.DeepCopyObject().(client.Object)
	switch o := obj.(type) {
	case *appsv1.Deployment:
		o.Spec.Replicas = ptr.To(replicas)
	case *lwsv1.LeaderWorkerSet:
		o.Spec.Replicas = ptr.To(replicas)
	}
	childWrites.WithLabelValues(obj.GetObjectKind().GroupVersionKind().Kind).Inc()
	if err := r.Client.Patch(ctx, obj, client.MergeFrom(base), client.FieldOwner(FieldManager)); err != nil {
		return fmt.Errorf("scale %s %s to %d: %w", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), replicas, err)
	}
	return nil
}

// workerComponents are the graph's worker services (by name).
func workerComponents(g *graph.Graph) []*graph.Component {
	var out []*graph.Component
	for _, c := range g.Components {
		if c.WorkerHash != "" {
			out = append(out, c)
		}
	}
	return out
}

func names(cs []*graph.Component) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name
	}
	slices.Sort(out)
	return out
}
