// Package residual keeps what a conversion between two API versions cannot carry, so that a
// round trip gives back the object it started from, field for field.
//
// Converting an object from version A to B, the converter converts B back to A at once and
// calls Diff(original, back): the result holds, for each path where the two differ, the
// original's value (Want) and the back-conversion's (Was). Stored beside the B object (upstream
// Dynamo keeps it in the annotation nvidia.com/dgd-spec), it is given to Restore when the B
// object is converted to A again: at each path, the original's value comes back only if the
// fresh conversion still gives what it gave then — a field edited in B since wins (upstream's
// "live fields win"), and an object deleted in B stays deleted.
//
// Values are JSON trees (what encoding/json decodes into any). Objects are compared key by
// key, and lists of objects that all have a distinct string "name" (containers, env,
// components) element by element by name, with their order; other lists and scalars are
// compared whole. null and absent are the same.
package residual

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
)

// keyed marks, in Want and Was, a list compared by name: {"$keyed": {"order": [...],
// "items": {name: ...}}}. order is set in Want when the names' order must be restored.
const keyed = "$keyed"

// Record is the residual of one conversion: sparse trees of the original's values (Want) and
// the back-conversion's (Was) at the paths where they differ. Empty when they do not.
type Record struct {
	Want any `json:"want,omitempty"`
	Was  any `json:"was,omitempty"`
}

// Empty reports whether nothing differed.
func (r Record) Empty() bool { return r.Want == nil && r.Was == nil }

// ToJSON turns a typed value into its JSON tree.
func ToJSON(v any) (any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// FromJSON fills a typed value (a pointer) from a JSON tree.
func FromJSON(tree any, into any) error {
	raw, err := json.Marshal(tree)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, into)
}

// Diff returns where back differs from orig (both JSON trees).
func Diff(orig, back any) Record {
	want, was, differ := diff(orig, back)
	if !differ {
		return Record{}
	}
	return Record{Want: want, Was: was}
}

func diff(o, g any) (want, was any, differ bool) {
	// Two objects are compared key by key even when one is empty: {} is an object that is
	// there (a service with nothing set), which an object deleted since must be told from.
	om, oIsMap := o.(map[string]any)
	gm, gIsMap := g.(map[string]any)
	o, g = normal(o), normal(g)
	if reflect.DeepEqual(o, g) {
		return nil, nil, false
	}
	if oIsMap && gIsMap {
		wm, gmOut := map[string]any{}, map[string]any{}
		for _, k := range unionKeys(om, gm) {
			if w, g2, d := diff(om[k], gm[k]); d {
				wm[k], gmOut[k] = w, g2
			}
		}
		// Subtrees that differed only in empty values ({} against absent) do not.
		return wm, gmOut, len(wm) > 0
	}
	ol, oNames := named(o)
	gl, gNames := named(g)
	if oNames != nil && gNames != nil {
		return diffKeyed(ol, oNames, gl, gNames)
	}
	return o, g, true
}

func diffKeyed(ol []any, oNames []string, gl []any, gNames []string) (want, was any, differ bool) {
	wantItems, wasItems := map[string]any{}, map[string]any{}
	byName := func(l []any, names []string) map[string]any {
		m := make(map[string]any, len(l))
		for i, n := range names {
			m[n] = l[i]
		}
		return m
	}
	om, gm := byName(ol, oNames), byName(gl, gNames)
	for _, n := range unionKeys(om, gm) {
		oe, inO := om[n]
		ge, inG := gm[n]
		switch {
		case inO && inG:
			if w, g2, d := diff(oe, ge); d {
				wantItems[n], wasItems[n] = w, g2
			}
		default:
			// An element only one side has is a leaf: its whole self against absence.
			wantItems[n], wasItems[n] = leaf(oe, inO), leaf(ge, inG)
		}
	}
	wantBody := map[string]any{"items": wantItems}
	if !slices.Equal(oNames, gNames) {
		wantBody["order"] = toAny(oNames)
	} else if len(wantItems) == 0 {
		return nil, nil, false
	}
	return map[string]any{keyed: wantBody}, map[string]any{keyed: map[string]any{"items": wasItems}}, true
}

