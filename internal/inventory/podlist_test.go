package inventory

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dynamo-infra/dynamo-infra/internal/kubenode"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
)

// randomPod makes a pod of the shapes the scheduler's request sum distinguishes: containers,
// init containers (sidecars among them), limits without requests, overhead, pod-level
// resources, NVIDIA and other resources, every phase, bound or not.
func randomPod(rng *rand.Rand, i int) corev1.Pod {
	names := []corev1.ResourceName{"nvidia.com/gpu", "nvidia.com/mig-1g.10gb", "nvidia.com/gpu.shared", corev1.ResourceCPU, corev1.ResourceMemory, "example.com/fpga"}
	list := func() corev1.ResourceList {
		if rng.IntN(3) == 0 {
			return nil
		}
		l := corev1.ResourceList{}
		for range rng.IntN(4) {
			n := names[rng.IntN(len(names))]
			switch n {
			case corev1.ResourceCPU:
				l[n] = resource.MustParse(strconv.Itoa(rng.IntN(4000)) + "m")
			case corev1.ResourceMemory:
				l[n] = resource.MustParse(strconv.Itoa(rng.IntN(64)) + "Gi")
			default:
				l[n] = *resource.NewQuantity(int64(rng.IntN(9)), resource.DecimalSI)
			}
		}
		return l
	}
	containers := func(n int, init bool) []corev1.Container {
		var cs []corev1.Container
		for j := range n {
			c := corev1.Container{Name: fmt.Sprintf("c%d", j), Image: "registry.example.com/img:1", Args: []string{"--x", "y"},
				Env:       []corev1.EnvVar{{Name: "A", Value: strings.Repeat("v", rng.IntN(40))}},
				Resources: corev1.ResourceRequirements{Requests: list(), Limits: list()}}
			if init && rng.IntN(2) == 0 {
				always := corev1.ContainerRestartPolicyAlways
				c.RestartPolicy = &always
			}
			cs = append(cs, c)
		}
		return cs
	}
	phases := []corev1.PodPhase{"", corev1.PodPending, corev1.PodRunning, corev1.PodSucceeded, corev1.PodFailed, corev1.PodUnknown}
	pod := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%d", i), Namespace: "ns", Labels: map[string]string{"app": "x"},
			Annotations: map[string]string{"note": strings.Repeat("a", rng.IntN(100))}},
		Spec: corev1.PodSpec{
			Containers:     containers(1+rng.IntN(3), false),
			InitContainers: containers(rng.IntN(3), true),
			Tolerations:    []corev1.Toleration{{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists}},
			NodeSelector:   map[string]string{"nvidia.com/gpu.present": "true"},
		},
		Status: corev1.PodStatus{Phase: phases[rng.IntN(len(phases))], PodIP: "10.0.0.1",
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
	if rng.IntN(4) > 0 {
		pod.Spec.NodeName = fmt.Sprintf("node-%d", rng.IntN(10))
	}
	if rng.IntN(4) == 0 {
		pod.Spec.Overhead = list()
	}
	if rng.IntN(4) == 0 {
		pod.Spec.Resources = &corev1.ResourceRequirements{Requests: list(), Limits: list()}
	}
	return pod
}

// runningPods are n random pods, each bound and Running (active: all of them count).
func runningPods(rng *rand.Rand, n int) []corev1.Pod {
	var pods []corev1.Pod
	for i := range n {
		p := randomPod(rng, i)
		p.Spec.NodeName, p.Status.Phase = "node-1", corev1.PodRunning
		pods = append(pods, p)
	}
	return pods
}

// encodeList is a PodList as the API server writes it in protobuf.
func encodeList(t testing.TB, pods []corev1.Pod, cont string) []byte {
	t.Helper()
	l := &corev1.PodList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PodList"}, ListMeta: metav1.ListMeta{ResourceVersion: "42", Continue: cont}, Items: pods}
	var buf bytes.Buffer
	if err := protobuf.NewSerializer(scheme.Scheme, scheme.Scheme).Encode(l, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func usageOf(pods []corev1.Pod) []PodUsage {
	var out []PodUsage
	for i := range pods {
		if u, ok := PodUsageOf(&pods[i]); ok {
			out = append(out, u)
		}
	}
	return out
}

// The skeleton decoder must give PodUsageOf's answer for every pod the typed decoder gives it
// for: a field number read wrongly, or a resource the sum counts that the skeleton drops, fails.
func TestSkeletonPodMatchesTyped(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 1))
	var pods []corev1.Pod
	for i := range 3000 {
		pods = append(pods, randomPod(rng, i))
	}
	got, cont, err := readAll(encodeList(t, pods, "next-page"))
	if err != nil {
		t.Fatal(err)
	}
	if cont != "next-page" {
		t.Fatalf("continue %q, want next-page", cont)
	}
	want := usageOf(pods)
	if len(want) < 500 {
		t.Fatalf("only %d of %d random pods hold NVIDIA resources: the generator no longer covers the sum", len(want), len(pods))
	}
	if !reflect.DeepEqual(got, want) {
		for i := range min(len(got), len(want)) {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("pod usage %d: skeleton %+v, typed %+v", i, got[i], want[i])
			}
		}
		t.Fatalf("skeleton gave %d usages, typed %d", len(got), len(want))
	}
}

