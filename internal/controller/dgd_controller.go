// Package controller reconciles DynamoGraphDeployments: read the graph, render its children,
// apply those that differ from the live objects with server-side apply, and roll their state
// up into the graph's status. Deciding what the children look like is internal/render's job.
package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	resourcev1 "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	lwsv1 "sigs.k8s.io/lws/api/leaderworkerset/v1"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/api/v1beta1"
	"github.com/dynamo-infra/dynamo-infra/internal/capacity"
	"github.com/dynamo-infra/dynamo-infra/internal/diagnose"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/kubenode"
	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
	"github.com/dynamo-infra/dynamo-infra/internal/topology"
)

// FieldManager is the one field manager of every apply the operator makes.
const FieldManager = "dynamo-operator"

// Reconciler reconciles DynamoGraphDeployments.
type Reconciler struct {
	Client client.Client
	// APIReader reads past the cache, which holds only objects labelled as ours: before a
	// child is created, it says whether an object of that name already exists (someone
	// else's, which is never adopted). Nil: Client is used.
	APIReader client.Reader
	// Names holds the metadata of every object of the children's kinds (not only ours), so
	// that a free name costs no request (see getLive). Nil: APIReader is asked every time.
	Names  client.Reader
	Config render.Config
	// Graph are the settings graphs are resolved with (the default discovery backend).
	Graph graph.Options
	// LWS says the cluster serves the LeaderWorkerSet API: multi-node services run on it.
	// Without it a graph with one is reported (MultinodeUnavailable) and nothing is applied.
	LWS bool
	// Adapters says the cluster serves DynamoGraphDeploymentScalingAdapters: a service with a
	// scalingAdapter gets one. Without it such a graph fails to reconcile, saying so.
	Adapters bool
	// Istio says the cluster serves Istio's VirtualService: an ingress with useVirtualService
	// renders one. Without it such a graph fails to reconcile, saying so.
	Istio bool
	// InferencePools says the cluster serves the Gateway API Inference Extension's
	// InferencePool: a graph's Endpoint Picker renders one. Without it such a graph fails to
	// reconcile, saying so.
	InferencePools bool
	Recorder       events.EventRecorder
	// MaxConcurrentReconciles is how many graphs are reconciled at once (default 1).
	MaxConcurrentReconciles int
	// Tracer traces each reconcile (nil: no traces).
	Tracer trace.Tracer
	// Capacity says how much is free for a service short of GPUs (status.services[].capacity);
	// nil: the status goes without it.
	Capacity *capacity.View
	// PlacementRefresh is how often a graph with a topology constraint is verified again
	// where nothing about it changed (a node relabelled), and how long a node's labels are
	// kept (default DefaultPlacementRefresh).
	PlacementRefresh time.Duration
	// nodeLabels caches the labels of nodes the graphs' constrained pods run on.
	nodeLabels sync.Map // node name → nodeLabelsEntry
	// planMu serializes Schedulable plans (observeSchedulable).
	planMu sync.Mutex

	// states and pods are this reconciler's share of resources_total and managed_pods_total.
	states, pods graphGauges
	// unchanged holds, by UID, the resourceVersion of children whose revert changed nothing.
	unchanged sync.Map
}

// +kubebuilder:rbac:groups=nvidia.com,resources=dynamographdeployments,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=nvidia.com,resources=dynamographdeploymentscalingadapters,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=networking.istio.io,resources=virtualservices,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=inference.networking.k8s.io,resources=inferencepools,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=inference.networking.k8s.io,resources=inferencepools/status,verbs=get;list;watch
// +kubebuilder:rbac:groups=nvidia.com,resources=dynamographdeploymentscalingadapters/status,verbs=update
// +kubebuilder:rbac:groups=nvidia.com,resources=dynamographdeploymentscalingadapters/scale,verbs=get;update;patch
// +kubebuilder:rbac:groups=nvidia.com,resources=dynamographdeployments/status,verbs=update
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=persistentvolumeclaims,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups="",resources=pods;endpoints,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list
// +kubebuilder:rbac:groups=grove.io,resources=clustertopologies,verbs=get
// +kubebuilder:rbac:groups=discovery.k8s.io,resources=endpointslices,verbs=get;list;watch
// +kubebuilder:rbac:groups=nvidia.com,resources=dynamoworkermetadatas,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=leaderworkerset.x-k8s.io,resources=leaderworkersets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=resource.k8s.io,resources=resourceclaims;resourceslices;deviceclasses,verbs=list
// +kubebuilder:rbac:groups=resource.k8s.io,resources=resourceclaimtemplates,verbs=get;list;watch;create;patch;delete

