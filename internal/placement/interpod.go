package placement

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// Pod is a pod already on a node, as the inter-pod constraints look at it.
type Pod struct {
	Namespace string
	Labels    map[string]string
	// AntiAffinity are its required pod anti-affinity terms: they keep the pods they match out
	// of its domain.
	AntiAffinity []corev1.PodAffinityTerm
	// Terminating pods count for pod (anti-)affinity, not for topology spread (as the
	// scheduler counts them).
	Terminating bool
}

// InterPod says what a demand's required pod affinity, pod anti-affinity and topology spread
// (DoNotSchedule) constraints are checked against.
type InterPod int

const (
	// InterPodOff: not checked (callers that read no pods: preflight, explain -f).
	InterPodOff InterPod = iota
	// InterPodGraph: against the demands' own pods only; a term or spread constraint no demand's
	// pods match would count pods the caller did not read, and is not checked (the operator).
	InterPodGraph
	// InterPodAll: against the demands' pods and the pods on the nodes (Node.Pods), which must
	// then hold every pod the constraints could match (dynamoctl plan).
	InterPodAll
)

// Refusals by inter-pod constraints, as ServiceResult.Refused names them.
const (
	RefusedAffinity         = "pod affinity"
	RefusedAntiAffinity     = "pod anti-affinity"
	RefusedOthersAnti       = "another pod's anti-affinity"
	RefusedSpread           = "topology spread"
	RefusedMissingDomainKey = "no topology label"
)

// AsPod is how a placed pod of the demand is seen by later ones.
func (d Demand) AsPod() Pod {
	return Pod{Namespace: d.Namespace, Labels: d.Labels, AntiAffinity: RequiredAntiAffinity(d.Pod)}
}

// RequiredAffinity are a pod's required pod affinity terms.
func RequiredAffinity(spec *corev1.PodSpec) []corev1.PodAffinityTerm {
	if spec == nil || spec.Affinity == nil || spec.Affinity.PodAffinity == nil {
		return nil
	}
	return spec.Affinity.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution
}

// RequiredAntiAffinity are a pod's required pod anti-affinity terms.
func RequiredAntiAffinity(spec *corev1.PodSpec) []corev1.PodAffinityTerm {
	if spec == nil || spec.Affinity == nil || spec.Affinity.PodAntiAffinity == nil {
		return nil
	}
	return spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution
}

// matcher selects pods: by labels, in some namespaces (nil: all).
type matcher struct {
	sel labels.Selector
	ns  []string
}

func (m matcher) matches(ns string, l map[string]string) bool {
	return (m.ns == nil || slices.Contains(m.ns, ns)) && m.sel.Matches(labels.Set(l))
}

func (m matcher) String() string { return fmt.Sprintf("%v|%s", m.ns, m.sel) }

// domains indexes a topology key's values over the nodes.
type domains struct {
	key   string
	of    []int // per node: the domain, -1 when the node lacks the key
	count int
	// perNode: every domain is one node (kubernetes.io/hostname): nodes are told apart by what
	// their domain holds, not by its name (Search's likeness of nodes).
	perNode bool
}

func newDomains(nodes []Node, key string) *domains {
	d := &domains{key: key, of: make([]int, len(nodes)), perNode: true}
	idx := map[string]int{}
	for i, n := range nodes {
		v, ok := n.Node.Labels[key]
		if !ok {
			d.of[i] = -1
			continue
		}
		j, seen := idx[v]
		if seen {
			d.perNode = false
		} else {
			j = len(idx)
			idx[v] = j
		}
		d.of[i] = j
	}
	d.count = len(idx)
	return d
}

// term is one constraint counted per domain: the pods it matches (affinity, anti-affinity,
// spread) or the pods that hold it (another pod's anti-affinity, symmetric).
type term struct {
	kind string // one of the Refused* names
	m    matcher
	dom  *domains
	// counts per domain: pods matched (kinds affinity, anti-affinity, spread), pods holding the
	// term (others' anti-affinity).
	counts []int
	total  int
	// matched[d]: a pod of demand d counts here.
	matched []bool
	// spread: the nodes counted (node affinity honoured, every key of the pod's constraints
	// present) and the constraint's figures.
	eligible   []bool
	maxSkew    int
	minDomains int
	// min is the fewest matching pods of an eligible domain, as last computed (prepare).
	min int
	// affinity: all of the demand's affinity terms (pods must match every one of them).
	all []matcher
}

