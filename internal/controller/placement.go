package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	lwsv1 "sigs.k8s.io/lws/api/leaderworkerset/v1"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/kubenode"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
	"github.com/dynamo-infra/dynamo-infra/internal/topology"
)

// The PlacementVerified condition: for a graph with a topologyConstraint, whether its pods run
// where the constraint says (status.placement has the detail).
const (
	ConditionPlacementVerified = v1alpha1.ConditionPlacementVerified
	// ReasonTopologyRespected: every constrained set of pods runs in one domain.
	ReasonTopologyRespected = "TopologyRespected"
	// ReasonTopologyViolated: some run in several domains, or on nodes without the label.
	ReasonTopologyViolated = "TopologyViolated"
	// ReasonNoPodsPlaced: a constrained set has no pod on a node yet.
	ReasonNoPodsPlaced = "NoPodsPlaced"
)

// ReasonNodesNotReadable: the operator may not read nodes (a namespaced install), so where the
// pods run cannot be checked against the domains.
const ReasonNodesNotReadable = "NodesNotReadable"

// errNodesForbidden: the operator's account may not get nodes.
var errNodesForbidden = errors.New("the operator may not read nodes (get nodes is forbidden; a namespaced install has no ClusterRole): the placement is not verified")

// DefaultPlacementRefresh is Reconciler.PlacementRefresh when unset.
const DefaultPlacementRefresh = time.Minute

func (r *Reconciler) placementRefresh() time.Duration {
	if r.PlacementRefresh > 0 {
		return r.PlacementRefresh
	}
	return DefaultPlacementRefresh
}

// renderConfig is the operator's render configuration for a graph: with a topologyConstraint,
// the levels of the ClusterTopology its topologyProfile names (the built-in levels when the
// cluster has none) and the graph's scopes resolved against them.
func (r *Reconciler) renderConfig(ctx context.Context, g *graph.Graph) (render.Config, []topology.Scope, error) {
	cfg := r.Config
	if !g.HasTopology() {
		return cfg, nil, nil
	}
	if name := g.TopologyProfile(); name != "" {
		p, err := topology.ReadProfile(ctx, r.getClusterScoped, name)
		if err != nil {
			return cfg, nil, err
		}
		cfg.Topology = p
	}
	scopes, err := g.Scopes(cfg.Topology)
	if err != nil {
		return cfg, nil, fmt.Errorf("topologyConstraint: %w", err)
	}
	return cfg, scopes, nil
}

// getClusterScoped reads a cluster-scoped object past the cache (a ClusterTopology is read
// rarely; caching every one would watch a kind that may not exist).
func (r *Reconciler) getClusterScoped(ctx context.Context, gvr schema.GroupVersionResource, name string) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvr.GroupVersion().WithKind("ClusterTopology"))
	return u, r.reader().Get(ctx, client.ObjectKey{Name: name}, u)
}

func (r *Reconciler) reader() client.Reader {
	if r.APIReader != nil {
		return r.APIReader
	}
	return r.Client
}

// nodeLabelsEntry is a node's labels and when they were read.
type nodeLabelsEntry struct {
	labels map[string]string
	at     time.Time
}

// observePlacement verifies each scope against where the graph's pods run: the labels of their
// nodes, read as metadata only and kept for PlacementRefresh (a graph's pods share few nodes).
func (r *Reconciler) observePlacement(ctx context.Context, scopes []topology.Scope, pods map[string][]corev1.Pod) ([]v1alpha1.TopologyPlacement, error) {
	var placed []topology.Pod
	for svc, list := range pods {
		for i := range list {
			p := &list[i]
			if !kubenode.PodActive(p) || p.DeletionTimestamp != nil {
				continue
			}
			placed = append(placed, topology.Pod{Service: svc, Group: p.Labels[lwsv1.GroupUniqueHashLabelKey], Node: p.Spec.NodeName})
		}
	}
	labels := map[string]map[string]string{}
	for _, p := range placed {
		if _, done := labels[p.Node]; done {
			continue
		}
		if e, ok := r.nodeLabels.Load(p.Node); ok && time.Since(e.(nodeLabelsEntry).at) < r.placementRefresh() {
			labels[p.Node] = e.(nodeLabelsEntry).labels
			continue
		}
		m := &metav1.PartialObjectMetadata{}
		m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Node"))
		err := r.reader().Get(ctx, client.ObjectKey{Name: p.Node}, m)
		switch {
		case apierrors.IsNotFound(err):
			labels[p.Node] = nil // gone: its pods count as unlabelled
			continue
		case apierrors.IsForbidden(err):
			return nil, errNodesForbidden
		case err != nil:
			return nil, fmt.Errorf("read node %s: %w", p.Node, err)
		}
		r.nodeLabels.Store(p.Node, nodeLabelsEntry{labels: m.Labels, at: time.Now()})
		labels[p.Node] = m.Labels
	}
	return topology.Verify(scopes, placed, func(n string) (map[string]string, bool) {
		l, ok := labels[n]
		return l, ok && l != nil
	}), nil
}

// placementCondition sums the placement up.
func placementCondition(g *graph.Graph, placement []v1alpha1.TopologyPlacement) metav1.Condition {
	cond := metav1.Condition{Type: ConditionPlacementVerified, ObservedGeneration: g.Generation}
	var violated, waiting, ok []string
	for _, p := range placement {
		who := "the graph's pods"
		if p.Service != "" {
			who = p.Service + "'s pods"
			if p.PerGroup {
				who = "each group of " + p.Service
			}
		}
		switch {
		case len(p.Unlabelled) > 0:
			violated = append(violated, fmt.Sprintf("%s run on node(s) without %s (%s)", who, p.Key, strings.Join(p.Unlabelled, ", ")))
		case !p.Verified:
			violated = append(violated, fmt.Sprintf("%s run in %d %s domains (%s: %s), not one", who, len(p.Values), p.Domain, p.Key, strings.Join(p.Values, ", ")))
		case len(p.Nodes) == 0:
			waiting = append(waiting, who)
		default:
			ok = append(ok, fmt.Sprintf("%s in %s %s", who, p.Domain, strings.Join(p.Values, ", ")))
		}
	}
	switch {
	case len(violated) > 0:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, ReasonTopologyViolated, strings.Join(violated, "; ")
	case len(waiting) > 0:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionUnknown, ReasonNoPodsPlaced, "no pod placed yet: "+strings.Join(waiting, ", ")
	default:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionTrue, ReasonTopologyRespected, strings.Join(ok, "; ")
	}
	return cond
}

// setPlacement records the placement and its condition, or removes both for a graph without a
// topology constraint.
func setPlacement(st *v1alpha1.DynamoGraphDeploymentStatus, g *graph.Graph, obs Observed) {
	if !obs.Topology {
		st.Placement = nil
		meta.RemoveStatusCondition(&st.Conditions, ConditionPlacementVerified)
		return
	}
	if obs.PlacementUnknown != "" {
		st.Placement = nil
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: ConditionPlacementVerified, ObservedGeneration: g.Generation,
			Status: metav1.ConditionUnknown, Reason: ReasonNodesNotReadable, Message: obs.PlacementUnknown})
		return
	}
	st.Placement = obs.Placement
	meta.SetStatusCondition(&st.Conditions, placementCondition(g, obs.Placement))
}