// Each verb is needed: TestRoleIsNoBroaderThanNeeded fails on one that no reconcile uses and
// no Role the operator creates grants. A graph's current worker hash is recorded on it (patch);
// a scaling adapter's replicas are copied into it (update); its status is written whole
// (update); a scaling adapter's status too (update); children are applied
// (patch, create), reverted after a manual edit of their content (update: Deployments,
// LeaderWorkerSets, Services, ConfigMaps, Roles, RoleBindings — never a claim or an account),
// pruned (delete).
//
// The operator holds every permission of the Roles it creates — the planner's (graphs: read,
// update, patch; scaling adapters: read, /scale get, update, patch; endpoint slices) and the
// discovery one (endpoints, pods,
// endpointslices, worker metadata) instead of the "bind" and "escalate" verbs: with those, its
// account could write and bind any Role — cluster-admin's rules in kube-system included. The
// API server lets it create and bind a Role only within what it holds itself.
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile is one pass over a graph: read, render, apply what changed, write status if it
// changed.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, err error) {
	start := time.Now()
	ctx, span := r.startSpan(ctx, "Reconcile", attribute.String(AttrGraphName, req.Name), attribute.String(AttrGraphNamespace, req.Namespace))
	defer func() {
		recordReconcile(req.Namespace, err, res.RequeueAfter > 0, time.Since(start))
		endSpan(span, err)
	}()
	// The graph is read in the version it is stored in, v1beta1 (no conversion webhook between
	// the operator and its own graphs), and converted here to the form the rest reads.
	stored := &v1beta1.DynamoGraphDeployment{}
	if err := r.Client.Get(ctx, req.NamespacedName, stored); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	dgd := &v1alpha1.DynamoGraphDeployment{}
	if err := dgd.ConvertFrom(stored); err != nil {
		return ctrl.Result{}, fmt.Errorf("convert graph %s: %w", req.NamespacedName, err)
	}
	if !dgd.DeletionTimestamp.IsZero() {
		r.forget(req.NamespacedName)
		return ctrl.Result{}, nil // children go with their owner reference; created PVCs stay
	}
	span.SetAttributes(attribute.Int64(AttrGraphGeneration, dgd.Generation))
	// A graph that cannot be rendered is still observed and reported: render says why.
	g, _ := graph.Resolve(dgd, r.Graph)
	cfg, scopes, applyErr := r.renderConfig(ctx, g)
	step := rolloutStep{status: g.Status.RollingUpdate.DeepCopy()}
	if applyErr == nil {
		step, applyErr = r.planRollout(ctx, g)
	}
	restartStatus := g.Status.Restart
	if applyErr == nil {
		g, restartStatus, applyErr = r.planRestart(ctx, g, step.status)
	}
	var gt gate
	if applyErr == nil {
		gt, applyErr = r.planBeforeApply(ctx, g, cfg, scopes, step.old)
		step.advise(gt.stalls)
	}
	var created int
	if applyErr == nil && !gt.hold {
		created, applyErr = r.applyChildren(ctx, g, cfg, step)
	}
	if applyErr == nil && !gt.hold {
		applyErr = r.finishRollout(ctx, stored, g, step)
	}
	octx, ospan := r.startSpan(ctx, "observe")
	obs, readErr := r.observe(octx, g, scopes)
	obs.Old, obs.RollingUpdate, obs.Restart = step.old, step.status, restartStatus
	if applyErr == nil && readErr == nil {
		r.observeSchedulable(octx, g, cfg, scopes, gt, &obs)
	}
	endSpan(ospan, readErr)
	// A new graph's first status waits for its children to report: this reconcile created them,
	// so their ADD events bring the next reconcile at once, and it sees them. Written now, the
	// status would describe children the cache does not hold yet, overtaken a moment later; in
	// a burst (many graphs created at once) the next reconcile comes when they are Ready — one
	// status write instead of two. Only a status the next reconcile computes again waits: no
	// error, no verdict of the plan, no rollout or restart.
	firstWaits := created > 0 && applyErr == nil && readErr == nil && gt.cond == nil && step.status == nil && restartStatus == nil &&
		equality.Semantic.DeepEqual(stored.Status, v1beta1.DynamoGraphDeploymentStatus{})
	sctx, sspan := r.startSpan(ctx, "write status")
	st, err := r.writeStatus(sctx, stored, g, obs, applyErr, !firstWaits)
	endSpan(sspan, err)
	if err != nil {
		return ctrl.Result{}, errors.Join(applyErr, readErr, err)
	}
	span.SetAttributes(attribute.String(AttrGraphState, st.State))
	r.count(req.NamespacedName, st.State, obs)
	return ctrl.Result{RequeueAfter: r.requeue(obs)}, errors.Join(applyErr, readErr)
}

