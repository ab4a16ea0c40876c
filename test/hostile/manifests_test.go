package hostile

import (
	"context"
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/internal/devcluster/devclustertest"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
	"github.com/dynamo-infra/dynamo-infra/test/reference"
)

// service is one worker service of a manifest, with the given extra lines (indented under it).
func manifest(name string, services string) string {
	return fmt.Sprintf(`apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeployment
metadata:
  name: %s
spec:
  services:
%s`, name, services)
}

func worker(name string, extra ...string) string {
	s := fmt.Sprintf("    %s:\n      componentType: worker\n      extraPodSpec:\n        mainContainer:\n          image: nvcr.io/nvidia/ai-dynamo/vllm-runtime:0.6.1\n", name)
	for _, e := range extra {
		s += "      " + e + "\n"
	}
	return s
}

// What the API server refuses, render and preflight -f refuse too, naming the same field: the
// graph is validated in process from the same CRD (schema, list keys, CEL). Before, render
// accepted all of these and printed, for instance, nvidia.com/gpu: -1.
func TestManifestsRefusedAsByTheAPIServer(t *testing.T) {
	many := ""
	for i := range 26 {
		many += worker(fmt.Sprintf("W%d", i))
	}
	cases := map[string]struct{ yaml, field string }{
		"negative replicas":      {manifest("g", worker("W", "replicas: -3")), "replicas"},
		"a 70-character name":    {manifest(strings.Repeat("g", 70), worker("W")), "metadata.name"},
		"GPU -1":                 {manifest("g", worker("W", "resources: {limits: {gpu: \"-1\"}}")), "gpu"},
		"GPU 1.5":                {manifest("g", worker("W", "resources: {limits: {gpu: \"1.5\"}}")), "gpu"},
		"duplicate env names":    {manifest("g", worker("W", "envs: [{name: A, value: \"1\"}, {name: A, value: \"2\"}]")), "envs"},
		"unknown component type": {manifest("g", strings.Replace(worker("W"), "componentType: worker", "componentType: wizard", 1)), "componentType"},
		"26 services":            {manifest("g", many), "spec.services"},
		"case clash":             {manifest("g", worker("Frontend")+worker("FRONTEND")), "spec.services"},
		"2³¹−1 replicas":         {manifest("g", worker("W", "replicas: 2147483647")), "replicas"},
		"a 6,000-node group":     {manifest("g", worker("W", "multinode: {nodeCount: 6000}")), "nodeCount"},
		"200 groups of 1,000":    {manifest("g", worker("W", "replicas: 200", "multinode: {nodeCount: 1000}")), "150000"},
	}
	c := devclustertest.Start(t, "cpu=1")
	devclustertest.InstallCRDs(t, c.RESTConfig(), testkit.CRDPath())
	dyn, err := dynamic.NewForConfig(c.RESTConfig())
	must(t, err)
	gvr := schema.GroupVersionResource{Group: "nvidia.com", Version: "v1alpha1", Resource: "dynamographdeployments"}
	apply := func(ctx context.Context, doc string) error {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			return err
		}
		_, err := dyn.Resource(gvr).Namespace("default").Create(ctx, u, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"})
		return err
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			apiErr := apply(t.Context(), tc.yaml)
			_, ourErr := render.DecodeGraphs(strings.NewReader(tc.yaml), "dgd.yaml", "default")
			if apiErr == nil || !strings.Contains(apiErr.Error(), tc.field) {
				t.Fatalf("the API server: %v, want refused naming %s (the case is wrong)", apiErr, tc.field)
			}
			if ourErr == nil || !strings.Contains(ourErr.Error(), tc.field) {
				t.Errorf("render: %v\nwant refused naming %s, as the API server:\n%v", ourErr, tc.field, apiErr)
			}
		})
	}
	// And what it accepts, we accept: the original example.
	raw, err := reference.DGDExample()
	must(t, err)
	if err := apply(t.Context(), string(raw)); err != nil {
		t.Fatalf("the API server refuses the reference example: %v", err)
	}
	if _, err := render.DecodeGraphs(strings.NewReader(string(raw)), "dgd.yaml", "default"); err != nil {
		t.Errorf("render refuses the reference example: %v", err)
	}
}
