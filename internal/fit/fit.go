// Package fit is the one answer to "does this graph fit on this cluster": `dynamoctl plan`,
// `preflight -f` (dgd-fits) and `explain -f` call Graph, which reads the cluster and plans with
// plan.Build; the operator's Schedulable condition calls plan.Build on its capacity view with the
// same demands (demand.Pods). It links client-go and the CLI's discovery check, which the
// operator does not: plan stays free of them.
package fit

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	lwsv1 "sigs.k8s.io/lws/api/leaderworkerset/v1"

	"github.com/dynamo-infra/dynamo-infra/internal/demand"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/kube"
	"github.com/dynamo-infra/dynamo-infra/internal/placement"
	"github.com/dynamo-infra/dynamo-infra/internal/plan"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
	"github.com/dynamo-infra/dynamo-infra/internal/rollout"
	"github.com/dynamo-infra/dynamo-infra/internal/topology"
)

// Clients are what Graph reads the cluster with.
type Clients struct {
	Kube kubernetes.Interface
	// Get reads a cluster-scoped object (the ClusterTopology a graph names); nil: the built-in
	// levels.
	Get topology.Getter
}

// GraphOptions are a plan's settings and what-ifs.
type GraphOptions struct {
	Render render.Config
	// Added are what-if nodes, planned as if they were Ready and empty.
	Added []corev1.Node
	// Change plans the graph as a change to the one on the cluster even when none of its pods
	// runs (plan dgd/NAME). A graph with running pods is always planned as a change.
	Change bool
}

// GraphError says the graph cannot be planned as written (a render or topology error): the
// user's to correct, not the cluster's.
type GraphError struct{ Err error }

func (e *GraphError) Error() string { return e.Err.Error() }
func (e *GraphError) Unwrap() error { return e.Err }

// MissingNamespaceError: the graph's namespace does not exist, so its admission defaults
// (tolerations, node selectors) — which decide where its pods may go — are not known.
type MissingNamespaceError struct{ Namespace string }

func (e *MissingNamespaceError) Error() string {
	return fmt.Sprintf("namespace %q does not exist: create it, then plan (its admission decides where pods may go)", e.Namespace)
}

// Graph reads the cluster and plans g on it: each service's pod through the cluster's
// admission (a server-side dry run, so its defaults count), the nodes and active pods as
// `dynamoctl gpus` reads them (the graph's own running pods given back), the ClusterTopology
// the graph names, what-if nodes added; rollout advice for its Deployments, and notes.
func Graph(ctx context.Context, c Clients, g *graph.Graph, o GraphOptions) (plan.Report, error) {
	var admissionNote string
	var missingNS bool
	admit := func(ns, _ string, spec *corev1.PodSpec) *corev1.PodSpec {
		got, err := Admitted(ctx, c.Kube, ns, spec)
		switch {
		case IsMissingNamespace(err):
			missingNS = true
			return spec
		case err != nil:
			admissionNote = "planned without the cluster's admission defaults (" + kube.OneLine(err) + ")"
			return spec
		}
		return got
	}
	cfg := o.Render
	var scopes []topology.Scope
	if g.HasTopology() {
		if name := g.TopologyProfile(); name != "" && c.Get != nil {
			p, err := topology.ReadProfile(ctx, c.Get, name)
			if err != nil {
				return plan.Report{}, err
			}
			cfg.Topology = p
		}
		var err error
		if scopes, err = g.Scopes(cfg.Topology); err != nil {
			return plan.Report{}, &GraphError{fmt.Errorf("topologyConstraint: %w", err)}
		}
	}
	// Which pods on the nodes the graph's inter-pod constraints could count: known from its
	// templates (admission does not add pod affinity), so the list keeps only those.
	pre, err := demand.Pods([]*graph.Graph{g}, cfg, nil)
	if err != nil {
		return plan.Report{}, &GraphError{fmt.Errorf("render: %w", err)}
	}
	interest := plan.Interest(pre, scopes)
	// The cluster's lists and the graph's admission dry runs at once: neither needs the other.
	var in plan.Input
	var listErr error
	listed := make(chan struct{})
	go func() {
		defer close(listed)
		in, listErr = plan.ListFromAPI(ctx, c.Kube, interest)
	}()
	demands, err := demand.Pods([]*graph.Graph{g}, cfg, admit)
	<-listed
	if err != nil {
		return plan.Report{}, &GraphError{fmt.Errorf("render: %w", err)}
	}
	if missingNS {
		// A plan without them would blame the nodes ("no node tolerates") for a missing namespace.
		return plan.Report{}, &MissingNamespaceError{Namespace: g.Namespace}
	}
	if listErr != nil {
		return plan.Report{}, listErr
	}
	in.Nodes = append(in.Nodes, o.Added...)
	own := g.Namespace + "/" + g.Name
	opts := plan.Options{Graph: g.Name, Namespace: g.Namespace, Added: len(o.Added), Surge: Surges(g, cfg), Scopes: scopes,
		InterPod: placement.InterPodAll}
	if o.Change || len(in.Graphs[own]) > 0 {
		opts.Own = own
	}
	deviceNotes, err := withDevices(ctx, c.Kube, g, opts.Own != "", demands, &in)
	if err != nil {
		return plan.Report{}, err
	}
	rep := plan.Build(demands, in, opts)
	if admissionNote != "" {
		rep.Notes = append(rep.Notes, admissionNote)
	}
	rep.Notes = append(rep.Notes, deviceNotes...)
	if g.HasMultinode() && !servesLWS(c.Kube) {
		rep.Notes = append([]string{"multi-node services run as LeaderWorkerSets (leaderworkerset.x-k8s.io/v1), which this cluster does not serve: the operator applies nothing of this graph until LeaderWorkerSet is installed (https://lws.sigs.k8s.io); placed here as they would be"}, rep.Notes...)
	}
	return rep, nil
}

