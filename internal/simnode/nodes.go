package simnode

import (
	"fmt"
	"maps"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
	"github.com/dynamo-infra/dynamo-infra/internal/topology"
)

// Zones the simulated nodes are spread over, round-robin in creation order.
var zones = []string{"dev-zone-a", "dev-zone-b", "dev-zone-c"}

const (
	region         = "dev-region-1"
	podsPerNode    = "110"
	ephemeralDisk  = "1Ti"
	kubeletVersion = "kwok-v0.8.0"
)

// KwokToleration is the toleration a pod needs to be scheduled onto a simulated node.
func KwokToleration() corev1.Toleration {
	return corev1.Toleration{Key: TaintKwokNode, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
}

// NodesForProfile builds the Node objects a profile asks for. Names are "<kind>-<i>"; names
// already in taken are skipped, so nodes can be added to a running cluster. The first node gets
// zone index firstZone.
func NodesForProfile(p Profile, taken map[string]bool, firstZone int) ([]*corev1.Node, error) {
	var nodes []*corev1.Node
	zone := firstZone
	for _, e := range p {
		kind, ok := LookupNodeKind(e.Kind)
		if !ok {
			return nil, fmt.Errorf("unknown node kind %q", e.Kind)
		}
		for i, made := 0, 0; made < e.Count; i++ {
			name := kind.Name + "-" + strconv.Itoa(i)
			if taken[name] {
				continue
			}
			n := NewNode(kind, name, zones[zone%len(zones)])
			if kind.RackSize > 0 {
				maps.Copy(n.Labels, RackLabels(kind, i))
			}
			nodes = append(nodes, n)
			zone++
			made++
		}
	}
	return nodes, nil
}

// cliqueCluster is the NVLink fabric's cluster UUID of the simulated racks: GFD's clique label
// is "<cluster UUID>.<clique id>".
const cliqueCluster = "0f3c5a7e-2b1d-4c8e-9a6f-d00d00d00d00"

// RackLabels are the labels of node index i of a rack kind: its rack (topology.dynamo-infra.dev/
// rack, "<kind>-rack-N"), its NVLink clique (nvidia.com/gpu.clique) and its zone — a rack does
// not straddle zones.
func RackLabels(kind NodeKind, i int) map[string]string {
	rack := i / kind.RackSize
	return map[string]string{
		topology.LabelRack:    fmt.Sprintf("%s-rack-%d", kind.Name, rack),
		nvidia.LabelGPUClique: fmt.Sprintf("%s.%d", cliqueCluster, rack),
		LabelZone:             zones[rack%len(zones)],
	}
}

// NewNode builds one simulated node of the given kind: GFD-style labels, capacity and
// allocatable for CPU, memory, pods and the NVIDIA resources, the kwok annotation and taint.
func NewNode(kind NodeKind, name, zone string) *corev1.Node {
	labels := map[string]string{
		LabelHostname:           name,
		LabelOS:                 "linux",
		LabelArch:               "amd64",
		LabelInstanceType:       kind.InstanceType,
		LabelZone:               zone,
		LabelRegion:             region,
		LabelKwokType:           "kwok",
		LabelNodeKind:           kind.Name,
		v1alpha1.LabelManagedBy: ManagedByValue,
	}
	resources := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse(kind.CPU),
		corev1.ResourceMemory:           resource.MustParse(kind.Memory),
		corev1.ResourcePods:             resource.MustParse(podsPerNode),
		corev1.ResourceEphemeralStorage: resource.MustParse(ephemeralDisk),
	}
	if g := kind.GPU; g != nil {
		addGPULabels(labels, kind)
		gpuResource := corev1.ResourceName(nvidia.ResourceGPU)
		if g.Sharing != nil && g.Sharing.Rename {
			gpuResource = nvidia.ResourceGPUShared
		}
		resources[gpuResource] = *resource.NewQuantity(int64(advertisedGPUs(g)), resource.DecimalSI)
		if g.MIG != nil {
			for _, d := range g.MIG.Devices {
				resources[corev1.ResourceName(nvidia.ResourceMIGPrefix+d.Profile)] = *resource.NewQuantity(int64(d.Count), resource.DecimalSI)
			}
		}
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Labels:      labels,
			Annotations: map[string]string{AnnotationKwokNode: KwokNodeValue},
		},
		Spec: corev1.NodeSpec{
			Taints: []corev1.Taint{{Key: TaintKwokNode, Value: KwokNodeValue, Effect: corev1.TaintEffectNoSchedule}},
		},
		Status: corev1.NodeStatus{
			Capacity:    resources,
			Allocatable: resources.DeepCopy(),
			NodeInfo: corev1.NodeSystemInfo{
				Architecture:    "amd64",
				OperatingSystem: "linux",
				KubeletVersion:  kubeletVersion,
				OSImage:         "Simulated by kwok (dynamoctl dev cluster)",
			},
		},
	}
}

