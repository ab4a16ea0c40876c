package plan

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
	"github.com/dynamo-infra/dynamo-infra/internal/placement"
	"github.com/dynamo-infra/dynamo-infra/internal/topology"
)

// TopologyChoice is the domain a plan packs one scope in.
type TopologyChoice struct {
	// Service is the packed service; empty for the whole graph.
	Service string `json:"service,omitempty"`
	Domain  string `json:"domain"`
	Key     string `json:"key"`
	// Value is the chosen domain; empty for a per-group scope (each group has its own).
	Value    string `json:"value,omitempty"`
	PerGroup bool   `json:"perGroup,omitempty"`
}

// maxChoices bounds the domain assignments a plan tries (one placement each).
const maxChoices = 64

// choice assigns a domain value to each single-domain scope (graph or service, not per group).
type choice struct {
	scopes []topology.Scope
	values []string
}

// apply pins the demands the choice covers to their domains: a node selector on the domain's
// label, on a copy of each pod spec.
func (c choice) apply(demands []placement.Demand) []placement.Demand {
	if len(c.values) == 0 {
		return demands
	}
	out := slices.Clone(demands)
	for d := range out {
		spec := out[d].Pod.DeepCopy()
		for i, s := range c.scopes {
			if s.Service != "" && s.Service != out[d].Service {
				continue
			}
			if spec.NodeSelector == nil {
				spec.NodeSelector = map[string]string{}
			}
			spec.NodeSelector[s.Key] = c.values[i]
		}
		out[d].Pod = spec
	}
	return out
}

func (c choice) String() string {
	parts := make([]string, len(c.values))
	for i, s := range c.scopes {
		who := "the graph"
		if s.Service != "" {
			who = s.Service
		}
		parts[i] = fmt.Sprintf("%s in %s %s", who, s.Domain, c.values[i])
	}
	return strings.Join(parts, ", ")
}

// report lists every scope with the domain chosen (none for per-group scopes).
func (c choice) report(all []topology.Scope) []TopologyChoice {
	var out []TopologyChoice
	for _, s := range all {
		tc := TopologyChoice{Service: s.Service, Domain: s.Domain, Key: s.Key, PerGroup: s.PerGroup}
		for i, cs := range c.scopes {
			if cs == s {
				tc.Value = c.values[i]
			}
		}
		out = append(out, tc)
	}
	return out
}

// packGroups sets each per-group scope's label as its demand's GroupKey.
func packGroups(demands []placement.Demand, scopes []topology.Scope) []placement.Demand {
	out := slices.Clone(demands)
	for _, s := range scopes {
		for d := range out {
			if s.PerGroup && out[d].Service == s.Service {
				out[d].GroupKey = s.Key
			}
		}
	}
	return out
}

// domainChoices lists the assignments to try: every combination of the domains (label values
// among the usable nodes) of the single-domain scopes, tightest first — the domain with the
// fewest free NVIDIA resources first, so roomy domains stay whole — at most maxChoices. No
// single-domain scope: one empty choice.
func domainChoices(nodes []placement.Node, demands []placement.Demand, scopes []topology.Scope) []choice {
	var single []topology.Scope
	for _, s := range scopes {
		if !s.PerGroup {
			single = append(single, s)
		}
	}
	if len(single) == 0 {
		return []choice{{}}
	}
	values := make([][]string, len(single))
	for i, s := range single {
		free := map[string]int64{}
		for _, n := range nodes {
			v := n.Node.Labels[s.Key]
			if v == "" {
				continue
			}
			if _, ok := free[v]; !ok {
				free[v] = 0
			}
			for r, q := range n.Free {
				if nvidia.IsResource(r) {
					free[v] += q
				}
			}
		}
		values[i] = slices.SortedFunc(maps.Keys(free), func(a, b string) int {
			if c := cmp.Compare(free[a], free[b]); c != 0 {
				return c
			}
			return strings.Compare(a, b)
		})
	}
	var out []choice
	var walk func(i int, picked []string)
	walk = func(i int, picked []string) {
		if len(out) == maxChoices {
			return
		}
		if i == len(single) {
			out = append(out, choice{scopes: single, values: slices.Clone(picked)})
			return
		}
		for _, v := range values[i] {
			walk(i+1, append(picked, v))
		}
	}
	walk(0, nil)
	if len(out) == 0 {
		// No node carries a domain label: one choice of no domain, which places nothing.
		out = append(out, choice{scopes: single, values: make([]string, len(single))})
	}
	return out
}

// attemptResult is one placement of the demands.
type attemptResult struct {
	res    placement.Result
	found  bool
	proven bool // not found, and the search tried everything (or the pods exceed the capacity)
	method string
	notes  []string
	steps  int
	work   int64
	// stopped: the work budget ran out.
	stopped bool
}

