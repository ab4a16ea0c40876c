// Package preflight checks a cluster (and optionally a graph) before Dynamo is deployed on it:
// a registry of checks, each with an id, a result level, a one-line detail and a remediation,
// run concurrently against one shared client, each under its own timeout.
package preflight

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// SchemaVersion names the JSON report's format (docs/preflight.md).
const SchemaVersion = "dynamo-infra.dev/preflight/v1"

// Status is a check's outcome.
type Status string

// Outcomes, from best to worst. Error means the check could not decide (timeout, API error).
const (
	Pass  Status = "pass"
	Warn  Status = "warn"
	Fail  Status = "fail"
	Skip  Status = "skip"
	Error Status = "error"
	// Timeout: the check could not finish within --check-timeout. It is no verdict on the
	// cluster (a busy API server of 2,000 nodes is not a broken one), so it does not fail the
	// run; --strict counts it like a warning.
	Timeout Status = "timeout"
)

// Profiles select the default set of checks.
const (
	ProfileBaseline   = "baseline"
	ProfileProduction = "production"
)

// Profiles lists the profile names.
var Profiles = []string{ProfileBaseline, ProfileProduction}

// Outcome is what a check returns.
type Outcome struct {
	Status Status
	Detail string
	// Remediation says what to do when the status is not pass.
	Remediation string
	DocsURL     string
}

// Result is one check's line in the report.
type Result struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Status      Status `json:"status"`
	Detail      string `json:"detail"`
	Remediation string `json:"remediation,omitempty"`
	DocsURL     string `json:"docsURL,omitempty"`
	// DurationMillis is how long the check ran.
	DurationMillis int64 `json:"durationMillis"`
}

// Need is an input a check requires beyond the cluster.
type Need int

// Inputs a check may need.
const (
	NeedCluster Need = 1 << iota
	NeedNATS
	NeedEtcd
	NeedManifest
)

// Check is one entry of the registry.
type Check struct {
	ID    string
	Title string
	// Profiles the check belongs to by default. A check whose extra input (NATS address, etcd
	// address, manifest) is given runs in every profile.
	Profiles []string
	Needs    Need
	Run      func(ctx context.Context, e *Env) Outcome
}

// Registry returns every check, in report order.
func Registry() []Check {
	both := []string{ProfileBaseline, ProfileProduction}
	prod := []string{ProfileProduction}
	return []Check{
		{ID: "api-connectivity", Title: "Kubernetes API reachable and authenticated", Profiles: both, Needs: NeedCluster, Run: checkAPI},
		{ID: "default-storageclass", Title: "Exactly one default StorageClass", Profiles: both, Needs: NeedCluster, Run: checkStorageClass},
		{ID: "gpu-nodes", Title: "GPU nodes", Profiles: both, Needs: NeedCluster, Run: checkGPUNodes},
		{ID: "gpu-operator", Title: "NVIDIA GPU Operator", Profiles: both, Needs: NeedCluster, Run: checkGPUOperator},
		{ID: "dynamo-crds", Title: "DynamoGraphDeployment CRD installed and current", Profiles: prod, Needs: NeedCluster, Run: checkCRDs},
		{ID: "rbac", Title: "Permissions of this user", Profiles: prod, Needs: NeedCluster, Run: checkRBAC},
		{ID: "node-pressure", Title: "GPU nodes healthy and schedulable", Profiles: prod, Needs: NeedCluster, Run: checkNodePressure},
		{ID: "rdma", Title: "RDMA on GPU nodes", Profiles: prod, Needs: NeedCluster, Run: checkRDMA},
		{ID: "prometheus-operator", Title: "Prometheus Operator CRDs (ServiceMonitor, PodMonitor)", Profiles: prod, Needs: NeedCluster, Run: checkPrometheusOperator},
		{ID: "nats", Title: "NATS reachable", Needs: NeedNATS, Run: checkNATS},
		{ID: "etcd", Title: "etcd reachable", Needs: NeedEtcd, Run: checkEtcd},
		{ID: "dgd-fits", Title: "Graph fits on free GPUs", Needs: NeedCluster | NeedManifest, Run: checkFits},
	}
}

// IDs lists the ids of the registry.
func IDs() []string {
	var ids []string
	for _, c := range Registry() {
		ids = append(ids, c.ID)
	}
	return ids
}

// Selection says which checks to run.
type Selection struct {
	Profile string
	Require []string
	Skip    []string
	// Have are the inputs given (NeedNATS when --nats was set, and so on).
	Have Need
}

