package inventory_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster"
	"github.com/dynamo-infra/dynamo-infra/internal/inventory"
	"github.com/dynamo-infra/dynamo-infra/internal/inventory/collect"
	"github.com/dynamo-infra/dynamo-infra/internal/kube"
	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
	"github.com/dynamo-infra/dynamo-infra/internal/simnode"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
)

// One node of every exposure form the inventory reads.
const profile = "h100=1,a100-mig=1,a100-mig-single=1,l4-timeslice=1,l4-mps=1,gke-l4=1,aks-a100=1,karpenter-h100=1,nfd-gpu=1,cpu=1"

const probeNS = "gpu-probes"

var shared struct {
	once   sync.Once
	c      *devcluster.Cluster
	err    error
	logDir string // kwok reads the recorded nvidia-smi log from here on every request
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.c != nil {
		if err := shared.c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop cluster:", err)
			code = 1
		}
	}
	if shared.logDir != "" {
		_ = os.RemoveAll(shared.logDir)
	}
	os.Exit(code)
}

// cluster starts the shared cluster. kwok serves every probe pod's log in probeNS from a
// recorded nvidia-smi output, in the CRI log format kwok reads: one GPU, as a probe that
// requests one GPU sees on a real node.
func cluster(t *testing.T) *devcluster.Cluster {
	t.Helper()
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "inventory-test-")
		if err != nil {
			shared.err = err
			return
		}
		logFile := filepath.Join(dir, "smi.log")
		if shared.err = writeCRILog(filepath.Join("testdata", "nvidia-smi", "a100-40gb-x1.csv"), logFile); shared.err != nil {
			return
		}
		p, _ := simnode.ParseProfile(profile)
		shared.c, shared.err = devcluster.Start(context.Background(), devcluster.Options{
			Profile: p,
			KwokConfig: []string{fmt.Sprintf(`apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: nvidia-smi
spec:
  selector:
    matchNamespaces: [%s]
  logs:
  - containers: [smi]
    logsFile: %s
`, probeNS, logFile)},
		})
		shared.logDir = dir
	})
	if shared.err != nil {
		t.Fatalf("start cluster: %v", shared.err)
	}
	return shared.c
}

func writeCRILog(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	var b strings.Builder
	s := bufio.NewScanner(in)
	for s.Scan() {
		fmt.Fprintf(&b, "2026-11-28T12:00:00.000000000Z stdout F %s\n", s.Text())
	}
	return os.WriteFile(dst, []byte(b.String()), 0o644)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func ensureNamespace(t *testing.T, cs kubernetes.Interface, c *devcluster.Cluster, ns string) {
	t.Helper()
	_, err := cs.CoreV1().Namespaces().Create(ctxT(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	if err := c.WaitDefaultServiceAccount(ctxT(t), ns); err != nil {
		t.Fatal(err)
	}
}

func gpuPod(node string, res string, n int64) corev1.PodSpec {
	return corev1.PodSpec{
		NodeSelector:  map[string]string{"kubernetes.io/hostname": node},
		Tolerations:   []corev1.Toleration{simnode.KwokToleration()},
		RestartPolicy: corev1.RestartPolicyAlways,
		Containers: []corev1.Container{{Name: "main", Image: "worker:1", Resources: corev1.ResourceRequirements{
			Limits: corev1.ResourceList{corev1.ResourceName(res): *resource.NewQuantity(n, resource.DecimalSI)},
		}}},
	}
}

// runDeployment holds GPUs on a node with a Running pod until the test ends.
func runDeployment(t *testing.T, cs kubernetes.Interface, ns, name, node, res string, n int64) {
	t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: gpuPod(node, res, n)},
		},
	}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctxT(t), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.AppsV1().Deployments(ns).Delete(context.Background(), name, metav1.DeleteOptions{})
		_ = cs.CoreV1().Pods(ns).DeleteCollection(context.Background(), metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{LabelSelector: "app=" + name})
	})
	waitPods(t, cs, ns, "app="+name, corev1.PodRunning)
}

func waitPods(t *testing.T, cs kubernetes.Interface, ns, selector string, phase corev1.PodPhase) {
	t.Helper()
	testkit.Eventually(t, fmt.Sprintf("pods %s in %s %s", selector, ns, phase), 2*time.Minute, func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil || len(pods.Items) == 0 {
			return false, err
		}
		for _, p := range pods.Items {
			if p.Status.Phase != phase {
				return false, nil
			}
		}
		return true, nil
	})
}

func apiOptions(c *devcluster.Cluster) collect.CollectOptions {
	return collect.CollectOptions{
		Source: inventory.SourceAPI,
		API:    func() (kubernetes.Interface, error) { return kubernetes.NewForConfig(c.RESTConfig()) },
	}
}

