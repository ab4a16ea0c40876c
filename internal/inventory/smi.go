package inventory

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// SMIQuery is the nvidia-smi command a probe runs: one CSV line per GPU.
var SMIQuery = []string{"nvidia-smi", "--query-gpu=index,name,memory.total,mig.mode.current", "--format=csv,noheader,nounits"}

// SMIGPU is one GPU as nvidia-smi reports it.
type SMIGPU struct {
	Index int `json:"index"`
	// Name is nvidia-smi's name with spaces turned into dashes, as GFD labels it
	// ("NVIDIA H100 80GB HBM3" → "NVIDIA-H100-80GB-HBM3").
	Name      string `json:"name"`
	MemoryMiB int64  `json:"memoryMiB"`
	// MIGMode is Enabled, Disabled, or empty when the GPU does not support MIG ([N/A]).
	MIGMode string `json:"migMode,omitempty"`
}

// ParseSMI parses the output of SMIQuery line by line. Blank lines are skipped; any other line
// that is not a GPU record is an error naming its line number (nvidia-smi prints its failures,
// such as a missing driver, on stdout).
func ParseSMI(r io.Reader) ([]SMIGPU, error) {
	var gpus []SMIGPU
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 0, 4096), 64*1024)
	for line := 1; s.Scan(); line++ {
		text := strings.TrimSpace(s.Text())
		if text == "" {
			continue
		}
		g, err := parseSMILine(text)
		if err != nil {
			return nil, fmt.Errorf("nvidia-smi output line %d %q: %w", line, truncate(text, 80), err)
		}
		gpus = append(gpus, g)
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("read nvidia-smi output: %w", err)
	}
	if len(gpus) == 0 {
		return nil, fmt.Errorf("nvidia-smi reported no GPUs")
	}
	return gpus, nil
}

func parseSMILine(text string) (SMIGPU, error) {
	fields := strings.Split(text, ",")
	if len(fields) < 4 {
		return SMIGPU{}, fmt.Errorf("want 4 comma-separated fields (index, name, memory.total, mig.mode.current), got %d", len(fields))
	}
	for i := range fields {
		fields[i] = strings.TrimSpace(fields[i])
	}
	n := len(fields)
	idx, err := strconv.Atoi(fields[0])
	if err != nil || idx < 0 {
		return SMIGPU{}, fmt.Errorf("index %q is not a GPU index", fields[0])
	}
	// A name with a comma would split in two: the name is everything between index and memory.
	name := strings.Join(fields[1:n-2], ",")
	if name == "" {
		return SMIGPU{}, fmt.Errorf("empty GPU name")
	}
	mem, err := strconv.ParseInt(fields[n-2], 10, 64)
	if err != nil || mem <= 0 || mem > 1<<24 {
		return SMIGPU{}, fmt.Errorf("memory.total %q is not a MiB count (run with nounits)", fields[n-2])
	}
	g := SMIGPU{Index: idx, Name: strings.Join(strings.Fields(name), "-"), MemoryMiB: mem}
	switch mode := fields[n-1]; mode {
	case "Enabled", "Disabled":
		g.MIGMode = mode
	case "[N/A]", "N/A", "[Not Supported]":
	default:
		return SMIGPU{}, fmt.Errorf("mig.mode.current %q: want Enabled, Disabled or [N/A]", mode)
	}
	return g, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ProbeResult is the outcome of one nvidia-smi probe.
type ProbeResult struct {
	Node string `json:"node"`
	Pod  string `json:"pod"`
	// Status is ok, failed, unschedulable or timeout.
	Status   string   `json:"status"`
	Detail   string   `json:"detail,omitempty"`
	GPUs     []SMIGPU `json:"gpus,omitempty"`
	Duration string   `json:"duration"`
}

// Probe statuses.
const (
	ProbeOK            = "ok"
	ProbeFailed        = "failed"
	ProbeUnschedulable = "unschedulable"
	ProbeTimeout       = "timeout"
)

// ApplyProbe fills a node's unknown product and memory from a successful probe. Only missing
// facts are filled; labels win where both exist. Several models on one node are reported.
func ApplyProbe(n *NodeGPU, gpus []SMIGPU) {
	if len(gpus) == 0 {
		return
	}
	names := map[string]bool{}
	for _, g := range gpus {
		names[g.Name] = true
	}
	if len(names) > 1 {
		n.Warnings = append(n.Warnings, fmt.Sprintf("nvidia-smi reports %d different GPU models on this node", len(names)))
	}
	if n.Product == "" {
		n.Product = gpus[0].Name
	}
	if n.MemoryMiB == 0 || n.MemoryInferred {
		n.MemoryMiB, n.MemoryInferred = gpus[0].MemoryMiB, false
	}
	// No count from the probe: it requested one GPU, so nvidia-smi lists that one (or the
	// MIG device it was given), whatever the node has; the count stays the node's own.
	for _, g := range gpus {
		if g.MIGMode != "" {
			n.MIG.Capable = true
		}
	}
	n.Sources = append(n.Sources, SourceProbe)
}
