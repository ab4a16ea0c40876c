package plan

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/dynamo-infra/dynamo-infra/internal/cli/output"
	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
	"github.com/dynamo-infra/dynamo-infra/internal/plan"
)

// Print writes a plan for people: a headline, the services with their verdicts (and why, for
// those that do not fit), the nodes used with what is left, the pools, fragmentation and the
// rollouts. wide lists every resource left on a node, not only GPUs, CPU and memory.
func Print(w io.Writer, r plan.Report, wide bool) error {
	verdict := "FITS"
	switch {
	case r.Stopped:
		verdict = "UNKNOWN (the plan stopped at its work budget)"
	case !r.Fits:
		verdict = "DOES NOT FIT"
		if r.Proven {
			verdict += " (no placement exists)"
		}
	}
	mode := "new graph"
	if r.Mode == plan.ModeChange {
		mode = fmt.Sprintf("change to the running graph: its %d pod(s) not counted", r.Cluster.OwnPods)
	}
	added := ""
	if r.Cluster.Added > 0 {
		added = fmt.Sprintf(", %d what-if", r.Cluster.Added)
	}
	fmt.Fprintf(w, "Plan for %s/%s (%s): %s — %s placement on %d usable of %d nodes%s\n\n",
		r.Namespace, r.Graph, mode, verdict, r.Method, r.Cluster.Usable, r.Cluster.Nodes, added)

	var rows [][]string
	for _, s := range r.Services {
		placed := fmt.Sprintf("%d/%d", s.Placed, s.Replicas)
		if s.GroupSize > 1 {
			placed += fmt.Sprintf(" ×%d nodes", s.GroupSize)
		}
		var nodes []string
		for _, p := range s.Placement {
			nodes = append(nodes, p.Node+"×"+strconv.FormatInt(p.Pods, 10))
		}
		rows = append(rows, []string{s.Name, placed, perPod(s.PerPod), strconv.Itoa(s.CandidateNodes), dash(strings.Join(nodes, ","))})
	}
	if err := output.WriteTable(w, []string{"SERVICE", "PLACED", "PER POD", "CANDIDATES", "NODES"}, rows); err != nil {
		return err
	}
	for _, s := range r.Services {
		if s.Reason != "" {
			fmt.Fprintf(w, "  %s: %s\n", s.Name, s.Reason)
		}
	}

	if len(r.Nodes) > 0 {
		fmt.Fprintln(w)
		rows = rows[:0]
		for _, n := range r.Nodes {
			var pods []string
			for _, svc := range slices.Sorted(maps.Keys(n.Pods)) {
				pods = append(pods, fmt.Sprintf("%s×%d", svc, n.Pods[svc]))
			}
			rows = append(rows, []string{n.Name, dash(n.Pool), strings.Join(pods, ","), left(n.FreeAfter, wide)})
		}
		if err := output.WriteTable(w, []string{"NODE", "POOL", "PODS", "FREE AFTER"}, rows); err != nil {
			return err
		}
	}
	if len(r.Pools) > 0 {
		fmt.Fprintln(w)
		rows = rows[:0]
		for _, p := range r.Pools {
			rows = append(rows, []string{p.Name, p.Unit, strconv.Itoa(p.Nodes), strconv.FormatInt(p.FreeBefore, 10), strconv.FormatInt(p.FreeAfter, 10)})
		}
		if err := output.WriteTable(w, []string{"POOL", "UNIT", "NODES", "FREE BEFORE", "FREE AFTER"}, rows); err != nil {
			return err
		}
		f := r.Fragmentation
		fmt.Fprintf(w, "Fragmentation after: %d GPU(s) stranded on %d partly used node(s); %d node(s) with every GPU free\n",
			f.StrandedGPUs, f.PartlyUsedNodes, f.WholeFreeNodes)
	}
	for _, tc := range r.Topology {
		who := "the graph"
		if tc.Service != "" {
			who = tc.Service
		}
		switch {
		case tc.PerGroup:
			fmt.Fprintf(w, "Packed: each group of %s in one %s (%s)\n", who, tc.Domain, tc.Key)
		case tc.Value != "":
			fmt.Fprintf(w, "Packed: %s in %s %s (%s)\n", who, tc.Domain, tc.Value, tc.Key)
		}
	}
	if len(r.Rollouts) > 0 {
		fmt.Fprintln(w)
		for _, ro := range r.Rollouts {
			fmt.Fprintf(w, "Rollout of %s (maxSurge %d, maxUnavailable %d): %s\n", ro.Service, ro.MaxSurge, ro.MaxUnavailable, ro.Advice)
		}
	}
	if len(r.Notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range r.Notes {
			fmt.Fprintf(w, "Note: %s\n", n)
		}
	}
	return nil
}

// perPod writes what a pod asks for, NVIDIA resources first, without the pod slot.
func perPod(m map[string]string) string {
	keys := slices.Sorted(maps.Keys(m))
	slices.SortStableFunc(keys, func(a, b string) int {
		if nvidia.IsResource(a) == nvidia.IsResource(b) {
			return 0
		}
		if nvidia.IsResource(a) {
			return -1
		}
		return 1
	})
	var parts []string
	for _, k := range keys {
		if k != "pods" {
			parts = append(parts, m[k]+" "+k)
		}
	}
	return dash(strings.Join(parts, ", "))
}

// left writes what is left on a node: its NVIDIA resources, CPU and memory (wide: all).
func left(m map[string]string, wide bool) string {
	shown := map[string]string{}
	for k, v := range m {
		if wide || nvidia.IsResource(k) || k == "cpu" || k == "memory" {
			shown[k] = v
		}
	}
	return perPod(shown)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
