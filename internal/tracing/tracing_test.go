package tracing_test

import (
	"context"
	"testing"
	"time"

	"github.com/dynamo-infra/dynamo-infra/internal/tracing"
	"github.com/dynamo-infra/dynamo-infra/internal/tracing/otlptest"
)

func TestOffWithoutEndpoint(t *testing.T) {
	t.Setenv(tracing.EnvEndpoint, "")
	t.Setenv(tracing.EnvTracesEndpoint, "")
	tp, stop, err := tracing.Setup(context.Background(), "svc", "v1")
	if err != nil {
		t.Fatal(err)
	}
	_, span := tp.Tracer("t").Start(context.Background(), "x")
	if span.SpanContext().IsValid() || span.IsRecording() {
		t.Error("tracing is on without an endpoint")
	}
	span.End()
	if err := stop(context.Background()); err != nil {
		t.Error(err)
	}
}

func TestExportsToOTLPEndpoint(t *testing.T) {
	for _, env := range []string{tracing.EnvEndpoint, tracing.EnvTracesEndpoint} {
		t.Run(env, func(t *testing.T) {
			recv := otlptest.Start(t)
			t.Setenv(tracing.EnvEndpoint, "")
			t.Setenv(tracing.EnvTracesEndpoint, "")
			t.Setenv(env, "http://"+recv.Addr)
			if got := tracing.Endpoint(); got == "" {
				t.Fatal("Endpoint() is empty with " + env + " set")
			}
			tp, stop, err := tracing.Setup(context.Background(), "dynamo-operator", "v9.9.9")
			if err != nil {
				t.Fatal(err)
			}
			ctx, parent := tp.Tracer("scope").Start(context.Background(), "Reconcile")
			_, child := tp.Tracer("scope").Start(ctx, "apply")
			child.End()
			parent.End()
			if err := stop(context.Background()); err != nil { // flushes
				t.Fatal(err)
			}
			spans := recv.Spans()
			if len(spans) != 2 {
				t.Fatalf("received %d spans, want 2: %+v", len(spans), spans)
			}
			for _, s := range spans {
				if s.Service != "dynamo-operator" || s.Scope != "scope" {
					t.Errorf("span %q: service %q scope %q", s.Name, s.Service, s.Scope)
				}
			}
			if spans[0].TraceID != spans[1].TraceID || spans[0].Name != "apply" || !spans[0].Parent || spans[1].Parent {
				t.Errorf("the child is not in the parent's trace: %+v", spans)
			}
		})
	}
}

// A collector that is not there costs at most the caller's deadline at shutdown, never a hang.
func TestUnreachableCollectorDoesNotHang(t *testing.T) {
	t.Setenv(tracing.EnvTracesEndpoint, "")
	t.Setenv(tracing.EnvEndpoint, "http://127.0.0.1:1")
	tp, stop, err := tracing.Setup(context.Background(), "svc", "v1")
	if err != nil {
		t.Fatal(err)
	}
	_, span := tp.Tracer("t").Start(context.Background(), "x")
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	err = stop(ctx)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("shutdown took %s with a 2s deadline", took)
	}
	t.Logf("shutdown: %v", err)
}
