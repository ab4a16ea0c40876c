package placement

import (
	"fmt"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

const (
	hostKey = "kubernetes.io/hostname"
	zoneKey = "topology.kubernetes.io/zone"
)

// zoned is a node with hostname and zone labels.
func zoned(name, zone string, free int64) Node {
	return node(name, free, map[string]string{hostKey: name, zoneKey: zone})
}

func appTerm(key, app string) corev1.PodAffinityTerm {
	return corev1.PodAffinityTerm{TopologyKey: key, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}}
}

func antiAffine(key, app string) *corev1.PodSpec {
	return &corev1.PodSpec{Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{appTerm(key, app)}}}}
}

func affine(key, app string) *corev1.PodSpec {
	return &corev1.PodSpec{Affinity: &corev1.Affinity{PodAffinity: &corev1.PodAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{appTerm(key, app)}}}}
}

func spread(key, app string, skew int32) *corev1.PodSpec {
	return &corev1.PodSpec{TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{MaxSkew: skew, TopologyKey: key,
		WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}}}}
}

func app(service string, replicas, gpus int64, spec *corev1.PodSpec, mode InterPod) Demand {
	return Demand{Service: service, Replicas: replicas, Requests: map[string]int64{gpu: gpus}, Pod: spec,
		Namespace: "ns", Labels: map[string]string{"app": service}, InterPod: mode}
}

// bothWays runs first fit and the search on the same input.
func bothWays(t *testing.T, nodes []Node, demands []Demand) (Result, SearchResult) {
	t.Helper()
	return Place(nodes, demands), Search(nodes, demands, DefaultSearchBudget)
}

// One decode per node (anti-affinity on the hostname): three replicas on two nodes with room
// for all three by GPUs do not fit, and both say which constraint refused the node with room;
// unchecked (InterPodOff), they fit.
func TestAntiAffinityOnePerNode(t *testing.T) {
	nodes := []Node{zoned("a", "z1", 8), zoned("b", "z1", 8)}
	d := []Demand{app("decode", 3, 1, antiAffine(hostKey, "decode"), InterPodAll)}
	ff, s := bothWays(t, nodes, d)
	if r := ff.Services[0]; r.Placed != 2 || r.Refused[RefusedAntiAffinity] != 2 {
		t.Errorf("first fit: %+v", r)
	}
	if s.Found || !s.Complete {
		t.Errorf("search: found %v complete %v, want a proof that none fits", s.Found, s.Complete)
	}
	d[0].Replicas = 2
	if _, s := bothWays(t, nodes, d); !s.Found || !slices.Equal(s.Result.Services[0].Nodes, []string{"a", "b"}) {
		t.Errorf("two replicas: %+v", s.Result)
	}
	d[0].Replicas, d[0].InterPod = 3, InterPodOff
	if ff, s := bothWays(t, nodes, d); !ff.Services[0].Fits() || !s.Found {
		t.Errorf("unchecked: %+v %+v", ff, s)
	}
}

// A pod already on a node counts: its labels for the demand's anti-affinity, and its own
// anti-affinity keeps the demand's pods out of its domain (the scheduler checks both ways).
func TestAntiAffinityOfPodsOnTheNodes(t *testing.T) {
	nodes := []Node{zoned("a", "z1", 8), zoned("b", "z2", 8)}
	nodes[0].Pods = []Pod{{Namespace: "ns", Labels: map[string]string{"app": "cache"}}}
	d := []Demand{app("decode", 1, 8, antiAffine(zoneKey, "cache"), InterPodAll)}
	if _, s := bothWays(t, nodes, d); !s.Found || !slices.Equal(s.Result.Services[0].Nodes, []string{"b"}) {
		t.Errorf("away from the cache: %+v", s.Result)
	}
	// The same pod in another namespace is not selected (a term selects in the pod's own).
	nodes[1].Pods = []Pod{{Namespace: "other", Labels: map[string]string{"app": "cache"}}}
	nodes[1].Free[gpu] = 0
	nodes[0].Pods = nil
	if _, s := bothWays(t, nodes, d); !s.Found {
		t.Errorf("a pod of another namespace refused the node: %+v", s.Result)
	}
	// Symmetric: a pod on b whose anti-affinity selects decode keeps decode off b.
	nodes = []Node{zoned("a", "z1", 0), zoned("b", "z2", 8)}
	nodes[1].Pods = []Pod{{Namespace: "ns", Labels: map[string]string{"app": "x"}, AntiAffinity: []corev1.PodAffinityTerm{appTerm(hostKey, "decode")}}}
	d = []Demand{app("decode", 1, 8, nil, InterPodAll)}
	ff, s := bothWays(t, nodes, d)
	if s.Found || ff.Services[0].Refused[RefusedOthersAnti] != 1 {
		t.Errorf("another pod's anti-affinity: %+v %+v", ff.Services[0], s)
	}
}

