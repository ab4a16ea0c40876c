package controller_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/controller"
	"github.com/dynamo-infra/dynamo-infra/internal/controller/controllertest"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster"
	"github.com/dynamo-infra/dynamo-infra/internal/diagnose"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
	"github.com/dynamo-infra/dynamo-infra/internal/observability"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
	"github.com/dynamo-infra/dynamo-infra/test/clitest"
	"github.com/dynamo-infra/dynamo-infra/test/reference"
)

var renderConfig = controllertest.RenderConfig

// writeCounter counts write requests (anything but GET/LIST/WATCH) made through a config, and
// names them; skip, when set, leaves out those it returns true for.
type writeCounter struct {
	n     atomic.Int64
	mu    sync.Mutex
	paths []string
	skip  func(*http.Request) bool
}

func (w *writeCounter) wrap(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			if req.Method != http.MethodGet && (w.skip == nil || !w.skip(req)) {
				w.n.Add(1)
				w.mu.Lock()
				w.paths = append(w.paths, req.Method+" "+req.URL.Path)
				w.mu.Unlock()
			}
			return rt.RoundTrip(req)
		})
	})
	return cfg
}

// take returns the writes counted since the last take and starts again.
func (w *writeCounter) take() (int64, []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, p := w.n.Swap(0), w.paths
	w.paths = nil
	return n, p
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

var eventually = testkit.Eventually

func readyCondition(d *v1alpha1.DynamoGraphDeployment) *metav1.Condition {
	return meta.FindStatusCondition(d.Status.Conditions, controller.ConditionReady)
}

func setup(t *testing.T, profile string) (*devcluster.Cluster, client.Client) {
	t.Helper()
	return controllertest.Setup(t, profile)
}

func TestOperatorReconcilesReferenceGraph(t *testing.T) {
	c, cl := setup(t, "h100=2,cpu=1")
	ctx := context.Background()
	raw, err := reference.DGDExample()
	if err != nil {
		t.Fatal(err)
	}
	dgd := controllertest.CreateGraph(t, cl, string(raw))
	key := client.ObjectKeyFromObject(dgd)

	// Children with the right env, ports and limits; pods Running → Ready.
	waitForGraph(t, cl, key, "graph Ready", 90*time.Second, func(got *v1alpha1.DynamoGraphDeployment, cond *metav1.Condition) (bool, error) {
		return cond != nil && cond.Status == metav1.ConditionTrue && got.Status.State == controller.StateSuccessful && got.Status.ObservedGeneration == got.Generation, fmt.Errorf("status %+v", got.Status)
	})
	// Workers are named, labelled and registered by their generation, as the original's; the
	// graph records it as current.
	hash := graph.WorkerHash(dgd)
	decode := &appsv1.Deployment{}
	if err := cl.Get(ctx, types.NamespacedName{Namespace: "default", Name: "dynamo-vllmdecodeworker-" + hash}, decode); err != nil {
		t.Fatal(err)
	}
	current := &v1alpha1.DynamoGraphDeployment{}
	if err := cl.Get(ctx, key, current); err != nil || current.Annotations[v1alpha1.AnnotationCurrentWorkerHash] != hash {
		t.Errorf("graph's current worker hash %q, want %s (%v)", current.Annotations[v1alpha1.AnnotationCurrentWorkerHash], hash, err)
	}
	if decode.Labels[v1alpha1.LabelWorkerHash] != hash || decode.Spec.Template.Labels[v1alpha1.LabelWorkerHash] != hash {
		t.Errorf("decode worker labels %v, pod labels %v: want %s=%s", decode.Labels, decode.Spec.Template.Labels, v1alpha1.LabelWorkerHash, hash)
	}
	main := *render.MainContainer(&decode.Spec.Template.Spec)
	env := map[string]string{}
	for _, e := range main.Env {
		env[e.Name] = e.Value
	}
	if env["NATS_SERVER"] != "nats://nats:4222" || env["DYN_NAMESPACE"] != "default-dynamo" || env["DYN_LOG"] != "debug" ||
		env[v1alpha1.EnvWorkerSuffix] != hash ||
		env["NIXL_TELEMETRY_PROMETHEUS_PORT"] != "19090" ||
		main.Resources.Limits.Name(nvidia.ResourceGPU, "").Value() != 1 || len(decode.OwnerReferences) != 1 {
		t.Errorf("decode worker Deployment: env %v limits %v owners %v", env, main.Resources.Limits, decode.OwnerReferences)
	}
	// As the original renders them: workers expose the system and NIXL ports; the frontend runs
	// the Dynamo frontend although the example gives it no command.
	if got := fmt.Sprint(main.Ports); !strings.Contains(got, "system") || !strings.Contains(got, "9090") || !strings.Contains(got, "nixl") || !strings.Contains(got, "19090") {
		t.Errorf("decode worker ports %v, want system 9090 and nixl 19090", main.Ports)
	}
	frontend := &appsv1.Deployment{}
	if err := cl.Get(ctx, types.NamespacedName{Namespace: "default", Name: "dynamo-frontend"}, frontend); err != nil {
		t.Fatal(err)
	}
	if fm := render.MainContainer(&frontend.Spec.Template.Spec); strings.Join(append(fm.Command, fm.Args...), " ") != "python3 -m dynamo.frontend" {
		t.Errorf("frontend runs %v %v, want python3 -m dynamo.frontend", fm.Command, fm.Args)
	} else if !slices.Contains(fm.Env, corev1.EnvVar{Name: v1alpha1.EnvNamespacePrefix, Value: "default-dynamo"}) ||
		slices.ContainsFunc(fm.Env, func(e corev1.EnvVar) bool { return e.Name == v1alpha1.EnvWorkerSuffix }) {
		t.Errorf("frontend env %v: want DYN_NAMESPACE_PREFIX=default-dynamo (it finds every generation) and no suffix", fm.Env)
	}
	svc := &corev1.Service{}
	if err := cl.Get(ctx, types.NamespacedName{Namespace: "default", Name: "dynamo-frontend"}, svc); err != nil || svc.Spec.Ports[0].Port != 8000 {
		t.Fatalf("frontend Service: %v %+v", err, svc.Spec.Ports)
	}
	// Every pod the graph runs — frontend, prefill, decode — is a target of the PodMonitors
	// `observability scrape-config` writes for it, on a port the pod declares.
	scrapedEverywhere(t, cl, resolvedGraph(graphOf(t, cl, key)))

	// A resync of the converged graph writes nothing. Converged: the status holds every
	// Deployment's final counts (availableReplicas can trail readyReplicas by one update).
	eventually(t, "status converged", time.Minute, func(ctx context.Context) (bool, error) {
		got := &v1alpha1.DynamoGraphDeployment{}
		if err := cl.Get(ctx, key, got); err != nil {
			return false, err
		}
		for name, s := range got.Status.Services {
			if s.Replicas != 1 || s.ReadyReplicas != 1 || s.AvailableReplicas != 1 || s.UpdatedReplicas != 1 ||
				s.ComponentKind != v1alpha1.ComponentKindDeployment || s.ComponentName != resolvedGraph(got).Component(name).WorkloadName || len(s.ComponentNames) != 1 {
				return false, fmt.Errorf("%s: %+v", name, s)
			}
		}
		return len(got.Status.Services) == 3, nil
	})
	var writes writeCounter
	direct, err := client.New(writes.wrap(c.RESTConfig()), client.Options{Scheme: controller.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	r := &controller.Reconciler{Client: direct, Config: renderConfig}
	if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: key}); err != nil {
		t.Fatal(err)
	}
	if n := writes.n.Load(); n != 0 {
		t.Errorf("resync of a converged graph made %d write requests, want 0", n)
	}

	// Scale a service: its Deployment follows.
	patchSpec(t, cl, key, func(d *v1alpha1.DynamoGraphDeployment) {
		d.Spec.Services["VllmDecodeWorker"].Replicas = ptrTo(int32(2))
	})
	eventually(t, "decode worker scaled to 2", time.Minute, func(ctx context.Context) (bool, error) {
		d := &appsv1.Deployment{}
		err := cl.Get(ctx, types.NamespacedName{Namespace: "default", Name: "dynamo-vllmdecodeworker-" + hash}, d)
		return err == nil && *d.Spec.Replicas == 2, err
	})
	// A scale is not a new generation: nothing rolls.
	if got := graphOf(t, cl, key); got.Annotations[v1alpha1.AnnotationCurrentWorkerHash] != hash || graph.WorkerHash(got) != hash || got.Status.RollingUpdate != nil {
		t.Errorf("after a scale: current %s, spec's %s, rollingUpdate %+v; want %s and no rollout",
			got.Annotations[v1alpha1.AnnotationCurrentWorkerHash], graph.WorkerHash(got), got.Status.RollingUpdate, hash)
	}

	// Delete a child: it comes back.
	if err := cl.Delete(ctx, svc); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	eventually(t, "deleted Service recreated", time.Minute, func(ctx context.Context) (bool, error) {
		s := &corev1.Service{}
		err := cl.Get(ctx, types.NamespacedName{Namespace: "default", Name: "dynamo-frontend"}, s)
		return err == nil && s.UID != svc.UID, err
	})

	// Edit a child: the edit is corrected.
	front := &appsv1.Deployment{}
	eventually(t, "edit the frontend Deployment", 30*time.Second, func(ctx context.Context) (bool, error) {
		if err := cl.Get(ctx, types.NamespacedName{Namespace: "default", Name: "dynamo-frontend"}, front); err != nil {
			return false, err
		}
		front.Spec.Template.Spec.Containers[0].Image = "tampered:latest"
		err := cl.Update(ctx, front)
		return err == nil, err
	})
	eventually(t, "edited Deployment corrected", time.Minute, func(ctx context.Context) (bool, error) {
		d := &appsv1.Deployment{}
		err := cl.Get(ctx, client.ObjectKeyFromObject(front), d)
		return err == nil && d.Spec.Template.Spec.Containers[0].Image == reference.Image, err
	})

	// A planner added to the graph (the reference's planner variant): its Deployment exposes the
	// planner's metrics port and runs as the planner's account, which the operator creates when
	// absent, shared by the namespace's graphs (no owner); its pods start.
	patchSpec(t, cl, key, func(d *v1alpha1.DynamoGraphDeployment) {
		d.Spec.Services["Planner"] = &v1alpha1.ServiceSpec{ComponentType: v1alpha1.ComponentPlanner,
			ExtraPodSpec: &v1alpha1.ExtraPodSpec{MainContainer: &corev1.Container{Image: reference.Image,
				Command: []string{"python3", "-m", "dynamo.planner"}}}}
	})
	eventually(t, "planner ready", time.Minute, func(ctx context.Context) (bool, error) {
		d := &appsv1.Deployment{}
		if err := cl.Get(ctx, types.NamespacedName{Namespace: "default", Name: "dynamo-planner"}, d); err != nil {
			return false, err
		}
		pm := render.MainContainer(&d.Spec.Template.Spec)
		if got := fmt.Sprint(pm.Ports); !strings.Contains(got, "metrics") || !strings.Contains(got, "9085") || d.Spec.Template.Spec.ServiceAccountName != v1alpha1.PlannerServiceAccount {
			return false, fmt.Errorf("planner ports %v account %q", pm.Ports, d.Spec.Template.Spec.ServiceAccountName)
		}
		return d.Status.ReadyReplicas == 1, fmt.Errorf("planner %d ready", d.Status.ReadyReplicas)
	})
	sa := &corev1.ServiceAccount{}
	if err := cl.Get(ctx, types.NamespacedName{Namespace: "default", Name: v1alpha1.PlannerServiceAccount}, sa); err != nil || len(sa.OwnerReferences) != 0 {
		t.Errorf("planner account: %v, owners %v", err, sa.OwnerReferences)
	}

	rollWorkers(t, c, cl, key, hash)
	restartGraph(t, cl, key)

	// Too many GPUs: Ready=False naming the Pending service and why (its new generation's pods;
	// the old one keeps serving).
	patchSpec(t, cl, key, func(d *v1alpha1.DynamoGraphDeployment) {
		d.Spec.Services["VllmPrefillWorker"].Resources.Limits.GPU = "16"
	})
	waitForGraph(t, cl, key, "Ready=False naming the prefill worker", time.Minute, func(got *v1alpha1.DynamoGraphDeployment, cond *metav1.Condition) (bool, error) {
		s := got.Status.Services["VllmPrefillWorker"]
		return cond != nil && cond.Status == metav1.ConditionFalse && cond.Reason == controller.ReasonResourcesNotReady &&
				strings.Contains(cond.Message, "VllmPrefillWorker") && strings.Contains(cond.Message, "Insufficient nvidia.com/gpu") &&
				s.Reason == diagnose.ReasonInsufficientCapacity && strings.Contains(s.Message, "Insufficient nvidia.com/gpu") &&
				got.Status.Services["Frontend"].Reason == "" && got.Status.Services["Frontend"].ScheduledReplicas == 1,
			fmt.Errorf("condition %+v, prefill %+v", cond, s)
	})
}

// restartGraph sets spec.restart.id on the running graph: a Sequential restart replaces the
// services' pods one service after the other in name order — a service's workload gets the id
// only once every service before it runs the id on all its pods — and completes with every pod
// on the id; then a Parallel one replaces them all at once.
func restartGraph(t *testing.T, cl client.Client, key client.ObjectKey) {
	t.Helper()
	ctx := context.Background()
	g := graphOf(t, cl, key)
	rg := resolvedGraph(g)
	order := rg.Names() // Frontend, Planner, VllmDecodeWorker, VllmPrefillWorker
	templateAt := func(service string) string {
		d := &appsv1.Deployment{}
		if err := cl.Get(ctx, client.ObjectKey{Namespace: key.Namespace, Name: rg.Component(service).WorkloadName}, d); err != nil {
			t.Fatalf("%s's Deployment: %v", service, err)
		}
		return d.Spec.Template.Annotations[v1alpha1.AnnotationRestartAt]
	}
	// podsAt: the service's pods that are not going away, and how many run the id.
	podsAt := func(service, id string) (all, on int) {
		pods := &corev1.PodList{}
		if err := cl.List(ctx, pods, client.InNamespace(key.Namespace), client.MatchingLabels{v1alpha1.LabelSelector: rg.Component(service).ChildName}); err != nil {
			t.Fatal(err)
		}
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil {
				all++
				if p.Annotations[v1alpha1.AnnotationRestartAt] == id {
					on++
				}
			}
		}
		return all, on
	}
	patchSpec(t, cl, key, func(d *v1alpha1.DynamoGraphDeployment) { d.Spec.Restart = &v1alpha1.Restart{ID: "r1"} })
	// Each look reads the templates last service first: a service's template takes the id only
	// after every one before it did, so those read after it must carry it too (no gap), and the
	// services before the last one reached must run it on every pod (none is left behind).
	reached, partial := 0, false
	eventually(t, "sequential restart r1 Completed", 3*time.Minute, func(ctx context.Context) (bool, error) {
		n := 0
		for i := len(order) - 1; i >= 0; i-- {
			at := templateAt(order[i]) == "r1"
			if at && n == 0 {
				n = i + 1
			}
			if !at && n > i {
				t.Fatalf("%s carries r1 but %s, before it in %v, does not", order[n-1], order[i], order)
			}
		}
		if n < reached {
			t.Fatalf("the restart went back from %d services to %d", reached, n)
		}
		reached = n
		partial = partial || (n > 0 && n < len(order))
		for _, before := range order[:max(n-1, 0)] {
			if all, on := podsAt(before, "r1"); on != all || all != int(rg.Component(before).Pods()) {
				t.Errorf("%s reached while %s (before it) has %d/%d pods on r1", order[n-1], before, on, all)
			}
		}
		st := graphOf(t, cl, key).Status.Restart
		if st != nil && st.ObservedID == "r1" && st.Phase == v1alpha1.RestartPhaseRestarting && len(st.InProgress) != 1 {
			t.Fatalf("a Sequential restart in progress on %v, want one service", st.InProgress)
		}
		return st != nil && st.ObservedID == "r1" && st.Phase == v1alpha1.RestartPhaseCompleted, fmt.Errorf("status.restart %+v", st)
	})
	if !partial {
		t.Error("the restart was never seen part way (some services reached, not all): not one after the other?")
	}
	for _, s := range order {
		want := int(rg.Component(s).Pods())
		eventually(t, s+"'s pods on r1", time.Minute, func(context.Context) (bool, error) {
			all, on := podsAt(s, "r1")
			return templateAt(s) == "r1" && all == want && on == want, fmt.Errorf("%d/%d pods on r1, want %d", on, all, want)
		})
	}
	waitForEvent(t, cl, key.Name, corev1.EventTypeNormal, controller.ReasonRestartCompleted)

	// Parallel: every service's template takes the id in one step.
	patchSpec(t, cl, key, func(d *v1alpha1.DynamoGraphDeployment) {
		d.Spec.Restart = &v1alpha1.Restart{ID: "r2", Strategy: &v1alpha1.RestartStrategy{Type: v1alpha1.RestartStrategyParallel}}
	})
	waitForGraph(t, cl, key, "parallel restart r2 Completed", 2*time.Minute, func(got *v1alpha1.DynamoGraphDeployment, _ *metav1.Condition) (bool, error) {
		st := got.Status.Restart
		if st != nil && st.ObservedID == "r2" && st.Phase == v1alpha1.RestartPhaseRestarting && len(st.InProgress) == len(order) {
			for _, s := range order {
				if at := templateAt(s); at != "r2" {
					t.Errorf("parallel restart started: %s carries %q, want r2 (every service at once)", s, at)
				}
			}
		}
		return st != nil && st.ObservedID == "r2" && st.Phase == v1alpha1.RestartPhaseCompleted, fmt.Errorf("%+v", st)
	})
	for _, s := range order {
		if all, on := podsAt(s, "r2"); all != on || templateAt(s) != "r2" {
			t.Errorf("after the parallel restart %s has %d/%d pods on r2", s, on, all)
		}
	}
}

