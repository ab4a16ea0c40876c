package v1alpha1_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/randfill"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/api/v1beta1"
	"github.com/dynamo-infra/dynamo-infra/internal/residual"
)

// filler fills graphs with random values of every field, as the API server could hold them:
// quantities and times in their canonical forms, JSON fields with JSON.
func filler(data []byte) *randfill.Filler {
	return randfill.NewFromGoFuzz(data).NilChance(0.3).NumElements(0, 3).MaxDepth(12).Funcs(
		func(q *resource.Quantity, c randfill.Continue) {
			*q = *resource.NewQuantity(c.Int63n(100000), resource.DecimalSI)
			if c.Bool() {
				*q = *resource.NewQuantity(c.Int63n(64)<<30, resource.BinarySI)
			}
		},
		func(t *metav1.Time, c randfill.Continue) {
			*t = metav1.NewTime(time.Unix(c.Int63n(2_000_000_000), 0).UTC())
		},
		func(j *apiextensionsv1.JSON, c randfill.Continue) {
			raw, _ := json.Marshal(map[string]any{c.String(5): c.String(8), "n": c.Int63n(100)})
			j.Raw = raw
		},
		func(v *intstr.IntOrString, c randfill.Continue) {
			if c.Bool() {
				*v = intstr.FromInt32(c.Int31n(65536))
			} else {
				*v = intstr.FromString(c.String(8))
			}
		},
		func(m *metav1.ObjectMeta, c randfill.Continue) {
			m.Name, m.Namespace = c.String(10), c.String(10)
			c.Fill(&m.Labels)
			c.Fill(&m.Annotations)
			m.Generation = c.Int63n(100)
		},
	)
}

// plain is an object's JSON with what JSON cannot tell apart made one: null, absent, {} and []
// (a conversion may give either).
func plain(t *testing.T, v any) any {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var tree any
	if err := json.Unmarshal(raw, &tree); err != nil {
		t.Fatal(err)
	}
	return residual.Prune(tree)
}

// wire sends an object through JSON, as the API server and the webhook do.
func wire[T any](t *testing.T, v *T) *T {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out := new(T)
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func sameJSON(t *testing.T, what string, want, got any) {
	t.Helper()
	w, g := plain(t, want), plain(t, got)
	if !reflect.DeepEqual(w, g) {
		wj, _ := json.MarshalIndent(w, "", " ")
		gj, _ := json.MarshalIndent(g, "", " ")
		t.Fatalf("%s: the round trip changed the object\nwant %s\ngot  %s", what, wj, gj)
	}
}

// alphaRoundTrip converts a v1alpha1 graph to v1beta1 and back.
func alphaRoundTrip(t *testing.T, in *v1alpha1.DynamoGraphDeployment) {
	t.Helper()
	hub := &v1beta1.DynamoGraphDeployment{}
	if err := in.DeepCopy().ConvertTo(hub); err != nil {
		t.Fatalf("ConvertTo: %v", err)
	}
	back := &v1alpha1.DynamoGraphDeployment{}
	if err := back.ConvertFrom(wire(t, hub)); err != nil {
		t.Fatalf("ConvertFrom: %v", err)
	}
	in.APIVersion, back.APIVersion = "", ""
	sameJSON(t, "v1alpha1 → v1beta1 → v1alpha1", in, back)
}

// betaRoundTrip converts a v1beta1 graph to v1alpha1 and back.
func betaRoundTrip(t *testing.T, in *v1beta1.DynamoGraphDeployment) {
	t.Helper()
	spoke := &v1alpha1.DynamoGraphDeployment{}
	if err := spoke.ConvertFrom(in.DeepCopy()); err != nil {
		// Two components of one name: the API server refuses them (listMapKey), and so does
		// the conversion.
		if dupNames(in) {
			return
		}
		t.Fatalf("ConvertFrom: %v", err)
	}
	back := &v1beta1.DynamoGraphDeployment{}
	if err := wire(t, spoke).ConvertTo(back); err != nil {
		t.Fatalf("ConvertTo: %v", err)
	}
	in.APIVersion, back.APIVersion = "", ""
	sameJSON(t, "v1beta1 → v1alpha1 → v1beta1", in, back)
}

func dupNames(g *v1beta1.DynamoGraphDeployment) bool {
	seen := map[string]bool{}
	for _, c := range g.Spec.Components {
		if seen[c.Name] {
			return true
		}
		seen[c.Name] = true
	}
	return false
}

func FuzzConvertAlphaRoundTrip(f *testing.F) {
	for i := range 64 {
		f.Add([]byte(fmt.Sprintf("seed-%d-%s", i, "alpha")))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &v1alpha1.DynamoGraphDeployment{}
		filler(data).Fill(in)
		alphaRoundTrip(t, in)
	})
}

func FuzzConvertBetaRoundTrip(f *testing.F) {
	for i := range 64 {
		f.Add([]byte(fmt.Sprintf("seed-%d-%s", i, "beta")))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &v1beta1.DynamoGraphDeployment{}
		filler(data).Fill(in)
		betaRoundTrip(t, in)
	})
}
