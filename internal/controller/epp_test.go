package controller_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/controller/controllertest"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster/devclustertest"
)

// eppGraph is upstream's gateway example (examples/backends/vllm/deploy/gaie/agg.yaml) in
// short: an Endpoint Picker with an inline EndpointPickerConfig, workers with a frontend
// sidecar in direct router mode, and a frontend (which the pool must not select).
const eppGraph = `apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeployment
metadata: {name: gaie, namespace: default}
spec:
  backendFramework: vllm
  services:
    Epp:
      componentType: epp
      replicas: 1
      eppConfig:
        config:
          plugins: [{name: picker, type: max-score-picker}, {name: dyn-decode, type: dyn-decode-scorer}]
          schedulingProfiles: [{name: decode, plugins: [{pluginRef: dyn-decode, weight: 1}, {pluginRef: picker}]}]
      extraPodSpec: {mainContainer: {image: registry.example/epp:1}}
    Frontend:
      componentType: frontend
      extraPodSpec: {mainContainer: {image: registry.example/frontend:1}}
    Decode:
      componentType: worker
      replicas: 2
      frontendSidecar: {image: registry.example/vllm:1, args: [-m, dynamo.frontend, --router-mode, direct]}
      resources: {limits: {gpu: "1"}}
      extraPodSpec: {mainContainer: {image: registry.example/vllm:1, command: [python3, -m, dynamo.vllm]}}
`

