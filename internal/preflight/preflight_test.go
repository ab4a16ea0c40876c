package preflight_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dynamo-infra/dynamo-infra/internal/preflight"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
)

func ids(cs []preflight.Check) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

func TestSelect(t *testing.T) {
	baseline := []string{"api-connectivity", "default-storageclass", "gpu-nodes", "gpu-operator"}
	production := append(slices.Clone(baseline), "dynamo-crds", "rbac", "node-pressure", "rdma", "prometheus-operator")
	cases := []struct {
		name string
		sel  preflight.Selection
		want []string
		err  string
	}{
		{"baseline", preflight.Selection{Profile: "baseline"}, baseline, ""},
		{"production", preflight.Selection{Profile: "production"}, production, ""},
		{"require adds", preflight.Selection{Profile: "baseline", Require: []string{"rbac"}}, append(slices.Clone(baseline), "rbac"), ""},
		{"skip removes", preflight.Selection{Profile: "baseline", Skip: []string{"gpu-operator", "default-storageclass"}}, []string{"api-connectivity", "gpu-nodes"}, ""},
		{"inputs add their checks", preflight.Selection{Profile: "baseline", Have: preflight.NeedNATS | preflight.NeedManifest}, append(slices.Clone(baseline), "nats", "dgd-fits"), ""},
		{"skip wins over an input", preflight.Selection{Profile: "baseline", Have: preflight.NeedEtcd, Skip: []string{"etcd"}}, baseline, ""},
		{"only services", preflight.Selection{Profile: "baseline", Have: preflight.NeedNATS, Skip: baseline}, []string{"nats"}, ""},
		{"unknown profile", preflight.Selection{Profile: "prod"}, nil, `unknown profile "prod": use baseline or production`},
		{"unknown require", preflight.Selection{Profile: "baseline", Require: []string{"gpus"}}, nil, `unknown check "gpus"`},
		{"unknown skip", preflight.Selection{Profile: "baseline", Skip: []string{"storage"}}, nil, `unknown check "storage"`},
		{"required without input", preflight.Selection{Profile: "baseline", Require: []string{"etcd"}}, nil, "check etcd needs --etcd ENDPOINTS"},
		{"fits without manifest", preflight.Selection{Profile: "baseline", Require: []string{"dgd-fits"}}, nil, "check dgd-fits needs -f MANIFEST"},
		{"nothing left", preflight.Selection{Profile: "baseline", Skip: baseline}, nil, "no check left"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := preflight.Select(c.sel)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(got), c.want) {
				t.Errorf("got %v, want %v", ids(got), c.want)
			}
		})
	}
}

