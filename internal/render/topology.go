package render

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	lwsv1 "sigs.k8s.io/lws/api/leaderworkerset/v1"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/topology"
)

// topologyAffinity adds, for each scope a service's pods belong to, a required pod affinity
// term on the domain's label key: the standard scheduling term for "in the same domain as the
// others" (the first pod, with no peer yet, goes anywhere its own term allows). The graph's
// scope selects the graph's pods; a service's selects its pods; a multi-node service's scope
// also matches on the LeaderWorkerSet group, so each group packs on its own.
func topologyAffinity(g *graph.Graph, c *graph.Component, scopes []topology.Scope, pod *corev1.PodSpec) {
	var terms []corev1.PodAffinityTerm
	for _, s := range scopes {
		switch s.Service {
		case "":
			terms = append(terms, corev1.PodAffinityTerm{TopologyKey: s.Key,
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{v1alpha1.LabelGraphDeploymentName: g.Name}}})
		case c.Name:
			t := corev1.PodAffinityTerm{TopologyKey: s.Key, LabelSelector: &metav1.LabelSelector{MatchLabels: selectorLabels(c)}}
			if s.PerGroup {
				t.MatchLabelKeys = []string{lwsv1.GroupUniqueHashLabelKey}
			}
			terms = append(terms, t)
		}
	}
	if len(terms) == 0 {
		return
	}
	if pod.Affinity == nil {
		pod.Affinity = &corev1.Affinity{}
	}
	if pod.Affinity.PodAffinity == nil {
		pod.Affinity.PodAffinity = &corev1.PodAffinity{}
	}
	pa := pod.Affinity.PodAffinity
	pa.RequiredDuringSchedulingIgnoredDuringExecution = append(pa.RequiredDuringSchedulingIgnoredDuringExecution, terms...)
}
