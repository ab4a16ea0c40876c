package graph

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/api/v1beta1"
)

// A graph written as v1beta1 is read here as v1alpha1; what v1alpha1 cannot hold travels in
// the conversion annotation. Those of its fields whose behaviour is not built are refused
// like v1alpha1's, by their v1beta1 path; roles that only name the leader and the worker say
// what multinode says, and are not.
func TestV1beta1OnlyFieldsAreReported(t *testing.T) {
	const manifest = `
apiVersion: nvidia.com/v1beta1
kind: DynamoGraphDeployment
metadata: {name: g, namespace: default}
spec:
  providerOverride: {apiVersion: grove.io/v1alpha1, value: {spec: {}}}
  experimental:
    kvTransferPolicy: {labelKey: zone, domain: rack}
  components:
  - name: decode
    type: decode
    replicas: 2
    minAvailable: 1
    providerOverride: {apiVersion: grove.io/v1alpha1, value: {}}
    multinode: {nodeCount: 2}
    roles:
    - {name: leader, podTemplate: {spec: {containers: [{name: main, image: x}]}}}
    - {name: worker}
    experimental: {grove: {forceScalingGroup: true}}
    podTemplate: {spec: {containers: [{name: main, image: x}]}}
  - name: prefill
    type: prefill
    multinode: {nodeCount: 2}
    roles: [{name: leader}, {name: worker, replicas: 1}]
    podTemplate: {spec: {containers: [{name: main, image: x}]}}
`
	beta := &v1beta1.DynamoGraphDeployment{}
	if err := yaml.UnmarshalStrict([]byte(manifest), beta); err != nil {
		t.Fatal(err)
	}
	alpha := &v1alpha1.DynamoGraphDeployment{}
	if err := alpha.ConvertFrom(beta); err != nil {
		t.Fatal(err)
	}
	_, err := Resolve(alpha, Options{})
	var unimpl *UnimplementedError
	if !errors.As(err, &unimpl) {
		t.Fatalf("Resolve: %v, want the fields that are not implemented", err)
	}
	var got []string
	for _, f := range unimpl.Fields {
		got = append(got, f.Path)
	}
	want := []string{
		"spec.providerOverride",
		"spec.experimental.kvTransferPolicy",
		"spec.components[decode].minAvailable",
		"spec.components[decode].providerOverride",
		"spec.components[decode].roles",
		"spec.components[decode].experimental.grove",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("reported fields (-want +got):\n%s", d)
	}

	// The same graph without them is not refused.
	for i := range beta.Spec.Components {
		c := &beta.Spec.Components[i]
		c.MinAvailable, c.ProviderOverride, c.Experimental = nil, nil, nil
		for r := range c.Roles {
			c.Roles[r].PodTemplate = nil
		}
	}
	beta.Spec.ProviderOverride, beta.Spec.Experimental = nil, nil
	alpha = &v1alpha1.DynamoGraphDeployment{}
	if err := alpha.ConvertFrom(beta); err != nil {
		t.Fatal(err)
	}
	if _, err := Resolve(alpha, Options{}); errors.As(err, &unimpl) {
		t.Errorf("without the v1beta1-only fields, still refused: %v", err)
	}
}
