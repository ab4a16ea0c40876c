package devcluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dynamo-infra/dynamo-infra/internal/simnode"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

// TestNewNodeGolden pins every label, taint and resource of each built-in kind.
func TestDecodeNodes(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr string
	}{
		{
			name: "two documents",
			in: `# my nodes
apiVersion: v1
kind: Node
metadata:
  name: b200-0
  labels: {nvidia.com/gpu.product: NVIDIA-B200}
status:
  allocatable: {nvidia.com/gpu: "8"}
---
apiVersion: v1
kind: Node
metadata: {name: b200-1}
`,
			want: []string{"b200-0", "b200-1"},
		},
		{name: "empty", in: "# nothing\n---\n", wantErr: "no Node manifests"},
		{name: "wrong kind", in: "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n", wantErr: `document 1: kind "Pod" apiVersion "v1": want kind Node`},
		{name: "unknown field", in: "apiVersion: v1\nkind: Node\nmetadata: {name: node-a}\nspec: {taintz: []}\n", wantErr: `unknown field "spec.taintz"`},
		{name: "no name", in: "apiVersion: v1\nkind: Node\nmetadata: {}\n", wantErr: "no metadata.name"},
		{name: "duplicate", in: "apiVersion: v1\nkind: Node\nmetadata: {name: node-a}\n---\napiVersion: v1\nkind: Node\nmetadata: {name: node-a}\n", wantErr: `node "node-a" defined twice`},
		{name: "bad yaml", in: "apiVersion: v1\nkind: Node\nmetadata: [\n", wantErr: "document 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nodes, err := DecodeNodes(strings.NewReader(tt.in), "nodes.yaml")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, n := range nodes {
				names = append(names, n.Name)
				if n.Annotations[simnode.AnnotationKwokNode] != simnode.KwokNodeValue {
					t.Errorf("%s lacks the kwok annotation", n.Name)
				}
			}
			if diff := cmp.Diff(tt.want, names); diff != "" {
				t.Errorf("names (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzDecodeNodes(f *testing.F) {
	f.Add("apiVersion: v1\nkind: Node\nmetadata: {name: node-a}\n")
	f.Add("---\n---\napiVersion: v1\nkind: Node\nmetadata:\n  name: x\n  labels: {a: b}\n")
	f.Add("{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"j\"}}")
	f.Fuzz(func(t *testing.T, s string) {
		nodes, err := DecodeNodes(strings.NewReader(s), "fuzz")
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, n := range nodes {
			if n.Name == "" || seen[n.Name] || n.Annotations[simnode.AnnotationKwokNode] == "" {
				t.Fatalf("accepted bad node %+v", n.ObjectMeta)
			}
			seen[n.Name] = true
		}
	})
}

func TestNodeSchedulable(t *testing.T) {
	ready := []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	notReady := []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse}}
	tests := []struct {
		name       string
		conditions []corev1.NodeCondition
		taints     []corev1.Taint
		want       bool
	}{
		{"ready, kwok taint only", ready, []corev1.Taint{{Key: simnode.TaintKwokNode, Effect: corev1.TaintEffectNoSchedule}}, true},
		{"ready but not-ready taint not yet lifted", ready, []corev1.Taint{{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule}}, false},
		{"ready but unreachable taint", ready, []corev1.Taint{{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}}, false},
		{"not ready", notReady, nil, false},
		{"no conditions yet", nil, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &corev1.Node{Spec: corev1.NodeSpec{Taints: tt.taints}, Status: corev1.NodeStatus{Conditions: tt.conditions}}
			if got := NodeSchedulable(n); got != tt.want {
				t.Errorf("NodeSchedulable = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLoadKwokConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ok := write("ok.yaml", "apiVersion: kwok.x-k8s.io/v1alpha1\nkind: ClusterExec\nmetadata: {name: a}\n---\n---\napiVersion: config.kwok.x-k8s.io/v1alpha1\nkind: KwokConfiguration\n")
	docs, err := LoadKwokConfig(ok)
	if err != nil || len(docs) != 2 {
		t.Fatalf("%d docs, %v", len(docs), err)
	}
	for name, body := range map[string]string{
		"node.yaml":   "apiVersion: v1\nkind: Node\nmetadata: {name: a}\n",
		"nokind.yaml": "apiVersion: kwok.x-k8s.io/v1alpha1\nmetadata: {name: a}\n",
		"broken.yaml": "apiVersion: [\n",
		"second.yaml": "apiVersion: kwok.x-k8s.io/v1alpha1\nkind: Stage\n---\napiVersion: apps/v1\nkind: Deployment\n",
	} {
		if _, err := LoadKwokConfig(write(name, body)); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if _, err := LoadKwokConfig(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("missing file accepted")
	}
}
