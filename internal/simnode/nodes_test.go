package simnode

import (
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
			if len(n.Spec.Taints) != 1 || n.Spec.Taints[0].Key != TaintKwokNode || !kwokTolerates(n.Spec.Taints[0]) {
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

func kwokTolerates(taint corev1.Taint) bool {
	tol := KwokToleration()
	return tol.ToleratesTaint(klog.Background(), &taint, false)
}