// maxSkew 1 over zones, with two matching pods already in z1: the first new pods go to z2 until
// it catches up; with room for one only in z2, the second is refused by the spread.
func TestTopologySpread(t *testing.T) {
	nodes := []Node{zoned("a", "z1", 8), zoned("b", "z1", 8), zoned("c", "z2", 8)}
	nodes[0].Pods = []Pod{{Namespace: "ns", Labels: map[string]string{"app": "decode"}}, {Namespace: "ns", Labels: map[string]string{"app": "decode"}}}
	d := []Demand{app("decode", 3, 1, spread(zoneKey, "decode", 1), InterPodAll)}
	ff, s := bothWays(t, nodes, d)
	if r := ff.Services[0]; !r.Fits() || r.PodsPerNode["c"] != 2 {
		t.Errorf("first fit: %+v", r)
	}
	// The search's best fit may put the third on c too (z2 then leads by one, within maxSkew).
	if !s.Found || s.Result.Services[0].PodsPerNode["c"] < 2 {
		t.Errorf("search: %+v", s.Result)
	}
	nodes[2].Free[gpu] = 1
	ff, s = bothWays(t, nodes, d)
	if r := ff.Services[0]; r.Placed != 1 || r.Refused[RefusedSpread] != 2 {
		t.Errorf("first fit, one free in z2: %+v", r)
	}
	if s.Found || !s.Complete {
		t.Errorf("search, one free in z2: found %v complete %v", s.Found, s.Complete)
	}
	// Terminating pods do not count for the spread.
	for i := range nodes[0].Pods {
		nodes[0].Pods[i].Terminating = true
	}
	if _, s := bothWays(t, nodes, d); !s.Found {
		t.Errorf("terminating pods counted: %+v", s.Result)
	}
	// minDomains 3 with two zones: the fewest is taken as 0, so each zone holds at most maxSkew.
	nodes = []Node{zoned("a", "z1", 8), zoned("c", "z2", 8)}
	d[0].Pod = spread(zoneKey, "decode", 1)
	d[0].Pod.TopologySpreadConstraints[0].MinDomains = ptr.To[int32](3)
	if _, s := bothWays(t, nodes, d); s.Found || !s.Complete {
		t.Errorf("minDomains: found %v", s.Found)
	}
	// A node without the topology label is refused; a node the pod may not use is no domain.
	nodes = []Node{zoned("a", "z1", 8), node("x", 8, nil), zoned("c", "z2", 8)}
	nodes[2].Node.Labels["pool"] = "other"
	d[0].Pod = spread(zoneKey, "decode", 1)
	d[0].Pod.NodeSelector = map[string]string{zoneKey: "z1"}
	d[0].Replicas = 2
	if _, s := bothWays(t, nodes, d); !s.Found || !slices.Equal(s.Result.Services[0].Nodes, []string{"a"}) {
		t.Errorf("only z1 counted: %+v", s.Result)
	}
}

