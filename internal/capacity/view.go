package capacity

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/pager"

	"github.com/dynamo-infra/dynamo-infra/internal/inventory"
)

// Snapshot is the nodes and their NVIDIA usage at one time: what MostFree reads.
type Snapshot struct {
	// Nodes keep their labels (any node selector or affinity may name one), taints,
	// cordon, Ready condition and NVIDIA capacity; nothing else.
	Nodes []corev1.Node
	// Usage is the NVIDIA requests of the active pods, summed per node (one entry per node).
	Usage []inventory.PodUsage
	Taken time.Time
}

// MostFree is the Fit of a pod over the snapshot.
func (s *Snapshot) MostFree(spec *corev1.PodSpec, scheduler string) Fit {
	return MostFree(spec, scheduler, s.Nodes, s.Usage, nil)
}

// ReadSnapshot lists the nodes and the active pods page by page (500 a page), keeping of each
// pod only its node's NVIDIA total, so memory grows with nodes, not pods.
func ReadSnapshot(ctx context.Context, cs kubernetes.Interface, now time.Time) (*Snapshot, error) {
	s := &Snapshot{Taken: now}
	p := pager.New(func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
		return cs.CoreV1().Nodes().List(ctx, opts)
	})
	p.PageSize, p.PageBufferSize = 500, 1
	err := p.EachListItem(ctx, metav1.ListOptions{}, func(obj runtime.Object) error {
		n := obj.(*corev1.Node)
		t := inventory.TrimNode(n)
		t.Labels = n.Labels // every label: the pod's selector and affinity may name any
		s.Nodes = append(s.Nodes, t)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	usage, err := inventory.ListPodUsage(ctx, cs)
	if err != nil {
		return nil, err
	}
	s.Usage = SumByNode(usage)
	return s, nil
}

// SumByNode adds the requests of the pods on each node together (one entry per node, in the
// order the nodes first appear).
func SumByNode(usage []inventory.PodUsage) []inventory.PodUsage {
	at := map[string]int{}
	var out []inventory.PodUsage
	for _, u := range usage {
		i, ok := at[u.Node]
		if !ok {
			i = len(out)
			at[u.Node] = i
			out = append(out, inventory.PodUsage{Node: u.Node, Requests: map[string]int64{}})
		}
		for r, q := range u.Requests {
			out[i].Requests[r] += q
		}
	}
	return out
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