// absent stands for an element one side of a keyed list lacks (null means absent for fields,
// but an element needs saying so).
var absent = map[string]any{"$absent": true}

func leaf(v any, present bool) any {
	if !present {
		return absent
	}
	return map[string]any{"$element": v}
}

// Restore lays rec over live (the fresh conversion, a JSON tree) and returns the result.
func Restore(live any, rec Record) any {
	if rec.Empty() {
		return live
	}
	out, _ := restore(live, true, rec.Want, rec.Was)
	return out
}

// restore returns the value at a path and whether it is present.
func restore(live any, present bool, want, was any) (any, bool) {
	if !present {
		live = nil
	}
	lm, lIsMap := live.(map[string]any) // an empty object is there: told from none
	live, want, was = normal(live), normal(want), normal(was)
	wk, wIsKeyed := keyedBody(want)
	vk, vIsKeyed := keyedBody(was)
	if wIsKeyed && vIsKeyed {
		// An empty list and none are one: the elements the conversion dropped come back to it.
		ll, lNames := named(live)
		if live != nil && lNames == nil {
			return live, true // no longer a list by name: live wins
		}
		out := restoreKeyed(ll, lNames, wk, vk)
		return out, len(out) > 0
	}
	wm, wIsMap := want.(map[string]any)
	vm, vIsMap := was.(map[string]any)
	if wIsMap && vIsMap {
		if !lIsMap {
			return live, live != nil // deleted or replaced since: live wins
		}
		out := make(map[string]any, len(lm))
		for k, v := range lm {
			out[k] = v
		}
		for _, k := range unionKeys(wm, vm) {
			lv, ok := out[k]
			if v, keep := restore(lv, ok, wm[k], vm[k]); keep {
				out[k] = v
			} else {
				delete(out, k)
			}
		}
		return out, true
	}
	// A leaf: the original's value comes back when live still is what the conversion gave.
	if reflect.DeepEqual(live, was) {
		return want, want != nil
	}
	return live, live != nil
}

func restoreKeyed(ll []any, lNames []string, want, was map[string]any) []any {
	items := map[string]any{}
	for i, n := range lNames {
		items[n] = ll[i]
	}
	wantItems, _ := want["items"].(map[string]any)
	wasItems, _ := was["items"].(map[string]any)
	for _, n := range unionKeys(wantItems, wasItems) {
		w, v := wantItems[n], wasItems[n]
		le, inLive := items[n]
		wEl, wLeaf := elementLeaf(w)
		vEl, vLeaf := elementLeaf(v)
		if wLeaf || vLeaf {
			// Added or removed by the conversion: undone only if live is as the conversion left it.
			liveNow := any(absent)
			if inLive {
				liveNow = map[string]any{"$element": le}
			}
			if reflect.DeepEqual(normal(liveNow), normal(v)) {
				if wEl == nil {
					delete(items, n)
				} else {
					items[n] = wEl
				}
			}
			_ = vEl
			continue
		}
		if !inLive {
			continue // deleted since
		}
		if r, keep := restore(le, true, w, v); keep {
			items[n] = r
		} else {
			delete(items, n)
		}
	}
	// Order: the original's names first, in its order, then the others in live order.
	var names []string
	if order, ok := want["order"].([]any); ok {
		for _, o := range order {
			if n, ok := o.(string); ok {
				if _, in := items[n]; in && !slices.Contains(names, n) {
					names = append(names, n)
				}
			}
		}
	}
	for _, n := range lNames {
		if _, in := items[n]; in && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	for _, n := range sortedKeys(items) { // elements brought back that live lacked
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	out := make([]any, 0, len(names))
	for _, n := range names {
		out = append(out, items[n])
	}
	return out
}

// elementLeaf unwraps {"$element": v} (v) and {"$absent": true} (nil); ok is false for a
// sparse tree of an element both sides have.
func elementLeaf(v any) (any, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	if el, ok := m["$element"]; ok && len(m) == 1 {
		return el, true
	}
	if a, ok := m["$absent"]; ok && a == true && len(m) == 1 {
		return nil, true
	}
	return nil, false
}

func keyedBody(v any) (map[string]any, bool) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return nil, false
	}
	b, ok := m[keyed].(map[string]any)
	return b, ok
}

