package inventory

import (
	"context"

	"k8s.io/client-go/kubernetes"
)

// Options configure one inventory run (`dynamoctl gpus`).
type Options struct {
	Collect CollectOptions
	Build   BuildOptions
	// Probe runs nvidia-smi on GPU nodes whose model or memory is unknown (API source only).
	Probe        bool
	ProbeOptions ProbeOptions
}

// Run collects, builds and, when asked, probes. It is the whole of `dynamoctl gpus` but the
// printing.
func Run(ctx context.Context, opts Options) (Inventory, error) {
	in, source, note, err := Collect(ctx, opts.Collect)
	if err != nil {
		return Inventory{}, err
	}
	inv := Build(in.Nodes, in.Pods, opts.Build)
	inv.Source, inv.SourceNote = source, note
	if !opts.Probe {
		return inv, nil
	}
	if source != SourceAPI {
		inv.SourceNote = joinNote(inv.SourceNote, "probes need the API source; skipped")
		return inv, nil
	}
	var cs kubernetes.Interface
	if cs, err = opts.Collect.API(); err != nil {
		return inv, err
	}
	inv.Probes = ProbeNodes(ctx, cs, inv.Nodes, opts.ProbeOptions)
	// Probed facts can move nodes between pools and change the totals and summary.
	inv.aggregate()
	return inv, ctx.Err()
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
