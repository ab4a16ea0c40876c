package controller

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// TracerName is the instrumentation scope of the operator's spans.
const TracerName = "github.com/dynamo-infra/dynamo-infra/internal/controller"

// Span attributes of a reconcile. Each reconcile is a root span "Reconcile" with children for
// the two apply phases, reading the children's state and writing the status.
const (
	AttrGraphName       = "dynamo.graph.name"
	AttrGraphNamespace  = "dynamo.graph.namespace"
	AttrGraphGeneration = "dynamo.graph.generation"
	AttrGraphState      = "dynamo.graph.state"
	AttrObjects         = "dynamo.objects"
)

var noopTracer = noop.NewTracerProvider().Tracer(TracerName)

func (r *Reconciler) startSpan(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	t := r.Tracer
	if t == nil {
		t = noopTracer
	}
	return t.Start(ctx, name, trace.WithAttributes(attrs...))
}

// endSpan records err on span, if any, and ends it.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
