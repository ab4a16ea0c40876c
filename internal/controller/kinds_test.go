package controller

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
)

// The ClusterRole generated from the RBAC markers grants each child kind what the table says
// the operator does with it — read and watch (caches), create and patch (apply), update
// (revert an edit) when Update, delete when Prune — and no verb more; and no kind is created
// that the table does not list (a kind added to the markers alone is caught here).
func TestChildKindsMatchRBAC(t *testing.T) {
	raw, err := os.ReadFile("../../config/rbac/role.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.Unmarshal(raw, &role); err != nil {
		t.Fatal(err)
	}
	granted := map[string][]string{} // group/resource → verbs
	for _, r := range role.Rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				granted[g+"/"+res] = append(granted[g+"/"+res], r.Verbs...)
			}
		}
	}
	for _, k := range childKinds {
		want := []string{"create", "get", "list", "patch", "watch"}
		if k.Update {
			want = append(want, "update")
		}
		if k.Prune {
			want = append(want, "delete")
		}
		slices.Sort(want)
		got := slices.Clone(granted[k.Group+"/"+k.Resource])
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s (%s/%s): the markers grant %v, the table needs %v", k.Kind, k.Group, k.Resource, got, want)
		}
	}
	// Created but not children: events, and what the discovery Role the operator creates grants
	// (the operator must hold it to grant it).
	others := []string{"events.k8s.io/events", "nvidia.com/dynamoworkermetadatas"}
	for res, verbs := range granted {
		if !slices.Contains(verbs, "create") || slices.Contains(others, res) {
			continue
		}
		if !slices.ContainsFunc(childKinds, func(k childKind) bool { return k.Group+"/"+k.Resource == res }) {
			t.Errorf("the markers let the operator create %s, which is no child kind of the table", res)
		}
	}
}

// Every kind render produces has a row (an object of a kind without one would be applied with
// no phase, never pruned, never watched), and every row is a kind render produces.
func TestChildKindsCoverRender(t *testing.T) {
	files, _ := filepath.Glob("../render/testdata/in/*.yaml")
	multinode, _ := filepath.Glob("../../deploy/discovery/*.yaml")
	// The graphs written after upstream's examples (the gateway's Endpoint Picker), not the pod
	// templates beside them.
	upstream, _ := filepath.Glob("../render/testdata/upstream/*.yaml")
	upstream = slices.DeleteFunc(upstream, func(f string) bool { return strings.HasSuffix(f, ".pods.yaml") })
	rendered := map[string]bool{}
	for _, f := range slices.Concat(files, multinode, upstream) {
		docs, err := render.ReadGraphs(f, nil, "default")
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range docs.Graphs() {
			g, _ := graph.Resolve(d, graph.Options{})
			objs, err := render.Graph(g, render.Config{})
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			for _, o := range objs {
				rendered[o.GetObjectKind().GroupVersionKind().Kind] = true
			}
		}
	}
	for kind := range rendered {
		if _, ok := kindOf(kind); !ok {
			t.Errorf("render produces %s, which has no row in childKinds", kind)
		}
	}
	for _, k := range childKinds {
		if !rendered[k.Kind] {
			t.Errorf("childKinds lists %s, which no graph renders (or the test's graphs miss it)", k.Kind)
		}
	}
}
