package preflight

import (
	"testing"

	"github.com/dynamo-infra/dynamo-infra/internal/cli/exit"
	"github.com/dynamo-infra/dynamo-infra/internal/preflight"
)

// The exit codes of a run (docs/cli/exit-codes.md): 0 passed, 1 a check failed or could not
// run, 3 unreachable (before anything else), 4 warnings or timed-out checks with --strict.
func TestVerdictExitCodes(t *testing.T) {
	cases := []struct {
		name   string
		rep    preflight.Report
		strict bool
		want   int
	}{
		{"all pass", preflight.Report{Summary: preflight.Summary{Passed: 4}}, true, 0},
		{"warnings allowed", preflight.Report{Summary: preflight.Summary{Passed: 3, Warnings: 1}}, false, 0},
		{"warnings strict", preflight.Report{Summary: preflight.Summary{Passed: 3, Warnings: 1}}, true, 4},
		{"timed out strict", preflight.Report{Summary: preflight.Summary{Passed: 3, TimedOut: 1}}, true, 4},
		{"failure", preflight.Report{Summary: preflight.Summary{Failed: 1, Warnings: 1}}, true, 1},
		{"error counts as failure", preflight.Report{Summary: preflight.Summary{Errors: 1}}, false, 1},
		{"unreachable first", preflight.Report{Unreachable: true, Summary: preflight.Summary{Failed: 1}}, false, 3},
	}
	for _, c := range cases {
		if got := exit.Code(verdictError(c.rep, c.strict)); got != c.want {
			t.Errorf("%s: exit %d, want %d", c.name, got, c.want)
		}
	}
}
