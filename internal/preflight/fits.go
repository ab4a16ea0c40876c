package preflight

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/dynamo-infra/dynamo-infra/internal/fit"
	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
	"github.com/dynamo-infra/dynamo-infra/internal/placement"
	"github.com/dynamo-infra/dynamo-infra/internal/plan"
)

// checkFits plans each graph of -f with the one planner `dynamoctl plan`, `explain -f` and the
// operator's Schedulable condition use (fit.Graph): every resource, the cluster's admission,
// inter-pod rules and topology, a graph already running planned as a change (its own pods
// given back). Graphs of one file are planned one at a time.
func checkFits(ctx context.Context, e *Env) Outcome {
	inv, err := e.Inventory(ctx)
	if err != nil {
		return apiError("read nodes and pods", err)
	}
	clients := fit.Clients{Kube: e.Client}
	if e.Dynamic != nil {
		clients.Get = func(ctx context.Context, gvr schema.GroupVersionResource, name string) (*unstructured.Unstructured, error) {
			return e.Dynamic.Resource(gvr).Get(ctx, name, metav1.GetOptions{})
		}
	}
	var fits []string
	gpuServices := false
	var used int64
	for _, g := range e.Graphs {
		rep, err := fit.Graph(ctx, clients, g, fit.GraphOptions{Render: e.Render})
		var graphErr *fit.GraphError
		switch {
		case errors.As(err, &graphErr):
			return Outcome{Status: Error, Detail: graphErr.Error()}
		case err != nil:
			return Outcome{Status: Error, Detail: g.Name + ": " + err.Error()}
		}
		note := planNote(rep)
		if !rep.Fits {
			return notFits(rep, note)
		}
		var parts []string
		for _, s := range rep.Services {
			gpus := nvidiaPerPod(s)
			if len(gpus) == 0 {
				continue
			}
			gpuServices = true
			parts = append(parts, fmt.Sprintf("%s %s on %d node(s)", s.Name, s.Describe(nvidia.IsResource), len(s.Placement)))
			for _, q := range gpus {
				used = placement.AddSat(used, placement.MulSat(q, placement.MulSat(s.Replicas, max(s.GroupSize, 1))))
			}
		}
		if len(parts) > 0 {
			fits = append(fits, g.Name+" fits: "+strings.Join(parts, ", ")+note)
		} else {
			fits = append(fits, g.Name+" fits"+note)
		}
	}
	if !gpuServices {
		return Outcome{Status: Pass, Detail: strings.Join(fits, "; ") + " (no service requests GPUs)"}
	}
	return Outcome{Status: Pass, Detail: fmt.Sprintf("%s; %d of %d free GPUs used", strings.Join(fits, "; "), used, inv.Totals.Free)}
}

// notFits says which service does not fit, in numbers, and what to change. Its candidate nodes
// are those the pod may use that have the short resource at all (for GPUs: its GPU nodes).
func notFits(rep plan.Report, note string) Outcome {
	// The service placed first of those that do not fit: the most GPUs per replica (as the
	// planner orders them), then by name.
	var s plan.Service
	most := int64(-1)
	for _, svc := range rep.Services {
		if svc.Fits {
			continue
		}
		var gpus int64
		for _, q := range nvidiaPerPod(svc) {
			gpus += q
		}
		if gpus *= max(svc.GroupSize, 1); gpus > most {
			s, most = svc, gpus
		}
	}
	perPod, keep := nvidiaPerPod(s), nvidia.IsResource
	if len(perPod) == 0 {
		perPod, keep = requests(s), nil
	}
	out := Outcome{Status: Fail, DocsURL: docsBase + "dgd-fits",
		Remediation: "free or add GPUs that match the service's node selector/affinity, or lower its replicas or GPUs per pod (dynamoctl gpus shows what is free; dynamoctl plan -f shows the whole plan)"}
	short := s.Short
	switch {
	case rep.Stopped:
		out.Detail = fmt.Sprintf("%s: whether it fits is not known%s", rep.Graph, note)
	case short == nil:
		out.Detail = fmt.Sprintf("%s does not fit: %s%s", s.Name, s.Reason, note)
	case s.GroupSize > 1:
		out.Detail = fmt.Sprintf("%s does not fit: %d nodes × %s needed per replica, %d of %d replica(s) placed; %d of its %d candidate node(s) have room for one pod%s",
			s.Name, s.GroupSize, placement.FormatResources(perPod), s.Placed, s.Replicas, short.NodesWithRoom, short.NodesHaving, note)
		out.Remediation = "free or add GPU nodes that match the service's node selector/affinity (each pod of a replica needs its own node), or lower its replicas, nodeCount or GPUs per node (dynamoctl gpus shows what is free)"
	default:
		missing := map[string]int64{short.Resource: placement.MulSat(short.PerPod, s.Replicas-s.Placed)}
		out.Detail = fmt.Sprintf("%s does not fit: needs %s, %d placed, short %s; largest free block on its %d candidate node(s): %d%s",
			s.Name, s.Describe(keep), s.Placed, placement.FormatResources(missing), short.NodesHaving, short.MostFree, note)
	}
	return out
}

// planNote is what the plan says of its own answer: how sure "does not fit" is, and its notes.
func planNote(rep plan.Report) string {
	var notes []string
	switch {
	case rep.Stopped:
		notes = append(notes, fmt.Sprintf("the plan stopped at its work budget (%d node visits)", placement.DefaultWork))
	case !rep.Fits && rep.Proven:
		notes = append(notes, "no placement exists (more pods than the nodes could hold, or searched every distinct placement)")
	case !rep.Fits:
		notes = append(notes, "no placement found; beyond the exact search's reach a placement may still exist")
	}
	if rep.Mode == plan.ModeChange {
		notes = append(notes, "planned as a change: the graph's running pods given back")
	}
	for _, n := range rep.Notes {
		if strings.HasPrefix(n, "planned without the cluster's admission defaults") {
			notes = append(notes, n)
		}
	}
	if len(notes) == 0 {
		return ""
	}
	return " (" + strings.Join(notes, "; ") + ")"
}

// requests are a service's per-pod requests (the pod slot left out), in base units.
func requests(s plan.Service) map[string]int64 {
	out := map[string]int64{}
	for _, r := range slices.Sorted(maps.Keys(s.PerPod)) {
		if r == "pods" {
			continue
		}
		if q, err := resource.ParseQuantity(s.PerPod[r]); err == nil {
			out[r] = q.Value()
		}
	}
	return out
}

// nvidiaPerPod are the NVIDIA resources of a service's pod.
func nvidiaPerPod(s plan.Service) map[string]int64 {
	out := map[string]int64{}
	for r, q := range requests(s) {
		if nvidia.IsResource(r) {
			out[r] = q
		}
	}
	return out
}
