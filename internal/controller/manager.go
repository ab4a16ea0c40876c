package controller

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/trace"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	lwsv1 "sigs.k8s.io/lws/api/leaderworkerset/v1"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/api/v1beta1"
	"github.com/dynamo-infra/dynamo-infra/internal/capacity"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
	"github.com/dynamo-infra/dynamo-infra/internal/webhook"
)

// Options configure the operator's manager.
type Options struct {
	Render             render.Config
	Graph              graph.Options
	MetricsBindAddress string
	// SecureMetrics serves metrics over HTTPS to callers the API server authenticates (a
	// TokenReview) and authorizes (a SubjectAccessReview for GET on the /metrics path).
	SecureMetrics bool
	// MetricsCertDir holds tls.crt and tls.key for the secure endpoint; empty or missing files:
	// a self-signed certificate made at start.
	MetricsCertDir         string
	HealthProbeBindAddress string
	// PprofBindAddress serves net/http/pprof (empty or "0": off): heap and CPU profiles of a
	// running operator.
	PprofBindAddress string
	LeaderElection   bool
	LeaderElectionID string
	LeaderElectionNS string
	// LeaseDuration, RenewDeadline and RetryPeriod tune the election (zero: controller-runtime's
	// 15 s, 10 s, 2 s). A standby takes over at most LeaseDuration after the leader stops
	// renewing.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// WatchNamespace restricts the operator to one namespace; empty means all.
	WatchNamespace string
	// MaxConcurrentReconciles is how many graphs are reconciled at once (default 1).
	MaxConcurrentReconciles int
	// TracerProvider traces reconciles (nil: no traces); see internal/tracing.
	TracerProvider trace.TracerProvider
	// CapacityRefresh is how old the capacity view's snapshot of nodes and what their pods
	// request may get (it is read when a graph's change adds pods, or a graph is short or has a
	// pod refused: status.services[].capacity, Schedulable); 0: no view, the status goes without
	// either.
	CapacityRefresh time.Duration
	// PlacementRefresh is how often a graph with a topology constraint is verified where
	// nothing it watches changed (0: DefaultPlacementRefresh).
	PlacementRefresh time.Duration
	// SkipControllerNameValidation lets tests run several managers in one process.
	SkipControllerNameValidation bool
	// Webhook is the conversion and validating webhook server (Port 0: none).
	Webhook webhook.Options
}

// Scheme holds the kinds the operator reads and writes.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(v1alpha1.AddToScheme(s))
	utilruntime.Must(v1beta1.AddToScheme(s))
	utilruntime.Must(lwsv1.AddToScheme(s))
	return s
}