// named returns a list's names when every element is an object with a distinct, non-empty
// string "name" (and the list is not empty).
func named(v any) ([]any, []string) {
	l, ok := v.([]any)
	if !ok || len(l) == 0 {
		return nil, nil
	}
	names := make([]string, len(l))
	for i, e := range l {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, nil
		}
		n, ok := m["name"].(string)
		if !ok || n == "" || slices.Contains(names[:i], n) {
			return nil, nil
		}
		names[i] = n
	}
	return l, names
}

// normal makes absent, null, empty objects and empty lists one value (nil): omitempty
// marshals the last two away, and a conversion may give either.
func normal(v any) any {
	switch t := v.(type) {
	case map[string]any:
		if len(t) == 0 {
			return nil
		}
	case []any:
		if len(t) == 0 {
			return nil
		}
	}
	return v
}

func unionKeys(a, b map[string]any) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range []map[string]any{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	slices.Sort(out)
	return out
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// Encode serialises a record for an annotation.
func (r Record) Encode() (string, error) {
	raw, err := json.Marshal(r)
	if err != nil {
		return "", fmt.Errorf("encode the conversion residual: %w", err)
	}
	return string(raw), nil
}

// Decode reads an annotation written by Encode. An annotation that is a sparse object of the
// other version's fields alone (upstream's nvidia.com/dgd-spec) reads as Want with an empty
// Was: each of its fields comes back where the live object has none.
func Decode(s string) (Record, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &probe); err != nil {
		return Record{}, fmt.Errorf("read the conversion residual: %w", err)
	}
	_, hasWant := probe["want"]
	_, hasWas := probe["was"]
	if (hasWant || hasWas) && len(probe) <= 2 {
		var r Record
		if err := json.Unmarshal([]byte(s), &r); err != nil {
			return Record{}, fmt.Errorf("read the conversion residual: %w", err)
		}
		return r, nil
	}
	var want any
	if err := json.Unmarshal([]byte(s), &want); err != nil {
		return Record{}, fmt.Errorf("read the conversion residual: %w", err)
	}
	return Record{Want: want, Was: emptyLike(want)}, nil
}

// emptyLike mirrors a sparse tree's objects with nothing at the leaves, so Restore fills a
// field only where live has none.
func emptyLike(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, e := range m {
		if sub, ok := e.(map[string]any); ok {
			out[k] = emptyLike(sub)
		} else {
			out[k] = nil
		}
	}
	return out
}

// Paths names the fields a record keeps (the original's side), under prefix ("spec"):
// spec.pvcs, spec.services.Frontend.ingress, spec.components[prefill].minAvailable.
func (r Record) Paths(prefix string) []string {
	var out []string
	var walk func(path string, want, was any)
	walk = func(path string, want, was any) {
		if wk, ok := keyedBody(want); ok {
			vk, _ := keyedBody(was)
			wantItems, _ := wk["items"].(map[string]any)
			wasItems, _ := vk["items"].(map[string]any)
			if wk["order"] != nil {
				out = append(out, path+" (order)")
			}
			for _, n := range unionKeys(wantItems, wasItems) {
				p := path + "[" + n + "]"
				w, v := wantItems[n], wasItems[n]
				if _, leaf := elementLeaf(w); leaf {
					out = append(out, p)
					continue
				}
				if _, leaf := elementLeaf(v); leaf {
					out = append(out, p)
					continue
				}
				walk(p, w, v)
			}
			return
		}
		wm, wIsMap := want.(map[string]any)
		vm, vIsMap := was.(map[string]any)
		if wIsMap && vIsMap {
			for _, k := range unionKeys(wm, vm) {
				walk(path+"."+k, wm[k], vm[k])
			}
			return
		}
		out = append(out, path)
	}
	if !r.Empty() {
		walk(prefix, r.Want, r.Was)
	}
	return out
}

// Prune drops null, {} and [] everywhere in a JSON tree: what this package treats as absent,
// so two trees that differ only there are equal once pruned.
func Prune(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range t {
			if p := Prune(e); p != nil {
				out[k] = p
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case []any:
		if len(t) == 0 {
			return nil
		}
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = Prune(e)
		}
		return out
	}
	return v
}
