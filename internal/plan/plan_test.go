package plan

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dynamo-infra/dynamo-infra/internal/inventory"
	"github.com/dynamo-infra/dynamo-infra/internal/placement"
	"github.com/dynamo-infra/dynamo-infra/internal/topology"
)

const gpu = "nvidia.com/gpu"

// gpuNode is a Ready H100 node with 8 GPUs, 64 CPUs, 512Gi and 110 pod slots, as GFD labels it.
func gpuNode(name string, mutate ...func(*corev1.Node)) corev1.Node {
	n := corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3", "nvidia.com/gpu.count": "8", "nvidia.com/gpu.memory": "81559",
			"kubernetes.io/hostname": name}},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{gpu: resource.MustParse("8"), corev1.ResourceCPU: resource.MustParse("64"),
				corev1.ResourceMemory: resource.MustParse("512Gi"), corev1.ResourcePods: resource.MustParse("110")},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		},
	}
	for _, m := range mutate {
		m(&n)
	}
	return n
}

func cpuNode(name string) corev1.Node {
	return corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("16"), corev1.ResourceMemory: resource.MustParse("64Gi"),
				corev1.ResourcePods: resource.MustParse("110")},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		},
	}
}

// pod is a load of n GPUs and cpu millicores on node.
func pod(node string, gpus, cpu int64, graph string) Load {
	r := map[string]int64{"pods": 1, "cpu": cpu}
	if gpus > 0 {
		r[gpu] = gpus
	}
	return Load{Node: node, Requests: r, Graph: graph}
}

// input is nodes and the pods on them.
func input(nodes []corev1.Node, pods ...Load) Input {
	in := Input{Nodes: nodes}
	for _, p := range pods {
		in.Add(p)
	}
	return in
}

func newDemand(name string, replicas, gpus, cpu int64) placement.Demand {
	r := map[string]int64{"pods": 1, "cpu": cpu, "memory": 16 << 30}
	if gpus > 0 {
		r[gpu] = gpus
	}
	return placement.Demand{Service: name, Replicas: replicas, Requests: r, Pod: &corev1.PodSpec{}}
}

