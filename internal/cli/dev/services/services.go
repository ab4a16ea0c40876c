// Package services is `dynamoctl dev services`: NATS (JetStream) and etcd for local development,
// the real servers embedded in one background process.
package services

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/dynamo-infra/dynamo-infra/internal/cli/exit"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/output"
	"github.com/dynamo-infra/dynamo-infra/internal/devservices"
)

type upOptions struct {
	dir        string
	opts       devservices.Options
	timeout    time.Duration
	foreground bool
	// natsMetricsPort is the flag's value; 0 turns the endpoint off.
	natsMetricsPort int
}

func (u *upOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&u.dir, "dir", devservices.DefaultDir(), "State directory (state.json, services.log)")
	f.StringVar(&u.opts.DataDir, "data-dir", "", "Data directory: JetStream and etcd (default: <dir>/data); kept by down")
	f.StringVar(&u.opts.Host, "host", "127.0.0.1", "Address every listener binds")
	f.IntVar(&u.opts.NATSPort, "nats-port", devservices.DefaultNATSPort, "NATS client port")
	f.IntVar(&u.opts.NATSMonitorPort, "nats-monitor-port", devservices.DefaultNATSMonitorPort, "NATS monitoring port (/varz, /healthz, /jsz)")
	f.IntVar(&u.natsMetricsPort, "nats-metrics-port", devservices.DefaultNATSMetricsPort, "NATS Prometheus metrics port, as the NATS exporter's (0: off)")
	f.IntVar(&u.opts.EtcdPort, "etcd-port", devservices.DefaultEtcdPort, "etcd client port (also /metrics, /health)")
	f.IntVar(&u.opts.EtcdPeerPort, "etcd-peer-port", devservices.DefaultEtcdPeerPort, "etcd peer port")
	f.DurationVar(&u.timeout, "timeout", time.Minute, "How long to wait for both services")
}

func (u *upOptions) complete() error {
	var err error
	if u.dir, err = filepath.Abs(u.dir); err != nil {
		return err
	}
	if u.opts.DataDir == "" {
		u.opts.DataDir = filepath.Join(u.dir, "data")
	}
	if u.opts.DataDir, err = filepath.Abs(u.opts.DataDir); err != nil {
		return err
	}
	for name, p := range map[string]int{"--nats-port": u.opts.NATSPort, "--nats-monitor-port": u.opts.NATSMonitorPort, "--etcd-port": u.opts.EtcdPort, "--etcd-peer-port": u.opts.EtcdPeerPort} {
		if p < 1 || p > 65535 {
			return exit.UsageError(fmt.Errorf("%s %d: want a port from 1 to 65535", name, p))
		}
	}
	switch {
	case u.natsMetricsPort < 0 || u.natsMetricsPort > 65535:
		return exit.UsageError(fmt.Errorf("--nats-metrics-port %d: want a port from 1 to 65535, or 0 to turn it off", u.natsMetricsPort))
	case u.natsMetricsPort == 0:
		u.opts.NATSMetricsPort = -1
	default:
		u.opts.NATSMetricsPort = u.natsMetricsPort
	}
	if u.timeout <= 0 {
		return exit.UsageError(errors.New("--timeout must be positive"))
	}
	u.opts.StartTimeout = u.timeout
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
	cmd.AddCommand(upCommand(streams), serveCommand(), downCommand(streams), statusCommand(streams))
	return cmd
}

func upCommand(streams genericiooptions.IOStreams) *cobra.Command {
	u := &upOptions{}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start NATS and etcd in the background and print their addresses",
		Example: `  eval "$(dynamoctl dev services up)"   # sets NATS_SERVER and ETCD_ENDPOINTS
  dynamoctl dev services up --data-dir ./dev-data --nats-port 14222`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := u.complete(); err != nil {
				return err
			}
			ctx := cmd.Context()
			if u.foreground {
				return devservices.Serve(ctx, u.dir, u.opts, streams.ErrOut)
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			argv := []string{exe, "dev", "services", "serve", "--dir", u.dir, "--data-dir", u.opts.DataDir, "--host", u.opts.Host,
				"--nats-port", strconv.Itoa(u.opts.NATSPort), "--nats-monitor-port", strconv.Itoa(u.opts.NATSMonitorPort),
				"--nats-metrics-port", strconv.Itoa(u.natsMetricsPort),
				"--etcd-port", strconv.Itoa(u.opts.EtcdPort), "--etcd-peer-port", strconv.Itoa(u.opts.EtcdPeerPort), "--timeout", u.timeout.String()}
			fmt.Fprintf(streams.ErrOut, "Starting NATS and etcd (data in %s)\n", u.opts.DataDir)
			s, err := devservices.Launch(ctx, u.dir, argv, u.timeout)
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
			fmt.Fprintf(streams.ErrOut, "Ready: NATS %s (monitoring %s), etcd %s; metrics %s. Stop with: dynamoctl dev services down --dir %s\n",
				s.Endpoints.NATS, s.Endpoints.NATSMonitor, s.Endpoints.Etcd, metrics, u.dir)
			fmt.Fprintf(streams.Out, "export NATS_SERVER=%s ETCD_ENDPOINTS=%s\n", s.Endpoints.NATS, s.Endpoints.Etcd)
			return nil
		},
	}
	u.addFlags(cmd)
	cmd.Flags().BoolVar(&u.foreground, "foreground", false, "Run in this process until Ctrl-C")
	return cmd
}

// serveCommand is the hidden body of the background process.
func serveCommand() *cobra.Command {
	u := &upOptions{}
	cmd := &cobra.Command{
		Use:    "serve",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := u.complete(); err != nil {
				return err
			}
			return devservices.Serve(cmd.Context(), u.dir, u.opts, os.Stderr)
		},
	}
	u.addFlags(cmd)
	return cmd
}

func downCommand(streams genericiooptions.IOStreams) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop NATS and etcd gracefully (data is kept)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := filepath.Abs(dir)
			if err != nil {
				return err
			}
			if err := devservices.Down(cmd.Context(), d); err != nil {
				if errors.Is(err, devservices.ErrNotRunning) {
					return exit.WithCode(exit.Unreachable, err)
				}
				return err
			}
			fmt.Fprintf(streams.ErrOut, "Stopped the dev services in %s (data kept)\n", d)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", devservices.DefaultDir(), "State directory")
	return cmd
}

func statusCommand(streams genericiooptions.IOStreams) *cobra.Command {
	var dir string
	var out *output.Flag
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show whether NATS and etcd are running and healthy",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := out.Format()
			if err != nil {
				return exit.UsageError(err)
			}
			d, err := filepath.Abs(dir)
			if err != nil {
				return err
			}
			s, health, err := devservices.Status(cmd.Context(), d)
			if err != nil {
				return exit.WithCode(exit.Unreachable, err)
			}
			if format != output.Table {
				return output.Encode(streams.Out, format, map[string]any{"state": s, "health": health})
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
			if err := output.WriteTable(streams.Out, []string{"SERVICE", "ADDRESS", "HEALTH"}, rows); err != nil {
				return err
			}
			fmt.Fprintf(streams.Out, "pid %d, data in %s, up since %s\n", s.PID, s.DataDir, s.StartedAt.Local().Format(time.RFC3339))
			if unhealthy > 0 {
				return fmt.Errorf("%d service(s) unhealthy", unhealthy)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", devservices.DefaultDir(), "State directory")
	out = output.AddFlag(cmd, output.Table, output.JSON, output.YAML)
	return cmd
}
