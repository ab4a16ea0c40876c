// Package get is `dynamoctl get dgd`: graphs and whether they are Ready, at a glance.
package get

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/command"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/dgd"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/exit"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/output"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/kube"
)

// Options are the flags and arguments of `dynamoctl get dgd`.
type Options struct {
	Names         []string
	AllNamespaces bool
	Selector      string
	Watch         bool
	// WrapTransport, when set, wraps the HTTP transport of every request (tests inject a
	// watch the server ends, or one whose version is too old).
	WrapTransport func(http.RoundTripper) http.RoundTripper

	namespace string
	format    output.Format
	out       *output.Flag
	flags     *kube.ConfigFlags
	streams   genericiooptions.IOStreams
	// now is the clock ages are computed against.
	now func() time.Time
}

// NewCommand returns `dynamoctl get`; set sees its options (tests).
func NewCommand(flags *kube.ConfigFlags, streams genericiooptions.IOStreams, set ...func(*Options)) *cobra.Command {
	o := &Options{flags: flags, streams: streams, now: time.Now}
	for _, f := range set {
		f(o)
	}
	cmd := &cobra.Command{
		Use:   "get dgd [NAME...]",
		Short: "List DynamoGraphDeployments: Ready, state, services ready, the reason, age",
		Long: `List DynamoGraphDeployments (dgd, dynamographdeployment) of the namespace (-n, else the kubeconfig
context's), of every namespace (-A), or by name, with what their status says: Ready, state
(initializing, pending, successful, failed), services with all replicas ready out of all, the
Ready condition's reason, and age. -o wide adds the backend and each service's ready replicas
(groups, for a multi-node service); -o json|yaml prints the graphs. -w keeps watching and prints
a row for every change, until Ctrl-C (exit 0): when the API server ends the watch (its timeout, a
restart) it watches again from the last version seen, and lists again, printing what changed,
when that version is too old. --request-timeout bounds each request, not the watch.

Exit codes: 0 listed, 1 a named graph does not exist (the others are printed) or the cluster
serves no DynamoGraphDeployments, 2 usage error, 3 cluster unreachable.`,
		Example: `  dynamoctl get dgd
  dynamoctl get dgd -A -o wide
  dynamoctl get dgd qwen-disagg -o yaml
  dynamoctl get dgd -w`,
		ValidArgsFunction: func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 0 {
				return dgd.ResourceNames, cobra.ShellCompDirectiveNoFileComp
			}
			return dgd.CompleteNames(cmd.Context(), flags), cobra.ShellCompDirectiveNoFileComp
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "List the graphs of every namespace")
	f.StringVarP(&o.Selector, "selector", "l", "", "Only graphs matching this label selector")
	f.BoolVarP(&o.Watch, "watch", "w", false, "After listing, print a row for every change until Ctrl-C")
	o.out = output.AddFlag(cmd, output.Table, output.Wide, output.JSON, output.YAML)
	return command.Bind(cmd, o)
}

// Complete reads the resource type and names from args and resolves the namespace and format.
func (o *Options) Complete(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("say what to get: dynamoctl get dgd [NAME...]")
	}
	if !slices.Contains(dgd.ResourceNames, strings.ToLower(args[0])) {
		return fmt.Errorf("unknown resource type %q: dynamoctl get lists DynamoGraphDeployments (dgd)", args[0])
	}
	o.Names = args[1:]
	o.namespace = kube.Namespace(o.flags)
	var err error
	o.format, err = o.out.Format()
	return err
}

// Validate refuses combinations kubectl refuses too.
func (o *Options) Validate() error {
	if o.AllNamespaces && len(o.Names) > 0 {
		return errors.New("a graph cannot be retrieved by name across all namespaces: give -n instead of -A")
	}
	if len(o.Names) > 0 && o.Selector != "" {
		return errors.New("names and a label selector (-l) cannot be given together")
	}
	return nil
}

// Run lists (or gets) the graphs, prints them, and with -w prints every change after.
func (o *Options) Run(ctx context.Context) error {
	cfg, err := kube.RESTConfig(o.flags)
	if err != nil {
		return exit.WithCode(exit.Unreachable, err)
	}
	if o.WrapTransport != nil {
		cfg.Wrap(o.WrapTransport)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return exit.WithCode(exit.Unreachable, err)
	}
	ns := o.namespace
	if o.AllNamespaces {
		ns = metav1.NamespaceAll
	}
	client := dyn.Resource(graph.Resource).Namespace(ns)
	graphs, resourceVersion, err := o.read(ctx, client)
	if err != nil {
		return dgd.Failed(ctx, err)
	}
	if err := o.print(graphs); err != nil {
		return err
	}
	if !o.Watch {
		return nil
	}
	// A watch is a long request: --request-timeout bounds its start, not its life.
	wcfg := rest.CopyConfig(cfg)
	wcfg.Timeout = 0
	wdyn, err := dynamic.NewForConfig(wcfg)
	if err != nil {
		return exit.WithCode(exit.Unreachable, err)
	}
	return o.watch(ctx, client, wdyn.Resource(graph.Resource).Namespace(ns), resourceVersion, graphs)
}

