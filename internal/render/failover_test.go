package render

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/dynamo-infra/dynamo-infra/internal/graph"
)

// graphComponent is a single-node service.
var graphComponent = graph.Component{NodeCount: 1}

// The standby's --master-port as upstream's applyLegacyVLLMOverrides moves it: a value of its
// own 100 up, inside a shell line too; appended (29600) when the command has none; a flag with
// no number left alone, nothing appended.
func TestFailoverMasterPort(t *testing.T) {
	for _, tc := range []struct {
		command, args, want []string
	}{
		{args: []string{"--model", "m"}, want: []string{"--model", "m", "--master-port", "29600"}},
		{args: []string{"--master-port", "31000"}, want: []string{"--master-port", "31100"}},
		{args: []string{"python3 -m dynamo.vllm --master-port 31000 --model m"}, want: []string{"python3 -m dynamo.vllm --master-port 31100 --model m"}},
		{command: []string{"sh", "-c", "python3 -m dynamo.vllm --master-port 4000"}, want: nil},
		{args: []string{"--master-port", "x"}, want: []string{"--master-port", "x"}},
	} {
		e := failoverEngine(&graphComponent, corev1.Container{Command: slices.Clone(tc.command), Args: slices.Clone(tc.args)}, 1)
		if !slices.Equal(e.Args, tc.want) {
			t.Errorf("command %q args %q: standby args %q, want %q", tc.command, tc.args, e.Args, tc.want)
		}
		if len(tc.command) > 0 && e.Command[2] != "python3 -m dynamo.vllm --master-port 4100" {
			t.Errorf("standby command %q", e.Command)
		}
		if a := failoverEngine(&graphComponent, corev1.Container{Args: slices.Clone(tc.args)}, 0).Args; !slices.Equal(a, tc.args) {
			t.Errorf("the active engine's args changed: %q", a)
		}
	}
}

// TRT-LLM's engines as upstream's applyTRTLLMOverrides makes them: the shadow mode and
// MASTER_PORT staggered by 100 (TRT-LLM has no --master-port flag), args untouched; SGLang's
// failover (upstream's newest) is refused by name.
func TestFailoverEngines(t *testing.T) {
	dgd := decodeFile(t, filepath.Join("testdata", "upstream", "vllm-failover.yaml"), "command: [python3, -m, dynamo.vllm]", "command: [python3, -m, dynamo.trtllm]")
	g := resolve(dgd)
	d, err := Deployment(g, g.Component("VllmWorker"), testConfig)
	if err != nil {
		t.Fatal(err)
	}
	for i, ct := range d.Spec.Template.Spec.Containers {
		env := map[string]string{}
		for _, e := range ct.Env {
			env[e.Name] = e.Value
		}
		port := []string{"29500", "29600"}[i]
		if ct.Name != []string{"engine-0", "engine-1"}[i] || env["DYN_TRTLLM_GMS_SHADOW_MODE"] != "true" || env["MASTER_PORT"] != port ||
			env["DYN_VLLM_GMS_SHADOW_MODE"] != "" || slices.Contains(ct.Args, "--master-port") {
			t.Errorf("TRT-LLM engine %d: %s env %v args %v", i, ct.Name, env, ct.Args)
		}
	}
	dgd = decodeFile(t, filepath.Join("testdata", "upstream", "vllm-failover.yaml"), "command: [python3, -m, dynamo.vllm]", "command: [python3, -m, dynamo.sglang]")
	if _, err := Graph(resolve(dgd), testConfig); err == nil || !strings.Contains(err.Error(), `service VllmWorker: failover is supported for vLLM and TRT-LLM (backend "sglang"`) {
		t.Errorf("failover on SGLang: %v", err)
	}
}
