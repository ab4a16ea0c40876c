package controller

import (
	"encoding/json"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	lwsv1 "sigs.k8s.io/lws/api/leaderworkerset/v1"
)

// A child's spec belongs to its graph. Like the original operator — which notices a manual edit
// by the object's generation moving past the one it last wrote, and then replaces the whole
// spec — a hand-added env var, sidecar or hostNetwork on a child is reverted, not kept beside
// ours (server-side apply alone keeps fields other managers own). We notice the edit by the
// field managers: any writer but us that owns a field of the spec.

// annotationForeignManagers carries, on cached copies only, the managers other than ours
// that own part of the spec: the cache drops managedFields (a third of a Deployment's size)
// and keeps this note instead. It is removed before any write.
const annotationForeignManagers = "dynamo-infra.dev/cached-foreign-spec-managers"

// contentFields are the top-level fields that make up a kind's desired state.
func contentFields(obj client.Object) []string {
	switch obj.(type) {
	case *appsv1.Deployment, *lwsv1.LeaderWorkerSet, *corev1.Service, *networkingv1.Ingress, *unstructured.Unstructured:
		return []string{"f:spec"}
	case *corev1.ConfigMap:
		return []string{"f:data"}
	case *rbacv1.Role:
		return []string{"f:rules"}
	case *rbacv1.RoleBinding:
		return []string{"f:roleRef", "f:subjects"}
	}
	return nil // claims may be resized by their users; service accounts carry nothing of ours
}

// foreignManagers lists the managers other than ours that own part of obj's content, from its
// managedFields or, on a cached copy, from the note the cache left.
func foreignManagers(obj client.Object) []string {
	if note, ok := obj.GetAnnotations()[annotationForeignManagers]; ok {
		if note == "" {
			return nil
		}
		return strings.Split(note, ",")
	}
	fields := contentFields(obj)
	var out []string
	for _, m := range obj.GetManagedFields() {
		if m.Manager == FieldManager || m.Subresource != "" || m.FieldsV1 == nil || slices.Contains(out, m.Manager) {
			continue
		}
		var top map[string]json.RawMessage
		if json.Unmarshal(m.FieldsV1.GetRawBytes(), &top) != nil {
			continue
		}
		for _, f := range fields {
			if _, ok := top[f]; ok {
				out = append(out, m.Manager)
				break
			}
		}
	}
	return out
}

// noteForeignManagers is the cache's transform for children: it notes foreignManagers and
// drops managedFields.
func noteForeignManagers(in any) (any, error) {
	obj, ok := in.(client.Object)
	if !ok {
		return in, nil
	}
	if contentFields(obj) == nil {
		obj.SetManagedFields(nil)
		return obj, nil
	}
	note := strings.Join(foreignManagers(obj), ",")
	a := obj.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[annotationForeignManagers] = note
	obj.SetAnnotations(a)
	obj.SetManagedFields(nil)
	return obj, nil
}

// withContent returns live with desired's content (spec, rules, binding) and desired's labels,
// annotations and owners merged over its own, ready for an update that replaces what another
// writer added.
func withContent(live, desired client.Object) client.Object {
	out := live.DeepCopyObject().(client.Object)
	switch d := desired.(type) {
	case *appsv1.Deployment:
		out.(*appsv1.Deployment).Spec = d.Spec
	case *lwsv1.LeaderWorkerSet:
		out.(*lwsv1.LeaderWorkerSet).Spec = d.Spec
	case *corev1.ConfigMap:
		out.(*corev1.ConfigMap).Data = d.Data
	case *corev1.Service:
		s := out.(*corev1.Service)
		// The API server allocated these; an update without them keeps them.
		ip, ips, families, policy := s.Spec.ClusterIP, s.Spec.ClusterIPs, s.Spec.IPFamilies, s.Spec.IPFamilyPolicy
		s.Spec = d.Spec
		if s.Spec.ClusterIP == "" {
			s.Spec.ClusterIP, s.Spec.ClusterIPs, s.Spec.IPFamilies, s.Spec.IPFamilyPolicy = ip, ips, families, policy
		}
	case *rbacv1.Role:
		out.(*rbacv1.Role).Rules = d.Rules
	case *rbacv1.RoleBinding:
		rb := out.(*rbacv1.RoleBinding)
		rb.RoleRef, rb.Subjects = d.RoleRef, d.Subjects
	case *networkingv1.Ingress:
		out.(*networkingv1.Ingress).Spec = d.Spec
	case *unstructured.Unstructured:
		out.(*unstructured.Unstructured).Object["spec"] = d.Object["spec"]
	}
	a := out.GetAnnotations()
	delete(a, annotationForeignManagers)
	for k, v := range desired.GetAnnotations() {
		a[k] = v
	}
	out.SetAnnotations(a)
	l := out.GetLabels()
	if l == nil {
		l = map[string]string{}
	}
	for k, v := range desired.GetLabels() {
		l[k] = v
	}
	out.SetLabels(l)
	out.SetOwnerReferences(desired.GetOwnerReferences())
	out.SetManagedFields(nil)
	return out
}
