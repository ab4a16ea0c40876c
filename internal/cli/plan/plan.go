// Package plan is `dynamoctl plan`: where every pod of a graph would go on the cluster as it is
// now, what is left, and for a service that does not fit, why.
package plan

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/command"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/dgd"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/exit"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/output"
	"github.com/dynamo-infra/dynamo-infra/internal/fit"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/kube"
	"github.com/dynamo-infra/dynamo-infra/internal/plan"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
	"github.com/dynamo-infra/dynamo-infra/internal/simnode"
)

// Options are the flags and arguments of `dynamoctl plan`.
type Options struct {
	// Name is a graph on the cluster (dgd/NAME), planned as a change.
	Name string
	// File is a graph manifest not applied yet (-f; "-" for stdin).
	File string
	// Replicas are what-if replica counts, SERVICE=N.
	Replicas []string
	// AddNodes are what-if nodes of the dev cluster's kinds, KIND=COUNT.
	AddNodes []string

	namespace string
	dyn       dynamic.Interface
	replicas  map[string]int32
	added     []corev1.Node
	format    output.Format
	out       *output.Flag
	flags     *kube.ConfigFlags
	streams   genericiooptions.IOStreams
}

// NewCommand returns `dynamoctl plan`; set sees its options (tests).
func NewCommand(flags *kube.ConfigFlags, streams genericiooptions.IOStreams, set ...func(*Options)) *cobra.Command {
	o := &Options{flags: flags, streams: streams}
	for _, f := range set {
		f(o)
	}
	cmd := &cobra.Command{
		Use:   "plan dgd/NAME | -f FILE",
		Short: "Place every pod of a graph on the cluster as it is now: where, what is left, and why not",
		Long: `Plan a DynamoGraphDeployment on the cluster as it is now. Every service is rendered as the
operator renders it, its pod passed through the cluster's admission (a server-side dry run, so
default tolerations and LimitRange requests count), and every replica placed on a Ready,
schedulable node its node selector, affinity and tolerations allow, with enough free of every
resource it requests: NVIDIA GPUs, MIG devices and shared replicas (a whole-GPU pod never goes to
time-sliced replicas), CPU, memory, ephemeral storage and pod slots. A multi-node service's pods
take a node each. A topologyConstraint packs the pods in one domain (rack, NVLink clique, zone)
as the operator renders it; the plan tries the domains tightest first and says which it packs in.

Graphs of up to 64 pods on up to 500 candidate nodes are searched exactly: "does not fit" means
no placement exists. Beyond that the plan is a heuristic and says so (a service with more pods
than its candidate nodes could ever hold is proven not to fit at any size). Among placements, the
plan prefers the one that keeps whole nodes free (best fit) and reports the GPUs it strands on
partly used nodes. A plan's work is bounded by the cluster (20 million node visits at most): one
that runs out says so, and exits 1.

A graph on the cluster (dgd/NAME), or the file of a graph that runs under the same name, is planned
as a change: its own pods do not count against it.
For each GPU Deployment the plan also checks its rolling update: whether its surge pods fit beside
the old ones, and if not, whether the update proceeds or stalls.

What if: --replicas SERVICE=N changes a service's replicas (at most 150000); --add-nodes
KIND=COUNT adds nodes of a dev-cluster kind (the kinds dynamoctl dev cluster up --profile takes)
as if they had joined (at most 5000 in all).

Required pod affinity, pod anti-affinity (both ways) and topology spread are checked against the
pods they could count. Not checked: pod (anti-)affinity terms that select namespaces by label
(the plan says when a pod has them), volume topology, and pods that are Pending but not yet bound
(they hold nothing yet). A graph in a namespace that does not exist is not planned (its admission
decides where pods may go).

Exit codes: 0 every pod fits, 1 some do not (or the plan stopped, or the graph or its namespace
does not exist), 2 usage error, 3 cluster unreachable.`,
		Example: `  dynamoctl plan -f graph.yaml
  dynamoctl plan dgd/vllm-disagg -n inference
  dynamoctl plan dgd/vllm-disagg --replicas decode=4 --add-nodes h100=2 -o yaml`,
		ValidArgsFunction: dgd.ValidArgs(flags),
	}
	f := cmd.Flags()
	f.StringVarP(&o.File, "filename", "f", "", "Plan the graph in this file (not applied yet); - for stdin")
	f.StringSliceVar(&o.Replicas, "replicas", nil, "What if a service had N replicas: SERVICE=N (repeatable, comma-separated)")
	f.StringSliceVar(&o.AddNodes, "add-nodes", nil, "What if COUNT nodes of a dev-cluster kind joined: KIND=COUNT (repeatable, comma-separated)")
	_ = cmd.MarkFlagFilename("filename", "yaml", "yml", "json")
	_ = cmd.RegisterFlagCompletionFunc("add-nodes", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		var out []string
		for _, k := range simnode.NodeKindNames() {
			out = append(out, k+"=")
		}
		return out, cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
	})
	o.out = output.AddFlag(cmd, output.Table, output.Wide, output.JSON, output.YAML)
	return command.Bind(cmd, o)
}

