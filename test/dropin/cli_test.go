package dropin

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dynamo-infra/dynamo-infra/test/clitest"
)

// `dynamoctl render` on upstream-shaped files: a file's other documents are printed unchanged
// in their place; a graph with a field not implemented yet exits 1 naming it; a multi-node
// graph prints its LeaderWorkerSet; a file with only other kinds is an error.
func TestRenderCLI(t *testing.T) {
	dir := t.TempDir()
	bin, err := clitest.Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	r := clitest.Run(t, bin, time.Minute, nil, "render", "-f", filepath.Join("testdata", "trtllm-disagg-configmap.yaml"))
	if r.Code != 0 {
		t.Fatalf("render: exit %d: %s", r.Code, r.Stderr)
	}
	docs := strings.Split(r.Stdout, "\n---\n")
	if !strings.Contains(docs[0], "kind: ConfigMap") || !strings.Contains(docs[0], "tensor_parallel_size: 1") || len(docs) < 8 {
		t.Errorf("render output: the ConfigMap first, then the graph's children; got %d documents, first:\n%s", len(docs), docs[0])
	}
	if !strings.Contains(r.Stdout, "- dynamo.frontend") {
		t.Errorf("render output: no frontend command")
	}

	r = clitest.Run(t, bin, time.Minute, nil, "render", "-f", filepath.Join("testdata", "interpod-failover.yaml"))
	if r.Code != 1 || !strings.Contains(r.Stderr, "spec.services.agg.failover.mode (interPod failover") || r.Stdout != "" {
		t.Errorf("render of a graph with inter-pod failover: exit %d, stdout %q, stderr %q; want exit 1 naming the field", r.Code, r.Stdout, r.Stderr)
	}
	r = clitest.Run(t, bin, time.Minute, nil, "render", "-f", filepath.Join("testdata", "failover.yaml"))
	if r.Code != 0 || !strings.Contains(r.Stdout, "name: engine-0") || !strings.Contains(r.Stdout, "name: engine-1") {
		t.Errorf("render of a graph with failover: exit %d, stderr %q, stdout:\n%s", r.Code, r.Stderr, r.Stdout)
	}
	// An Endpoint Picker renders its pool.
	r = clitest.Run(t, bin, time.Minute, nil, "render", "-f", filepath.Join("testdata", "gaie-sidecar.yaml"))
	if r.Code != 0 || !strings.Contains(r.Stdout, "kind: InferencePool") || !strings.Contains(r.Stdout, "name: gaie-pool") {
		t.Errorf("render of a graph with an Endpoint Picker: exit %d, stderr %q, stdout:\n%s", r.Code, r.Stderr, r.Stdout)
	}

	// A multi-node service prints as its LeaderWorkerSet, with the wait script before it.
	r = clitest.Run(t, bin, time.Minute, nil, "render", "-f", filepath.Join("testdata", "vllm-multinode.yaml"))
	// Named by its generation: <graph>-<service>-<worker hash>-0.
	if r.Code != 0 || !strings.Contains(r.Stdout, "kind: LeaderWorkerSet") || !regexp.MustCompile(`name: vllm-multinode-vllmdecodeworker-[0-9a-f]{8}-0\n`).MatchString(r.Stdout) ||
		strings.Index(r.Stdout, "kind: ConfigMap") > strings.Index(r.Stdout, "kind: LeaderWorkerSet") {
		t.Errorf("render of a multinode graph: exit %d, stderr %q, stdout:\n%s", r.Code, r.Stderr, r.Stdout)
	}

	only := filepath.Join(dir, "only.yaml")
	if err := os.WriteFile(only, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = clitest.Run(t, bin, time.Minute, nil, "render", "-f", only)
	if r.Code != 2 || !strings.Contains(r.Stderr, "no DynamoGraphDeployment found") {
		t.Errorf("render of a file without a graph: exit %d, stderr %q", r.Code, r.Stderr)
	}
}

// `dynamoctl convert` moves a manifest to v1beta1 and back: each form renders the same
// objects, converting back gives the v1alpha1 file's graph again, and a v1beta1 file is
// validated with v1beta1's rules (the CRD's CEL and upstream's webhook rules).
func TestConvertCLI(t *testing.T) {
	dir := t.TempDir()
	bin, err := clitest.Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join("testdata", "vllm-disagg.yaml")
	beta := clitest.Run(t, bin, time.Minute, nil, "convert", "-f", src, "--to", "v1beta1")
	if beta.Code != 0 || !strings.Contains(beta.Stdout, "apiVersion: nvidia.com/v1beta1") || !strings.Contains(beta.Stdout, "components:") {
		t.Fatalf("convert --to v1beta1: exit %d, stderr %q, stdout:\n%s", beta.Code, beta.Stderr, beta.Stdout)
	}
	betaFile := filepath.Join(dir, "beta.yaml")
	if err := os.WriteFile(betaFile, []byte(beta.Stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	alpha := clitest.Run(t, bin, time.Minute, nil, "convert", "-f", betaFile, "--to", "nvidia.com/v1alpha1")
	if alpha.Code != 0 || !strings.Contains(alpha.Stdout, "apiVersion: nvidia.com/v1alpha1") {
		t.Fatalf("convert --to v1alpha1: exit %d, stderr %q", alpha.Code, alpha.Stderr)
	}
	direct := clitest.Run(t, bin, time.Minute, nil, "convert", "-f", src, "--to", "v1alpha1")
	if direct.Stdout != alpha.Stdout {
		t.Errorf("v1alpha1 → v1beta1 → v1alpha1 is not the file's graph:\n%s\nwant\n%s", alpha.Stdout, direct.Stdout)
	}
	alphaFile := filepath.Join(dir, "alpha.yaml")
	if err := os.WriteFile(alphaFile, []byte(alpha.Stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	want := clitest.Run(t, bin, time.Minute, nil, "render", "-f", src)
	for _, f := range []string{betaFile, alphaFile} {
		if got := clitest.Run(t, bin, time.Minute, nil, "render", "-f", f); got.Code != 0 || got.Stdout != want.Stdout {
			t.Errorf("render of %s: exit %d, stderr %q; differs from the original's: %v", filepath.Base(f), got.Code, got.Stderr, got.Stdout != want.Stdout)
		}
	}

	// Without the annotation: a clean manifest, the fields it cannot hold named as dropped.
	clean := clitest.Run(t, bin, time.Minute, nil, "convert", "-f", src, "--to", "v1beta1", "--keep-unconvertible=false", "-o", "json")
	if clean.Code != 0 || strings.Contains(clean.Stdout, "nvidia.com/dgd-spec") || !strings.Contains(clean.Stderr, "left out") || !strings.Contains(clean.Stdout, `"kind": "List"`) {
		t.Errorf("convert --keep-unconvertible=false -o json: exit %d, stderr %q, stdout:\n%s", clean.Code, clean.Stderr, clean.Stdout)
	}

	if r := clitest.Run(t, bin, time.Minute, nil, "convert", "-f", src, "--to", "v2"); r.Code != 2 || !strings.Contains(r.Stderr, `--to "v2"`) {
		t.Errorf("convert --to v2: exit %d, stderr %q", r.Code, r.Stderr)
	}

	// A v1beta1 file is held to v1beta1's rules (the whole table, against the API server too, is
	// api/v1alpha1's TestBothVersionsServed): refused with exit 2.
	bad := filepath.Join(dir, "bad.yaml")
	doc := "apiVersion: nvidia.com/v1beta1\nkind: DynamoGraphDeployment\nmetadata: {name: bad}\nspec:\n  components: [{name: a, podTemplate: {spec: {containers: [{name: sidecar, image: x}]}}}]\n"
	if err := os.WriteFile(bad, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := clitest.Run(t, bin, time.Minute, nil, "render", "-f", bad); r.Code != 2 || !strings.Contains(r.Stderr, "a container named main with an image is required") {
		t.Errorf("render of a v1beta1 graph without a main image: exit %d, stderr %q", r.Code, r.Stderr)
	}
}