// servesLWS reports whether the cluster serves LeaderWorkerSets (true when discovery cannot
// tell: no note rather than a wrong one).
func servesLWS(cs kubernetes.Interface) bool {
	ok, err := kube.Serves(cs.Discovery(), lwsv1.GroupVersion.WithResource("leaderworkersets"))
	return ok || err != nil
}

// Surges resolves each Deployment's rolling-update parameters as the operator rolls it: a
// worker's are its managed rolling update's (rollout.Bounds: the service's annotations), any
// other's its Deployment's own strategy (changed in place).
func Surges(g *graph.Graph, cfg render.Config) map[string]plan.Surge {
	out := map[string]plan.Surge{}
	for _, c := range g.Components {
		if c.Multinode() {
			continue
		}
		if c.WorkerHash != "" {
			surge, unavail := rollout.Bounds(c.Annotations, c.Replicas, false)
			out[c.Name] = plan.Surge{MaxSurge: int64(surge), MaxUnavailable: int64(unavail)}
			continue
		}
		d, err := render.Deployment(g, c, cfg)
		if err != nil || d.Spec.Strategy.RollingUpdate == nil {
			continue
		}
		replicas := int(c.Replicas)
		ru := d.Spec.Strategy.RollingUpdate
		// As the Deployment controller resolves them: surge rounds up, unavailable down.
		scaled := func(v *intstr.IntOrString, up bool) (int, error) {
			if v == nil {
				return 0, nil
			}
			return intstr.GetScaledValueFromIntOrPercent(v, replicas, up)
		}
		surge, err1 := scaled(ru.MaxSurge, true)
		unavail, err2 := scaled(ru.MaxUnavailable, false)
		if err1 == nil && err2 == nil {
			out[c.Name] = plan.Surge{MaxSurge: int64(surge), MaxUnavailable: int64(unavail)}
		}
	}
	return out
}

// IsMissingNamespace: err is the API server's answer that the namespace of the request does not
// exist (a dry run in a namespace not created yet).
func IsMissingNamespace(err error) bool {
	var status apierrors.APIStatus
	if !apierrors.IsNotFound(err) || !errors.As(err, &status) {
		return false
	}
	d := status.Status().Details
	return d != nil && d.Kind == "namespaces"
}

// Admitted sends the pod spec through the cluster's admission chain with a server-side dry
// run, so defaults added there (PodTolerationRestriction, PodNodeSelector, mutating webhooks)
// count when matching nodes. Nothing is created.
func Admitted(ctx context.Context, cs kubernetes.Interface, ns string, spec *corev1.PodSpec) (*corev1.PodSpec, error) {
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "dynamoctl-preflight-"}, Spec: *spec.DeepCopy()}
	// The graph's discovery ServiceAccount may not exist before the operator creates it, and
	// admission refuses pods of missing accounts; scheduling does not depend on it.
	pod.Spec.ServiceAccountName = ""
	got, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		return nil, err
	}
	return &got.Spec, nil
}
