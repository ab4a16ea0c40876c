package graph

import "testing"

// Upstream's HashModelName and GenerateServiceName: the first 8 hex characters of the name's
// SHA-256 (values from sha256sum), and dynamo-model-<hash>.
func TestModelHash(t *testing.T) {
	for name, want := range map[string]string{"Qwen/Qwen3-0.6B": "fb68f5a6", "meta-llama/Llama-3.3-70B-Instruct": "99668f5d"} {
		if got := ModelHash(name); got != want {
			t.Errorf("ModelHash(%q) = %s, want %s", name, got, want)
		}
		if got := ModelServiceName(name); got != "dynamo-model-"+want {
			t.Errorf("ModelServiceName(%q) = %s", name, got)
		}
	}
}
