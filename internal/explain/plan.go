package explain

import (
	"fmt"
	"strings"

	"github.com/dynamo-infra/dynamo-infra/internal/capacity"
	"github.com/dynamo-infra/dynamo-infra/internal/diagnose"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
	"github.com/dynamo-infra/dynamo-infra/internal/placement"
	"github.com/dynamo-infra/dynamo-infra/internal/plan"
)

// Plan is what `explain -f` computed for a graph not applied yet: its plan on the cluster as
// it is now, by the one planner `dynamoctl plan`, `preflight -f` and the operator use (fit.Graph).
type Plan struct {
	Graph  *graph.Graph
	Report plan.Report
	Notes  []string
}

// BuildPlan explains where a graph's services would go, and for each that would not fit, why
// and what to change. Ready means every pod has a place.
func BuildPlan(p Plan) Report {
	g := p.Graph
	r := Report{SchemaVersion: SchemaVersion, Notes: p.Notes, Graph: Graph{Name: g.Name, Namespace: g.Namespace, Mode: ModePlan}}
	byService := map[string]plan.Service{}
	for _, s := range p.Report.Services {
		byService[s.Name] = s
	}
	nodes := p.Report.Cluster.Nodes
	fits := 0
	for _, c := range g.Components {
		name := c.Name
		out := Service{Name: name, Ready: true}
		out.Chain = append(out.Chain, serviceLink(c))
		kind := LinkDeployment
		if c.Multinode() {
			kind = LinkLeaderWorkerSet
		}
		out.Chain = append(out.Chain, Link{Kind: kind, Name: c.WorkloadName, Summary: "would be created"})
		sr, planned := byService[name]
		switch {
		case !planned:
			out.Chain = append(out.Chain, Link{Kind: LinkPlacement, Summary: "not planned: it asks for nothing the planner counts"})
		case sr.Fits:
			var on []string
			for _, n := range sr.Placement {
				on = append(on, n.Node)
			}
			out.Chain = append(out.Chain, Link{Kind: LinkPlacement, Summary: fmt.Sprintf("fits: %s on %s", sr.Describe(nil), strings.Join(on, ", "))})
		default:
			out.Ready = false
			out.Chain = append(out.Chain, Link{Kind: LinkPlacement, Summary: fmt.Sprintf("does not fit: %s, %d placed", sr.Describe(nil), sr.Placed)})
			if sr.CandidateNodes == 0 || sr.Short == nil {
				out.Reason = diagnose.ReasonUnschedulable
				out.Message = "no node matches its node selector, affinity and tolerations"
				out.Remediation = fmt.Sprintf("no node %s may use matches its node selector, affinity and tolerations (of %d nodes): correct gpuType or extraPodSpec's nodeSelector/affinity, or add a toleration for the nodes' taints", name, nodes)
			} else {
				view := planView(sr, nodes)
				out.Reason = diagnose.ReasonInsufficientCapacity
				out.Message = fmt.Sprintf("%d of %d replica(s) placed, short %s", sr.Placed, sr.Replicas,
					placement.FormatResources(map[string]int64{sr.Short.Resource: placement.MulSat(sr.Short.PerPod, placement.MulSat(sr.Replicas-sr.Placed, max(sr.GroupSize, 1)))}))
				out.Chain = append(out.Chain, view.link())
				out.Remediation = capacityRemedy(name, view)
			}
		}
		if out.Ready {
			fits++
		}
		r.Services = append(r.Services, out)
	}
	r.Graph.ReadyServices = fmt.Sprintf("%d/%d", fits, len(r.Services))
	r.Graph.Ready = fits == len(r.Services)
	return r
}

// planView is the plan's numbers for a service that did not fit, after the graph's other
// services took their share.
func planView(sr plan.Service, nodes int) *nodeView {
	sh := sr.Short
	return &nodeView{plan: true, listed: nodes, group: int32(max(sr.GroupSize, 1)), short: sr.CandidateNodes - sh.NodesWithRoom, Fit: capacity.Fit{
		Resource: sh.Resource, PerPod: sh.PerPod, PerPodText: sr.PerPod[sh.Resource], Candidates: sr.CandidateNodes, NVIDIA: nvidia.IsResource(sh.Resource),
		Best: sh.MostFreeNode, BestFree: sh.MostFree, WithRoom: sh.NodesWithRoom, Having: sh.NodesHaving}}
}
