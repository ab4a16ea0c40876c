package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
)

// A base model's headless Service (render.ModelService) is shared by the graphs of a namespace
// whose services serve the model (modelRef), as upstream shares it: each is one of its owners,
// none its controller, so the garbage collector deletes it with the last of them. A graph adds
// itself when it starts serving the model and takes itself off when it stops.

// isModelService: a base model's headless Service the operator made.
func isModelService(obj client.Object) bool {
	_, svc := obj.(*corev1.Service)
	return svc && strings.HasPrefix(obj.GetName(), graph.ModelServicePrefix) && obj.GetLabels()[v1alpha1.LabelBaseModelHash] != "" &&
		obj.GetLabels()[v1alpha1.LabelManagedBy] == render.ManagedBy
}

// shareModelService makes g one of the live model Service's owners.
func (r *Reconciler) shareModelService(ctx context.Context, g *graph.Graph, live client.Object) error {
	if g.UID == "" || slices.ContainsFunc(live.GetOwnerReferences(), func(o metav1.OwnerReference) bool { return o.UID == g.UID }) {
		return nil
	}
	updated := live.DeepCopyObject().(client.Object)
	clean(updated)
	updated.SetOwnerReferences(append(updated.GetOwnerReferences(), metav1.OwnerReference{APIVersion: v1alpha1.GroupVersion.String(),
		Kind: "DynamoGraphDeployment", Name: g.Name, UID: g.UID, BlockOwnerDeletion: ptr.To(true)}))
	childWrites.WithLabelValues("Service").Inc()
	if err := r.Client.Update(ctx, updated, client.FieldOwner(FieldManager)); err != nil {
		return fmt.Errorf("share the model Service %s: %w", live.GetName(), err)
	}
	return nil
}

// releaseModelServices takes g off the model Services it no longer renders (a modelRef
// removed): the last owner deletes it.
func (r *Reconciler) releaseModelServices(ctx context.Context, g *graph.Graph, desired []runtime.Object) error {
	keep := map[string]bool{}
	for _, o := range desired {
		if s, ok := o.(*corev1.Service); ok {
			keep[s.Name] = true
		}
	}
	list := &corev1.ServiceList{}
	if err := r.Client.List(ctx, list, client.InNamespace(g.Namespace), client.MatchingLabels{v1alpha1.LabelUpstreamManagedBy: render.ManagedBy, v1alpha1.LabelManagedBy: render.ManagedBy}); err != nil {
		return fmt.Errorf("list model Services: %w", err)
	}
	for i := range list.Items {
		s := &list.Items[i]
		owners := s.GetOwnerReferences()
		mine := slices.IndexFunc(owners, func(o metav1.OwnerReference) bool { return o.UID == g.UID })
		if !isModelService(s) || keep[s.Name] || mine < 0 || g.UID == "" {
			continue
		}
		childWrites.WithLabelValues("Service").Inc()
		if len(owners) == 1 {
			if err := r.Client.Delete(ctx, s, client.Preconditions{UID: &s.UID}); client.IgnoreNotFound(err) != nil {
				return fmt.Errorf("delete the model Service %s: %w", s.Name, err)
			}
			continue
		}
		updated := s.DeepCopy()
		clean(updated)
		updated.OwnerReferences = slices.Delete(slices.Clone(owners), mine, mine+1)
		if err := r.Client.Update(ctx, updated, client.FieldOwner(FieldManager)); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("release the model Service %s: %w", s.Name, err)
		}
	}
	return nil
}

// clean drops what the cache added to a copy before it is written back.
func clean(obj client.Object) {
	a := obj.GetAnnotations()
	delete(a, annotationForeignManagers)
	obj.SetAnnotations(a)
}
