package residual

import (
	"encoding/json"
	"reflect"
	"testing"
)

func tree(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return v
}

func same(t *testing.T, what string, want, got any) {
	t.Helper()
	if !reflect.DeepEqual(Prune(want), Prune(got)) {
		w, _ := json.Marshal(want)
		g, _ := json.Marshal(got)
		t.Errorf("%s:\nwant %s\ngot  %s", what, w, g)
	}
}

func TestRestore(t *testing.T) {
	for _, tt := range []struct {
		name                   string
		orig, back, live, want string
	}{
		{
			name: "nothing lost, nothing kept",
			orig: `{"a":1,"b":{}}`, back: `{"a":1}`, live: `{"a":1}`, want: `{"a":1}`,
		},
		{
			name: "a field the other version has not comes back",
			orig: `{"a":1,"pvcs":[{"name":"x"}]}`, back: `{"a":1}`, live: `{"a":2}`, want: `{"a":2,"pvcs":[{"name":"x"}]}`,
		},
		{
			name: "a spelling comes back while live is as converted",
			orig: `{"s":{"type":"decode"}}`, back: `{"s":{"type":"worker","sub":"decode"}}`,
			live: `{"s":{"type":"worker","sub":"decode","replicas":3}}`, want: `{"s":{"type":"decode","replicas":3}}`,
		},
		{
			name: "live wins where it was edited since",
			orig: `{"s":{"type":"decode"}}`, back: `{"s":{"type":"worker","sub":"decode"}}`,
			live: `{"s":{"type":"frontend"}}`, want: `{"s":{"type":"frontend"}}`,
		},
		{
			name: "an object deleted since stays deleted",
			orig: `{"services":{"A":{"ingress":{"host":"h"}},"B":{}}}`, back: `{"services":{"A":{},"B":{}}}`,
			live: `{"services":{"B":{"x":1}}}`, want: `{"services":{"B":{"x":1}}}`,
		},
		{
			name: "a list by name: order and an element's field",
			orig: `{"c":[{"name":"b","m":1},{"name":"a"}]}`, back: `{"c":[{"name":"a"},{"name":"b"}]}`,
			live: `{"c":[{"name":"a"},{"name":"b","r":2},{"name":"n"}]}`, want: `{"c":[{"name":"b","m":1,"r":2},{"name":"a"},{"name":"n"}]}`,
		},
		{
			name: "a list by name: an element the conversion dropped comes back, one deleted since does not",
			orig: `{"e":[{"name":"x","v":"1"},{"name":"y","v":"2"}]}`, back: `{"e":[{"name":"y","v":"2"}]}`,
			live: `{"e":[]}`, want: `{"e":[{"name":"x","v":"1"}]}`,
		},
		{
			name: "a list by name: an element the conversion added goes, unless edited since",
			orig: `{"e":[{"name":"y"}]}`, back: `{"e":[{"name":"y"},{"name":"gen","v":"1"}]}`,
			live: `{"e":[{"name":"y"},{"name":"gen","v":"2"}]}`, want: `{"e":[{"name":"y"},{"name":"gen","v":"2"}]}`,
		},
		{
			name: "other lists are values",
			orig: `{"args":["a","b"]}`, back: `{"args":["a"]}`, live: `{"args":["a"]}`, want: `{"args":["a","b"]}`,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := Diff(tree(t, tt.orig), tree(t, tt.back))
			// Through the annotation's text.
			raw, err := rec.Encode()
			if err != nil {
				t.Fatal(err)
			}
			dec, err := Decode(raw)
			if err != nil {
				t.Fatal(err)
			}
			same(t, "restored", tree(t, tt.want), Restore(tree(t, tt.live), dec))
			// And the round trip itself: live as converted gives the original.
			same(t, "round trip", tree(t, tt.orig), Restore(tree(t, tt.back), dec))
		})
	}
}

func TestDiffOfEqualTreesIsEmpty(t *testing.T) {
	if rec := Diff(tree(t, `{"a":{"b":[{"name":"x","c":{}}]}}`), tree(t, `{"a":{"b":[{"name":"x"}]}}`)); !rec.Empty() {
		t.Errorf("empty values differ from absent ones: %+v", rec)
	}
}

// Upstream's operator writes the other version's fields alone, a sparse spec: each comes back
// where live has none.
func TestDecodeUpstreamSparseSpec(t *testing.T) {
	rec, err := Decode(`{"pvcs":[{"name":"m"}],"services":{"A":{"subComponentType":"x","replicas":9}}}`)
	if err != nil {
		t.Fatal(err)
	}
	got := Restore(tree(t, `{"services":{"A":{"replicas":2}}}`), rec)
	same(t, "restored", tree(t, `{"pvcs":[{"name":"m"}],"services":{"A":{"subComponentType":"x","replicas":2}}}`), got)
}

func TestPaths(t *testing.T) {
	rec := Diff(tree(t, `{"pvcs":[1],"components":[{"name":"b","minAvailable":1},{"name":"a"}]}`),
		tree(t, `{"components":[{"name":"a"},{"name":"b"}]}`))
	want := []string{"spec.components (order)", "spec.components[b].minAvailable", "spec.pvcs"}
	if got := rec.Paths("spec"); !reflect.DeepEqual(got, want) {
		t.Errorf("paths %v, want %v", got, want)
	}
}
