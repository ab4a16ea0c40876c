package controller_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	resourcev1 "k8s.io/api/resource/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	lwsv1 "sigs.k8s.io/lws/api/leaderworkerset/v1"
	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/api/v1beta1"
	"github.com/dynamo-infra/dynamo-infra/internal/controller"
	"github.com/dynamo-infra/dynamo-infra/internal/controller/controllertest"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster/devclustertest"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
)

// inferencePool is an empty InferencePool to read into.
func inferencePool() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(render.InferencePoolGVK)
	return u
}

// virtualService is an empty Istio VirtualService to read into.
func virtualService() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(render.VirtualServiceGVK)
	return u
}

// requestLog records the (group, resource, verb) of every API request made through a config,
// as the API server's authorizer sees them.
type requestLog struct {
	mu   sync.Mutex
	seen map[string]bool // "group/resource:verb"
}

func (l *requestLog) wrap(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			resp, err := rt.RoundTrip(req)
			group, resource, named, ok := resourceOf(req.URL.Path)
			if !ok {
				return resp, err
			}
			var verbs []string
			switch req.Method {
			case http.MethodGet:
				switch {
				case named:
					verbs = []string{"get"}
				case req.URL.Query().Get("watch") == "true":
					verbs = []string{"watch"}
				default:
					verbs = []string{"list"}
				}
			case http.MethodPost:
				verbs = []string{"create"}
			case http.MethodPut, http.MethodPatch:
				verbs = []string{map[string]string{http.MethodPut: "update", http.MethodPatch: "patch"}[req.Method]}
				// An apply or update that creates the object is also authorized as create.
				if err == nil && resp.StatusCode == http.StatusCreated {
					verbs = append(verbs, "create")
				}
			case http.MethodDelete:
				verbs = []string{"delete"}
				if !named {
					verbs = []string{"deletecollection"}
				}
			}
			l.mu.Lock()
			if l.seen == nil {
				l.seen = map[string]bool{}
			}
			for _, v := range verbs {
				l.seen[group+"/"+resource+":"+v] = true
			}
			l.mu.Unlock()
			return resp, err
		})
	})
	return cfg
}

// resourceOf reads the API group, resource (with subresource) and whether one object is named
// from a request path; discovery and other non-resource paths give ok false.
func resourceOf(path string) (group, resource string, named, ok bool) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(parts) >= 3 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		group, parts = parts[1], parts[3:]
	default:
		return "", "", false, false
	}
	if len(parts) >= 3 && parts[0] == "namespaces" {
		parts = parts[2:]
	}
	resource = parts[0]
	if len(parts) >= 3 {
		resource += "/" + parts[2]
	}
	return group, resource, len(parts) >= 2, true
}

