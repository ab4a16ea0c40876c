package graph

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
)

// The goldens are upstream's own (deploy/operator/api/v1alpha1/legacy_worker_hash_test.go in
// ai-dynamo/dynamo: TestComputeDGDWorkersSpecHashGolden), for the same graphs: a graph gets the
// hash, and so the child names, upstream's operator gives it.
func TestWorkerHashMatchesUpstreamGoldens(t *testing.T) {
	base := func() *v1alpha1.DynamoGraphDeployment {
		return &v1alpha1.DynamoGraphDeployment{
			ObjectMeta: metav1.ObjectMeta{Name: "legacy-worker-hash", Namespace: "ns"},
			Spec: v1alpha1.DynamoGraphDeploymentSpec{Services: map[string]*v1alpha1.ServiceSpec{
				"frontend": {ComponentType: "frontend", Envs: []corev1.EnvVar{{Name: "FRONTEND_ONLY", Value: "ignored"}}},
				"worker": {
					ComponentType: "worker",
					Annotations:   map[string]string{"resource": "base"},
					Labels:        map[string]string{"resource": "base"},
					Replicas:      ptr.To(int32(2)),
					Envs:          []corev1.EnvVar{{Name: "MODEL", Value: "llama"}},
					ExtraPodMetadata: &v1alpha1.ExtraPodMetadata{
						Labels:      map[string]string{"rollout": "base"},
						Annotations: map[string]string{"checksum/config": "base"},
					},
				},
			}},
		}
	}
	podMetadata := base()
	podMetadata.Spec.Services["worker"].ExtraPodMetadata = &v1alpha1.ExtraPodMetadata{
		Labels: map[string]string{"rollout": "changed"}, Annotations: map[string]string{"checksum/config": "changed"}}
	notPod := base()
	w := notPod.Spec.Services["worker"]
	w.Annotations, w.Labels = map[string]string{"resource": "changed"}, map[string]string{"resource": "changed"}
	w.Replicas = ptr.To(int32(99))
	w.Ingress = &v1alpha1.IngressSpec{Enabled: true, Host: "changed.example.com"}
	notPod.Spec.Services["frontend"].Envs = []corev1.EnvVar{{Name: "FRONTEND_ONLY", Value: "changed"}}
	allTypes := &v1alpha1.DynamoGraphDeployment{Spec: v1alpha1.DynamoGraphDeploymentSpec{Services: map[string]*v1alpha1.ServiceSpec{
		"decode":  {ComponentType: "decode", Envs: []corev1.EnvVar{{Name: "ROLE", Value: "decode"}}},
		"prefill": {ComponentType: "prefill", Envs: []corev1.EnvVar{{Name: "ROLE", Value: "prefill"}}},
		"worker":  {ComponentType: "worker", Envs: []corev1.EnvVar{{Name: "ROLE", Value: "worker"}}},
	}}}
	for _, tc := range []struct {
		name string
		dgd  *v1alpha1.DynamoGraphDeployment
		want string
	}{
		{"worker", base(), "9b66accc"},
		{"resource metadata, replicas, ingress and non-workers ignored", notPod, "9b66accc"},
		{"pod metadata included", podMetadata, "af8a6c60"},
		{"all worker component types", allTypes, "b175ee30"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := WorkerHash(tc.dgd); got != tc.want {
				t.Errorf("WorkerHash = %s, want upstream's %s", got, tc.want)
			}
		})
	}
}

// Worker children are <graph>-<service>-<hash>: a name that the suffix takes past what
// Kubernetes allows is refused by name, before anything is applied.
func TestWorkerChildNameTooLong(t *testing.T) {
	svc := func(multinode bool) *v1alpha1.ServiceSpec {
		s := &v1alpha1.ServiceSpec{ComponentType: "worker", ExtraPodSpec: &v1alpha1.ExtraPodSpec{MainContainer: &corev1.Container{Image: "w:1"}}}
		if multinode {
			s.Multinode = &v1alpha1.MultinodeSpec{NodeCount: 2}
		}
		return s
	}
	for _, tc := range []struct {
		graph     string
		multinode bool
		ok        bool
	}{
		{strings.Repeat("g", 46), false, true},  // 46 + 1 + 6 ("worker") + 9 = 62
		{strings.Repeat("g", 48), false, false}, // 64
		{strings.Repeat("g", 29), true, true},   // 45
		{strings.Repeat("g", 30), true, false},  // 46
	} {
		dgd := &v1alpha1.DynamoGraphDeployment{ObjectMeta: metav1.ObjectMeta{Name: tc.graph, Namespace: "ns"},
			Spec: v1alpha1.DynamoGraphDeploymentSpec{Services: map[string]*v1alpha1.ServiceSpec{"worker": svc(tc.multinode)}}}
		_, err := Resolve(dgd, Options{})
		if (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), "shorten the graph's or the service's name")) {
			t.Errorf("graph name of %d, multinode %v: %v", len(tc.graph), tc.multinode, err)
		}
	}
}
