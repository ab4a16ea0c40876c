package preflight

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/dynamo-infra/dynamo-infra/internal/demand"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/inventory"
	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
	"github.com/dynamo-infra/dynamo-infra/internal/placement"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
)

// Capacity turns the inventory into placement nodes: Ready, schedulable GPU nodes with their
// free NVIDIA resources. Time-sliced or MPS replicas advertised as nvidia.com/gpu are marked
// shared: they hold demands that ask for shared GPUs only.
func Capacity(inv inventory.Inventory, nodes []corev1.Node) []placement.Node {
	byName := map[string]*corev1.Node{}
	for i := range nodes {
		byName[nodes[i].Name] = &nodes[i]
	}
	var out []placement.Node
	for _, n := range inv.Nodes {
		node := byName[n.Name]
		if node == nil || !n.Ready || n.Unschedulable {
			continue
		}
		free := map[string]int64{}
		for _, r := range n.Resources {
			free[r.Name] = max(r.Free, 0)
		}
		pn := placement.Node{Node: node, Free: free}
		if n.Unit() == inventory.UnitReplica && n.Sharing.Resource == nvidia.ResourceGPU {
			pn.Shared = []string{nvidia.ResourceGPU}
		}
		out = append(out, pn)
	}
	return out
}

// Fit is where graphs' GPU pods would go on the GPUs free now: their demands (pod specs
// through the cluster's admission, by server-side dry run, so defaults added there count),
// placed first-fit on the Ready, schedulable GPU nodes. Demands is how many services ask for
// GPUs; AdmissionNote says when admission could not be simulated.
type Fit struct {
	Result        placement.Result
	Demands       int
	GPUNodes      int
	AdmissionNote string
	// SearchNote, when first-fit leaves pods over, says what the search that follows found:
	// a placement (Result is it), that none exists, or that it stopped at its budget.
	SearchNote string
}

// searchNote is what the search behind a first-fit that left pods over found.
func searchNote(s placement.SearchResult) string {
	switch {
	case s.Found:
		return "first-fit's order leaves pods over; a search found this placement"
	case s.Complete:
		return "no placement exists (more pods than the nodes could hold, or searched every distinct placement)"
	default:
		return fmt.Sprintf("first-fit's answer: the search for a placement stopped after %d nodes tried", s.Steps)
	}
}

// PlaceGraphs computes the Fit of graphs from an inventory and the nodes it was built from.
// ns is the namespace of graphs that name none.
func PlaceGraphs(ctx context.Context, cs kubernetes.Interface, inv inventory.Inventory, nodes []corev1.Node, graphs []*graph.Graph, cfg render.Config, ns string) (Fit, error) {
	var f Fit
	admit := func(graphNS, _ string, spec *corev1.PodSpec) *corev1.PodSpec {
		if graphNS == "" {
			graphNS = ns
		}
		got, err := Admitted(ctx, cs, graphNS, spec)
		switch {
		case IsMissingNamespace(err):
			f.AdmissionNote = fmt.Sprintf("admission not simulated: namespace %q does not exist, so its defaults (tolerations, node selectors) are not known", graphNS)
			return spec
		case err != nil:
			f.AdmissionNote = fmt.Sprintf("admission not simulated: %s", oneLine(err))
			return spec
		}
		return got
	}
	demands, err := demand.GPU(graphs, cfg, admit)
	if err != nil {
		return f, err
	}
	fit := FitOn(Capacity(inv, nodes), demands)
	fit.AdmissionNote = f.AdmissionNote
	return fit, nil
}

// FitOn places demands on the capacity: first fit, then — when that leaves pods over — the
// search, within their work budgets (bounded by the nodes and the pods they can place, not by
// the pods asked for). Pure: PlaceGraphs' part after admission.
func FitOn(capacity []placement.Node, demands []placement.Demand) Fit {
	f := Fit{Demands: len(demands), GPUNodes: len(capacity)}
	f.Result = placement.Place(capacity, demands)
	if f.Result.Stopped {
		f.SearchNote = fmt.Sprintf("placement stopped at its work budget (%d node visits): pods not weighed count as not placed", placement.DefaultWork)
		return f
	}
	if _, bad := f.Result.FirstUnplaced(); bad {
		// First-fit's order can strand pods for which a placement exists: search before
		// saying "does not fit".
		s := placement.Search(capacity, demands, placement.DefaultSearchBudget)
		if s.Found {
			f.Result = s.Result
		}
		f.SearchNote = searchNote(s)
	}
	return f
}

func checkFits(ctx context.Context, e *Env) Outcome {
	inv, err := e.Inventory(ctx)
	if err != nil {
		return apiError("read nodes and pods", err)
	}
	nodes, err := e.Nodes(ctx)
	if err != nil {
		return apiError("list nodes", err)
	}
	fit, err := PlaceGraphs(ctx, e.Client, inv, nodes, e.Graphs, e.Render, e.Namespace)
	if err != nil {
		return Outcome{Status: Error, Detail: "render: " + err.Error()}
	}
	var notes []string
	for _, n := range []string{fit.SearchNote, fit.AdmissionNote} {
		if n != "" {
			notes = append(notes, n)
		}
	}
	var admitNote string
	if len(notes) > 0 {
		admitNote = " (" + strings.Join(notes, "; ") + ")"
	}
	res := fit.Result
	names := make([]string, len(e.Graphs))
	for i, g := range e.Graphs {
		names[i] = g.Name
	}
	if fit.Demands == 0 {
		return Outcome{Status: Pass, Detail: fmt.Sprintf("%s: no service requests GPUs", strings.Join(names, ", "))}
	}
	if s, bad := res.FirstUnplaced(); bad && s.GroupSize > 1 {
		return Outcome{Status: Fail,
			Detail: fmt.Sprintf("%s does not fit: %d nodes × %s needed per replica, %d of %d replica(s) placed; %d of its %d candidate node(s) have room for one pod%s",
				s.Service, s.GroupSize, placement.FormatResources(s.PerPod), s.Placed, s.Replicas, s.NodesWithRoom, s.Candidates, admitNote),
			Remediation: "free or add GPU nodes that match the service's node selector/affinity (each pod of a replica needs its own node), or lower its replicas, nodeCount or GPUs per node (dynamoctl gpus shows what is free)",
			DocsURL:     docsBase + "dgd-fits"}
	} else if bad {
		return Outcome{Status: Fail,
			Detail: fmt.Sprintf("%s does not fit: needs %s, %d placed, short %s; largest free block on its %d candidate node(s): %d%s",
				s.Service, s.Describe(), s.Placed, placement.FormatResources(s.Shortfall), s.Candidates, s.LargestFree, admitNote),
			Remediation: "free or add GPUs that match the service's node selector/affinity, or lower its replicas or GPUs per pod (dynamoctl gpus shows what is free)",
			DocsURL:     docsBase + "dgd-fits"}
	}
	var parts []string
	var total int64
	for _, s := range res.Services {
		parts = append(parts, fmt.Sprintf("%s %s on %d node(s)", s.Service, s.Describe(), len(s.Nodes)))
		for _, q := range s.PerPod {
			total = placement.AddSat(total, placement.MulSat(q, placement.MulSat(s.Replicas, max(s.GroupSize, 1))))
		}
	}
	return Outcome{Status: Pass, Detail: fmt.Sprintf("%s fits: %s; %d of %d free GPUs used%s",
		strings.Join(names, ", "), strings.Join(parts, ", "), total, inv.Totals.Free, admitNote)}
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
