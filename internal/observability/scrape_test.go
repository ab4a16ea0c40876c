package observability_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/observability"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
)

func targets(t *testing.T, name string) []observability.Target {
	t.Helper()
	graphs, err := render.ReadGraphs(filepath.Join("testdata", "in", name+".yaml"), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	ts, err := observability.Targets(graph.ResolveAll(graphs.Graphs(), graph.Options{}), render.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	testkit.Golden(t, filepath.Join("testdata", "out", name), got)
}

func TestScrapeConfigGolden(t *testing.T) {
	for _, name := range []string{"disagg", "roles", "metrics-off"} {
		t.Run(name, func(t *testing.T) {
			ts := targets(t, name)
			prom, err := yaml.Marshal(map[string]any{"scrape_configs": observability.ScrapeConfigs(ts, "5s")})
			if err != nil {
				t.Fatal(err)
			}
			golden(t, name+".prometheus.yaml", prom)
			var pms [][]byte
			for _, pm := range observability.PodMonitors(ts, "5s") {
				b, err := yaml.Marshal(pm)
				if err != nil {
					t.Fatal(err)
				}
				pms = append(pms, b)
			}
			golden(t, name+".podmonitor.yaml", bytes.Join(pms, []byte("---\n")))
		})
	}
}

// Every service of every role gets exactly one job and one PodMonitor, on the port its pods
// serve metrics on; a graph with metrics off gets none.
func TestEveryRoleScraped(t *testing.T) {
	ts := targets(t, "roles")
	jobs := observability.ScrapeConfigs(ts, "5s")
	pms := observability.PodMonitors(ts, "5s")
	if len(ts) != 5 || len(jobs) != 5 || len(pms) != 5 {
		t.Fatalf("%d targets, %d jobs, %d PodMonitors; want 5 each", len(ts), len(jobs), len(pms))
	}
	seen := map[string]bool{}
	for i, tg := range ts {
		seen[tg.ComponentType] = true
		// As the original's PodMonitors scrape them: the frontend on http, the planner on its
		// metrics port (9085), workers on system.
		wantPort := map[string]string{"frontend": "http", "planner": "metrics"}[tg.ComponentType]
		if wantPort == "" {
			wantPort = "system"
		}
		if tg.Port != wantPort || pms[i].Spec.PodMetricsEndpoints[0].Port != wantPort {
			t.Errorf("%s: port %s, want %s", tg.Service, tg.Port, wantPort)
		}
		if jobs[i].KubernetesSDConfigs[0].Namespaces.Names[0] != "llm" || !strings.HasPrefix(jobs[i].JobName, "dynamo-roles-") {
			t.Errorf("%s: job %+v", tg.Service, jobs[i])
		}
	}
	for _, role := range []string{"frontend", "worker", "prefill", "decode", "planner"} {
		if !seen[role] {
			t.Errorf("role %s has no target", role)
		}
	}
	off := targets(t, "metrics-off")
	if len(off) != 1 || off[0].Enabled || len(observability.ScrapeConfigs(off, "5s")) != 0 || len(observability.PodMonitors(off, "5s")) != 0 {
		t.Errorf("metrics off: %+v", off)
	}
}