func service(t *testing.T, r Report, name string) Service {
	t.Helper()
	for _, s := range r.Services {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no service %q in %+v", name, r.Services)
	return Service{}
}

// A node with free GPUs but no CPU left takes no pod: the plan counts what the scheduler's
// resource filter counts, and says which resource is short.
func TestPlanCountsCPUAndPodSlots(t *testing.T) {
	in := input([]corev1.Node{gpuNode("h100-0")}, pod("h100-0", 0, 62_000, ""))
	rep := Build([]placement.Demand{newDemand("decode", 1, 4, 4000)}, in, Options{Graph: "g"})
	dec := service(t, rep, "decode")
	if rep.Fits || dec.Fits || !rep.Proven {
		t.Fatalf("fits=%v proven=%v: 4 CPUs on a node with 2 free", rep.Fits, rep.Proven)
	}
	for _, want := range []string{"0 of 1 replica(s) placed", "4 nvidia.com/gpu, 4 cpu, 16Gi memory", "0 of its 1 candidate node(s) have 4 cpu left, the most is 2 (h100-0)"} {
		if !strings.Contains(dec.Reason, want) {
			t.Errorf("reason %q lacks %q", dec.Reason, want)
		}
	}
	// Pod slots: 110 pods already there.
	full := input([]corev1.Node{gpuNode("h100-0")})
	for range 110 {
		full.Add(pod("h100-0", 0, 1, ""))
	}
	rep = Build([]placement.Demand{newDemand("decode", 1, 1, 100)}, full, Options{})
	if dec := service(t, rep, "decode"); dec.Fits || !strings.Contains(dec.Reason, "have 1 pods left, the most is 0") {
		t.Errorf("a node with no pod slot left: fits=%v reason %q", dec.Fits, dec.Reason)
	}
	// A CPU-only service goes to a CPU node; what is left is reported per node.
	in.Nodes = append(in.Nodes, cpuNode("cpu-0"))
	rep = Build([]placement.Demand{newDemand("frontend", 2, 0, 1000)}, in, Options{})
	fe := service(t, rep, "frontend")
	if !rep.Fits || len(rep.Nodes) != 1 || rep.Nodes[0].Name != "cpu-0" || rep.Nodes[0].FreeAfter["cpu"] != "14" || rep.Nodes[0].FreeAfter["memory"] != "32Gi" ||
		fe.Placement[0] != (NodePods{Node: "cpu-0", Pods: 2}) {
		t.Errorf("frontend: fits=%v nodes %+v placement %+v", rep.Fits, rep.Nodes, fe.Placement)
	}
}

// A deployed graph is planned as a change: its own pods do not count against it.
func TestPlanOfADeployedGraphLeavesItsOwnPodsOut(t *testing.T) {
	graphPod := pod("h100-0", 8, 1000, "inference/disagg") // the graph's decode pod
	in := input([]corev1.Node{gpuNode("h100-0")}, graphPod)
	d := []placement.Demand{newDemand("decode", 1, 8, 1000)}
	if rep := Build(d, in, Options{}); rep.Fits || rep.Mode != ModeNew {
		t.Errorf("as a new graph: fits=%v mode %s, want its own pod counted", rep.Fits, rep.Mode)
	}
	rep := Build(d, in, Options{Own: "inference/disagg"})
	if !rep.Fits || rep.Mode != ModeChange || rep.Cluster.OwnPods != 1 {
		t.Errorf("as a change: fits=%v mode %s own pods %d", rep.Fits, rep.Mode, rep.Cluster.OwnPods)
	}
	// Another graph of the same name in another namespace still counts.
	graphPod.Graph = "other/disagg"
	if rep := Build(d, input(in.Nodes, graphPod), Options{Own: "inference/disagg"}); rep.Fits {
		t.Error("a pod of another namespace's graph was left out")
	}
}

// Among placements the plan prefers the one that keeps whole nodes free: a 4-GPU pod goes to the
// node with 4 left (first fit by name would break the whole node open), and the figure says so.
func TestPlanKeepsWholeNodesFree(t *testing.T) {
	in := input([]corev1.Node{gpuNode("a"), gpuNode("b")}, pod("b", 4, 1000, ""))
	rep := Build([]placement.Demand{newDemand("prefill", 1, 4, 1000)}, in, Options{})
	if !rep.Fits || rep.Method != MethodExact {
		t.Fatalf("fits=%v method %s", rep.Fits, rep.Method)
	}
	if p := service(t, rep, "prefill").Placement; len(p) != 1 || p[0].Node != "b" {
		t.Errorf("placement %+v, want node b (best fit)", p)
	}
	if rep.Fragmentation != (Fragmentation{StrandedGPUs: 0, PartlyUsedNodes: 0, WholeFreeNodes: 1}) {
		t.Errorf("fragmentation %+v", rep.Fragmentation)
	}
	if len(rep.Pools) != 1 || rep.Pools[0] != (Pool{Name: rep.Pools[0].Name, Unit: inventory.UnitGPU, Nodes: 2, FreeBefore: 12, FreeAfter: 8}) ||
		!strings.Contains(rep.Pools[0].Name, "H100") {
		t.Errorf("pools %+v", rep.Pools)
	}
	// First fit's answer, for contrast: it strands 8 GPUs on two partly used nodes.
	first := placement.Place([]placement.Node{{Node: &in.Nodes[0], Free: map[string]int64{gpu: 8}}, {Node: &in.Nodes[1], Free: map[string]int64{gpu: 4}}},
		[]placement.Demand{{Service: "prefill", Replicas: 1, Requests: map[string]int64{gpu: 4}}})
	if first.Services[0].Nodes[0] != "a" {
		t.Fatalf("first fit chose %v; the test no longer shows the difference", first.Services[0].Nodes)
	}
}

// A Deployment's surge pods: with room they run beside the old ones; without room and with
// maxUnavailable 0 (25% of 2 replicas) the update would stall, and the advice says what works.
func TestPlanRolloutSurge(t *testing.T) {
	d := []placement.Demand{newDemand("decode", 2, 8, 1000)}
	surge := map[string]Surge{"decode": {MaxSurge: 1, MaxUnavailable: 0}}
	in := Input{Nodes: []corev1.Node{gpuNode("a"), gpuNode("b")}}
	rep := Build(d, in, Options{Surge: surge})
	if !rep.Fits || len(rep.Rollouts) != 1 {
		t.Fatalf("fits=%v rollouts %+v", rep.Fits, rep.Rollouts)
	}
	r := rep.Rollouts[0]
	if r.SurgeFits || !r.Stalls || !strings.Contains(r.Advice, "would stall") || !strings.Contains(r.Advice, "maxSurge 0 and maxUnavailable 1") {
		t.Errorf("rollout %+v", r)
	}
	in.Nodes = append(in.Nodes, gpuNode("c"))
	if r := Build(d, in, Options{Surge: surge}).Rollouts[0]; !r.SurgeFits || r.Stalls {
		t.Errorf("with a third node: %+v", r)
	}
	// With maxUnavailable 1 the update proceeds without surge room.
	surge["decode"] = Surge{MaxSurge: 1, MaxUnavailable: 1}
	in.Nodes = in.Nodes[:2]
	if r := Build(d, in, Options{Surge: surge}).Rollouts[0]; r.SurgeFits || r.Stalls || !strings.Contains(r.Advice, "replaces 1 old pod(s) at a time") {
		t.Errorf("maxUnavailable 1: %+v", r)
	}
}

// Nodes not Ready or cordoned are left out and counted; a whole-GPU demand does not go to
// time-sliced replicas; beyond the exact search's reach the plan says it is a heuristic.
func TestPlanNodesAndMethod(t *testing.T) {
	notReady := gpuNode("n", func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionFalse })
	cordoned := gpuNode("c", func(n *corev1.Node) { n.Spec.Unschedulable = true })
	shared := gpuNode("s", func(n *corev1.Node) {
		n.Labels["nvidia.com/gpu.sharing-strategy"] = "time-slicing"
		n.Labels["nvidia.com/gpu.replicas"] = "4"
		n.Labels["nvidia.com/gpu.product"] = "NVIDIA-H100-80GB-HBM3-SHARED"
		n.Status.Allocatable[gpu] = resource.MustParse("32")
	})
	rep := Build([]placement.Demand{newDemand("decode", 1, 1, 100)}, Input{Nodes: []corev1.Node{notReady, cordoned, shared}}, Options{})
	if rep.Cluster != (Cluster{Nodes: 3, Usable: 1, NotReady: 1, Unschedulable: 1}) || rep.Fits {
		t.Errorf("cluster %+v fits %v: the shared node holds no whole GPU", rep.Cluster, rep.Fits)
	}
	var nodes []corev1.Node
	for i := range 10 {
		nodes = append(nodes, gpuNode(fmt.Sprintf("h-%02d", i)))
	}
	rep = Build([]placement.Demand{newDemand("decode", MaxExactPods+1, 1, 100)}, Input{Nodes: nodes}, Options{})
	if !rep.Fits || rep.Method != MethodHeuristic || rep.Proven || len(rep.Notes) != 1 || rep.Notes[0] != `65 pods on up to 10 candidate nodes is beyond the exact search (64 pods, 500 nodes): a heuristic placement; "does not fit" is not proven` {
		t.Errorf("65 pods: fits=%v method %s proven %v notes %q", rep.Fits, rep.Method, rep.Proven, rep.Notes)
	}
	// Best fit fills eight nodes and starts a ninth: 7 GPUs stranded there, one node whole.
	if rep.Fragmentation != (Fragmentation{StrandedGPUs: 7, PartlyUsedNodes: 1, WholeFreeNodes: 1}) {
		t.Errorf("fragmentation %+v", rep.Fragmentation)
	}
}