// Every rule the operator's generated role holds is needed: the reconciler uses each verb on
// each resource while it creates a graph, reverts manual edits of every kind of child, prunes
// removed services and discovery, and reports status and events — or grants it in the
// discovery Role it creates (the API server lets it grant only what it holds). A marker that
// grants more (a verb nothing calls) fails here, naming it.
func TestRoleIsNoBroaderThanNeeded(t *testing.T) {
	c := devclustertest.Start(t, "h100=1", devclustertest.WithLWS)
	// Grove's ClusterTopology kind (a stand-in CRD, no object): a graph with a topology
	// constraint has its profile read — a 404, so the built-in levels — and its nodes' labels.
	devclustertest.InstallCRDs(t, c.RESTConfig(), testkit.CRDPath(), testkit.WorkerMetadataCRDPath(), testkit.ClusterTopologyCRDPath(), testkit.ScalingAdapterCRDPath(), testkit.VirtualServiceCRDPath(), testkit.DynamoModelCRDPath(), testkit.InferencePoolCRDPath())
	var used requestLog
	controllertest.StartOperatorWithConfig(t, used.wrap(c.RESTConfig()))
	ctx := context.Background()
	cl, err := client.New(c.RESTConfig(), client.Options{Scheme: controller.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	// The graph of TestEditsConverge plus a planner, a multi-node service (a LeaderWorkerSet and
	// the wait script's ConfigMap) and a worker with a DRA claim (its Schedulable plan lists the
	// cluster's DRA objects): every kind of child the operator writes, everything it reads.
	dgd := controllertest.CreateGraph(t, cl, strings.Replace(editsGraph, "spec:\n", "spec:\n  topologyConstraint: {topologyProfile: dev, packDomain: zone}\n", 1)+`    Planner:
      componentType: planner
      extraPodSpec: {mainContainer: {image: registry.example/planner:1}}
    Big:
      componentType: worker
      multinode: {nodeCount: 2}
      resources: {limits: {gpu: "8"}}
      extraPodSpec:
        mainContainer:
          image: registry.example/worker:1
          command: [python3, -m, dynamo.vllm]
          args: [--tensor-parallel-size, "16"]
    Claimer:
      componentType: worker
      resources: {claims: [{name: gpus}]}
      extraPodSpec:
        resourceClaims: [{name: gpus, resourceClaimTemplateName: gpus}]
        mainContainer: {image: registry.example/worker:1}
    Scaled:
      componentType: worker
      scalingAdapter: {enabled: true}
      extraPodSpec: {mainContainer: {image: registry.example/worker:1}}
    Gms:
      componentType: worker
      gpuMemoryService: {enabled: true}
      resources: {limits: {gpu: "1"}}
      extraPodSpec: {mainContainer: {image: registry.example/worker:1}}
    Lora:
      componentType: worker
      modelRef: {name: base/model}
      extraPodSpec: {mainContainer: {image: registry.example/worker:1}}
    Exposed:
      componentType: frontend
      ingress: {enabled: true, host: llm, ingressControllerClassName: nginx, tls: {secretName: llm-tls}}
      extraPodSpec: {mainContainer: {image: registry.example/frontend:1}}
    Meshed:
      componentType: frontend
      ingress: {enabled: true, host: mesh, useVirtualService: true, virtualServiceGateway: istio-system/public}
      extraPodSpec: {mainContainer: {image: registry.example/frontend:1}}
    Picker:
      componentType: epp
      eppConfig: {config: {plugins: [{name: picker, type: max-score-picker}], schedulingProfiles: [{name: default, plugins: [{pluginRef: picker}]}]}}
      extraPodSpec: {mainContainer: {image: registry.example/epp:1}}
`)
	key := client.ObjectKeyFromObject(dgd)
	// Reconciled (the worker stays Pending: the dev cluster provisions no volume for its claim).
	reconciled := func(what string) {
		t.Helper()
		waitForGraph(t, cl, key, what, time.Minute, func(d *v1alpha1.DynamoGraphDeployment, ready *metav1.Condition) (bool, error) {
			return ready != nil && d.Status.ObservedGeneration == d.Generation, nil
		})
	}
	gone := func(obj client.Object, name string) {
		t.Helper()
		eventually(t, kindOf(obj)+" "+name+" deleted", time.Minute, func(ctx context.Context) (bool, error) {
			err := cl.Get(ctx, types.NamespacedName{Namespace: "default", Name: name}, obj)
			return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
		})
	}
	reconciled("created")
	// A DynamoModel of the base model: its finalizer added (an update), its status written,
	// then deleted (the finalizer removed).
	model := &v1beta1.DynamoModel{ObjectMeta: metav1.ObjectMeta{Name: "base", Namespace: "default"},
		Spec: v1beta1.DynamoModelSpec{ModelName: "base/model", BaseModelName: "base/model"}}
	if err := cl.Create(ctx, model); err != nil {
		t.Fatal(err)
	}
	eventually(t, "DynamoModel reconciled", time.Minute, func(ctx context.Context) (bool, error) {
		err := cl.Get(ctx, client.ObjectKeyFromObject(model), model)
		return err == nil && len(model.Finalizers) == 1 && len(model.Status.Conditions) > 0, err
	})
	if err := cl.Delete(ctx, model); err != nil {
		t.Fatal(err)
	}
	gone(&v1beta1.DynamoModel{}, "base")
	// The scaling adapter's replicas reach the graph (the adapter controller's update of the
	// graph and of the adapter's status).
	adapter := &v1beta1.DynamoGraphDeploymentScalingAdapter{}
	eventually(t, "scaling adapter created", time.Minute, func(ctx context.Context) (bool, error) {
		err := cl.Get(ctx, types.NamespacedName{Namespace: "default", Name: "edits-scaled"}, adapter)
		return err == nil, err
	})
	if err := cl.SubResource("scale").Update(ctx, adapter, client.WithSubResourceBody(&autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{Name: adapter.Name, Namespace: "default"}, Spec: autoscalingv1.ScaleSpec{Replicas: 2}})); err != nil {
		t.Fatal(err)
	}
	waitForGraph(t, cl, key, "scaled by its adapter", time.Minute, func(d *v1alpha1.DynamoGraphDeployment, _ *metav1.Condition) (bool, error) {
		return ptr.Deref(d.Spec.Services["Scaled"].Replicas, 1) == 2, nil
	})
	// The claimer's pod waits for its claim: the operator plans the graph (Schedulable), which
	// lists the cluster's DRA objects.
	waitForGraph(t, cl, key, "planned", time.Minute, func(d *v1alpha1.DynamoGraphDeployment, _ *metav1.Condition) (bool, error) {
		return meta.FindStatusCondition(d.Status.Conditions, controller.ConditionSchedulable) != nil, nil
	})
	rendered, err := render.Graph(resolvedGraph(dgd), renderConfig)
	if err != nil {
		t.Fatal(err)
	}
	// The ingress as upstream renders it, accepted by the API server: the host, "/" to the
	// Service's port 8000, the class, TLS; the VirtualService through the gateway.
	ing := &networkingv1.Ingress{}
	if err := cl.Get(ctx, types.NamespacedName{Namespace: "default", Name: "edits-exposed"}, ing); err != nil {
		t.Fatal(err)
	}
	if r := ing.Spec.Rules; len(r) != 1 || r[0].Host != "llm.local" || r[0].HTTP.Paths[0].Backend.Service.Name != "edits-exposed" ||
		r[0].HTTP.Paths[0].Backend.Service.Port.Number != 8000 || ptr.Deref(ing.Spec.IngressClassName, "") != "nginx" ||
		len(ing.Spec.TLS) != 1 || ing.Spec.TLS[0].SecretName != "llm-tls" {
		t.Errorf("Ingress spec %+v", ing.Spec)
	}
	vs := virtualService()
	if err := cl.Get(ctx, types.NamespacedName{Namespace: "default", Name: "edits-meshed"}, vs); err != nil {
		t.Fatal(err)
	}
	if hosts, _, _ := unstructured.NestedStringSlice(vs.Object, "spec", "hosts"); len(hosts) != 1 || hosts[0] != "mesh.local" {
		t.Errorf("VirtualService hosts %v", hosts)
	}

	// A manual edit of the content of each kind of child whose content is the graph's, by
	// another field manager: each is reverted with an update. (Claims are data, used as they
	// are; a ServiceAccount carries nothing of ours.)
	edits := []struct {
		obj   client.Object
		name  string
		patch string
	}{
		{&appsv1.Deployment{}, "edits-frontend", `{"spec":{"minReadySeconds":7}}`},
		{&corev1.Service{}, "edits-frontend", `{"spec":{"publishNotReadyAddresses":true}}`},
		{&lwsv1.LeaderWorkerSet{}, resolvedGraph(dgd).Component("Big").WorkloadName, `{"spec":{"leaderWorkerTemplate":{"size":3}}}`},
		{&corev1.ConfigMap{}, "edits-wait-leader-script", `{"data":{"wait-for-leader.py":"print(1)"}}`},
		{&networkingv1.Ingress{}, "edits-exposed", `{"spec":{"ingressClassName":"other"}}`},
		{virtualService(), "edits-meshed", `{"spec":{"gateways":["other/gw"]}}`},
		{inferencePool(), "edits-pool", `{"spec":{"targetPorts":[{"number":9999}]}}`},
		{&corev1.ConfigMap{}, "edits-epp-config", `{"data":{"epp-config-dynamo.yaml":"plugins: []"}}`},
	}
	for _, o := range rendered {
		switch o := o.(type) {
		case *rbacv1.Role:
			edits = append(edits, struct {
				obj   client.Object
				name  string
				patch string
			}{&rbacv1.Role{}, o.Name, `{"rules":[{"apiGroups":[""],"resources":["configmaps"],"verbs":["get"]}]}`})
		case *rbacv1.RoleBinding:
			edits = append(edits, struct {
				obj   client.Object
				name  string
				patch string
			}{&rbacv1.RoleBinding{}, o.Name, `{"subjects":[{"kind":"ServiceAccount","name":"default","namespace":"default"}]}`})
		}
	}
	for _, e := range edits {
		k := types.NamespacedName{Namespace: "default", Name: e.name}
		if err := cl.Get(ctx, k, e.obj); err != nil {
			t.Fatal(err)
		}
		if err := cl.Patch(ctx, e.obj, client.RawPatch(types.MergePatchType, []byte(e.patch)), client.FieldOwner("kubectl-edit")); err != nil {
			t.Fatalf("edit %s %s: %v", kindOf(e.obj), e.name, err)
		}
		eventually(t, kindOf(e.obj)+" "+e.name+" reverted", time.Minute, func(ctx context.Context) (bool, error) {
			if err := cl.Get(ctx, k, e.obj); err != nil {
				return false, err
			}
			return !slices.ContainsFunc(e.obj.GetManagedFields(), func(m metav1.ManagedFieldsEntry) bool { return m.Manager == "kubectl-edit" }), nil
		})
	}

	// Removals: services (Deployment, LeaderWorkerSet, Services and, with no multi-node service
	// left, the wait script deleted), then discovery (account, Role, binding).
	patchSpec(t, cl, key, func(d *v1alpha1.DynamoGraphDeployment) {
		delete(d.Spec.Services, "Worker")
		delete(d.Spec.Services, "Big")
		delete(d.Spec.Services, "Claimer")
		delete(d.Spec.Services, "Scaled")
		delete(d.Spec.Services, "Exposed")
		delete(d.Spec.Services, "Lora")
		delete(d.Spec.Services, "Gms")
		delete(d.Spec.Services, "Meshed")
		delete(d.Spec.Services, "Picker")
	})
	reconciled("services removed")
	gone(&networkingv1.Ingress{}, "edits-exposed")
	gone(&corev1.Service{}, graph.ModelServiceName("base/model"))
	gone(&resourcev1.ResourceClaimTemplate{}, "edits-gms-gpu")
	gone(virtualService(), "edits-meshed")
	gone(inferencePool(), "edits-pool")
	gone(&corev1.ConfigMap{}, "edits-epp-config")
	gone(&v1beta1.DynamoGraphDeploymentScalingAdapter{}, "edits-scaled")
	gone(&appsv1.Deployment{}, "edits-worker")
	gone(&lwsv1.LeaderWorkerSet{}, resolvedGraph(dgd).Component("Big").WorkloadName)
	gone(&corev1.ConfigMap{}, "edits-wait-leader-script")
	patchSpec(t, cl, key, func(d *v1alpha1.DynamoGraphDeployment) {
		d.Annotations = map[string]string{v1alpha1.AnnotationDiscoveryBackend: v1alpha1.DiscoveryEtcd}
	})
	reconciled("discovery off")
	for _, o := range rendered {
		if rb, ok := o.(*rbacv1.RoleBinding); ok && rb.Subjects[0].Name != v1alpha1.PlannerServiceAccount {
			gone(&rbacv1.RoleBinding{}, rb.Name) // the discovery binding (the planner's stays)
		}
	}

	// Needed: what was used, plus what the discovery Role grants.
	needed := map[string]bool{}
	used.mu.Lock()
	for k := range used.seen {
		needed[k] = true
	}
	used.mu.Unlock()
	for _, o := range rendered {
		if role, ok := o.(*rbacv1.Role); ok {
			for _, r := range role.Rules {
				for _, k := range expand(r) {
					needed[k] = true
				}
			}
		}
	}
	raw, err := os.ReadFile(filepath.Join(testkit.RepoRoot(), "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.Unmarshal(raw, &role); err != nil {
		t.Fatal(err)
	}
	// Reads go as a group: the cache lists and watches what it holds (a watch that streams the
	// initial list stands for the list), gets go to the API server only when the cache cannot
	// answer (a name taken by someone else's object); what the operator reads at all it may read
	// every way. Each write verb must be used on its own.
	reads := []string{"get", "list", "watch"}
	// Verbs a library uses on the operator's behalf when timing allows, which a short run may
	// not show: the event recorder patches the series of an event that repeats.
	byLibrary := map[string]bool{"events.k8s.io/events:patch": true}
	var unneeded []string
	for _, r := range role.Rules {
		for _, k := range expand(r) {
			res, verb, _ := strings.Cut(k, ":")
			if needed[k] || byLibrary[k] || slices.Contains(reads, verb) && slices.ContainsFunc(reads, func(v string) bool { return needed[res+":"+v] }) {
				continue
			}
			unneeded = append(unneeded, k)
		}
	}
	if len(unneeded) > 0 {
		slices.Sort(unneeded)
		t.Errorf("the operator's role grants what no reconcile used and no Role it creates grants; drop these verbs from the RBAC markers:\n  %s",
			strings.Join(unneeded, "\n  "))
	}
}

// expand lists a rule's group/resource:verb triples.
func expand(r rbacv1.PolicyRule) []string {
	var out []string
	for _, g := range r.APIGroups {
		for _, res := range r.Resources {
			for _, v := range r.Verbs {
				out = append(out, g+"/"+res+":"+v)
			}
		}
	}
	return out
}

// kindOf is the Kind of a typed object of the operator's scheme.
func kindOf(obj client.Object) string {
	gvks, _, err := controller.Scheme().ObjectKinds(obj)
	if err != nil || len(gvks) == 0 {
		return fmt.Sprintf("%T", obj)
	}
	return gvks[0].Kind
}