// interPod tracks, while pods are placed, what each demand's inter-pod constraints count.
type interPod struct {
	nodes []Node
	terms []*term
	// check[d] are the terms a pod of demand d must satisfy.
	check [][]*term
	// counts[d] are the terms a pod of demand d adds to when placed.
	counts [][]*term
	self   []bool // per demand: its pods match all of its own affinity terms
}

// newInterPod builds the constraints of every demand that checks them; nil when none does.
func newInterPod(nodes []Node, demands []Demand) *interPod {
	ip := &interPod{nodes: nodes, check: make([][]*term, len(demands)), counts: make([][]*term, len(demands)), self: make([]bool, len(demands))}
	doms := map[string]*domains{}
	dom := func(key string) *domains {
		if doms[key] == nil {
			doms[key] = newDomains(nodes, key)
		}
		return doms[key]
	}
	anyMatch := func(m matcher) bool {
		return slices.ContainsFunc(demands, func(e Demand) bool { return m.matches(e.Namespace, e.Labels) })
	}
	active := false
	for d, dm := range demands {
		if dm.InterPod == InterPodOff || dm.Pod == nil {
			continue
		}
		known := func(m matcher) bool { return dm.InterPod == InterPodAll || anyMatch(m) }
		if terms := RequiredAffinity(dm.Pod); len(terms) > 0 {
			var all []matcher
			keys := []string{}
			for _, t := range terms {
				if m, ok := termMatcher(t, dm); ok {
					all = append(all, m)
					if !slices.Contains(keys, t.TopologyKey) {
						keys = append(keys, t.TopologyKey)
					}
				}
			}
			if len(all) > 0 && (dm.InterPod == InterPodAll || anyMatchAll(demands, all)) {
				ip.self[d] = matchesAll(all, dm.Namespace, dm.Labels)
				for _, k := range keys {
					ip.check[d] = append(ip.check[d], ip.add(&term{kind: RefusedAffinity, all: all, dom: dom(k)}))
				}
			}
		}
		for _, t := range RequiredAntiAffinity(dm.Pod) {
			if m, ok := termMatcher(t, dm); ok && known(m) {
				ip.check[d] = append(ip.check[d], ip.add(&term{kind: RefusedAntiAffinity, m: m, dom: dom(t.TopologyKey)}))
			}
		}
		var spreadKeys []string
		for _, c := range dm.Pod.TopologySpreadConstraints {
			if c.WhenUnsatisfiable == corev1.DoNotSchedule {
				spreadKeys = append(spreadKeys, c.TopologyKey)
			}
		}
		for _, c := range dm.Pod.TopologySpreadConstraints {
			if c.WhenUnsatisfiable != corev1.DoNotSchedule {
				continue
			}
			m := spreadMatcher(c, dm)
			if !known(m) {
				continue
			}
			t := &term{kind: RefusedSpread, m: m, dom: dom(c.TopologyKey), maxSkew: int(c.MaxSkew), minDomains: 1,
				eligible: spreadEligible(nodes, dm.Pod, c, spreadKeys)}
			if c.MinDomains != nil {
				t.minDomains = int(*c.MinDomains)
			}
			ip.check[d] = append(ip.check[d], ip.add(t))
		}
		active = active || len(ip.check[d]) > 0
	}
	// The anti-affinity of pods on the nodes and of the demands' pods keeps the pods it matches
	// out of the holder's domain (the scheduler checks it both ways).
	seen := map[string]*term{}
	holds := func(key string, m matcher) *term {
		id := key + "|" + m.String()
		if t := seen[id]; t != nil {
			return t
		}
		t := &term{kind: RefusedOthersAnti, m: m, dom: dom(key)}
		seen[id] = t
		return ip.add(t)
	}
	for i, n := range nodes {
		for _, p := range n.Pods {
			for _, at := range p.AntiAffinity {
				m, ok := termMatcher(at, Demand{Namespace: p.Namespace})
				if !ok || !anyMatch(m) {
					continue
				}
				t := holds(at.TopologyKey, m)
				if v := t.dom.of[i]; v >= 0 {
					t.counts[v]++
					t.total++
				}
			}
		}
	}
	for d, dm := range demands {
		if dm.InterPod == InterPodOff {
			continue
		}
		for _, at := range RequiredAntiAffinity(dm.Pod) {
			if m, ok := termMatcher(at, dm); ok && anyMatch(m) {
				t := holds(at.TopologyKey, m)
				ip.counts[d] = append(ip.counts[d], t)
			}
		}
	}
	for _, t := range seen {
		for d, dm := range demands {
			if dm.InterPod != InterPodOff && t.m.matches(dm.Namespace, dm.Labels) {
				ip.check[d] = append(ip.check[d], t)
				active = true
			}
		}
	}
	if !active {
		return nil
	}
	// What the pods on the nodes and the demands' pods count for.
	for _, t := range ip.terms {
		if t.kind == RefusedOthersAnti {
			continue
		}
		t.matched = make([]bool, len(demands))
		for d, dm := range demands {
			if t.matchesPod(Pod{Namespace: dm.Namespace, Labels: dm.Labels}) {
				t.matched[d] = true
				ip.counts[d] = append(ip.counts[d], t)
			}
		}
		for i, n := range nodes {
			v := t.dom.of[i]
			if v < 0 || t.eligible != nil && !t.eligible[i] {
				continue
			}
			for _, p := range n.Pods {
				if t.matchesPod(p) && (t.kind != RefusedSpread || !p.Terminating) {
					t.counts[v]++
					t.total++
				}
			}
		}
	}
	return ip
}

