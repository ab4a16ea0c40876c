package devcluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/dynamo-infra/dynamo-infra/internal/devcluster"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster/devclustertest"
	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
	"github.com/dynamo-infra/dynamo-infra/internal/simnode"
	"github.com/dynamo-infra/dynamo-infra/internal/supervise"
)

// The package's scheduling tests share one cluster with the profile, started on first use
// and stopped after the last test.
const sharedProfile = "h100=2,cpu=1"

var shared struct {
	once sync.Once
	c    *devcluster.Cluster
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.c != nil {
		if err := shared.c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop shared cluster:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func sharedCluster(t *testing.T) *devcluster.Cluster {
	t.Helper()
	shared.once.Do(func() {
		p, err := simnode.ParseProfile(sharedProfile)
		if err != nil {
			shared.err = err
			return
		}
		shared.c, shared.err = devcluster.Start(context.Background(), devcluster.Options{Profile: p})
	})
	if shared.err != nil {
		t.Fatalf("start shared cluster: %v", shared.err)
	}
	return shared.c
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestClusterUp(t *testing.T) {
	c := sharedCluster(t)
	ctx := testContext(t)

	v, err := c.Client().Discovery().ServerVersion()
	if err != nil {
		t.Fatalf("/version: %v", err)
	}
	if v.GitVersion != "v1.36.3" {
		t.Errorf("/version gitVersion = %q, want v1.36.3", v.GitVersion)
	}

	// Other tests may add nodes; the profile's own are the h100 and cpu kinds.
	list, err := c.Client().CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: simnode.LabelNodeKind + " in (h100,cpu)"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range list.Items {
		names = append(names, n.Name)
		if !devcluster.NodeReady(&n) {
			t.Errorf("node %s not Ready: %+v", n.Name, n.Status.Conditions)
		}
		if n.Labels[simnode.LabelNodeKind] == "h100" {
			if got := n.Labels[nvidia.LabelGPUProduct]; got != "NVIDIA-H100-80GB-HBM3" {
				t.Errorf("%s gpu.product = %q", n.Name, got)
			}
			if q := n.Status.Allocatable[nvidia.ResourceGPU]; q.Value() != 8 {
				t.Errorf("%s allocatable nvidia.com/gpu = %s, want 8", n.Name, q.String())
			}
		}
	}
	slices.Sort(names)
	if want := []string{"cpu-0", "h100-0", "h100-1"}; !slices.Equal(names, want) {
		t.Errorf("nodes = %v, want %v", names, want)
	}

	// The written kubeconfig works for a separate client and for kubectl.
	cfg, err := clientcmd.LoadFromFile(c.KubeconfigPath())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != devcluster.ContextName {
		t.Errorf("current context %q, want %q", cfg.CurrentContext, devcluster.ContextName)
	}
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Log("kubectl not installed; checked the kubeconfig with client-go only")
		return
	}
	kctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(kctx, kubectl, "--kubeconfig", c.KubeconfigPath(), "get", "nodes", "-l", simnode.LabelNodeKind+"=h100", "-o", "name").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl get nodes: %v\n%s", err, out)
	}
	if got := strings.Fields(string(out)); !slices.Equal(got, []string{"node/h100-0", "node/h100-1"}) {
		t.Errorf("kubectl get nodes = %q", got)
	}
}

func newNamespace(t *testing.T, c *devcluster.Cluster, name string) {
	t.Helper()
	ctx := testContext(t)
	_, err := c.Client().CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Client().CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	if err := c.WaitDefaultServiceAccount(ctx, name); err != nil {
		t.Fatal(err)
	}
}

func gpuPodSpec(resources corev1.ResourceList) corev1.PodSpec {
	return corev1.PodSpec{
		Tolerations: []corev1.Toleration{simnode.KwokToleration()},
		Containers: []corev1.Container{{
			Name:      "main",
			Image:     "registry.example/worker:1",
			Resources: corev1.ResourceRequirements{Limits: resources},
		}},
	}
}

// Three pods of 8 GPUs on two 8-GPU nodes: the real scheduler runs two and leaves one Pending.
func TestGPUDeploymentScheduling(t *testing.T) {
	c := sharedCluster(t)
	ctx := testContext(t)
	ns := "gpu-scheduling"
	newNamespace(t, c, ns)
	labels := map[string]string{"app": "gpu-demo"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "gpu-demo", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       gpuPodSpec(corev1.ResourceList{nvidia.ResourceGPU: resource.MustParse("8")}),
			},
		},
	}
	if _, err := c.Client().AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Client().AppsV1().Deployments(ns).Delete(context.Background(), dep.Name, metav1.DeleteOptions{})
	})

	var running, pending []corev1.Pod
	err := wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		pods, err := c.Client().CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=gpu-demo"})
		if err != nil {
			return false, nil
		}
		running, pending = nil, nil
		for _, p := range pods.Items {
			switch {
			case p.Status.Phase == corev1.PodRunning:
				running = append(running, p)
			case p.Status.Phase == corev1.PodPending && p.Spec.NodeName == "" && unschedulable(&p):
				pending = append(pending, p)
			}
		}
		return len(running) == 2 && len(pending) == 1, nil
	})
	if err != nil {
		t.Fatalf("want 2 Running and 1 unschedulable pod, got %d Running, %d Pending: %v", len(running), len(pending), err)
	}
	nodes := []string{running[0].Spec.NodeName, running[1].Spec.NodeName}
	slices.Sort(nodes)
	if !slices.Equal(nodes, []string{"h100-0", "h100-1"}) {
		t.Errorf("running pods on %v, want one on each H100 node", nodes)
	}

	var msg string
	err = wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		evs, err := c.Client().CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "reason=FailedScheduling,involvedObject.name=" + pending[0].Name})
		if err != nil || len(evs.Items) == 0 {
			return false, nil
		}
		msg = evs.Items[0].Message
		return true, nil
	})
	if err != nil {
		t.Fatalf("no FailedScheduling event for %s: %v", pending[0].Name, err)
	}
	if !strings.Contains(msg, "Insufficient nvidia.com/gpu") {
		t.Errorf("FailedScheduling message %q does not say Insufficient nvidia.com/gpu", msg)
	}
}

