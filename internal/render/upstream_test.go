package render

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"
)

// TestPodTemplatesAsUpstream compares whole pod templates, per component kind and backend,
// with the templates written by hand under testdata/upstream/*.pods.yaml from the original
// operator's rendering code (each file says which parts it follows and where we differ on
// purpose). They are never rewritten from our output.
func TestPodTemplatesAsUpstream(t *testing.T) {
	configs := map[string]Config{
		"vllm-disagg-planner.yaml": testConfig,
		"sglang-dra.yaml":          {},
		"trtllm-etcd.yaml":         {},
		"vllm-gaie.yaml":           testConfig,
		"vllm-failover.yaml":       testConfig,
	}
	for file, cfg := range configs {
		t.Run(file, func(t *testing.T) {
			dgd := decodeFile(t, filepath.Join("testdata", "upstream", file))
			raw, err := os.ReadFile(filepath.Join("testdata", "upstream", strings.TrimSuffix(file, ".yaml")+".pods.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			var want map[string]corev1.PodTemplateSpec
			if err := yaml.UnmarshalStrict(raw, &want); err != nil {
				t.Fatal(err)
			}
			if got := len(resolve(dgd).Components); got != len(want) {
				t.Fatalf("%d services, %d expected templates", got, len(want))
			}
			for service, w := range want {
				g := resolve(dgd)
				d, err := Deployment(g, g.Component(service), cfg)
				if err != nil {
					t.Fatalf("%s: %v", service, err)
				}
				if !equality.Semantic.DeepEqual(w, d.Spec.Template) {
					wy, _ := yaml.Marshal(w)
					gy, _ := yaml.Marshal(d.Spec.Template)
					t.Errorf("%s pod template (-upstream +ours):\n%s", service, cmp.Diff(string(wy), string(gy)))
				}
			}
		})
	}
}
