package render

import (
	"encoding/json"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
)

// overlay returns base with the fields over sets laid on top, the way the original operator
// merges extraPodSpec over the pod spec and mainContainer over the main container (mergo with
// override): a field over sets replaces base's, objects and maps merge key by key, lists and
// scalars replace whole. A field over leaves at its zero value (0, false, "", empty) keeps
// base's. It works on the JSON form, so it needs no per-field code.
func overlay[T any](base T, over *T) (T, error) {
	if over == nil {
		return base, nil
	}
	var zero T
	bm, err := toMap(base)
	if err != nil {
		return zero, err
	}
	om, err := toMap(*over)
	if err != nil {
		return zero, err
	}
	raw, err := json.Marshal(overlayMaps(bm, om))
	if err != nil {
		return zero, err
	}
	var out T
	if err := json.Unmarshal(raw, &out); err != nil {
		return zero, fmt.Errorf("merge: %w", err)
	}
	return out, nil
}

func toMap(v any) (map[string]any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	return m, nil
}

func overlayMaps(base, over map[string]any) map[string]any {
	for k, v := range over {
		if isZero(v) {
			continue
		}
		if bv, ok := base[k].(map[string]any); ok {
			if ov, ok := v.(map[string]any); ok {
				base[k] = overlayMaps(bv, ov)
				continue
			}
		}
		base[k] = v
	}
	return base
}

func isZero(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case bool:
		return !x
	case float64:
		return x == 0
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

// mergeEnv merges variables by name, later lists winning, and sorts them by name, as the
// original does at each step (its MergeEnvs).
func mergeEnv(lists ...[]corev1.EnvVar) []corev1.EnvVar {
	byName := map[string]corev1.EnvVar{}
	for _, l := range lists {
		for _, e := range l {
			byName[e.Name] = e
		}
	}
	if len(byName) == 0 {
		return nil
	}
	out := make([]corev1.EnvVar, 0, len(byName))
	for _, e := range byName {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