// read gets the named graphs, or lists them; a missing name is an error after the others.
func (o *Options) read(ctx context.Context, client dynamic.ResourceInterface) ([]*v1alpha1.DynamoGraphDeployment, string, error) {
	if len(o.Names) == 0 {
		list, err := client.List(ctx, metav1.ListOptions{LabelSelector: o.Selector})
		if err != nil {
			return nil, "", err
		}
		var out []*v1alpha1.DynamoGraphDeployment
		for i := range list.Items {
			g, err := graph.FromUnstructured(&list.Items[i])
			if err != nil {
				return nil, "", err
			}
			out = append(out, g)
		}
		return out, list.GetResourceVersion(), nil
	}
	var out []*v1alpha1.DynamoGraphDeployment
	var missing []error
	for _, name := range o.Names {
		u, err := client.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			missing = append(missing, fmt.Errorf("dynamographdeployment %q not found in namespace %q", name, o.namespace))
			continue
		}
		if err != nil {
			return nil, "", err
		}
		g, err := graph.FromUnstructured(u)
		if err != nil {
			return nil, "", err
		}
		out = append(out, g)
	}
	if len(missing) > 0 {
		// What was found is still printed (as kubectl does), then the command fails.
		if err := o.print(out); err != nil {
			return nil, "", err
		}
		return nil, "", exit.WithCode(exit.Failure, errors.Join(missing...))
	}
	return out, "", nil
}

// watch prints a row for every change of the listed graphs until ctx ends. The API server ends
// watches routinely (its timeout, a restart, a load balancer's idle limit): it watches again
// from the last resource version it saw, and when that version is too old (410 Gone) lists
// again and prints the graphs that changed meanwhile — as kubectl's informers do.
func (o *Options) watch(ctx context.Context, client, watcher dynamic.ResourceInterface, resourceVersion string, listed []*v1alpha1.DynamoGraphDeployment) error {
	opts := metav1.ListOptions{LabelSelector: o.Selector}
	if len(o.Names) == 1 {
		opts.FieldSelector = "metadata.name=" + o.Names[0]
	}
	printed := map[types.UID]string{} // the resource version last printed, per graph
	for _, g := range listed {
		printed[g.UID] = g.ResourceVersion
	}
	if resourceVersion == "" {
		// Graphs got by name: watch from the collection's version.
		list, err := client.List(ctx, opts)
		if err != nil {
			return dgd.Failed(ctx, err)
		}
		resourceVersion = list.GetResourceVersion()
		for i := range list.Items {
			if err := o.printChange(&list.Items[i], printed); err != nil { // changed since the get
				return err
			}
		}
	}
	lw := &cache.ListWatch{WatchFuncWithContext: func(ctx context.Context, lo metav1.ListOptions) (watch.Interface, error) {
		lo.LabelSelector, lo.FieldSelector = opts.LabelSelector, opts.FieldSelector
		return watcher.Watch(ctx, lo)
	}}
	for {
		w, err := watchtools.NewRetryWatcherWithContext(ctx, resourceVersion, lw)
		if err != nil {
			return dgd.Failed(ctx, err)
		}
		gone, err := o.printEvents(ctx, w, printed)
		w.Stop()
		<-w.Done()
		if !gone || err != nil {
			return err
		}
		list, err := client.List(ctx, opts)
		if err != nil {
			return dgd.Failed(ctx, err)
		}
		resourceVersion = list.GetResourceVersion()
		for i := range list.Items {
			if err := o.printChange(&list.Items[i], printed); err != nil {
				return err
			}
		}
	}
}

// printEvents prints a row per event until ctx ends (nil), the watch's version is too old
// (gone), or the watch fails for good (an error: permission withdrawn, say).
func (o *Options) printEvents(ctx context.Context, w watch.Interface, printed map[types.UID]string) (gone bool, err error) {
	for {
		select {
		case <-ctx.Done():
			return false, nil // Ctrl-C is how a watch ends
		case ev, ok := <-w.ResultChan():
			if !ok {
				if ctx.Err() != nil {
					return false, nil
				}
				return false, dgd.Failed(ctx, errors.New("the watch ended"))
			}
			if ev.Type == watch.Error {
				err := apierrors.FromObject(ev.Object)
				if apierrors.IsGone(err) || apierrors.IsResourceExpired(err) {
					return true, nil
				}
				return false, dgd.Failed(ctx, err)
			}
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			if err := o.printChange(u, printed); err != nil {
				return false, err
			}
		}
	}
}

