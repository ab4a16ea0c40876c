package e2e

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/internal/release"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
)

// runIn runs name in dir with env over the test's environment and returns its combined output.
func runIn(t *testing.T, dir string, env []string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// make build writes kubectl-dynamo and its completion helper; kubectl finds them on PATH:
// `kubectl dynamo gpus` runs against the cluster, help names the plugin, and kubectl's plugin
// completion completes its commands.
func TestKubectlPlugin(t *testing.T) {
	kc, _ := upCluster(t, "h100=1,cpu=1")
	bin := t.TempDir()
	if out, err := runIn(t, testkit.RepoRoot(), nil, "make", "--no-print-directory", "build", "BIN="+bin); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	path := []string{"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH")}
	out, err := runIn(t, bin, path, "kubectl", "plugin", "list")
	if err != nil || !strings.Contains(out, filepath.Join(bin, "kubectl-dynamo")) {
		t.Errorf("kubectl plugin list: %v\n%s", err, out)
	}
	out, err = runIn(t, bin, path, "kubectl", "dynamo", "gpus", "--kubeconfig", kc)
	if err != nil || !strings.Contains(out, "H100") {
		t.Errorf("kubectl dynamo gpus: %v\n%s", err, out)
	}
	out, err = runIn(t, bin, path, "kubectl", "dynamo", "--help")
	if err != nil || !strings.Contains(out, `Use "kubectl dynamo [command] --help"`) {
		t.Errorf("kubectl dynamo --help does not name the plugin: %v\n%s", err, out)
	}
	out, err = runIn(t, bin, path, "kubectl", "__complete", "dynamo", "pv")
	if err != nil || !strings.Contains(out, "\npvc\t") && !strings.HasPrefix(out, "pvc\t") {
		t.Errorf("kubectl's completion of `kubectl dynamo pv`: %v\n%s", err, out)
	}
}

// make krew's generator: one reproducible archive per platform and a manifest whose checksums
// and URLs match them; the archive's binary reports the release version.
func TestKrewManifest(t *testing.T) {
	out := t.TempDir()
	const version, commit = "v0.0.0-krewtest", "fedcba9876543210fedcba9876543210fedcba98"
	args := []string{"run", "./hack/krew", "--version", version, "--commit", commit, "--source-date-epoch", "1767225600",
		"--platforms", "linux/" + runtime.GOARCH, "--out", out}
	if o, err := runIn(t, testkit.RepoRoot(), nil, "go", args...); err != nil {
		t.Fatalf("hack/krew: %v\n%s", err, o)
	}
	raw, err := os.ReadFile(filepath.Join(out, "dynamo.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var m release.KrewPlugin
	if err := yaml.UnmarshalStrict(raw, &m); err != nil {
		t.Fatalf("the manifest: %v\n%s", err, raw)
	}
	if m.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || m.Kind != "Plugin" || m.Metadata["name"] != "dynamo" || m.Spec.Version != version {
		t.Errorf("manifest header: %s %s %v %s", m.APIVersion, m.Kind, m.Metadata, m.Spec.Version)
	}
	if l := len(m.Spec.ShortDescription); l == 0 || l > 50 {
		t.Errorf("krew wants a short description of at most 50 characters: %q", m.Spec.ShortDescription)
	}
	if len(m.Spec.Platforms) != 1 {
		t.Fatalf("platforms: %+v", m.Spec.Platforms)
	}
	p := m.Spec.Platforms[0]
	name := "kubectl-dynamo_" + version + "_linux_" + runtime.GOARCH + ".tar.gz"
	if p.URI != release.Source+"/releases/download/"+version+"/"+name || p.Bin != "kubectl-dynamo" ||
		p.Selector["matchLabels"]["os"] != "linux" || p.Selector["matchLabels"]["arch"] != runtime.GOARCH {
		t.Errorf("platform entry: %+v", p)
	}
	archive, err := os.ReadFile(filepath.Join(out, name))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(archive)
	if hex.EncodeToString(sum[:]) != p.SHA256 {
		t.Errorf("sha256 in the manifest %s, archive's %x", p.SHA256, sum)
	}
	gz, err := gzip.NewReader(strings.NewReader(string(archive)))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	exe := filepath.Join(t.TempDir(), "kubectl-dynamo")
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name != "kubectl-dynamo" {
			t.Errorf("unexpected file %s in the archive", h.Name)
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(exe, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	o, err := exec.Command(exe, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(o), version) || !strings.Contains(string(o), commit) {
		t.Errorf("the archive's kubectl-dynamo version: %v %s", err, o)
	}
}
