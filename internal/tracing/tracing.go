// Package tracing sets up OpenTelemetry traces for the operator. Tracing is off unless the
// standard OTLP environment names an endpoint (OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT); then spans go over OTLP/gRPC to it — Tempo and the
// OpenTelemetry Collector both receive that on port 4317. The exporter reads the rest of the
// standard variables itself (headers, TLS, timeout, OTEL_EXPORTER_OTLP_INSECURE).
package tracing

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Environment variables that turn tracing on.
const (
	EnvEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
)

// exportTimeout bounds each export and the final flush: a collector that is gone must not hold
// up reconciles or shutdown.
const exportTimeout = 10 * time.Second

// Endpoint returns the configured OTLP endpoint, or "" when tracing is off.
func Endpoint() string {
	if e := os.Getenv(EnvTracesEndpoint); e != "" {
		return e
	}
	return os.Getenv(EnvEndpoint)
}

// Setup returns the tracer provider for service and a function that flushes and stops it. With
// no endpoint configured it returns a no-op provider and nothing is exported or started. The
// provider is also made the global one, so libraries that trace find it.
func Setup(ctx context.Context, service, version string) (trace.TracerProvider, func(context.Context) error, error) {
	if Endpoint() == "" {
		return noop.NewTracerProvider(), func(context.Context) error { return nil }, nil
	}
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithTimeout(exportTimeout))
	if err != nil {
		return nil, nil, fmt.Errorf("OTLP trace exporter for %s: %w", Endpoint(), err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		semconv.ServiceName(service), semconv.ServiceVersion(version)))
	if err != nil {
		return nil, nil, errors.Join(err, exp.Shutdown(ctx))
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	shutdown := func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, exportTimeout)
		defer cancel()
		return tp.Shutdown(ctx)
	}
	return tp, shutdown, nil
}
