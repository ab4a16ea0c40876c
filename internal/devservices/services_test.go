package devservices_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/dynamo-infra/dynamo-infra/internal/devcluster/devclustertest"
	"github.com/dynamo-infra/dynamo-infra/internal/devservices"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// startOnFreePorts starts the services on ports free a moment ago. Under a parallel test run
// another process can take such a port before the server binds it (NATS then never accepts
// connections): the start is tried again, up to three times, on new ports.
func startOnFreePorts(ctx context.Context, t *testing.T, metricsPort bool) (*devservices.Services, devservices.Options) {
	t.Helper()
	var err error
	for range 3 {
		opts := devservices.Options{DataDir: t.TempDir(), NATSPort: devclustertest.FreePort(t), NATSMonitorPort: devclustertest.FreePort(t),
			NATSMetricsPort: -1, EtcdPort: devclustertest.FreePort(t), EtcdPeerPort: devclustertest.FreePort(t), StartTimeout: 20 * time.Second}
		if metricsPort {
			opts.NATSMetricsPort = devclustertest.FreePort(t)
		}
		var s *devservices.Services
		if s, err = devservices.Start(ctx, opts); err == nil {
			return s, opts
		}
		if !strings.Contains(err.Error(), "port in use") && !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	t.Fatal(err)
	return nil, devservices.Options{}
}

// NATS publish/subscribe, a JetStream stream and an etcd key, all surviving a stop and a start
// on the same data directory; both servers' metrics endpoints answer.
func TestServicesSurviveRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, opts := startOnFreePorts(ctx, t, false)
	ep := s.Endpoints()

	nc, err := nats.Connect(ep.NATS, nats.Timeout(5*time.Second))
	must(t, err)
	sub, err := nc.SubscribeSync("dynamo.test")
	must(t, err)
	must(t, nc.Publish("dynamo.test", []byte("hello")))
	msg, err := sub.NextMsg(5 * time.Second)
	if err != nil || string(msg.Data) != "hello" {
		t.Fatalf("pub/sub: %v %v", err, msg)
	}
	js, err := jetstream.New(nc)
	must(t, err)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "KV_EVENTS", Subjects: []string{"kv.events.>"}, Storage: jetstream.FileStorage})
	must(t, err)
	for _, m := range []string{"one", "two", "three"} {
		if _, err := js.Publish(ctx, "kv.events.block", []byte(m)); err != nil { // acknowledged by the server
			t.Fatal(err)
		}
	}
	nc.Close()

	etcd := func() *clientv3.Client {
		c, err := clientv3.New(clientv3.Config{Endpoints: []string{ep.Etcd}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		must(t, err)
		return c
	}
	ec := etcd()
	_, err = ec.Put(ctx, "/dynamo/instances/decode-0", "ready")
	must(t, err)
	_ = ec.Close()

	for _, url := range []string{ep.NATSMonitor + "/varz", ep.EtcdMetrics} {
		resp, err := http.Get(url)
		must(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(b) == 0 {
			t.Errorf("%s: %d", url, resp.StatusCode)
		}
		if strings.HasSuffix(url, "/metrics") && !strings.Contains(string(b), "etcd_server_has_leader") {
			t.Errorf("%s lacks etcd_server_has_leader", url)
		}
	}

	s.Stop()
	for _, port := range []int{opts.NATSPort, opts.EtcdPort} {
		if c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second); err == nil {
			_ = c.Close()
			t.Errorf("port %d still open after Stop", port)
		}
	}

	s, err = devservices.Start(ctx, opts)
	must(t, err)
	defer s.Stop()
	nc, err = nats.Connect(ep.NATS, nats.Timeout(5*time.Second))
	must(t, err)
	defer nc.Close()
	js, err = jetstream.New(nc)
	must(t, err)
	stream, err := js.Stream(ctx, "KV_EVENTS")
	must(t, err)
	info, err := stream.Info(ctx)
	must(t, err)
	if info.State.Msgs != 3 {
		t.Errorf("stream after restart: %d messages, want 3", info.State.Msgs)
	}
	last, err := stream.GetLastMsgForSubject(ctx, "kv.events.block")
	if err != nil || string(last.Data) != "three" {
		t.Errorf("last message after restart: %v %v", last, err)
	}
	ec = etcd()
	defer func() { _ = ec.Close() }()
	got, err := ec.Get(ctx, "/dynamo/instances/decode-0")
	must(t, err)
	if len(got.Kvs) != 1 || string(got.Kvs[0].Value) != "ready" {
		t.Errorf("etcd key after restart: %v", got.Kvs)
	}
}

// A port already taken fails Start with a clear error and leaves nothing running.
func TestStartPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port
	_, err = devservices.Start(context.Background(), devservices.Options{DataDir: t.TempDir(), NATSPort: devclustertest.FreePort(t), NATSMonitorPort: devclustertest.FreePort(t),
		NATSMetricsPort: devclustertest.FreePort(t), EtcdPort: busy, EtcdPeerPort: devclustertest.FreePort(t), StartTimeout: 10 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "etcd") {
		t.Fatalf("err = %v, want an etcd error", err)
	}
}

// NATS's metrics endpoint serves every series it declares, under the NATS exporter's names,
// with values that follow the server: messages in, connections, JetStream messages stored.
func TestNATSMetrics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, _ := startOnFreePorts(ctx, t, true)
	defer s.Stop()
	ep := s.Endpoints()
	if ep.NATSMetrics == "" {
		t.Fatal("no NATS metrics endpoint")
	}
	nc, err := nats.Connect(ep.NATS, nats.Timeout(5*time.Second))
	must(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	must(t, err)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"ev.>"}})
	must(t, err)
	for range 5 {
		_, err := js.Publish(ctx, "ev.x", []byte("m"))
		must(t, err)
	}
	got := scrape(t, ep.NATSMetrics)
	for _, name := range devservices.NATSMetricNames() {
		if _, ok := got[name]; !ok {
			t.Errorf("%s declared but not served", name)
		}
	}
	for name, check := range map[string]func(float64) bool{
		"gnatsd_up":                       func(v float64) bool { return v == 1 },
		"gnatsd_varz_connections":         func(v float64) bool { return v >= 1 },
		"gnatsd_varz_in_msgs":             func(v float64) bool { return v >= 5 },
		"gnatsd_varz_mem":                 func(v float64) bool { return v > 0 },
		"jetstream_server_total_streams":  func(v float64) bool { return v == 1 },
		"jetstream_server_total_messages": func(v float64) bool { return v == 5 },
	} {
		if v, ok := got[name]; !ok || !check(v) {
			t.Errorf("%s = %v (served: %v)", name, v, ok)
		}
	}
}

// scrape fetches a Prometheus text endpoint and returns each series name's first value.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	must(t, err)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	must(t, err)
	out := map[string]float64{}
	for name, f := range families {
		m := f.GetMetric()[0]
		switch {
		case m.GetGauge() != nil:
			out[name] = m.GetGauge().GetValue()
		case m.GetCounter() != nil:
			out[name] = m.GetCounter().GetValue()
		case m.GetUntyped() != nil:
			out[name] = m.GetUntyped().GetValue()
		}
	}
	return out
}
