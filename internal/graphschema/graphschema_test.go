package graphschema

import (
	"context"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/config"
	"github.com/dynamo-infra/dynamo-infra/test/reference"
)

func referenceGraph(t testing.TB) map[string]any {
	t.Helper()
	raw, err := reference.DGDExample()
	if err != nil {
		t.Fatal(err)
	}
	u := map[string]any{}
	if err := yaml.Unmarshal(raw, &u); err != nil {
		t.Fatal(err)
	}
	u["metadata"].(map[string]any)["namespace"] = "default"
	return u
}

// The CRD's defaults are applied and its rules run: the example passes, a broken copy is
// refused naming the field (the suite in test/hostile compares many more with the API server).
func TestDefaultAndValidate(t *testing.T) {
	s, err := DGD()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DefaultAndValidate(context.Background(), referenceGraph(t)); err != nil {
		t.Fatalf("the reference example: %v", err)
	}
	bad := referenceGraph(t)
	bad["spec"].(map[string]any)["services"].(map[string]any)["Frontend"].(map[string]any)["replicas"] = int64(-3)
	if err := s.DefaultAndValidate(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "spec.services.Frontend.replicas") {
		t.Errorf("replicas -3: %v", err)
	}
}

// BenchmarkCompile is what every command that reads a graph file pays once.
func BenchmarkCompile(b *testing.B) {
	for b.Loop() {
		if _, err := Compile(config.DGDCRD, "v1alpha1"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDefaultAndValidate is the cost per graph once compiled.
func BenchmarkDefaultAndValidate(b *testing.B) {
	s, err := DGD()
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := s.DefaultAndValidate(context.Background(), referenceGraph(b)); err != nil {
			b.Fatal(err)
		}
	}
}

// A key written with no value is dropped as the API server drops it (it is not nullable), not
// refused: upstream's recipes write `subComponentType:` and `containers:` so.
func TestNullFieldsDropped(t *testing.T) {
	s, err := DGD()
	if err != nil {
		t.Fatal(err)
	}
	g := referenceGraph(t)
	fe := g["spec"].(map[string]any)["services"].(map[string]any)["Frontend"].(map[string]any)
	fe["subComponentType"] = nil
	fe["envs"] = nil
	if err := s.DefaultAndValidate(context.Background(), g); err != nil {
		t.Fatalf("nulls: %v", err)
	}
	for _, k := range []string{"subComponentType", "envs"} {
		if _, kept := fe[k]; kept {
			t.Errorf("%s: kept as null, want dropped", k)
		}
	}
	// A wrong type is still refused.
	fe["replicas"] = "three"
	if err := s.DefaultAndValidate(context.Background(), g); err == nil {
		t.Error("replicas \"three\": accepted")
	}
}