// Select returns the checks of the profile, plus those whose input is given, plus Require,
// minus Skip, in registry order. Unknown profiles and ids, and required checks whose input is
// missing, are errors for the user (usage).
func Select(s Selection) ([]Check, error) {
	if !slices.Contains(Profiles, s.Profile) {
		return nil, fmt.Errorf("unknown profile %q: use %s", s.Profile, strings.Join(Profiles, " or "))
	}
	known := IDs()
	for _, id := range append(slices.Clone(s.Require), s.Skip...) {
		if !slices.Contains(known, id) {
			return nil, fmt.Errorf("unknown check %q: the checks are %s", id, strings.Join(known, ", "))
		}
	}
	var out []Check
	for _, c := range Registry() {
		extra := c.Needs &^ NeedCluster
		in := slices.Contains(c.Profiles, s.Profile) || (extra != 0 && s.Have&extra == extra) || slices.Contains(s.Require, c.ID)
		if !in || slices.Contains(s.Skip, c.ID) {
			continue
		}
		if missing := extra &^ s.Have; missing != 0 {
			return nil, fmt.Errorf("check %s needs %s", c.ID, needFlag(missing))
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no check left to run: --skip removed them all")
	}
	return out, nil
}

func needFlag(n Need) string {
	switch {
	case n&NeedNATS != 0:
		return "--nats ADDRESS"
	case n&NeedEtcd != 0:
		return "--etcd ENDPOINTS"
	default:
		return "-f MANIFEST"
	}
}

// Summary counts results by status.
type Summary struct {
	Passed   int `json:"passed"`
	Warnings int `json:"warnings"`
	Failed   int `json:"failed"`
	Skipped  int `json:"skipped"`
	Errors   int `json:"errors"`
	TimedOut int `json:"timedOut"`
}

// Report is the whole run.
type Report struct {
	SchemaVersion string `json:"schemaVersion"`
	Profile       string `json:"profile"`
	// Server is the API server's URL; Unreachable is true when it could not be reached.
	Server      string   `json:"server,omitempty"`
	Unreachable bool     `json:"unreachable"`
	Checks      []Result `json:"checks"`
	Summary     Summary  `json:"summary"`
}

// Verdict is a run's outcome as a whole; the CLI turns it into an exit code.
type Verdict string

// Verdicts of a run.
const (
	VerdictPassed      Verdict = "passed"
	VerdictFailed      Verdict = "failed"
	VerdictUnreachable Verdict = "unreachable"
	// VerdictWarnings: only with strict, a check warned or ran out of time.
	VerdictWarnings Verdict = "warnings"
)

// Verdict is unreachable when the cluster could not be reached, failed when a check failed or
// could not run (an API error), warnings when strict and a check warned or ran out of time,
// else passed.
func (r Report) Verdict(strict bool) Verdict {
	switch {
	case r.Unreachable:
		return VerdictUnreachable
	case r.Summary.Failed > 0 || r.Summary.Errors > 0:
		return VerdictFailed
	case strict && r.Summary.Warnings+r.Summary.TimedOut > 0:
		return VerdictWarnings
	}
	return VerdictPassed
}

// RunOptions bound the run.
type RunOptions struct {
	// CheckTimeout bounds each check; the API connection step gets the same. The whole run
	// takes at most about twice this, however many checks there are.
	CheckTimeout time.Duration
}

// Run connects to the API server (when a selected check needs the cluster), then runs every
// check concurrently, each under its own timeout. A check that overruns is reported as error
// and the run goes on without it.
func Run(ctx context.Context, e *Env, checks []Check, o RunOptions) Report {
	if o.CheckTimeout <= 0 {
		o.CheckTimeout = 10 * time.Second
	}
	rep := Report{SchemaVersion: SchemaVersion, Profile: e.Profile, Server: e.Server()}
	needsCluster := slices.ContainsFunc(checks, func(c Check) bool { return c.Needs&NeedCluster != 0 })
	if needsCluster {
		cctx, cancel := context.WithTimeout(ctx, o.CheckTimeout)
		e.connect(cctx)
		cancel()
		rep.Unreachable = e.unreachable
	}
	results := make([]Result, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = runOne(ctx, e, c, o.CheckTimeout)
		}()
	}
	wg.Wait()
	rep.Checks = results
	for _, r := range results {
		switch r.Status {
		case Pass:
			rep.Summary.Passed++
		case Warn:
			rep.Summary.Warnings++
		case Fail:
			rep.Summary.Failed++
		case Skip:
			rep.Summary.Skipped++
		case Timeout:
			rep.Summary.TimedOut++
		default:
			rep.Summary.Errors++
		}
	}
	return rep
}

// timeoutGrace is how long a check may take to report after its context ended.
const timeoutGrace = 500 * time.Millisecond

func runOne(ctx context.Context, e *Env, c Check, timeout time.Duration) Result {
	start := time.Now()
	res := Result{ID: c.ID, Title: c.Title}
	var out Outcome
	if c.Needs&NeedCluster != 0 && e.unreachable && c.ID != "api-connectivity" {
		out = Outcome{Status: Skip, Detail: "skipped: the API server is unreachable"}
	} else {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		done := make(chan Outcome, 1)
		go func() {
			defer func() {
				if p := recover(); p != nil {
					done <- Outcome{Status: Error, Detail: fmt.Sprintf("check crashed: %v", p)}
				}
			}()
			done <- c.Run(cctx, e)
		}()
		select {
		case out = <-done:
		case <-cctx.Done():
			// A check that watches its context gets a moment to say what timed out (a silent
			// NATS port is a failure of that check, not an unknown); one that does not is cut off.
			select {
			case out = <-done:
			case <-time.After(timeoutGrace):
				out = Outcome{Status: Timeout, Detail: fmt.Sprintf("could not finish in %s: no verdict on the cluster", timeout),
					Remediation: "raise --check-timeout (a large or busy cluster needs longer), or look at the API server's load"}
			}
			if ctx.Err() != nil {
				out = Outcome{Status: Error, Detail: "interrupted"}
			}
		}
	}
	res.Status, res.Detail, res.Remediation, res.DocsURL = out.Status, out.Detail, out.Remediation, out.DocsURL
	res.DurationMillis = time.Since(start).Milliseconds()
	return res
}
