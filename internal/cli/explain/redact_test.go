package explain

import (
	"strings"
	"testing"
)

// Credentials written inline are blanked wherever they are, other values kept; kubectl's
// last-applied copy and managedFields are dropped.
func TestEncodeRedacts(t *testing.T) {
	obj := map[string]any{
		"metadata": map[string]any{"annotations": map[string]any{lastApplied: `{"env":[{"name":"HF_TOKEN","value":"hf_x"}]}`}, "managedFields": []any{"m"}},
		"env": []any{
			map[string]any{"name": "HF_TOKEN", "value": "hf_x"},
			map[string]any{"name": "AWS_SECRET_ACCESS_KEY", "value": "aws_x"},
			map[string]any{"name": "db_password", "value": "pw_x"},
			map[string]any{"name": "DYN_TOKENIZER", "value": "keep-1"},
			map[string]any{"name": "MONKEY", "value": "keep-2"},
			map[string]any{"name": "API_KEY", "valueFrom": map[string]any{"secretKeyRef": map[string]any{"name": "s", "key": "k"}}},
		},
	}
	b, err := encode("x.yaml", obj)
	if err != nil {
		t.Fatal(err)
	}
	out := string(b)
	for _, leaked := range []string{"hf_x", "aws_x", "pw_x", lastApplied, "managedFields"} {
		if strings.Contains(out, leaked) {
			t.Errorf("%q in the bundle:\n%s", leaked, out)
		}
	}
	for _, kept := range []string{"keep-1", "keep-2", "secretKeyRef"} {
		if !strings.Contains(out, kept) {
			t.Errorf("%q dropped:\n%s", kept, out)
		}
	}
}