// Prefill's pod affinity selects decode's pods: decode is placed first though prefill asks for
// more GPUs, and prefill goes to decode's zone — where the search finds room for both (first
// fit puts decode on a, where prefill then has no room). A service with affinity to itself lands in one
// zone (its first pod goes anywhere).
func TestPodAffinity(t *testing.T) {
	nodes := []Node{zoned("a", "z1", 8), zoned("b", "z2", 2), zoned("c", "z2", 8)}
	d := []Demand{app("prefill", 1, 8, affine(zoneKey, "decode"), InterPodAll), app("decode", 1, 2, nil, InterPodAll)}
	ff, s := bothWays(t, nodes, d)
	if ff.Services[0].Service != "decode" || ff.Services[1].Refused[RefusedAffinity] != 1 {
		t.Errorf("first fit: %+v", ff.Services)
	}
	for _, r := range [][]ServiceResult{s.Result.Services} {
		byName := map[string]ServiceResult{}
		for _, sr := range r {
			byName[sr.Service] = sr
		}
		if !byName["prefill"].Fits() || !byName["decode"].Fits() {
			t.Fatalf("not placed: %+v", r)
		}
		zone := func(n string) string {
			for _, x := range nodes {
				if x.Node.Name == n {
					return x.Node.Labels[zoneKey]
				}
			}
			return ""
		}
		if zone(byName["prefill"].Nodes[0]) != zone(byName["decode"].Nodes[0]) {
			t.Errorf("prefill and decode in different zones: %+v", r)
		}
	}
	self := []Demand{app("decode", 3, 4, affine(zoneKey, "decode"), InterPodAll)}
	nodes = []Node{zoned("a", "z1", 4), zoned("b", "z2", 8), zoned("c", "z2", 4)}
	if _, s := bothWays(t, nodes, self); !s.Found || !slices.Equal(s.Result.Services[0].Nodes, []string{"b", "c"}) {
		t.Errorf("self affinity: %+v", s.Result)
	}
	// Affinity to pods nobody placed: refused everywhere when the nodes' pods were read; not
	// checked when only the graph's pods are known (the operator).
	other := []Demand{app("prefill", 1, 1, affine(zoneKey, "cache"), InterPodAll)}
	if ff, _ := bothWays(t, nodes, other); ff.Services[0].Fits() || ff.Services[0].Refused[RefusedAffinity] != 3 {
		t.Errorf("affinity to no pod: %+v", ff.Services[0])
	}
	other[0].InterPod = InterPodGraph
	if ff, _ := bothWays(t, nodes, other); !ff.Services[0].Fits() {
		t.Errorf("InterPodGraph checked a term no demand matches: %+v", ff.Services[0])
	}
}

// Anti-affinity by hostname makes every node a domain of its own: the search still tells nodes
// apart by what they hold, not by name, so a 500-node cluster stays cheap and exact.
func TestAntiAffinitySearchStaysSmall(t *testing.T) {
	var nodes []Node
	for i := range 500 {
		n := zoned("n"+string(rune('a'+i%26))+string(rune('a'+i/26)), "z1", 8)
		nodes = append(nodes, n)
	}
	d := []Demand{app("decode", 32, 8, antiAffine(hostKey, "decode"), InterPodAll), app("prefill", 32, 4, antiAffine(hostKey, "prefill"), InterPodAll)}
	s := Search(nodes, d, DefaultSearchBudget)
	if !s.Found || s.Steps > 1000 {
		t.Errorf("found %v in %d steps", s.Found, s.Steps)
	}
}

// 64 pods with one-per-node anti-affinity and a spread over four zones, on 500 partly used nodes:
// what the inter-pod constraints cost the search (every node a domain of its own).
func BenchmarkSearchInterPod(b *testing.B) {
	var nodes []Node
	for i := range 500 {
		nodes = append(nodes, zoned(fmt.Sprintf("n%03d", i), fmt.Sprintf("z%d", i%4), []int64{8, 6, 3, 1}[i%4]))
	}
	decode := app("decode", 32, 3, antiAffine(hostKey, "decode"), InterPodAll)
	prefill := app("prefill", 32, 1, spread(zoneKey, "prefill", 1), InterPodAll)
	for b.Loop() {
		if s := Search(nodes, []Demand{decode, prefill}, DefaultSearchBudget); !s.Found {
			b.Fatal("not found")
		}
	}
}
