package explain

import (
	"context"
	"errors"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/dynamo-infra/dynamo-infra/internal/cli/exit"
	"github.com/dynamo-infra/dynamo-infra/internal/explain"
	"github.com/dynamo-infra/dynamo-infra/internal/fit"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
)

// plan explains a graph file from its plan on the cluster as it is now: the one planner
// `dynamoctl plan`, `preflight -f` and the operator's Schedulable condition use (fit.Graph), so
// the commands give one verdict. Each pod spec goes through the cluster's admission as a
// server-side dry run; nothing is created.
func (o *Options) plan(ctx context.Context, c explain.Clients) (explain.Report, error) {
	docs, err := render.ReadGraphs(o.File, o.streams.In, o.namespace)
	if err != nil {
		return explain.Report{}, exit.UsageError(fmt.Errorf("-f: %w", err))
	}
	graphs := graph.ResolveAll(docs.Graphs(), graph.Options{})
	if len(graphs) != 1 {
		return explain.Report{}, exit.UsageError(fmt.Errorf("-f %s: %d DynamoGraphDeployments; explain takes one", o.File, len(graphs)))
	}
	get := func(ctx context.Context, gvr schema.GroupVersionResource, name string) (*unstructured.Unstructured, error) {
		return c.Dynamic.Resource(gvr).Get(ctx, name, metav1.GetOptions{})
	}
	rep, err := fit.Graph(ctx, fit.Clients{Kube: c.Kube, Get: get}, graphs[0], fit.GraphOptions{})
	var graphErr *fit.GraphError
	var noNamespace *fit.MissingNamespaceError
	switch {
	case errors.As(err, &graphErr):
		return explain.Report{}, exit.UsageError(err)
	case errors.As(err, &noNamespace):
		return explain.Report{}, exit.WithCode(exit.Failure, err)
	case err != nil:
		return explain.Report{}, err
	}
	p := explain.Plan{Graph: graphs[0], Report: rep, Notes: rep.Notes}
	if rep.Stopped {
		p.Notes = append(p.Notes, "the plan stopped at its work budget: pods not weighed count as not placed")
	}
	if others := docs.Others(); len(others) > 0 {
		p.Notes = append(p.Notes, "ignored (not DynamoGraphDeployments): "+strings.Join(others, ", "))
	}
	return explain.BuildPlan(p), nil
}
