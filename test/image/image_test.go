// Package image tests `make image`: the operator's OCI image built without a container daemon,
// pushed to a registry, pulled back and checked — platforms, entrypoint, user, labels, the
// binary's version — and rebuilt to the same digest.
package image

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/dynamo-infra/dynamo-infra/internal/release"
)

var root = func() string {
	r, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		panic(err)
	}
	return r
}()

const (
	tag    = "v0.0.0-imagetest"
	commit = "0123456789abcdef0123456789abcdef01234567"
	epoch  = "1767225600" // 2026-01-01T00:00:00Z
)

func makeImage(t *testing.T, vars ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", append([]string{"--no-print-directory", "image", "IMAGE_TAG=" + tag, "COMMIT=" + commit}, vars...)...)
	cmd.Dir = root
	// The commit's time, as the Makefile takes it from git for a real build.
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH="+epoch)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make image %v: %v\n%s", vars, err, out)
	}
	return string(out)
}

func TestMakeImage(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("make is not installed: the README's set-up needs it")
	}
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	// Push (REGISTRY=…), then pull it back.
	out := makeImage(t, "REGISTRY="+host+"/team")
	ref, err := name.NewTag(host + "/team/dynamo-operator:" + tag)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "pushed "+ref.String()+"@sha256:") {
		t.Errorf("make image did not report the pushed reference:\n%s", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	idx, err := remote.Index(ref, remote.WithContext(ctx))
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	if err := validate.Index(idx); err != nil {
		t.Fatalf("the pulled index is not valid: %v", err)
	}
	manifest, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var platforms []string
	var native v1.Image
	for _, m := range manifest.Manifests {
		platforms = append(platforms, m.Platform.OS+"/"+m.Platform.Architecture)
		img, err := idx.Image(m.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		c := cf.Config
		if cf.OS != m.Platform.OS || cf.Architecture != m.Platform.Architecture {
			t.Errorf("%s: config says %s/%s", platforms[len(platforms)-1], cf.OS, cf.Architecture)
		}
		if !slices.Equal(c.Entrypoint, []string{"/usr/local/bin/dynamo-operator"}) || c.User != "65532:65532" {
			t.Errorf("%s: entrypoint %v user %q, want /usr/local/bin/dynamo-operator as 65532:65532", m.Platform.Architecture, c.Entrypoint, c.User)
		}
		for k, want := range map[string]string{"org.opencontainers.image.version": tag, "org.opencontainers.image.revision": commit,
			"org.opencontainers.image.created": "2026-01-01T00:00:00Z", "org.opencontainers.image.source": release.Source} {
			if c.Labels[k] != want {
				t.Errorf("%s: label %s = %q, want %q", m.Platform.Architecture, k, c.Labels[k], want)
			}
		}
		if !cf.Created.Equal(time.Unix(1767225600, 0)) {
			t.Errorf("%s: created %v, want the commit's time", m.Platform.Architecture, cf.Created)
		}
		if m.Platform.Architecture == runtime.GOARCH {
			native = img
		}
	}
	slices.Sort(platforms)
	if !slices.Equal(platforms, []string{"linux/amd64", "linux/arm64"}) {
		t.Fatalf("platforms %v, want linux/amd64 and linux/arm64", platforms)
	}
	if native == nil {
		t.Fatalf("no image for this machine's %s", runtime.GOARCH)
	}

	// The files: the binary reports the image's version; a non-root user; CA certificates.
	files := layerFiles(t, native)
	for _, f := range []string{"etc/passwd", "etc/group", "etc/ssl/certs/ca-certificates.crt", "usr/local/bin/dynamo-operator"} {
		if len(files[f]) == 0 {
			t.Errorf("the image has no %s", f)
		}
	}
	if !strings.Contains(string(files["etc/passwd"]), "nonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd has no nonroot user 65532:\n%s", files["etc/passwd"])
	}
	bin := filepath.Join(t.TempDir(), "dynamo-operator")
	if err := os.WriteFile(bin, files["usr/local/bin/dynamo-operator"], 0o755); err != nil {
		t.Fatal(err)
	}
	version, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(version), tag) || !strings.Contains(string(version), commit) {
		t.Errorf("the image's binary --version: %v %q, want %s and %s", err, version, tag, commit)
	}

	// Without a registry: an OCI layout and its tar, named for containerd, same digest — the
	// build is reproducible.
	dir := t.TempDir()
	makeImage(t, "BIN="+dir)
	p, err := layout.FromPath(filepath.Join(dir, "image", "oci"))
	if err != nil {
		t.Fatal(err)
	}
	top, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	tm, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := idx.Digest()
	if len(tm.Manifests) != 1 || tm.Manifests[0].Digest != want {
		t.Fatalf("the layout's index.json points at %v, want one entry %s (the same digest as the pushed build)", tm.Manifests, want)
	}
	if got := tm.Manifests[0].Annotations["io.containerd.image.name"]; got != "ghcr.io/dynamo-infra/dynamo-operator:"+tag {
		t.Errorf("io.containerd.image.name %q", got)
	}
	local, err := top.ImageIndex(want)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(local); err != nil {
		t.Errorf("the layout's index is not valid: %v", err)
	}
	archive := tarNames(t, filepath.Join(dir, "image", "dynamo-operator-"+tag+".oci.tar"))
	for _, n := range []string{"oci-layout", "index.json", "blobs/sha256/" + want.Hex} {
		if !slices.Contains(archive, n) {
			t.Errorf("the archive lacks %s: %v", n, archive)
		}
	}
}

// layerFiles reads every regular file of img's layers.
func layerFiles(t *testing.T, img v1.Image) map[string][]byte {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.Typeflag == tar.TypeReg {
				b, err := io.ReadAll(tr)
				if err != nil {
					t.Fatal(err)
				}
				files[h.Name] = b
			}
		}
		_ = rc.Close()
	}
	return files
}

func tarNames(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var names []string
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
}