func nodeByName(t *testing.T, inv inventory.Inventory, name string) inventory.NodeGPU {
	t.Helper()
	for _, n := range inv.Nodes {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("node %s not in inventory", name)
	return inventory.NodeGPU{}
}

func TestInventoryOnCluster(t *testing.T) {
	c := cluster(t)
	cs := c.Client()
	ns := "inventory-usage"
	ensureNamespace(t, cs, c, ns)
	runDeployment(t, cs, ns, "h100-user", "h100-0", nvidia.ResourceGPU, 3)
	runDeployment(t, cs, ns, "mig-user", "a100-mig-0", "nvidia.com/mig-1g.10gb", 2)
	runDeployment(t, cs, ns, "mps-user", "l4-mps-0", nvidia.ResourceGPUShared, 1)
	// A finished Job's pod (kwok completes Job pods) holds nothing.
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "done", Namespace: ns}, Spec: batchv1.JobSpec{
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "done"}}, Spec: gpuPod("karpenter-h100-0", nvidia.ResourceGPU, 8)},
	}}
	job.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
	if _, err := cs.BatchV1().Jobs(ns).Create(ctxT(t), job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPods(t, cs, ns, "app=done", corev1.PodSucceeded)

	inv, err := collect.Run(ctxT(t), collect.Options{Collect: apiOptions(c)})
	if err != nil {
		t.Fatal(err)
	}
	if inv.Source != inventory.SourceAPI || inv.SchemaVersion != inventory.SchemaVersion {
		t.Errorf("source %q schema %q", inv.Source, inv.SchemaVersion)
	}
	type fact struct {
		Product          string
		Count, MemoryMiB int64
		MIG, Sharing     string
		Sources          string
		Alloc, Req, Free int64
		NeedsProbe       bool
	}
	got := map[string]fact{}
	for _, n := range inv.Nodes {
		p := n.Resource(n.PrimaryResource())
		got[n.Name] = fact{n.Product, n.Count, n.MemoryMiB, n.MIG.MIGLayout(), n.Sharing.Strategy + "/" + n.Sharing.Resource,
			strings.Join(n.Sources, ","), p.Allocatable, p.Requested, p.Free, n.NeedsProbe()}
	}
	want := map[string]fact{
		"h100-0":            {"NVIDIA-H100-80GB-HBM3", 8, 81559, "none", "none/", "gfd,nfd", 8, 3, 5, false},
		"a100-mig-0":        {"NVIDIA-A100-SXM4-80GB", 2, 81920, "mixed 1g.10gb=28,2g.20gb=6", "none/", "gfd,nfd", 2, 0, 2, false},
		"a100-mig-single-0": {"NVIDIA-A100-SXM4-40GB", 0, 40960, "single 1g.5gb", "none/", "gfd,nfd", 56, 0, 56, false},
		"l4-timeslice-0":    {"NVIDIA-L4", 4, 23034, "none", "time-slicing/nvidia.com/gpu", "gfd,nfd", 16, 0, 16, false},
		"l4-mps-0":          {"NVIDIA-L4", 4, 23034, "none", "mps/nvidia.com/gpu.shared", "gfd,nfd", 8, 1, 7, false},
		"gke-l4-0":          {"NVIDIA-L4", 4, 23034, "none", "none/", "gke", 4, 0, 4, false},
		"aks-a100-0":        {"", 8, 0, "none", "none/", "aks", 8, 0, 8, true},
		"karpenter-h100-0":  {"h100", 8, 81559, "none", "none/", "karpenter", 8, 0, 8, false},
		"nfd-gpu-0":         {"", 2, 0, "none", "none/", "nfd", 2, 0, 2, true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("inventory facts (-want +got):\n%s", diff)
	}
	migNode := nodeByName(t, inv, "a100-mig-0")
	mig := migNode.Resource("nvidia.com/mig-1g.10gb")
	if mig.Requested != 2 || mig.Free != 26 {
		t.Errorf("MIG 1g.10gb usage %+v, want 2 requested, 26 free", mig)
	}
	if inv.Totals.Nodes != 10 || inv.Totals.GPUNodes != 9 {
		t.Errorf("totals %+v", inv.Totals)
	}

	// kubectl reads the same cluster to the same facts.
	if _, err := exec.LookPath("kubectl"); err == nil {
		kinv, err := collect.Run(ctxT(t), collect.Options{Collect: collect.CollectOptions{
			Source: inventory.SourceKubectl, Kubectl: kube.Kubectl{Path: "kubectl", Args: []string{"--kubeconfig=" + c.KubeconfigPath()}, Timeout: time.Minute},
		}})
		if err != nil {
			t.Fatal(err)
		}
		kinv.Source = inv.Source
		if diff := cmp.Diff(inv, kinv); diff != "" {
			t.Errorf("kubectl inventory differs from the API one (-api +kubectl):\n%s", diff)
		}
	}
}

// With auto, an API that cannot be reached falls back to kubectl and says why.
func TestAutoFallsBackToKubectl(t *testing.T) {
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Skip("kubectl not installed")
	}
	c := cluster(t)
	dead := c.RESTConfig()
	dead.Host = "https://127.0.0.1:1"
	inv, err := collect.Run(ctxT(t), collect.Options{Collect: collect.CollectOptions{
		Source:  inventory.SourceAuto,
		API:     func() (kubernetes.Interface, error) { return kubernetes.NewForConfig(dead) },
		Kubectl: kube.Kubectl{Path: "kubectl", Args: []string{"--kubeconfig=" + c.KubeconfigPath()}, Timeout: time.Minute},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if inv.Source != inventory.SourceKubectl || !strings.Contains(inv.SourceNote, "API failed") || !strings.Contains(inv.SourceNote, "connection refused") {
		t.Errorf("source %q note %q", inv.Source, inv.SourceNote)
	}
	if len(inv.Nodes) != 9 {
		t.Errorf("kubectl fallback found %d GPU nodes, want 9", len(inv.Nodes))
	}
}

func TestUnreachable(t *testing.T) {
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		t.Fatal(err)
	}
	for _, source := range []string{inventory.SourceAPI, inventory.SourceAuto} {
		_, err := collect.Run(ctxT(t), collect.Options{Collect: collect.CollectOptions{
			Source:  source,
			API:     func() (kubernetes.Interface, error) { return kubernetes.NewForConfig(cfg) },
			Kubectl: kube.Kubectl{Path: "kubectl", Args: []string{"--kubeconfig=" + kc}, Timeout: 30 * time.Second},
		}})
		if err == nil || !strings.Contains(err.Error(), inventory.ErrUnreachable.Error()) {
			t.Errorf("source %s: error %v, want it to say the cluster is unreachable", source, err)
		}
	}
}

func probeJobsLeft(t *testing.T, cs kubernetes.Interface) []string {
	t.Helper()
	sel := v1alpha1.LabelManagedBy + "=" + inventory.ManagedByDynamoctl
	var left []string
	jobs, err := cs.BatchV1().Jobs(probeNS).List(ctxT(t), metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs.Items {
		left = append(left, "job/"+j.Name)
	}
	pods, err := cs.CoreV1().Pods(probeNS).List(ctxT(t), metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		left = append(left, "pod/"+p.Name)
	}
	return left
}

// Probes fill in the nodes whose model is unknown; one whose GPUs are all taken cannot be
// scheduled, times out and says why; nothing is left behind either way.
func TestProbes(t *testing.T) {
	c := cluster(t)
	cs := c.Client()
	ensureNamespace(t, cs, c, probeNS)

	opts := collect.Options{Collect: apiOptions(c), Probe: true, ProbeOptions: inventory.ProbeOptions{Namespace: probeNS, Timeout: time.Minute}}
	inv, err := collect.Run(ctxT(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Probes) != 2 {
		t.Fatalf("probes %+v, want one each for aks-a100-0 and nfd-gpu-0", inv.Probes)
	}
	for _, p := range inv.Probes {
		if p.Status != inventory.ProbeOK || len(p.GPUs) != 1 || !strings.HasPrefix(p.Pod, "gpu-probe-") {
			t.Errorf("probe %+v", p)
		}
	}
	// The model and memory come from the probe; the count stays the node's (8 and 2), not the
	// one GPU the probe saw.
	for name, count := range map[string]int64{"aks-a100-0": 8, "nfd-gpu-0": 2} {
		n := nodeByName(t, inv, name)
		if n.Product != "NVIDIA-A100-SXM4-40GB" || n.MemoryMiB != 40960 || n.NeedsProbe() || n.Count != count {
			t.Errorf("%s after probe: product %q memory %d count %d (want %d) sources %v", name, n.Product, n.MemoryMiB, n.Count, count, n.Sources)
		}
	}
	if left := probeJobsLeft(t, cs); len(left) > 0 {
		t.Errorf("left behind after probes: %v", left)
	}

	// Take every GPU of nfd-gpu-0: its probe cannot be scheduled and runs out of time.
	runDeployment(t, cs, "default", "nfd-hog", "nfd-gpu-0", nvidia.ResourceGPU, 2)
	opts.ProbeOptions.Timeout = 3 * time.Second
	start := time.Now()
	inv, err = collect.Run(ctxT(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	var blocked inventory.ProbeResult
	for _, p := range inv.Probes {
		if p.Node == "nfd-gpu-0" {
			blocked = p
		}
	}
	if blocked.Status != inventory.ProbeUnschedulable || !strings.Contains(blocked.Detail, "Insufficient nvidia.com/gpu") {
		t.Errorf("probe of a full node: %+v, want unschedulable with the scheduler's reason", blocked)
	}
	if time.Since(start) < 3*time.Second {
		t.Errorf("the blocked probe returned before its timeout")
	}
	if n := nodeByName(t, inv, "nfd-gpu-0"); !n.NeedsProbe() {
		t.Errorf("a failed probe must not fill facts: %+v", n)
	}
	if left := probeJobsLeft(t, cs); len(left) > 0 {
		t.Errorf("left behind after a timed-out probe: %v", left)
	}
}