// readAll reads a LIST response as ListPodUsage does.
func readAll(body []byte) ([]PodUsage, string, error) {
	var got []PodUsage
	cont := ""
	err := readList(bufio.NewReader(bytes.NewReader(body)), func(c string) { cont = c }, podListReader(false, &got, addUsage))
	return got, cont, err
}

// A response cut short anywhere is an error, not a short answer; a JSON answer is read too.
func TestReadPodListTruncatedAndJSON(t *testing.T) {
	pods := runningPods(rand.New(rand.NewPCG(7, 7)), 20)
	body := encodeList(t, pods, "")
	for cut := len(protobufMagic) + 1; cut < len(body); cut += 97 {
		if got, _, err := readAll(body[:cut]); err == nil {
			t.Fatalf("cut at %d of %d bytes: no error, %d usages", cut, len(body), len(got))
		}
	}
	raw, err := json.Marshal(&corev1.PodList{ListMeta: metav1.ListMeta{Continue: "c2"}, Items: pods})
	if err != nil {
		t.Fatal(err)
	}
	got, cont, err := readAll(raw)
	if err != nil || cont != "c2" || !reflect.DeepEqual(got, usageOf(pods)) {
		t.Fatalf("JSON: %d usages, continue %q, %v; want %d, c2", len(got), cont, err, len(usageOf(pods)))
	}
}

// ListPodUsage against a server that pages: every page asked for with the active-pods selector
// and the continue token of the page before, in protobuf, and the pods of all pages read.
func TestListPodUsagePages(t *testing.T) {
	pods := runningPods(rand.New(rand.NewPCG(3, 5)), 250)
	const per = 100
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		q := r.URL.Query()
		if r.URL.Path != "/api/v1/pods" || q.Get("fieldSelector") != ActivePodsSelector || q.Get("limit") != strconv.Itoa(streamPageSize) {
			http.Error(w, "unexpected request "+r.URL.String(), http.StatusBadRequest)
			return
		}
		if !strings.HasPrefix(r.Header.Get("Accept"), "application/vnd.kubernetes.protobuf") {
			http.Error(w, "not protobuf: "+r.Header.Get("Accept"), http.StatusBadRequest)
			return
		}
		from, _ := strconv.Atoi(q.Get("continue"))
		to := min(from+per, len(pods))
		cont := ""
		if to < len(pods) {
			cont = strconv.Itoa(to)
		}
		w.Header().Set("Content-Type", "application/vnd.kubernetes.protobuf")
		_, _ = w.Write(encodeList(t, pods[from:to], cont))
	}))
	defer srv.Close()
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ListPodUsage(context.Background(), cs)
	if err != nil {
		t.Fatal(err)
	}
	if want := usageOf(pods); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %d usages, want %d", len(got), len(want))
	}
	if n := requests.Load(); n != 3 {
		t.Fatalf("%d requests for 250 pods in pages of %d, want 3", n, per)
	}
}

func BenchmarkSkeletonPods(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	var pods []corev1.Pod
	for i := range 5000 {
		pods = append(pods, randomPod(rng, i))
	}
	body := encodeList(b, pods, "")
	b.Run("skeleton", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := readAll(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("typed", func(b *testing.B) {
		b.ReportAllocs()
		codec := protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)
		for b.Loop() {
			obj, _, err := codec.Decode(body, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			l := obj.(*corev1.PodList)
			for i := range l.Items {
				PodUsageOf(&l.Items[i])
			}
		}
	})
}

// With all, every pod is passed and the skeleton's request sum equals the typed pod's for every
// resource (pod-level CPU and memory, overhead, sidecars), with its node and phase.
func TestSkeletonPodAllResourcesMatchesTyped(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 4))
	var pods []corev1.Pod
	for i := range 2000 {
		pods = append(pods, randomPod(rng, i))
	}
	type sum struct {
		node  string
		phase corev1.PodPhase
		reqs  corev1.ResourceList
	}
	sumOf := func(out []sum, p *corev1.Pod) []sum {
		return append(out, sum{p.Spec.NodeName, p.Status.Phase, kubenode.StoredPodRequests(p)})
	}
	var got []sum
	if err := readList(bufio.NewReader(bytes.NewReader(encodeList(t, pods, ""))), func(string) {}, podListReader(true, &got, sumOf)); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(pods) {
		t.Fatalf("%d pods passed, want every one of %d", len(got), len(pods))
	}
	podLevel := 0
	for i := range pods {
		want := sumOf(nil, &pods[i])[0]
		if got[i].node != want.node || got[i].phase != want.phase || !equality.Semantic.DeepEqual(got[i].reqs, want.reqs) {
			t.Fatalf("pod %d: skeleton %+v, typed %+v", i, got[i], want)
		}
		if pods[i].Spec.Resources != nil && len(pods[i].Spec.Resources.Requests) > 0 {
			podLevel++
		}
	}
	if podLevel == 0 {
		t.Fatal("no pod with pod-level requests: the generator no longer covers them")
	}
}

