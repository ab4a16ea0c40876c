package controller_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/controller"
	"github.com/dynamo-infra/dynamo-infra/internal/controller/controllertest"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster/devclustertest"
	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
)

const editsGraph = `apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeployment
metadata: {name: edits, namespace: default}
spec:
  pvcs:
  - {name: edits-cache, create: true, storageClass: standard, size: 1Gi, volumeAccessMode: ReadWriteOnce}
  services:
    Frontend:
      componentType: frontend
      extraPodSpec: {mainContainer: {image: registry.example/frontend:1}}
    Worker:
      componentType: main
      labels: {team: inference}
      envs:
      - {name: KEEP, value: "1"}
      - {name: DROP_ME, value: "1"}
      resources:
        limits: {gpu: "1"}
      volumeMounts:
      - {name: edits-cache, mountPoint: /cache}
      extraPodSpec:
        nodeSelector: {pool: gpu, rack: r1}
        mainContainer:
          image: registry.example/worker:1
          command: [python3, -m, dynamo.vllm]
          args: [--model, m, --enforce-eager]
`

// Every removal from a graph reaches its children, with one write per changed child, and a
// converged resync writes nothing: the reconciler is driven by hand through a client that counts
// its writes (no operator runs in the background). The edited service is not a worker: it is
// changed in place (a worker rolls to a new generation: rollout_test.go).
func TestEditsConverge(t *testing.T) {
	c := devclustertest.Start(t, "h100=1")
	devclustertest.InstallCRDs(t, c.RESTConfig(), testkit.CRDPath())
	ctx := context.Background()
	cl, err := client.New(c.RESTConfig(), client.Options{Scheme: controller.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	// Writes to children only: not the graph's status, not events.
	writes := writeCounter{skip: func(req *http.Request) bool {
		return strings.Contains(req.URL.Path, "dynamographdeployments") || strings.Contains(req.URL.Path, "/events")
	}}
	counted, err := client.New(writes.wrap(c.RESTConfig()), client.Options{Scheme: controller.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	r := &controller.Reconciler{Client: counted, Config: controllertest.RenderConfig}
	dgd := controllertest.CreateGraph(t, cl, editsGraph)
	key := client.ObjectKeyFromObject(dgd)
	reconcile := func(what string, want int64) {
		t.Helper()
		if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: key}); err != nil {
			t.Fatalf("%s: reconcile: %v", what, err)
		}
		if n, paths := writes.take(); n != want {
			t.Errorf("%s: %d child writes, want %d: %v", what, n, want, paths)
		}
	}
	worker := func() *appsv1.Deployment {
		t.Helper()
		d := &appsv1.Deployment{}
		if err := cl.Get(ctx, types.NamespacedName{Namespace: "default", Name: "edits-worker"}, d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	// PVC, discovery SA/Role/RoleBinding, 2 Deployments, 2 Services.
	reconcile("create", 8)
	// A new graph's first status waits for its children to report: the reconcile that created
	// them wrote none; the next one (their creation wakes it) does.
	if st := graphOf(t, cl, key).Status; st.State != "" || len(st.Conditions) > 0 || st.ObservedGeneration != 0 {
		t.Errorf("status written by the reconcile that created the children: %+v", st)
	}
	reconcile("resync", 0)
	if st := graphOf(t, cl, key).Status; st.State == "" || meta.FindStatusCondition(st.Conditions, controller.ConditionReady) == nil {
		t.Errorf("no status after the second reconcile: %+v", st)
	}

	edit := func(what string, want int64, f func(*v1alpha1.ServiceSpec), check func(*appsv1.Deployment) bool) {
		t.Helper()
		patchSpec(t, cl, key, func(d *v1alpha1.DynamoGraphDeployment) { f(d.Spec.Services["Worker"]) })
		reconcile(what, want)
		if d := worker(); !check(d) {
			t.Errorf("%s: not applied: %+v", what, d.Spec.Template)
		}
		reconcile(what+", resync", 0)
	}
	mainOf := func(d *appsv1.Deployment) *corev1.Container { return render.MainContainer(&d.Spec.Template.Spec) }
	edit("remove an arg", 1, func(s *v1alpha1.ServiceSpec) {
		s.ExtraPodSpec.MainContainer.Args = []string{"--model", "m"}
	}, func(d *appsv1.Deployment) bool { return !slices.Contains(mainOf(d).Args, "--enforce-eager") })
	edit("remove an env var", 1, func(s *v1alpha1.ServiceSpec) {
		s.Envs = s.Envs[:1]
	}, func(d *appsv1.Deployment) bool {
		return !slices.ContainsFunc(mainOf(d).Env, func(e corev1.EnvVar) bool { return e.Name == "DROP_ME" })
	})
	edit("remove the GPU limit", 1, func(s *v1alpha1.ServiceSpec) {
		s.Resources = nil
	}, func(d *appsv1.Deployment) bool { _, ok := mainOf(d).Resources.Limits[nvidia.ResourceGPU]; return !ok })
	edit("remove a node-selector key", 1, func(s *v1alpha1.ServiceSpec) {
		delete(s.ExtraPodSpec.NodeSelector, "rack")
	}, func(d *appsv1.Deployment) bool {
		_, ok := d.Spec.Template.Spec.NodeSelector["rack"]
		return !ok && d.Spec.Template.Spec.NodeSelector["pool"] == "gpu"
	})
	// A service label is on the Deployment, its pods and its Service: two children change.
	edit("remove a label", 2, func(s *v1alpha1.ServiceSpec) {
		s.Labels = nil
	}, func(d *appsv1.Deployment) bool {
		_, onPods := d.Spec.Template.Labels["team"]
		_, onDeployment := d.Labels["team"]
		return !onPods && !onDeployment
	})

	// A service removed from the graph: its Deployment and Service go (two deletes), the claim
	// it mounted stays.
	patchSpec(t, cl, key, func(d *v1alpha1.DynamoGraphDeployment) { delete(d.Spec.Services, "Worker") })
	reconcile("remove a service", 2)
	reconcile("remove a service, resync", 0)
	for _, obj := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}} {
		if err := cl.Get(ctx, types.NamespacedName{Namespace: "default", Name: "edits-worker"}, obj); !apierrors.IsNotFound(err) {
			t.Errorf("%T edits-worker after the service was removed: %v", obj, err)
		}
	}
	if err := cl.Get(ctx, types.NamespacedName{Namespace: "default", Name: "edits-cache"}, &corev1.PersistentVolumeClaim{}); err != nil {
		t.Errorf("the removed service's claim: %v", err)
	}
	if err := cl.Get(ctx, types.NamespacedName{Namespace: "default", Name: "edits-frontend"}, &appsv1.Deployment{}); err != nil {
		t.Errorf("the remaining service's Deployment: %v", err)
	}

	// Discovery switched off: the graph's discovery account, Role and binding go too.
	patchSpec(t, cl, key, func(d *v1alpha1.DynamoGraphDeployment) {
		d.Annotations = map[string]string{v1alpha1.AnnotationDiscoveryBackend: v1alpha1.DiscoveryEtcd}
	})
	// The frontend's env, labels and account change (Deployment, Service); 3 deletes.
	reconcile("discovery off", 5)
	reconcile("discovery off, resync", 0)
}
