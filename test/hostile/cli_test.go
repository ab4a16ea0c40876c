package hostile

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dynamo-infra/dynamo-infra/test/clitest"
)

var dynamoctl string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "dynamoctl-hostile-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if dynamoctl, err = clitest.Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, "build dynamoctl:", err)
		return 1
	}
	return m.Run()
}

// blackHole listens on loopback, accepts every connection and never answers; it closes them
// when the test ends.
func blackHole(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String()
}

func kubeconfig(t *testing.T, server string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	must(t, os.WriteFile(p, fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://%s", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`, server), 0o600))
	return p
}

// Against a server that accepts and never answers, every command that talks to a cluster
// exits 3 after about one request timeout, not one per request (gpus took 66–90 s, pvc access
// 60 s), and with no kubeconfig at all it says so instead of "localhost:8080 refused".
func TestUnreachableClusters(t *testing.T) {
	kc := kubeconfig(t, blackHole(t))
	const timeout = 5 * time.Second
	commands := [][]string{
		{"gpus"},
		{"pvc", "access", "cache"},
		{"pvc", "cleanup", "cache"},
		{"pvc", "create", "cache"},
		{"pvc", "cp", ".", "pvc:cache:/x"},
		{"pvc", "shell", "cache"},
		{"pvc", "delete", "cache", "--yes"},
		{"pvc", "snapshot", "cache"},
		{"preflight", "--check-timeout", "5s"},
	}
	for _, args := range commands {
		name := strings.Join(args, " ")
		t.Run("black hole/"+name, func(t *testing.T) {
			t.Parallel()
			r := clitest.Run(t, dynamoctl, 2*time.Minute, nil, append(args, "--kubeconfig", kc, "--request-timeout", timeout.String())...)
			if r.Code != 3 {
				t.Errorf("exit %d, want 3\n%s%s", r.Code, r.Stdout, r.Stderr)
			}
			// One timeout and the slack of start-up; two requests that each wait their
			// timeout (what every command did before) take twice as long.
			if r.Took > timeout*9/5 {
				t.Errorf("took %s with --request-timeout %s", r.Took, timeout)
			}
		})
		t.Run("no kubeconfig/"+name, func(t *testing.T) {
			t.Parallel()
			home := t.TempDir()
			r := clitest.Run(t, dynamoctl, time.Minute, []string{"HOME=" + home, "KUBECONFIG=", "KUBERNETES_SERVICE_HOST="}, args...)
			if r.Code != 3 || !strings.Contains(r.Stderr, "no kubeconfig found") || strings.Contains(r.Stderr, "8080") {
				t.Errorf("exit %d, want 3 saying no kubeconfig found:\n%s", r.Code, r.Stderr)
			}
		})
	}
	// $KUBECONFIG naming a file that is not there: the error names it ("no kubeconfig found"
	// sent the user looking for a variable that was set).
	t.Run("KUBECONFIG names a missing file", func(t *testing.T) {
		t.Parallel()
		missing := filepath.Join(t.TempDir(), "gone", "config")
		r := clitest.Run(t, dynamoctl, time.Minute, []string{"HOME=" + t.TempDir(), "KUBECONFIG=" + missing, "KUBERNETES_SERVICE_HOST="}, "gpus")
		if r.Code != 3 || !strings.Contains(r.Stderr, missing) {
			t.Errorf("exit %d, want 3 naming %s:\n%s", r.Code, missing, r.Stderr)
		}
	})
	garbage := filepath.Join(t.TempDir(), "garbage")
	must(t, os.WriteFile(garbage, []byte("clusters: [unclosed\n\x00\x01"), 0o600))
	for _, flags := range [][]string{{"--kubeconfig", garbage}, {"--kubeconfig", kc, "--context", "nope"}} {
		t.Run("bad kubeconfig/"+strings.Join(flags, " "), func(t *testing.T) {
			t.Parallel()
			r := clitest.Run(t, dynamoctl, time.Minute, nil, append([]string{"gpus"}, flags...)...)
			if r.Code != 3 || !strings.Contains(r.Stderr, "kubeconfig") {
				t.Errorf("exit %d, want 3 naming the kubeconfig:\n%s", r.Code, r.Stderr)
			}
		})
	}
}

// Files that are not manifests are refused quickly with a short message.
func TestHostileManifestFiles(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.yaml")
	must(t, os.WriteFile(big, []byte("metadata:\n  name: "+strings.Repeat("x", 1<<20)+"\n"), 0o644))
	scalar := filepath.Join(t.TempDir(), "scalar.yaml")
	must(t, os.WriteFile(scalar, []byte("just a string\n"), 0o644))
	wrongType := filepath.Join(t.TempDir(), "spec42.yaml")
	must(t, os.WriteFile(wrongType, []byte("apiVersion: nvidia.com/v1alpha1\nkind: DynamoGraphDeployment\nmetadata: {name: x}\nspec: 42\n"), 0o644))
	// A scalar document, or a field of the wrong type, is said in a user's words (it was Go's:
	// "json: cannot unmarshal string into Go value of type map[string]interface {}").
	for name, tc := range map[string]struct{ file, says string }{
		"a scalar document": {scalar, "a document that is a string, not an object with apiVersion and kind"},
		"spec of a number":  {wrongType, "spec in body must be of type object"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := clitest.Run(t, dynamoctl, time.Minute, nil, "render", "-f", tc.file)
			if r.Code != 2 || !strings.Contains(r.Stderr, tc.says) || strings.Contains(r.Stderr, "Go value") || strings.Contains(r.Stderr, "Go struct") {
				t.Errorf("exit %d, want 2 saying %q:\n%s", r.Code, tc.says, r.Stderr)
			}
		})
	}
	cases := map[string][]string{
		"/dev/zero":            {"render", "-f", "/dev/zero"},
		"a 1 MB document":      {"render", "-f", big},
		"preflight /dev/zero":  {"preflight", "-f", "/dev/zero"},
		"scrape-config random": {"observability", "scrape-config", "-f", "/dev/urandom"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := clitest.Run(t, dynamoctl, time.Minute, []string{"KUBECONFIG=" + kubeconfig(t, "127.0.0.1:1")}, args...)
			if r.Code == 0 || strings.Contains(r.Stderr, "fatal error") || len(r.Stderr) > 1500 {
				t.Errorf("exit %d, stderr %d bytes: %.300s", r.Code, len(r.Stderr), r.Stderr)
			}
		})
	}
}

