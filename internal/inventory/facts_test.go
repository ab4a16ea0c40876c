package inventory

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
)

// nodeBuilder makes test nodes: makeNode("n").label(k, v).res("nvidia.com/gpu", 8).obj().
type nodeBuilder struct{ n corev1.Node }

func makeNode(name string) *nodeBuilder {
	return &nodeBuilder{n: corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}},
		Status: corev1.NodeStatus{
			Capacity:    corev1.ResourceList{},
			Allocatable: corev1.ResourceList{},
			Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		},
	}}
}

func (b *nodeBuilder) label(kv ...string) *nodeBuilder {
	for i := 0; i+1 < len(kv); i += 2 {
		b.n.Labels[kv[i]] = kv[i+1]
	}
	return b
}

func (b *nodeBuilder) res(name string, v int64) *nodeBuilder {
	q := *resource.NewQuantity(v, resource.DecimalSI)
	b.n.Status.Capacity[corev1.ResourceName(name)] = q
	b.n.Status.Allocatable[corev1.ResourceName(name)] = q
	return b
}

func (b *nodeBuilder) notReady() *nodeBuilder {
	b.n.Status.Conditions[0].Status = corev1.ConditionFalse
	return b
}

func (b *nodeBuilder) cordon() *nodeBuilder { b.n.Spec.Unschedulable = true; return b }

func (b *nodeBuilder) taint(key, value string, effect corev1.TaintEffect) *nodeBuilder {
	b.n.Spec.Taints = append(b.n.Spec.Taints, corev1.Taint{Key: key, Value: value, Effect: effect})
	return b
}

func (b *nodeBuilder) obj() *corev1.Node { return &b.n }

func gfdH100(name string) *nodeBuilder {
	return makeNode(name).label(
		nvidia.LabelGPUPresent, "true", nvidia.LabelGPUProduct, "NVIDIA-H100-80GB-HBM3", nvidia.LabelGPUCount, "8",
		nvidia.LabelGPUMemory, "81559", nvidia.LabelGPUFamily, "hopper", nvidia.LabelMIGCapable, "true", nvidia.LabelMIGStrategy, "none",
		nvidia.LabelDriverFull, "570.133.20", nvidia.LabelRuntimeFull, "12.8",
	).res(nvidia.ResourceGPU, 8)
}

func usage(name string, v int64) ResourceUsage {
	return ResourceUsage{Name: name, Capacity: v, Allocatable: v, Free: v}
}

func none() Sharing { return Sharing{Strategy: "none", Replicas: 1} }