// NewManager builds the manager with the DGD reconciler, health checks and metrics. Its caches
// hold only objects the operator manages (by label), never every Pod or Deployment of the
// cluster.
func NewManager(cfg *rest.Config, o Options) (ctrl.Manager, error) {
	owned := labels.SelectorFromSet(labels.Set{v1alpha1.LabelManagedBy: render.ManagedBy})
	byObject := map[client.Object]cache.ByObject{}
	// managedFields are a third of a Deployment's size: the cache keeps only which other
	// writers own part of a child's spec (a manual edit, reverted; see drift.go).
	lws, err := serves(cfg, lwsv1.GroupVersion.String(), "LeaderWorkerSet")
	if err != nil {
		return nil, err
	}
	adapters, err := serves(cfg, v1beta1.GroupVersion.String(), "DynamoGraphDeploymentScalingAdapter")
	if err != nil {
		return nil, err
	}
	istio, err := serves(cfg, render.VirtualServiceGVK.GroupVersion().String(), render.VirtualServiceGVK.Kind)
	if err != nil {
		return nil, err
	}
	pools, err := serves(cfg, render.InferencePoolGVK.GroupVersion().String(), render.InferencePoolGVK.Kind)
	if err != nil {
		return nil, err
	}
	models, err := serves(cfg, v1beta1.GroupVersion.String(), "DynamoModel")
	if err != nil {
		return nil, err
	}
	for _, k := range served(optionalAPIs{LWS: lws, Adapters: adapters, Istio: istio, InferencePools: pools}) {
		byObject[k.New()] = cache.ByObject{Label: owned, Transform: noteForeignManagers}
	}
	byObject[&corev1.Pod{}] = cache.ByObject{Label: owned, Transform: TrimPod}
	// The endpoint slices of base models' Services only (DynamoModels load LoRAs on them).
	if models {
		hasModel, _ := labels.NewRequirement(v1alpha1.LabelBaseModelHash, selection.Exists, nil)
		byObject[&discoveryv1.EndpointSlice{}] = cache.ByObject{Label: labels.NewSelector().Add(*hasModel)}
	}
	// managedFields are a third of a Deployment's size and nothing here reads them.
	cacheOpts := cache.Options{ByObject: byObject, DefaultTransform: cache.TransformStripManagedFields()}
	if o.WatchNamespace != "" {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{o.WatchNamespace: {}}
	}
	if o.LeaderElectionID == "" {
		o.LeaderElectionID = "dynamo-operator.nvidia.com"
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  Scheme(),
		Cache:                   cacheOpts,
		Metrics:                 metricsOptions(o),
		HealthProbeBindAddress:  o.HealthProbeBindAddress,
		PprofBindAddress:        o.PprofBindAddress,
		LeaderElection:          o.LeaderElection,
		LeaderElectionID:        o.LeaderElectionID,
		LeaderElectionNamespace: o.LeaderElectionNS,
		// A leader stopped by a signal gives the Lease up at once: a rollout hands over in
		// a retry period, not a lease duration. Safe because main exits once Start returns.
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 durationOrNil(o.LeaseDuration),
		RenewDeadline:                 durationOrNil(o.RenewDeadline),
		RetryPeriod:                   durationOrNil(o.RetryPeriod),
		// Referenced PVCs the graph did not create carry no label of ours: read them directly.
		Client:     client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.PersistentVolumeClaim{}}}},
		Controller: config.Controller{SkipNameValidation: &o.SkipControllerNameValidation},
	})
	if err != nil {
		return nil, fmt.Errorf("create manager: %w", err)
	}
	// The names of every object of a child kind (childKinds; nameOnly), read on the first Get
	// of each kind, in a cache of its own: the main cache holds only our
	// labelled objects, and a child about to be created must not take a name that is taken.
	names, err := cache.New(cfg, cache.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(), HTTPClient: mgr.GetHTTPClient(),
		DefaultNamespaces: cacheOpts.DefaultNamespaces, DefaultTransform: nameOnly})
	if err != nil {
		return nil, fmt.Errorf("create the names cache: %w", err)
	}
	if err := mgr.Add(namesCache{names}); err != nil {
		return nil, err
	}
	r := &Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Names: names, Config: o.Render, Graph: o.Graph, Recorder: mgr.GetEventRecorder("dynamo-operator"),
		MaxConcurrentReconciles: o.MaxConcurrentReconciles, LWS: lws, Adapters: adapters, Istio: istio, InferencePools: pools, PlacementRefresh: o.PlacementRefresh}
	if o.TracerProvider != nil {
		r.Tracer = o.TracerProvider.Tracer(TracerName)
	}
	if o.CapacityRefresh > 0 {
		if r.Capacity, err = newCapacityView(cfg, o.CapacityRefresh); err != nil {
			return nil, err
		}
		if err := mgr.Add(r.Capacity); err != nil {
			return nil, err
		}
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("set up controller: %w", err)
	}
	if models {
		mr := &ModelReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("dynamo-operator")}
		if err := mr.SetupWithManager(mgr); err != nil {
			return nil, fmt.Errorf("set up the DynamoModel controller: %w", err)
		}
	}
	if adapters {
		ar := &AdapterReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("dynamo-operator")}
		if err := ar.SetupWithManager(mgr); err != nil {
			return nil, fmt.Errorf("set up the scaling adapter controller: %w", err)
		}
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, err
	}
	if o.Webhook.Port != 0 {
		wh, err := webhook.New(cfg, o.Webhook)
		if err != nil {
			return nil, fmt.Errorf("webhook server: %w", err)
		}
		if err := mgr.Add(wh); err != nil {
			return nil, err
		}
		// A replica that cannot convert yet takes no traffic from the webhook's Service.
		if err := mgr.AddReadyzCheck("webhook", wh.Ready); err != nil {
			return nil, err
		}
	}
	return mgr, nil
}

// newCapacityView reads nodes and pods with a clientset of its own, in protobuf (a third of
// JSON's work on thousands of nodes), page by page, never cached.
func newCapacityView(cfg *rest.Config, maxAge time.Duration) (*capacity.View, error) {
	pcfg := rest.CopyConfig(cfg)
	pcfg.ContentType = runtime.ContentTypeProtobuf
	pcfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	cs, err := kubernetes.NewForConfig(pcfg)
	if err != nil {
		return nil, fmt.Errorf("capacity view client: %w", err)
	}
	logger := ctrl.Log.WithName("capacity")
	return &capacity.View{
		Read: func(ctx context.Context) (*capacity.Snapshot, error) {
			return capacity.ReadSnapshot(ctx, cs, time.Now())
		},
		MaxAge:  maxAge,
		Timeout: 2 * time.Minute,
		Log: func(err error, disabled bool) {
			if disabled {
				logger.Info("capacity view off: the operator may not list nodes or pods cluster-wide; status.services[].capacity stays empty", "error", err.Error())
				return
			}
			logger.Error(err, "read the capacity view")
		},
	}, nil
}