// attempt places the demands within work node visits: exactly (the search, first fit's answer
// if it stops) within the exact search's reach, a heuristic beyond.
func attempt(nodes []placement.Node, demands []placement.Demand, budget int, work int64, exact bool, pods int64, candidates int) attemptResult {
	place := func(a *attemptResult) placement.Result {
		r := placement.PlaceWithin(nodes, demands, max(work-a.work, 1))
		a.work += r.Work
		a.stopped = r.Stopped
		return r
	}
	if exact {
		a := attemptResult{method: MethodExact}
		s := placement.SearchWithin(nodes, demands, budget, work)
		a.steps, a.work = s.Steps, s.Work
		switch {
		case s.Found:
			a.res, a.found = s.Result, true
		case s.Complete:
			a.res, a.proven = place(&a), true
			a.notes = append(a.notes, "no placement exists: the search tried every distinct placement")
		default:
			a.res, a.method = place(&a), MethodHeuristic
			a.notes = append(a.notes, fmt.Sprintf("the search stopped after %d nodes tried: first-fit's answer", s.Steps))
		}
		return a
	}
	a := attemptResult{method: MethodHeuristic}
	// Best fit with little going back (it keeps whole nodes free), first fit when that fails.
	s := placement.SearchWithin(nodes, demands, int(min(placement.MulSat(4, pods), math.MaxInt32)), work)
	a.steps, a.work = s.Steps, s.Work
	switch {
	case s.Found:
		a.res, a.found = s.Result, true
	case s.Complete:
		// The search ended without its budget running out (a service has more pods than its
		// candidate nodes could hold, or it tried everything): proven.
		a.res, a.proven = place(&a), true
		a.notes = append(a.notes, "no placement exists: more pods than the candidate nodes could hold, or the search tried every distinct placement")
	default:
		a.res = place(&a)
		a.found = allPlaced(a.res)
	}
	if a.proven {
		return a
	}
	a.notes = append(a.notes, fmt.Sprintf("%d pods on up to %d candidate nodes is beyond the exact search (%d pods, %d nodes): a heuristic placement; \"does not fit\" is not proven",
		pods, candidates, MaxExactPods, MaxExactNodes))
	return a
}

func allPlaced(r placement.Result) bool {
	_, bad := r.FirstUnplaced()
	return !bad
}

// placed counts the replicas a result places.
func placed(r placement.Result) int64 {
	var n int64
	for _, s := range r.Services {
		n += s.Placed
	}
	return n
}

// interPod sets what each demand's inter-pod constraints are checked against, leaving out the
// pod affinity terms of the topology scopes: the plan packs those by choosing domains.
func interPod(demands []placement.Demand, opts Options) []placement.Demand {
	out := slices.Clone(demands)
	for d := range out {
		out[d].InterPod = opts.InterPod
		a := out[d].Pod.Affinity
		if opts.InterPod == placement.InterPodOff || a == nil || a.PodAffinity == nil || len(opts.Scopes) == 0 {
			continue
		}
		spec := out[d].Pod.DeepCopy()
		pa := spec.Affinity.PodAffinity
		pa.RequiredDuringSchedulingIgnoredDuringExecution = slices.DeleteFunc(pa.RequiredDuringSchedulingIgnoredDuringExecution,
			func(t corev1.PodAffinityTerm) bool { return scopeTerm(t, opts.Scopes) })
		out[d].Pod = spec
	}
	return out
}

// scopeTerm reports whether a pod affinity term is a topology scope's (its key is a scope's).
func scopeTerm(t corev1.PodAffinityTerm, scopes []topology.Scope) bool {
	return slices.ContainsFunc(scopes, func(s topology.Scope) bool { return s.Key == t.TopologyKey })
}

// Interest is which of the cluster's pods a plan of demands needs kept (ListFromAPI): those
// their inter-pod constraints could count, the topology scopes' terms left out.
func Interest(demands []placement.Demand, scopes []topology.Scope) *placement.Interest {
	return placement.NewInterest(interPod(demands, Options{InterPod: placement.InterPodAll, Scopes: scopes}))
}

// unchecked names the inter-pod constraints the plan does not model: pod (anti-)affinity terms
// that select namespaces by label (a plan reads no namespaces).
func unchecked(demands []placement.Demand) []string {
	var out []string
	for _, d := range demands {
		terms := append(slices.Clip(placement.RequiredAffinity(d.Pod)), placement.RequiredAntiAffinity(d.Pod)...)
		if slices.ContainsFunc(terms, placement.UncheckedTerm) {
			out = append(out, fmt.Sprintf("%s: pod (anti-)affinity terms with a namespaceSelector not checked by the plan (it reads no namespace labels)", d.Service))
		}
	}
	return out
}