// warn records a Warning event on the graph.
func (r *Reconciler) warn(g *graph.Graph, reason, action, message string) {
	r.event(g, corev1.EventTypeWarning, reason, action, "%s", message)
}

// event records an event on the graph (as its stored version: events name the object as read).
func (r *Reconciler) event(g *graph.Graph, eventType, reason, action, format string, args ...any) {
	if r.Recorder == nil {
		return
	}
	regarding := &v1beta1.DynamoGraphDeployment{TypeMeta: metav1.TypeMeta{APIVersion: v1beta1.GroupVersion.String(), Kind: "DynamoGraphDeployment"},
		ObjectMeta: g.ObjectMeta}
	r.Recorder.Eventf(regarding, nil, eventType, reason, action, format, args...)
}

// apis are the optional APIs this reconciler found served at start.
func (r *Reconciler) apis() optionalAPIs {
	return optionalAPIs{LWS: r.LWS, Adapters: r.Adapters, Istio: r.Istio, InferencePools: r.InferencePools}
}

// capacityWait is how soon a graph short of capacity is looked at again while the capacity
// view reads its first snapshot.
const capacityWait = 2 * time.Second

// requeue: a graph short of capacity is looked at again when the capacity view may have a
// newer figure (a Pending pod's status does not change while the cluster around it does).
func (r *Reconciler) requeue(obs Observed) time.Duration {
	var after time.Duration
	switch {
	case r.Capacity == nil || !obs.CapacityShort:
	case obs.CapacityWaiting:
		after = capacityWait
	default:
		after = r.Capacity.MaxAge
	}
	// A placement is verified again now and then: a node relabelled changes it, and nothing
	// the operator watches says so.
	if obs.Topology && (after == 0 || r.placementRefresh() < after) {
		after = r.placementRefresh()
	}
	return after
}

// count sets the graph's share of resources_total (its state) and managed_pods_total (its
// pods by component type).
func (r *Reconciler) count(key types.NamespacedName, state string, obs Observed) {
	if state == "" {
		state = StateInitializing
	}
	r.states.set(resourcesTotal, key, map[string]float64{series(ResourceType, key.Namespace, state): 1})
	pods := map[string]float64{}
	for _, list := range obs.Pods {
		for i := range list {
			pods[series(list[i].Labels[v1alpha1.LabelComponentType], key.Namespace)]++
		}
	}
	r.pods.set(managedPodsTotal, key, pods)
}

// forget drops a deleted graph from the gauges.
func (r *Reconciler) forget(key types.NamespacedName) {
	r.states.set(resourcesTotal, key, nil)
	r.pods.set(managedPodsTotal, key, nil)
}

// applyChildren renders the children — the new worker generation at the rollout step's
// replicas — and applies each one that differs from its live copy; created counts those that
// did not exist.
func (r *Reconciler) applyChildren(ctx context.Context, g *graph.Graph, cfg render.Config, step rolloutStep) (created int, err error) {
	if err := r.apis().missingFor(g); err != nil {
		return 0, err
	}
	stepped, err := g.WithReplicas(step.replicas)
	if err != nil {
		return 0, err
	}
	objs, err := render.Graph(stepped, cfg)
	if err != nil {
		return 0, fmt.Errorf("render: %w", err)
	}
	if g.Generation != g.Status.ObservedGeneration {
		for _, w := range g.Warnings() {
			r.warn(g, ReasonIgnoredField, "Reconcile", w)
		}
	}
	// What pods need before they can start (claims, the discovery account and its role, the
	// wait script), then the Deployments, LeaderWorkerSets, Services and the role's binding. Within a phase the applies run
	// concurrently: a reconcile costs two round trips, not one per child. The binding waits
	// for the Role: without the "bind" verb, the API server authorizes a binding by reading
	// the Role it names.
	var first, workloads []runtime.Object
	for _, obj := range objs {
		if k, _ := kindOf(obj.GetObjectKind().GroupVersionKind().Kind); k.Phase == phaseWorkloads {
			workloads = append(workloads, obj)
		} else {
			first = append(first, obj)
		}
	}
	var n atomic.Int32
	if err := r.applyAll(ctx, g, "apply prerequisites", first, &n); err != nil {
		return int(n.Load()), err
	}
	if err := r.applyAll(ctx, g, "apply workloads", workloads, &n); err != nil {
		return int(n.Load()), err
	}
	if err := r.releaseModelServices(ctx, g, objs); err != nil {
		return int(n.Load()), err
	}
	return int(n.Load()), r.prune(ctx, g, objs, step)
}

