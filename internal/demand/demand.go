// Package demand turns graphs into what placement places: one demand per service, its pods
// rendered as the operator renders them and, when the caller can, passed through the cluster's
// admission; each pod's requests as the scheduler sums them. It links no client library, so
// the operator (which plans for its Schedulable condition) and the CLI share it.
package demand

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/kubenode"
	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
	"github.com/dynamo-infra/dynamo-infra/internal/placement"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
)

// Admit returns what the cluster's admission makes of a service's pod spec (default tolerations,
// node selectors, LimitRange requests): a server-side dry run in the CLI, a pod of the service as
// it was admitted in the operator. It may return spec unchanged.
type Admit func(namespace, service string, spec *corev1.PodSpec) *corev1.PodSpec

// Pods renders each graph's services as the operator would and returns one demand per
// service, each pod asking for everything the scheduler's resource filter counts: NVIDIA
// resources, CPU, memory, ephemeral storage and a pod slot ("pods"), requests as the scheduler
// sums them (PodRequests). admit, when set, may replace a pod spec with what the cluster's
// admission makes of it (default tolerations, node selectors, LimitRange requests).
func Pods(graphs []*graph.Graph, cfg render.Config, admit Admit) ([]placement.Demand, error) {
	var out []placement.Demand
	for _, g := range graphs {
		var unimplemented *graph.UnimplementedError
		if err := g.Refusal(); errors.As(err, &unimplemented) {
			return nil, fmt.Errorf("%s: %w", g.Name, err)
		}
		for _, c := range g.Components {
			name := c.Name
			tmpl, err := render.PodTemplate(g, c, cfg)
			if err != nil {
				return nil, fmt.Errorf("%s/%s: %w", g.Name, name, err)
			}
			spec := tmpl.Spec
			req := Requests(&spec)
			replicas := int64(c.Replicas)
			// A multi-node replica is nodeCount pods of the per-node limit, on distinct nodes
			// (the leader's spec: its workers have the same resources and constraints).
			group := int64(c.NodeCount)
			service := name
			if len(graphs) > 1 {
				service = g.Name + "/" + name
			}
			pod := &spec
			if admit != nil {
				// What admission adds counts: a LimitRange's default requests, for one.
				pod = admit(g.Namespace, name, pod)
				req = Requests(pod)
			}
			// The leader's labels stand for its group's (workers differ in the role label only).
			out = append(out, placement.Demand{Service: service, Replicas: replicas, GroupSize: group, Requests: req, Pod: pod, Shared: AsksForShared(pod),
				Namespace: g.Namespace, Labels: tmpl.Labels})
		}
	}
	return out, nil
}

// Requests is what a pod with this spec asks of a node: the scheduler's sum of requests
// (init containers by the max rule, sidecars, overhead), a request missing where a limit is
// given taking the limit as API defaulting does (a spec admission has not seen), and one pod
// slot. Quantities in the resource's base unit: millicores for CPU, bytes, counts.
func Requests(spec *corev1.PodSpec) map[string]int64 {
	return counts(kubenode.PodRequests(spec))
}

// AddTo adds a pod's requests to its node's totals in perNode.
func AddTo(perNode map[string]map[string]int64, node string, requests map[string]int64) {
	m := perNode[node]
	if m == nil {
		m = map[string]int64{}
		perNode[node] = m
	}
	for r, q := range requests {
		m[r] += q
	}
}

// StoredRequests is Requests of a pod the API server stored: its defaults are applied, so
// nothing is copied (a plan reads every active pod of the cluster).
func StoredRequests(pod *corev1.Pod) map[string]int64 {
	return counts(kubenode.StoredPodRequests(pod))
}

// counts are requests in each resource's base unit (millicores for CPU), and one pod slot.
func counts(reqs corev1.ResourceList) map[string]int64 {
	out := map[string]int64{string(corev1.ResourcePods): 1}
	for name, q := range reqs {
		if q.IsZero() {
			continue
		}
		if name == corev1.ResourceCPU {
			out[string(name)] = q.MilliValue()
		} else {
			out[string(name)] = q.Value()
		}
	}
	return out
}

// AsksForShared: the pod's node selector or required node affinity names GPU sharing (GFD's
// sharing-strategy or replicas label, or a product with its -SHARED suffix): it wants shares of
// GPUs, so time-sliced replicas count for it.
func AsksForShared(spec *corev1.PodSpec) bool {
	shared := func(key, value string) bool {
		return key == nvidia.LabelGPUSharing || key == nvidia.LabelGPUReplicas ||
			(key == nvidia.LabelGPUProduct && strings.HasSuffix(value, "-SHARED"))
	}
	for k, v := range spec.NodeSelector {
		if shared(k, v) {
			return true
		}
	}
	if a := spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
			for _, e := range term.MatchExpressions {
				for _, v := range append(e.Values, "") {
					if shared(e.Key, v) {
						return true
					}
				}
			}
		}
	}
	return false
}

// WithResourceTolerations is spec with what the ExtendedResourceToleration admission plugin adds
// to a pod that requests extended resources: a toleration of each one's taint (key the
// resource's name, Exists, NoSchedule) — the usual way GPU nodes are tainted. spec is not
// changed; it is returned as it is when it needs none.
func WithResourceTolerations(spec *corev1.PodSpec) *corev1.PodSpec {
	var add []corev1.Toleration
	for name := range Requests(spec) {
		if !isExtended(name) {
			continue
		}
		t := corev1.Toleration{Key: name, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
		if !slices.ContainsFunc(spec.Tolerations, func(have corev1.Toleration) bool { return have.MatchToleration(&t) }) {
			add = append(add, t)
		}
	}
	if len(add) == 0 {
		return spec
	}
	slices.SortFunc(add, func(a, b corev1.Toleration) int { return strings.Compare(a.Key, b.Key) })
	out := *spec
	out.Tolerations = append(slices.Clip(spec.Tolerations), add...)
	return &out
}

// isExtended: a resource outside the kubernetes.io domain and not a native one (what
// ExtendedResourceToleration covers).
func isExtended(name string) bool {
	switch corev1.ResourceName(name) {
	case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage, corev1.ResourcePods:
		return false
	}
	return strings.Contains(name, "/") && !strings.Contains(name, "kubernetes.io/") && !strings.HasPrefix(name, "hugepages-")
}
