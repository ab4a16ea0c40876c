package capacity

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/dynamo-infra/dynamo-infra/internal/inventory"
	"github.com/dynamo-infra/dynamo-infra/internal/kubenode"
	"github.com/dynamo-infra/dynamo-infra/internal/simnode"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
)

func gpuNode(name, product string, gpus int64, labels map[string]string, taints ...corev1.Taint) corev1.Node {
	l := map[string]string{"nvidia.com/gpu.product": product}
	for k, v := range labels {
		l[k] = v
	}
	q := *resource.NewQuantity(gpus, resource.DecimalSI)
	return corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l},
		Spec:       corev1.NodeSpec{Taints: taints},
		Status: corev1.NodeStatus{
			Capacity:    corev1.ResourceList{"nvidia.com/gpu": q},
			Allocatable: corev1.ResourceList{"nvidia.com/gpu": q},
			Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		},
	}
}

func podAsking(gpus string, selector map[string]string) *corev1.PodSpec {
	return &corev1.PodSpec{NodeSelector: selector, Containers: []corev1.Container{{Name: "main",
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{"nvidia.com/gpu": resource.MustParse(gpus)}}}}}
}

const short = "0/4 nodes are available: 4 Insufficient nvidia.com/gpu. no new claims to deallocate, preemption: 0/4 nodes are available: 4 No preemption victims found for incoming pod."

// The most free is counted on the nodes the pod may use only: a tainted node, a node its
// selector does not match and a cordoned one have more free but are not candidates.
func TestMostFree(t *testing.T) {
	cordoned := gpuNode("h100-cordoned", "NVIDIA-H100", 8, nil)
	cordoned.Spec.Unschedulable = true
	nodes := []corev1.Node{
		gpuNode("h100-0", "NVIDIA-H100", 8, map[string]string{"pool": "a"}),
		gpuNode("h100-1", "NVIDIA-H100", 8, map[string]string{"pool": "a"}),
		gpuNode("h100-2", "NVIDIA-H100", 8, map[string]string{"pool": "b"}),
		gpuNode("h100-tainted", "NVIDIA-H100", 8, map[string]string{"pool": "a"}, corev1.Taint{Key: "dedicated", Value: "infra", Effect: corev1.TaintEffectNoSchedule}),
		cordoned,
		{ObjectMeta: metav1.ObjectMeta{Name: "cpu-0", Labels: map[string]string{"pool": "a"}},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}},
	}
	pods := []inventory.PodUsage{
		{Node: "h100-0", Requests: map[string]int64{"nvidia.com/gpu": 4}},
		{Node: "h100-0", Requests: map[string]int64{"nvidia.com/gpu": 2}},
		{Node: "h100-1", Requests: map[string]int64{"nvidia.com/gpu": 5}},
	}
	usage := inventory.Requested(pods)
	if len(usage) != 2 || usage["h100-0"]["nvidia.com/gpu"] != 6 {
		t.Fatalf("Requested = %+v, want h100-0 at 6 and h100-1", usage)
	}
	f := MostFree(podAsking("4", map[string]string{"pool": "a"}), short, NodeList(nodes), usage, nil)
	want := Fit{Resource: "nvidia.com/gpu", PerPod: 4, PerPodText: "4", NVIDIA: true, Candidates: 3, Having: 2,
		Product: "NVIDIA-H100", Best: "h100-1", BestFree: 3, WithRoom: 0}
	if f != want {
		t.Fatalf("MostFree =\n %+v, want\n %+v", f, want)
	}
	// The operator's compact snapshot of the same nodes says the same.
	if g := NewSnapshot(nodes, pods, time.Now()).MostFree(podAsking("4", map[string]string{"pool": "a"}), short); g != want {
		t.Fatalf("Snapshot.MostFree =\n %+v, want\n %+v", g, want)
	}
	// Nodes not read count as having the resource, not toward the most free.
	f = MostFree(podAsking("4", map[string]string{"pool": "a"}), short, NodeList(nodes), usage, func(n string) bool { return n == "h100-0" })
	if f.Best != "h100-0" || f.BestFree != 2 || f.Having != 2 {
		t.Fatalf("with h100-0 read only: %+v", f)
	}
	// No candidate has the resource.
	f = MostFree(podAsking("1", map[string]string{"pool": "none"}), short, NodeList(nodes), usage, nil)
	if f.Candidates != 0 || f.Having != 0 || f.BestFree != 0 || f.Best != "" {
		t.Fatalf("no candidate: %+v", f)
	}
	// Short of CPU: no free amount is known (only NVIDIA usage is read).
	f = MostFree(&corev1.PodSpec{Containers: []corev1.Container{{Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("64")}}}}}, "0/4 nodes are available: 4 Insufficient cpu.", NodeList(nodes), usage, nil)
	if f.Resource != "cpu" || f.NVIDIA || f.PerPodText != "64" {
		t.Fatalf("short of cpu: %+v", f)
	}
}