func TestVerdict(t *testing.T) {
	cases := []struct {
		name   string
		rep    preflight.Report
		strict bool
		want   preflight.Verdict
	}{
		{"all pass", preflight.Report{Summary: preflight.Summary{Passed: 4}}, true, preflight.VerdictPassed},
		{"warnings allowed", preflight.Report{Summary: preflight.Summary{Passed: 3, Warnings: 1}}, false, preflight.VerdictPassed},
		{"warnings strict", preflight.Report{Summary: preflight.Summary{Passed: 3, Warnings: 1}}, true, preflight.VerdictWarnings},
		{"failure", preflight.Report{Summary: preflight.Summary{Failed: 1, Warnings: 1}}, true, preflight.VerdictFailed},
		{"error counts as failure", preflight.Report{Summary: preflight.Summary{Errors: 1}}, false, preflight.VerdictFailed},
		{"skips alone pass", preflight.Report{Summary: preflight.Summary{Passed: 1, Skipped: 2}}, true, preflight.VerdictPassed},
		{"unreachable first", preflight.Report{Unreachable: true, Summary: preflight.Summary{Failed: 1}}, false, preflight.VerdictUnreachable},
	}
	for _, c := range cases {
		if got := c.rep.Verdict(c.strict); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

// A check that ignores its context is cut off at the check timeout; the others finish.
func TestRunBoundsEachCheck(t *testing.T) {
	slow := preflight.Check{ID: "slow", Run: func(context.Context, *preflight.Env) preflight.Outcome {
		time.Sleep(5 * time.Second)
		return preflight.Outcome{Status: preflight.Pass}
	}}
	fast := preflight.Check{ID: "fast", Run: func(context.Context, *preflight.Env) preflight.Outcome {
		return preflight.Outcome{Status: preflight.Pass, Detail: "ok"}
	}}
	crash := preflight.Check{ID: "crash", Run: func(context.Context, *preflight.Env) preflight.Outcome { panic("boom") }}
	env, _ := preflight.NewEnv(nil)
	start := time.Now()
	rep := preflight.Run(context.Background(), env, []preflight.Check{slow, fast, crash}, preflight.RunOptions{CheckTimeout: 200 * time.Millisecond})
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("run took %s; the slow check was not cut off", el)
	}
	// A check out of time gave no verdict: it is reported as timed out, which fails nothing
	// (a busy cluster is not a broken one); --strict counts it like a warning.
	want := map[string]preflight.Status{"slow": preflight.Timeout, "fast": preflight.Pass, "crash": preflight.Error}
	for _, r := range rep.Checks {
		if r.Status != want[r.ID] {
			t.Errorf("%s: %s (%s), want %s", r.ID, r.Status, r.Detail, want[r.ID])
		}
	}
	if !strings.Contains(rep.Checks[0].Detail, "could not finish in 200ms") || !strings.Contains(rep.Checks[0].Remediation, "--check-timeout") || !strings.Contains(rep.Checks[2].Detail, "boom") {
		t.Errorf("details: %q, %q", rep.Checks[0].Detail, rep.Checks[2].Detail)
	}
	if rep.Summary != (preflight.Summary{Passed: 1, Errors: 1, TimedOut: 1}) {
		t.Errorf("summary %+v", rep.Summary)
	}
	timedOut := preflight.Report{Summary: preflight.Summary{Passed: 3, TimedOut: 1}}
	if timedOut.Verdict(false) != preflight.VerdictPassed || timedOut.Verdict(true) != preflight.VerdictWarnings {
		t.Errorf("verdicts with a timed-out check: %s, strict %s; want passed and warnings", timedOut.Verdict(false), timedOut.Verdict(true))
	}
}

// sampleReport has one check of every status.
func sampleReport() preflight.Report {
	return preflight.Report{
		SchemaVersion: preflight.SchemaVersion, Profile: "production", Server: "https://127.0.0.1:6443",
		Checks: []preflight.Result{
			{ID: "api-connectivity", Title: "Kubernetes API reachable and authenticated", Status: preflight.Pass, Detail: "Kubernetes v1.36.3 at https://127.0.0.1:6443 as admin", DurationMillis: 12},
			{ID: "default-storageclass", Title: "Exactly one default StorageClass", Status: preflight.Fail, Detail: "no default StorageClass among standard, fast",
				Remediation: `kubectl patch storageclass standard -p '{"metadata":{"annotations":{"storageclass.kubernetes.io/is-default-class":"true"}}}'`,
				DocsURL:     "https://kubernetes.io/docs/tasks/administer-cluster/change-default-storage-class/", DurationMillis: 8},
			{ID: "gpu-nodes", Title: "GPU nodes", Status: preflight.Pass, Detail: "2 GPU nodes (2 by GFD label): 2× NVIDIA-H100-80GB-HBM3 80GiB (16 GPUs, 14 free); 14 of 16 GPUs free", DurationMillis: 30},
			{ID: "rdma", Title: "RDMA on GPU nodes", Status: preflight.Warn, Detail: "none of 2 GPU nodes advertises RDMA: KV-cache transfer between prefill and decode falls back to TCP",
				Remediation: "for multi-node disaggregation install the NVIDIA Network Operator", DurationMillis: 30},
			{ID: "gpu-operator", Title: "NVIDIA GPU Operator", Status: preflight.Skip, Detail: "no GPU Operator; the GPU nodes get drivers and the device plugin from AKS (managed GPU node pools) on 2 node(s)", DurationMillis: 31},
			{ID: "etcd", Title: "etcd reachable", Status: preflight.Error, Detail: "timed out after 10s", Remediation: "raise --check-timeout, or look at the API server's load", DurationMillis: 10000},
		},
		Summary: preflight.Summary{Passed: 2, Warnings: 1, Failed: 1, Skipped: 1, Errors: 1},
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	testkit.Golden(t, filepath.Join("testdata", name), got)
}

func TestReportGolden(t *testing.T) {
	rep := sampleReport()
	var table, wide, js, junit bytes.Buffer
	if err := preflight.WriteTable(&table, rep, preflight.TableOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := preflight.WriteTable(&wide, rep, preflight.TableOptions{Wide: true}); err != nil {
		t.Fatal(err)
	}
	if err := preflight.WriteJSON(&js, rep); err != nil {
		t.Fatal(err)
	}
	if err := preflight.WriteJUnit(&junit, rep); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.txt", table.Bytes())
	golden(t, "report-wide.txt", wide.Bytes())
	golden(t, "report.json", js.Bytes())
	golden(t, "report.xml", junit.Bytes())

	var colored bytes.Buffer
	_ = preflight.WriteTable(&colored, rep, preflight.TableOptions{Color: true})
	if !strings.Contains(colored.String(), "\033[31mFAIL \033[0m") || strings.Contains(table.String(), "\033[") {
		t.Error("colour only when asked for")
	}
}

// The JUnit document parses as XML with one testcase per check and the right counts.
func TestJUnitParses(t *testing.T) {
	var buf bytes.Buffer
	if err := preflight.WriteJUnit(&buf, sampleReport()); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Errors   int `xml:"errors,attr"`
		Skipped  int `xml:"skipped,attr"`
		Suites   []struct {
			Cases []struct {
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
				Error   *struct{} `xml:"error"`
				Skipped *struct{} `xml:"skipped"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Tests != 6 || doc.Failures != 1 || doc.Errors != 1 || doc.Skipped != 1 || len(doc.Suites) != 1 || len(doc.Suites[0].Cases) != 6 {
		t.Fatalf("counts: %+v", doc)
	}
	c := doc.Suites[0].Cases
	if c[1].Name != "default-storageclass" || c[1].Failure == nil || c[5].Error == nil || c[4].Skipped == nil || c[3].Failure != nil {
		t.Errorf("cases: %+v", c)
	}
}
