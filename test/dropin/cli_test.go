package dropin

import (
	"os"
	"path/filepath"
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

	r = clitest.Run(t, bin, time.Minute, nil, "render", "-f", filepath.Join("testdata", "gaie-sidecar.yaml"))
	if r.Code != 1 || !strings.Contains(r.Stderr, "spec.services.Epp.eppConfig (Endpoint Picker (componentType epp))") || r.Stdout != "" {
		t.Errorf("render of a graph with an EPP: exit %d, stdout %q, stderr %q; want exit 1 naming the field", r.Code, r.Stdout, r.Stderr)
	}

	// A multi-node service prints as its LeaderWorkerSet, with the wait script before it.
	r = clitest.Run(t, bin, time.Minute, nil, "render", "-f", filepath.Join("testdata", "vllm-multinode.yaml"))
	if r.Code != 0 || !strings.Contains(r.Stdout, "kind: LeaderWorkerSet") || !strings.Contains(r.Stdout, "name: vllm-multinode-vllmdecodeworker-0") ||
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