// prune deletes this graph's children that it no longer renders, but an old worker generation
// that drains (step.keep): ours by label and controller UID, read from the cache (no request
// when there is nothing to delete).
func (r *Reconciler) prune(ctx context.Context, g *graph.Graph, desired []runtime.Object, step rolloutStep) (err error) {
	keep := map[string]bool{}
	for _, o := range desired {
		obj := o.(client.Object)
		keep[o.GetObjectKind().GroupVersionKind().Kind+"/"+obj.GetName()] = true
	}
	var errs []error
	for _, k := range served(r.apis()) {
		if !k.Prune {
			continue
		}
		list, kind := k.NewList(), k.Kind
		if err := r.Client.List(ctx, list, client.InNamespace(g.Namespace),
			client.MatchingLabels{v1alpha1.LabelGraphDeploymentName: g.Name, v1alpha1.LabelManagedBy: render.ManagedBy}); err != nil {
			errs = append(errs, fmt.Errorf("list children to prune: %w", err))
			continue
		}
		_ = meta.EachListItem(list, func(o runtime.Object) error {
			obj := o.(client.Object)
			if keep[kind+"/"+obj.GetName()] || step.keep(kind, obj.GetName()) || ownership(g, obj) != ownedByGraph {
				return nil
			}
			log.FromContext(ctx).Info("deleting a child the graph no longer renders", "kind", kind, "name", obj.GetName())
			childWrites.WithLabelValues(kind).Inc()
			uid := obj.GetUID()
			if err := r.Client.Delete(ctx, obj, client.Preconditions{UID: &uid}, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
				errs = append(errs, fmt.Errorf("delete %s %s: %w", kind, obj.GetName(), err))
			}
			return nil
		})
	}
	return errors.Join(errs...)
}

// applyAll applies objs concurrently and joins their errors, counting in created those that did
// not exist; phase names its span.
func (r *Reconciler) applyAll(ctx context.Context, g *graph.Graph, phase string, objs []runtime.Object, created *atomic.Int32) (err error) {
	ctx, span := r.startSpan(ctx, phase, attribute.Int(AttrObjects, len(objs)))
	defer func() { endSpan(span, err) }()
	errs := make([]error, len(objs))
	var wg sync.WaitGroup
	for i, obj := range objs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.applyIfChanged(ctx, g, obj, created)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// applyIfChanged server-side applies obj unless the live object already holds every field obj
// sets (a converged child costs no write; an edited or deleted one is put back). An object of
// that name that this graph did not create is never written (see ownership). An object that did
// not exist is counted in created.
func (r *Reconciler) applyIfChanged(ctx context.Context, g *graph.Graph, obj runtime.Object, created *atomic.Int32) error {
	desired, ok := obj.(client.Object)
	if !ok {
		return fmt.Errorf("rendered %T is not an object", obj)
	}
	kind := obj.GetObjectKind().GroupVersionKind().Kind
	// isNew: a child whose creation wakes the graph (an owned kind's ADD event).
	isNew := false
	if k, ok := kindOf(kind); ok {
		live := k.New()
		found, err := r.getLive(ctx, desired, live)
		if err != nil {
			return fmt.Errorf("get %s %s: %w", kind, desired.GetName(), err)
		}
		isNew = !found && k.Owned
		if found {
			switch ownership(g, live) {
			case ownedByGraph:
				if k.CreateOnly {
					return nil // its content is its own now (a scaling adapter's replicas)
				}
				if k.Immutable {
					if converged(desired, live) {
						return nil
					}
					// Replaced: pods keep the claims made from the old one.
					childWrites.WithLabelValues(kind).Inc()
					if err := r.Client.Delete(ctx, live, client.Preconditions{UID: ptr.To(live.GetUID())}); client.IgnoreNotFound(err) != nil {
						return fmt.Errorf("replace %s %s: %w", kind, desired.GetName(), err)
					}
					break
				}
				if foreign := foreignManagers(live); len(foreign) > 0 {
					return r.revert(ctx, kind, desired, live, foreign)
				}
				if converged(desired, live) {
					return nil
				}
			case sharedClaim:
				return nil // an existing claim is used as it is, never changed or adopted
			case sharedModel:
				return r.shareModelService(ctx, g, live)
			default:
				return &ConflictError{Kind: kind, Name: desired.GetName(), Owner: ownerOf(live)}
			}
		}
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return err
	}
	delete(u, "status")
	unstructured.RemoveNestedField(u, "metadata", "creationTimestamp")
	childWrites.WithLabelValues(kind).Inc()
	if err := r.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(&unstructured.Unstructured{Object: u}),
		client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return fmt.Errorf("apply %s %s: %w", kind, desired.GetName(), err)
	}
	if isNew {
		created.Add(1)
	}
	return nil
}

