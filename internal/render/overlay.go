package render

import (
	"encoding/json"
	"reflect"
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