// Get answers from what it has and reads in the background: nil first, the snapshot once the
// read ends, no new read before MaxAge, one after; a forbidden read turns the view off.
func TestView(t *testing.T) {
	now := time.Unix(1000, 0)
	var reads atomic.Int32
	release := make(chan error)
	v := &View{MaxAge: time.Minute, Now: func() time.Time { return now },
		Read: func(ctx context.Context) (*Snapshot, error) {
			reads.Add(1)
			if err := <-release; err != nil {
				return nil, err
			}
			return NewSnapshot([]corev1.Node{gpuNode("h100-0", "NVIDIA-H100", 8, nil)}, nil, now), nil
		}}
	if v.Get() != nil || !v.Reading() {
		t.Fatal("first Get: want nil and a read in flight")
	}
	waitFor(t, func() bool { return reads.Load() == 1 })
	if v.Get() != nil || reads.Load() != 1 {
		t.Fatal("a second Get while reading must not start another read")
	}
	release <- nil
	waitFor(t, func() bool { return !v.Reading() })
	s := v.Get()
	if s == nil || s.Len() != 1 || reads.Load() != 1 {
		t.Fatalf("after the read: snapshot %v, reads %d", s, reads.Load())
	}
	now = now.Add(time.Minute)
	if v.Get() != s || !v.Reading() {
		t.Fatalf("past MaxAge: want the old snapshot and a new read, reads %d", reads.Load())
	}
	waitFor(t, func() bool { return reads.Load() == 2 })
	release <- apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, "", errors.New("no"))
	waitFor(t, func() bool { return !v.Reading() })
	now = now.Add(time.Hour)
	if v.Get() != s || v.Reading() || reads.Load() != 2 {
		t.Fatalf("after a forbidden read: want no more reads, reads %d", reads.Load())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	testkit.Eventually(t, "the view's state", 5*time.Second, func(context.Context) (bool, error) { return cond(), nil })
}

// With several NVIDIA resources, the first by name, whatever the map order.
func TestFirstNvidia(t *testing.T) {
	spec := &corev1.PodSpec{Containers: []corev1.Container{{Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
		"nvidia.com/mig-1g.10gb": resource.MustParse("1"), "nvidia.com/gpu": resource.MustParse("1"), "nvidia.com/gpu.shared": resource.MustParse("1")}}}}}
	for range 20 {
		if got := FirstNvidia(spec); got != "nvidia.com/gpu" {
			t.Fatalf("firstNvidia = %q", got)
		}
	}
}

