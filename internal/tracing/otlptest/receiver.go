// Package otlptest is an in-process OTLP/gRPC trace receiver for tests: it listens on a free
// local port, keeps every span it is sent and lets a test wait for the one it expects.
package otlptest

import (
	"context"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/grpc"
)

// Span is a received span, flattened.
type Span struct {
	Service string
	Scope   string
	Name    string
	TraceID string
	Parent  bool
	// Error is true when the span's status is Error.
	Error bool
	Attrs map[string]string
}

// Receiver collects spans.
type Receiver struct {
	coltracepb.UnimplementedTraceServiceServer
	// Addr is host:port to export to (OTEL_EXPORTER_OTLP_ENDPOINT=http://Addr).
	Addr string

	mu      sync.Mutex
	spans   []Span
	changed chan struct{}
}

// Start starts a receiver that stops when the test ends.
func Start(t testing.TB) *Receiver {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &Receiver{Addr: l.Addr().String(), changed: make(chan struct{})}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, r)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return r
}

// Export implements the OTLP trace service.
func (r *Receiver) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	var got []Span
	for _, rs := range req.GetResourceSpans() {
		service := attrs(rs.GetResource().GetAttributes())["service.name"]
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				got = append(got, Span{
					Service: service, Scope: ss.GetScope().GetName(), Name: sp.GetName(),
					TraceID: string(sp.GetTraceId()), Parent: len(sp.GetParentSpanId()) > 0,
					Error: sp.GetStatus().GetCode() == 2, // STATUS_CODE_ERROR
					Attrs: attrs(sp.GetAttributes()),
				})
			}
		}
	}
	r.mu.Lock()
	r.spans = append(r.spans, got...)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func attrs(kvs []*commonpb.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		switch v := kv.GetValue().GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.GetKey()] = v.StringValue
		case *commonpb.AnyValue_IntValue:
			m[kv.GetKey()] = strconv.FormatInt(v.IntValue, 10)
		case *commonpb.AnyValue_BoolValue:
			m[kv.GetKey()] = strconv.FormatBool(v.BoolValue)
		default:
			m[kv.GetKey()] = kv.GetValue().String()
		}
	}
	return m
}

// Spans returns a copy of what has arrived.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// WaitFor waits up to timeout for a span that match accepts and returns it; ok is false on
// timeout.
func (r *Receiver) WaitFor(timeout time.Duration, match func(Span) bool) (Span, bool) {
	deadline := time.After(timeout)
	for {
		r.mu.Lock()
		for _, s := range r.spans {
			if match(s) {
				r.mu.Unlock()
				return s, true
			}
		}
		changed := r.changed
		r.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			return Span{}, false
		}
	}
}