// printChange prints a graph's row unless that version was printed already (a list after a
// lost watch repeats graphs that did not change).
func (o *Options) printChange(u *unstructured.Unstructured, printed map[types.UID]string) error {
	if len(o.Names) > 1 && !slices.Contains(o.Names, u.GetName()) {
		return nil
	}
	if printed[u.GetUID()] == u.GetResourceVersion() {
		return nil
	}
	printed[u.GetUID()] = u.GetResourceVersion()
	g, err := graph.FromUnstructured(u)
	if err != nil {
		return err
	}
	return o.printRows([]*v1alpha1.DynamoGraphDeployment{g}, false)
}

// print writes the graphs in the chosen format; a table with its header.
func (o *Options) print(graphs []*v1alpha1.DynamoGraphDeployment) error {
	switch o.format {
	case output.JSON, output.YAML:
		items := make([]any, len(graphs))
		for i, g := range graphs {
			g.APIVersion, g.Kind = v1alpha1.GroupVersion.String(), "DynamoGraphDeployment"
			items[i] = g
		}
		if len(o.Names) == 1 && len(graphs) == 1 {
			return output.Encode(o.streams.Out, o.format, items[0])
		}
		return output.Encode(o.streams.Out, o.format, map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
	}
	if len(graphs) == 0 && !o.Watch {
		where := "namespace " + o.namespace
		if o.AllNamespaces {
			where = "any namespace"
		}
		_, err := fmt.Fprintf(o.streams.ErrOut, "No DynamoGraphDeployments found in %s.\n", where)
		return err
	}
	return o.printRows(graphs, true)
}

// printRows writes table rows (with the header when asked).
func (o *Options) printRows(graphs []*v1alpha1.DynamoGraphDeployment, header bool) error {
	if o.format == output.JSON || o.format == output.YAML {
		for _, g := range graphs {
			g.APIVersion, g.Kind = v1alpha1.GroupVersion.String(), "DynamoGraphDeployment"
			if err := output.Encode(o.streams.Out, o.format, g); err != nil {
				return err
			}
		}
		return nil
	}
	rows := make([][]string, 0, len(graphs))
	for _, g := range graphs {
		rg, _ := graph.Resolve(g, graph.Options{}) // a row reads status and replicas, which any stored graph has
		rows = append(rows, Row(rg, o.format == output.Wide, o.AllNamespaces, o.now()))
	}
	if header {
		return output.WriteTable(o.streams.Out, Header(o.format == output.Wide, o.AllNamespaces), rows)
	}
	// A watch's rows line up with the first table only roughly, as kubectl's do.
	for _, r := range rows {
		if _, err := fmt.Fprintln(o.streams.Out, strings.Join(r, "   ")); err != nil {
			return err
		}
	}
	return nil
}

// Header is the table's columns.
func Header(wide, namespaces bool) []string {
	h := []string{"NAME", "READY", "STATE", "SERVICES", "REASON", "AGE"}
	if namespaces {
		h = append([]string{"NAMESPACE"}, h...)
	}
	if wide {
		h = append(h, "BACKEND", "REPLICAS")
	}
	return h
}

// Row is one graph's line: what its status says. A graph the operator has not reported on yet
// shows "-" (as kubectl shows an empty column as <none>).
func Row(g *graph.Graph, wide, namespaces bool, now time.Time) []string {
	ready, reason := "-", "-"
	if c := meta.FindStatusCondition(g.Status.Conditions, "Ready"); c != nil {
		ready, reason = string(c.Status), c.Reason
	}
	r := []string{g.Name, ready, orDash(g.Status.State), orDash(g.Status.ReadyServices), reason,
		duration.HumanDuration(now.Sub(g.CreationTimestamp.Time))}
	if namespaces {
		r = append([]string{g.Namespace}, r...)
	}
	if wide {
		r = append(r, orDash(g.Backend), replicas(g))
	}
	return r
}

// replicas lists each service's ready replicas out of those asked for (groups, for a
// multi-node service): "Decode=1/1,Frontend=1/1".
func replicas(g *graph.Graph) string {
	parts := make([]string, len(g.Components))
	for i, c := range g.Components {
		parts[i] = fmt.Sprintf("%s=%d/%d", c.Name, g.Status.Services[c.Name].ReadyReplicas, c.Replicas)
	}
	return strings.Join(parts, ",")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
