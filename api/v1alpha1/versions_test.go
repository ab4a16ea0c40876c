package v1alpha1_test

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/api/v1beta1"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster/devclustertest"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
)

var betaGVR = schema.GroupVersionResource{Group: "nvidia.com", Version: "v1beta1", Resource: "dynamographdeployments"}

func toUnstructured(t *testing.T, obj runtime.Object) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

func fromUnstructured[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// The API server serves both versions, stores v1beta1, and converts through the webhook's code:
// a graph written in one version reads back in the other as the conversion gives it, an edit
// made in the other version converges without losing what only the first version holds, and
// the API server refuses the v1beta1 graphs dynamoctl render refuses, with the same words.
func TestBothVersionsServed(t *testing.T) {
	c := devclustertest.Start(t, "cpu=1")
	devclustertest.InstallCRDs(t, c.RESTConfig(), testkit.CRDPath())
	dyn := dynamic.NewForConfigOrDie(c.RESTConfig())
	alphas, betas := dyn.Resource(dgdGVR).Namespace("default"), dyn.Resource(betaGVR).Namespace("default")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// A v1beta1 graph with what only v1beta1 holds: components out of name order, minAvailable.
	beta := &v1beta1.DynamoGraphDeployment{}
	readYAML(t, "testdata/conversion/disagg-beta.from.yaml", beta)
	beta.Namespace = "default"
	beta.Spec.Components[0], beta.Spec.Components[1] = beta.Spec.Components[1], beta.Spec.Components[0]
	beta.Spec.Components[0].MinAvailable = ptr.To[int32](2)
	if _, err := betas.Create(ctx, toUnstructured(t, beta), metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict}); err != nil {
		t.Fatalf("create the v1beta1 graph: %v", err)
	}
	asAlpha, err := alphas.Get(ctx, beta.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("read it as v1alpha1: %v", err)
	}
	want := &v1alpha1.DynamoGraphDeployment{}
	if err := want.ConvertFrom(beta.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	got := fromUnstructured[v1alpha1.DynamoGraphDeployment](t, asAlpha)
	sameJSON(t, "v1beta1 graph read as v1alpha1 (spec)", want.Spec, got.Spec)
	if got.Annotations[v1alpha1.AnnotationConversionSpec] == "" {
		t.Errorf("read as v1alpha1, the graph does not carry what v1alpha1 cannot hold")
	}

	// Edit as v1alpha1: the prefill worker scaled; read as v1beta1: the edit, and the order and
	// minAvailable kept.
	got.Spec.Services["prefill"].Replicas = ptr.To[int32](4)
	if _, err := alphas.Update(ctx, toUnstructured(t, got), metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update as v1alpha1: %v", err)
	}
	back, err := betas.Get(ctx, beta.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b := fromUnstructured[v1beta1.DynamoGraphDeployment](t, back)
	if b.Spec.Components[0].Name != "prefill" || b.Spec.Components[0].MinAvailable == nil || *b.Spec.Components[0].MinAvailable != 2 {
		t.Errorf("after an edit as v1alpha1, v1beta1's order and minAvailable are lost: %+v", b.Spec.Components[0])
	}
	if r := b.Spec.Components[0].Replicas; r == nil || *r != 4 {
		t.Errorf("the edit made as v1alpha1 (replicas 4) does not show in v1beta1: %v", r)
	}
	if _, kept := b.Annotations[v1alpha1.AnnotationConversionSpec]; kept {
		t.Errorf("stored as v1beta1, the graph still carries a conversion annotation: %s", b.Annotations[v1alpha1.AnnotationConversionSpec])
	}

	// A v1alpha1 graph (the seed's example) reads as its conversion.
	seed := referenceDGD(t)
	if err := create(ctx, alphas, seed); err != nil {
		t.Fatal(err)
	}
	seedBeta, err := betas.Get(ctx, "dynamo", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	seedAlpha := fromUnstructured[v1alpha1.DynamoGraphDeployment](t, &unstructured.Unstructured{Object: seed})
	wantBeta := &v1beta1.DynamoGraphDeployment{}
	if err := seedAlpha.ConvertTo(wantBeta); err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "the seed graph read as v1beta1 (spec)", wantBeta.Spec, fromUnstructured[v1beta1.DynamoGraphDeployment](t, seedBeta).Spec)

	// What render refuses the API server refuses, in the same words.
	for _, tt := range []struct{ name, spec, want string }{
		{"two epp", "components: [{name: a, type: epp, eppConfig: {configMapRef: {name: c, key: k}}}, {name: b, type: epp, eppConfig: {configMapRef: {name: c, key: k}}}]", "at most one component may have type epp"},
		{"eppConfig off an epp", "components: [{name: a, type: frontend, eppConfig: {configMapRef: {name: c, key: k}}, podTemplate: {spec: {containers: [{name: main, image: x}]}}}]", "eppConfig may only be set when type is epp"},
		{"names in two cases", "components: [{name: A, podTemplate: {spec: {containers: [{name: main, image: x}]}}}, {name: a, podTemplate: {spec: {containers: [{name: main, image: x}]}}}]", "component names must be unique case-insensitively"},
		{"no main image", "components: [{name: a, podTemplate: {spec: {containers: [{name: sidecar, image: x}]}}}]", "a container named main with an image is required"},
		{"frontendSidecar names nothing", "components: [{name: a, frontendSidecar: fe, podTemplate: {spec: {containers: [{name: main, image: x}]}}}]", "must name a container of podTemplate.spec.containers"},
		{"minAvailable above replicas", "components: [{name: a, replicas: 1, minAvailable: 2, podTemplate: {spec: {containers: [{name: main, image: x}]}}}]", "minAvailable must not exceed replicas"},
		{"restart on create", "restart: {id: x}\n  components: [{name: a, podTemplate: {spec: {containers: [{name: main, image: x}]}}}]", "spec.restart must be unset on create"},
		{"failover without GMS", "components: [{name: a, experimental: {failover: {}}, podTemplate: {spec: {containers: [{name: main, image: x}]}}}]", "failover requires gpuMemoryService"},
		{"roles", "components: [{name: a, roles: [{name: leader}], podTemplate: {spec: {containers: [{name: main, image: x}]}}}]", "roles: exactly one leader and one worker"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			doc := "apiVersion: nvidia.com/v1beta1\nkind: DynamoGraphDeployment\nmetadata: {name: bad, namespace: default}\nspec:\n  " + tt.spec + "\n"
			_, renderErr := render.DecodeGraphs(strings.NewReader(doc), "bad.yaml", "default")
			obj := map[string]any{}
			if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
				t.Fatal(err)
			}
			_, apiErr := betas.Create(ctx, &unstructured.Unstructured{Object: obj}, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
			if apiErr == nil || renderErr == nil || !strings.Contains(apiErr.Error(), tt.want) || !strings.Contains(renderErr.Error(), tt.want) {
				t.Errorf("want both to refuse with %q\nAPI server: %v\nrender: %v", tt.want, apiErr, renderErr)
			}
		})
	}
}
