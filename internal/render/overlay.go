package render

import (
	"encoding/json"
	"reflect"
	"sort"

	corev1 "k8s.io/api/core/v1"
)

// overlay returns base with the fields over sets laid on top, the way the original operator
// merges extraPodSpec over the pod spec and mainContainer over the main container (mergo with
// override): a field over sets replaces base's, structs and maps merge field by field and key by
// key, lists replace whole. A field over leaves at its zero value (0, false, "", empty) keeps
// base's. Values with their own JSON form (quantities, int-or-string ports) replace whole, as in
// the manifest. The result may share memory with over: pass a copy the caller owns.
func overlay[T any](base T, over *T) T {
	if over != nil {
		overlayValue(reflect.ValueOf(&base).Elem(), reflect.ValueOf(over).Elem())
	}
	return base
}

var jsonMarshaler = reflect.TypeFor[json.Marshaler]()

func overlayValue(dst, src reflect.Value) {
	if src.IsZero() {
		return
	}
	switch {
	case src.Type().Implements(jsonMarshaler) || reflect.PointerTo(src.Type()).Implements(jsonMarshaler):
		dst.Set(src) // atomic in the manifest: a quantity, a port by name or number
	case src.Kind() == reflect.Struct:
		for i := range src.NumField() {
			if src.Type().Field(i).IsExported() {
				overlayValue(dst.Field(i), src.Field(i))
			}
		}
	case src.Kind() == reflect.Pointer && src.Elem().Kind() == reflect.Struct && !dst.IsNil():
		overlayValue(dst.Elem(), src.Elem())
	case src.Kind() == reflect.Map && !dst.IsNil():
		iter := src.MapRange()
		for iter.Next() {
			dst.SetMapIndex(iter.Key(), iter.Value())
		}
	default:
		dst.Set(src)
	}
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