// rackNode is a 4-GPU node of a rack.
func rackNode(name, rack string) corev1.Node {
	return gpuNode(name, func(n *corev1.Node) {
		n.Labels[topology.LabelRack] = rack
		n.Status.Allocatable[gpu] = resource.MustParse("4")
	})
}

// A graph packed by rack is placed in one rack: the tightest that fits. Twelve GPUs free over
// two racks of 8 do not hold 12 GPUs of one graph (proven, and the note lists the racks tried);
// a third node in r1 does, and the plan says r1.
func TestPlanPacksByTopology(t *testing.T) {
	scopes := []topology.Scope{{Domain: "rack", Key: topology.LabelRack}}
	d := []placement.Demand{newDemand("prefill", 2, 4, 100), newDemand("decode", 1, 4, 100)}
	in := Input{Nodes: []corev1.Node{rackNode("r0-a", "r0"), rackNode("r0-b", "r0"), rackNode("r1-a", "r1"), rackNode("r1-b", "r1")}}
	rep := Build(d, in, Options{Scopes: scopes})
	if rep.Fits || !rep.Proven || !strings.Contains(strings.Join(rep.Notes, "\n"), "packed by topology: no choice of domains has room for every pod (tried 2: the graph in rack r0; the graph in rack r1)") {
		t.Errorf("two racks of 8: fits %v proven %v notes %q", rep.Fits, rep.Proven, rep.Notes)
	}
	in.Nodes = append(in.Nodes, rackNode("r1-c", "r1"))
	rep = Build(d, in, Options{Scopes: scopes})
	if !rep.Fits || len(rep.Topology) != 1 || rep.Topology[0] != (TopologyChoice{Domain: "rack", Key: topology.LabelRack, Value: "r1"}) {
		t.Fatalf("fits %v topology %+v", rep.Fits, rep.Topology)
	}
	for _, n := range rep.Nodes {
		if !strings.HasPrefix(n.Name, "r1-") {
			t.Errorf("%s used outside rack r1", n.Name)
		}
	}
	// Both racks fit a smaller graph: the tighter one (r0, fewer GPUs free) is chosen.
	rep = Build([]placement.Demand{newDemand("decode", 1, 4, 100)}, in, Options{Scopes: scopes})
	if !rep.Fits || rep.Topology[0].Value != "r0" {
		t.Errorf("one pod: %+v", rep.Topology)
	}
	// A per-group scope: each 2-node group of decode within one rack.
	group := placement.Demand{Service: "decode", Replicas: 2, GroupSize: 2, Requests: map[string]int64{gpu: 4, "pods": 1}, Pod: &corev1.PodSpec{}}
	rep = Build([]placement.Demand{group}, in, Options{Scopes: []topology.Scope{{Service: "decode", Domain: "rack", Key: topology.LabelRack, PerGroup: true}}})
	if !rep.Fits {
		t.Fatalf("two groups of two in racks of 2 and 3: %+v", rep.Services)
	}
	racks := map[string]int{}
	for _, n := range rep.Nodes {
		racks[n.Name[:2]]++
	}
	if racks["r0"] != 2 || racks["r1"] != 2 {
		t.Errorf("groups over racks %v, want two nodes in each", racks)
	}
	// Racks of 3 and 1: four nodes, but only one rack holds a group of two.
	odd := Input{Nodes: []corev1.Node{rackNode("r0-a", "r0"), rackNode("r0-b", "r0"), rackNode("r0-c", "r0"), rackNode("r1-a", "r1")}}
	rep = Build([]placement.Demand{group}, odd, Options{Scopes: []topology.Scope{{Service: "decode", Domain: "rack", Key: topology.LabelRack, PerGroup: true}}})
	if rep.Fits || !rep.Proven || rep.Services[0].Placed != 1 {
		t.Errorf("racks of 3 and 1: fits %v proven %v placed %d", rep.Fits, rep.Proven, rep.Services[0].Placed)
	}
	if rep := Build([]placement.Demand{group}, odd, Options{}); !rep.Fits {
		t.Error("unpacked, four nodes hold two groups of two")
	}
}

