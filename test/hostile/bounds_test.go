package hostile

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/controller"
	"github.com/dynamo-infra/dynamo-infra/internal/controller/controllertest"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster/devclustertest"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
	"github.com/dynamo-infra/dynamo-infra/test/clitest"
)

// Bounds of what one graph may cost the operator and the CLI (issue 26).
const (
	// operatorRSS bounds the operator's peak resident memory through the whole test: it ran at
	// 50–140 MiB in the benchmarks (docs/benchmarks.md), and died of a multi-GiB allocation on a
	// 2³¹−1-replica graph before.
	operatorRSS = 300 << 20
	// cliRSS bounds a plan, explain or preflight run on such a graph (24 GB seen before).
	cliRSS = 400 << 20
)

// hugeGraph is a frontend and a one-GPU worker with replicas workers; wait sets the
// wait-for-capacity annotation to value.
func hugeGraph(ns, name string, replicas int32, wait string) *v1alpha1.DynamoGraphDeployment {
	g := graphOf(ns, name, "Frontend", "Worker")
	w := g.Spec.Services["Worker"]
	w.ComponentType = v1alpha1.ComponentWorker
	w.Replicas = &replicas
	w.Resources = &v1alpha1.Resources{Limits: &v1alpha1.ResourceItem{GPU: "1"}}
	if wait != "" {
		g.Annotations = map[string]string{v1alpha1.AnnotationWaitForCapacity: wait}
	}
	return g
}

