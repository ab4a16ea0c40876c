package fit

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/devices"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/placement"
	"github.com/dynamo-infra/dynamo-infra/internal/plan"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
)

// withDevices plans DRA claims (devices.Apply), reading the cluster's DRA objects only when a
// demand's pod has claims. For a change (own: "namespace/name"), the claims of the graph's
// running pods give their devices back.
func withDevices(ctx context.Context, cs kubernetes.Interface, g *graph.Graph, own bool, demands []placement.Demand, in *plan.Input) ([]string, error) {
	if !devices.HasClaims(demands) {
		return nil, nil
	}
	o, err := devices.Read(ctx, devices.ListFrom(cs), g.Namespace)
	if err != nil {
		return nil, err
	}
	o.WithTemplates(render.ClaimTemplates(g))
	if own {
		pods, err := cs.CoreV1().Pods(g.Namespace).List(ctx, metav1.ListOptions{
			LabelSelector: labels.SelectorFromSet(labels.Set{v1alpha1.LabelGraphDeploymentName: g.Name}).String()})
		if err != nil {
			return nil, fmt.Errorf("list the graph's pods: %w", err)
		}
		names := map[string]bool{}
		for _, p := range pods.Items {
			names[p.Name] = true
		}
		o.Own = devices.OwnedByPods(g.Namespace, names)
	}
	nodes, notes, err := devices.Apply(ctx, o, demands, in.Nodes)
	if err != nil {
		return nil, &GraphError{err}
	}
	in.Nodes = nodes
	return notes, nil
}
