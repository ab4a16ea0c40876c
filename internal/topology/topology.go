// Package topology resolves a graph's topologyConstraint without Grove or KAI: each topology
// domain a graph names ("rack", "zone", "clique") maps to a node label key — from the Grove
// ClusterTopology the graph's topologyProfile names when the cluster has one, from the built-in
// levels otherwise — and a graph turns into scopes (graph.Scopes): sets of pods that must
// share one value of that label. Render turns scopes into required pod affinity, plan places by them, and the
// operator verifies them where pods run. Pure but for ReadProfile.
package topology

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
)

// Node label keys of the built-in levels that Kubernetes does not define.
const (
	LabelBlock = "topology.dynamo-infra.dev/block"
	LabelRack  = "topology.dynamo-infra.dev/rack"
)

// Level maps a domain name to the node label key whose value names a domain.
type Level struct {
	Domain string `json:"domain"`
	Key    string `json:"key"`
}

// BuiltInLevels are the levels used when the cluster has no ClusterTopology of the profile's name,
// broadest first.
var BuiltInLevels = []Level{
	{Domain: "region", Key: corev1.LabelTopologyRegion},
	{Domain: "zone", Key: corev1.LabelTopologyZone},
	{Domain: "block", Key: LabelBlock},
	{Domain: "rack", Key: LabelRack},
	{Domain: "clique", Key: nvidia.LabelGPUClique}, // GFD's NVLink domain (GB200 NVL72: a rack)
	{Domain: "host", Key: corev1.LabelHostname},
}

// Profile is a named set of levels.
type Profile struct {
	Name   string
	Levels []Level
	// BuiltIn: the cluster has no ClusterTopology of this name; Levels are BuiltInLevels.
	BuiltIn bool
}

// Key is the node label key of a domain.
func (p Profile) Key(domain string) (string, bool) {
	for _, l := range p.Levels {
		if l.Domain == domain {
			return l.Key, true
		}
	}
	return "", false
}

// Scope is a set of a graph's pods that must run in one domain: all of the graph's (Service
// empty), all of one service's, or — for a multi-node service — each replica's group (PerGroup).
type Scope struct {
	Service  string `json:"service,omitempty"`
	Domain   string `json:"domain"`
	Key      string `json:"key"`
	PerGroup bool   `json:"perGroup,omitempty"`
}

// ClusterTopologyResource is Grove's ClusterTopology (cluster-scoped).
var ClusterTopologyResource = schema.GroupVersionResource{Group: "grove.io", Version: "v1alpha1", Resource: "clustertopologies"}

// Getter reads one cluster-scoped object (a dynamic client's resource, or the operator's reader).
type Getter func(ctx context.Context, gvr schema.GroupVersionResource, name string) (*unstructured.Unstructured, error)

// ReadProfile reads the ClusterTopology called name: its levels when it exists, the built-in
// levels when it does not or the cluster has no ClusterTopology resource (no Grove).
func ReadProfile(ctx context.Context, get Getter, name string) (Profile, error) {
	u, err := get(ctx, ClusterTopologyResource, name)
	switch {
	case err == nil:
	case apierrors.IsNotFound(err) || meta.IsNoMatchError(err):
		return Profile{Name: name, Levels: BuiltInLevels, BuiltIn: true}, nil
	default:
		return Profile{}, fmt.Errorf("read ClusterTopology %s: %w", name, err)
	}
	levels, _, err := unstructured.NestedSlice(u.Object, "spec", "levels")
	if err != nil {
		return Profile{}, fmt.Errorf("ClusterTopology %s: spec.levels: %w", name, err)
	}
	p := Profile{Name: name}
	for _, l := range levels {
		m, _ := l.(map[string]any)
		d, _ := m["domain"].(string)
		k, _ := m["key"].(string)
		if d == "" || k == "" {
			return Profile{}, fmt.Errorf("ClusterTopology %s: a level without domain or key", name)
		}
		p.Levels = append(p.Levels, Level{Domain: d, Key: k})
	}
	return p, nil
}

// Pod is a bound pod of the graph as verification reads it.
type Pod struct {
	Service string
	// Group names a multi-node replica's group ("" for a single-node service).
	Group string
	Node  string
}

// Verify computes each scope's placement from the graph's bound pods and their nodes' labels
// (ok false: the node is not known).
func Verify(scopes []Scope, pods []Pod, nodeLabels func(node string) (labels map[string]string, ok bool)) []v1alpha1.TopologyPlacement {
	out := make([]v1alpha1.TopologyPlacement, 0, len(scopes))
	for _, s := range scopes {
		p := v1alpha1.TopologyPlacement{Service: s.Service, Domain: s.Domain, Key: s.Key, PerGroup: s.PerGroup, Verified: true}
		perGroup := map[string]map[string]bool{}
		values, nodes, unlabelled := map[string]bool{}, map[string]bool{}, map[string]bool{}
		for _, pod := range pods {
			if pod.Node == "" || (s.Service != "" && pod.Service != s.Service) {
				continue
			}
			nodes[pod.Node] = true
			labels, ok := nodeLabels(pod.Node)
			v := labels[s.Key]
			if !ok || v == "" {
				unlabelled[pod.Node] = true
				continue
			}
			g := ""
			if s.PerGroup {
				g = pod.Group
			}
			if perGroup[g] == nil {
				perGroup[g] = map[string]bool{}
			}
			perGroup[g][v] = true
			values[v] = true
		}
		for _, vs := range perGroup {
			p.Verified = p.Verified && len(vs) <= 1
		}
		p.Verified = p.Verified && len(unlabelled) == 0
		p.Values, p.Nodes, p.Unlabelled = sortedKeys(values), sortedKeys(nodes), sortedKeys(unlabelled)
		out = append(out, p)
	}
	return out
}

// sortedKeys is nil for none: status is compared with what the API server stored, where an
// empty list is no list.
func sortedKeys(m map[string]bool) []string {
	if len(m) == 0 {
		return nil
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
