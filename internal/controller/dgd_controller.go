// Package controller reconciles DynamoGraphDeployments: read the graph, render its children,
// apply those that differ from the live objects with server-side apply, and roll their state
// up into the graph's status. Deciding what the children look like is internal/render's job.
package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
)

// FieldManager is the one field manager of every apply the operator makes.
const FieldManager = "dynamo-operator"

// Reconciler reconciles DynamoGraphDeployments.
type Reconciler struct {
	Client   client.Client
	Config   render.Config
	Recorder events.EventRecorder
}

// +kubebuilder:rbac:groups=nvidia.com,resources=dynamographdeployments,verbs=get;list;watch
// +kubebuilder:rbac:groups=nvidia.com,resources=dynamographdeployments/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=services;serviceaccounts,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=persistentvolumeclaims,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings,verbs=get;list;watch;create;update;patch;delete;bind;escalate
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile is one pass over a graph: read, render, apply what changed, write status if it
// changed.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, err error) {
	start := time.Now()
	defer func() {
		reconcileDuration.Observe(time.Since(start).Seconds())
		result := "success"
		if err != nil {
			result = "error"
		}
		reconcileTotal.WithLabelValues(result).Inc()
	}()
	dgd := &v1alpha1.DynamoGraphDeployment{}
	if err := r.Client.Get(ctx, req.NamespacedName, dgd); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !dgd.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // children go with their owner reference; created PVCs stay
	}
	applyErr := r.applyChildren(ctx, dgd)
	obs, readErr := r.observe(ctx, dgd)
	st, err := r.writeStatus(ctx, dgd, obs, applyErr)
	if err != nil {
		reconcileErrors.WithLabelValues("status").Inc()
		return ctrl.Result{}, errors.Join(applyErr, readErr, err)
	}
	r.countStates(ctx, req.NamespacedName, st.State)
	return ctrl.Result{}, errors.Join(applyErr, readErr)
}