func unschedulable(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return true
		}
	}
	return false
}

// A MIG request can only land on the node that advertises that MIG profile.
func TestMIGPlacement(t *testing.T) {
	c := sharedCluster(t)
	ctx := testContext(t)
	added, err := c.AddNodes(ctx, simnode.Profile{{Kind: "a100-mig", Count: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(added, []string{"a100-mig-0"}) {
		t.Fatalf("AddNodes = %v, want [a100-mig-0]", added)
	}
	ns := "mig-placement"
	newNamespace(t, c, ns)
	for i := range 3 {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("mig-%d", i), Namespace: ns},
			Spec:       gpuPodSpec(corev1.ResourceList{"nvidia.com/mig-1g.10gb": resource.MustParse("1")}),
		}
		if _, err := c.Client().CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	err = wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		pods, err := c.Client().CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		for _, p := range pods.Items {
			if p.Status.Phase != corev1.PodRunning {
				return false, nil
			}
			if p.Spec.NodeName != "a100-mig-0" {
				return false, fmt.Errorf("pod %s with a MIG request landed on %s", p.Name, p.Spec.NodeName)
			}
		}
		return len(pods.Items) == 3, nil
	})
	if err != nil {
		t.Fatalf("MIG pods not all Running on a100-mig-0: %v", err)
	}
}