// An Endpoint Picker graph on a cluster with the Gateway API Inference Extension's CRD: the
// InferencePool the API server accepts, selecting exactly the graph's worker pods (their
// sidecars serve 8000) and naming the picker's Service, which serves gRPC on 9002 from the
// picker's pod; the picker's pod runs as the namespace's EPP account, reads its config from the
// graph's ConfigMap, and the account may read pools but not change them; a manual edit of the
// pool is put back; the pool, ConfigMap and Role go with the picker, the account stays.
func TestInferenceGateway(t *testing.T) {
	c, cl := controllertest.Setup(t, "h100=2,cpu=1", devclustertest.WithInferenceGateway)
	ctx := context.Background()
	dgd := controllertest.CreateGraph(t, cl, eppGraph)
	key := client.ObjectKeyFromObject(dgd)
	waitForGraph(t, cl, key, "graph Ready", 2*time.Minute, func(d *v1alpha1.DynamoGraphDeployment, ready *metav1.Condition) (bool, error) {
		return ready != nil && ready.Status == metav1.ConditionTrue, fmt.Errorf("%+v", ready)
	})

	pool := inferencePool()
	if err := cl.Get(ctx, client.ObjectKey{Namespace: "default", Name: "gaie-pool"}, pool); err != nil {
		t.Fatal(err)
	}
	if ref := metav1.GetControllerOf(pool); ref == nil || ref.Kind != "DynamoGraphDeployment" || ref.Name != "gaie" {
		t.Errorf("pool owner %+v", pool.GetOwnerReferences())
	}
	// The pool's pods: its selector (as the gateway reads it) matches the two workers only.
	matchLabels, _, _ := unstructured.NestedStringMap(pool.Object, "spec", "selector", "matchLabels")
	pods := &corev1.PodList{}
	if err := cl.List(ctx, pods, client.InNamespace("default"), client.MatchingLabels(matchLabels)); err != nil {
		t.Fatal(err)
	}
	if len(matchLabels) == 0 || len(pods.Items) != 2 || slices.ContainsFunc(pods.Items, func(p corev1.Pod) bool {
		return p.Labels[v1alpha1.LabelComponent] != "Decode" || !slices.ContainsFunc(p.Spec.Containers, func(ct corev1.Container) bool {
			return ct.Name == v1alpha1.FrontendSidecarContainerName && slices.ContainsFunc(ct.Ports, func(p corev1.ContainerPort) bool { return p.ContainerPort == 8000 })
		})
	}) {
		t.Errorf("pool selector %v selects %d pods: %v", matchLabels, len(pods.Items), podNames(pods.Items))
	}
	if ports, _, _ := unstructured.NestedSlice(pool.Object, "spec", "targetPorts"); len(ports) != 1 || fmt.Sprint(ports[0].(map[string]any)["number"]) != "8000" {
		t.Errorf("pool target ports %v", ports)
	}
	// Its picker: a Service on 9002 whose endpoints are the picker's pod.
	pickerName, _, _ := unstructured.NestedString(pool.Object, "spec", "endpointPickerRef", "name")
	pickerPort, _, _ := unstructured.NestedInt64(pool.Object, "spec", "endpointPickerRef", "port", "number")
	svc := &corev1.Service{}
	if err := cl.Get(ctx, client.ObjectKey{Namespace: "default", Name: pickerName}, svc); err != nil {
		t.Fatalf("the pool's picker Service %q: %v", pickerName, err)
	}
	if len(svc.Spec.Ports) != 1 || int64(svc.Spec.Ports[0].Port) != pickerPort || pickerPort != 9002 || svc.Spec.Ports[0].AppProtocol == nil || *svc.Spec.Ports[0].AppProtocol != "http2" {
		t.Errorf("picker Service ports %+v (pool asks for %d)", svc.Spec.Ports, pickerPort)
	}
	eventually(t, "the picker Service's endpoint is the picker's pod", time.Minute, func(ctx context.Context) (bool, error) {
		slices := &discoveryv1.EndpointSliceList{}
		if err := cl.List(ctx, slices, client.InNamespace("default"), client.MatchingLabels{discoveryv1.LabelServiceName: pickerName}); err != nil {
			return false, err
		}
		var targets []string
		for _, s := range slices.Items {
			for _, e := range s.Endpoints {
				if e.TargetRef != nil {
					targets = append(targets, e.TargetRef.Name)
				}
			}
		}
		return len(targets) == 1 && strings.HasPrefix(targets[0], "gaie-epp-"), fmt.Errorf("endpoints %v", targets)
	})

	// The picker's pod: its account, its config from the graph's ConfigMap.
	epp := &corev1.PodList{}
	if err := cl.List(ctx, epp, client.InNamespace("default"), client.MatchingLabels{v1alpha1.LabelComponent: "Epp"}); err != nil || len(epp.Items) != 1 {
		t.Fatalf("picker pods %d: %v", len(epp.Items), err)
	}
	p := epp.Items[0]
	main := p.Spec.Containers[len(p.Spec.Containers)-1]
	if p.Spec.ServiceAccountName != v1alpha1.EPPServiceAccount || !slices.Contains(main.Args, "gaie-pool") ||
		!slices.ContainsFunc(p.Spec.Volumes, func(v corev1.Volume) bool { return v.ConfigMap != nil && v.ConfigMap.Name == "gaie-epp-config" }) {
		t.Errorf("picker pod: account %q, args %v, volumes %+v", p.Spec.ServiceAccountName, main.Args, p.Spec.Volumes)
	}
	cm := &corev1.ConfigMap{}
	if err := cl.Get(ctx, client.ObjectKey{Namespace: "default", Name: "gaie-epp-config"}, cm); err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(cm.Data[v1alpha1.EPPConfigKey]), &cfg); err != nil || cfg["kind"] != "EndpointPickerConfig" || len(cfg["plugins"].([]any)) != 2 {
		t.Errorf("picker config %q: %v", cm.Data[v1alpha1.EPPConfigKey], err)
	}

	// The account reads pools, pods, endpoint slices and worker metadata; it changes nothing.
	checkAccess(t, c.Client(), "default", v1alpha1.EPPServiceAccount, []access{
		{authorizationv1.ResourceAttributes{Verb: "watch", Group: v1alpha1.InferencePoolGroup, Resource: "inferencepools"}, true},
		{authorizationv1.ResourceAttributes{Verb: "get", Group: v1alpha1.InferencePoolGroup, Resource: "inferencepools", Name: "gaie-pool"}, true},
		{authorizationv1.ResourceAttributes{Verb: "list", Resource: "pods"}, true},
		{authorizationv1.ResourceAttributes{Verb: "list", Group: "discovery.k8s.io", Resource: "endpointslices"}, true},
		{authorizationv1.ResourceAttributes{Verb: "watch", Group: "nvidia.com", Resource: "dynamoworkermetadatas"}, true},
		{authorizationv1.ResourceAttributes{Verb: "update", Group: v1alpha1.InferencePoolGroup, Resource: "inferencepools", Name: "gaie-pool"}, false},
		{authorizationv1.ResourceAttributes{Verb: "create", Group: "nvidia.com", Resource: "dynamoworkermetadatas"}, false},
		{authorizationv1.ResourceAttributes{Verb: "delete", Resource: "pods"}, false},
	})

	// A manual edit of the pool is put back.
	if err := unstructured.SetNestedSlice(pool.Object, []any{map[string]any{"number": int64(9999)}}, "spec", "targetPorts"); err != nil {
		t.Fatal(err)
	}
	if err := cl.Update(ctx, pool); err != nil {
		t.Fatal(err)
	}
	eventually(t, "pool put back", time.Minute, func(ctx context.Context) (bool, error) {
		got := inferencePool()
		if err := cl.Get(ctx, client.ObjectKey{Namespace: "default", Name: "gaie-pool"}, got); err != nil {
			return false, err
		}
		ports, _, _ := unstructured.NestedSlice(got.Object, "spec", "targetPorts")
		return len(ports) == 1 && fmt.Sprint(ports[0].(map[string]any)["number"]) == "8000", fmt.Errorf("target ports %v", ports)
	})

	// The picker removed: its pool, ConfigMap and Role go; the namespace's account stays.
	patchSpec(t, cl, key, func(d *v1alpha1.DynamoGraphDeployment) { delete(d.Spec.Services, "Epp") })
	for _, o := range []struct {
		obj  client.Object
		name string
	}{{inferencePool(), "gaie-pool"}, {&corev1.ConfigMap{}, "gaie-epp-config"}, {&corev1.Service{}, "gaie-epp"}} {
		eventually(t, o.name+" deleted", time.Minute, func(ctx context.Context) (bool, error) {
			err := cl.Get(ctx, client.ObjectKey{Namespace: "default", Name: o.name}, o.obj)
			return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
		})
	}
	if err := cl.Get(ctx, client.ObjectKey{Namespace: "default", Name: v1alpha1.EPPServiceAccount}, &corev1.ServiceAccount{}); err != nil {
		t.Errorf("the namespace's EPP account: %v", err)
	}
}

func podNames(pods []corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name+" "+labels.Set(p.Labels).String())
	}
	return out
}
