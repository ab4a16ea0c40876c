package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/api/v1beta1"
	"github.com/dynamo-infra/dynamo-infra/internal/controller"
	"github.com/dynamo-infra/dynamo-infra/internal/controller/controllertest"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
)

const adaptedGraph = `apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeployment
metadata: {name: scaled}
spec:
  services:
    Frontend:
      componentType: frontend
      extraPodSpec: {mainContainer: {image: registry.example/frontend:1}}
    Planner:
      componentType: planner
      extraPodSpec: {mainContainer: {image: registry.example/planner:1}}
    Worker:
      componentType: worker
      replicas: 1
      scalingAdapter: {enabled: true}
      extraPodSpec: {mainContainer: {image: registry.example/worker:1, command: [python3, -m, dynamo.vllm]}}
`

// A service with a scalingAdapter is scaled through its DynamoGraphDeploymentScalingAdapter, as
// upstream's: the operator creates it (replicas seeded from the graph, the pods' selector in its
// status), a scale of the adapter (kubectl scale's subresource) becomes the graph's replicas and
// the service's pods, a direct edit of the graph's replicas is put back (the adapter owns them),
// scaling every worker to 0 under a running frontend is a warning condition, a real
// HorizontalPodAutoscaler on an external metric scales the service through the adapter without
// the operator fighting it, the planner's account may scale this graph's adapter and little
// else, and the adapter goes when the service gives it up.
func TestScalingAdapter(t *testing.T) {
	c, cl := setup(t, "cpu=1")
	ctx := context.Background()
	cs := c.Client()
	dgd := controllertest.CreateGraph(t, cl, adaptedGraph)
	key := client.ObjectKeyFromObject(dgd)
	name := "scaled-worker" // <graph>-<lowercased service>, as upstream names it
	adapterKey := client.ObjectKey{Namespace: key.Namespace, Name: name}
	worker := resolvedGraph(dgd).Component("Worker").WorkloadName

	waitAdapter := func(what string, ok func(a *v1beta1.DynamoGraphDeploymentScalingAdapter) bool) {
		t.Helper()
		eventually(t, what, time.Minute, func(ctx context.Context) (bool, error) {
			a := &v1beta1.DynamoGraphDeploymentScalingAdapter{}
			if err := cl.Get(ctx, adapterKey, a); err != nil {
				return false, err
			}
			return ok(a), fmt.Errorf("adapter spec %+v status %+v", a.Spec, a.Status)
		})
	}
	waitReplicas := func(want int32) {
		t.Helper()
		eventually(t, fmt.Sprintf("graph, Deployment and pods at %d", want), 2*time.Minute, func(ctx context.Context) (bool, error) {
			g := graphOf(t, cl, key)
			d := &appsv1.Deployment{}
			if err := cl.Get(ctx, client.ObjectKey{Namespace: key.Namespace, Name: worker}, d); err != nil {
				return false, err
			}
			s := g.Status.Services["Worker"]
			return ptr.Deref(g.Spec.Services["Worker"].Replicas, 1) == want && ptr.Deref(d.Spec.Replicas, 1) == want &&
					s.ReadyReplicas == want && s.Replicas == want,
				fmt.Errorf("graph replicas %d, Deployment %d, status %+v", ptr.Deref(g.Spec.Services["Worker"].Replicas, 1), ptr.Deref(d.Spec.Replicas, 1), s)
		})
	}
	scale := func(replicas int32) {
		t.Helper()
		a := &v1beta1.DynamoGraphDeploymentScalingAdapter{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: key.Namespace}}
		if err := cl.SubResource("scale").Update(ctx, a, client.WithSubResourceBody(&autoscalingv1.Scale{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: key.Namespace}, Spec: autoscalingv1.ScaleSpec{Replicas: replicas}})); err != nil {
			t.Fatalf("scale %s to %d: %v", name, replicas, err)
		}
	}

	// Created by the operator, as upstream's: owned by the graph, its replicas the service's, its
	// selector every pod of the service.
	selector := render.ScalingAdapterSelector("scaled", "Worker")
	waitAdapter("adapter created with the pods' selector", func(a *v1beta1.DynamoGraphDeploymentScalingAdapter) bool {
		ref := metav1.GetControllerOf(a)
		return a.Spec.Replicas == 1 && a.Spec.DGDRef == v1beta1.DynamoGraphDeploymentServiceRef{Name: "scaled", ServiceName: "Worker"} &&
			ref != nil && ref.Name == "scaled" && a.Status.Replicas == 1 && a.Status.Selector == selector
	})
	if sel, err := metav1.ParseToLabelSelector(selector); err != nil || sel.MatchLabels[v1alpha1.LabelComponent] != "Worker" {
		t.Errorf("selector %q: %v", selector, err)
	}
	waitReplicas(1)

	// kubectl scale dgdsa/scaled-worker --replicas=2: the graph and its pods follow.
	scale(2)
	waitReplicas(2)
	waitAdapter("adapter status at 2 with the scale's time", func(a *v1beta1.DynamoGraphDeploymentScalingAdapter) bool {
		return a.Status.Replicas == 2 && a.Status.LastScaleTime != nil
	})
	waitForObjectEvent(t, cl, "DynamoGraphDeploymentScalingAdapter", name, corev1.EventTypeNormal, controller.ReasonScaled)

	// The graph's replicas are the adapter's: a direct edit (by the cluster's admin, whom the
	// webhook lets through as it lets the operator) is put back.
	patchSpec(t, cl, key, func(d *v1alpha1.DynamoGraphDeployment) { d.Spec.Services["Worker"].Replicas = ptr.To(int32(5)) })
	waitReplicas(2)

	// Every worker at 0 under a running frontend: ModelsServed=False and a Warning; back up, True.
	scale(0)
	waitForGraph(t, cl, key, "ModelsServed=False", time.Minute, func(g *v1alpha1.DynamoGraphDeployment, _ *metav1.Condition) (bool, error) {
		c := meta.FindStatusCondition(g.Status.Conditions, v1alpha1.ConditionModelsServed)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == v1alpha1.ReasonWorkersScaledToZero &&
			strings.Contains(c.Message, "Worker") && strings.Contains(c.Message, "Frontend"), fmt.Errorf("%+v", c)
	})
	waitForEvent(t, cl, "scaled", corev1.EventTypeWarning, v1alpha1.ReasonWorkersScaledToZero)
	scale(1)
	waitForGraph(t, cl, key, "ModelsServed=True", time.Minute, func(g *v1alpha1.DynamoGraphDeployment, _ *metav1.Condition) (bool, error) {
		c := meta.FindStatusCondition(g.Status.Conditions, v1alpha1.ConditionModelsServed)
		return c != nil && c.Status == metav1.ConditionTrue, fmt.Errorf("%+v", c)
	})
	waitReplicas(1)

	// A HorizontalPodAutoscaler on an external metric the test serves (6 requests waiting, 1 per
	// replica wanted, at most 3): the controller-manager's HPA controller scales the adapter to
	// 3, and the graph and its pods follow and stay.
	serveExternalMetric(t, cs, cl, "queue_depth", "6")
	hpa := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "worker", Namespace: key.Namespace},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: v1beta1.GroupVersion.String(), Kind: "DynamoGraphDeploymentScalingAdapter", Name: name},
			MinReplicas:    ptr.To(int32(1)), MaxReplicas: 3,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
				Metric: autoscalingv2.MetricIdentifier{Name: "queue_depth"},
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr.To(resource.MustParse("1"))}}}},
		}}
	if _, err := cs.AutoscalingV2().HorizontalPodAutoscalers(key.Namespace).Create(ctx, hpa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the HPA scaled the adapter to 3", 2*time.Minute, func(ctx context.Context) (bool, error) {
		h, err := cs.AutoscalingV2().HorizontalPodAutoscalers(key.Namespace).Get(ctx, "worker", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		a := &v1beta1.DynamoGraphDeploymentScalingAdapter{}
		if err := cl.Get(ctx, adapterKey, a); err != nil {
			return false, err
		}
		return a.Spec.Replicas == 3, fmt.Errorf("adapter %d; HPA status %+v", a.Spec.Replicas, h.Status)
	})
	waitReplicas(3)
	// Not fought: it stays at 3 through several reconciles and HPA syncs.
	for range 5 {
		time.Sleep(time.Second)
		if g := graphOf(t, cl, key); ptr.Deref(g.Spec.Services["Worker"].Replicas, 1) != 3 {
			t.Fatalf("the graph's replicas went back to %d under the HPA", ptr.Deref(g.Spec.Services["Worker"].Replicas, 1))
		}
	}

	// The planner's account: this graph's adapter's scale and the graph, not the pods or
	// Deployments, not another graph's adapter, not deleting the graph.
	checkAccess(t, cs, key.Namespace, v1alpha1.PlannerServiceAccount, []access{
		{authorizationv1.ResourceAttributes{Verb: "patch", Group: "nvidia.com", Resource: "dynamographdeploymentscalingadapters", Subresource: "scale", Name: name}, true},
		{authorizationv1.ResourceAttributes{Verb: "update", Group: "nvidia.com", Resource: "dynamographdeploymentscalingadapters", Subresource: "scale", Name: name}, true},
		{authorizationv1.ResourceAttributes{Verb: "patch", Group: "nvidia.com", Resource: "dynamographdeployments", Name: "scaled"}, true},
		{authorizationv1.ResourceAttributes{Verb: "get", Group: "nvidia.com", Resource: "dynamographdeployments", Name: "scaled"}, true},
		{authorizationv1.ResourceAttributes{Verb: "patch", Group: "nvidia.com", Resource: "dynamographdeploymentscalingadapters", Subresource: "scale", Name: "other-worker"}, false},
		{authorizationv1.ResourceAttributes{Verb: "patch", Group: "nvidia.com", Resource: "dynamographdeployments", Name: "other"}, false},
		{authorizationv1.ResourceAttributes{Verb: "delete", Group: "nvidia.com", Resource: "dynamographdeployments", Name: "scaled"}, false},
		{authorizationv1.ResourceAttributes{Verb: "patch", Group: "nvidia.com", Resource: "dynamographdeploymentscalingadapters", Name: name}, false},
		{authorizationv1.ResourceAttributes{Verb: "patch", Group: "apps", Resource: "deployments", Name: worker}, false},
		{authorizationv1.ResourceAttributes{Verb: "create", Resource: "pods"}, false},
	})

	// The service gives its adapter up: the adapter is deleted, the HPA's target with it.
	if err := cs.AutoscalingV2().HorizontalPodAutoscalers(key.Namespace).Delete(ctx, "worker", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	patchSpec(t, cl, key, func(d *v1alpha1.DynamoGraphDeployment) { d.Spec.Services["Worker"].ScalingAdapter = nil })
	eventually(t, "adapter deleted", time.Minute, func(ctx context.Context) (bool, error) {
		err := cl.Get(ctx, adapterKey, &v1beta1.DynamoGraphDeploymentScalingAdapter{})
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	})
}

