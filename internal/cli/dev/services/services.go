// Package services is `dynamoctl dev services`: NATS (JetStream) and etcd for local development,
// the real servers embedded in one background process.
package services

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/dynamo-infra/dynamo-infra/internal/cli/command"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/exit"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/output"
	"github.com/dynamo-infra/dynamo-infra/internal/devservices"
)

// UpOptions are the flags of `dynamoctl dev services up` (and of the hidden serve).
type UpOptions struct {
	Dir        string
	Services   devservices.Options
	Timeout    time.Duration
	Foreground bool
	// NATSMetricsPort is the flag's value; 0 turns the endpoint off.
	NATSMetricsPort int

	streams genericiooptions.IOStreams
}

func (u *UpOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&u.Dir, "dir", devservices.DefaultDir(), "State directory (state.json, services.log)")
	f.StringVar(&u.Services.DataDir, "data-dir", "", "Data directory: JetStream and etcd (default: <dir>/data); kept by down")
	f.StringVar(&u.Services.Host, "host", "127.0.0.1", "Address every listener binds")
	f.IntVar(&u.Services.NATSPort, "nats-port", devservices.DefaultNATSPort, "NATS client port")
	f.IntVar(&u.Services.NATSMonitorPort, "nats-monitor-port", devservices.DefaultNATSMonitorPort, "NATS monitoring port (/varz, /healthz, /jsz)")
	f.IntVar(&u.NATSMetricsPort, "nats-metrics-port", devservices.DefaultNATSMetricsPort, "NATS Prometheus metrics port, as the NATS exporter's (0: off)")
	f.IntVar(&u.Services.EtcdPort, "etcd-port", devservices.DefaultEtcdPort, "etcd client port (also /metrics, /health)")
	f.IntVar(&u.Services.EtcdPeerPort, "etcd-peer-port", devservices.DefaultEtcdPeerPort, "etcd peer port")
	f.DurationVar(&u.Timeout, "timeout", time.Minute, "How long to wait for both services")
}

// Complete resolves the directories.
func (u *UpOptions) Complete(_ []string) error {
	var err error
	if u.Dir, err = filepath.Abs(u.Dir); err != nil {
		return err
	}
	if u.Services.DataDir == "" {
		u.Services.DataDir = filepath.Join(u.Dir, "data")
	}
	u.Services.DataDir, err = filepath.Abs(u.Services.DataDir)
	return err
}

// Validate checks the ports and the timeout.
func (u *UpOptions) Validate() error {
	for name, p := range map[string]int{"--nats-port": u.Services.NATSPort, "--nats-monitor-port": u.Services.NATSMonitorPort, "--etcd-port": u.Services.EtcdPort, "--etcd-peer-port": u.Services.EtcdPeerPort} {
		if p < 1 || p > 65535 {
			return fmt.Errorf("%s %d: want a port from 1 to 65535", name, p)
		}
	}
	switch {
	case u.NATSMetricsPort < 0 || u.NATSMetricsPort > 65535:
		return fmt.Errorf("--nats-metrics-port %d: want a port from 1 to 65535, or 0 to turn it off", u.NATSMetricsPort)
	case u.NATSMetricsPort == 0:
		u.Services.NATSMetricsPort = -1
	default:
		u.Services.NATSMetricsPort = u.NATSMetricsPort
	}
	if u.Timeout <= 0 {
		return errors.New("--timeout must be positive")
	}
	u.Services.StartTimeout = u.Timeout
	return nil
}

// NewCommand returns `dynamoctl dev services`.
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "services",
		Short: "NATS (JetStream) and etcd for local development, without Docker",
		Long: `Run NATS with JetStream and etcd — the real servers, embedded in one background process — on
the ports of deploy/docker-compose.yml: NATS 4222 (monitoring 8222), etcd 2379 (metrics on
/metrics). NATS's metrics are served on 7777 under the NATS exporter's names, so
deploy/observability/prometheus.yml scrapes both setups alike. Data lives in --data-dir and survives down and up. down shuts both down gracefully:
no acknowledged JetStream message or etcd write is lost.

Exit codes: 0 ok, 1 failure, 2 usage error, 3 not running (status, down), 130 interrupted.`,
	}
	cmd.AddCommand(upCommand(streams), serveCommand(streams), downCommand(streams), statusCommand(streams))
	return cmd
}

func upCommand(streams genericiooptions.IOStreams) *cobra.Command {
	u := &UpOptions{streams: streams}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start NATS and etcd in the background and print their addresses",
		Example: `  eval "$(dynamoctl dev services up)"   # sets NATS_SERVER and ETCD_ENDPOINTS
  dynamoctl dev services up --data-dir ./dev-data --nats-port 14222`,
		Args: cobra.NoArgs,
	}
	u.addFlags(cmd)
	cmd.Flags().BoolVar(&u.Foreground, "foreground", false, "Run in this process until Ctrl-C")
	return command.Bind(cmd, u)
}

