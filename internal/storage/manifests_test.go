package storage_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/internal/storage"
)

// The manifests for kubectl users are the objects the CLI creates.
func TestManifestsMatchTheCLI(t *testing.T) {
	read := func(name string, into any) {
		t.Helper()
		raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "manifests", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.UnmarshalStrict(raw, into); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	var claim corev1.PersistentVolumeClaim
	read("pvc.yaml", &claim)
	want, err := storage.NewClaim(storage.ClaimSpec{Name: "model-cache", Size: storage.DefaultSize, AccessMode: storage.DefaultAccessMode})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, &claim); d != "" {
		t.Errorf("pvc.yaml differs from dynamoctl pvc create (-cli +manifest):\n%s", d)
	}
	var pod corev1.Pod
	read("pvc-access-pod.yaml", &pod)
	wantPod := storage.AccessPod(storage.AccessSpec{Claim: "model-cache", Image: storage.DefaultImage, Mount: storage.DefaultMount, TTL: storage.DefaultTTL})
	// The CLI adds who started the pod, to reuse it for that user.
	delete(wantPod.Labels, storage.LabelUser)
	wantPod.Annotations = nil
	if d := cmp.Diff(wantPod, &pod); d != "" {
		t.Errorf("pvc-access-pod.yaml differs from dynamoctl pvc access (-cli +manifest):\n%s", d)
	}
}
