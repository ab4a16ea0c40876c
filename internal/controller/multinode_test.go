package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	lwsv1 "sigs.k8s.io/lws/api/leaderworkerset/v1"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/controller"
	"github.com/dynamo-infra/dynamo-infra/internal/controller/controllertest"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster/devclustertest"
	"github.com/dynamo-infra/dynamo-infra/internal/diagnose"
	"github.com/dynamo-infra/dynamo-infra/internal/explain"
	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
	"github.com/dynamo-infra/dynamo-infra/test/clitest"
)

// multinodeGraph is a disaggregated graph whose prefill and decode each span 2 nodes × 8 GPUs
// (tensor parallelism 16), for engine (vllm or sglang) with its parallelism flag. The graph
// creates a claim it does not mount (the dev cluster binds no volumes): it must outlive the graph.
func multinodeGraph(name, engine, tpFlag string) string {
	worker := func(service, sub string) string {
		return fmt.Sprintf(`    %s:
      componentType: worker
      subComponentType: %s
      multinode: {nodeCount: 2}
      resources: {limits: {gpu: "8"}}
      extraPodSpec:
        mainContainer:
          image: registry.example/%s-runtime:1
          command: [python3, -m, dynamo.%s]
          args: [--model, /models/llama-70b, %s, "16"]
`, service, sub, engine, engine, tpFlag)
	}
	return fmt.Sprintf(`apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeployment
metadata: {name: %s, namespace: default}
spec:
  backendFramework: %s
  pvcs:
  - {name: %s-models, create: true, storageClass: standard, size: 1Gi, volumeAccessMode: ReadWriteMany}
  services:
    Frontend:
      componentType: frontend
      extraPodSpec: {mainContainer: {image: registry.example/frontend:1}}
`, name, engine, name) + worker("Prefill", "prefill") + worker("Decode", "decode")
}

// groupPods lists the pods the LeaderWorkerSet controller made for a service, by the labels our
// templates carry.
func groupPods(ctx context.Context, cl client.Client, graph, service string) ([]corev1.Pod, error) {
	pods := &corev1.PodList{}
	err := cl.List(ctx, pods, client.InNamespace("default"), client.MatchingLabels{
		v1alpha1.LabelGraphDeploymentName: graph, v1alpha1.LabelComponent: service})
	return pods.Items, err
}

func running(pods []corev1.Pod) int {
	n := 0
	for _, p := range pods {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			n++
		}
	}
	return n
}

func mainOf(p *corev1.Pod) *corev1.Container {
	for i := range p.Spec.Containers {
		if p.Spec.Containers[i].Name == v1alpha1.MainContainerName {
			return &p.Spec.Containers[i]
		}
	}
	return nil
}

