package observability_test

import (
	"bytes"
	"os"
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

// Prometheus accepts every scrape config scrape-config writes: promtool, pinned and built from
// the Prometheus module (tools/promtool) — Debian's lacks Kubernetes discovery and refuses
// kubernetes_sd_configs.
func TestScrapeConfigPassesPromtool(t *testing.T) {
	for _, name := range []string{"disagg", "roles", "metrics-off", "sidecar"} {
		prom, err := yaml.Marshal(map[string]any{"scrape_configs": observability.ScrapeConfigs(targets(t, name), "5s")})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), name+".yml")
		if err := os.WriteFile(path, prom, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, errOut, err := testkit.RunTool("promtool", "check", "config", path); err != nil {
			t.Errorf("%s: promtool check config: %v\n%s%s", name, err, out, errOut)
		}
	}
	// And refuses what Prometheus would: the check is not vacuous.
	bad := filepath.Join(t.TempDir(), "bad.yml")
	if err := os.WriteFile(bad, []byte("scrape_configs:\n- job_name: x\n  kubernetes_sd_configs: [{role: nodez}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := testkit.RunTool("promtool", "check", "config", bad); err == nil {
		t.Error("promtool accepted an unknown discovery role")
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

// A worker's frontend sidecar and its NIXL telemetry (when turned on) are scraped beside the
// worker's own endpoint, each by a job of its own on its own port: upstream's monitors miss the
// sidecar (#11981) and never scrape NIXL's 19090. The sidecar's series are the frontend's.
func TestEndpointsBesideTheService(t *testing.T) {
	ts := targets(t, "sidecar")
	type want struct{ job, port, componentType, endpoint string }
	wants := []want{
		{"dynamo-sidecar-decode", "system", "decode", ""},
		{"dynamo-sidecar-decode-frontend-sidecar", "http", "frontend", observability.EndpointFrontendSidecar},
		{"dynamo-sidecar-decode-nixl", "nixl", "decode", observability.EndpointNixl},
		// Telemetry off (the operator's default, NIXL_TELEMETRY_ENABLE=n): the nixl port is
		// declared and nothing listens on it, so no job.
		{"dynamo-sidecar-prefill", "system", "prefill", ""},
	}
	if len(ts) != len(wants) {
		t.Fatalf("%d targets, want %d: %+v", len(ts), len(wants), ts)
	}
	jobs, pms := observability.ScrapeConfigs(ts, "5s"), observability.PodMonitors(ts, "5s")
	for i, w := range wants {
		tg := ts[i]
		if tg.JobName() != w.job || tg.Port != w.port || tg.ComponentType != w.componentType || tg.Endpoint != w.endpoint {
			t.Errorf("target %d: %+v, want %+v", i, tg, w)
		}
		// The job keeps only that port of the service's pods and labels its series.
		keep := jobs[i].RelabelConfigs[2]
		if keep.SourceLabels[0] != "__meta_kubernetes_pod_container_port_name" || keep.Regex != w.port || keep.Action != "keep" {
			t.Errorf("%s: port relabel %+v", w.job, keep)
		}
		labels := map[string]string{}
		for _, r := range jobs[i].RelabelConfigs {
			if r.Replacement != "" {
				labels[r.TargetLabel] = r.Replacement
			}
		}
		if labels["dynamo_component_type"] != w.componentType || labels["dynamo_scrape_endpoint"] != w.endpoint {
			t.Errorf("%s: labels %v", w.job, labels)
		}
		if ep := pms[i].Spec.PodMetricsEndpoints[0]; pms[i].Metadata.Name != w.job || ep.Port != w.port {
			t.Errorf("PodMonitor %d: %s on %s, want %s on %s", i, pms[i].Metadata.Name, ep.Port, w.job, w.port)
		}
	}
}
