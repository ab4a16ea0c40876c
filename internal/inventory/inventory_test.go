package inventory

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
)

func gpuContainer(name string, gpus int64, res string) corev1.Container {
	return corev1.Container{Name: name, Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceName(res): *resource.NewQuantity(gpus, resource.DecimalSI), corev1.ResourceCPU: resource.MustParse("1")},
	}}
}

func TestPodUsageOf(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	sidecar := gpuContainer("sidecar", 1, nvidia.ResourceGPU)
	sidecar.RestartPolicy = &always
	tests := []struct {
		name   string
		pod    corev1.Pod
		want   PodUsage
		wantOK bool
	}{
		{
			name: "running, two containers add up",
			pod: corev1.Pod{Spec: corev1.PodSpec{NodeName: "n", Containers: []corev1.Container{gpuContainer("a", 2, nvidia.ResourceGPU), gpuContainer("b", 1, nvidia.ResourceGPU)}},
				Status: corev1.PodStatus{Phase: corev1.PodRunning}},
			want: PodUsage{Node: "n", Requests: map[string]int64{nvidia.ResourceGPU: 3}}, wantOK: true,
		},
		{
			name: "init container larger than the app: max rule",
			pod: corev1.Pod{Spec: corev1.PodSpec{NodeName: "n",
				InitContainers: []corev1.Container{gpuContainer("init", 4, nvidia.ResourceGPU)},
				Containers:     []corev1.Container{gpuContainer("a", 2, nvidia.ResourceGPU)}}, Status: corev1.PodStatus{Phase: corev1.PodPending}},
			want: PodUsage{Node: "n", Requests: map[string]int64{nvidia.ResourceGPU: 4}}, wantOK: true,
		},
		{
			name: "sidecar init container adds to the app",
			pod: corev1.Pod{Spec: corev1.PodSpec{NodeName: "n",
				InitContainers: []corev1.Container{sidecar},
				Containers:     []corev1.Container{gpuContainer("a", 2, nvidia.ResourceGPU)}}, Status: corev1.PodStatus{Phase: corev1.PodRunning}},
			want: PodUsage{Node: "n", Requests: map[string]int64{nvidia.ResourceGPU: 3}}, wantOK: true,
		},
		{
			name: "pod overhead counts",
			pod: corev1.Pod{Spec: corev1.PodSpec{NodeName: "n", Overhead: corev1.ResourceList{nvidia.ResourceGPU: resource.MustParse("1")},
				Containers: []corev1.Container{gpuContainer("a", 1, nvidia.ResourceGPU)}}, Status: corev1.PodStatus{Phase: corev1.PodRunning}},
			want: PodUsage{Node: "n", Requests: map[string]int64{nvidia.ResourceGPU: 2}}, wantOK: true,
		},
		{
			name: "MIG request",
			pod: corev1.Pod{Spec: corev1.PodSpec{NodeName: "n", Containers: []corev1.Container{gpuContainer("a", 1, "nvidia.com/mig-1g.10gb")}},
				Status: corev1.PodStatus{Phase: corev1.PodRunning}},
			want: PodUsage{Node: "n", Requests: map[string]int64{"nvidia.com/mig-1g.10gb": 1}}, wantOK: true,
		},
		{
			name: "succeeded pods hold nothing",
			pod:  corev1.Pod{Spec: corev1.PodSpec{NodeName: "n", Containers: []corev1.Container{gpuContainer("a", 8, nvidia.ResourceGPU)}}, Status: corev1.PodStatus{Phase: corev1.PodSucceeded}},
		},
		{
			name: "failed pods hold nothing",
			pod:  corev1.Pod{Spec: corev1.PodSpec{NodeName: "n", Containers: []corev1.Container{gpuContainer("a", 8, nvidia.ResourceGPU)}}, Status: corev1.PodStatus{Phase: corev1.PodFailed}},
		},
		{
			name: "unscheduled pods hold nothing",
			pod:  corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{gpuContainer("a", 8, nvidia.ResourceGPU)}}, Status: corev1.PodStatus{Phase: corev1.PodPending}},
		},
		{
			name: "CPU-only pods are dropped",
			pod:  corev1.Pod{Spec: corev1.PodSpec{NodeName: "n", Containers: []corev1.Container{{Name: "a", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}}}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := PodUsageOf(&tt.pod)
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuild(t *testing.T) {
	nodes := []corev1.Node{
		*gfdH100("h100-1").obj(),
		*gfdH100("h100-0").obj(),
		*makeNode("mig-0").label(nvidia.LabelGPUProduct, "NVIDIA-A100-SXM4-80GB", nvidia.LabelGPUCount, "2", nvidia.LabelGPUMemory, "81920",
			nvidia.LabelMIGStrategy, "mixed", "nvidia.com/mig-1g.10gb.count", "28").res(nvidia.ResourceGPU, 2).res("nvidia.com/mig-1g.10gb", 28).obj(),
		*makeNode("l4-0").label(nvidia.LabelGPUProduct, "NVIDIA-L4", nvidia.LabelGPUCount, "4", nvidia.LabelGPUMemory, "23034").res(nvidia.ResourceGPU, 4).obj(),
		*makeNode("cpu-0").obj(),
	}
	pods := []PodUsage{
		{Node: "h100-0", Requests: map[string]int64{nvidia.ResourceGPU: 8}},
		{Node: "h100-1", Requests: map[string]int64{nvidia.ResourceGPU: 3}},
		{Node: "mig-0", Requests: map[string]int64{"nvidia.com/mig-1g.10gb": 5}},
		{Node: "l4-0", Requests: map[string]int64{"nvidia.com/gpu.shared": 1}},
	}
	inv := Build(nodes, pods, BuildOptions{})
	var names []string
	for _, n := range inv.Nodes {
		names = append(names, n.Name)
	}
	if diff := cmp.Diff([]string{"h100-0", "h100-1", "l4-0", "mig-0"}, names); diff != "" {
		t.Errorf("GPU nodes, sorted (-want +got):\n%s", diff)
	}
	if got := inv.Nodes[1].Resource(nvidia.ResourceGPU); got != (ResourceUsage{Name: nvidia.ResourceGPU, Capacity: 8, Allocatable: 8, Requested: 3, Free: 5}) {
		t.Errorf("h100-1 gpu usage %+v", got)
	}
	l4 := inv.Nodes[2]
	// More requested than advertised: flagged as overcommitted, free 0, not -1.
	if r := l4.Resource(nvidia.ResourceGPUShared); len(l4.Warnings) != 1 || r.Requested != 1 || r.Free != 0 || !r.Overcommitted || !l4.Overcommitted {
		t.Errorf("a request for an unadvertised resource is shown, flagged and warned about: %+v", l4)
	}
	wantPools := []Pool{
		{Name: "NVIDIA-H100-80GB-HBM3 79.6GiB", Product: "NVIDIA-H100-80GB-HBM3", MemoryMiB: 81559, MIGLayout: "none", Sharing: "none", ReplicasPerGPU: 1, Unit: "GPU",
			Nodes: []string{"h100-0", "h100-1"}, GPUs: 16, Allocatable: 16, Requested: 11, Free: 5},
		{Name: "NVIDIA-L4 22.5GiB", Product: "NVIDIA-L4", MemoryMiB: 23034, MIGLayout: "none", Sharing: "none", ReplicasPerGPU: 1, Unit: "GPU",
			Nodes: []string{"l4-0"}, GPUs: 4, Allocatable: 4, Free: 4, OvercommittedNodes: []string{"l4-0"}},
		{Name: "NVIDIA-A100-SXM4-80GB 80.0GiB MIG mixed 1g.10gb=28", Product: "NVIDIA-A100-SXM4-80GB", MemoryMiB: 81920, MIGLayout: "mixed 1g.10gb=28",
			Sharing: "none", ReplicasPerGPU: 1, Unit: "GPU", Nodes: []string{"mig-0"}, GPUs: 2, Allocatable: 2, Free: 2,
			MIG: []ResourceUsage{{Name: "nvidia.com/mig-1g.10gb", Capacity: 28, Allocatable: 28, Requested: 5, Free: 23}}},
	}
	if diff := cmp.Diff(wantPools, inv.Pools); diff != "" {
		t.Errorf("pools (-want +got):\n%s", diff)
	}
	// Whole GPUs only; the mixed-MIG node's devices are summed apart.
	if diff := cmp.Diff(Totals{Nodes: 5, GPUNodes: 4, GPUs: 22, Allocatable: 22, Requested: 11, Free: 11, OvercommittedNodes: 1,
		Other: []UnitTotal{{Unit: UnitMIGDevice, Allocatable: 28, Requested: 5, Free: 23}}}, inv.Totals); diff != "" {
		t.Errorf("totals (-want +got):\n%s", diff)
	}
	wantSummary := Summary{GPUsPerNode: 8, Model: "NVIDIA-H100-80GB-HBM3", VRAMMiB: 81559, DistinctGroups: 3,
		Warning: "the cluster has 3 distinct GPU model/memory groups; this summary shows only one — see the pools"}
	if diff := cmp.Diff(wantSummary, inv.Summary); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	if all := Build(nodes, nil, BuildOptions{AllNodes: true}); len(all.Nodes) != 5 {
		t.Errorf("AllNodes kept %d nodes, want 5", len(all.Nodes))
	}
}

func TestSummarizeNoFacts(t *testing.T) {
	s := Summarize([]NodeGPU{{Name: "a", GPU: true, Count: 4}})
	if s.GPUsPerNode != 4 || s.Model != "" || s.Warning == "" {
		t.Errorf("%+v", s)
	}
	// Equal counts: more memory wins.
	s = Summarize([]NodeGPU{{Product: "A", MemoryMiB: 10, Count: 8}, {Product: "B", MemoryMiB: 20, Count: 8}, {Product: "C", MemoryMiB: 99, Count: 4}})
	if s.Model != "B" || s.GPUsPerNode != 8 || s.DistinctGroups != 3 {
		t.Errorf("%+v", s)
	}
}

func TestTrimNodeKeepsWhatFactsRead(t *testing.T) {
	nodes := []*corev1.Node{
		gfdH100("h").label("kubernetes.io/hostname", "h", "topology.kubernetes.io/zone", "a").res("cpu", 8).obj(),
		makeNode("g").label(nvidia.LabelGKEAccelerator, "nvidia-l4", nvidia.LabelGKESharing, "mps", "cloud.google.com/machine-family", "g2").res(nvidia.ResourceGPU, 1).obj(),
		makeNode("k").label(nvidia.LabelKarpenterGPUName, "h100", nvidia.LabelKarpenterGPUCount, "8", "karpenter.sh/nodepool", "gpu").obj(),
		makeNode("a").label(nvidia.LabelAKSAccelerator, "nvidia", nvidia.LabelNFDNvidiaPCI, "true").res(nvidia.ResourceGPU, 2).notReady().obj(),
	}
	for _, n := range nodes {
		trimmed := TrimNode(n)
		if diff := cmp.Diff(NodeFacts(n), NodeFacts(&trimmed)); diff != "" {
			t.Errorf("%s: facts differ after TrimNode (-full +trimmed):\n%s", n.Name, diff)
		}
		for k := range trimmed.Labels {
			if !readsLabel(k) {
				t.Errorf("%s: kept label %s", n.Name, k)
			}
		}
	}
}

// Dedicated and time-sliced L4 nodes are two pools (issue 16: "NVIDIA-L4 22.5GiB: 2664 GPUs,
// 3330 free" merged them); each pool's figures name their unit, and the totals count whole GPUs
// only, with replicas and MIG devices summed apart.
func TestPoolsSeparateSharingModes(t *testing.T) {
	nodes := []corev1.Node{
		*makeNode("l4-0").label(nvidia.LabelGPUProduct, "NVIDIA-L4", nvidia.LabelGPUCount, "4", nvidia.LabelGPUMemory, "23034").res(nvidia.ResourceGPU, 4).obj(),
		*makeNode("l4-ts-0").label(nvidia.LabelGPUProduct, "NVIDIA-L4-SHARED", nvidia.LabelGPUCount, "4", nvidia.LabelGPUMemory, "23034",
			nvidia.LabelGPUReplicas, "4", nvidia.LabelGPUSharing, "time-slicing").res(nvidia.ResourceGPU, 16).obj(),
		*makeNode("a100-single-0").label(nvidia.LabelGPUProduct, "NVIDIA-A100-SXM4-40GB-MIG-1g.5gb", nvidia.LabelGPUCount, "8", nvidia.LabelGPUMemory, "40960",
			"nvidia.com/mig.strategy", "single").res(nvidia.ResourceGPU, 56).obj(),
	}
	pods := []PodUsage{{Node: "l4-0", Requests: map[string]int64{nvidia.ResourceGPU: 1}}, {Node: "l4-ts-0", Requests: map[string]int64{nvidia.ResourceGPU: 5}}}
	inv := Build(nodes, pods, BuildOptions{})
	got := map[string]Pool{}
	for _, p := range inv.Pools {
		got[p.Name] = p
	}
	if p := got["NVIDIA-L4 22.5GiB"]; p.Unit != UnitGPU || p.Allocatable != 4 || p.Free != 3 || len(p.Nodes) != 1 {
		t.Errorf("dedicated L4 pool: %+v (pools %v)", p, inv.Pools)
	}
	if p := got["NVIDIA-L4 22.5GiB time-slicing x4"]; p.Unit != UnitReplica || p.Sharing != "time-slicing" || p.ReplicasPerGPU != 4 ||
		p.GPUs != 4 || p.Allocatable != 16 || p.Free != 11 {
		t.Errorf("time-sliced L4 pool: %+v (pools %v)", p, inv.Pools)
	}
	// A MIG single node hides its GPU count (NodeGPU.Count): 4 + 4 physical GPUs.
	want := Totals{Nodes: 3, GPUNodes: 3, GPUs: 8, Allocatable: 4, Requested: 1, Free: 3,
		Other: []UnitTotal{{Unit: UnitMIGDevice, Allocatable: 56, Free: 56}, {Unit: UnitReplica, Allocatable: 16, Requested: 5, Free: 11}}}
	if diff := cmp.Diff(want, inv.Totals); diff != "" {
		t.Errorf("totals (-want +got):\n%s", diff)
	}
}
