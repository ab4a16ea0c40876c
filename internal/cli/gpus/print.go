package gpus

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/dynamo-infra/dynamo-infra/internal/cli/output"
	"github.com/dynamo-infra/dynamo-infra/internal/inventory"
	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
)

// PrintOptions choose the human-readable views.
type PrintOptions struct {
	Wide      bool
	Aggregate bool
	ShowMIG   bool
}

// PrintTable writes the inventory as tables: nodes, then (with Aggregate) pools and the
// compatibility summary, then probe results, then the source line.
func PrintTable(w io.Writer, inv inventory.Inventory, o PrintOptions) error {
	// ALLOC, REQ and FREE count UNIT: whole GPUs, shared replicas or MIG devices.
	header := []string{"NODE", "PRODUCT", "GPUS", "UNIT", "ALLOC", "REQ", "FREE", "VRAM/GPU", "MIG", "STATUS"}
	if o.Wide {
		header = append(header, "POOL", "SHARING", "DRIVER", "CUDA", "SOURCES", "TAINTS")
	}
	var rows [][]string
	for i := range inv.Nodes {
		n := &inv.Nodes[i]
		p := n.Resource(n.PrimaryResource())
		row := []string{n.Name, orUnknown(n.Product), gpuCount(n), n.Unit(), num(p.Allocatable), num(p.Requested), num(p.Free), vram(n), migSummary(n), status(n)}
		if o.Wide {
			row = append(row, n.PoolName(), sharing(n), dash(n.DriverVersion), dash(n.CUDAVersion),
				dash(strings.Join(n.Sources, ",")), dash(strings.Join(n.Taints, ",")))
		}
		rows = append(rows, row)
		if o.ShowMIG {
			for _, r := range n.Resources {
				if !strings.HasPrefix(r.Name, nvidia.ResourceMIGPrefix) {
					continue
				}
				sub := []string{"  " + strings.TrimPrefix(r.Name, nvidia.Prefix), "", "", inventory.UnitMIGDevice, num(r.Allocatable), num(r.Requested), num(r.Free), migMemory(n, r.Name), "", ""}
				if o.Wide {
					sub = append(sub, "", "", "", "", "", "")
				}
				rows = append(rows, sub)
			}
		}
	}
	if len(rows) == 0 {
		fmt.Fprintln(w, "No GPU nodes found (use --all-nodes to list every node).")
	} else if err := output.WriteTable(w, header, rows); err != nil {
		return err
	}
	if o.Aggregate {
		if err := printPools(w, inv); err != nil {
			return err
		}
	}
	if len(inv.Probes) > 0 {
		fmt.Fprintln(w)
		var prow [][]string
		for _, p := range inv.Probes {
			prow = append(prow, []string{p.Node, p.Status, p.Duration, dash(p.Detail)})
		}
		if err := output.WriteTable(w, []string{"PROBED NODE", "RESULT", "TIME", "DETAIL"}, prow); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "\nSource: %s", inv.Source)
	if inv.SourceNote != "" {
		fmt.Fprintf(w, " (%s)", inv.SourceNote)
	}
	fmt.Fprintln(w)
	return nil
}

func printPools(w io.Writer, inv inventory.Inventory) error {
	fmt.Fprintln(w)
	var rows [][]string
	for _, p := range inv.Pools {
		rows = append(rows, []string{p.Name, strconv.Itoa(len(p.Nodes)), num(p.GPUs), p.Unit, num(p.Allocatable), num(p.Requested), num(p.Free)})
		for _, m := range p.MIG {
			rows = append(rows, []string{"  " + strings.TrimPrefix(m.Name, nvidia.Prefix), "", "", inventory.UnitMIGDevice, num(m.Allocatable), num(m.Requested), num(m.Free)})
		}
	}
	// Whole GPUs in the TOTAL row; replicas and MIG devices on their own rows, never added in.
	t := inv.Totals
	rows = append(rows, []string{"TOTAL", strconv.Itoa(t.GPUNodes), num(t.GPUs), inventory.UnitGPU, num(t.Allocatable), num(t.Requested), num(t.Free)})
	for _, o := range t.Other {
		rows = append(rows, []string{"TOTAL", "", "", o.Unit, num(o.Allocatable), num(o.Requested), num(o.Free)})
	}
	if err := output.WriteTable(w, []string{"POOL", "NODES", "GPUS", "UNIT", "ALLOC", "REQ", "FREE"}, rows); err != nil {
		return err
	}
	if t.OvercommittedNodes > 0 {
		fmt.Fprintf(w, "%d node(s) overcommitted: their pods request more than they have (free counted as 0)\n", t.OvercommittedNodes)
	}
	s := inv.Summary
	fmt.Fprintf(w, "\nSummary (as gpu_inventory.py reports it): GPUS/NODE %d  MODEL %s  VRAM/GPU %s\n", s.GPUsPerNode, orUnknown(s.Model), gib(s.VRAMMiB))
	if s.Warning != "" {
		fmt.Fprintf(w, "Warning: %s\n", s.Warning)
	}
	return nil
}

func gpuCount(n *inventory.NodeGPU) string {
	if n.Count == 0 && n.MIG.Strategy == inventory.MIGSingle {
		return "-"
	}
	return num(n.Count)
}

func vram(n *inventory.NodeGPU) string {
	if n.MemoryMiB == 0 {
		return "?"
	}
	if n.MemoryInferred {
		return "~" + inventory.FormatGiB(n.MemoryMiB)
	}
	return inventory.FormatGiB(n.MemoryMiB)
}

func migSummary(n *inventory.NodeGPU) string {
	m := n.MIG
	switch {
	case m.Invalid:
		return "INVALID"
	case m.Strategy == inventory.MIGSingle && len(m.Devices) == 1:
		return fmt.Sprintf("single %s x%d", m.Devices[0].Profile, m.Devices[0].Count)
	case m.Strategy == inventory.MIGSingle:
		return "single"
	case m.Strategy == inventory.MIGMixed:
		var total, free int64
		for _, r := range n.Resources {
			if strings.HasPrefix(r.Name, nvidia.ResourceMIGPrefix) {
				total += r.Allocatable
				free += r.Free
			}
		}
		return fmt.Sprintf("mixed %d (%d free)", total, free)
	case m.Capable:
		return "capable"
	}
	return "-"
}

func migMemory(n *inventory.NodeGPU, resource string) string {
	profile := strings.TrimPrefix(resource, nvidia.ResourceMIGPrefix)
	for _, d := range n.MIG.Devices {
		if d.Profile == profile && d.MemoryMiB > 0 {
			return inventory.FormatGiB(d.MemoryMiB)
		}
	}
	return ""
}

func sharing(n *inventory.NodeGPU) string {
	if n.Sharing.Strategy == "none" {
		return "-"
	}
	return fmt.Sprintf("%s x%d", n.Sharing.Strategy, n.Sharing.Replicas)
}

func status(n *inventory.NodeGPU) string {
	s := "Ready"
	if !n.Ready {
		s = "NotReady"
	}
	if n.Unschedulable {
		s += ",SchedulingDisabled"
	}
	if n.Overcommitted {
		s += ",Overcommitted"
	}
	return s
}

func gib(mib int64) string {
	if mib == 0 {
		return "?"
	}
	return inventory.FormatGiB(mib)
}

func num(v int64) string { return strconv.FormatInt(v, 10) }

func orUnknown(s string) string {
	if s == "" {
		return "<unknown>"
	}
	return s
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