// revert replaces a child's content that other writers edited (kubectl edit, scale, patch)
// with the graph's, in one update: server-side apply would keep the fields they own.
// A writer that set values equal to ours (a user's kubectl apply of the same manifest) keeps
// co-owning them after the update, which then changed nothing: such a version of the object is
// remembered and not updated again.
func (r *Reconciler) revert(ctx context.Context, kind string, desired, live client.Object, foreign []string) error {
	if rv, ok := r.unchanged.Load(live.GetUID()); ok && rv == live.GetResourceVersion() {
		if converged(desired, live) {
			return nil
		}
	} else {
		log.FromContext(ctx).Info("reverting a manual change to a child", "kind", kind, "name", desired.GetName(), "managers", foreign)
	}
	updated := withContent(live, desired)
	childWrites.WithLabelValues(kind).Inc()
	if err := r.Client.Update(ctx, updated, client.FieldOwner(FieldManager)); err != nil {
		return fmt.Errorf("revert the change by %s to %s %s: %w", strings.Join(foreign, ", "), kind, desired.GetName(), err)
	}
	if updated.GetResourceVersion() == live.GetResourceVersion() {
		r.unchanged.Store(live.GetUID(), live.GetResourceVersion())
	}
	return nil
}

// getLive reads the live copy of desired into live: from the cache, which holds only our
// labelled objects. When it has none, Names (the names of every object of that kind) says
// whether the name is free, at no request: only a name that is taken — someone else's object,
// or ours not yet in the cache — costs one read from the API server.
func (r *Reconciler) getLive(ctx context.Context, desired, live client.Object) (bool, error) {
	key := client.ObjectKeyFromObject(desired)
	err := r.Client.Get(ctx, key, live)
	if err == nil || !apierrors.IsNotFound(err) {
		return err == nil, err
	}
	if r.APIReader == nil {
		return false, nil // Client reads the API server itself
	}
	if r.Names != nil {
		meta := &metav1.PartialObjectMetadata{}
		meta.SetGroupVersionKind(desired.GetObjectKind().GroupVersionKind())
		if err := r.Names.Get(ctx, key, meta); apierrors.IsNotFound(err) {
			return false, nil
		}
	}
	err = r.APIReader.Get(ctx, key, live)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// ConflictError means a child's name is taken by an object this graph did not create: a
// user's own object, or another graph's child (two graphs whose names and service names join
// to the same child name). The graph reports it and leaves the object alone.
type ConflictError struct {
	Kind, Name string
	// Owner describes who holds the object ("not created by dynamo-operator", "DynamoGraphDeployment other").
	Owner string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s %s already exists and belongs to %s: it is left alone; rename the graph or the service, or delete that object",
		e.Kind, e.Name, e.Owner)
}

type owner int

const (
	ownedByGraph owner = iota
	sharedClaim
	// sharedModel: a base model's headless Service, owned (not controlled) by every graph of
	// the namespace that serves the model.
	sharedModel
	someoneElse
)

// ownership decides whether a live child is this graph's: our managed-by label and a
// controller reference to this very graph (by UID). Labels alone can be copied by anyone who
// creates objects; the UID cannot. A claim the graph would create but that already exists is
// used as it is.
func ownership(g *graph.Graph, live client.Object) owner {
	if live.GetLabels()[v1alpha1.LabelManagedBy] == render.ManagedBy {
		if ref := metav1.GetControllerOf(live); ref != nil && ref.UID == g.UID {
			return ownedByGraph
		}
	}
	if _, ok := live.(*corev1.PersistentVolumeClaim); ok {
		return sharedClaim
	}
	if _, ok := live.(*corev1.ServiceAccount); ok && (live.GetName() == v1alpha1.PlannerServiceAccount || live.GetName() == v1alpha1.EPPServiceAccount) {
		return sharedClaim // the planner's and the Endpoint Picker's accounts serve every graph of the namespace
	}
	if isModelService(live) {
		return sharedModel
	}
	return someoneElse
}