// rollWorkers is the managed rolling update of the reference graph (decode 2 replicas, prefill
// 1, on two H100 nodes) from generation old: a decode args change while the GPU nodes are
// cordoned brings up the new generation of both workers beside the old one, which keeps
// serving (ready replicas unchanged, phase InProgress); uncordoned, the new one comes up, the
// old one is deleted and the rollout is Completed.
func rollWorkers(t *testing.T, c *devcluster.Cluster, cl client.Client, key client.ObjectKey, old string) {
	t.Helper()
	ctx := context.Background()
	cordon := func(on bool) {
		t.Helper()
		cordonNodes(t, cl, on, "h100-0", "h100-1")
	}
	cordon(true)
	patchSpec(t, cl, key, func(d *v1alpha1.DynamoGraphDeployment) {
		m := d.Spec.Services["VllmDecodeWorker"].ExtraPodSpec.MainContainer
		m.Args = append(m.Args, "--block-size", "32")
	})
	next := graph.WorkerHash(graphOf(t, cl, key))
	if next == old {
		t.Fatalf("an args change kept the worker hash %s", old)
	}
	suffix := func(name string) (string, int) {
		pods := &corev1.PodList{}
		if err := cl.List(ctx, pods, client.InNamespace("default"), client.MatchingLabels{v1alpha1.LabelSelector: name}); err != nil || len(pods.Items) == 0 {
			return "", 0
		}
		env := map[string]string{}
		for _, e := range render.MainContainer(&pods.Items[0].Spec).Env {
			env[e.Name] = e.Value
		}
		return env[v1alpha1.EnvWorkerSuffix], len(pods.Items)
	}
	waitForGraph(t, cl, key, "both generations side by side, the old one serving", time.Minute, func(got *v1alpha1.DynamoGraphDeployment, _ *metav1.Condition) (bool, error) {
		d, p := got.Status.Services["VllmDecodeWorker"], got.Status.Services["VllmPrefillWorker"]
		ru := got.Status.RollingUpdate
		// One surge pod per service (maxSurge 25% of 2, and of 1, rounds up to 1), Pending; the
		// old generation's replicas all ready; updated replicas are the new generation's.
		if ru == nil || ru.Phase != "InProgress" || ru.StartTime == nil || d.ReadyReplicas != 2 || d.UpdatedReplicas != 1 || d.Replicas != 3 || p.ReadyReplicas != 1 ||
			!slices.Equal(d.ComponentNames, slices.Sorted(slices.Values([]string{"dynamo-vllmdecodeworker-" + old, "dynamo-vllmdecodeworker-" + next}))) ||
			got.Annotations[v1alpha1.AnnotationCurrentWorkerHash] != old {
			return false, fmt.Errorf("rollingUpdate %+v, decode %+v, prefill %+v", ru, d, p)
		}
		// maxUnavailable 0 and no room: the rollout says it waits, and what to set.
		if !strings.Contains(ru.Message, "VllmDecodeWorker: the new generation's pod") ||
			!strings.Contains(ru.Message, `nvidia.com/deployment-rolling-update-max-unavailable: "1" on VllmDecodeWorker`) {
			return false, fmt.Errorf("rollingUpdate message %q", ru.Message)
		}
		// Each generation registers in its own Dynamo namespace.
		for _, w := range []struct{ name, hash string }{
			{"dynamo-vllmdecodeworker-" + old, old}, {"dynamo-vllmdecodeworker-" + next, next}, {"dynamo-vllmprefillworker-" + next, next},
		} {
			if got, _ := suffix(w.name); got != w.hash {
				return false, fmt.Errorf("pods of %s run with %s=%q, want %s", w.name, v1alpha1.EnvWorkerSuffix, got, w.hash)
			}
		}
		return true, nil
	})
	waitForEvent(t, cl, "dynamo", corev1.EventTypeNormal, controller.ReasonRollingUpdateStarted)
	// Becoming Ready recorded no event (readyEvent): the recorder sends in order, so one from
	// the graph's first Ready would be stored before the rollout's.
	noEvent(t, cl, graphOf(t, cl, key).UID, controller.ReasonAllResourcesReady)

	// Partitioned at 50%: uncordoned, decode moves one of its two replicas, prefill its one
	// (50% of 1 rounds up), and the rollout holds there, saying so.
	graphKey := key
	annotate := func(key, value string) {
		t.Helper()
		patchSpec(t, cl, graphKey, func(d *v1alpha1.DynamoGraphDeployment) {
			if value == "" {
				delete(d.Annotations, key)
			} else {
				d.Annotations[key] = value
			}
		})
	}
	annotate(v1alpha1.AnnotationRolloutPartition, "50%")
	cordon(false)
	held := func(got *v1alpha1.DynamoGraphDeployment) string {
		d := got.Status.Services["VllmDecodeWorker"]
		ru := got.Status.RollingUpdate
		if ru == nil || ru.Phase != "InProgress" || d.ReadyReplicas != 2 || d.UpdatedReplicas != 1 || d.Replicas != 2 ||
			!slices.Equal(ru.UpdatedServices, []string{"VllmPrefillWorker"}) {
			return fmt.Sprintf("rollingUpdate %+v, decode %+v", ru, d)
		}
		return ru.Message
	}
	waitForGraph(t, cl, key, "held at the partition", time.Minute, func(got *v1alpha1.DynamoGraphDeployment, _ *metav1.Condition) (bool, error) {
		m := held(got)
		return strings.HasPrefix(m, "held at partition 50%") && strings.Contains(m, "VllmDecodeWorker 1/2"), fmt.Errorf("%s", m)
	})
	rolloutCLI := func(args ...string) clitest.Result {
		t.Helper()
		return clitest.RunInProcess(ctx, c.KubeconfigPath(), append([]string{"rollout"}, args...)...)
	}
	if r := rolloutCLI("status", "dgd/dynamo", "--watch=false"); r.Code != 0 || !strings.Contains(r.Stdout, "VllmDecodeWorker 1/2 new") ||
		!strings.Contains(r.Stdout, "VllmPrefillWorker 1/1 new (done)") || !strings.Contains(r.Stdout, "held at partition 50%") {
		t.Errorf("rollout status while held: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	// Paused (dynamoctl rollout pause), the partition lifted: nothing moves.
	if r := rolloutCLI("pause", "dgd/dynamo"); r.Code != 0 || r.Stdout != "dgd/dynamo paused\n" {
		t.Fatalf("rollout pause: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	annotate(v1alpha1.AnnotationRolloutPartition, "")
	waitForGraph(t, cl, key, "paused", time.Minute, func(got *v1alpha1.DynamoGraphDeployment, _ *metav1.Condition) (bool, error) {
		m := held(got)
		return strings.HasPrefix(m, "paused"), fmt.Errorf("%s", m)
	})
	time.Sleep(3 * time.Second)
	if m := held(graphOf(t, cl, key)); !strings.HasPrefix(m, "paused") {
		t.Errorf("a paused rollout moved: %s", m)
	}
	if r := rolloutCLI("status", "dgd/dynamo", "--timeout", "2s"); r.Code != 1 || !strings.Contains(r.Stderr, "timed out after 2s") {
		t.Errorf("rollout status of a paused rollout: exit %d, want 1 (timed out)\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if r := rolloutCLI("resume", "dgd/dynamo"); r.Code != 0 {
		t.Fatalf("rollout resume: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	// status waits for the end and says so.
	if r := rolloutCLI("status", "dgd/dynamo", "--timeout", "2m"); r.Code != 0 || !strings.Contains(r.Stdout, "rollout to worker generation "+next+" complete") {
		t.Errorf("rollout status: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	waitForGraph(t, cl, key, "rolled to the new generation", 2*time.Minute, func(got *v1alpha1.DynamoGraphDeployment, cond *metav1.Condition) (bool, error) {
		ru := got.Status.RollingUpdate
		return ru != nil && ru.Phase == "Completed" && ru.EndTime != nil && slices.Equal(ru.UpdatedServices, []string{"VllmDecodeWorker", "VllmPrefillWorker"}) &&
				got.Annotations[v1alpha1.AnnotationCurrentWorkerHash] == next && cond != nil && cond.Status == metav1.ConditionTrue &&
				got.Status.Services["VllmDecodeWorker"].UpdatedReplicas == 2,
			fmt.Errorf("rollingUpdate %+v, current %s, ready %+v", ru, got.Annotations[v1alpha1.AnnotationCurrentWorkerHash], cond)
	})
	waitForEvent(t, cl, "dynamo", corev1.EventTypeNormal, controller.ReasonRollingUpdateCompleted)
	for _, name := range []string{"dynamo-vllmdecodeworker-" + old, "dynamo-vllmprefillworker-" + old} {
		eventually(t, "old generation "+name+" deleted", time.Minute, func(ctx context.Context) (bool, error) {
			err := cl.Get(ctx, types.NamespacedName{Namespace: "default", Name: name}, &appsv1.Deployment{})
			if apierrors.IsNotFound(err) {
				err = cl.Get(ctx, types.NamespacedName{Namespace: "default", Name: name}, &corev1.Service{})
			}
			return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
		})
	}

	// Undo puts back the previous generation's worker specs (recorded by the operator), and it
	// rolls back to that generation like any change.
	if r := rolloutCLI("undo", "dgd/dynamo"); r.Code != 0 || r.Stdout != "dgd/dynamo rolled back to worker generation "+old+"\n" {
		t.Fatalf("rollout undo: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if args := graphOf(t, cl, key).Spec.Services["VllmDecodeWorker"].ExtraPodSpec.MainContainer.Args; slices.Contains(args, "--block-size") {
		t.Errorf("after undo the decode args are %v", args)
	}
	waitForGraph(t, cl, key, "rolled back", 2*time.Minute, func(got *v1alpha1.DynamoGraphDeployment, cond *metav1.Condition) (bool, error) {
		ru := got.Status.RollingUpdate
		return ru != nil && ru.Phase == "Completed" && got.Annotations[v1alpha1.AnnotationCurrentWorkerHash] == old && cond != nil && cond.Status == metav1.ConditionTrue,
			fmt.Errorf("rollingUpdate %+v, current %s", ru, got.Annotations[v1alpha1.AnnotationCurrentWorkerHash])
	})
}

// cordonNodes marks nodes unschedulable (on) or schedulable again.
func cordonNodes(t *testing.T, cl client.Client, on bool, nodes ...string) {
	t.Helper()
	for _, node := range nodes {
		eventually(t, "cordon "+node, 30*time.Second, func(ctx context.Context) (bool, error) {
			n := &corev1.Node{}
			if err := cl.Get(ctx, types.NamespacedName{Name: node}, n); err != nil {
				return false, err
			}
			n.Spec.Unschedulable = on
			err := cl.Update(ctx, n)
			return err == nil, err
		})
	}
}

// graphOf reads a graph.
func graphOf(t *testing.T, cl client.Client, key client.ObjectKey) *v1alpha1.DynamoGraphDeployment {
	t.Helper()
	got := &v1alpha1.DynamoGraphDeployment{}
	if err := cl.Get(context.Background(), key, got); err != nil {
		t.Fatal(err)
	}
	return got
}

// A created PVC outlives its graph; the graph's other children go with it.
func TestDeleteKeepsCreatedPVC(t *testing.T) {
	_, cl := setup(t, "cpu=1")
	ctx := context.Background()
	dgd := controllertest.CreateGraph(t, cl, `apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeployment
metadata: {name: cache}
spec:
  pvcs:
  - {name: model-cache, create: true, storageClass: standard, size: 10Gi, volumeAccessMode: ReadWriteOnce}
  - {name: missing-claim}
  services:
    Frontend:
      componentType: frontend
      volumeMounts: [{name: model-cache, mountPoint: /models}]
      extraPodSpec: {mainContainer: {image: registry.example/frontend:1}}
`)
	waitForGraph(t, cl, client.ObjectKeyFromObject(dgd), "missing PVC reported", time.Minute, func(got *v1alpha1.DynamoGraphDeployment, cond *metav1.Condition) (bool, error) {
		return cond != nil && cond.Status == metav1.ConditionFalse && strings.Contains(cond.Message, "PVC missing-claim not found"), fmt.Errorf("%+v", cond)
	})
	pvc := &corev1.PersistentVolumeClaim{}
	if err := cl.Get(ctx, types.NamespacedName{Namespace: "default", Name: "model-cache"}, pvc); err != nil {
		t.Fatal(err)
	}
	if len(pvc.OwnerReferences) != 0 || pvc.Annotations[v1alpha1.AnnotationCreatedBy] != "default/cache" {
		t.Errorf("created PVC owners %v annotations %v", pvc.OwnerReferences, pvc.Annotations)
	}
	if err := cl.Delete(ctx, dgd); err != nil {
		t.Fatal(err)
	}
	eventually(t, "children garbage-collected", time.Minute, func(ctx context.Context) (bool, error) {
		err := cl.Get(ctx, types.NamespacedName{Namespace: "default", Name: "cache-frontend"}, &appsv1.Deployment{})
		return apierrors.IsNotFound(err), err
	})
	if err := cl.Get(ctx, types.NamespacedName{Namespace: "default", Name: "model-cache"}, &corev1.PersistentVolumeClaim{}); err != nil {
		t.Errorf("created PVC deleted with its graph: %v", err)
	}
}

// A graph that uses a field whose behaviour is not built is admitted, reported by name in its
// Ready condition and a Warning event, and nothing of it is applied.
func TestNotImplementedFieldReported(t *testing.T) {
	_, cl := setup(t, "cpu=1")
	ctx := context.Background()
	dgd := controllertest.CreateGraph(t, cl, `apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeployment
metadata: {name: multi}
spec:
  services:
    Frontend:
      componentType: frontend
      extraPodSpec: {mainContainer: {image: registry.example/frontend:1}}
    Decode:
      componentType: worker
      subComponentType: decode
      gpuMemoryService: {enabled: true, mode: interPod}
      failover: {enabled: true, mode: interPod}
      resources: {limits: {gpu: "1"}}
      extraPodSpec: {mainContainer: {image: registry.example/worker:1}}
`)
	_, renderErr := render.Graph(resolvedGraph(dgd), renderConfig)
	if renderErr == nil {
		t.Fatal("render accepted a graph with inter-pod failover")
	}
	waitForGraph(t, cl, client.ObjectKeyFromObject(dgd), "Ready=False NotImplemented", time.Minute, func(got *v1alpha1.DynamoGraphDeployment, cond *metav1.Condition) (bool, error) {
		return cond != nil && cond.Status == metav1.ConditionFalse && cond.Reason == controller.ReasonNotImplemented &&
			cond.Message == renderErr.Error() && strings.Contains(cond.Message, "spec.services.Decode.failover.mode"), fmt.Errorf("%+v", cond)
	})
	waitForEvent(t, cl, "multi", corev1.EventTypeWarning, controller.ReasonNotImplemented)
	deps := &appsv1.DeploymentList{}
	if err := cl.List(ctx, deps, client.InNamespace("default")); err != nil || len(deps.Items) != 0 {
		t.Errorf("Deployments of a not-implemented graph: %d (%v), want none", len(deps.Items), err)
	}
}

// waitForGraph polls the graph until ok says its status (and Ready condition, nil when
// absent) is as wanted.
func waitForGraph(t *testing.T, cl client.Client, key client.ObjectKey, what string, timeout time.Duration, ok func(*v1alpha1.DynamoGraphDeployment, *metav1.Condition) (bool, error)) {
	t.Helper()
	eventually(t, what, timeout, func(ctx context.Context) (bool, error) {
		got := &v1alpha1.DynamoGraphDeployment{}
		if err := cl.Get(ctx, key, got); err != nil {
			return false, err
		}
		return ok(got, readyCondition(got))
	})
}

// waitForEvent waits for an event of that type and reason on the graph named graph in default.
func waitForEvent(t *testing.T, cl client.Client, graph, eventType, reason string) {
	t.Helper()
	waitForObjectEvent(t, cl, "DynamoGraphDeployment", graph, eventType, reason)
}

// noEvent fails if the object of that UID has an event of that reason.
func noEvent(t *testing.T, cl client.Client, uid types.UID, reason string) {
	t.Helper()
	evs := &corev1.EventList{}
	if err := cl.List(context.Background(), evs, client.InNamespace("default")); err != nil {
		t.Fatal(err)
	}
	for _, e := range evs.Items {
		if e.InvolvedObject.UID == uid && e.Reason == reason {
			t.Errorf("event %s on %s: %s", reason, e.InvolvedObject.Name, e.Message)
		}
	}
}

// waitForObjectEvent waits for an event of that type and reason on the named object of kind in
// default.
func waitForObjectEvent(t *testing.T, cl client.Client, kind, name, eventType, reason string) {
	t.Helper()
	eventually(t, eventType+" event "+reason+" on "+kind+" "+name, 30*time.Second, func(ctx context.Context) (bool, error) {
		evs := &corev1.EventList{}
		if err := cl.List(ctx, evs, client.InNamespace("default")); err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			if e.InvolvedObject.Kind == kind && e.InvolvedObject.Name == name && e.Type == eventType && e.Reason == reason {
				return true, nil
			}
		}
		return false, fmt.Errorf("%d events, none %s for %s", len(evs.Items), reason, name)
	})
}

func patchSpec(t *testing.T, cl client.Client, key client.ObjectKey, f func(*v1alpha1.DynamoGraphDeployment)) {
	t.Helper()
	eventually(t, "update graph spec", 30*time.Second, func(ctx context.Context) (bool, error) {
		d := &v1alpha1.DynamoGraphDeployment{}
		if err := cl.Get(ctx, key, d); err != nil {
			return false, err
		}
		f(d)
		err := cl.Update(ctx, d)
		return err == nil, err
	})
}

func ptrTo[T any](v T) *T { return &v }

// A service whose image cannot be pulled keeps the graph pending, and the Ready condition names
// the service, the pod and the kubelet's reason (the dev cluster fails pulls from ".invalid").
func TestStatusNamesImagePullFailure(t *testing.T) {
	_, cl := setup(t, "cpu=1")
	dgd := controllertest.CreateGraph(t, cl, `apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeployment
metadata: {name: pullfail}
spec:
  services:
    Frontend:
      componentType: frontend
      extraPodSpec: {mainContainer: {image: registry`+devcluster.InvalidRegistrySuffix+`/frontend:1}}
`)
	waitForGraph(t, cl, client.ObjectKeyFromObject(dgd), "Ready=False naming ErrImagePull", time.Minute, func(got *v1alpha1.DynamoGraphDeployment, cond *metav1.Condition) (bool, error) {
		return got.Status.State == controller.StatePending && cond != nil && cond.Status == metav1.ConditionFalse &&
			strings.Contains(cond.Message, "Frontend") && strings.Contains(cond.Message, "ErrImagePull") &&
			got.Status.Services["Frontend"].Reason == diagnose.ReasonImagePull, fmt.Errorf("state %s, condition %+v, services %+v", got.Status.State, cond, got.Status.Services)
	})
}

// resolvedGraph is a test graph as the operator resolves it (its default settings).
// scrapedEverywhere fails unless each of the graph's pods is selected by one of the
// PodMonitors generated for the graph, whose endpoint port the pod declares.
func scrapedEverywhere(t *testing.T, cl client.Client, g *graph.Graph) {
	t.Helper()
	ts, err := observability.Targets([]*graph.Graph{g}, renderConfig)
	if err != nil {
		t.Fatal(err)
	}
	pms := observability.PodMonitors(ts, "5s")
	pods := &corev1.PodList{}
	if err := cl.List(context.Background(), pods, client.InNamespace(g.Namespace), client.MatchingLabels{v1alpha1.LabelGraphDeploymentName: g.Name}); err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) == 0 {
		t.Fatal("the graph has no pods")
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		scraped := false
		for _, pm := range pms {
			if !labels.SelectorFromSet(pm.Spec.Selector.MatchLabels).Matches(labels.Set(p.Labels)) {
				continue
			}
			for _, c := range p.Spec.Containers {
				scraped = scraped || slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.Name == pm.Spec.PodMetricsEndpoints[0].Port })
			}
		}
		if !scraped {
			t.Errorf("pod %s (%s) is no generated PodMonitor's target; labels %v", p.Name, p.Labels[v1alpha1.LabelComponentType], p.Labels)
		}
	}
}

func resolvedGraph(dgd *v1alpha1.DynamoGraphDeployment) *graph.Graph {
	g, _ := graph.Resolve(dgd, graph.Options{})
	return g
}