func (ip *interPod) add(t *term) *term {
	t.counts = make([]int, t.dom.count)
	ip.terms = append(ip.terms, t)
	return t
}

func (t *term) matchesPod(p Pod) bool {
	if t.all != nil {
		return matchesAll(t.all, p.Namespace, p.Labels)
	}
	return t.m.matches(p.Namespace, p.Labels)
}

func matchesAll(ms []matcher, ns string, l map[string]string) bool {
	for _, m := range ms {
		if !m.matches(ns, l) {
			return false
		}
	}
	return true
}

func anyMatchAll(demands []Demand, ms []matcher) bool {
	return slices.ContainsFunc(demands, func(e Demand) bool { return matchesAll(ms, e.Namespace, e.Labels) })
}

// termMatcher is the pods a pod affinity term of a pod of d selects: its label selector with
// matchLabelKeys and mismatchLabelKeys taken from the pod's labels (as the API server merges
// them), in the term's namespaces — the pod's own when it names none, every one for an empty
// namespace selector. A namespace selector with terms needs the namespaces' labels, which
// placement does not have: false (the caller names it unchecked).
func termMatcher(t corev1.PodAffinityTerm, d Demand) (matcher, bool) {
	sel, err := metav1.LabelSelectorAsSelector(t.LabelSelector)
	if err != nil {
		return matcher{}, false
	}
	sel = withLabelKeys(sel, d.Labels, t.MatchLabelKeys, selection.In)
	sel = withLabelKeys(sel, d.Labels, t.MismatchLabelKeys, selection.NotIn)
	m := matcher{sel: sel, ns: t.Namespaces}
	switch {
	case t.NamespaceSelector != nil && (len(t.NamespaceSelector.MatchLabels) > 0 || len(t.NamespaceSelector.MatchExpressions) > 0):
		return matcher{}, false
	case t.NamespaceSelector != nil:
		m.ns = nil // every namespace
	case len(t.Namespaces) == 0:
		m.ns = []string{d.Namespace}
	}
	return m, true
}

// UncheckedTerm reports whether placement leaves a pod affinity term unchecked: its namespace
// selector needs the namespaces' labels.
func UncheckedTerm(t corev1.PodAffinityTerm) bool {
	ns := t.NamespaceSelector
	return ns != nil && (len(ns.MatchLabels) > 0 || len(ns.MatchExpressions) > 0)
}

