package render

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	lwsv1 "sigs.k8s.io/lws/api/leaderworkerset/v1"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/topology"
)

// Scopes resolves the graph's topologyConstraint against cfg.Topology (the built-in levels
// when the caller read no ClusterTopology): the one answer render, plan and the operator's
// verification share.
func Scopes(dgd *v1alpha1.DynamoGraphDeployment, cfg Config) ([]topology.Scope, error) {
	p := cfg.Topology
	if p.Levels == nil {
		p = topology.Profile{Name: topology.ProfileName(dgd), Levels: topology.BuiltInLevels, BuiltIn: true}
	}
	return topology.Scopes(dgd, p, func(s *v1alpha1.ServiceSpec) int32 { return NodeCount(s) })
}

// topologyAffinity adds, for each scope a service's pods belong to, a required pod affinity
// term on the domain's label key: the standard scheduling term for "in the same domain as the
// others" (the first pod, with no peer yet, goes anywhere its own term allows). The graph's
// scope selects the graph's pods; a service's selects its pods; a multi-node service's scope
// also matches on the LeaderWorkerSet group, so each group packs on its own.
func topologyAffinity(dgd *v1alpha1.DynamoGraphDeployment, service string, scopes []topology.Scope, pod *corev1.PodSpec) {
	var terms []corev1.PodAffinityTerm
	for _, s := range scopes {
		switch s.Service {
		case "":
			terms = append(terms, corev1.PodAffinityTerm{TopologyKey: s.Key,
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{v1alpha1.LabelGraphDeploymentName: dgd.Name}}})
		case service:
			t := corev1.PodAffinityTerm{TopologyKey: s.Key, LabelSelector: &metav1.LabelSelector{MatchLabels: selectorLabels(dgd, service)}}
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