// oneDecodePerNode is a decode demand with required anti-affinity to its own pods by hostname.
func oneDecodePerNode(replicas, gpus int64) placement.Demand {
	d := newDemand("decode", replicas, gpus, 1000)
	d.Namespace, d.Labels = "inference", map[string]string{"app": "decode"}
	d.Pod = &corev1.PodSpec{Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{TopologyKey: "kubernetes.io/hostname",
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "decode"}}}}}}}
	return d
}

// Required pod anti-affinity counts: two 2-GPU decodes that must not share a node do not fit on
// one 8-GPU node, the reason says which constraint refused the node with room; a decode pod of
// the same graph already there does not count against a plan of the change, another graph's
// does; and a surge pod cannot join an old pod on its node.
func TestPlanPodAntiAffinity(t *testing.T) {
	d := []placement.Demand{oneDecodePerNode(2, 2)}
	in := Input{Nodes: []corev1.Node{gpuNode("a")}}
	rep := Build(d, in, Options{InterPod: placement.InterPodAll})
	s := service(t, rep, "decode")
	if rep.Fits || !rep.Proven || s.RefusedBy[placement.RefusedAntiAffinity] != 1 || !strings.Contains(s.Reason, "nodes with room refused: 1 by pod anti-affinity") {
		t.Errorf("fits=%v proven=%v service %+v", rep.Fits, rep.Proven, s)
	}
	if rep := Build(d, in, Options{}); !rep.Fits {
		t.Error("with InterPodOff the anti-affinity was checked")
	}
	// A running decode of the graph on b: counted for a new graph, not for the change.
	in = input([]corev1.Node{gpuNode("a"), gpuNode("b")})
	in.Add(Load{Node: "b", Requests: map[string]int64{"pods": 1}, Graph: "inference/disagg",
		Pod: &placement.Pod{Namespace: "inference", Labels: map[string]string{"app": "decode"}}})
	if rep := Build(d, in, Options{InterPod: placement.InterPodAll}); rep.Fits {
		t.Errorf("the running decode was not counted: %+v", rep.Services)
	}
	if rep := Build(d, in, Options{InterPod: placement.InterPodAll, Own: "inference/disagg"}); !rep.Fits {
		t.Errorf("the graph's own decode was counted against its change: %+v", rep.Services)
	}
	// Rollout: two decodes on two nodes, one per node: a surge pod has GPUs but no node.
	rep = Build(d, Input{Nodes: []corev1.Node{gpuNode("a"), gpuNode("b")}}, Options{InterPod: placement.InterPodAll,
		Surge: map[string]Surge{"decode": {MaxSurge: 1}}})
	if !rep.Fits || len(rep.Rollouts) != 1 || rep.Rollouts[0].SurgeFits || !rep.Rollouts[0].Stalls {
		t.Errorf("rollout with one decode per node: %+v", rep.Rollouts)
	}
}

