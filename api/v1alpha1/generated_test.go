package v1alpha1_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestGeneratedFilesUpToDate fails when the deepcopy functions or the CRD no longer match the
// types' markers (run make generate).
func TestGeneratedFilesUpToDate(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	tool := filepath.Join(root, "hack", "tool.sh")
	for _, pkg := range []string{"v1alpha1", "v1beta1"} {
		out, err := exec.Command(tool, "controller-gen", "object:headerFile=hack/boilerplate.go.txt", "paths=./api/"+pkg, "output:object:stdout").Output()
		if err != nil {
			t.Fatalf("controller-gen object: %v", err)
		}
		committed, err := os.ReadFile(filepath.Join(root, "api", pkg, "zz_generated.deepcopy.go"))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(committed), string(out)); diff != "" {
			t.Errorf("api/%s/zz_generated.deepcopy.go is stale; run make generate (-committed +generated):\n%s", pkg, diff)
		}
	}
	dir := t.TempDir()
	if out, err := exec.Command(tool, "controller-gen", "crd:allowDangerousTypes=true,generateEmbeddedObjectMeta=true", "paths=./api/...", "output:crd:artifacts:config="+dir).CombinedOutput(); err != nil {
		t.Fatalf("controller-gen crd: %v\n%s", err, out)
	}
	name := "nvidia.com_dynamographdeployments.yaml"
	patch := exec.Command("go", "run", "./hack/crdpatch", filepath.Join(dir, name))
	patch.Dir = root
	if out, err := patch.CombinedOutput(); err != nil {
		t.Fatalf("crdpatch: %v\n%s", err, out)
	}
	want, _ := os.ReadFile(filepath.Join(dir, name))
	got, err := os.ReadFile(filepath.Join(root, "config", "crd", "bases", name))
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != string(got) {
		t.Errorf("config/crd/bases/%s is stale; run make generate", name)
	}
}
