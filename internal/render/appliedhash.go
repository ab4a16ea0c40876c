package render

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	resourcev1 "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	lwsv1 "sigs.k8s.io/lws/api/leaderworkerset/v1"
)

// AnnotationAppliedHash holds, on each child, a hash of its rendered content. The operator
// treats a child as converged only when the live one carries the hash of what the graph renders
// now: without it, "live has every field desired sets" cannot see a field removed from the graph
// (an arg, an env var, a GPU limit), and the removal would never be applied. The original operator does the
// same with its last-applied-hash annotation.
const AnnotationAppliedHash = "dynamo-infra.dev/applied-hash"

// stampAppliedHash sets AnnotationAppliedHash on desired from its content: labels, annotations,
// owners and the spec (rules, binding).
func stampAppliedHash(desired metav1.Object) error {
	if _, ok := desired.(*corev1.PersistentVolumeClaim); ok {
		return nil // created once, never changed by us
	}
	a := desired.GetAnnotations()
	delete(a, AnnotationAppliedHash)
	content := map[string]any{"labels": desired.GetLabels(), "annotations": a, "owners": desired.GetOwnerReferences()}
	switch d := desired.(type) {
	case *appsv1.Deployment:
		content["spec"] = d.Spec
	case *corev1.Service:
		content["spec"] = d.Spec
	case *lwsv1.LeaderWorkerSet:
		content["spec"] = d.Spec
	case *corev1.ConfigMap:
		content["data"] = d.Data
	case *rbacv1.Role:
		content["rules"] = d.Rules
	case *rbacv1.RoleBinding:
		content["roleRef"], content["subjects"] = d.RoleRef, d.Subjects
	case *networkingv1.Ingress:
		content["spec"] = d.Spec
	case *resourcev1.ResourceClaimTemplate:
		content["spec"] = d.Spec
	case *unstructured.Unstructured: // another project's kind (Istio's VirtualService, an InferencePool)
		content["spec"] = d.Object["spec"]
	}
	raw, err := json.Marshal(content)
	if err != nil {
		return fmt.Errorf("hash: %w", err)
	}
	sum := sha256.Sum256(raw)
	if a == nil {
		a = map[string]string{}
	}
	a[AnnotationAppliedHash] = hex.EncodeToString(sum[:12])
	desired.SetAnnotations(a)
	return nil
}
