package webhook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/dynamo-infra/dynamo-infra/api/v1beta1"
)

// The replicas of a component a scaling adapter owns change only by the operator (the writers
// the handler is given) or a planner's account, as upstream's webhook rules; other components'
// replicas, and other changes, by anyone allowed to write the graph.
func TestReplicaOwnership(t *testing.T) {
	graph := func(adapted bool, decode, frontend int32) *v1beta1.DynamoGraphDeployment {
		main := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: v1beta1.MainContainerName, Image: "x"}}}}
		g := &v1beta1.DynamoGraphDeployment{ObjectMeta: metav1.ObjectMeta{Name: "g", Namespace: "ns"},
			Spec: v1beta1.DynamoGraphDeploymentSpec{Components: []v1beta1.ComponentSpec{
				{Name: "Frontend", Replicas: ptr.To(frontend), PodTemplate: main},
				{Name: "Decode", Replicas: ptr.To(decode), PodTemplate: main}}}}
		if adapted {
			g.Spec.Components[1].ScalingAdapter = &v1beta1.ScalingAdapter{}
		}
		return g
	}
	h := Handler("system:serviceaccount:dynamo-system:dynamo-operator")
	review := func(user string, old, g *v1beta1.DynamoGraphDeployment) *admissionv1.AdmissionResponse {
		t.Helper()
		raw := func(o runtime.Object) runtime.RawExtension {
			b, err := json.Marshal(o)
			if err != nil {
				t.Fatal(err)
			}
			return runtime.RawExtension{Raw: b}
		}
		body, _ := json.Marshal(&admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
			Request: &admissionv1.AdmissionRequest{UID: "1", Operation: admissionv1.Update, UserInfo: authenticationv1.UserInfo{Username: user},
				Object: raw(g), OldObject: raw(old)}})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, ValidatePath, bytes.NewReader(body)))
		out := &admissionv1.AdmissionReview{}
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil || out.Response == nil {
			t.Fatalf("answer %q: %v", rec.Body.String(), err)
		}
		return out.Response
	}
	for _, tc := range []struct {
		name    string
		user    string
		old, g  *v1beta1.DynamoGraphDeployment
		allowed bool
	}{
		{"a user scales an adapted component", "alice", graph(true, 1, 1), graph(true, 3, 1), false},
		{"the operator scales it (the adapter's value)", "system:serviceaccount:dynamo-system:dynamo-operator", graph(true, 1, 1), graph(true, 3, 1), true},
		{"a planner scales it", "system:serviceaccount:team-a:planner-serviceaccount", graph(true, 1, 1), graph(true, 3, 1), true},
		{"another account named like a planner elsewhere", "system:serviceaccount:team-a:planner-serviceaccount-2", graph(true, 1, 1), graph(true, 3, 1), false},
		{"a user scales a component without an adapter", "alice", graph(true, 1, 1), graph(true, 1, 2), true},
		{"a user scales it with no adapter anywhere", "alice", graph(false, 1, 1), graph(false, 4, 1), true},
		{"a user enables the adapter and scales at once", "alice", graph(false, 1, 1), graph(true, 4, 1), false},
		{"a user edits something else", "alice", graph(true, 2, 1), graph(true, 2, 1), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := review(tc.user, tc.old, tc.g)
			if resp.Allowed != tc.allowed {
				t.Fatalf("allowed %v, want %v (%+v)", resp.Allowed, tc.allowed, resp.Result)
			}
			if !tc.allowed && (resp.Result == nil || !strings.Contains(resp.Result.Message, "spec.components[Decode].replicas") ||
				!strings.Contains(resp.Result.Message, "kubectl scale dgdsa/g-decode")) {
				t.Errorf("the refusal does not name the field and the adapter: %+v", resp.Result)
			}
		})
	}
}
