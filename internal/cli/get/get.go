// Package get is `dynamoctl get dgd`: graphs and whether they are Ready, at a glance.
package get

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/dgd"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/exit"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/output"
	"github.com/dynamo-infra/dynamo-infra/internal/kube"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
)

// Options are the flags and arguments of `dynamoctl get dgd`.
type Options struct {
	Names         []string
	AllNamespaces bool
	Selector      string
	Watch         bool

	namespace string
	format    output.Format
	out       *output.Flag
	flags     *genericclioptions.ConfigFlags
	streams   genericiooptions.IOStreams
	// now is the clock ages are computed against.
	now func() time.Time
}

// NewCommand returns `dynamoctl get`.
func NewCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{flags: flags, streams: streams, now: time.Now}
	cmd := &cobra.Command{
		Use:   "get dgd [NAME...]",
		Short: "List DynamoGraphDeployments: Ready, state, services ready, the reason, age",
		Long: `List DynamoGraphDeployments (dgd, dynamographdeployment) of the namespace (-n, else the kubeconfig
context's), of every namespace (-A), or by name, with what their status says: Ready, state
(initializing, pending, successful, failed), services with all replicas ready out of all, the
Ready condition's reason, and age. -o wide adds the backend and each service's ready replicas
(groups, for a multi-node service); -o json|yaml prints the graphs. -w keeps watching and prints
a row for every change, until Ctrl-C (exit 0).

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
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(args); err != nil {
				return exit.UsageError(err)
			}
			if err := o.Validate(); err != nil {
				return exit.UsageError(err)
			}
			return o.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "List the graphs of every namespace")
	f.StringVarP(&o.Selector, "selector", "l", "", "Only graphs matching this label selector")
	f.BoolVarP(&o.Watch, "watch", "w", false, "After listing, print a row for every change until Ctrl-C")
	o.out = output.AddFlag(cmd, output.Table, output.Wide, output.JSON, output.YAML)
	return cmd
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
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return exit.WithCode(exit.Unreachable, err)
	}
	ns := o.namespace
	if o.AllNamespaces {
		ns = metav1.NamespaceAll
	}
	client := dyn.Resource(dgd.Resource).Namespace(ns)
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
	return o.watch(ctx, client, resourceVersion)
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
			g, err := dgd.Decode(&list.Items[i])
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
		g, err := dgd.Decode(u)
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

// watch prints a row for every change of the listed graphs until ctx ends.
func (o *Options) watch(ctx context.Context, client dynamic.ResourceInterface, resourceVersion string) error {
	opts := metav1.ListOptions{LabelSelector: o.Selector, ResourceVersion: resourceVersion}
	if len(o.Names) == 1 {
		opts.FieldSelector = "metadata.name=" + o.Names[0]
	}
	w, err := client.Watch(ctx, opts)
	if err != nil {
		return dgd.Failed(ctx, err)
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil // Ctrl-C is how a watch ends
		case ev, ok := <-w.ResultChan():
			if !ok {
				return dgd.Failed(ctx, errors.New("the watch was closed by the API server"))
			}
			if ev.Type == watch.Error {
				return dgd.Failed(ctx, apierrors.FromObject(ev.Object))
			}
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			if len(o.Names) > 1 && !slices.Contains(o.Names, u.GetName()) {
				continue
			}
			g, err := dgd.Decode(u)
			if err != nil {
				return err
			}
			if err := o.printRows([]*v1alpha1.DynamoGraphDeployment{g}, false); err != nil {
				return err
			}
		}
	}
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
		rows = append(rows, Row(g, o.format == output.Wide, o.AllNamespaces, o.now()))
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
func Row(g *v1alpha1.DynamoGraphDeployment, wide, namespaces bool, now time.Time) []string {
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
		r = append(r, orDash(g.Spec.BackendFramework), replicas(g))
	}
	return r
}

// replicas lists each service's ready replicas out of those asked for (groups, for a
// multi-node service): "Decode=1/1,Frontend=1/1".
func replicas(g *v1alpha1.DynamoGraphDeployment) string {
	names := make([]string, 0, len(g.Spec.Services))
	for n := range g.Spec.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s=%d/%d", n, g.Status.Services[n].ReadyReplicas, render.Replicas(g.Spec.Services[n]))
	}
	return strings.Join(parts, ",")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