// spreadMatcher is the pods a topology spread constraint counts: its selector (matchLabelKeys
// merged from the pod's labels), in the pod's namespace. No selector matches nothing.
func spreadMatcher(c corev1.TopologySpreadConstraint, d Demand) matcher {
	sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
	if err != nil || c.LabelSelector == nil {
		sel = labels.Nothing()
	}
	return matcher{sel: withLabelKeys(sel, d.Labels, c.MatchLabelKeys, selection.In), ns: []string{d.Namespace}}
}

func withLabelKeys(sel labels.Selector, podLabels map[string]string, keys []string, op selection.Operator) labels.Selector {
	for _, k := range keys {
		v, ok := podLabels[k]
		if !ok {
			continue
		}
		if r, err := labels.NewRequirement(k, op, []string{v}); err == nil {
			sel = sel.Add(*r)
		}
	}
	return sel
}

// spreadEligible are the nodes a spread constraint counts: with every topology key of the pod's
// constraints, matching its node selector and affinity unless nodeAffinityPolicy is Ignore,
// tolerating its taints only when nodeTaintsPolicy is Honor (the defaults: Honor, Ignore).
func spreadEligible(nodes []Node, spec *corev1.PodSpec, c corev1.TopologySpreadConstraint, keys []string) []bool {
	out := make([]bool, len(nodes))
	for i, n := range nodes {
		ok := true
		for _, k := range keys {
			if _, has := n.Node.Labels[k]; !has {
				ok = false
			}
		}
		if ok && (c.NodeAffinityPolicy == nil || *c.NodeAffinityPolicy == corev1.NodeInclusionPolicyHonor) {
			ok = Selected(spec, n.Node)
		}
		if ok && c.NodeTaintsPolicy != nil && *c.NodeTaintsPolicy == corev1.NodeInclusionPolicyHonor {
			ok = len(Untolerated(spec, n.Node)) == 0
		}
		out[i] = ok
	}
	return out
}

// prepare computes, before node i's of demand d are weighed, the figures that do not depend
// on the node: each spread constraint's fewest matching pods in an eligible domain.
func (ip *interPod) prepare(d int) {
	for _, t := range ip.check[d] {
		if t.kind != RefusedSpread {
			continue
		}
		counted := make([]bool, t.dom.count)
		n := 0
		for i, v := range t.dom.of {
			if v >= 0 && t.eligible[i] && !counted[v] {
				counted[v] = true
				n++
			}
		}
		t.min = -1
		for v, ok := range counted {
			if ok && (t.min < 0 || t.counts[v] < t.min) {
				t.min = t.counts[v]
			}
		}
		if t.min < 0 || n < t.minDomains {
			t.min = 0
		}
	}
}

// refuses says which constraint keeps a pod of demand d off node i ("" when none does); prepare
// must have been called for d since the last change.
func (ip *interPod) refuses(i, d int) string {
	var affinityMissing bool
	for _, t := range ip.check[d] {
		v := t.dom.of[i]
		switch t.kind {
		case RefusedAffinity:
			if v < 0 {
				return RefusedMissingDomainKey
			}
			if t.counts[v] == 0 {
				affinityMissing = true
			}
		case RefusedAntiAffinity, RefusedOthersAnti:
			if v >= 0 && t.counts[v] > 0 {
				return t.kind
			}
		case RefusedSpread:
			if v < 0 || !t.eligible[i] {
				return RefusedMissingDomainKey
			}
			self := 0
			if t.matched[d] {
				self = 1
			}
			if t.counts[v]+self-t.min > t.maxSkew {
				return RefusedSpread
			}
		}
	}
	if affinityMissing {
		// The first of a series of pods with affinity to themselves may go anywhere — when no
		// pod anywhere matches its terms.
		first := ip.self[d]
		for _, t := range ip.check[d] {
			if t.kind == RefusedAffinity && t.total > 0 {
				first = false
			}
		}
		if !first {
			return RefusedAffinity
		}
	}
	return ""
}

// place counts (delta 1) or takes back (-1) a pod of demand d on node i.
func (ip *interPod) place(i, d, delta int) {
	for _, t := range ip.counts[d] {
		v := t.dom.of[i]
		if v < 0 || t.eligible != nil && !t.eligible[i] {
			continue
		}
		t.counts[v] += delta
		t.total += delta
	}
}