// applyChildren renders the children and applies each one that differs from its live copy.
func (r *Reconciler) applyChildren(ctx context.Context, dgd *v1alpha1.DynamoGraphDeployment) error {
	objs, err := render.Graph(dgd, r.Config)
	if err != nil {
		reconcileErrors.WithLabelValues("render").Inc()
		return fmt.Errorf("render: %w", err)
	}
	var errs []error
	for _, obj := range objs {
		if err := r.applyIfChanged(ctx, obj); err != nil {
			reconcileErrors.WithLabelValues("apply").Inc()
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// applyIfChanged server-side applies obj unless the live object already holds every field obj
// sets (a converged child costs no write; an edited or deleted one is put back).
func (r *Reconciler) applyIfChanged(ctx context.Context, obj runtime.Object) error {
	desired, ok := obj.(client.Object)
	if !ok {
		return fmt.Errorf("rendered %T is not an object", obj)
	}
	kind := obj.GetObjectKind().GroupVersionKind().Kind
	live, ok := newOfKind(kind)
	if ok {
		err := r.Client.Get(ctx, client.ObjectKeyFromObject(desired), live)
		switch {
		case err == nil && converged(desired, live):
			return nil
		case err != nil && !apierrors.IsNotFound(err):
			return fmt.Errorf("get %s %s: %w", kind, desired.GetName(), err)
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
	return nil
}

func newOfKind(kind string) (client.Object, bool) {
	switch kind {
	case "Deployment":
		return &appsv1.Deployment{}, true
	case "Service":
		return &corev1.Service{}, true
	case "PersistentVolumeClaim":
		return &corev1.PersistentVolumeClaim{}, true
	case "ServiceAccount":
		return &corev1.ServiceAccount{}, true
	case "Role":
		return &rbacv1.Role{}, true
	case "RoleBinding":
		return &rbacv1.RoleBinding{}, true
	}
	return nil, false
}

// converged reports whether live already has every label, annotation, owner and spec field that
// desired sets. Fields desired leaves empty (server defaults) are not compared.
func converged(desired, live client.Object) bool {
	if !subset(desired.GetLabels(), live.GetLabels()) || !subset(desired.GetAnnotations(), live.GetAnnotations()) ||
		!equality.Semantic.DeepDerivative(desired.GetOwnerReferences(), live.GetOwnerReferences()) {
		return false
	}
	switch d := desired.(type) {
	case *appsv1.Deployment:
		return equality.Semantic.DeepDerivative(d.Spec, live.(*appsv1.Deployment).Spec)
	case *corev1.Service:
		return equality.Semantic.DeepDerivative(d.Spec, live.(*corev1.Service).Spec)
	case *corev1.PersistentVolumeClaim:
		return true // claims are created once and never changed by us
	case *corev1.ServiceAccount:
		return true
	case *rbacv1.Role:
		return equality.Semantic.DeepEqual(d.Rules, live.(*rbacv1.Role).Rules)
	case *rbacv1.RoleBinding:
		l := live.(*rbacv1.RoleBinding)
		return equality.Semantic.DeepEqual(d.RoleRef, l.RoleRef) && equality.Semantic.DeepEqual(d.Subjects, l.Subjects)
	}
	return false
}

func subset(want, have map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// observe reads the graph's Deployments, their pods and the PVCs it references.
func (r *Reconciler) observe(ctx context.Context, dgd *v1alpha1.DynamoGraphDeployment) (Observed, error) {
	obs := Observed{Deployments: map[string]*appsv1.Deployment{}, Pods: map[string][]corev1.Pod{}}
	var errs []error
	for _, name := range render.ServiceNames(dgd) {
		d := &appsv1.Deployment{}
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: dgd.Namespace, Name: render.ChildName(dgd, name)}, d)
		if err != nil {
			if !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
			continue
		}
		obs.Deployments[name] = d
		pods := &corev1.PodList{}
		if err := r.Client.List(ctx, pods, client.InNamespace(dgd.Namespace), client.MatchingLabels{v1alpha1.LabelSelector: render.ChildName(dgd, name)}); err != nil {
			errs = append(errs, err)
		}
		obs.Pods[name] = pods.Items
	}
	for _, p := range dgd.Spec.PVCs {
		if p.Create != nil && *p.Create {
			continue
		}
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: dgd.Namespace, Name: p.Name}, &corev1.PersistentVolumeClaim{})
		if apierrors.IsNotFound(err) {
			obs.MissingPVCs = append(obs.MissingPVCs, p.Name)
		} else if err != nil {
			errs = append(errs, err)
		}
	}
	return obs, errors.Join(errs...)
}

// writeStatus writes the computed status when it differs, and records an event when Ready flips.
func (r *Reconciler) writeStatus(ctx context.Context, dgd *v1alpha1.DynamoGraphDeployment, obs Observed, applyErr error) (v1alpha1.DynamoGraphDeploymentStatus, error) {
	st := ComputeStatus(dgd, obs, applyErr)
	if equality.Semantic.DeepEqual(st, dgd.Status) {
		return st, nil
	}
	before := meta.FindStatusCondition(dgd.Status.Conditions, ConditionReady)
	updated := dgd.DeepCopy()
	updated.Status = st
	if err := r.Client.Status().Update(ctx, updated); err != nil {
		return st, fmt.Errorf("update status: %w", err)
	}
	after := meta.FindStatusCondition(st.Conditions, ConditionReady)
	if r.Recorder != nil && after != nil && (before == nil || before.Status != after.Status) {
		eventType := corev1.EventTypeNormal
		if after.Status != metav1.ConditionTrue {
			eventType = corev1.EventTypeWarning
		}
		r.Recorder.Eventf(updated, nil, eventType, after.Reason, "Reconcile", "%s", after.Message)
	}
	log.FromContext(ctx).V(1).Info("status updated", "state", st.State)
	return st, nil
}

// countStates refreshes the resources gauge from the cache, taking the state just computed for
// the current graph (the cache may not have seen that status write yet).
func (r *Reconciler) countStates(ctx context.Context, current client.ObjectKey, state string) {
	list := &v1alpha1.DynamoGraphDeploymentList{}
	if err := r.Client.List(ctx, list); err != nil {
		return
	}
	counts := map[string]float64{StateInitializing: 0, StatePending: 0, StateSuccessful: 0, StateFailed: 0}
	for _, d := range list.Items {
		s := d.Status.State
		if client.ObjectKeyFromObject(&d) == current {
			s = state
		}
		if s == "" {
			s = StateInitializing
		}
		counts[s]++
	}
	for s, n := range counts {
		resourcesTotal.WithLabelValues(s).Set(n)
	}
}

// SetupWithManager watches graphs (spec changes) and every kind of child they own.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.DynamoGraphDeployment{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.ServiceAccount{}).
		Owns(&rbacv1.Role{}).
		Owns(&rbacv1.RoleBinding{}).
		Named("dynamographdeployment").
		Complete(r)
}
