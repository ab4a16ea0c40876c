// Package devservices runs the base services Dynamo needs — NATS with JetStream and etcd — as
// the real servers embedded in one process, for local development without Docker. Ports are
// those of deploy/docker-compose.yml by default; data lives in a directory and survives a
// restart. Stop is graceful: JetStream stores and etcd's backend are closed cleanly, so an
// acknowledged message or write is not lost.
package devservices

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Default ports, as deploy/docker-compose.yml publishes them.
const (
	DefaultNATSPort        = 4222
	DefaultNATSMonitorPort = 8222
	DefaultEtcdPort        = 2379
	DefaultEtcdPeerPort    = 2380
	// DefaultMaxPayload is NATS's max_payload in the reference deployment (15 MiB).
	DefaultMaxPayload = 15 << 20
)

// Options configure the services.
type Options struct {
	// DataDir holds nats/ (JetStream) and etcd/.
	DataDir string
	// Host is the address every listener binds (default 127.0.0.1).
	Host                      string
	NATSPort, NATSMonitorPort int
	// NATSMetricsPort serves NATS's metrics in the NATS exporter's format (-1: off).
	NATSMetricsPort        int
	EtcdPort, EtcdPeerPort int
	// StartTimeout bounds the wait for both servers to be ready (default 1 minute).
	StartTimeout time.Duration
}

func (o *Options) defaults() {
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.NATSPort == 0 {
		o.NATSPort = DefaultNATSPort
	}
	if o.NATSMonitorPort == 0 {
		o.NATSMonitorPort = DefaultNATSMonitorPort
	}
	if o.NATSMetricsPort == 0 {
		o.NATSMetricsPort = DefaultNATSMetricsPort
	}
	if o.EtcdPort == 0 {
		o.EtcdPort = DefaultEtcdPort
	}
	if o.EtcdPeerPort == 0 {
		o.EtcdPeerPort = DefaultEtcdPeerPort
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = time.Minute
	}
}

// Services are the running servers.
type Services struct {
	opts Options
	nats *natsserver.Server
	// natsMetrics serves NATS's Prometheus metrics (nil when off).
	natsMetrics *http.Server
	etcd        *embed.Etcd
}

// Endpoints are the addresses clients use.
type Endpoints struct {
	NATS        string `json:"nats"`
	NATSMonitor string `json:"natsMonitor"`
	// NATSMetrics is NATS's Prometheus endpoint (empty when off).
	NATSMetrics string `json:"natsMetrics,omitempty"`
	Etcd        string `json:"etcd"`
	// EtcdMetrics is etcd's Prometheus endpoint.
	EtcdMetrics string `json:"etcdMetrics"`
}

// Start starts NATS (JetStream on, monitoring on, Prometheus metrics) and etcd (metrics on its client port) and
// waits until both serve. On error nothing is left running.
func Start(ctx context.Context, o Options) (_ *Services, err error) {
	o.defaults()
	if o.DataDir == "" {
		return nil, errors.New("devservices: a data directory is needed")
	}
	// NATS starts in the background and, when it cannot create its store, just never serves:
	// make both stores first, so a bad data directory is said at once, not after the timeout.
	for _, sub := range []string{"nats", "etcd"} {
		if err := os.MkdirAll(filepath.Join(o.DataDir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
	}
	s := &Services{opts: o}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	nopts := &natsserver.Options{
		ServerName: "dynamo-dev", Host: o.Host, Port: o.NATSPort, HTTPHost: o.Host, HTTPPort: o.NATSMonitorPort,
		JetStream: true, StoreDir: filepath.Join(o.DataDir, "nats"), MaxPayload: DefaultMaxPayload,
		NoSigs: true, NoLog: true,
	}
	if s.nats, err = natsserver.NewServer(nopts); err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	go s.nats.Start()
	if !s.nats.ReadyForConnections(o.StartTimeout) {
		return nil, fmt.Errorf("nats: not accepting connections on %s:%d after %s (port in use?)", o.Host, o.NATSPort, o.StartTimeout)
	}
	if o.NATSMetricsPort > 0 {
		if s.natsMetrics, err = serveNATSMetrics(s.nats, net.JoinHostPort(o.Host, strconv.Itoa(o.NATSMetricsPort))); err != nil {
			return nil, err
		}
	}

	cfg := embed.NewConfig()
	cfg.Name = "dynamo-dev"
	cfg.Dir = filepath.Join(o.DataDir, "etcd")
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	client := url.URL{Scheme: "http", Host: fmt.Sprintf("%s:%d", o.Host, o.EtcdPort)}
	peer := url.URL{Scheme: "http", Host: fmt.Sprintf("%s:%d", o.Host, o.EtcdPeerPort)}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.Name + "=" + peer.String()
	cfg.Metrics = "basic"
	if s.etcd, err = embed.StartEtcd(cfg); err != nil {
		return nil, fmt.Errorf("etcd: %w", err)
	}
	select {
	case <-s.etcd.Server.ReadyNotify():
	case err := <-s.etcd.Err():
		return nil, fmt.Errorf("etcd: %w", err)
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(o.StartTimeout):
		return nil, fmt.Errorf("etcd: not ready after %s", o.StartTimeout)
	}
	return s, nil
}

// Endpoints returns the client addresses.
func (s *Services) Endpoints() Endpoints {
	o := s.opts
	e := Endpoints{
		NATS:        fmt.Sprintf("nats://%s:%d", o.Host, o.NATSPort),
		NATSMonitor: fmt.Sprintf("http://%s:%d", o.Host, o.NATSMonitorPort),
		Etcd:        fmt.Sprintf("http://%s:%d", o.Host, o.EtcdPort),
		EtcdMetrics: fmt.Sprintf("http://%s:%d/metrics", o.Host, o.EtcdPort),
	}
	if o.NATSMetricsPort > 0 {
		e.NATSMetrics = fmt.Sprintf("http://%s:%d/metrics", o.Host, o.NATSMetricsPort)
	}
	return e
}

// Err reports a server that stopped on its own (etcd's fatal errors); nil channel reads block.
func (s *Services) Err() <-chan error {
	if s.etcd == nil {
		return nil
	}
	return s.etcd.Err()
}

// Stop shuts both servers down gracefully and waits until they are gone.
func (s *Services) Stop() {
	if s.etcd != nil {
		s.etcd.Close() // stops serving, then closes the backend
		s.etcd = nil
	}
	if s.natsMetrics != nil {
		_ = s.natsMetrics.Close()
		s.natsMetrics = nil
	}
	if s.nats != nil {
		s.nats.Shutdown() // closes JetStream stores after flushing them
		s.nats.WaitForShutdown()
		s.nats = nil
	}
}