// wholeGPUs is the whole-GPU count GFD labels: every GPU, less those partitioned into MIG
// devices (mixed), or the MIG devices themselves (single).
func wholeGPUs(g *GPUSpec) int {
	switch {
	case g.MIG != nil:
		return g.MIG.WholeGPUs
	case g.MIGSingle != nil:
		return g.MIGSingle.Count
	}
	return g.Count
}

// advertisedGPUs is what the device plugin advertises: whole GPUs times sharing replicas.
func advertisedGPUs(g *GPUSpec) int {
	if g.Sharing != nil {
		return wholeGPUs(g) * g.Sharing.Replicas
	}
	return wholeGPUs(g)
}

func addGPULabels(labels map[string]string, kind NodeKind) {
	g := kind.GPU
	itoa := strconv.Itoa
	switch g.Exposure {
	case ExposeGKE:
		labels[nvidia.LabelGKEAccelerator] = g.CloudAccelerator
		return
	case ExposeAKS:
		labels[nvidia.LabelAKSAccelerator] = g.CloudAccelerator
		return
	case ExposeKarpenter:
		labels[nvidia.LabelKarpenterGPUName] = g.CloudAccelerator
		labels[nvidia.LabelKarpenterGPUCount] = itoa(g.Count)
		labels[nvidia.LabelKarpenterGPUMem] = itoa(g.MemoryMiB)
		labels[nvidia.LabelKarpenterGPUMaker] = "nvidia"
		return
	case ExposeNFD:
		labels[nvidia.LabelNFDNvidiaPCI] = "true"
		return
	}
	product, memory := g.Product, g.MemoryMiB
	if g.MIGSingle != nil {
		product, memory = g.Product+"-MIG-"+g.MIGSingle.Profile, g.MIGSingle.MemoryMiB
	}
	if g.Sharing != nil && !g.Sharing.Rename {
		product += "-SHARED"
	}
	set := map[string]string{
		nvidia.LabelGPUPresent:         "true",
		nvidia.LabelNFDNvidiaPCI:       "true",
		nvidia.LabelGPUCount:           itoa(wholeGPUs(g)),
		nvidia.LabelGPUProduct:         product,
		nvidia.LabelGPUMemory:          itoa(memory),
		nvidia.LabelGPUFamily:          g.Family,
		nvidia.LabelGPUComputeMajor:    itoa(g.ComputeMajor),
		nvidia.LabelGPUComputeMinor:    itoa(g.ComputeMinor),
		nvidia.LabelGPUMachine:         kind.InstanceType,
		nvidia.LabelGPUMode:            "compute",
		nvidia.LabelGPUReplicas:        "1",
		nvidia.LabelGPUSharing:         "none",
		nvidia.LabelMIGCapable:         strconv.FormatBool(g.Family == "ampere" || g.Family == "hopper" || g.Family == "blackwell"),
		nvidia.LabelMPSCapable:         "false",
		nvidia.LabelDriverFull:         driverMajor + "." + driverMinor + "." + driverRevision,
		nvidia.LabelDriverMajor:        driverMajor,
		nvidia.LabelDriverMinor:        driverMinor,
		nvidia.LabelDriverRevision:     driverRevision,
		nvidia.LabelRuntimeFull:        runtimeMajor + "." + runtimeMinor,
		nvidia.LabelRuntimeMajor:       runtimeMajor,
		nvidia.LabelRuntimeMinor:       runtimeMinor,
		nvidia.LabelLegacyDriverMajor:  driverMajor,
		nvidia.LabelLegacyDriverMinor:  driverMinor,
		nvidia.LabelLegacyDriverRev:    driverRevision,
		nvidia.LabelLegacyRuntimeMajor: runtimeMajor,
		nvidia.LabelLegacyRuntimeMinor: runtimeMinor,
	}
	if g.Sharing != nil {
		set[nvidia.LabelGPUReplicas] = itoa(g.Sharing.Replicas)
		set[nvidia.LabelGPUSharing] = g.Sharing.Strategy
	}
	switch {
	case g.MIGSingle != nil:
		d := g.MIGSingle
		set[nvidia.LabelMIGStrategy] = "single"
		set[nvidia.LabelGPUMultiprocessors] = itoa(d.Multiprocessors)
		set[nvidia.LabelGPUSlicesGI] = itoa(d.SlicesGI)
		set[nvidia.LabelGPUSlicesCI] = itoa(d.SlicesCI)
	case g.MIG != nil:
		set[nvidia.LabelMIGStrategy] = "mixed"
		for _, d := range g.MIG.Devices {
			p := nvidia.LabelMIGPrefix + d.Profile + "."
			set[p+"count"] = itoa(d.Count)
			set[p+"memory"] = itoa(d.MemoryMiB)
			set[p+"multiprocessors"] = itoa(d.Multiprocessors)
			set[p+"slices.gi"] = itoa(d.SlicesGI)
			set[p+"slices.ci"] = itoa(d.SlicesCI)
		}
	default:
		set[nvidia.LabelMIGStrategy] = "none"
	}
	for k, v := range set {
		labels[k] = v
	}
}