// Complete reads the graph's name, the namespace, the format and the what-if flags.
func (o *Options) Complete(args []string) error {
	var err error
	if o.format, err = o.out.Format(); err != nil {
		return err
	}
	o.namespace = kube.Namespace(o.flags)
	if o.Name, err = dgd.ParseName("plan", args); err != nil {
		return err
	}
	o.replicas = map[string]int32{}
	for _, kv := range o.Replicas {
		svc, n, ok := strings.Cut(kv, "=")
		v, err := strconv.ParseInt(n, 10, 64)
		if !ok || svc == "" || err != nil || v < 0 {
			return fmt.Errorf("--replicas %q: want SERVICE=N, N a whole number", kv)
		}
		if v > v1alpha1.MaxPods {
			return fmt.Errorf("--replicas %q: at most %d (the most pods a Kubernetes cluster supports; the CRD's bound)", kv, v1alpha1.MaxPods)
		}
		o.replicas[svc] = int32(v)
	}
	o.added = nil
	made := map[string]int{}
	total := 0
	for _, kv := range o.AddNodes {
		name, n, ok := strings.Cut(kv, "=")
		count, err := strconv.Atoi(n)
		if !ok || err != nil || count < 1 {
			return fmt.Errorf("--add-nodes %q: want KIND=COUNT, COUNT at least 1", kv)
		}
		// What-if nodes are built whole before the plan: bounded like a cluster.
		if count > v1alpha1.MaxNodes-total {
			return fmt.Errorf("--add-nodes %q: at most %d what-if nodes in all (the most nodes a Kubernetes cluster supports)", kv, v1alpha1.MaxNodes)
		}
		total += count
		kind, found := simnode.LookupNodeKind(name)
		if !found {
			return fmt.Errorf("--add-nodes: unknown node kind %q (kinds: %s)", name, strings.Join(simnode.NodeKindNames(), ", "))
		}
		for range count {
			o.added = append(o.added, whatIfNode(kind, made[kind.Name]))
			made[kind.Name]++
		}
	}
	return nil
}

// whatIfNode is the i-th what-if node of a dev-cluster kind, Ready, as the real machine would
// join: without the simulated cluster's kwok taint; a rack kind's nodes in racks (and NVLink
// cliques) of their own, "what-if-" before the rack's and clique's names.
func whatIfNode(kind simnode.NodeKind, i int) corev1.Node {
	n := simnode.NewNode(kind, fmt.Sprintf("what-if-%s-%d", kind.Name, i), "what-if")
	if kind.RackSize > 0 {
		for k, v := range simnode.RackLabels(kind, i) {
			if k != simnode.LabelZone {
				n.Labels[k] = "what-if-" + v
			}
		}
	}
	n.Annotations = nil
	n.Spec.Taints = nil
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	return plan.TrimNode(n)
}

// Validate wants exactly one of a name or -f.
func (o *Options) Validate() error {
	switch {
	case o.Name == "" && o.File == "":
		return errors.New("say what to plan: dynamoctl plan dgd/NAME, or -f FILE")
	case o.Name != "" && o.File != "":
		return errors.New("give a graph's name or -f, not both")
	}
	return nil
}