func envOf(c *corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// On the simulated cluster with the real LeaderWorkerSet controller: vLLM and SGLang
// disaggregated graphs with 2-node prefill and decode become Ready, every leader and worker on
// a node of its own, each with its backend's launch and LWS's addresses; a converged resync
// writes nothing; an edit of the args rolls the groups; a scale-up beyond the free GPU nodes
// makes the graph Ready=False with the scheduler's reason; deleting the graph removes the
// groups and keeps the claim.
func TestMultinodeGraphs(t *testing.T) {
	c, cl := controllertest.Setup(t, "h100=4,cpu=1", devclustertest.WithLWS)
	ctx := context.Background()
	lwsGone := func(name string) {
		t.Helper()
		eventually(t, "LeaderWorkerSet "+name+" deleted", time.Minute, func(ctx context.Context) (bool, error) {
			err := cl.Get(ctx, types.NamespacedName{Namespace: "default", Name: name}, &lwsv1.LeaderWorkerSet{})
			return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
		})
	}
	// Four GPU pods per graph, Running, one per H100 node.
	spread := func(graph string) map[string][]corev1.Pod {
		t.Helper()
		out := map[string][]corev1.Pod{}
		nodes := map[string]string{}
		for _, service := range []string{"Prefill", "Decode"} {
			pods, err := groupPods(ctx, cl, graph, service)
			if err != nil {
				t.Fatal(err)
			}
			if len(pods) != 2 || running(pods) != 2 {
				t.Fatalf("%s: %d pods, %d running, want 2 (a leader and a worker)", service, len(pods), running(pods))
			}
			for _, p := range pods {
				if other, taken := nodes[p.Spec.NodeName]; taken {
					t.Errorf("%s and %s share node %s", p.Name, other, p.Spec.NodeName)
				}
				nodes[p.Spec.NodeName] = p.Name
			}
			out[service] = pods
		}
		return out
	}
	ready := func(key client.ObjectKey, what string) {
		t.Helper()
		waitForGraph(t, cl, key, what, 2*time.Minute, func(d *v1alpha1.DynamoGraphDeployment, cond *metav1.Condition) (bool, error) {
			return cond != nil && cond.Status == metav1.ConditionTrue && d.Status.ObservedGeneration == d.Generation, fmt.Errorf("condition %+v", cond)
		})
	}

	t.Run("vllm", func(t *testing.T) {
		dgd := controllertest.CreateGraph(t, cl, multinodeGraph("vmn", "vllm", "--tensor-parallel-size"))
		key := client.ObjectKeyFromObject(dgd)
		ready(key, "vLLM graph Ready")
		got := &v1alpha1.DynamoGraphDeployment{}
		if err := cl.Get(ctx, key, got); err != nil {
			t.Fatal(err)
		}
		// Each worker's LeaderWorkerSet is named by its generation: <graph>-<service>-<hash>-0.
		rg := resolvedGraph(got)
		if s := got.Status.Services["Decode"]; s.ComponentKind != "LeaderWorkerSet" || s.ComponentName != rg.Component("Decode").WorkloadName || s.ReadyReplicas != 1 {
			t.Errorf("Decode status %+v", s)
		}
		for service, pods := range spread("vmn") {
			for i := range pods {
				p := &pods[i]
				main := mainOf(p)
				args := strings.Join(main.Args, " ")
				// LWS's webhook gave every container the group's addresses.
				lws := rg.Component(service).WorkloadName
				if addr := envOf(main, "LWS_LEADER_ADDRESS"); addr != lws+"-0."+lws+".default" {
					t.Errorf("%s: LWS_LEADER_ADDRESS %q", p.Name, addr)
				}
				if !strings.Contains(args, "--distributed-executor-backend mp --nnodes 2 --master-addr $(LWS_LEADER_ADDRESS) --master-port 29500") {
					t.Errorf("%s: args %q", p.Name, args)
				}
				if gpus := main.Resources.Limits[nvidia.ResourceGPU]; gpus.Value() != 8 {
					t.Errorf("%s: %s GPUs", p.Name, gpus.String())
				}
				switch p.Labels[v1alpha1.LabelRole] {
				case "leader":
					if !strings.HasSuffix(args, "--node-rank 0") || main.ReadinessProbe == nil || len(p.Spec.InitContainers) != 0 {
						t.Errorf("leader %s: args %q, readiness %v, init %d", p.Name, args, main.ReadinessProbe != nil, len(p.Spec.InitContainers))
					}
				case "worker":
					if !strings.HasSuffix(args, "--node-rank $(LWS_WORKER_INDEX) --headless") || main.ReadinessProbe != nil ||
						len(p.Spec.InitContainers) != 1 || p.Spec.InitContainers[0].Name != "wait-for-leader-mp" || envOf(main, "LWS_WORKER_INDEX") != "1" {
						t.Errorf("worker %s: args %q, readiness %v, init %v, index %q", p.Name, args, main.ReadinessProbe != nil, p.Spec.InitContainers, envOf(main, "LWS_WORKER_INDEX"))
					}
				default:
					t.Errorf("%s: role label %q", p.Name, p.Labels[v1alpha1.LabelRole])
				}
			}
		}
		svc := &corev1.Service{}
		if err := cl.Get(ctx, types.NamespacedName{Namespace: "default", Name: rg.Component("Decode").ChildName}, svc); err != nil || svc.Spec.Selector["role"] != "leader" {
			t.Errorf("Service %s selector %v (%v)", rg.Component("Decode").ChildName, svc.Spec.Selector, err)
		}

		// A converged resync writes nothing: a reconciler of our own, through a client that
		// counts child writes, beside the running operator.
		writes := writeCounter{skip: func(req *http.Request) bool {
			return strings.Contains(req.URL.Path, "dynamographdeployments") || strings.Contains(req.URL.Path, "/events")
		}}
		counted, err := client.New(writes.wrap(c.RESTConfig()), client.Options{Scheme: controller.Scheme()})
		if err != nil {
			t.Fatal(err)
		}
		r := &controller.Reconciler{Client: counted, Config: controllertest.RenderConfig, LWS: true}
		if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: key}); err != nil {
			t.Fatal(err)
		}
		if n, paths := writes.take(); n != 0 {
			t.Errorf("converged resync: %d writes: %v", n, paths)
		}

		// An edit of the decode args rolls every worker to a new generation (multi-node: one
		// group down, then one up, on the same nodes) and reaches both of its pods.
		patchSpec(t, cl, key, func(d *v1alpha1.DynamoGraphDeployment) {
			m := d.Spec.Services["Decode"].ExtraPodSpec.MainContainer
			m.Args = append(m.Args, "--enforce-eager")
		})
		eventually(t, "decode pods run with --enforce-eager", 2*time.Minute, func(ctx context.Context) (bool, error) {
			pods, err := groupPods(ctx, cl, "vmn", "Decode")
			if err != nil || len(pods) != 2 || running(pods) != 2 {
				return false, fmt.Errorf("%d pods, %d running (%w)", len(pods), running(pods), err)
			}
			for i := range pods {
				if !slices.Contains(mainOf(&pods[i]).Args, "--enforce-eager") {
					return false, fmt.Errorf("%s still runs %q", pods[i].Name, mainOf(&pods[i]).Args)
				}
			}
			return true, nil
		})
		ready(key, "Ready after the args edit")

		// A second decode group needs two more free 8-GPU nodes; there are none.
		patchSpec(t, cl, key, func(d *v1alpha1.DynamoGraphDeployment) { d.Spec.Services["Decode"].Replicas = ptrTo(int32(2)) })
		waitForGraph(t, cl, key, "Ready=False naming Decode and the scheduler's reason", 2*time.Minute, func(d *v1alpha1.DynamoGraphDeployment, cond *metav1.Condition) (bool, error) {
			s := d.Status.Services["Decode"]
			return cond != nil && cond.Status == metav1.ConditionFalse && strings.Contains(cond.Message, "Decode: 1/2 groups of 2 pods ready") &&
				strings.Contains(cond.Message, "Insufficient nvidia.com/gpu") && s.Reason == diagnose.ReasonInsufficientCapacity &&
				s.ScheduledReplicas == 2 && d.Status.ReadyServices == "2/3", fmt.Errorf("condition %+v, decode %+v", cond, s)
		})
		// explain says the same, down to the nodes: a group needs two nodes with 8 free GPUs. Its
		// figure is the operator's capacity view, at most --capacity-refresh old: a snapshot
		// read while the second group's worker was being bound still shows its node free, so
		// explain is asked until the figure has caught up (or the time is up).
		const want = "Decode needs 8 × NVIDIA-H100-80GB-HBM3 (nvidia.com/gpu) on each of 2 nodes; 0 matching node(s) have that free: free 8 GPUs on 2 more node(s), or lower nodeCount or GPUs per node"
		var rep explain.Report
		for deadline := time.Now().Add(4 * controllertest.CapacityRefresh); ; {
			res := clitest.RunInProcess(ctx, c.KubeconfigPath(), "explain", "dgd/vmn", "-o", "json")
			rep = explain.Report{}
			if err := json.Unmarshal([]byte(res.Stdout), &rep); err != nil || res.Code != 1 {
				t.Fatalf("explain: exit %d, %v\n%s%s", res.Code, err, res.Stdout, res.Stderr)
			}
			if slices.ContainsFunc(rep.Services, func(s explain.Service) bool { return s.Name == "Decode" && s.Remediation == want }) || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Second)
		}
		for _, s := range rep.Services {
			var kinds []string
			for _, l := range s.Chain {
				kinds = append(kinds, l.Kind)
			}
			if s.Name == "Decode" && (s.Reason != diagnose.ReasonInsufficientCapacity ||
				!slices.Equal(kinds, []string{explain.LinkService, explain.LinkLeaderWorkerSet, explain.LinkPod, explain.LinkEvents, explain.LinkNodes}) ||
				s.Remediation != want) {
				t.Errorf("explain Decode: reason %q, chain %v, remediation %q", s.Reason, kinds, s.Remediation)
			}
		}
		patchSpec(t, cl, key, func(d *v1alpha1.DynamoGraphDeployment) { d.Spec.Services["Decode"].Replicas = ptrTo(int32(1)) })
		ready(key, "Ready after scaling back")

		// A restart reaches the groups too: LeaderWorkerSet replaces each group, and every pod,
		// leader and worker, runs the id before the restart is Completed.
		patchSpec(t, cl, key, func(d *v1alpha1.DynamoGraphDeployment) {
			d.Spec.Restart = &v1alpha1.Restart{ID: "mn1", Strategy: &v1alpha1.RestartStrategy{Type: v1alpha1.RestartStrategyParallel}}
		})
		waitForGraph(t, cl, key, "restart mn1 Completed", 3*time.Minute, func(d *v1alpha1.DynamoGraphDeployment, _ *metav1.Condition) (bool, error) {
			st := d.Status.Restart
			return st != nil && st.ObservedID == "mn1" && st.Phase == v1alpha1.RestartPhaseCompleted, fmt.Errorf("status.restart %+v", st)
		})
		for _, service := range []string{"Prefill", "Decode"} {
			pods, err := groupPods(ctx, cl, "vmn", service)
			if err != nil {
				t.Fatal(err)
			}
			var on []string
			for _, p := range pods {
				if p.DeletionTimestamp == nil && p.Annotations[v1alpha1.AnnotationRestartAt] == "mn1" {
					on = append(on, p.Labels[v1alpha1.LabelRole])
				}
			}
			slices.Sort(on)
			if !slices.Equal(on, []string{"leader", "worker"}) {
				t.Errorf("%s after the restart: pods on mn1 %v, want its leader and worker", service, on)
			}
		}
		ready(key, "Ready after the restart")

		if err := cl.Get(ctx, key, got); err != nil {
			t.Fatal(err)
		}
		if ru := got.Status.RollingUpdate; ru == nil || ru.Phase != "Completed" || !slices.Equal(ru.UpdatedServices, []string{"Decode", "Prefill"}) {
			t.Errorf("status.rollingUpdate %+v, want Completed with Decode and Prefill", ru)
		}
		rg = resolvedGraph(got)
		if err := cl.Delete(ctx, got); err != nil {
			t.Fatal(err)
		}
		lwsGone(rg.Component("Decode").WorkloadName)
		lwsGone(rg.Component("Prefill").WorkloadName)
		eventually(t, "the graph's pods gone", time.Minute, func(ctx context.Context) (bool, error) {
			pods := &corev1.PodList{}
			err := cl.List(ctx, pods, client.InNamespace("default"), client.MatchingLabels{v1alpha1.LabelGraphDeploymentName: "vmn"})
			return err == nil && len(pods.Items) == 0, fmt.Errorf("%d pods (%w)", len(pods.Items), err)
		})
		if err := cl.Get(ctx, types.NamespacedName{Namespace: "default", Name: "vmn-models"}, &corev1.PersistentVolumeClaim{}); err != nil {
			t.Errorf("the created claim did not outlive the graph: %v", err)
		}
	})

	t.Run("sglang", func(t *testing.T) {
		dgd := controllertest.CreateGraph(t, cl, multinodeGraph("smn", "sglang", "--tp"))
		ready(client.ObjectKeyFromObject(dgd), "SGLang graph Ready")
		for service, pods := range spread("smn") {
			for i := range pods {
				p := &pods[i]
				main := mainOf(p)
				args := strings.Join(main.Args, " ")
				rank := map[string]string{"leader": "0", "worker": "$(LWS_WORKER_INDEX)"}[p.Labels[v1alpha1.LabelRole]]
				if want := "--dist-init-addr $(LWS_LEADER_ADDRESS):29500 --nnodes 2 --node-rank " + rank; rank == "" || !strings.HasSuffix(args, want) {
					t.Errorf("%s %s: args %q, want them to end in %q", service, p.Name, args, want)
				}
				if envOf(main, "LWS_GROUP_SIZE") != "2" {
					t.Errorf("%s: LWS_GROUP_SIZE %q", p.Name, envOf(main, "LWS_GROUP_SIZE"))
				}
			}
		}
		if err := cl.Delete(ctx, dgd); err != nil {
			t.Fatal(err)
		}
		lwsGone(resolvedGraph(dgd).Component("Decode").WorkloadName)
		lwsGone(resolvedGraph(dgd).Component("Prefill").WorkloadName)
	})

	// A group of three 8-GPU pods where two H100 nodes take pods (two cordoned): the leader and
	// one worker run, the other worker is Pending. LeaderWorkerSet v0.8 counts the group ready
	// (its pods exist); the graph is not Ready until every pod of the group is.
	t.Run("a group with a Pending worker", func(t *testing.T) {
		cordonNodes(t, cl, true, "h100-2", "h100-3")
		dgd := controllertest.CreateGraph(t, cl, `apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeployment
metadata: {name: pend, namespace: default}
spec:
  backendFramework: vllm
  services:
    Frontend:
      componentType: frontend
      extraPodSpec: {mainContainer: {image: registry.example/frontend:1}}
    Decode:
      componentType: worker
      subComponentType: decode
      multinode: {nodeCount: 3}
      resources: {limits: {gpu: "8"}}
      extraPodSpec:
        mainContainer: {image: registry.example/vllm-runtime:1, command: [python3, -m, dynamo.vllm], args: [--model, m, --tensor-parallel-size, "24"]}
`)
		key := client.ObjectKeyFromObject(dgd)
		eventually(t, "two of the group's pods running, one Pending", time.Minute, func(ctx context.Context) (bool, error) {
			pods, err := groupPods(ctx, cl, "pend", "Decode")
			return err == nil && len(pods) == 3 && running(pods) == 2, fmt.Errorf("%d pods, %d running (%w)", len(pods), running(pods), err)
		})
		// Held for a while: never Ready while the third pod is Pending.
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Second) {
			got := &v1alpha1.DynamoGraphDeployment{}
			if err := cl.Get(ctx, key, got); err != nil {
				t.Fatal(err)
			}
			if cond := meta.FindStatusCondition(got.Status.Conditions, controller.ConditionReady); cond != nil && cond.Status == metav1.ConditionTrue {
				t.Fatalf("Ready with a Pending worker: %+v, decode %+v", cond, got.Status.Services["Decode"])
			}
		}
		waitForGraph(t, cl, key, "Ready=False: 0/1 groups of 3 pods ready", time.Minute, func(d *v1alpha1.DynamoGraphDeployment, cond *metav1.Condition) (bool, error) {
			s := d.Status.Services["Decode"]
			return cond != nil && cond.Status == metav1.ConditionFalse && strings.Contains(cond.Message, "Decode: 0/1 groups of 3 pods ready") &&
				s.ReadyReplicas == 0 && s.ScheduledReplicas == 2, fmt.Errorf("condition %+v, decode %+v", cond, s)
		})
		// Schedulable is planned on a view read after the refusal (the cordons, the other
		// group's pods bound): the graph does not fit.
		waitForGraph(t, cl, key, "Schedulable=False DoesNotFit", time.Minute, func(d *v1alpha1.DynamoGraphDeployment, _ *metav1.Condition) (bool, error) {
			c := meta.FindStatusCondition(d.Status.Conditions, controller.ConditionSchedulable)
			return c != nil && c.Status == metav1.ConditionFalse && c.Reason == controller.ReasonDoesNotFit, fmt.Errorf("Schedulable %+v", c)
		})
		cordonNodes(t, cl, false, "h100-2", "h100-3")
		ready(key, "Ready once the third pod has a node")
	})
}

