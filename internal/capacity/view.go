package capacity

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"

	"github.com/dynamo-infra/dynamo-infra/internal/demand"
	"github.com/dynamo-infra/dynamo-infra/internal/inventory"
	"github.com/dynamo-infra/dynamo-infra/internal/kubenode"
)

// Snapshot is the nodes and the requests of the active pods on each at one time: what MostFree
// and the operator's plan (Schedulable) read. A node is held compactly — its labels as indices
// into one table of the snapshot's strings (label keys and most values repeat on every node), its
// capacity and allocatable shared among nodes that have the same — and rebuilt one at a time
// when read.
type Snapshot struct {
	nodes []node
	// strs are the label keys and values nodes' labels index.
	strs      []string
	requested map[string]map[string]int64
	Taken     time.Time

	// list is the nodes as Node objects, built once for every plan made on this snapshot.
	listOnce sync.Once
	list     []corev1.Node
}

// NodeList is the snapshot's nodes as Node objects (name, labels, taints, cordon, Ready,
// capacity, allocatable), built on first use and shared by every caller until the snapshot is
// replaced: a plan needs them all at once, and plans of several graphs on one snapshot share one
// copy instead of one each. Read only.
func (s *Snapshot) NodeList() []corev1.Node {
	s.listOnce.Do(func() {
		// A labels map of its own per node; taints, resource lists and the Ready condition
		// shared with the snapshot (read only): 5,000 nodes cost what their label maps cost.
		s.list = make([]corev1.Node, len(s.nodes))
		for i := range s.nodes {
			s.nodes[i].fill(&s.list[i], make(map[string]string, len(s.nodes[i].labels)/2), s.strs)
		}
	})
	return s.list
}

// node is one node of a snapshot.
type node struct {
	name string
	// labels are key, value, key, value, … as indices into the snapshot's strs (4 bytes a
	// string, not a 16-byte header).
	labels        []uint32
	taints        []corev1.Taint
	unschedulable bool
	ready         bool
	// capacity and allocatable: nodes with the same share one.
	capacity, allocatable corev1.ResourceList
}

// Len is the number of nodes in the snapshot.
func (s *Snapshot) Len() int { return len(s.nodes) }

// Nodes yields the snapshot's nodes, rebuilt one at a time into one Node (see capacity.Nodes).
func (s *Snapshot) Nodes() Nodes {
	return func(yield func(*corev1.Node) bool) {
		var buf corev1.Node
		labels := map[string]string{}
		for i := range s.nodes {
			clear(labels)
			s.nodes[i].fill(&buf, labels, s.strs)
			if !yield(&buf) {
				return
			}
		}
	}
}

// Ready conditions every rebuilt node shares (read only).
var (
	readyConditions    = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	notReadyConditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse}}
)

// fill rebuilds the node into out, its labels into labels (empty) from the snapshot's strs;
// taints, resource lists and conditions are shared with the snapshot.
func (n *node) fill(out *corev1.Node, labels map[string]string, strs []string) {
	for j := 0; j+1 < len(n.labels); j += 2 {
		labels[strs[n.labels[j]]] = strs[n.labels[j+1]]
	}
	out.Name, out.Labels = n.name, labels
	out.Spec.Taints, out.Spec.Unschedulable = n.taints, n.unschedulable
	out.Status.Capacity, out.Status.Allocatable = n.capacity, n.allocatable
	out.Status.Conditions = notReadyConditions
	if n.ready {
		out.Status.Conditions = readyConditions
	}
}

// Requested sums, per node, what the active pods request (demand.StoredRequests: every
// resource, a pod slot each). Read only.
func (s *Snapshot) Requested() map[string]map[string]int64 { return s.requested }

// MostFree is the Fit of a pod over the snapshot.
func (s *Snapshot) MostFree(spec *corev1.PodSpec, scheduler string) Fit {
	return MostFree(spec, scheduler, s.Nodes(), s.requested, nil)
}