// Run reads the graph and the cluster, plans, prints, and exits 1 when something does not fit.
func (o *Options) Run(ctx context.Context) error {
	cfg, err := kube.RESTConfig(o.flags)
	if err != nil {
		return exit.WithCode(exit.Unreachable, err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return exit.WithCode(exit.Unreachable, err)
	}
	if o.dyn, err = dynamic.NewForConfig(cfg); err != nil {
		return exit.WithCode(exit.Unreachable, err)
	}
	g, others, err := o.read(ctx)
	if err != nil {
		return dgd.Failed(ctx, err)
	}
	if g, err = g.WithReplicas(o.replicas); err != nil {
		return exit.UsageError(fmt.Errorf("--replicas: %w", err))
	}
	rep, err := fit.Graph(ctx, fit.Clients{Kube: cs, Get: o.getClusterScoped}, g, fit.GraphOptions{Added: o.added, Change: o.Name != ""})
	var graphErr *fit.GraphError
	var noNamespace *fit.MissingNamespaceError
	switch {
	case errors.As(err, &graphErr):
		return exit.UsageError(err)
	case errors.As(err, &noNamespace):
		return exit.WithCode(exit.Failure, err)
	case err != nil:
		return dgd.Failed(ctx, err)
	}
	if len(others) > 0 {
		rep.Notes = append(rep.Notes, "ignored (not DynamoGraphDeployments): "+strings.Join(others, ", "))
	}
	switch o.format {
	case output.Table, output.Wide:
		err = Print(o.streams.Out, rep, o.format == output.Wide)
	default:
		err = output.Encode(o.streams.Out, o.format, rep)
	}
	if err != nil {
		return err
	}
	if rep.Stopped {
		return exit.WithCode(exit.Failure, fmt.Errorf("%s/%s: the plan stopped at its work budget (%d pods asked for): whether it fits is not known", rep.Namespace, rep.Graph, rep.Pods()))
	}
	if !rep.Fits {
		var short []string
		for _, s := range rep.Services {
			if !s.Fits {
				short = append(short, s.Name)
			}
		}
		return exit.WithCode(exit.Failure, fmt.Errorf("%s/%s does not fit: %s", rep.Namespace, rep.Graph, strings.Join(short, ", ")))
	}
	return nil
}

// read reads the graph from -f or the cluster; others are -f's documents that are not graphs.
func (o *Options) read(ctx context.Context) (*graph.Graph, []string, error) {
	resolve := func(d *v1alpha1.DynamoGraphDeployment) *graph.Graph {
		if d.Namespace == "" {
			d.Namespace = o.namespace
		}
		g, _ := graph.Resolve(d, graph.Options{}) // the plan says why it cannot render
		return g
	}
	if o.File != "" {
		docs, err := render.ReadGraphs(o.File, o.streams.In, o.namespace)
		if err != nil {
			return nil, nil, exit.UsageError(fmt.Errorf("-f: %w", err))
		}
		graphs := docs.Graphs()
		if len(graphs) != 1 {
			return nil, nil, exit.UsageError(fmt.Errorf("-f %s: %d DynamoGraphDeployments; plan takes one", o.File, len(graphs)))
		}
		return resolve(graphs[0]), docs.Others(), nil
	}
	u, err := o.dyn.Resource(graph.Resource).Namespace(o.namespace).Get(ctx, o.Name, metav1.GetOptions{})
	if graph.IsMissing(err) {
		return nil, nil, exit.WithCode(exit.Failure, fmt.Errorf("dynamographdeployment %q not found in namespace %q", o.Name, o.namespace))
	}
	if err != nil {
		return nil, nil, err
	}
	d, err := graph.FromUnstructured(u)
	if err != nil {
		return nil, nil, err
	}
	return resolve(d), nil, nil
}

// getClusterScoped reads a ClusterTopology with the dynamic client.
func (o *Options) getClusterScoped(ctx context.Context, gvr schema.GroupVersionResource, name string) (*unstructured.Unstructured, error) {
	return o.dyn.Resource(gvr).Get(ctx, name, metav1.GetOptions{})
}
