package hostile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dynamo-infra/dynamo-infra/test/clitest"
)

// `dynamoctl dev` runs dynamoctl-dev in its place: help, usage errors and exit codes are the dev
// binary's, spelled as the user typed them (dynamoctl dev, kubectl dynamo dev); completion is
// asked of it; without it the user is told what is missing, exit 1.
func TestDevRunsTheDevBinary(t *testing.T) {
	r := clitest.Run(t, dynamoctl, 30*time.Second, nil, "dev", "cluster", "--help")
	if r.Code != 0 || !strings.Contains(r.Stdout, "dynamoctl dev cluster [command]") || !strings.Contains(r.Stdout, "Start the dev cluster in the background") {
		t.Fatalf("dev cluster --help: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	plugin := filepath.Join(filepath.Dir(dynamoctl), "kubectl-dynamo")
	if err := os.Symlink("dynamoctl", plugin); err != nil && !os.IsExist(err) {
		t.Fatal(err)
	}
	if r := clitest.Run(t, plugin, 30*time.Second, nil, "dev", "services", "--help"); !strings.Contains(r.Stdout, "kubectl dynamo dev services [command]") {
		t.Errorf("as the plugin, usage not spelled kubectl dynamo dev:\n%s", r.Stdout)
	}
	if r := clitest.Run(t, dynamoctl, 30*time.Second, nil, "dev", "cluster", "up", "--no-such-flag"); r.Code != 2 || !strings.Contains(r.Stderr, "unknown flag: --no-such-flag") {
		t.Errorf("usage error: exit %d, stderr %q; want 2 and the dev binary's message", r.Code, r.Stderr)
	}
	r = clitest.Run(t, dynamoctl, 30*time.Second, nil, "__complete", "dev", "cluster", "u")
	if !strings.Contains(r.Stdout, "up\t") || !strings.Contains(r.Stdout, ":4") {
		t.Errorf("completion of dev cluster u:\n%s", r.Stdout)
	}
	r = clitest.Run(t, dynamoctl, 30*time.Second, nil, "__complete", "dev", "cluster", "up", "--pro")
	if strings.Count(r.Stdout, "--proxy-url") != 1 || !strings.Contains(r.Stdout, "--profile") {
		t.Errorf("completion of dev cluster up --pro: each flag once, the dev binary's too:\n%s", r.Stdout)
	}

	// A dynamoctl alone, no dynamoctl-dev beside it or on PATH.
	alone := filepath.Join(t.TempDir(), "dynamoctl")
	raw, err := os.ReadFile(dynamoctl)
	must(t, err)
	must(t, os.WriteFile(alone, raw, 0o755))
	r = clitest.Run(t, alone, 30*time.Second, []string{"PATH=/nonexistent"}, "dev", "cluster", "status")
	if r.Code != 1 || !strings.Contains(r.Stderr, "needs dynamoctl-dev") || !strings.Contains(r.Stderr, "make build writes bin/dynamoctl-dev") {
		t.Errorf("without the dev binary: exit %d, stderr %q", r.Code, r.Stderr)
	}
}
