package devservices

import (
	"fmt"
	"net"
	"net/http"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultNATSMetricsPort is where NATS's Prometheus metrics are served: the port of the
// NATS exporter in deploy/docker-observability.yml, so the same scrape job works for both.
const DefaultNATSMetricsPort = 7777

// natsCollector turns the embedded server's /varz and /jsz into the series the NATS exporter
// (prometheus-nats-exporter -varz -jsz=all) publishes under the same names, read in process at
// scrape time: no HTTP round trip to the monitoring port and no second process.
type natsCollector struct {
	srv *natsserver.Server
}

type natsMetric struct {
	name  string
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(*natsserver.Varz, *natsserver.JSInfo) float64
}

func natsSeries(name, help string, kind prometheus.ValueType, value func(*natsserver.Varz, *natsserver.JSInfo) float64) natsMetric {
	return natsMetric{name: name, desc: prometheus.NewDesc(name, help, []string{"server_id"}, nil), kind: kind, value: value}
}

var natsMetrics = []natsMetric{
	natsSeries("gnatsd_varz_connections", "Client connections open now.", prometheus.GaugeValue,
		func(v *natsserver.Varz, _ *natsserver.JSInfo) float64 { return float64(v.Connections) }),
	natsSeries("gnatsd_varz_total_connections", "Client connections accepted since start.", prometheus.CounterValue,
		func(v *natsserver.Varz, _ *natsserver.JSInfo) float64 { return float64(v.TotalConnections) }),
	natsSeries("gnatsd_varz_in_msgs", "Messages received since start.", prometheus.CounterValue,
		func(v *natsserver.Varz, _ *natsserver.JSInfo) float64 { return float64(v.InMsgs) }),
	natsSeries("gnatsd_varz_out_msgs", "Messages sent since start.", prometheus.CounterValue,
		func(v *natsserver.Varz, _ *natsserver.JSInfo) float64 { return float64(v.OutMsgs) }),
	natsSeries("gnatsd_varz_in_bytes", "Bytes received since start.", prometheus.CounterValue,
		func(v *natsserver.Varz, _ *natsserver.JSInfo) float64 { return float64(v.InBytes) }),
	natsSeries("gnatsd_varz_out_bytes", "Bytes sent since start.", prometheus.CounterValue,
		func(v *natsserver.Varz, _ *natsserver.JSInfo) float64 { return float64(v.OutBytes) }),
	natsSeries("gnatsd_varz_slow_consumers", "Clients disconnected as slow consumers since start.", prometheus.CounterValue,
		func(v *natsserver.Varz, _ *natsserver.JSInfo) float64 { return float64(v.SlowConsumers) }),
	natsSeries("gnatsd_varz_mem", "Resident memory of the server in bytes.", prometheus.GaugeValue,
		func(v *natsserver.Varz, _ *natsserver.JSInfo) float64 { return float64(v.Mem) }),
	natsSeries("gnatsd_varz_cpu", "CPU use of the server in percent.", prometheus.GaugeValue,
		func(v *natsserver.Varz, _ *natsserver.JSInfo) float64 { return v.CPU }),
	natsSeries("jetstream_server_total_streams", "JetStream streams.", prometheus.GaugeValue,
		func(_ *natsserver.Varz, j *natsserver.JSInfo) float64 { return float64(j.Streams) }),
	natsSeries("jetstream_server_total_consumers", "JetStream consumers.", prometheus.GaugeValue,
		func(_ *natsserver.Varz, j *natsserver.JSInfo) float64 { return float64(j.Consumers) }),
	natsSeries("jetstream_server_total_messages", "Messages stored in JetStream streams.", prometheus.GaugeValue,
		func(_ *natsserver.Varz, j *natsserver.JSInfo) float64 { return float64(j.Messages) }),
	natsSeries("jetstream_server_total_message_bytes", "Bytes stored in JetStream streams.", prometheus.GaugeValue,
		func(_ *natsserver.Varz, j *natsserver.JSInfo) float64 { return float64(j.Bytes) }),
}

var natsUpDesc = prometheus.NewDesc("gnatsd_up", "1 when the embedded NATS server answered varz and jsz.", nil, nil)

func (c natsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- natsUpDesc
	for _, m := range natsMetrics {
		ch <- m.desc
	}
}

func (c natsCollector) Collect(ch chan<- prometheus.Metric) {
	v, err := c.srv.Varz(nil)
	var js *natsserver.JSInfo
	if err == nil {
		js, err = c.srv.Jsz(nil)
	}
	if err != nil {
		ch <- prometheus.MustNewConstMetric(natsUpDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(natsUpDesc, prometheus.GaugeValue, 1)
	for _, m := range natsMetrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.kind, m.value(v, js), v.ID)
	}
}

// NATSMetricNames lists the series the metrics endpoint serves.
func NATSMetricNames() []string {
	names := []string{"gnatsd_up"}
	for _, m := range natsMetrics {
		names = append(names, m.name)
	}
	return names
}

// serveNATSMetrics serves /metrics for srv on addr until the returned server is shut down.
func serveNATSMetrics(srv *natsserver.Server, addr string) (*http.Server, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(natsCollector{srv: srv}); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("nats metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Timeout: 10 * time.Second}))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(l) }() // returns http.ErrServerClosed on Close
	return hs, nil
}