// key writes what tells node i apart for the constraints: per term, its domain — or, where
// each domain is one node, what the domain holds.
func (ip *interPod) key(i int, b *strings.Builder) {
	for _, t := range ip.terms {
		b.WriteByte('|')
		v := t.dom.of[i]
		switch {
		case v < 0:
			b.WriteByte('-')
		case t.dom.perNode:
			b.WriteByte('#')
			b.WriteString(strconv.Itoa(t.counts[v]))
		default:
			b.WriteString(strconv.Itoa(v))
		}
		if t.eligible != nil && !t.eligible[i] {
			b.WriteByte('x')
		}
	}
}

// dependsOn: demand d's pod affinity selects pods of demand e (so e is placed first).
func (ip *interPod) dependsOn(d, e int) bool {
	for _, t := range ip.check[d] {
		if t.kind == RefusedAffinity && slices.Contains(ip.counts[e], t) {
			return true
		}
	}
	return false
}

// order puts each demand after the demands its pod affinity selects (as the scheduler would
// leave it Pending until they run), keeping order otherwise; a cycle keeps the given order.
func (ip *interPod) order(idx []int) []int {
	if ip == nil {
		return idx
	}
	out := slices.Clone(idx)
	for range len(out) * len(out) {
		moved := false
		for a := 0; a < len(out) && !moved; a++ {
			for b := len(out) - 1; b > a; b-- {
				if ip.dependsOn(out[a], out[b]) && !ip.dependsOn(out[b], out[a]) {
					d := out[a]
					out = slices.Insert(slices.Delete(out, a, a+1), b, d)
					moved = true
					break
				}
			}
		}
		if !moved {
			break
		}
	}
	return out
}

// refusedCounts counts, for a demand, the candidate nodes with room that its inter-pod
// constraints refuse, by constraint.
func (ip *interPod) refusedCounts(d int, allowed []int, free []map[string]int64, req map[string]int64) map[string]int {
	if ip == nil || len(ip.check[d]) == 0 {
		return nil
	}
	ip.prepare(d)
	out := map[string]int{}
	for _, i := range allowed {
		if !covers(free[i], req) {
			continue
		}
		if why := ip.refuses(i, d); why != "" {
			out[why]++
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// FormatRefused writes refusals as "3 by pod anti-affinity, 1 by topology spread".
func FormatRefused(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%d by %s", m[k], k))
	}
	return strings.Join(parts, ", ")
}

// Interest says which pods on the nodes the demands' inter-pod constraints could count: those a
// required pod affinity or anti-affinity term or a spread constraint of theirs selects, and
// those with required anti-affinity of their own. A caller reading every pod of a cluster keeps
// only these (Of, for Node.Pods).
type Interest struct {
	matchers []matcher
}

// NewInterest gathers the selectors of the demands' inter-pod constraints (whatever their
// InterPod: the caller asks because it is about to read the pods).
func NewInterest(demands []Demand) *Interest {
	in := &Interest{}
	for _, dm := range demands {
		if dm.Pod == nil {
			continue
		}
		for _, t := range append(slices.Clip(RequiredAffinity(dm.Pod)), RequiredAntiAffinity(dm.Pod)...) {
			if m, ok := termMatcher(t, dm); ok {
				in.matchers = append(in.matchers, m)
			}
		}
		for _, c := range dm.Pod.TopologySpreadConstraints {
			if c.WhenUnsatisfiable == corev1.DoNotSchedule {
				in.matchers = append(in.matchers, spreadMatcher(c, dm))
			}
		}
	}
	return in
}

// Of is a stored pod as the inter-pod constraints see it, when it matters to the demands (nil
// otherwise: most pods of a cluster, at the cost of a label match or two).
func (in *Interest) Of(p *corev1.Pod) *Pod {
	if len(RequiredAntiAffinity(&p.Spec)) == 0 && !slices.ContainsFunc(in.matchers, func(m matcher) bool { return m.matches(p.Namespace, p.Labels) }) {
		return nil
	}
	out := PodOf(p)
	return &out
}

// PodOf is a stored pod as the inter-pod constraints see it.
func PodOf(p *corev1.Pod) Pod {
	return Pod{Namespace: p.Namespace, Labels: p.Labels, Terminating: p.DeletionTimestamp != nil, AntiAffinity: RequiredAntiAffinity(&p.Spec)}
}
