package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/dynamo-infra/dynamo-infra/internal/measure"
)

// program is one command measured: its name in the report, its argv, and the exit codes that
// count as a run.
type program struct {
	name string
	argv []string
	ok   []int
	// preflight runs get their gpu-nodes outcome read from their JSON.
	preflight bool
}

// programs are the commands measured, side by side: the originals (when their directory is
// given), dynamoctl, and the floors of the old and new requests.
func programs(o options, kubeconfig string) ([]program, error) {
	bin, err := filepath.Abs(o.dynamoctl)
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	// The originals read $KUBECONFIG and run kubectl from PATH.
	kubectl, err := exec.LookPath(o.kubectl)
	if err != nil {
		return nil, fmt.Errorf("the originals need kubectl: %w", err)
	}
	_ = os.Setenv("KUBECONFIG", kubeconfig)
	_ = os.Setenv("PATH", filepath.Dir(kubectl)+":"+os.Getenv("PATH"))
	var ps []program
	if o.originals != "" {
		script, inv := filepath.Join(o.originals, "pre-deployment-check.sh"), filepath.Join(o.originals, "gpu_inventory.py")
		for _, f := range []string{script, inv} {
			if _, err := os.Stat(f); err != nil {
				return nil, fmt.Errorf("-originals: %w (docs/benchmarks.md says where to get it)", err)
			}
		}
		ps = append(ps,
			program{name: "pre-deployment-check.sh", argv: []string{"bash", script}},
			program{name: "gpu_inventory.py -o json", argv: []string{o.python, inv, "-o", "json"}})
	}
	// preflight exits 1 when a check fails: the outcome says which.
	ps = append(ps,
		program{name: "dynamoctl preflight", argv: []string{bin, "preflight", "-o", "json"}, ok: []int{1}, preflight: true},
		program{name: "dynamoctl gpus -o json", argv: []string{bin, "gpus", "-o", "json", "--source", "api"}})
	if o.before != "" {
		before, err := filepath.Abs(o.before)
		if err != nil {
			return nil, err
		}
		ps = append(ps,
			program{name: "before: preflight", argv: []string{before, "preflight", "-o", "json"}, ok: []int{1}, preflight: true},
			program{name: "before: gpus -o json", argv: []string{before, "gpus", "-o", "json", "--source", "api"}})
	}
	for _, m := range []string{"old", "new", "cache"} {
		ps = append(ps, program{name: "floor: " + m + " requests", argv: []string{self, "floor", m, kubeconfig}})
	}
	return ps, nil
}

// measureAll runs every program once to warm up, then runs rounds, one run of each program per
// round (a cluster that slows down or speeds up weighs on all alike), and prints the report.
func measureAll(ctx context.Context, runs int, ps []program) error {
	samples := make([][]measure.Sample, len(ps))
	outcomes := map[string]map[string]int{}
	for round := -1; round < runs; round++ {
		for i, p := range ps {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var out bytes.Buffer
			// The originals print their report to stderr (gpu_inventory.py logs it): dropped.
			s, err := measure.Run(&out, nil, p.ok, p.argv...)
			if err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			if round < 0 {
				continue
			}
			samples[i] = append(samples[i], s)
			if p.preflight {
				if outcomes[p.name] == nil {
					outcomes[p.name] = map[string]int{}
				}
				outcomes[p.name][gpuNodesOutcome(out.Bytes(), s.Code)]++
			}
		}
	}
	fmt.Printf("\n%d runs of each, interleaved, after one warm-up (median wall and CPU, [range], peak RSS of the largest process)\n", runs)
	med := map[string]measure.Sample{}
	for i, p := range ps {
		walls := sorted(samples[i], func(s measure.Sample) time.Duration { return s.Wall })
		cpus := sorted(samples[i], func(s measure.Sample) time.Duration { return s.CPU })
		var rss int64
		for _, s := range samples[i] {
			rss = max(rss, s.RSSKiB)
		}
		m := measure.Sample{Wall: walls[len(walls)/2], CPU: cpus[len(cpus)/2], RSSKiB: rss}
		med[p.name] = m
		fmt.Printf("  %-26s wall %6s [%s–%s]  CPU %6s  RSS %6.1f MiB\n", p.name, m.Wall.Round(time.Millisecond),
			walls[0].Round(time.Millisecond), walls[len(walls)-1].Round(time.Millisecond), m.CPU.Round(time.Millisecond), float64(rss)/1024)
	}
	ratio := func(a, b string) {
		x, okx := med[a]
		y, oky := med[b]
		if !okx || !oky {
			return
		}
		fmt.Printf("  %s / %s: wall %.2f×, CPU %.2f×, RSS %.2f×\n", a, b,
			float64(x.Wall)/float64(y.Wall), float64(x.CPU)/float64(y.CPU), float64(x.RSSKiB)/float64(y.RSSKiB))
	}
	fmt.Println()
	ratio("dynamoctl preflight", "pre-deployment-check.sh")
	ratio("dynamoctl gpus -o json", "gpu_inventory.py -o json")
	ratio("dynamoctl gpus -o json", "floor: new requests")
	ratio("floor: new requests", "floor: old requests")
	ratio("dynamoctl preflight", "before: preflight")
	ratio("dynamoctl gpus -o json", "before: gpus -o json")
	fmt.Println()
	for _, p := range ps {
		if !p.preflight {
			continue
		}
		keys := make([]string, 0, len(outcomes[p.name]))
		for k := range outcomes[p.name] {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		fmt.Printf("  %s, gpu-nodes over %d runs:", p.name, runs)
		for _, k := range keys {
			fmt.Printf(" %s ×%d", k, outcomes[p.name][k])
		}
		fmt.Println()
	}
	return nil
}

func sorted(ss []measure.Sample, f func(measure.Sample) time.Duration) []time.Duration {
	var out []time.Duration
	for _, s := range ss {
		out = append(out, f(s))
	}
	slices.Sort(out)
	return out
}

// gpuNodesOutcome is what preflight's gpu-nodes check concluded in a run: its status, "partial"
// when it gave its verdict without counting free GPUs, and the run's exit code.
func gpuNodesOutcome(out []byte, code int) string {
	var rep struct {
		Checks []struct{ ID, Status, Detail string }
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		return fmt.Sprintf("unreadable (exit %d)", code)
	}
	for _, c := range rep.Checks {
		if c.ID != "gpu-nodes" {
			continue
		}
		s := c.Status
		switch {
		case strings.Contains(c.Detail, "partial"):
			s += ", free GPUs not counted"
		case c.Status == "pass" || c.Status == "warn" || c.Status == "fail":
			s += ", free GPUs counted"
		}
		return fmt.Sprintf("%s (exit %d)", s, code)
	}
	return fmt.Sprintf("no gpu-nodes check (exit %d)", code)
}
