package gpus

import (
	"bytes"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/dynamo-infra/dynamo-infra/internal/cli/output"
	"github.com/dynamo-infra/dynamo-infra/internal/inventory"
	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
	"github.com/dynamo-infra/dynamo-infra/internal/simnode"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
)

// fixture is an inventory of the simulated node kinds with some GPUs in use, a probed node and a
// fallback note: every column and section has something to show.
func fixture(t *testing.T) inventory.Inventory {
	t.Helper()
	p, err := simnode.ParseProfile("h100=2,a100-mig=1,a100-mig-single=1,l4-mps=1,aks-a100=1,cpu=1")
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := simnode.NodesForProfile(p, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var list []corev1.Node
	for _, n := range nodes {
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
		list = append(list, inventory.TrimNode(n))
	}
	list[1].Spec.Unschedulable = true
	pods := []inventory.PodUsage{
		{Node: "h100-0", Requests: map[string]int64{nvidia.ResourceGPU: 6}},
		{Node: "a100-mig-0", Requests: map[string]int64{"nvidia.com/mig-1g.10gb": 3}},
		{Node: "l4-mps-0", Requests: map[string]int64{nvidia.ResourceGPUShared: 2}},
		// More than the node has: flagged, free 0.
		{Node: "aks-a100-0", Requests: map[string]int64{nvidia.ResourceGPU: 10}},
	}
	inv := inventory.Build(list, pods, inventory.BuildOptions{})
	inv.Source, inv.SourceNote = inventory.SourceKubectl, "API failed: connection refused"
	inv.Probes = []inventory.ProbeResult{{Node: "aks-a100-0", Pod: "gpu-probe-aks-a100-0-abc123", Status: inventory.ProbeUnschedulable,
		Detail: "cannot be scheduled: 0/7 nodes are available: 1 Insufficient nvidia.com/gpu.", Duration: "2m0s"}}
	return inv
}

func TestGolden(t *testing.T) {
	inv := fixture(t)
	tests := []struct {
		file string
		run  func(*bytes.Buffer) error
	}{
		{"table.txt", func(b *bytes.Buffer) error { return PrintTable(b, inv, PrintOptions{}) }},
		{"wide.txt", func(b *bytes.Buffer) error { return PrintTable(b, inv, PrintOptions{Wide: true}) }},
		{"aggregate-mig.txt", func(b *bytes.Buffer) error { return PrintTable(b, inv, PrintOptions{Aggregate: true, ShowMIG: true}) }},
		{"inventory.json", func(b *bytes.Buffer) error { return output.Encode(b, output.JSON, inv) }},
		{"inventory.yaml", func(b *bytes.Buffer) error { return output.Encode(b, output.YAML, inv) }},
		{"empty.txt", func(b *bytes.Buffer) error {
			return PrintTable(b, inventory.Build(nil, nil, inventory.BuildOptions{}), PrintOptions{})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var b bytes.Buffer
			if err := tt.run(&b); err != nil {
				t.Fatal(err)
			}
			testkit.Golden(t, filepath.Join("testdata", tt.file), b.Bytes())
		})
	}
}