// fakeBinDir fills bin with links to the real binaries and the LWS CRD, except the
// controller-manager, which is the shell script given.
func fakeBinDir(t *testing.T, real, bin, controllerManager string) {
	t.Helper()
	for _, b := range append(slices.Clone(devcluster.Binaries), devcluster.LWSCRDFile) {
		if b == devcluster.BinControllerManager {
			if err := os.WriteFile(filepath.Join(bin, b), []byte(controllerManager), 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.Symlink(filepath.Join(real, b), filepath.Join(bin, b)); err != nil {
			t.Fatal(err)
		}
	}
}

// assertNothingLeft fails the test for every recorded component still alive, the API server port
// still taken, or the cluster directory still there.
func assertNothingLeft(t *testing.T, s devcluster.State) {
	t.Helper()
	// Every binary ran, the LeaderWorkerSet controller only in clusters started with it.
	if n := len(s.Components); n != len(devcluster.Binaries) && n != len(devcluster.Binaries)-1 {
		t.Fatalf("state records %d components, want %d (or %d without LWS)", n, len(devcluster.Binaries), len(devcluster.Binaries)-1)
	}
	for _, comp := range s.Components {
		if supervise.Alive(comp.PID) {
			t.Errorf("%s (pid %d) still running", comp.Name, comp.PID)
		}
	}
	l, err := net.Listen("tcp", strings.TrimPrefix(s.Server, "https://"))
	if err != nil {
		t.Errorf("API server port still taken: %v", err)
	} else {
		l.Close()
	}
	if _, err := os.Stat(s.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cluster dir %s still exists (err %v)", s.Dir, err)
	}
}

func TestStopLeavesNothingAndNodesFile(t *testing.T) {
	extra, err := devcluster.DecodeNodes(strings.NewReader(`apiVersion: v1
kind: Node
metadata:
  name: custom-b200-0
  labels: {nvidia.com/gpu.product: NVIDIA-B200, nvidia.com/gpu.count: "8"}
status:
  allocatable: {nvidia.com/gpu: "8", cpu: "64", memory: 512Gi, pods: "110"}
  capacity: {nvidia.com/gpu: "8", cpu: "64", memory: 512Gi, pods: "110"}
`), "inline")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := simnode.ParseProfile("cpu=1")
	// With LWS: every component must stop, the LeaderWorkerSet controller too.
	c, err := devcluster.Start(context.Background(), devcluster.Options{Profile: p, ExtraNodes: extra, LWS: true})
	if err != nil {
		t.Fatal(err)
	}
	s := c.State()
	defer func() {
		if err := c.Stop(); err != nil {
			t.Errorf("second Stop: %v", err)
		}
	}()
	n, err := c.Client().CoreV1().Nodes().Get(testContext(t), "custom-b200-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !devcluster.NodeReady(n) || n.Labels["nvidia.com/gpu.product"] != "NVIDIA-B200" {
		t.Errorf("user node: ready=%v labels=%v", devcluster.NodeReady(n), n.Labels)
	}
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	assertNothingLeft(t, s)
}

// A test that fails after starting a cluster still stops it: run one in a subprocess.
func TestFailingTestLeavesNothing(t *testing.T) {
	stateFile := filepath.Join(t.TempDir(), "state.json")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperFailsOnPurpose$", "-test.v")
	cmd.Env = append(os.Environ(), "DEVCLUSTER_HELPER_STATE="+stateFile)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !strings.Contains(string(out), "failing on purpose") {
		t.Fatalf("helper test did not fail as planned: %v\n%s", err, out)
	}
	b, err := os.ReadFile(stateFile)
	if err != nil {
		t.Fatalf("helper wrote no state: %v\n%s", err, out)
	}
	var s devcluster.State
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, s)
}

func TestHelperFailsOnPurpose(t *testing.T) {
	out := os.Getenv("DEVCLUSTER_HELPER_STATE")
	if out == "" {
		t.Skip("run by TestFailingTestLeavesNothing")
	}
	c := devclustertest.Start(t, "cpu=1")
	b, err := json.Marshal(c.State())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, b, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Fatal("failing on purpose")
}

// A component that dies at start makes Start fail with its log named, and nothing stays behind.
func TestStartFailureCleansUp(t *testing.T) {
	real, err := devcluster.FindBinDir()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	fakeBinDir(t, real, bin, "#!/bin/sh\necho 'simulated crash' >&2\nexit 3\n")
	dir := filepath.Join(t.TempDir(), "cluster")
	p, _ := simnode.ParseProfile("cpu=1")
	c, err := devcluster.Start(context.Background(), devcluster.Options{BinDir: bin, Dir: dir, Profile: p, StartTimeout: time.Minute})
	if err == nil {
		t.Fatalf("Start succeeded with a crashing controller-manager (stop: %v)", c.Stop())
	}
	if !strings.Contains(err.Error(), "kube-controller-manager exited") || !strings.Contains(err.Error(), "kube-controller-manager.log") ||
		!strings.Contains(err.Error(), "| simulated crash") {
		t.Errorf("error %q does not name the crashed component, its log and its last lines", err)
	}
	logText, _ := os.ReadFile(filepath.Join(dir, "logs", "kube-controller-manager.log"))
	if !strings.Contains(string(logText), "simulated crash") {
		t.Errorf("log does not hold the component's output: %q", logText)
	}
	// The components that did start (etcd, kube-apiserver) were stopped.
	for _, name := range []string{"etcd", "kube-apiserver"} {
		if out, _ := exec.Command("pgrep", "-f", filepath.Join(bin, name)).Output(); len(out) > 0 {
			t.Errorf("%s still running: pids %s", name, out)
		}
	}
}

// A component that loses its port to another process (picked free, taken before the bind) makes
// Start retry with new ports, three attempts in all, and the error says so.
func TestStartRetriesAPortRace(t *testing.T) {
	real, err := devcluster.FindBinDir()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	count := filepath.Join(t.TempDir(), "starts")
	// One JSON line as kwok logs it, the reason after the 300 characters an error message shows.
	line := `{"level":"ERROR","source":"` + strings.Repeat("x", 320) + `","msg":"Failed to run server","err":"listen tcp 127.0.0.1:4242: bind: address already in use"}`
	fakeBinDir(t, real, bin, "#!/bin/sh\necho x >> "+count+"\necho '"+line+"' >&2\nexit 1\n")
	p, _ := simnode.ParseProfile("cpu=1")
	c, err := devcluster.Start(context.Background(), devcluster.Options{BinDir: bin, Profile: p, StartTimeout: time.Minute})
	if err == nil {
		t.Fatalf("Start succeeded (stop: %v)", c.Stop())
	}
	if !strings.Contains(err.Error(), "a port was taken") || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("error %q does not say a port was taken", err)
	}
	starts, _ := os.ReadFile(count)
	if n := strings.Count(string(starts), "x"); n != 3 {
		t.Errorf("the controller-manager was started %d times, want 3 (two retries)", n)
	}
}

