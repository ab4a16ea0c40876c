package controller

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/api/v1beta1"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
)

// ReasonScaled is the event a scaling adapter records when it changed its graph's replicas.
const ReasonScaled = "Scaled"

// AdapterReconciler carries a scaling adapter's replicas into its graph, as the original's
// DynamoGraphDeploymentScalingAdapter controller does: the adapter is the source of truth of the
// component's replicas (kubectl scale, an HPA, KEDA or the planner write it through the scale
// subresource); the graph's spec follows it, and the graph's reconcile the workloads. Its status
// says what it applied and the selector of the component's pods (the scale subresource's).
type AdapterReconciler struct {
	Client   client.Client
	Recorder events.EventRecorder
}

// Reconcile takes one adapter's replicas into its graph and writes its status.
func (r *AdapterReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	adapter := &v1beta1.DynamoGraphDeploymentScalingAdapter{}
	if err := r.Client.Get(ctx, req.NamespacedName, adapter); err != nil || !adapter.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	g := &v1beta1.DynamoGraphDeployment{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: adapter.Namespace, Name: adapter.Spec.DGDRef.Name}, g); err != nil {
		// A graph deleted takes its adapters with it (owner reference).
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	var component *v1beta1.ComponentSpec
	for i := range g.Spec.Components {
		if g.Spec.Components[i].Name == adapter.Spec.DGDRef.ServiceName {
			component = &g.Spec.Components[i]
		}
	}
	if component == nil || component.ScalingAdapter == nil {
		// The service left the graph or gave up its adapter: the graph's reconcile deletes it.
		return ctrl.Result{}, nil
	}
	status := adapter.Status.DeepCopy()
	if current := ptr.Deref(component.Replicas, 1); current != adapter.Spec.Replicas {
		component.Replicas = ptr.To(adapter.Spec.Replicas)
		if err := r.Client.Update(ctx, g, client.FieldOwner(FieldManager)); err != nil {
			if apierrors.IsConflict(err) {
				return ctrl.Result{RequeueAfter: 200 * time.Millisecond}, nil // the graph changed under us: read it again
			}
			r.Recorder.Eventf(adapter, g, corev1.EventTypeWarning, "UpdateFailed", "Scale", "Failed to update DynamoGraphDeployment %s: %v", g.Name, err)
			return ctrl.Result{}, fmt.Errorf("scale %s/%s to %d: %w", g.Name, component.Name, adapter.Spec.Replicas, err)
		}
		r.Recorder.Eventf(adapter, g, corev1.EventTypeNormal, ReasonScaled, "Scale", "Scaled %s of %s from %d to %d replicas", component.Name, g.Name, current, adapter.Spec.Replicas)
		log.FromContext(ctx).Info("scaled", "graph", g.Name, "service", component.Name, "from", current, "to", adapter.Spec.Replicas)
		status.LastScaleTime = ptr.To(metav1.Now())
	}
	status.Replicas = adapter.Spec.Replicas
	status.Selector = render.ScalingAdapterSelector(g.Name, component.Name)
	if equality.Semantic.DeepEqual(*status, adapter.Status) {
		return ctrl.Result{}, nil
	}
	adapter.Status = *status
	if err := r.Client.Status().Update(ctx, adapter); err != nil {
		return ctrl.Result{}, fmt.Errorf("update the status of scaling adapter %s: %w", adapter.Name, err)
	}
	return ctrl.Result{}, nil
}

// SetupWithManager runs the controller on adapter spec changes and on spec changes of their
// graphs (a direct edit of an adapted service's replicas is put back).
func (r *AdapterReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("dynamographdeploymentscalingadapter").
		For(&v1beta1.DynamoGraphDeploymentScalingAdapter{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&v1beta1.DynamoGraphDeployment{}, handler.EnqueueRequestsFromMapFunc(r.adaptersOf),
			builder.WithPredicates(predicate.Funcs{
				CreateFunc:  func(event.CreateEvent) bool { return false },
				DeleteFunc:  func(event.DeleteEvent) bool { return false },
				GenericFunc: func(event.GenericEvent) bool { return false },
				UpdateFunc: func(e event.UpdateEvent) bool {
					return e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration()
				},
			})).
		Complete(r)
}

// adaptersOf are the adapters of a graph (ours, by label, from the cache).
func (r *AdapterReconciler) adaptersOf(ctx context.Context, obj client.Object) []reconcile.Request {
	list := &v1beta1.DynamoGraphDeploymentScalingAdapterList{}
	if err := r.Client.List(ctx, list, client.InNamespace(obj.GetNamespace()),
		client.MatchingLabels{v1alpha1.LabelGraphDeploymentName: obj.GetName(), v1alpha1.LabelManagedBy: render.ManagedBy}); err != nil {
		log.FromContext(ctx).Error(err, "list the scaling adapters of a graph", "graph", obj.GetName())
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return out
}