// The pod affinity of a topology scope is placed by choosing domains, not as a pod affinity term:
// a graph packed in one rack fits though no pod of it runs yet and its pods do not match all
// of its own terms.
func TestPlanScopeTermsAreNotInterPod(t *testing.T) {
	d := newDemand("decode", 2, 4, 1000)
	d.Namespace, d.Labels = "inference", map[string]string{"app": "decode"}
	d.Pod = &corev1.PodSpec{Affinity: &corev1.Affinity{PodAffinity: &corev1.PodAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{TopologyKey: topology.LabelRack,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"graph": "elsewhere"}}}}}}}
	scopes := []topology.Scope{{Domain: "rack", Key: topology.LabelRack}}
	in := Input{Nodes: []corev1.Node{rackNode("r1-0", "r1"), rackNode("r1-1", "r1")}}
	if rep := Build([]placement.Demand{d}, in, Options{InterPod: placement.InterPodAll, Scopes: scopes}); !rep.Fits {
		t.Errorf("scope term checked as pod affinity: %+v", rep.Services)
	}
	if rep := Build([]placement.Demand{d}, in, Options{InterPod: placement.InterPodAll}); rep.Fits {
		t.Error("without the scope, the same term (selecting no pod) should refuse every node")
	}
}

// A term that selects namespaces by label is named in a note (the plan reads no namespace
// labels) when inter-pod constraints are checked; the pods the plan keeps leave out the topology
// scope's own terms.
func TestPlanUncheckedTermsAndInterest(t *testing.T) {
	d := oneDecodePerNode(1, 2)
	d.Pod.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].NamespaceSelector =
		&metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}}
	in := Input{Nodes: []corev1.Node{gpuNode("a")}}
	note := "decode: pod (anti-)affinity terms with a namespaceSelector not checked by the plan (it reads no namespace labels)"
	if rep := Build([]placement.Demand{d}, in, Options{InterPod: placement.InterPodAll}); !slices.Contains(rep.Notes, note) {
		t.Errorf("notes %q lack %q", rep.Notes, note)
	}
	if rep := Build([]placement.Demand{d}, in, Options{}); slices.Contains(rep.Notes, note) {
		t.Error("the note with inter-pod constraints off")
	}
	scoped := newDemand("decode", 1, 2, 100)
	scoped.Namespace = "inference"
	scoped.Pod = &corev1.PodSpec{Affinity: &corev1.Affinity{PodAffinity: &corev1.PodAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{TopologyKey: topology.LabelRack,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"graph": "g"}}}}}}}
	member := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "inference", Labels: map[string]string{"graph": "g"}}}
	if Interest([]placement.Demand{scoped}, []topology.Scope{{Domain: "rack", Key: topology.LabelRack}}).Of(member) != nil {
		t.Error("a pod only the topology scope's term selects was kept")
	}
	if Interest([]placement.Demand{scoped}, nil).Of(member) == nil {
		t.Error("a pod the demand's pod affinity selects was not kept")
	}
}

