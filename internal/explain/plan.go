package explain

import (
	"fmt"
	"strings"

	"github.com/dynamo-infra/dynamo-infra/internal/capacity"
	"github.com/dynamo-infra/dynamo-infra/internal/diagnose"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/placement"
)

// Plan is what `explain -f` computed for a graph not applied yet: the placement of its GPU
// pods on the GPUs free now (preflight's fit: the same demands and first-fit placement).
type Plan struct {
	Graph  *graph.Graph
	Result placement.Result
	// GPUNodes is how many GPU nodes the placement considered.
	GPUNodes int
	Notes    []string
}

// BuildPlan explains where a graph's services would go, and for each that would not fit, why
// and what to change. Ready means every GPU pod has a place.
func BuildPlan(p Plan) Report {
	g := p.Graph
	r := Report{SchemaVersion: SchemaVersion, Notes: p.Notes, Graph: Graph{Name: g.Name, Namespace: g.Namespace, Mode: ModePlan}}
	byService := map[string]placement.ServiceResult{}
	for _, s := range p.Result.Services {
		byService[s.Service] = s
	}
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
		sr, gpu := byService[name]
		switch {
		case !gpu:
			out.Chain = append(out.Chain, Link{Kind: LinkPlacement, Summary: "asks for no GPUs: left to the scheduler (CPU and memory are not planned)"})
		case sr.Fits():
			out.Chain = append(out.Chain, Link{Kind: LinkPlacement, Summary: fmt.Sprintf("fits: %s on %s", sr.Describe(), strings.Join(sr.Nodes, ", "))})
		default:
			out.Ready = false
			out.Chain = append(out.Chain, Link{Kind: LinkPlacement, Summary: fmt.Sprintf("does not fit: %s, %d placed", sr.Describe(), sr.Placed)})
			view := planView(sr, p.GPUNodes)
			if sr.Candidates == 0 {
				out.Reason = diagnose.ReasonUnschedulable
				out.Message = "no GPU node matches its node selector, affinity and tolerations"
				out.Remediation = fmt.Sprintf("no GPU node %s may use matches its node selector, affinity and tolerations (of %d GPU nodes): correct gpuType or extraPodSpec's nodeSelector/affinity, or add a toleration for the nodes' taints", name, p.GPUNodes)
			} else {
				out.Reason = diagnose.ReasonInsufficientCapacity
				out.Message = fmt.Sprintf("%d of %d replica(s) placed, short %s", sr.Placed, sr.Replicas, placement.FormatResources(sr.Shortfall))
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

// planView is the placement's numbers for a service that did not fit, after the graph's
// other services took their share.
func planView(sr placement.ServiceResult, gpuNodes int) *nodeView {
	v := &nodeView{plan: true, listed: gpuNodes, group: int32(max(sr.GroupSize, 1)), Fit: capacity.Fit{
		Candidates: sr.Candidates, NVIDIA: true, Best: sr.LargestFreeNode, BestFree: sr.LargestFree,
		WithRoom: sr.NodesWithRoom, Having: sr.Candidates}}
	for r, q := range sr.PerPod {
		if v.Resource == "" || r < v.Resource {
			v.Resource, v.PerPod = r, q
		}
	}
	return v
}
