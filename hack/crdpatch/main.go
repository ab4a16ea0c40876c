// Command crdpatch finishes the DynamoGraphDeployment CRD that controller-gen writes: the
// original operator's extraPodSpec is a core PodSpec inline and mainContainer a core Container,
// and manifests written for it set neither containers nor the main container's name (the
// operator supplies both). controller-gen marks them required, from the core types' JSON tags;
// this drops those two requirements, as the original's CRD does.
//
// Usage: go run ./hack/crdpatch FILE
package main

import (
	"fmt"
	"os"

	"sigs.k8s.io/yaml"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: crdpatch FILE")
		os.Exit(2)
	}
	if err := patch(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "crdpatch:", err)
		os.Exit(1)
	}
}

// The conversion Service a plain install (kubectl apply) points at: the chart's Service with
// release name "dynamo" in namespace dynamo-system (the chart rewrites both).
const (
	ConversionServiceNamespace = "dynamo-system"
	ConversionServiceName      = "dynamo-dynamo-operator-webhook"
)

func patch(file string) error {
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var crd map[string]any
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		return err
	}
	versions, _ := dig(crd, "spec", "versions").([]any)
	if len(versions) == 0 {
		return fmt.Errorf("%s: no versions", file)
	}
	for _, v := range versions {
		// v1beta1 has no extraPodSpec: its podTemplate is a whole PodTemplateSpec, as upstream's.
		if name, _ := dig(v, "name").(string); name != "v1alpha1" {
			continue
		}
		eps, ok := dig(v, "schema", "openAPIV3Schema", "properties", "spec", "properties", "services",
			"additionalProperties", "properties", "extraPodSpec").(map[string]any)
		if !ok {
			return fmt.Errorf("%s: no extraPodSpec in the schema", file)
		}
		delete(eps, "required")
		mc, ok := dig(eps, "properties", "mainContainer").(map[string]any)
		if !ok {
			return fmt.Errorf("%s: no extraPodSpec.mainContainer in the schema", file)
		}
		delete(mc, "required")
	}
	// Both versions are served and v1beta1 stored: reads and writes in v1alpha1 go through the
	// operator's conversion webhook. The chart names its Service (hack/chart-crds.sh); the
	// operator keeps the caBundle (or, running beside the API server, points url at itself).
	spec, _ := crd["spec"].(map[string]any)
	spec["conversion"] = map[string]any{
		"strategy": "Webhook",
		"webhook": map[string]any{
			"conversionReviewVersions": []any{"v1"},
			"clientConfig": map[string]any{"service": map[string]any{
				"namespace": ConversionServiceNamespace, "name": ConversionServiceName, "path": "/convert", "port": 443}},
		},
	}
	out, err := yaml.Marshal(crd)
	if err != nil {
		return err
	}
	return os.WriteFile(file, append([]byte("---\n"), out...), 0o644)
}

func dig(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}
