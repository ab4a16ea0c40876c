// Command dynamo-operator reconciles DynamoGraphDeployments (nvidia.com/v1beta1, stored, and
// v1alpha1) into Deployments (LeaderWorkerSets for multi-node services), Services, PVCs and
// discovery RBAC, and serves the graphs' conversion and validation webhooks.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/controller"
	"github.com/dynamo-infra/dynamo-infra/internal/gomem"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/tracing"
	"github.com/dynamo-infra/dynamo-infra/internal/version"
	"github.com/dynamo-infra/dynamo-infra/internal/webhook"
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
	flag.StringVar(&o.PprofBindAddress, "pprof-bind-address", "", "Address of net/http/pprof's profiles (empty or 0: off)")
	flag.BoolVar(&o.LeaderElection, "leader-elect", false, "Elect a leader so that only one replica reconciles")
	flag.StringVar(&o.LeaderElectionNS, "leader-election-namespace", "", "Namespace of the leader-election Lease (default: the pod's namespace)")
	flag.DurationVar(&o.LeaseDuration, "leader-elect-lease-duration", 15*time.Second, "How long a standby waits before taking over a Lease its holder stopped renewing")
	flag.DurationVar(&o.RenewDeadline, "leader-elect-renew-deadline", 10*time.Second, "How long the leader retries renewing before it gives up leading (and exits)")
	flag.DurationVar(&o.RetryPeriod, "leader-elect-retry-period", 2*time.Second, "How often candidates try to acquire or renew the Lease")
	flag.StringVar(&o.WatchNamespace, "watch-namespace", "", "Only reconcile graphs in this namespace (default: all namespaces)")
	flag.IntVar(&o.MaxConcurrentReconciles, "max-concurrent-reconciles", 4, "Graphs reconciled at once")
	flag.DurationVar(&o.PlacementRefresh, "placement-refresh", controller.DefaultPlacementRefresh, "How often a graph with a topologyConstraint is verified against its nodes' labels again (status.placement, PlacementVerified)")
	flag.DurationVar(&o.CapacityRefresh, "capacity-refresh", time.Minute, "How old the capacity view (nodes and what their pods request) may get before it is read again — read when a graph's change adds pods, or a graph is short or has a pod refused — for status.services[].capacity and the Schedulable condition (0 turns both off)")
	flag.IntVar(&o.Webhook.Port, "webhook-port", 0, "Port of the conversion and validating webhooks, served by every replica (0: none; the chart sets 9443)")
	flag.StringVar(&o.Webhook.CertDir, "webhook-cert-dir", "", "Directory with tls.crt and tls.key for the webhooks, kept by someone else (cert-manager, whose CA injector sets the caBundles); default: the operator's own CA and certificate in --webhook-cert-secret")
	webhookSecret := flag.String("webhook-cert-secret", "", "NAMESPACE/NAME of the Secret the operator keeps its webhook CA and certificate in (default: <leader-election-namespace>/dynamo-operator-webhook-cert)")
	webhookService := flag.String("webhook-service", "", "NAMESPACE/NAME of the Service in front of the webhooks, named by the certificate")
	flag.StringVar(&o.Webhook.URL, "webhook-url", "", "https://HOST:PORT at which the API server reaches this operator directly (an operator beside the API server, as in the dev cluster); the operator points the CRD's conversion there")
	flag.StringVar(&o.Webhook.ValidatingConfig, "webhook-validating-config", webhook.ValidatingConfigDefault, "ValidatingWebhookConfiguration whose caBundle (and, with --webhook-url, URL) the operator keeps")
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
	if m := gomem.Configure(); m != (gomem.Settings{}) {
		log.Info("Go memory settings", "gcPercent", m.GCPercent, "softLimitBytes", m.SoftLimit)
	}
	if err := webhookFlags(&o, *webhookSecret, *webhookService); err != nil {
		log.Error(err, "webhook flags")
		os.Exit(2)
	}
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

// webhookFlags fills the webhook's Secret and the certificate's names from NAMESPACE/NAME flags.
func webhookFlags(o *controller.Options, secret, service string) error {
	if o.Webhook.Port == 0 {
		return nil
	}
	ns := o.LeaderElectionNS
	if secret != "" {
		var ok bool
		if ns, o.Webhook.SecretName, ok = strings.Cut(secret, "/"); !ok || ns == "" || o.Webhook.SecretName == "" {
			return fmt.Errorf("--webhook-cert-secret %q: want NAMESPACE/NAME", secret)
		}
	} else {
		o.Webhook.SecretName = "dynamo-operator-webhook-cert"
	}
	if ns == "" && o.Webhook.CertDir == "" {
		return fmt.Errorf("--webhook-port: name the Secret for the webhook's certificate (--webhook-cert-secret NAMESPACE/NAME or --leader-election-namespace), or give --webhook-cert-dir")
	}
	o.Webhook.SecretNamespace = ns
	if service != "" {
		svcNS, name, ok := strings.Cut(service, "/")
		if !ok || svcNS == "" || name == "" {
			return fmt.Errorf("--webhook-service %q: want NAMESPACE/NAME", service)
		}
		// The names the API server may use for the Service.
		o.Webhook.Identity.DNSNames = []string{name + "." + svcNS + ".svc", name + "." + svcNS + ".svc.cluster.local", name + "." + svcNS, name}
	}
	if service == "" && o.Webhook.URL == "" && o.Webhook.CertDir == "" {
		return fmt.Errorf("--webhook-port: say how the API server reaches the webhook: --webhook-service NAMESPACE/NAME or --webhook-url https://HOST:PORT")
	}
	return nil
}
