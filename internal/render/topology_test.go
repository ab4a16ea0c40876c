package render

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	lwsv1 "sigs.k8s.io/lws/api/leaderworkerset/v1"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
	"github.com/dynamo-infra/dynamo-infra/internal/topology"
)

func topologyGraph(t *testing.T, spec, decode string) *v1alpha1.DynamoGraphDeployment {
	t.Helper()
	doc := `apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeployment
metadata: {name: tg}
spec:
` + spec + `  services:
    Frontend:
      componentType: frontend
      extraPodSpec:
        affinity:
          podAntiAffinity:
            requiredDuringSchedulingIgnoredDuringExecution:
            - {topologyKey: kubernetes.io/hostname, labelSelector: {matchLabels: {app: fe}}}
        mainContainer: {image: fe:1}
    Decode:
      componentType: decode
      resources: {limits: {gpu: "4"}}
` + decode + `      extraPodSpec:
        mainContainer: {image: engine:1}
`
	dgds, err := DecodeGraphs(strings.NewReader(doc), "tg.yaml", "ns")
	if err != nil {
		t.Fatal(err)
	}
	return dgds[0]
}

func podAffinity(t *testing.T, g *v1alpha1.DynamoGraphDeployment, service string, cfg Config) []corev1.PodAffinityTerm {
	t.Helper()
	spec, err := podSpecOf(g, service, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if spec.Affinity == nil || spec.Affinity.PodAffinity == nil {
		return nil
	}
	return spec.Affinity.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution
}

// A graph's packDomain becomes one required pod affinity term on every pod (the graph's pods, on
// the domain's label); a service's, one more on that service's pods (its own selector). The
// user's own affinity stays.
func TestTopologyRendersPodAffinity(t *testing.T) {
	g := topologyGraph(t, "  topologyConstraint: {topologyProfile: dev, packDomain: rack}\n", "      topologyConstraint: {packDomain: clique}\n")
	graphTerm := corev1.PodAffinityTerm{TopologyKey: topology.LabelRack,
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{v1alpha1.LabelGraphDeploymentName: "tg"}}}
	serviceTerm := corev1.PodAffinityTerm{TopologyKey: nvidia.LabelGPUClique,
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{v1alpha1.LabelSelector: "tg-decode-" + graph.WorkerHash(g)}}}
	if d := cmp.Diff([]corev1.PodAffinityTerm{graphTerm}, podAffinity(t, g, "Frontend", Config{})); d != "" {
		t.Errorf("Frontend (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]corev1.PodAffinityTerm{graphTerm, serviceTerm}, podAffinity(t, g, "Decode", Config{})); d != "" {
		t.Errorf("Decode (-want +got):\n%s", d)
	}
	fe, _ := podSpecOf(g, "Frontend", Config{})
	if fe.Affinity.PodAntiAffinity == nil || len(fe.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) != 1 {
		t.Errorf("the user's anti-affinity was lost: %+v", fe.Affinity)
	}
	// A ClusterTopology's levels replace the built-in keys.
	cfg := Config{Topology: topology.Profile{Name: "dev", Levels: []topology.Level{{Domain: "rack", Key: "example.com/rack"}, {Domain: "clique", Key: "example.com/nvl"}}}}
	if got := podAffinity(t, g, "Decode", cfg); len(got) != 2 || got[0].TopologyKey != "example.com/rack" || got[1].TopologyKey != "example.com/nvl" {
		t.Errorf("with the profile's levels: %+v", got)
	}
	// No constraint: no term.
	if got := podAffinity(t, topologyGraph(t, "", ""), "Decode", Config{}); got != nil {
		t.Errorf("no constraint, terms %+v", got)
	}
}

// A multi-node service's packDomain packs each group: its term also matches the group's key.
func TestTopologyPacksEachGroup(t *testing.T) {
	g := topologyGraph(t, "  topologyConstraint: {topologyProfile: dev}\n", "      multinode: {nodeCount: 2}\n      topologyConstraint: {packDomain: clique}\n")
	for _, role := range []Role{RoleLeader, RoleWorker} {
		spec, err := rolePodSpecOf(g, "Decode", Config{}, role)
		if err != nil {
			t.Fatal(err)
		}
		terms := spec.Affinity.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution
		if len(terms) != 1 || terms[0].TopologyKey != nvidia.LabelGPUClique || !cmp.Equal(terms[0].MatchLabelKeys, []string{lwsv1.GroupUniqueHashLabelKey}) {
			t.Errorf("%s: %+v", role, terms)
		}
	}
}

// As upstream: a service constraint takes its profile from spec.topologyConstraint; a domain
// must be a level of the profile.
func TestTopologyErrors(t *testing.T) {
	for _, tc := range []struct{ spec, decode, want string }{
		{"", "      topologyConstraint: {packDomain: rack}\n", "needs spec.topologyConstraint.topologyProfile"},
		{"  topologyConstraint: {topologyProfile: dev, packDomain: galaxy}\n", "", `spec.topologyConstraint.packDomain "galaxy" is not a level of topology profile "dev" (levels: region, zone, block, rack, clique, host)`},
		{"  topologyConstraint: {topologyProfile: dev}\n", "      topologyConstraint: {packDomain: row}\n", `spec.services.Decode.topologyConstraint.packDomain "row"`},
	} {
		_, err := podSpecOf(topologyGraph(t, tc.spec, tc.decode), "Frontend", Config{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q/%q: %v, want %q", tc.spec, tc.decode, err, tc.want)
		}
	}
}