func ownerOf(live client.Object) string {
	if ref := metav1.GetControllerOf(live); ref != nil {
		return ref.Kind + " " + ref.Name
	}
	return "another owner (not created by dynamo-operator for this graph)"
}

// converged reports whether live is what the operator last applied for desired — the same
// applied hash, so nothing was added to or removed from desired since — and still has every
// label, annotation, owner and spec field desired sets (no one removed one of ours). Fields
// desired leaves empty (server defaults) are not compared.
func converged(desired, live client.Object) bool {
	if live.GetAnnotations()[render.AnnotationAppliedHash] != desired.GetAnnotations()[render.AnnotationAppliedHash] {
		return false
	}
	if !subset(desired.GetLabels(), live.GetLabels()) || !subset(desired.GetAnnotations(), live.GetAnnotations()) ||
		!equality.Semantic.DeepDerivative(desired.GetOwnerReferences(), live.GetOwnerReferences()) {
		return false
	}
	switch d := desired.(type) {
	case *appsv1.Deployment:
		spec := d.Spec.DeepCopy()
		withProbeDefaults(&spec.Template.Spec)
		return equality.Semantic.DeepDerivative(*spec, live.(*appsv1.Deployment).Spec)
	case *lwsv1.LeaderWorkerSet:
		// A custom resource: the API server does not default the pod templates inside it, so
		// they come back as sent.
		return equality.Semantic.DeepDerivative(d.Spec, live.(*lwsv1.LeaderWorkerSet).Spec)
	case *corev1.Service:
		return equality.Semantic.DeepDerivative(d.Spec, live.(*corev1.Service).Spec)
	case *corev1.ConfigMap:
		return equality.Semantic.DeepEqual(d.Data, live.(*corev1.ConfigMap).Data)
	case *corev1.PersistentVolumeClaim:
		return true // claims are created once and never changed by us (no hash either)
	case *corev1.ServiceAccount:
		return true
	case *rbacv1.Role:
		return equality.Semantic.DeepEqual(d.Rules, live.(*rbacv1.Role).Rules)
	case *rbacv1.RoleBinding:
		l := live.(*rbacv1.RoleBinding)
		return equality.Semantic.DeepEqual(d.RoleRef, l.RoleRef) && equality.Semantic.DeepEqual(d.Subjects, l.Subjects)
	case *networkingv1.Ingress:
		return equality.Semantic.DeepDerivative(d.Spec, live.(*networkingv1.Ingress).Spec)
	case *resourcev1.ResourceClaimTemplate:
		return equality.Semantic.DeepDerivative(d.Spec, live.(*resourcev1.ResourceClaimTemplate).Spec)
	case *unstructured.Unstructured:
		return equality.Semantic.DeepDerivative(d.Object["spec"], live.(*unstructured.Unstructured).Object["spec"])
	}
	return false
}

// withProbeDefaults puts the API server's defaults in a pod template's probe numbers, which a
// derivative comparison cannot skip when unset (0 is a value to it): periodSeconds 10,
// timeoutSeconds 1, successThreshold 1, failureThreshold 3.
func withProbeDefaults(pod *corev1.PodSpec) {
	for _, cs := range [][]corev1.Container{pod.InitContainers, pod.Containers} {
		for i := range cs {
			for _, p := range []*corev1.Probe{cs[i].LivenessProbe, cs[i].ReadinessProbe, cs[i].StartupProbe} {
				if p == nil {
					continue
				}
				for _, f := range []struct {
					v   *int32
					def int32
				}{{&p.PeriodSeconds, 10}, {&p.TimeoutSeconds, 1}, {&p.SuccessThreshold, 1}, {&p.FailureThreshold, 3}} {
					if *f.v == 0 {
						*f.v = f.def
					}
				}
			}
		}
	}
}

