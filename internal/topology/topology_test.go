package topology

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
)

// A Grove ClusterTopology's levels are read as they are; without one (or without Grove) the
// built-in levels stand; other errors are errors.
func TestReadProfile(t *testing.T) {
	ct := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"levels": []any{
		map[string]any{"domain": "zone", "key": "topology.kubernetes.io/zone"},
		map[string]any{"domain": "rack", "key": "example.com/rack"},
	}}}}
	get := func(obj *unstructured.Unstructured, err error) Getter {
		return func(context.Context, schema.GroupVersionResource, string) (*unstructured.Unstructured, error) {
			return obj, err
		}
	}
	p, err := ReadProfile(context.Background(), get(ct, nil), "grove-topology")
	if err != nil || p.BuiltIn || !cmp.Equal(p.Levels, []Level{{"zone", "topology.kubernetes.io/zone"}, {"rack", "example.com/rack"}}) {
		t.Errorf("ClusterTopology: %+v %v", p, err)
	}
	gr := schema.GroupResource{Group: "grove.io", Resource: "clustertopologies"}
	for _, missing := range []error{apierrors.NewNotFound(gr, "x"), &meta.NoKindMatchError{GroupKind: schema.GroupKind{Group: "grove.io", Kind: "ClusterTopology"}}} {
		if p, err := ReadProfile(context.Background(), get(nil, missing), "x"); err != nil || !p.BuiltIn || p.Name != "x" {
			t.Errorf("%v: %+v %v", missing, p, err)
		}
	}
	if _, err := ReadProfile(context.Background(), get(nil, apierrors.NewForbidden(gr, "x", errors.New("no"))), "x"); err == nil {
		t.Error("a forbidden read is not an error")
	}
}

// Verify: one domain per scope is verified; two are not; a node without the label is not; a
// per-group scope wants each group in one domain, not all groups in the same.
func TestVerify(t *testing.T) {
	labels := map[string]map[string]string{
		"a": {LabelRack: "r0"}, "b": {LabelRack: "r0"}, "c": {LabelRack: "r1"}, "d": {},
	}
	lookup := func(n string) (map[string]string, bool) { l, ok := labels[n]; return l, ok }
	graph := Scope{Domain: "rack", Key: LabelRack}
	group := Scope{Service: "decode", Domain: "rack", Key: LabelRack, PerGroup: true}
	for _, tc := range []struct {
		name  string
		scope Scope
		pods  []Pod
		want  v1alpha1.TopologyPlacement
	}{
		{"one rack", graph, []Pod{{Service: "fe", Node: "a"}, {Service: "decode", Node: "b"}, {Service: "x", Node: ""}},
			v1alpha1.TopologyPlacement{Domain: "rack", Key: LabelRack, Values: []string{"r0"}, Nodes: []string{"a", "b"}, Verified: true}},
		{"two racks", graph, []Pod{{Service: "fe", Node: "a"}, {Service: "decode", Node: "c"}},
			v1alpha1.TopologyPlacement{Domain: "rack", Key: LabelRack, Values: []string{"r0", "r1"}, Nodes: []string{"a", "c"}}},
		{"unlabelled and unknown", graph, []Pod{{Node: "a"}, {Node: "d"}, {Node: "gone"}},
			v1alpha1.TopologyPlacement{Domain: "rack", Key: LabelRack, Values: []string{"r0"}, Nodes: []string{"a", "d", "gone"}, Unlabelled: []string{"d", "gone"}}},
		{"groups each in a rack", group, []Pod{{Service: "decode", Group: "g1", Node: "a"}, {Service: "decode", Group: "g1", Node: "b"}, {Service: "decode", Group: "g2", Node: "c"}, {Service: "fe", Node: "d"}},
			v1alpha1.TopologyPlacement{Service: "decode", Domain: "rack", Key: LabelRack, PerGroup: true, Values: []string{"r0", "r1"}, Nodes: []string{"a", "b", "c"}, Verified: true}},
		{"a group split", group, []Pod{{Service: "decode", Group: "g1", Node: "a"}, {Service: "decode", Group: "g1", Node: "c"}},
			v1alpha1.TopologyPlacement{Service: "decode", Domain: "rack", Key: LabelRack, PerGroup: true, Values: []string{"r0", "r1"}, Nodes: []string{"a", "c"}}},
		{"no pods", graph, nil, v1alpha1.TopologyPlacement{Domain: "rack", Key: LabelRack, Verified: true}},
	} {
		got := Verify([]Scope{tc.scope}, tc.pods, lookup)
		if d := cmp.Diff([]v1alpha1.TopologyPlacement{tc.want}, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, d)
		}
	}
}
