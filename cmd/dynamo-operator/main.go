// Command dynamo-operator reconciles nvidia.com/v1alpha1 DynamoGraphDeployments into
// Deployments (LeaderWorkerSets for multi-node services), Services, PVCs and discovery RBAC.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/controller"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/tracing"
	"github.com/dynamo-infra/dynamo-infra/internal/version"
)

func main() {
	var o controller.Options
	flag.StringVar(&o.Render.NATSAddress, "nats-address", "", "NATS address injected into every component as NATS_SERVER")
	flag.StringVar(&o.Render.EtcdAddress, "etcd-address", "", "etcd endpoints injected into every component as ETCD_ENDPOINTS")
	flag.StringVar(&o.Graph.Discovery, "discovery-backend", graph.DefaultDiscovery, "DYN_DISCOVERY_BACKEND for graphs that do not set nvidia.com/dynamo-discovery-backend")
	flag.StringVar(&o.Render.MPISSHSecret, "mpi-ssh-secret", v1alpha1.MPISSHSecret, "Secret (in each graph's namespace) with the SSH key pair multi-node TRT-LLM pods mount for mpirun")
	flag.StringVar(&o.MetricsBindAddress, "metrics-bind-address", ":8080", "Address of the metrics endpoint (0 disables it)")
	flag.BoolVar(&o.SecureMetrics, "metrics-secure", false, "Serve metrics over HTTPS to callers allowed GET on /metrics (TokenReview and SubjectAccessReview)")
	flag.StringVar(&o.MetricsCertDir, "metrics-cert-dir", "", "Directory with tls.crt and tls.key for --metrics-secure (default: a self-signed certificate)")
	flag.StringVar(&o.HealthProbeBindAddress, "health-probe-bind-address", ":8081", "Address of /healthz and /readyz")
	flag.BoolVar(&o.LeaderElection, "leader-elect", false, "Elect a leader so that only one replica reconciles")
	flag.StringVar(&o.LeaderElectionNS, "leader-election-namespace", "", "Namespace of the leader-election Lease (default: the pod's namespace)")
	flag.DurationVar(&o.LeaseDuration, "leader-elect-lease-duration", 15*time.Second, "How long a standby waits before taking over a Lease its holder stopped renewing")
	flag.DurationVar(&o.RenewDeadline, "leader-elect-renew-deadline", 10*time.Second, "How long the leader retries renewing before it gives up leading (and exits)")
	flag.DurationVar(&o.RetryPeriod, "leader-elect-retry-period", 2*time.Second, "How often candidates try to acquire or renew the Lease")
	flag.StringVar(&o.WatchNamespace, "watch-namespace", "", "Only reconcile graphs in this namespace (default: all namespaces)")
	flag.IntVar(&o.MaxConcurrentReconciles, "max-concurrent-reconciles", 4, "Graphs reconciled at once")
	flag.DurationVar(&o.PlacementRefresh, "placement-refresh", controller.DefaultPlacementRefresh, "How often a graph with a topologyConstraint is verified against its nodes' labels again (status.placement, PlacementVerified)")
	flag.DurationVar(&o.CapacityRefresh, "capacity-refresh", time.Minute, "How old the capacity view (nodes and what their pods request) may get before it is read again — read when a graph's change adds pods, or a graph is short or has a pod refused — for status.services[].capacity and the Schedulable condition (0 turns both off)")
	showVersion := flag.Bool("version", false, "Print the version and exit")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	if *showVersion {
		v := version.Get()
		fmt.Printf("dynamo-operator %s (commit %s, %s)\n", v.Version, v.Commit, v.GoVersion)
		return
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")
	cfg, err := ctrl.GetConfig()
	if err != nil {
		log.Error(err, "no cluster configuration: set --kubeconfig or KUBECONFIG, or run in a pod")
		os.Exit(3)
	}
	ctx := ctrl.SetupSignalHandler()
	tp, stopTracing, err := tracing.Setup(ctx, "dynamo-operator", version.Get().Version)
	if err != nil {
		log.Error(err, "set up tracing: check "+tracing.EnvEndpoint)
		os.Exit(1)
	}
	o.TracerProvider = tp
	mgr, err := controller.NewManager(cfg, o)
	if err != nil {
		log.Error(err, "set up the operator")
		os.Exit(1)
	}
	log.Info("starting", "version", version.Get().Version, "watchNamespace", o.WatchNamespace, "leaderElection", o.LeaderElection,
		"tracesTo", tracing.Endpoint())
	runErr := mgr.Start(ctx)
	// Flush the last spans; the context above is already done after a signal.
	if err := stopTracing(context.Background()); err != nil {
		log.Error(err, "flush traces")
	}
	if runErr != nil {
		log.Error(runErr, "operator stopped")
		os.Exit(1)
	}
}
