package testkit

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
)

// The builder writes what a manifest would; Obj is a copy the wrapper does not change later.
func TestGraphBuilder(t *testing.T) {
	w := Graph("ns", "g").Annotation("a", "b").Service("Decode",
		Service(v1alpha1.ComponentWorker).Image("").Replicas(2).Multinode(2).Limits("8", 0).Mount("cache", "/c"))
	got := w.Obj()
	two := int32(2)
	want := &v1alpha1.DynamoGraphDeployment{ObjectMeta: metav1.ObjectMeta{Name: "g", Namespace: "ns", Annotations: map[string]string{"a": "b"}},
		Spec: v1alpha1.DynamoGraphDeploymentSpec{Services: map[string]*v1alpha1.ServiceSpec{"Decode": {
			ComponentType: v1alpha1.ComponentWorker, Replicas: &two, Multinode: &v1alpha1.MultinodeSpec{NodeCount: 2},
			Resources:    &v1alpha1.Resources{Limits: &v1alpha1.ResourceItem{GPU: "8"}},
			VolumeMounts: []v1alpha1.VolumeMount{{Name: "cache", MountPoint: "/c"}},
			ExtraPodSpec: &v1alpha1.ExtraPodSpec{MainContainer: &corev1.Container{Image: Image}}}}}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	w.Service("Frontend", Service(v1alpha1.ComponentFrontend))
	if len(got.Spec.Services) != 1 {
		t.Error("Obj shares the wrapper's graph")
	}
}