// The CRD refuses a graph beyond Kubernetes' own limits; one stored before those maxima (an
// older CRD) costs the operator what the cluster holds, not what the graph asks for: it stays up
// (with and without wait-for-capacity), its memory bounded, every other graph served; and the
// CLI plans, explains and checks such graphs in bounded memory or refuses them at the flag.
func TestGraphsBeyondTheCluster(t *testing.T) {
	c := devclustertest.Start(t, "h100=2,cpu=2")
	cfg := c.RESTConfig()
	kc := c.KubeconfigPath()
	devclustertest.InstallCRDs(t, cfg, testkit.CRDPath(), testkit.WorkerMetadataCRDPath())
	cl, err := client.New(cfg, client.Options{Scheme: controller.Scheme()})
	must(t, err)
	ctx := t.Context()
	cs := c.Client()
	for _, ns := range []string{"bounds", "others"} {
		_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		must(t, err)
	}
	// What a multi-tenant cluster bounds pods with: the Deployment of 2³¹−1 replicas the operator
	// applies for a graph that does not wait makes no more than these.
	_, err = cs.CoreV1().ResourceQuotas("bounds").Create(ctx, &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "pods"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("20")}}}, metav1.CreateOptions{})
	must(t, err)

	const huge = int32(2147483647)
	if err := cl.Create(ctx, hugeGraph("bounds", "refused", huge, "")); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "150000") {
		t.Fatalf("create a 2³¹−1-replica graph: %v, want refused by the CRD's maximum", err)
	}
	stripMaxima(t, cfg)
	testkit.Eventually(t, "the CRD without maxima served", time.Minute, func(ctx context.Context) (bool, error) {
		err := cl.Create(ctx, hugeGraph("bounds", "huge-wait", huge, "true"), client.DryRunAll)
		return err == nil, err
	})

	op := startOperatorProcess(t, kc)
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		list := &v1alpha1.DynamoGraphDeploymentList{}
		if err := cl.List(context.Background(), list); err == nil {
			for _, g := range list.Items {
				t.Logf("%s/%s: %+v", g.Namespace, g.Name, g.Status.Conditions)
			}
		}
		pods, err := cs.CoreV1().Pods("bounds").List(context.Background(), metav1.ListOptions{})
		if err == nil {
			for _, p := range pods.Items {
				t.Logf("pod %s on %q: %s %+v", p.Name, p.Spec.NodeName, p.Status.Phase, p.Status.Conditions)
			}
		}
		evs, err := cs.CoreV1().Events("bounds").List(context.Background(), metav1.ListOptions{})
		if err == nil {
			for _, e := range evs.Items {
				t.Logf("event %s %s: %s", e.InvolvedObject.Name, e.Reason, e.Message)
			}
		}
	})
	// A graph of the namespace running first: the operator learns from its pod how the
	// namespace admits pods (the dev cluster's kwok toleration), so that it can plan the next.
	must(t, cl.Create(ctx, graphOf("bounds", "first")))
	waitReason(t, cl, "bounds", "first", controller.ReasonAllResourcesReady, "")
	must(t, cl.Create(ctx, hugeGraph("bounds", "huge-wait", huge, "true")))
	must(t, cl.Create(ctx, graphOf("others", "ok")))

	schedulable := func(name string) *metav1.Condition {
		g := &v1alpha1.DynamoGraphDeployment{}
		if err := cl.Get(ctx, client.ObjectKey{Namespace: "bounds", Name: name}, g); err != nil {
			return nil
		}
		return meta.FindStatusCondition(g.Status.Conditions, controller.ConditionSchedulable)
	}
	waitReason(t, cl, "bounds", "huge-wait", controller.ReasonWaitingForCapacity, "no placement exists")
	if c := schedulable("huge-wait"); c == nil || c.Reason != controller.ReasonDoesNotFit {
		t.Errorf("huge-wait Schedulable: %+v, want DoesNotFit", c)
	}
	// A worker's Deployment is named by its generation (<graph>-worker-<worker hash>).
	workerOf := func(name string) string {
		return name + "-worker-" + graph.WorkerHash(hugeGraph("bounds", name, huge, ""))
	}
	err = cl.Get(ctx, client.ObjectKey{Namespace: "bounds", Name: workerOf("huge-wait")}, &appsv1.Deployment{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("the waiting graph's worker Deployment: %v, want none (held)", err)
	}
	// Without the annotation the change is applied all the same, and said not to fit (planned
	// before apply: the operator has read the cluster by now).
	must(t, cl.Create(ctx, hugeGraph("bounds", "huge", huge, "")))
	testkit.Eventually(t, "huge planned and applied", 90*time.Second, func(ctx context.Context) (bool, error) {
		d := &appsv1.Deployment{}
		if err := cl.Get(ctx, client.ObjectKey{Namespace: "bounds", Name: workerOf("huge")}, d); err != nil {
			return false, err
		}
		c := schedulable("huge")
		return c != nil && c.Reason == controller.ReasonDoesNotFit && *d.Spec.Replicas == huge, fmt.Errorf("Schedulable %+v", c)
	})
	// The annotation reads as Kubernetes reads booleans: TRUE holds like true; " yes" holds
	// nothing and says so in a Warning event (both released a held change silently before).
	must(t, cl.Create(ctx, hugeGraph("bounds", "huge-upper", huge, "TRUE")))
	must(t, cl.Create(ctx, hugeGraph("bounds", "huge-yes", huge, " yes")))
	waitReason(t, cl, "bounds", "huge-upper", controller.ReasonWaitingForCapacity, "no placement exists")
	testkit.Eventually(t, "huge-yes applied with a warning", 90*time.Second, func(ctx context.Context) (bool, error) {
		if err := cl.Get(ctx, client.ObjectKey{Namespace: "bounds", Name: workerOf("huge-yes")}, &appsv1.Deployment{}); err != nil {
			return false, err
		}
		evs, err := cs.EventsV1().Events("bounds").List(ctx, metav1.ListOptions{FieldSelector: "regarding.name=huge-yes"})
		if err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			if e.Reason == controller.ReasonInvalidAnnotation && strings.Contains(e.Note, `" yes" is not a boolean`) {
				return true, nil
			}
		}
		return false, fmt.Errorf("%d events, none InvalidAnnotation", len(evs.Items))
	})
	waitReason(t, cl, "others", "ok", controller.ReasonAllResourcesReady, "")
	// A graph created after them is served as quickly as any.
	must(t, cl.Create(ctx, graphOf("others", "later")))
	waitReason(t, cl, "others", "later", controller.ReasonAllResourcesReady, "")

	select {
	case <-op.Exited:
		t.Fatalf("the operator exited: %v", op.Err)
	default:
	}
	hwm := clitest.VmHWM(op.Cmd.Process.Pid)
	t.Logf("operator peak RSS (VmHWM): %.1f MiB", float64(hwm)/(1<<20))
	if hwm > operatorRSS {
		t.Errorf("operator peak RSS %d MiB, want at most %d MiB", hwm>>20, operatorRSS>>20)
	}

	multi := graphOf("others", "multi", "Frontend", "Decode")
	multi.Spec.Services["Decode"].ComponentType = v1alpha1.ComponentWorker
	multi.Spec.Services["Decode"].Multinode = &v1alpha1.MultinodeSpec{NodeCount: 2}
	multi.Spec.Services["Decode"].Resources = &v1alpha1.Resources{Limits: &v1alpha1.ResourceItem{GPU: "1"}}
	must(t, cl.Create(ctx, multi))
	waitReason(t, cl, "others", "multi", controller.ReasonMultinodeUnavailable, "")

	// The CLI on the same graphs: a plan of the stored graph is bounded; files and flags beyond
	// the bounds are refused before anything is read.
	file := filepath.Join(t.TempDir(), "huge.yaml")
	must(t, os.WriteFile(file, []byte(manifest("huge", worker("Worker", "replicas: 2147483647", "resources: {limits: {gpu: \"1\"}}"))), 0o600))
	small := filepath.Join(t.TempDir(), "small.yaml")
	must(t, os.WriteFile(small, []byte(manifest("small", worker("Worker", "resources: {limits: {gpu: \"1\"}}"))), 0o600))
	env := []string{"KUBECONFIG=" + kc}
	for _, tc := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"plan", "dgd/huge", "-n", "bounds"}, 1, "does not fit"},
		{[]string{"explain", "dgd/huge", "-n", "bounds"}, 1, "not Ready"},
		{[]string{"plan", "-f", file}, 2, "150000"},
		{[]string{"explain", "-f", file}, 2, "150000"},
		{[]string{"preflight", "-f", file}, 2, "150000"},
		{[]string{"plan", "-f", small, "--replicas", "Worker=2147483647"}, 2, "at most 150000"},
		{[]string{"plan", "-f", small, "--add-nodes", "h100=1000000"}, 2, "at most 5000"},
		// A namespace that does not exist is said, not blamed on the nodes' taints.
		{[]string{"plan", "-f", small, "-n", "nope"}, 1, `namespace "nope" does not exist`},
		// A multi-node graph on a cluster without LeaderWorkerSet: both name what is missing.
		{[]string{"plan", "dgd/multi", "-n", "others"}, 0, "which this cluster does not serve"},
		{[]string{"explain", "dgd/multi", "-n", "others"}, 1, "install LeaderWorkerSet"},
	} {
		r := clitest.Run(t, dynamoctl, 2*time.Minute, env, tc.args...)
		name := strings.Join(tc.args, " ")
		if r.Code != tc.code || !strings.Contains(r.Stdout+r.Stderr, tc.says) {
			t.Errorf("%s: exit %d, want %d saying %q\n%s%s", name, r.Code, tc.code, tc.says, r.Stdout, r.Stderr)
		}
		if r.MaxRSS > cliRSS {
			t.Errorf("%s: peak RSS %d MiB, want at most %d MiB", name, r.MaxRSS>>20, cliRSS>>20)
		}
		t.Logf("%s: exit %d in %s, peak RSS %.1f MiB", name, r.Code, r.Took.Round(time.Millisecond), float64(r.MaxRSS)/(1<<20))
	}

	// get dgd -w watches until Ctrl-C: it exited 1 once its request timeout (30 s, or 0) ended
	// the watch. Here a 2 s timeout, and a change 6 s in.
	w := exec.Command(dynamoctl, "get", "dgd", "-n", "others", "-w", "--request-timeout", "2s")
	w.Env = append(os.Environ(), env...)
	watcher := clitest.StartProcess(t, "get -w", w)
	testkit.Eventually(t, "the table", 30*time.Second, func(context.Context) (bool, error) {
		return strings.Count(watcher.Logs.String(), "later ") == 1, fmt.Errorf("%s", watcher.Logs.String())
	})
	time.Sleep(6 * time.Second)
	g := &v1alpha1.DynamoGraphDeployment{}
	must(t, cl.Get(ctx, client.ObjectKey{Namespace: "others", Name: "later"}, g))
	g.Labels = map[string]string{"touched": "yes"}
	must(t, cl.Update(ctx, g))
	testkit.Eventually(t, "the change printed", 30*time.Second, func(context.Context) (bool, error) {
		return strings.Count(watcher.Logs.String(), "later ") >= 2, fmt.Errorf("%s", watcher.Logs.String())
	})
	if !watcher.Stop(10 * time.Second) {
		t.Fatal("get -w ignored SIGINT")
	}
	if watcher.Err != nil {
		t.Errorf("get -w after Ctrl-C: %v, want exit 0\n%s", watcher.Err, watcher.Logs.String())
	}
}