func subset(want, have map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// observe reads the graph's Deployments and LeaderWorkerSets, their pods and the PVCs it
// references.
func (r *Reconciler) observe(ctx context.Context, g *graph.Graph, scopes []topology.Scope) (Observed, error) {
	obs := Observed{Deployments: map[string]*appsv1.Deployment{}, LeaderWorkerSets: map[string]*lwsv1.LeaderWorkerSet{}, Pods: map[string][]corev1.Pod{}}
	var errs []error
	for _, c := range g.Components {
		name := c.Name
		var err error
		if c.Multinode() {
			if !r.LWS {
				continue
			}
			l := &lwsv1.LeaderWorkerSet{}
			if err = r.Client.Get(ctx, client.ObjectKey{Namespace: g.Namespace, Name: c.WorkloadName}, l); err == nil {
				obs.LeaderWorkerSets[name] = l
			}
		} else {
			d := &appsv1.Deployment{}
			if err = r.Client.Get(ctx, client.ObjectKey{Namespace: g.Namespace, Name: c.WorkloadName}, d); err == nil {
				obs.Deployments[name] = d
			}
		}
		if err != nil {
			if !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
			continue
		}
		pods := &corev1.PodList{}
		if err := r.Client.List(ctx, pods, client.InNamespace(g.Namespace), client.MatchingLabels{v1alpha1.LabelSelector: c.ChildName}); err != nil {
			errs = append(errs, err)
		}
		obs.Pods[name] = pods.Items
	}
	r.observeCapacity(g, &obs)
	if len(scopes) > 0 {
		obs.Topology = true
		var err error
		obs.Placement, err = r.observePlacement(ctx, scopes, obs.Pods)
		switch {
		case errors.Is(err, errNodesForbidden):
			obs.PlacementUnknown = err.Error()
		case err != nil:
			errs = append(errs, err)
		}
	}
	for _, p := range g.PVCs {
		if p.Create != nil && *p.Create {
			continue
		}
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: g.Namespace, Name: p.Name}, &corev1.PersistentVolumeClaim{})
		if apierrors.IsNotFound(err) {
			obs.MissingPVCs = append(obs.MissingPVCs, p.Name)
		} else if err != nil {
			errs = append(errs, err)
		}
	}
	return obs, errors.Join(errs...)
}

// observeCapacity asks the capacity view, for each service whose pods the scheduler finds
// short of an NVIDIA resource, how much is free on the nodes they may use.
func (r *Reconciler) observeCapacity(g *graph.Graph, obs *Observed) {
	if r.Capacity == nil {
		return
	}
	for _, c := range g.Components {
		name := c.Name
		var tmpl *corev1.PodSpec
		if l := obs.LeaderWorkerSets[name]; l != nil {
			tmpl = &l.Spec.LeaderWorkerTemplate.WorkerTemplate.Spec
		} else if d := obs.Deployments[name]; d != nil {
			tmpl = &d.Spec.Template.Spec
		} else {
			continue
		}
		why := diagnose.Service(c, obs.Deployments[name], obs.LeaderWorkerSets[name], obs.Pods[name], obs.MissingPVCs)
		if why.Reason != diagnose.ReasonInsufficientCapacity || !nvidia.IsResource(capacity.ShortResource(tmpl, why.Pod.Scheduler)) {
			continue
		}
		obs.CapacityShort = true
		snap := r.Capacity.Get()
		if snap == nil {
			obs.CapacityWaiting = r.Capacity.Reading()
			continue
		}
		if obs.Capacity == nil {
			obs.Capacity = map[string]capacity.Fit{}
		}
		obs.Capacity[name] = snap.MostFree(admitted(tmpl, obs.Pods[name], why.Pod.Pod), why.Pod.Scheduler)
	}
}

// admitted is the template's spec with where the named pod (the one the scheduler refused)
// may go as it was admitted (admittedSpec; TrimPod keeps it for pods not placed). The template's
// requests stand: the cached pod has no containers.
func admitted(tmpl *corev1.PodSpec, pods []corev1.Pod, name string) *corev1.PodSpec {
	for i := range pods {
		if p := &pods[i]; p.Name == name {
			return admittedSpec(tmpl, p)
		}
	}
	return tmpl
}

