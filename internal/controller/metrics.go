package controller

import (
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// ResourceType is the resource_type label of the operator's metrics: the reconciled kind, as
// the original labels it.
const ResourceType = "DynamoGraphDeployment"

// Operator metrics. The first five are the original operator's series — same names, label
// sets and buckets (its internal/observability/metrics.go) — so dashboards and alerts written
// for it work unchanged; child_applies_total is ours. All are registered with
// controller-runtime's registry and served next to its own series.
var (
	reconcileDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "dynamo_operator_reconcile_duration_seconds", Help: "Duration of reconciliation loops in seconds",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"resource_type", "namespace", "result"})
	reconcileTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dynamo_operator_reconcile_total", Help: "Total number of reconciliations by resource type",
	}, []string{"resource_type", "namespace", "result"})
	reconcileErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dynamo_operator_reconcile_errors_total", Help: "Total number of reconciliation errors by resource type and error type",
	}, []string{"resource_type", "namespace", "error_type"})
	resourcesTotal = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "dynamo_operator_resources_total", Help: "Total number of resources by type and status",
	}, []string{"resource_type", "namespace", "status"})
	managedPodsTotal = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "dynamo_operator_managed_pods_total", Help: "Total number of pods managed by the operator",
	}, []string{"component_type", "namespace"})
	childWrites = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dynamo_operator_child_applies_total", Help: "Writes of child objects by kind: applies, reverts and prunes (converged children are not written).",
	}, []string{"kind"})
	// Ours: rolling updates of workers (docs/rollout.md), started and completed, and how long a
	// completed one took from the change seen to the old generation deleted.
	rollingUpdates = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dynamo_operator_rolling_updates_total", Help: "Rolling updates of graphs' workers by event: started, completed.",
	}, []string{"namespace", "event"})
	rollingUpdateDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "dynamo_operator_rolling_update_duration_seconds", Help: "Duration of completed rolling updates of graphs' workers, from the worker change seen to the old generation deleted.",
		Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200},
	}, []string{"namespace"})
)

func init() {
	metrics.Registry.MustRegister(reconcileDuration, reconcileTotal, reconcileErrors, resourcesTotal, managedPodsTotal, childWrites, rollingUpdates, rollingUpdateDuration)
}

// Results of reconcile_total and reconcile_duration_seconds, as the original's.
const (
	resultSuccess = "success"
	resultError   = "error"
	resultRequeue = "requeue"
)

// recordReconcile counts one reconcile of a graph in namespace, as the original's
// RecordReconciliation does.
func recordReconcile(namespace string, err error, requeue bool, took time.Duration) {
	if _, seen := namespacesSeen.LoadOrStore(namespace, true); !seen {
		// Every result and error type of a namespace with graphs reads 0 until it happens, so
		// rate() and alerts see 0, not "no data".
		for _, r := range []string{resultSuccess, resultError, resultRequeue} {
			reconcileTotal.WithLabelValues(ResourceType, namespace, r).Add(0)
		}
		for _, c := range errorTypes {
			reconcileErrors.WithLabelValues(ResourceType, namespace, c.name).Add(0)
		}
		reconcileErrors.WithLabelValues(ResourceType, namespace, errorInternal).Add(0)
	}
	result := resultSuccess
	switch {
	case err != nil:
		result = resultError
		reconcileErrors.WithLabelValues(ResourceType, namespace, errorType(err)).Inc()
	case requeue:
		result = resultRequeue
	}
	reconcileDuration.WithLabelValues(ResourceType, namespace, result).Observe(took.Seconds())
	reconcileTotal.WithLabelValues(ResourceType, namespace, result).Inc()
}

// errorType is the error_type label: the original's categories of API errors, "internal" for
// anything else (a render error, a conflict with someone else's object). It sees through
// wrapping and joins, so an apply's forbidden error inside a step's message still counts as
// forbidden.
func errorType(err error) string {
	for _, c := range errorTypes {
		if c.is(err) {
			return c.name
		}
	}
	return errorInternal
}

// namespacesSeen are the namespaces whose series recordReconcile has initialised.
var namespacesSeen sync.Map

const errorInternal = "internal"

// errorTypes are the original's error_type values, in the order it tests them.
var errorTypes = []struct {
	is   func(error) bool
	name string
}{
	{apierrors.IsNotFound, "not_found"},
	{apierrors.IsAlreadyExists, "already_exists"},
	{apierrors.IsConflict, "conflict"},
	{apierrors.IsInvalid, "validation"},
	{apierrors.IsBadRequest, "bad_request"},
	{apierrors.IsUnauthorized, "unauthorized"},
	{apierrors.IsForbidden, "forbidden"},
	{apierrors.IsTimeout, "timeout"},
	{apierrors.IsServerTimeout, "server_timeout"},
	{apierrors.IsServiceUnavailable, "unavailable"},
	{apierrors.IsTooManyRequests, "rate_limited"},
}

// graphGauges keeps, per graph, what it adds to a gauge's series (one graph in state
// "successful"; three pods of component type "worker") and moves the series by the
// difference when that changes: O(series of one graph) per reconcile, where counting a listed
// cache would copy every graph on every pass. A series whose graphs are all gone reads 0 —
// the original sets per-namespace counts from a periodic list and leaves a state's old count
// behind once no graph is in it.
type graphGauges struct {
	mu sync.Mutex
	by map[types.NamespacedName]map[string]float64 // label values joined by "\x00"
}

// set replaces the graph's contribution to gauge with counts (label values → amount); nil
// counts forget the graph.
func (g *graphGauges) set(gauge *prometheus.GaugeVec, key types.NamespacedName, counts map[string]float64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.by == nil {
		g.by = map[types.NamespacedName]map[string]float64{}
	}
	old := g.by[key]
	for series, n := range counts {
		if d := n - old[series]; d != 0 || old == nil {
			gauge.WithLabelValues(strings.Split(series, "\x00")...).Add(d)
		}
	}
	for series, n := range old {
		if _, still := counts[series]; !still {
			gauge.WithLabelValues(strings.Split(series, "\x00")...).Sub(n)
		}
	}
	if len(counts) == 0 {
		delete(g.by, key)
		return
	}
	g.by[key] = counts
}

// series joins label values into a key of graphGauges.
func series(values ...string) string { return strings.Join(values, "\x00") }

// MetricNames lists the names of the operator's own metrics (for the dashboards' metric list,
// checked in test/deploy).
func MetricNames() []string {
	var names []string
	for _, c := range []prometheus.Collector{reconcileTotal, reconcileDuration, reconcileErrors, resourcesTotal, managedPodsTotal, childWrites} {
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
