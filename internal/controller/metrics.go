package controller

import (
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Operator metrics (names as the original's), registered with controller-runtime's registry so
// they are served on the metrics endpoint next to its own.
var (
	reconcileTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dynamo_operator_reconcile_total", Help: "Reconciles of DynamoGraphDeployments by result.",
	}, []string{"result"})
	reconcileDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "dynamo_operator_reconcile_duration_seconds", Help: "Time one DynamoGraphDeployment reconcile takes.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	})
	reconcileErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dynamo_operator_reconcile_errors_total", Help: "Failed reconciles by step.",
	}, []string{"step"})
	resourcesTotal = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "dynamo_operator_resources_total", Help: "DynamoGraphDeployments by state.",
	}, []string{"state"})
	childWrites = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dynamo_operator_child_applies_total", Help: "Server-side applies of child objects by kind (converged children are not written).",
	}, []string{"kind"})
)

// Steps of reconcileErrors.
const (
	stepRender = "render"
	stepApply  = "apply"
	stepStatus = "status"
)

func init() {
	metrics.Registry.MustRegister(reconcileTotal, reconcileDuration, reconcileErrors, resourcesTotal, childWrites)
	// Series that read 0 until something happens, so rate() and alerts see 0, not "no data".
	for _, step := range []string{stepRender, stepApply, stepStatus} {
		reconcileErrors.WithLabelValues(step).Add(0)
	}
	for _, result := range []string{"success", "error"} {
		reconcileTotal.WithLabelValues(result).Add(0)
	}
}

// stateCounts keeps the last state of every graph this reconciler saw and moves the resources
// gauge by the difference: O(1) per reconcile, where counting a listed cache would copy every
// graph on every pass.
type stateCounts struct {
	mu     sync.Mutex
	states map[types.NamespacedName]string
}

func (c *stateCounts) set(key types.NamespacedName, state string) {
	if state == "" {
		state = StateInitializing
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.states == nil {
		c.states = map[types.NamespacedName]string{}
		for _, s := range []string{StateInitializing, StatePending, StateSuccessful, StateFailed} {
			resourcesTotal.WithLabelValues(s).Add(0) // every state reads 0 until counted
		}
	}
	old, seen := c.states[key]
	if seen && old == state {
		return
	}
	if seen {
		resourcesTotal.WithLabelValues(old).Dec()
	}
	c.states[key] = state
	resourcesTotal.WithLabelValues(state).Inc()
}

func (c *stateCounts) forget(key types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.states[key]; ok {
		delete(c.states, key)
		resourcesTotal.WithLabelValues(old).Dec()
	}
}

// MetricNames lists the names of the operator's own metrics (for the dashboards' metric list,
// checked in test/deploy).
func MetricNames() []string {
	var names []string
	for _, c := range []prometheus.Collector{reconcileTotal, reconcileDuration, reconcileErrors, resourcesTotal, childWrites} {
		ch := make(chan *prometheus.Desc, 4)
		c.Describe(ch)
		close(ch)
		for d := range ch {
			// Desc has no name accessor; its String form is `Desc{fqName: "name", ...}`.
			s := d.String()
			if i := strings.Index(s, `fqName: "`); i >= 0 {
				rest := s[i+len(`fqName: "`):]
				names = append(names, rest[:strings.IndexByte(rest, '"')])
			}
		}
	}
	return names
}
