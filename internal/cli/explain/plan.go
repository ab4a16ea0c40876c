package explain

import (
	"context"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dynamo-infra/dynamo-infra/internal/cli/exit"
	"github.com/dynamo-infra/dynamo-infra/internal/explain"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/inventory"
	"github.com/dynamo-infra/dynamo-infra/internal/preflight"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
)

// plan explains a graph file: its GPU pods placed on the GPUs free now, by preflight's fit
// (one answer for both commands). Each GPU pod spec goes through the cluster's admission as a
// server-side dry run; nothing is created.
func (o *Options) plan(ctx context.Context, c clients) (explain.Report, error) {
	docs, err := render.ReadGraphs(o.File, o.streams.In, o.namespace)
	if err != nil {
		return explain.Report{}, exit.UsageError(fmt.Errorf("-f: %w", err))
	}
	graphs := graph.ResolveAll(docs.Graphs(), graph.Options{})
	if len(graphs) != 1 {
		return explain.Report{}, exit.UsageError(fmt.Errorf("-f %s: %d DynamoGraphDeployments; explain takes one", o.File, len(graphs)))
	}
	in, err := inventory.ListFromAPI(ctx, c.cs, "")
	if err != nil {
		return explain.Report{}, err
	}
	// Placement matches labels the inventory's trimmed nodes drop: read them whole.
	nodes, err := c.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return explain.Report{}, fmt.Errorf("list nodes: %w", err)
	}
	inv := inventory.Build(in.Nodes, in.Pods, inventory.BuildOptions{})
	fit, err := preflight.PlaceGraphs(ctx, c.cs, inv, nodes.Items, graphs, render.Config{}, o.namespace)
	if err != nil {
		return explain.Report{}, exit.UsageError(fmt.Errorf("render: %w", err))
	}
	p := explain.Plan{Graph: graphs[0], Result: fit.Result, GPUNodes: fit.GPUNodes}
	if fit.AdmissionNote != "" {
		p.Notes = append(p.Notes, "planned without the cluster's admission defaults ("+fit.AdmissionNote+")")
	}
	if fit.SearchNote != "" {
		p.Notes = append(p.Notes, fit.SearchNote)
	}
	if others := docs.Others(); len(others) > 0 {
		p.Notes = append(p.Notes, "ignored (not DynamoGraphDeployments): "+strings.Join(others, ", "))
	}
	return explain.BuildPlan(p), nil
}