// stripMaxima makes the graph CRD admit what it did before issue 26 (e90b405): no maximum on
// replicas or nodeCount, no bound on their product — as on a cluster whose CRD was not upgraded.
func stripMaxima(t *testing.T, cfg *rest.Config) {
	t.Helper()
	ax, err := apiextensions.NewForConfig(cfg)
	must(t, err)
	crds := ax.ApiextensionsV1().CustomResourceDefinitions()
	crd, err := crds.Get(t.Context(), "dynamographdeployments.nvidia.com", metav1.GetOptions{})
	must(t, err)
	svc := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["services"].AdditionalProperties.Schema
	replicas, multinode := svc.Properties["replicas"], svc.Properties["multinode"]
	nodeCount := multinode.Properties["nodeCount"]
	if replicas.Maximum == nil || nodeCount.Maximum == nil {
		t.Fatal("the CRD has no maximum on replicas or nodeCount to strip")
	}
	replicas.Maximum, nodeCount.Maximum = nil, nil
	multinode.Properties["nodeCount"] = nodeCount
	svc.Properties["replicas"], svc.Properties["multinode"] = replicas, multinode
	var rules apiextensionsv1.ValidationRules
	for _, r := range svc.XValidations {
		if !strings.Contains(r.Rule, "150000") {
			rules = append(rules, r)
		}
	}
	svc.XValidations = rules
	_, err = crds.Update(t.Context(), crd, metav1.UpdateOptions{})
	must(t, err)
}

// startOperatorProcess runs the operator binary against kubeconfig until the test ends.
func startOperatorProcess(t *testing.T, kubeconfig string) *clitest.Process {
	t.Helper()
	bin, err := clitest.BuildOperator(t.TempDir())
	must(t, err)
	return clitest.StartProcess(t, "operator", exec.Command(bin, "--kubeconfig", kubeconfig, "--metrics-bind-address", "0",
		"--health-probe-bind-address", "0", "--capacity-refresh", controllertest.CapacityRefresh.String(),
		"--nats-address", controllertest.RenderConfig.NATSAddress, "--etcd-address", controllertest.RenderConfig.EtcdAddress))
}