// ReadSnapshot lists the nodes and the active pods page by page, streamed, keeping of each node
// what a plan reads and of each pod only what it adds to its node's totals (inventory's
// skeleton reads: no Node or Pod is decoded whole), so memory grows with nodes, not pods.
func ReadSnapshot(ctx context.Context, cs kubernetes.Interface, now time.Time) (*Snapshot, error) {
	s := &Snapshot{Taken: now}
	var c *compactor
	nodes, err := inventory.FoldNodes(ctx, cs, func() []node { c = newCompactor(); return nil }, func(out []node, n *corev1.Node) []node {
		return append(out, c.node(n))
	})
	if err != nil {
		return nil, err
	}
	s.nodes, s.strs = nodes, c.strs
	s.requested, err = inventory.FoldActivePods(ctx, cs, true, func() map[string]map[string]int64 { return map[string]map[string]int64{} },
		func(req map[string]map[string]int64, p *corev1.Pod) map[string]map[string]int64 {
			if kubenode.PodActive(p) {
				demand.AddTo(req, p.Spec.NodeName, demand.StoredRequests(p))
			}
			return req
		})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// NewSnapshot builds a snapshot from nodes and the NVIDIA requests of their active pods.
func NewSnapshot(nodes []corev1.Node, usage []inventory.PodUsage, now time.Time) *Snapshot {
	s := &Snapshot{Taken: now, requested: inventory.Requested(usage)}
	c := newCompactor()
	for i := range nodes {
		s.nodes = append(s.nodes, c.node(&nodes[i]))
	}
	s.strs = c.strs
	return s
}

// compactor interns the strings and resource lists of a snapshot's nodes.
type compactor struct {
	index map[string]uint32
	// strs are the interned strings by index (the snapshot's).
	strs  []string
	lists map[string]corev1.ResourceList
}

func newCompactor() *compactor {
	return &compactor{index: map[string]uint32{}, lists: map[string]corev1.ResourceList{}}
}

// intern is x's index in strs.
func (c *compactor) intern(x string) uint32 {
	if i, ok := c.index[x]; ok {
		return i
	}
	i := uint32(len(c.strs))
	c.index[x] = i
	c.strs = append(c.strs, x)
	return i
}

// node keeps what MostFree and a plan read of a node: every label (the pod's selector and
// affinity may name any), taints, cordon, Ready, capacity and allocatable.
func (c *compactor) node(n *corev1.Node) node {
	out := node{name: n.Name, taints: n.Spec.Taints, unschedulable: n.Spec.Unschedulable,
		ready: kubenode.Ready(n), labels: make([]uint32, 0, 2*len(n.Labels))}
	keys := make([]string, 0, len(n.Labels))
	for k := range n.Labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		out.labels = append(out.labels, c.intern(k), c.intern(n.Labels[k]))
	}
	out.capacity, out.allocatable = c.list(n.Status.Capacity), c.list(n.Status.Allocatable)
	return out
}

// list returns the one resource list of the snapshot equal to l.
func (c *compactor) list(l corev1.ResourceList) corev1.ResourceList {
	if len(l) == 0 {
		return nil
	}
	names := make([]string, 0, len(l))
	for r := range l {
		names = append(names, string(r))
	}
	slices.Sort(names)
	var key strings.Builder
	for _, r := range names {
		q := l[corev1.ResourceName(r)]
		key.WriteString(r + "=" + q.String() + ";")
	}
	if shared, ok := c.lists[key.String()]; ok {
		return shared
	}
	c.lists[key.String()] = l
	return l
}

// View keeps the latest snapshot for the operator: Get answers at once from what it has and,
// when that is older than MaxAge, reads a new one in the background — a reconcile never waits
// on a cluster-wide read, and graphs short of capacity share one read per MaxAge. Only a
// graph that is short of capacity asks, so a cluster where everything fits reads nothing.
type View struct {
	// Read takes a snapshot (ReadSnapshot with the operator's client).
	Read func(ctx context.Context) (*Snapshot, error)
	// MaxAge is how old a snapshot may be before Get reads a new one.
	MaxAge time.Duration
	// Timeout bounds one read.
	Timeout time.Duration
	// Log is told about a failed read (nil: nothing).
	Log func(err error, disabled bool)
	// Now is the clock (nil: time.Now).
	Now func() time.Time

	mu       sync.Mutex
	base     context.Context
	snap     *Snapshot
	reading  bool
	lastTry  time.Time
	disabled bool
}

// Get returns the latest snapshot (nil before the first read ends, or when reads are
// forbidden) and starts a read when it is missing or older than MaxAge.
func (v *View) Get() *Snapshot {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.now()
	if !v.disabled && !v.reading && now.Sub(v.lastTry) >= v.MaxAge && (v.snap == nil || now.Sub(v.snap.Taken) >= v.MaxAge) {
		v.reading, v.lastTry = true, now
		base := v.base
		if base == nil {
			base = context.Background()
		}
		go v.refresh(base)
	}
	return v.snap
}

// GetAfter returns the latest snapshot if it was read after t, else nil — starting a read when
// none in flight was started after t. A verdict about a pod the scheduler refused at t is made
// on a view that knows what the scheduler knew then (pods bound a moment before the refusal),
// never on one read before it; the caller comes back when the read ends.
func (v *View) GetAfter(t time.Time) *Snapshot {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.snap != nil && !v.snap.Taken.Before(t) {
		return v.snap
	}
	if !v.disabled && !v.reading && v.lastTry.Before(t) {
		v.reading, v.lastTry = true, v.now()
		base := v.base
		if base == nil {
			base = context.Background()
		}
		go v.refresh(base)
	}
	return nil
}

// Start keeps ctx for the reads until it ends (the operator adds the view to its manager, so
// a read in flight stops with the operator).
func (v *View) Start(ctx context.Context) error {
	v.mu.Lock()
	v.base = ctx
	v.mu.Unlock()
	<-ctx.Done()
	return nil
}

// Reading reports whether a read is in flight (a caller with no snapshot may come back soon).
func (v *View) Reading() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.reading
}

func (v *View) refresh(base context.Context) {
	timeout := v.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(base, timeout)
	defer cancel()
	s, err := v.Read(ctx)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.reading = false
	if err != nil {
		// Without the right to list nodes or pods cluster-wide (a namespaced install), the
		// status goes without the figure; asking again would only repeat the refusal.
		v.disabled = apierrors.IsForbidden(err)
		if v.Log != nil {
			v.Log(err, v.disabled)
		}
		return
	}
	v.snap = s
}

func (v *View) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}