// access is a request and whether an account may make it.
type access struct {
	attrs authorizationv1.ResourceAttributes
	want  bool
}

// checkAccess asks the API server (SubjectAccessReviews) whether a namespace's service account
// may make each request, until each answer is the one wanted (RBAC reaches the authorizer's
// cache a moment after it is written).
func checkAccess(t *testing.T, cs kubernetes.Interface, namespace, account string, cases []access) {
	t.Helper()
	user := "system:serviceaccount:" + namespace + ":" + account
	for _, tc := range cases {
		tc.attrs.Namespace = namespace
		eventually(t, fmt.Sprintf("%s may %s %s/%s %s: %v", account, tc.attrs.Verb, tc.attrs.Resource, tc.attrs.Subresource, tc.attrs.Name, tc.want), time.Minute, func(ctx context.Context) (bool, error) {
			r, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User: user, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
				ResourceAttributes: &tc.attrs}}, metav1.CreateOptions{})
			if err != nil {
				return false, err
			}
			return r.Status.Allowed == tc.want, fmt.Errorf("allowed %v (%s)", r.Status.Allowed, r.Status.Reason)
		})
	}
}

// serveExternalMetric serves external.metrics.k8s.io/v1beta1 from this process with one metric
// at a fixed value, registered with the API server's aggregator through an ExternalName Service
// pointing at localhost (the aggregator proxies to an ExternalName's host; an endpoint slice may
// not hold a loopback address), and waits until the API serves it.
func serveExternalMetric(t *testing.T, cs kubernetes.Interface, cl client.Client, metric, value string) {
	t.Helper()
	const gv = "external.metrics.k8s.io/v1beta1"
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/apis/"+gv:
			_ = json.NewEncoder(w).Encode(map[string]any{"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
				"resources": []any{map[string]any{"name": metric, "singularName": "", "namespaced": true, "kind": "ExternalMetricValueList", "verbs": []string{"get"}}}})
		case strings.HasPrefix(r.URL.Path, "/apis/"+gv+"/namespaces/") && strings.HasSuffix(r.URL.Path, "/"+metric):
			_ = json.NewEncoder(w).Encode(map[string]any{"kind": "ExternalMetricValueList", "apiVersion": gv, "metadata": map[string]any{},
				"items": []any{map[string]any{"metricName": metric, "metricLabels": map[string]string{}, "timestamp": time.Now().UTC().Format(time.RFC3339), "value": value}}})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	ctx := context.Background()
	if _, err := cs.CoreV1().Services("kube-system").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "test-external-metrics"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "localhost"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	api := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
		"metadata": map[string]any{"name": "v1beta1.external.metrics.k8s.io"},
		"spec": map[string]any{"group": "external.metrics.k8s.io", "version": "v1beta1", "insecureSkipTLSVerify": true,
			"groupPriorityMinimum": int64(100), "versionPriority": int64(100),
			"service": map[string]any{"namespace": "kube-system", "name": "test-external-metrics", "port": int64(port)}}}}
	if err := cl.Create(ctx, api); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Delete(context.Background(), api) })
	eventually(t, "the external metrics API served", time.Minute, func(ctx context.Context) (bool, error) {
		raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/apis/" + gv + "/namespaces/default/" + metric).DoRaw(ctx)
		return err == nil && strings.Contains(string(raw), value), fmt.Errorf("%s: %w", raw, err)
	})
}