// The snapshot of 5,000 H100 nodes as the dev cluster labels them (36 labels each): what the
// operator holds while a graph is short of GPUs (retained-MiB/op), against the trimmed Node
// objects an earlier version held (29.5 MiB measured the same way).
func BenchmarkSnapshot5000(b *testing.B) {
	kind, _ := simnode.LookupNodeKind("h100")
	nodes := make([]corev1.Node, 5000)
	for i := range nodes {
		n := simnode.NewNode(kind, fmt.Sprintf("h100-%d", i), []string{"zone-a", "zone-b", "zone-c"}[i%3])
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
		labels := map[string]string{} // fresh strings per node, as a decoder gives them
		for k, v := range n.Labels {
			labels[string([]byte(k))] = string([]byte(v))
		}
		n.Labels = labels
		nodes[i] = *n
	}
	var retained, listed float64
	for b.Loop() {
		with, withList := func() (uint64, uint64) {
			s := NewSnapshot(nodes, nil, time.Now())
			defer runtime.KeepAlive(s)
			a := heapAlloc()
			s.NodeList() // what a Schedulable plan adds while the snapshot is current
			return a, heapAlloc()
		}()
		base := heapAlloc() // the snapshot is garbage now
		retained, listed = float64(with-base)/(1<<20), float64(withList-with)/(1<<20)
	}
	b.ReportMetric(retained, "retained-MiB/op")
	b.ReportMetric(listed, "nodelist-MiB/op")
}

func heapAlloc() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// NodeList holds the same nodes as Nodes yields, built once and shared.
func TestSnapshotNodeList(t *testing.T) {
	kind, _ := simnode.LookupNodeKind("h100")
	a, b := simnode.NewNode(kind, "a", "zone-a"), simnode.NewNode(kind, "b", "zone-b")
	b.Spec.Unschedulable = true
	a.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	s := NewSnapshot([]corev1.Node{*a, *b}, nil, time.Now())
	list := s.NodeList()
	var i int
	for n := range s.Nodes() {
		got := list[i]
		if got.Name != n.Name || !maps.Equal(got.Labels, n.Labels) || got.Spec.Unschedulable != n.Spec.Unschedulable ||
			kubenode.Ready(&got) != kubenode.Ready(n) || !got.Status.Allocatable.Name("nvidia.com/gpu", resource.DecimalSI).Equal(*n.Status.Allocatable.Name("nvidia.com/gpu", resource.DecimalSI)) {
			t.Errorf("node %d: %+v, want %+v", i, got, n)
		}
		i++
	}
	if i != 2 || &s.NodeList()[0] != &list[0] {
		t.Errorf("%d nodes, or built twice", i)
	}
	if list[1].Labels["topology.kubernetes.io/zone"] != "zone-b" || kubenode.Ready(&list[1]) || !list[1].Spec.Unschedulable {
		t.Errorf("node b: %+v", list[1])
	}
}

// GetAfter answers only with a snapshot read after the time asked about, and starts one read
// for it; a later snapshot serves any earlier time.
func TestViewGetAfter(t *testing.T) {
	now := time.Unix(1000, 0)
	var reads atomic.Int32
	release := make(chan struct{})
	v := &View{MaxAge: time.Hour, Now: func() time.Time { return now },
		Read: func(ctx context.Context) (*Snapshot, error) {
			reads.Add(1)
			<-release
			return NewSnapshot([]corev1.Node{gpuNode("h100-0", "NVIDIA-H100", 8, nil)}, nil, now), nil
		}}
	v.Get()
	release <- struct{}{}
	waitFor(t, func() bool { return !v.Reading() && v.Get() != nil })
	first := v.Get()
	if v.GetAfter(now.Add(-time.Second)) != first || reads.Load() != 1 {
		t.Fatal("a snapshot read after the time asked about is the answer, with no read")
	}
	refused := now.Add(2 * time.Second)
	now = now.Add(3 * time.Second)
	if v.GetAfter(refused) != nil || !v.Reading() {
		t.Fatal("a snapshot read before the refusal: want nil and a read (within MaxAge)")
	}
	waitFor(t, func() bool { return reads.Load() == 2 })
	if v.GetAfter(refused) != nil || reads.Load() != 2 {
		t.Fatal("while that read runs: nil, no second read")
	}
	release <- struct{}{}
	waitFor(t, func() bool { return !v.Reading() })
	if s := v.GetAfter(refused); s == nil || s == first {
		t.Fatalf("after the read: want the new snapshot, got %v", s)
	}
}