// A pod written for a real cluster (no kwok toleration) still lands on a simulated node: the
// cluster's admission adds the toleration.
func TestPodsTolerateKwokTaintByDefault(t *testing.T) {
	c := sharedCluster(t)
	ctx := testContext(t)
	ns := "no-toleration"
	newNamespace(t, c, ns)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "plain", Namespace: ns},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "registry.example/app:1"}}},
	}
	if _, err := c.Client().CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		p, err := c.Client().CoreV1().Pods(ns).Get(ctx, "plain", metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning, nil
	})
	if err != nil {
		t.Fatalf("a pod without the kwok toleration did not run: %v", err)
	}
	p, _ := c.Client().CoreV1().Pods(ns).Get(ctx, "plain", metav1.GetOptions{})
	if !slices.ContainsFunc(p.Spec.Tolerations, func(tol corev1.Toleration) bool { return tol.Key == simnode.TaintKwokNode }) {
		t.Errorf("tolerations %v lack the kwok toleration", p.Spec.Tolerations)
	}
}

// An image from a ".invalid" registry fails to pull as on a real node: the pod stays Pending,
// its container waits in ErrImagePull and a Warning event says why — and it stays that way
// (the stage does not fight kwok's pod-ready stage). A pod beside it with a normal image runs.
func TestImagePullFailureIsSimulated(t *testing.T) {
	c := sharedCluster(t)
	ctx := testContext(t)
	ns := "image-pull"
	newNamespace(t, c, ns)
	for name, image := range map[string]string{"bad": "registry" + devcluster.InvalidRegistrySuffix + "/app:1", "good": "registry.example/app:1"} {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: corev1.PodSpec{Containers: []corev1.Container{
				{Name: "main", Image: image}, {Name: "sidecar", Image: "registry.example/sidecar:1"}}},
		}
		if _, err := c.Client().CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pods := c.Client().CoreV1().Pods(ns)
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		good, err1 := pods.Get(ctx, "good", metav1.GetOptions{})
		bad, err2 := pods.Get(ctx, "bad", metav1.GetOptions{})
		return err1 == nil && err2 == nil && good.Status.Phase == corev1.PodRunning && len(bad.Status.ContainerStatuses) == 2, nil
	})
	if err != nil {
		t.Fatalf("pods did not settle: %v", err)
	}
	settled, err := pods.Get(ctx, "bad", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // long enough for a competing stage, or a patch loop, to show
	bad, err := pods.Get(ctx, "bad", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if bad.ResourceVersion != settled.ResourceVersion {
		t.Errorf("the pod kept changing (resourceVersion %s → %s): a stage is still playing on it", settled.ResourceVersion, bad.ResourceVersion)
	}
	if bad.Status.Phase != corev1.PodPending {
		t.Errorf("phase %s, want Pending", bad.Status.Phase)
	}
	for _, cs := range bad.Status.ContainerStatuses {
		switch w := cs.State.Waiting; cs.Name {
		case "main":
			if w == nil || w.Reason != "ErrImagePull" || cs.Ready {
				t.Errorf("container main: %+v, want waiting in ErrImagePull", cs.State)
			}
		case "sidecar": // its image pulls: it runs
			if cs.State.Running == nil || !cs.Ready {
				t.Errorf("container sidecar: %+v, want running", cs.State)
			}
		}
	}
	for _, cond := range bad.Status.Conditions {
		if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
			t.Error("the pod with an unpullable image is Ready")
		}
	}
	events, err := c.Client().CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=bad"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(events.Items, func(e corev1.Event) bool {
		return e.Type == corev1.EventTypeWarning && e.Reason == "Failed" && strings.Contains(e.Message, ".invalid")
	}) {
		t.Errorf("no Warning Failed event for the pull: %v", events.Items)
	}
}
