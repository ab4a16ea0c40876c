package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/api/v1beta1"
	"github.com/dynamo-infra/dynamo-infra/internal/controller"
	"github.com/dynamo-infra/dynamo-infra/internal/controller/controllertest"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
)

const loraGraph = `apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeployment
metadata: {name: %s}
spec:
  services:
    Frontend:
      componentType: frontend
      extraPodSpec: {mainContainer: {image: registry.example/frontend:1}}
    Decode:
      componentType: worker
      modelRef: {name: Qwen/Qwen3-0.6B}
      extraPodSpec: {mainContainer: {image: registry.example/worker:1, command: [python3, -m, dynamo.vllm]}}
`

// modelRef wires workers to their base model as upstream does — the pods labelled with the
// name's hash and annotated with the name, one headless Service dynamo-model-<hash> per base
// model shared by the graphs that serve it — and a LoRA DynamoModel is loaded on every endpoint
// of its base model (an HTTP server of the test's own, behind a selector-less Service) and
// unloaded when deleted.
func TestModelRefAndDynamoModel(t *testing.T) {
	_, cl := setup(t, "cpu=1")
	ctx := context.Background()
	base := "Qwen/Qwen3-0.6B"
	hash := graph.ModelHash(base)
	svcKey := client.ObjectKey{Namespace: "default", Name: "dynamo-model-" + hash}

	a := controllertest.CreateGraph(t, cl, fmt.Sprintf(loraGraph, "lora-a"))
	b := controllertest.CreateGraph(t, cl, fmt.Sprintf(loraGraph, "lora-b"))
	owners := func(want ...string) {
		t.Helper()
		eventually(t, fmt.Sprintf("model Service owned by %v", want), time.Minute, func(ctx context.Context) (bool, error) {
			s := &corev1.Service{}
			if err := cl.Get(ctx, svcKey, s); err != nil {
				return len(want) == 0 && apierrors.IsNotFound(err), client.IgnoreNotFound(err)
			}
			var got []string
			for _, o := range s.OwnerReferences {
				if o.Controller != nil && *o.Controller {
					t.Fatalf("the shared model Service has a controller owner %+v", o)
				}
				got = append(got, o.Name)
			}
			slices.Sort(got)
			return slices.Equal(got, want), fmt.Errorf("owners %v", got)
		})
	}
	owners("lora-a", "lora-b")
	s := &corev1.Service{}
	if err := cl.Get(ctx, svcKey, s); err != nil {
		t.Fatal(err)
	}
	if s.Spec.ClusterIP != corev1.ClusterIPNone || s.Spec.Selector[v1alpha1.LabelBaseModelHash] != hash || len(s.Spec.Selector) != 1 ||
		s.Labels[v1alpha1.LabelBaseModelHash] != hash || s.Annotations[v1alpha1.AnnotationBaseModel] != base ||
		len(s.Spec.Ports) != 1 || s.Spec.Ports[0].Port != 9090 || s.Spec.Ports[0].Name != "system" {
		t.Errorf("model Service %+v %+v", s.ObjectMeta, s.Spec)
	}
	d := &appsv1.Deployment{}
	if err := cl.Get(ctx, client.ObjectKey{Namespace: "default", Name: resolvedGraph(a).Component("Decode").WorkloadName}, d); err != nil {
		t.Fatal(err)
	}
	if d.Spec.Template.Labels[v1alpha1.LabelBaseModelHash] != hash || d.Spec.Template.Annotations[v1alpha1.AnnotationBaseModel] != base {
		t.Errorf("decode pods: labels %v annotations %v", d.Spec.Template.Labels, d.Spec.Template.Annotations)
	}
	// A graph that stops serving the model lets go of its Service; the last one deletes it.
	patchSpec(t, cl, client.ObjectKeyFromObject(b), func(g *v1alpha1.DynamoGraphDeployment) { g.Spec.Services["Decode"].ModelRef = nil })
	owners("lora-a")
	patchSpec(t, cl, client.ObjectKeyFromObject(a), func(g *v1alpha1.DynamoGraphDeployment) { g.Spec.Services["Decode"].ModelRef = nil })
	owners()

	// A LoRA on a base model whose one endpoint is this test's server.
	var mu sync.Mutex
	var calls []string
	var loaded map[string]any
	// Served on this machine's own address: an endpoint may not be a loopback address, and an
	// FQDN needs a resolver.
	ip := hostIP(t)
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, r.Method+" "+r.URL.Path)
		if r.Method == http.MethodPost {
			raw, _ := io.ReadAll(r.Body)
			_ = json.Unmarshal(raw, &loaded)
		}
		w.WriteHeader(http.StatusOK)
	}))
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	port := ln.Addr().(*net.TCPAddr).Port
	loraBase := "test/lora-base"
	if err := cl.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "lora-backend", Namespace: "default",
		Labels: map[string]string{v1alpha1.LabelBaseModelHash: graph.ModelHash(loraBase)}},
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Name: "system", Port: int32(port)}}}}); err != nil {
		t.Fatal(err)
	}
	// The endpoint is this process.
	if err := cl.Create(ctx, &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "lora-backend-1", Namespace: "default",
		Labels: map[string]string{discoveryv1.LabelServiceName: "lora-backend", v1alpha1.LabelBaseModelHash: graph.ModelHash(loraBase)}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "lora-worker-0", Namespace: "default"}}},
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To("system"), Port: ptr.To(int32(port)), Protocol: ptr.To(corev1.ProtocolTCP)}}}); err != nil {
		t.Fatal(err)
	}
	m := &v1beta1.DynamoModel{ObjectMeta: metav1.ObjectMeta{Name: "my-lora", Namespace: "default"},
		Spec: v1beta1.DynamoModelSpec{ModelName: "team/my-lora", BaseModelName: loraBase, ModelType: "lora",
			Source: &v1beta1.ModelSource{URI: "s3://bucket/my-lora"}}}
	if err := cl.Create(ctx, m); err != nil {
		t.Fatal(err)
	}
	eventually(t, "LoRA loaded on its endpoint", time.Minute, func(ctx context.Context) (bool, error) {
		got := &v1beta1.DynamoModel{}
		if err := cl.Get(ctx, client.ObjectKeyFromObject(m), got); err != nil {
			return false, err
		}
		c := meta.FindStatusCondition(got.Status.Conditions, controller.ConditionEndpointsReady)
		return got.Status.ReadyEndpoints == 1 && got.Status.TotalEndpoints == 1 && c != nil && c.Status == metav1.ConditionTrue &&
				len(got.Status.Endpoints) == 1 && got.Status.Endpoints[0].PodName == "lora-worker-0" &&
				got.Status.Endpoints[0].Address == srv.URL && slices.Contains(got.Finalizers, controller.ModelFinalizer),
			fmt.Errorf("status %+v finalizers %v", got.Status, got.Finalizers)
	})
	mu.Lock()
	if src, _ := loaded["source"].(map[string]any); loaded["lora_name"] != "team/my-lora" || src["uri"] != "s3://bucket/my-lora" || !slices.Contains(calls, "POST /v1/loras") {
		t.Errorf("load request %v, calls %v", loaded, calls)
	}
	mu.Unlock()
	// Deleted: unloaded from the endpoint, then gone.
	if err := cl.Delete(ctx, m); err != nil {
		t.Fatal(err)
	}
	eventually(t, "LoRA unloaded and the model gone", time.Minute, func(ctx context.Context) (bool, error) {
		err := cl.Get(ctx, client.ObjectKeyFromObject(m), &v1beta1.DynamoModel{})
		mu.Lock()
		defer mu.Unlock()
		return apierrors.IsNotFound(err) && slices.Contains(calls, "DELETE /v1/loras/team/my-lora"), fmt.Errorf("calls %v, get: %w", calls, err)
	})
}

// hostIP is an IPv4 address of this machine that is not loopback (an endpoint slice refuses
// loopback addresses).
func hostIP(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	t.Fatalf("this machine has no IPv4 address but loopback (%v): the test serves a model endpoint on one", addrs)
	return ""
}