// serves asks the API server, once at start (as the original operator detects its
// orchestrators), whether it serves kind in groupVersion: LeaderWorkerSets, scaling adapters.
// Installing one later takes an operator restart.
func serves(cfg *rest.Config, groupVersion, kind string) (bool, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return false, fmt.Errorf("discovery client: %w", err)
	}
	list, err := dc.ServerResourcesForGroupVersion(groupVersion)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("discover %s: %w", groupVersion, err)
	}
	for _, r := range list.APIResources {
		if r.Kind == kind {
			return true, nil
		}
	}
	return false, nil
}

func durationOrNil(d time.Duration) *time.Duration {
	if d == 0 {
		return nil
	}
	return &d
}

// metricsOptions serves the metrics endpoint as plain HTTP, or, with SecureMetrics, over TLS
// behind controller-runtime's authentication and authorization filter.
func metricsOptions(o Options) metricsserver.Options {
	m := metricsserver.Options{BindAddress: o.MetricsBindAddress}
	if o.SecureMetrics {
		m.SecureServing = true
		m.CertDir = o.MetricsCertDir
		m.FilterProvider = filters.WithAuthenticationAndAuthorization
		// HTTP/2 off: its stream handling is a denial-of-service surface (CVE-2023-44487,
		// CVE-2023-39325) that a metrics endpoint does not need.
		m.TLSOpts = []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }}
	}
	return m
}

// TrimPod reduces a cached Pod to what the status explains from it: identity, labels, phase,
// where a pod not placed yet may go (node selector, node affinity, tolerations), the
// PodScheduled condition, the waiting reasons of containers, whether each runs, has started
// and is ready, and how each last ended. A graph's pods are its
// largest cached kind; the spec alone is most of each.
func TrimPod(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	t := &corev1.Pod{
		TypeMeta: p.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, UID: p.UID, ResourceVersion: p.ResourceVersion,
			Labels: p.Labels, OwnerReferences: p.OwnerReferences, DeletionTimestamp: p.DeletionTimestamp},
		Status: corev1.PodStatus{Phase: p.Status.Phase},
	}
	// Which restart a pod runs: a restart moves on once every pod of a service runs its id.
	if v, ok := p.Annotations[v1alpha1.AnnotationRestartAt]; ok {
		t.Annotations = map[string]string{v1alpha1.AnnotationRestartAt: v}
	}
	// Where a placed pod runs: a topology constraint is verified against its node.
	t.Spec.NodeName = p.Spec.NodeName
	// Where the pod may go, as admitted (admission adds tolerations the template does not have,
	// e.g. ExtendedResourceToleration's for GPU taints, or a cluster's default ones): the
	// capacity view counts the nodes it may use, the Schedulable plan places with it. Only the
	// operator's own pods are cached, so keeping these for placed pods costs little.
	t.Spec.NodeSelector, t.Spec.Tolerations = p.Spec.NodeSelector, p.Spec.Tolerations
	if p.Spec.Affinity != nil && p.Spec.Affinity.NodeAffinity != nil {
		t.Spec.Affinity = &corev1.Affinity{NodeAffinity: p.Spec.Affinity.NodeAffinity}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled {
			// When it was bound says whether a capacity snapshot counted it (ownUsage).
			t.Status.Conditions = append(t.Status.Conditions, corev1.PodCondition{Type: c.Type, Status: c.Status, Reason: c.Reason, Message: c.Message,
				LastTransitionTime: c.LastTransitionTime})
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		s := corev1.ContainerStatus{Name: cs.Name, Ready: cs.Ready, Started: cs.Started}
		if cs.State.Running != nil {
			s.State.Running = &corev1.ContainerStateRunning{}
		}
		if w := cs.State.Waiting; w != nil {
			s.State.Waiting = &corev1.ContainerStateWaiting{Reason: w.Reason}
		}
		if t := cs.LastTerminationState.Terminated; t != nil {
			s.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: t.ExitCode, Reason: t.Reason}
		}
		t.Status.ContainerStatuses = append(t.Status.ContainerStatuses, s)
	}
	return t, nil
}

// nameOnly keeps of an object in the names cache what says its name is taken — namespace, name,
// UID and resourceVersion — and none of its labels, annotations or owners: the cache holds every
// object of the child kinds in the cluster (every ConfigMap, Deployment, Service, …), and
// getLive asks it only whether a name exists.
func nameOnly(obj any) (any, error) {
	if m, ok := obj.(*metav1.PartialObjectMetadata); ok {
		m.ObjectMeta = metav1.ObjectMeta{Namespace: m.Namespace, Name: m.Name, UID: m.UID, ResourceVersion: m.ResourceVersion}
	}
	return obj, nil
}

// namesCache runs a second cache with the manager's caches (started and synced before the
// controller runs), not among its other runnables.
type namesCache struct{ cache.Cache }

// GetCache puts it in the manager's group of caches.
func (n namesCache) GetCache() cache.Cache { return n.Cache }