// A plan costs what the cluster holds: 2³¹−1 replicas on 100 nodes are proven not to fit (a
// heuristic-sized graph, yet proven: more pods than the nodes could hold) at the cost of the
// pods that fit; a plan whose work budget runs out says Stopped and not Fits, and is no proof.
func TestPlanIsBoundedByTheCluster(t *testing.T) {
	var nodes []corev1.Node
	for i := range 100 {
		nodes = append(nodes, gpuNode(fmt.Sprintf("h100-%02d", i)))
	}
	rep := Build([]placement.Demand{newDemand("decode", 1<<31-1, 1, 100)}, input(nodes), Options{Graph: "g"})
	dec := service(t, rep, "decode")
	if rep.Fits || !rep.Proven || rep.Stopped || dec.Placed != 800 || rep.Method != MethodHeuristic {
		t.Errorf("2³¹−1 replicas: fits=%v proven=%v stopped=%v placed %d method %s", rep.Fits, rep.Proven, rep.Stopped, dec.Placed, rep.Method)
	}
	if got := rep.Pods(); got != 1<<31-1 {
		t.Errorf("Pods() = %d", got)
	}
	// 700 pods that fit, within 1,000 node visits: stopped, unknown.
	rep = Build([]placement.Demand{newDemand("decode", 700, 1, 100)}, input(nodes), Options{Graph: "g", Work: 1000})
	if !rep.Stopped || rep.Fits || rep.Proven || !slices.ContainsFunc(rep.Notes, func(n string) bool { return strings.Contains(n, "stopped at its work budget (1000 node visits)") }) {
		t.Errorf("within 1,000 visits: stopped=%v fits=%v proven=%v notes %q", rep.Stopped, rep.Fits, rep.Proven, rep.Notes)
	}
	// The same with the default budget fits.
	if rep = Build([]placement.Demand{newDemand("decode", 700, 1, 100)}, input(nodes), Options{Graph: "g"}); !rep.Fits || rep.Stopped {
		t.Errorf("700 one-GPU pods on 800 GPUs: fits=%v stopped=%v", rep.Fits, rep.Stopped)
	}
}