func TestNodeFacts(t *testing.T) {
	tests := []struct {
		name string
		node *corev1.Node
		want NodeGPU
	}{
		{
			name: "GFD whole GPUs",
			node: gfdH100("h100-0").obj(),
			want: NodeGPU{
				Name: "h100-0", GPU: true, Sources: []string{SourceGFD},
				Product: "NVIDIA-H100-80GB-HBM3", LabelProduct: "NVIDIA-H100-80GB-HBM3", Count: 8, MemoryMiB: 81559, Family: "hopper",
				MIG: MIG{Capable: true, Strategy: MIGNone}, Sharing: none(), DriverVersion: "570.133.20", CUDAVersion: "12.8",
				Resources: []ResourceUsage{usage(nvidia.ResourceGPU, 8)}, Ready: true,
			},
		},
		{
			name: "MIG single: count and memory describe MIG devices",
			node: makeNode("mig-single").label(nvidia.LabelGPUProduct, "NVIDIA-A100-SXM4-40GB-MIG-1g.5gb", nvidia.LabelGPUCount, "56",
				nvidia.LabelGPUMemory, "4864", nvidia.LabelMIGCapable, "true", nvidia.LabelMIGStrategy, "single").res(nvidia.ResourceGPU, 56).obj(),
			want: NodeGPU{
				Name: "mig-single", GPU: true, Sources: []string{SourceGFD},
				Product: "NVIDIA-A100-SXM4-40GB", LabelProduct: "NVIDIA-A100-SXM4-40GB-MIG-1g.5gb", MemoryMiB: 40960, MemoryInferred: true,
				MIG:     MIG{Capable: true, Strategy: MIGSingle, Devices: []MIGDevices{{Profile: "1g.5gb", Count: 56, MemoryMiB: 4864}}},
				Sharing: none(), Resources: []ResourceUsage{usage(nvidia.ResourceGPU, 56)}, Ready: true,
			},
		},
		{
			name: "MIG invalid",
			node: makeNode("mig-bad").label(nvidia.LabelGPUProduct, "NVIDIA-A100-SXM4-80GB-MIG-INVALID", nvidia.LabelGPUCount, "0",
				nvidia.LabelGPUMemory, "0", nvidia.LabelMIGCapable, "true", nvidia.LabelMIGStrategy, "single").res(nvidia.ResourceGPU, 0).obj(),
			want: NodeGPU{
				Name: "mig-bad", GPU: true, Sources: []string{SourceGFD},
				Product: "NVIDIA-A100-SXM4-80GB", LabelProduct: "NVIDIA-A100-SXM4-80GB-MIG-INVALID", MemoryMiB: 81920, MemoryInferred: true,
				MIG: MIG{Capable: true, Strategy: MIGSingle, Invalid: true}, Sharing: none(),
				Resources: []ResourceUsage{usage(nvidia.ResourceGPU, 0)}, Ready: true,
				Warnings: []string{"MIG layout is invalid (product NVIDIA-A100-SXM4-80GB-MIG-INVALID): GPUs mix MIG enabled and disabled, use several profiles, or have no MIG devices"},
			},
		},
		{
			name: "MIG mixed",
			node: makeNode("mig-mixed").label(nvidia.LabelGPUProduct, "NVIDIA-A100-SXM4-80GB", nvidia.LabelGPUCount, "2", nvidia.LabelGPUMemory, "81920",
				nvidia.LabelMIGCapable, "true", nvidia.LabelMIGStrategy, "mixed",
				"nvidia.com/mig-1g.10gb.count", "28", "nvidia.com/mig-1g.10gb.memory", "9728", "nvidia.com/mig-1g.10gb.slices.gi", "1",
				"nvidia.com/mig-2g.20gb.count", "6", "nvidia.com/mig-2g.20gb.memory", "19968").
				res(nvidia.ResourceGPU, 2).res("nvidia.com/mig-1g.10gb", 28).res("nvidia.com/mig-2g.20gb", 6).obj(),
			want: NodeGPU{
				Name: "mig-mixed", GPU: true, Sources: []string{SourceGFD},
				Product: "NVIDIA-A100-SXM4-80GB", LabelProduct: "NVIDIA-A100-SXM4-80GB", Count: 2, MemoryMiB: 81920,
				MIG: MIG{Capable: true, Strategy: MIGMixed, Devices: []MIGDevices{
					{Profile: "1g.10gb", Count: 28, MemoryMiB: 9728}, {Profile: "2g.20gb", Count: 6, MemoryMiB: 19968}}},
				Sharing:   none(),
				Resources: []ResourceUsage{usage(nvidia.ResourceGPU, 2), usage("nvidia.com/mig-1g.10gb", 28), usage("nvidia.com/mig-2g.20gb", 6)},
				Ready:     true,
			},
		},
		{
			name: "time-slicing keeps the resource name: -SHARED suffix, count stays physical",
			node: makeNode("ts").label(nvidia.LabelGPUProduct, "NVIDIA-A100-SXM4-40GB-SHARED", nvidia.LabelGPUCount, "8", nvidia.LabelGPUMemory, "40960",
				nvidia.LabelGPUReplicas, "4", nvidia.LabelGPUSharing, "time-slicing").res(nvidia.ResourceGPU, 32).obj(),
			want: NodeGPU{
				Name: "ts", GPU: true, Sources: []string{SourceGFD},
				Product: "NVIDIA-A100-SXM4-40GB", LabelProduct: "NVIDIA-A100-SXM4-40GB-SHARED", Count: 8, MemoryMiB: 40960,
				MIG: MIG{Strategy: MIGNone}, Sharing: Sharing{Strategy: "time-slicing", Replicas: 4, Resource: nvidia.ResourceGPU},
				Resources: []ResourceUsage{usage(nvidia.ResourceGPU, 32)}, Ready: true,
			},
		},
		{
			name: "sharing renamed to nvidia.com/gpu.shared (MPS)",
			node: makeNode("mps").label(nvidia.LabelGPUProduct, "NVIDIA-L4", nvidia.LabelGPUCount, "4", nvidia.LabelGPUMemory, "23034",
				nvidia.LabelGPUReplicas, "2", nvidia.LabelGPUSharing, "mps").res(nvidia.ResourceGPUShared, 8).obj(),
			want: NodeGPU{
				Name: "mps", GPU: true, Sources: []string{SourceGFD},
				Product: "NVIDIA-L4", LabelProduct: "NVIDIA-L4", Count: 4, MemoryMiB: 23034,
				MIG: MIG{Strategy: MIGNone}, Sharing: Sharing{Strategy: "mps", Replicas: 2, Resource: nvidia.ResourceGPUShared},
				Resources: []ResourceUsage{usage(nvidia.ResourceGPUShared, 8)}, Ready: true,
			},
		},
		{
			name: "GKE without GFD: known accelerator, count from allocatable",
			node: makeNode("gke").label(nvidia.LabelGKEAccelerator, "nvidia-l4").res(nvidia.ResourceGPU, 2).obj(),
			want: NodeGPU{
				Name: "gke", GPU: true, Sources: []string{SourceGKE}, Product: "NVIDIA-L4", Count: 2, MemoryMiB: 23034,
				MIG: MIG{Strategy: MIGNone}, Sharing: none(), Resources: []ResourceUsage{usage(nvidia.ResourceGPU, 2)}, Ready: true,
			},
		},
		{
			name: "GKE MIG partition and time-sharing",
			node: makeNode("gke-mig").label(nvidia.LabelGKEAccelerator, "nvidia-tesla-a100", nvidia.LabelGKEPartitionSize, "1g.5gb",
				nvidia.LabelGKESharing, "time-sharing", nvidia.LabelGKEMaxSharedPerGPU, "2").res(nvidia.ResourceGPU, 14).obj(),
			want: NodeGPU{
				Name: "gke-mig", GPU: true, Sources: []string{SourceGKE}, Product: "NVIDIA-A100-SXM4-40GB", MemoryMiB: 40960,
				MIG: MIG{Capable: true, Strategy: MIGSingle}, Sharing: Sharing{Strategy: "time-slicing", Replicas: 2, Resource: nvidia.ResourceGPU},
				Resources: []ResourceUsage{usage(nvidia.ResourceGPU, 14)}, Ready: true,
			},
		},
		{
			name: "GKE unknown accelerator: name kept, memory from the name",
			node: makeNode("gke-new").label(nvidia.LabelGKEAccelerator, "nvidia-b300-288gb").res(nvidia.ResourceGPU, 8).obj(),
			want: NodeGPU{
				Name: "gke-new", GPU: true, Sources: []string{SourceGKE}, Product: "nvidia-b300-288gb", Count: 8, MemoryMiB: 294912, MemoryInferred: true,
				MIG: MIG{Strategy: MIGNone}, Sharing: none(), Resources: []ResourceUsage{usage(nvidia.ResourceGPU, 8)}, Ready: true,
			},
		},
		{
			name: "AKS: vendor only, product unknown",
			node: makeNode("aks").label(nvidia.LabelAKSAccelerator, "nvidia").res(nvidia.ResourceGPU, 4).obj(),
			want: NodeGPU{
				Name: "aks", GPU: true, Sources: []string{SourceAKS}, Count: 4,
				MIG: MIG{Strategy: MIGNone}, Sharing: none(), Resources: []ResourceUsage{usage(nvidia.ResourceGPU, 4)}, Ready: true,
			},
		},
		{
			name: "Karpenter instance labels",
			node: makeNode("karp").label(nvidia.LabelKarpenterGPUName, "h100", nvidia.LabelKarpenterGPUCount, "8",
				nvidia.LabelKarpenterGPUMem, "81920", nvidia.LabelKarpenterGPUMaker, "nvidia").res(nvidia.ResourceGPU, 8).obj(),
			want: NodeGPU{
				Name: "karp", GPU: true, Sources: []string{SourceKarpenter}, Product: "h100", Count: 8, MemoryMiB: 81920,
				MIG: MIG{Strategy: MIGNone}, Sharing: none(), Resources: []ResourceUsage{usage(nvidia.ResourceGPU, 8)}, Ready: true,
			},
		},
		{
			name: "Karpenter non-NVIDIA GPU is not ours",
			node: makeNode("karp-amd").label(nvidia.LabelKarpenterGPUName, "mi300x", nvidia.LabelKarpenterGPUCount, "8", nvidia.LabelKarpenterGPUMaker, "amd").obj(),
			want: NodeGPU{Name: "karp-amd", MIG: MIG{Strategy: MIGNone}, Sharing: none(), Ready: true},
		},
		{
			name: "NFD PCI label only",
			node: makeNode("nfd").label(nvidia.LabelNFDNvidiaPCI, "true").res(nvidia.ResourceGPU, 4).obj(),
			want: NodeGPU{
				Name: "nfd", GPU: true, Sources: []string{SourceNFD}, Count: 4,
				MIG: MIG{Strategy: MIGNone}, Sharing: none(), Resources: []ResourceUsage{usage(nvidia.ResourceGPU, 4)}, Ready: true,
			},
		},
		{
			name: "allocatable only, cordoned, not ready, tainted",
			node: makeNode("bare").res(nvidia.ResourceGPU, 2).notReady().cordon().
				taint("nvidia.com/gpu", "present", corev1.TaintEffectNoSchedule).
				taint("dedicated", "", corev1.TaintEffectPreferNoSchedule).obj(),
			want: NodeGPU{
				Name: "bare", GPU: true, Sources: []string{SourceAllocatable}, Count: 2,
				MIG: MIG{Strategy: MIGNone}, Sharing: none(), Resources: []ResourceUsage{usage(nvidia.ResourceGPU, 2)},
				Unschedulable: true, Taints: []string{"nvidia.com/gpu=present:NoSchedule"},
			},
		},
		{
			name: "legacy CUDA labels and an unreadable count",
			node: makeNode("old").label(nvidia.LabelGPUProduct, "Tesla-T4", nvidia.LabelGPUCount, "eight", nvidia.LabelGPUMemory, "15360",
				nvidia.LabelLegacyDriverMajor, "535", nvidia.LabelLegacyDriverMinor, "104", nvidia.LabelLegacyDriverRev, "05",
				nvidia.LabelLegacyRuntimeMajor, "12", nvidia.LabelLegacyRuntimeMinor, "2", nvidia.LabelGPUPresent, "maybe").res(nvidia.ResourceGPU, 1).obj(),
			want: NodeGPU{
				Name: "old", GPU: true, Sources: []string{SourceGFD}, Product: "Tesla-T4", LabelProduct: "Tesla-T4", Count: 1, MemoryMiB: 15360,
				MIG: MIG{Strategy: MIGNone}, Sharing: none(), DriverVersion: "535.104.05", CUDAVersion: "12.2",
				Resources: []ResourceUsage{usage(nvidia.ResourceGPU, 1)}, Ready: true,
				Warnings: []string{`label nvidia.com/gpu.present="maybe": not a boolean (true/false)`,
					`label nvidia.com/gpu.count="eight": not a whole number from 0 to 10^9`},
			},
		},
		{
			name: "CPU node",
			node: makeNode("cpu").label("kubernetes.io/os", "linux").res("cpu", 16).obj(),
			want: NodeGPU{Name: "cpu", MIG: MIG{Strategy: MIGNone}, Sharing: none(), Ready: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NodeFacts(tt.node)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("NodeFacts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNeedsProbe(t *testing.T) {
	for _, tt := range []struct {
		node *corev1.Node
		want bool
	}{
		{gfdH100("a").obj(), false},
		{makeNode("aks").label(nvidia.LabelAKSAccelerator, "nvidia").res(nvidia.ResourceGPU, 4).obj(), true},
		{makeNode("nfd").label(nvidia.LabelNFDNvidiaPCI, "true").res(nvidia.ResourceGPU, 1).obj(), true},
		{makeNode("cpu").obj(), false},
	} {
		n := NodeFacts(tt.node)
		if got := n.NeedsProbe(); got != tt.want {
			t.Errorf("%s: NeedsProbe = %v, want %v", n.Name, got, tt.want)
		}
	}
}

func TestParseProduct(t *testing.T) {
	tests := []struct {
		in   string
		want Product
	}{
		{"NVIDIA-H100-80GB-HBM3", Product{Base: "NVIDIA-H100-80GB-HBM3"}},
		{"NVIDIA-A100-SXM4-40GB-MIG-1g.5gb", Product{Base: "NVIDIA-A100-SXM4-40GB", MIGProfile: "1g.5gb"}},
		{"NVIDIA-A100-SXM4-40GB-MIG-INVALID", Product{Base: "NVIDIA-A100-SXM4-40GB", MIGInvalid: true}},
		{"NVIDIA-A100-SXM4-40GB-SHARED", Product{Base: "NVIDIA-A100-SXM4-40GB", Shared: true}},
		{"NVIDIA-A100-SXM4-40GB-MIG-1g.5gb-SHARED", Product{Base: "NVIDIA-A100-SXM4-40GB", MIGProfile: "1g.5gb", Shared: true}},
		{"-MIG-", Product{Base: "-MIG-"}},
		{"", Product{}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, ParseProduct(tt.in)); diff != "" {
			t.Errorf("ParseProduct(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestMemoryFromProductName(t *testing.T) {
	for in, want := range map[string]int64{
		"NVIDIA-H100-80GB-HBM3": 81920, "NVIDIA-A100-SXM4-40GB": 40960, "nvidia-h200-141gb": 144384,
		"NVIDIA-L4": 0, "Tesla-T4": 0, "NVIDIA-B200": 0, "GB200": 0,
	} {
		got, ok := MemoryFromProductName(in)
		if got != want || ok != (want > 0) {
			t.Errorf("MemoryFromProductName(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
}

func FuzzNodeLabels(f *testing.F) {
	f.Add("NVIDIA-A100-SXM4-40GB-MIG-1g.5gb", "56", "4864", "single", "4", "nvidia.com/mig-1g.10gb.count", "7")
	f.Add("x-SHARED", "-1", "1e3", "mixed", "0", "nvidia.com/mig-.count", "")
	f.Add("", "99999999999", "", "none", "abc", "nvidia.com/mig-3g.40gb.memory", "40192")
	f.Fuzz(func(t *testing.T, product, count, memory, strategy, replicas, extraKey, extraVal string) {
		node := makeNode("f").label(nvidia.LabelGPUProduct, product, nvidia.LabelGPUCount, count, nvidia.LabelGPUMemory, memory,
			nvidia.LabelMIGStrategy, strategy, nvidia.LabelGPUReplicas, replicas, extraKey, extraVal).res(nvidia.ResourceGPU, 3).obj()
		n := NodeFacts(node)
		if n.Count < 0 || n.MemoryMiB < 0 || n.Sharing.Replicas < 1 {
			t.Fatalf("negative or zero facts: %+v", n)
		}
		switch n.MIG.Strategy {
		case MIGNone, MIGSingle, MIGMixed:
		default:
			t.Fatalf("strategy %q", n.MIG.Strategy)
		}
		if strings.HasSuffix(n.Product, productSharedSuffix) && n.Product != strings.TrimSpace(product) {
			t.Fatalf("suffix left on product %q", n.Product)
		}
		_ = n.MIG.MIGLayout()
		_ = PoolName(n.Product, n.MemoryMiB, n.MIG.MIGLayout())
	})
}

func FuzzParseCount(f *testing.F) {
	for _, s := range []string{"8", " 8 ", "-1", "0x10", "1e3", "", "999999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseCount(s)
		if err == nil && (n < 0 || n > 1_000_000_000) {
			t.Fatalf("ParseCount(%q) = %d", s, n)
		}
	})
}

func FuzzMemoryFromProductName(f *testing.F) {
	for _, s := range []string{"NVIDIA-H100-80GB-HBM3", "nvidia-h200-141gb", "GB200", "x-0GB", "a-99999GB-b", "-80 GB-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		mib, ok := MemoryFromProductName(s)
		if ok != (mib > 0) || mib < 0 || mib > 9999*1024 {
			t.Fatalf("MemoryFromProductName(%q) = %d, %v", s, mib, ok)
		}
	})
}