// Without the LeaderWorkerSet API a graph with a multi-node service is reported, nothing of
// it applied; without the InferencePool API, a graph with an Endpoint Picker.
func TestMultinodeWithoutLWS(t *testing.T) {
	_, cl := setup(t, "cpu=1")
	dgd := controllertest.CreateGraph(t, cl, multinodeGraph("nolws", "vllm", "--tensor-parallel-size"))
	waitForGraph(t, cl, client.ObjectKeyFromObject(dgd), "Ready=False MultinodeUnavailable", time.Minute, func(d *v1alpha1.DynamoGraphDeployment, cond *metav1.Condition) (bool, error) {
		return cond != nil && cond.Reason == controller.ReasonMultinodeUnavailable && strings.Contains(cond.Message, "install LWS"), fmt.Errorf("condition %+v", cond)
	})
	waitForEvent(t, cl, "nolws", corev1.EventTypeWarning, controller.ReasonMultinodeUnavailable)
	svcs := &corev1.ServiceList{}
	if err := cl.List(context.Background(), svcs, client.InNamespace("default"), client.MatchingLabels{v1alpha1.LabelGraphDeploymentName: "nolws"}); err != nil || len(svcs.Items) != 0 {
		t.Errorf("Services of the graph: %d (%v), want none", len(svcs.Items), err)
	}
	// Neither does this cluster serve InferencePools: an Endpoint Picker graph says so.
	gaie := controllertest.CreateGraph(t, cl, eppGraph)
	waitForGraph(t, cl, client.ObjectKeyFromObject(gaie), "Ready=False naming the InferencePool", time.Minute, func(d *v1alpha1.DynamoGraphDeployment, cond *metav1.Condition) (bool, error) {
		return cond != nil && cond.Status == metav1.ConditionFalse && strings.Contains(cond.Message, "service Epp is an Endpoint Picker") &&
			strings.Contains(cond.Message, "inference.networking.k8s.io/v1") && strings.Contains(cond.Message, "install the Gateway API Inference Extension"), fmt.Errorf("condition %+v", cond)
	})
}
