package explain

import (
	"fmt"
	"io"
	"strings"
)

// WriteText prints the report for a person: the graph's line, then per service its reason, its
// chain one link per line (details indented below), and the remediation after an arrow.
func WriteText(w io.Writer, r Report) error {
	var b strings.Builder
	state := "Ready"
	if !r.Graph.Ready {
		state = "not Ready"
	}
	if r.Graph.Mode == ModePlan {
		state = "fits"
		if !r.Graph.Ready {
			state = "does not fit"
		}
		fmt.Fprintf(&b, "DynamoGraphDeployment %s/%s (not applied; planned on the GPUs free now): %s, %s services fit\n", r.Graph.Namespace, r.Graph.Name, state, r.Graph.ReadyServices)
	} else {
		fmt.Fprintf(&b, "DynamoGraphDeployment %s/%s: %s, %s services ready\n", r.Graph.Namespace, r.Graph.Name, state, r.Graph.ReadyServices)
	}
	if op := r.Graph.Operator; op != nil {
		switch {
		case op.State == "" && op.Reason == "":
			b.WriteString("  operator: no status written (is dynamo-operator running?)\n")
		default:
			fmt.Fprintf(&b, "  operator: %s, %s (generation %d, observed %d)\n", op.State, op.Reason, op.Generation, op.ObservedGeneration)
		}
		for _, c := range []struct {
			name string
			c    *Condition
		}{{"whole-graph plan (Schedulable)", op.Schedulable}, {"topology (PlacementVerified)", op.PlacementVerified}} {
			if c.c != nil {
				fmt.Fprintf(&b, "  operator's %s: %s, %s: %s\n", c.name, c.c.Status, c.c.Reason, c.c.Message)
			}
		}
	}
	for _, p := range r.Graph.Problems {
		fmt.Fprintf(&b, "  → %s\n", p)
	}
	for _, s := range r.Services {
		b.WriteString("\n")
		switch {
		case s.Ready && r.Graph.Mode == ModePlan:
			fmt.Fprintf(&b, "%s: fits\n", s.Name)
		case s.Ready:
			fmt.Fprintf(&b, "%s: Ready\n", s.Name)
		default:
			fmt.Fprintf(&b, "%s: %s\n", s.Name, s.Reason)
		}
		for _, l := range s.Chain {
			name := l.Name
			if name != "" {
				name += "  "
			}
			fmt.Fprintf(&b, "  %-16s%s%s\n", l.Kind, name, l.Summary)
			for _, d := range l.Details {
				fmt.Fprintf(&b, "  %-16s  %s\n", "", d)
			}
		}
		if s.Remediation != "" {
			fmt.Fprintf(&b, "  → %s\n", s.Remediation)
		}
	}
	if len(r.Notes) > 0 {
		b.WriteString("\nNotes:\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "  - %s\n", n)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
