package controller

import (
	"github.com/prometheus/client_golang/prometheus"
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

func init() {
	metrics.Registry.MustRegister(reconcileTotal, reconcileDuration, reconcileErrors, resourcesTotal, childWrites)
}
