package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/internal/controller"
)

var observabilityDir = filepath.Join(deployDir, "observability")

// metricList reads deploy/observability/metrics.yaml: exporter → metric names.
func metricList(t *testing.T) map[string][]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(observabilityDir, "metrics.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string][]string
	if err := yaml.UnmarshalStrict(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// The operator's part of the list is exactly what the operator registers.
func TestMetricListMatchesTheOperator(t *testing.T) {
	got := slices.Sorted(slices.Values(controller.MetricNames()))
	want := slices.Sorted(slices.Values(metricList(t)["operator"]))
	if !slices.Equal(got, want) {
		t.Errorf("metrics.yaml operator: %v; the operator registers %v", want, got)
	}
}

// Every dashboard is valid JSON whose panels use a provisioned datasource and whose every
// PromQL expression parses and names only listed metrics.
func TestDashboards(t *testing.T) {
	known := map[string]bool{}
	for _, names := range metricList(t) {
		for _, n := range names {
			known[n] = true
		}
	}
	uids := datasourceUIDs(t)
	files, err := filepath.Glob(filepath.Join(observabilityDir, "dashboards", "*.json"))
	if err != nil || len(files) < 2 {
		t.Fatalf("dashboards: %v %v", files, err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			UID    string `json:"uid"`
			Title  string `json:"title"`
			Panels []struct {
				Title      string `json:"title"`
				Datasource struct {
					UID string `json:"uid"`
				} `json:"datasource"`
				Targets []struct {
					Expr string `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if d.UID == "" || d.Title == "" || len(d.Panels) == 0 {
			t.Errorf("%s: uid %q title %q, %d panels", f, d.UID, d.Title, len(d.Panels))
		}
		exprs := 0
		for _, p := range d.Panels {
			if !uids[p.Datasource.UID] {
				t.Errorf("%s / %s: datasource uid %q is not provisioned", f, p.Title, p.Datasource.UID)
			}
			for _, tg := range p.Targets {
				exprs++
				for _, name := range metricsOf(t, tg.Expr) {
					if !known[name] {
						t.Errorf("%s / %s: metric %s is not in metrics.yaml (nothing we ship exports it)", filepath.Base(f), p.Title, name)
					}
				}
			}
		}
		if exprs == 0 {
			t.Errorf("%s: no PromQL", f)
		}
	}
}

// metricsOf parses a Grafana PromQL expression (template variables replaced by values) and
// returns the metric names it selects, histogram series by their base name.
func metricsOf(t *testing.T, expr string) []string {
	t.Helper()
	for _, v := range []string{"$graph", "$__rate_interval"} {
		expr = strings.ReplaceAll(expr, v, "x")
	}
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		t.Errorf("PromQL %q: %v", expr, err)
		return nil
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			name := vs.Name
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				name = strings.TrimSuffix(name, suffix)
			}
			names = append(names, name)
		}
		return nil
	})
	return names
}

func datasourceUIDs(t *testing.T) map[string]bool {
	t.Helper()
	uids := map[string]bool{}
	for _, f := range []string{"grafana-datasources.yml", "tempo-datasource.yml"} {
		raw, err := os.ReadFile(filepath.Join(observabilityDir, f))
		if err != nil {
			t.Fatal(err)
		}
		var ds struct {
			Datasources []struct {
				UID string `json:"uid"`
				URL string `json:"url"`
			} `json:"datasources"`
		}
		if err := yaml.Unmarshal(raw, &ds); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, d := range ds.Datasources {
			if d.UID == "" || d.URL == "" {
				t.Errorf("%s: datasource without uid or url", f)
			}
			uids[d.UID] = true
		}
	}
	return uids
}

// Tempo's configuration is YAML with the OTLP receivers and a storage path that is not /tmp.
func TestTempoConfig(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(observabilityDir, "tempo.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	for _, want := range []string{"0.0.0.0:4317", "0.0.0.0:4318", "http_listen_port: 3200", "block_retention"} {
		if !strings.Contains(text, want) {
			t.Errorf("tempo.yaml lacks %s", want)
		}
	}
	if strings.Contains(text, "/tmp") {
		t.Error("tempo.yaml keeps traces under /tmp")
	}
}