// writeStatus computes the status and, when write and it differs, writes it and records an event
// when Ready is lost or a reconcile starts failing (readyEvent).
// The status is written in v1beta1, the stored version; upstream's fields the operator does not
// write (checkpoints, its placement score) are kept as they are.
func (r *Reconciler) writeStatus(ctx context.Context, stored *v1beta1.DynamoGraphDeployment, g *graph.Graph, obs Observed, applyErr error, write bool) (v1alpha1.DynamoGraphDeploymentStatus, error) {
	st := ComputeStatus(g, obs, applyErr)
	hub := v1alpha1.StatusToHub(&st)
	hub.Checkpoints, hub.Placement = stored.Status.Checkpoints, stored.Status.Placement
	if !write || equality.Semantic.DeepEqual(hub, stored.Status) {
		return st, nil
	}
	before := meta.FindStatusCondition(stored.Status.Conditions, ConditionReady)
	updated := stored.DeepCopy()
	updated.Status = hub
	if err := r.Client.Status().Update(ctx, updated); err != nil {
		return st, fmt.Errorf("update status: %w", err)
	}
	after := meta.FindStatusCondition(st.Conditions, ConditionReady)
	if eventType, ok := readyEvent(before, after); ok && r.Recorder != nil {
		r.Recorder.Eventf(updated, nil, eventType, after.Reason, "Reconcile", "%s", after.Message)
	}
	// Every worker scaled to 0 under a running frontend: a warning, once, when it happens.
	served := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionModelsServed)
	if was := meta.FindStatusCondition(stored.Status.Conditions, v1alpha1.ConditionModelsServed); served != nil && served.Status == metav1.ConditionFalse &&
		(was == nil || was.Status != metav1.ConditionFalse) && r.Recorder != nil {
		r.Recorder.Eventf(updated, nil, corev1.EventTypeWarning, served.Reason, "Reconcile", "%s", served.Message)
	}
	log.FromContext(ctx).V(1).Info("status updated", "state", st.State)
	return st, nil
}

// readyEvent decides whether a change of the Ready condition is worth an event: losing Ready
// and a reconcile starting to fail (Warnings). Becoming Ready records none — as for a Deployment
// or a pod, the condition's lastTransitionTime says when — and neither does a new graph that is
// not Ready yet: both are the normal course (500 new graphs would otherwise log 500 events).
func readyEvent(before, after *metav1.Condition) (eventType string, ok bool) {
	switch {
	case after == nil:
		return "", false
	case after.Status == metav1.ConditionTrue:
		return "", false
	case after.Reason == ReasonReconcileFailed || after.Reason == ReasonResourceConflict || after.Reason == ReasonNotImplemented || after.Reason == ReasonMultinodeUnavailable:
		return corev1.EventTypeWarning, before == nil || before.Reason != after.Reason
	default:
		return corev1.EventTypeWarning, before != nil && before.Status == metav1.ConditionTrue
	}
}

// SetupWithManager watches graphs (spec and annotation changes) and every kind of child they
// own. Annotations render too — the discovery backend, the metrics switch, annotations
// propagated to pods — and, unlike the spec, do not move the generation; status writes change
// neither, so they trigger nothing.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	b := ctrl.NewControllerManagedBy(mgr).
		For(&v1beta1.DynamoGraphDeployment{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{})))
	for _, k := range served(r.apis()) {
		if k.Owned {
			b = b.Owns(k.New())
		}
	}
	return b.
		// A pod that starts or stops explaining why its service is not ready (unschedulable, an
		// image that does not pull, a crash loop) changes no Deployment field for minutes: watch
		// the graph's pods for that alone, so the status names the reason when it appears.
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(graphOfPod), builder.WithPredicates(podProblemChanged)).
		Named("dynamographdeployment").
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Complete(r)
}

// graphOfPod maps one of a graph's pods to its graph.
func graphOfPod(_ context.Context, obj client.Object) []reconcile.Request {
	name := obj.GetLabels()[v1alpha1.LabelGraphDeploymentName]
	if name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: name}}}
}

// podProblemChanged passes pod updates that change what the status says about the pod; pod
// creations and deletions already move the Deployment's status.
var podProblemChanged = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool {
		before, ok1 := e.ObjectOld.(*corev1.Pod)
		after, ok2 := e.ObjectNew.(*corev1.Pod)
		if !ok1 || !ok2 {
			return false
		}
		// A multi-node group's readiness is counted from its pods (diagnose.ReadyGroups): a pod
		// of one that becomes ready, or stops being ready, moves it; a LeaderWorkerSet's own
		// count may not move at all.
		_, inGroup := after.Labels[lwsv1.GroupIndexLabelKey]
		return podProblem([]corev1.Pod{*before}) != podProblem([]corev1.Pod{*after}) ||
			inGroup && kubenode.PodReady(before) != kubenode.PodReady(after)
	},
}