// A path on this machine that cannot be written is exit 1 — the user's disk — for every
// command that writes files, before any cluster is asked (explain --bundle exited 3, "cluster
// unreachable"; dev services waited out its timeout on a bad --data-dir). Nothing is
// overwritten, and a failed run leaves no empty directory behind.
func TestLocalFileErrorsExitOne(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	must(t, os.WriteFile(file, []byte("keep"), 0o600))
	dangling := filepath.Join(dir, "dangling")
	must(t, os.Symlink(filepath.Join(dir, "nowhere"), dangling))
	full := filepath.Join(dir, "full")
	must(t, os.MkdirAll(full, 0o700))
	must(t, os.WriteFile(filepath.Join(full, "x"), []byte("keep"), 0o600))
	kc := kubeconfig(t, blackHole(t))
	cases := map[string][]string{
		"explain --bundle a file":            {"explain", "dgd/x", "--bundle", file, "--kubeconfig", kc},
		"explain --bundle a dangling link":   {"explain", "dgd/x", "--bundle", dangling, "--kubeconfig", kc},
		"explain --bundle under a file":      {"explain", "dgd/x", "--bundle", filepath.Join(file, "b"), "--kubeconfig", kc},
		"explain --bundle a full dir":        {"explain", "dgd/x", "--bundle", full, "--kubeconfig", kc},
		"dev cluster up --dir under a file":  {"dev", "cluster", "up", "--dir", filepath.Join(file, "c"), "--timeout", "30s"},
		"dev services up --dir under a file": {"dev", "services", "up", "--dir", filepath.Join(file, "s"), "--timeout", "30s"},
		"dev services up --data-dir under a file": {"dev", "services", "up", "--dir", filepath.Join(dir, "svc"),
			"--data-dir", filepath.Join(file, "d"), "--timeout", "30s"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			r := clitest.Run(t, dynamoctl, time.Minute, nil, args...)
			if r.Code != 1 || !strings.Contains(r.Stderr, dir) || r.Took > 20*time.Second {
				t.Errorf("exit %d in %s (want 1 at once, naming the path):\n%s", r.Code, r.Took, r.Stderr)
			}
		})
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "keep" {
		t.Errorf("the file changed: %q %v", b, err)
	}
	// A new bundle directory is not left empty when the cluster cannot be reached.
	fresh := filepath.Join(dir, "fresh")
	if r := clitest.Run(t, dynamoctl, time.Minute, nil, "explain", "dgd/x", "--bundle", fresh, "--kubeconfig", kc, "--request-timeout", "2s"); r.Code != 3 {
		t.Errorf("unreachable: exit %d, want 3\n%s", r.Code, r.Stderr)
	}
	if _, err := os.Stat(fresh); err == nil {
		t.Errorf("%s left behind", fresh)
	}
}