// randomNode is a node with what the skeleton reads (labels, taints, cordon, conditions,
// capacity, allocatable) and what it skips (annotations, images, addresses, node info).
func randomNode(rng *rand.Rand, i int) corev1.Node {
	n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("node-%d", i), Labels: map[string]string{"kubernetes.io/hostname": fmt.Sprintf("node-%d", i)},
		Annotations: map[string]string{"node.alpha.kubernetes.io/ttl": "0"}}}
	for j := range rng.IntN(30) {
		n.Labels[fmt.Sprintf("example.com/l%d", j)] = strings.Repeat("v", rng.IntN(20))
	}
	n.Spec.Unschedulable = rng.IntN(4) == 0
	for j := range rng.IntN(3) {
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: fmt.Sprintf("t%d", j), Value: strings.Repeat("x", rng.IntN(3)),
			Effect: []corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectNoExecute, corev1.TaintEffectPreferNoSchedule}[rng.IntN(3)]})
	}
	for _, c := range []corev1.NodeConditionType{corev1.NodeMemoryPressure, corev1.NodeReady, corev1.NodeDiskPressure} {
		if rng.IntN(4) > 0 {
			n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: c, Status: []corev1.ConditionStatus{corev1.ConditionTrue, corev1.ConditionFalse, corev1.ConditionUnknown}[rng.IntN(3)],
				Reason: "KubeletReady", Message: "kubelet is posting ready status", LastHeartbeatTime: metav1.Now()})
		}
	}
	list := func() corev1.ResourceList {
		l := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(strconv.Itoa(1+rng.IntN(200)) + "m"), corev1.ResourceMemory: resource.MustParse(strconv.Itoa(1+rng.IntN(2000)) + "Gi"),
			corev1.ResourcePods: *resource.NewQuantity(110, resource.DecimalSI)}
		if rng.IntN(2) == 0 {
			l["nvidia.com/gpu"] = *resource.NewQuantity(int64(rng.IntN(9)), resource.DecimalSI)
		}
		return l
	}
	n.Status.Capacity, n.Status.Allocatable = list(), list()
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.1"}}
	n.Status.Images = []corev1.ContainerImage{{Names: []string{"registry.example.com/img:1"}, SizeBytes: 1 << 30}}
	n.Status.NodeInfo = corev1.NodeSystemInfo{KubeletVersion: "v1.32.0"}
	return n
}

// The node skeleton holds exactly what a capacity view reads of the typed node: a field number
// read wrongly, or a label, taint or resource dropped, fails.
func TestSkeletonNodeMatchesTyped(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 9))
	var nodes []corev1.Node
	for i := range 500 {
		nodes = append(nodes, randomNode(rng, i))
	}
	l := &corev1.NodeList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "NodeList"}, ListMeta: metav1.ListMeta{Continue: "more"}, Items: nodes}
	var buf bytes.Buffer
	if err := protobuf.NewSerializer(scheme.Scheme, scheme.Scheme).Encode(l, &buf); err != nil {
		t.Fatal(err)
	}
	var got []corev1.Node
	keep := func(out []corev1.Node, n *corev1.Node) []corev1.Node {
		c := *n
		c.Labels = maps.Clone(n.Labels) // the reader reuses its labels map
		return append(out, c)
	}
	cont := ""
	if err := readList(bufio.NewReader(bytes.NewReader(buf.Bytes())), func(c string) { cont = c }, nodeListReader(&got, keep)); err != nil {
		t.Fatal(err)
	}
	if cont != "more" || len(got) != len(nodes) {
		t.Fatalf("%d nodes, continue %q; want %d, more", len(got), cont, len(nodes))
	}
	for i := range nodes {
		n := &nodes[i]
		want := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: n.Labels}}
		want.Spec.Unschedulable = n.Spec.Unschedulable
		for _, tt := range n.Spec.Taints {
			want.Spec.Taints = append(want.Spec.Taints, corev1.Taint{Key: tt.Key, Value: tt.Value, Effect: tt.Effect})
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				want.Status.Conditions = append(want.Status.Conditions, corev1.NodeCondition{Type: c.Type, Status: c.Status})
			}
		}
		want.Status.Capacity, want.Status.Allocatable = n.Status.Capacity, n.Status.Allocatable
		if !equality.Semantic.DeepEqual(got[i], want) {
			t.Fatalf("node %d: skeleton %+v\nwant %+v", i, got[i], want)
		}
		if kubenode.Ready(&got[i]) != kubenode.Ready(n) {
			t.Fatalf("node %d: Ready %v, typed %v", i, kubenode.Ready(&got[i]), kubenode.Ready(n))
		}
	}
}