// Run starts the services in the background (or the foreground) and prints the export line.
func (u *UpOptions) Run(ctx context.Context) error {
	if u.Foreground {
		return devservices.Serve(ctx, u.Dir, u.Services, u.streams.ErrOut)
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	// The dev binary's root is `dev` itself.
	argv := []string{exe, "services", "serve", "--dir", u.Dir, "--data-dir", u.Services.DataDir, "--host", u.Services.Host,
		"--nats-port", strconv.Itoa(u.Services.NATSPort), "--nats-monitor-port", strconv.Itoa(u.Services.NATSMonitorPort),
		"--nats-metrics-port", strconv.Itoa(u.NATSMetricsPort),
		"--etcd-port", strconv.Itoa(u.Services.EtcdPort), "--etcd-peer-port", strconv.Itoa(u.Services.EtcdPeerPort), "--timeout", u.Timeout.String()}
	fmt.Fprintf(u.streams.ErrOut, "Starting NATS and etcd (data in %s)\n", u.Services.DataDir)
	s, err := devservices.Launch(ctx, u.Dir, argv, u.Timeout)
	if err != nil {
		if ctx.Err() != nil {
			return exit.WithCode(exit.Interrupted, err)
		}
		return err
	}
	metrics := s.Endpoints.EtcdMetrics
	if s.Endpoints.NATSMetrics != "" {
		metrics = s.Endpoints.NATSMetrics + ", " + metrics
	}
	fmt.Fprintf(u.streams.ErrOut, "Ready: NATS %s (monitoring %s), etcd %s; metrics %s. Stop with: dynamoctl dev services down --dir %s\n",
		s.Endpoints.NATS, s.Endpoints.NATSMonitor, s.Endpoints.Etcd, metrics, u.Dir)
	fmt.Fprintf(u.streams.Out, "export NATS_SERVER=%s ETCD_ENDPOINTS=%s\n", s.Endpoints.NATS, s.Endpoints.Etcd)
	return nil
}

// ServeOptions are `up`'s, run as the background process.
type ServeOptions struct{ UpOptions }

// Run serves NATS and etcd in this process until ctx ends or a server fails.
func (o *ServeOptions) Run(ctx context.Context) error {
	return devservices.Serve(ctx, o.Dir, o.Services, os.Stderr)
}

// serveCommand is the hidden body of the background process.
func serveCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &ServeOptions{UpOptions{streams: streams}}
	cmd := &cobra.Command{
		Use:    "serve",
		Hidden: true,
		Args:   cobra.NoArgs,
	}
	o.addFlags(cmd)
	return command.Bind(cmd, o)
}

// DirOptions are the flags of `down` and `status`: the state directory (and status's output).
type DirOptions struct {
	Dir string

	out     *output.Flag
	format  output.Format
	streams genericiooptions.IOStreams
}

// Complete makes --dir absolute and reads the output format (status).
func (o *DirOptions) Complete(_ []string) error {
	var err error
	if o.out != nil {
		if o.format, err = o.out.Format(); err != nil {
			return err
		}
	}
	o.Dir, err = filepath.Abs(o.Dir)
	return err
}

// Validate has nothing more to check.
func (o *DirOptions) Validate() error { return nil }

// DownOptions are the flags of `dynamoctl dev services down`.
type DownOptions struct{ DirOptions }

func downCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &DownOptions{DirOptions{streams: streams}}
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop NATS and etcd gracefully (data is kept)",
		Args:  cobra.NoArgs,
	}
	cmd.Flags().StringVar(&o.Dir, "dir", devservices.DefaultDir(), "State directory")
	return command.Bind(cmd, o)
}

// Run stops the services; their data is kept.
func (o *DownOptions) Run(ctx context.Context) error {
	if err := devservices.Down(ctx, o.Dir); err != nil {
		if errors.Is(err, devservices.ErrNotRunning) {
			return exit.WithCode(exit.Unreachable, err)
		}
		return err
	}
	fmt.Fprintf(o.streams.ErrOut, "Stopped the dev services in %s (data kept)\n", o.Dir)
	return nil
}

// StatusOptions are the flags of `dynamoctl dev services status`.
type StatusOptions struct{ DirOptions }

func statusCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &StatusOptions{DirOptions{streams: streams}}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show whether NATS and etcd are running and healthy",
		Args:  cobra.NoArgs,
	}
	cmd.Flags().StringVar(&o.Dir, "dir", devservices.DefaultDir(), "State directory")
	o.out = output.AddFlag(cmd, output.Table, output.JSON, output.YAML)
	return command.Bind(cmd, o)
}

// Run checks both services and prints their health; the exit code follows it.
func (o *StatusOptions) Run(ctx context.Context) error {
	s, health, err := devservices.Status(ctx, o.Dir)
	if err != nil {
		return exit.WithCode(exit.Unreachable, err)
	}
	if o.format != output.Table {
		return output.Encode(o.streams.Out, o.format, map[string]any{"state": s, "health": health})
	}
	rows := [][]string{}
	unhealthy := 0
	for _, h := range health {
		state := "healthy"
		if !h.Healthy {
			state, unhealthy = "unhealthy: "+h.Error, unhealthy+1
		}
		rows = append(rows, []string{h.Name, h.Address, state})
	}
	if err := output.WriteTable(o.streams.Out, []string{"SERVICE", "ADDRESS", "HEALTH"}, rows); err != nil {
		return err
	}
	fmt.Fprintf(o.streams.Out, "pid %d, data in %s, up since %s\n", s.PID, s.DataDir, s.StartedAt.Local().Format(time.RFC3339))
	if unhealthy > 0 {
		return fmt.Errorf("%d service(s) unhealthy", unhealthy)
	}
	return nil
}
