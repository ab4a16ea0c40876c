package devcluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
	"github.com/dynamo-infra/dynamo-infra/internal/topology"
)

// TestNewNodeGolden pins every label, taint and resource of each built-in kind.
func TestNewNodeGolden(t *testing.T) {
	for _, kind := range NodeKinds() {
		t.Run(kind.Name, func(t *testing.T) {
			got, err := yaml.Marshal(NewNode(kind, kind.Name+"-0", "dev-zone-a"))
			if err != nil {
				t.Fatal(err)
			}
			testkit.Golden(t, filepath.Join("testdata", "node-"+kind.Name+".yaml"), got)
		})
	}
}

func TestNewNodeResources(t *testing.T) {
	tests := []struct {
		kind string
		want map[corev1.ResourceName]int64
		// labels that must be present with these values
		labels map[string]string
		absent []string
	}{
		{
			kind:   "h100",
			want:   map[corev1.ResourceName]int64{nvidia.ResourceGPU: 8, corev1.ResourceCPU: 192, corev1.ResourcePods: 110},
			labels: map[string]string{nvidia.LabelGPUPresent: "true", nvidia.LabelGPUCount: "8", nvidia.LabelGPUProduct: "NVIDIA-H100-80GB-HBM3", nvidia.LabelGPUMemory: "81559", nvidia.LabelGPUFamily: "hopper", nvidia.LabelMIGCapable: "true", nvidia.LabelMIGStrategy: "none"},
		},
		{
			kind:   "a100-mig",
			want:   map[corev1.ResourceName]int64{nvidia.ResourceGPU: 2, "nvidia.com/mig-1g.10gb": 28, "nvidia.com/mig-2g.20gb": 6},
			labels: map[string]string{nvidia.LabelMIGStrategy: "mixed", nvidia.LabelGPUCount: "2", "nvidia.com/mig-1g.10gb.count": "28", "nvidia.com/mig-2g.20gb.memory": "19968"},
		},
		{
			kind:   "l4",
			want:   map[corev1.ResourceName]int64{nvidia.ResourceGPU: 4},
			labels: map[string]string{nvidia.LabelMIGCapable: "false", nvidia.LabelGPUFamily: "ada-lovelace", nvidia.LabelDriverMajor: "570"},
		},
		{
			kind:   "cpu",
			want:   map[corev1.ResourceName]int64{corev1.ResourceCPU: 16},
			absent: []string{nvidia.LabelGPUPresent, nvidia.LabelGPUProduct, nvidia.LabelMIGStrategy},
		},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			kind, ok := LookupNodeKind(tt.kind)
			if !ok {
				t.Fatalf("kind %s missing", tt.kind)
			}
			n := NewNode(kind, "n", "z")
			for name, want := range tt.want {
				q, ok := n.Status.Allocatable[name]
				if !ok || q.Value() != want {
					t.Errorf("allocatable %s = %v, want %d", name, q.String(), want)
				}
				if c := n.Status.Capacity[name]; c.Cmp(q) != 0 {
					t.Errorf("capacity %s = %s, allocatable %s", name, c.String(), q.String())
				}
			}
			if tt.kind == "cpu" {
				if _, ok := n.Status.Allocatable[nvidia.ResourceGPU]; ok {
					t.Error("cpu node has nvidia.com/gpu")
				}
			}
			for k, v := range tt.labels {
				if n.Labels[k] != v {
					t.Errorf("label %s = %q, want %q", k, n.Labels[k], v)
				}
			}
			for _, k := range tt.absent {
				if _, ok := n.Labels[k]; ok {
					t.Errorf("label %s present", k)
				}
			}
			if len(n.Spec.Taints) != 1 || n.Spec.Taints[0].Key != TaintKwokNode || !tolerates(n.Spec.Taints[0]) {
				t.Errorf("taints %v not tolerated by KwokToleration", n.Spec.Taints)
			}
			if n.Annotations[AnnotationKwokNode] != KwokNodeValue {
				t.Errorf("missing kwok annotation")
			}
		})
	}
}

func TestNodesForProfile(t *testing.T) {
	p, err := ParseProfile("h100=2,cpu=2")
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := NodesForProfile(p, map[string]bool{"h100-0": true}, 1)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range nodes {
		got = append(got, n.Name+"@"+n.Labels[LabelZone])
	}
	want := []string{"h100-1@dev-zone-b", "h100-2@dev-zone-c", "cpu-0@dev-zone-a", "cpu-1@dev-zone-b"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("names@zones (-want +got):\n%s", diff)
	}
}

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
				if n.Annotations[AnnotationKwokNode] != KwokNodeValue {
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
			if n.Name == "" || seen[n.Name] || n.Annotations[AnnotationKwokNode] == "" {
				t.Fatalf("accepted bad node %+v", n.ObjectMeta)
			}
			seen[n.Name] = true
		}
	})
}

func tolerates(taint corev1.Taint) bool {
	tol := KwokToleration()
	return tol.ToleratesTaint(klog.Background(), &taint, false)
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
		{"ready, kwok taint only", ready, []corev1.Taint{{Key: TaintKwokNode, Effect: corev1.TaintEffectNoSchedule}}, true},
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

// Nodes of a rack kind come in racks of RackSize by index: one rack label, one NVLink clique
// and one zone per rack, the next rack in the next zone.
func TestRackKindNodes(t *testing.T) {
	p, err := ParseProfile("gb200=20")
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := NodesForProfile(p, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	racks := map[string][]string{}
	for _, n := range nodes {
		rack := n.Labels[topology.LabelRack]
		racks[rack] = append(racks[rack], n.Name)
		want := map[string]string{"gb200-rack-0": "dev-zone-a", "gb200-rack-1": "dev-zone-b"}[rack]
		if n.Labels[LabelZone] != want || !strings.HasSuffix(n.Labels[nvidia.LabelGPUClique], "."+strings.TrimPrefix(rack, "gb200-rack-")) {
			t.Errorf("%s: rack %q zone %q clique %q", n.Name, rack, n.Labels[LabelZone], n.Labels[nvidia.LabelGPUClique])
		}
	}
	if len(racks) != 2 || len(racks["gb200-rack-0"]) != 18 || len(racks["gb200-rack-1"]) != 2 || racks["gb200-rack-1"][0] != "gb200-18" {
		t.Errorf("racks %v", racks)
	}
}
