package release

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Where things are in the image.
const (
	Entrypoint = "/usr/local/bin/dynamo-operator"
	// User is distroless's "nonroot": the chart runs the pod with runAsNonRoot, which needs a
	// numeric user in the image.
	User            = "65532:65532"
	CAFile          = "/etc/ssl/certs/ca-certificates.crt"
	OperatorPackage = "github.com/dynamo-infra/dynamo-infra/cmd/dynamo-operator"
)

// DefaultPlatforms are x86 servers and Grace-based (arm64) GPU nodes.
var DefaultPlatforms = []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}

// ImageOptions say what to build.
type ImageOptions struct {
	// ModuleDir is the repository root (where go build runs).
	ModuleDir string
	Version   string
	Commit    string
	// Created is the commit's time: every time in the image (config, history, file times).
	Created   time.Time
	Platforms []v1.Platform
	// CAFile is the CA bundle copied into the image (default: the machine's, CAFile).
	CAFile string
	// Log receives one line per step (nil: none).
	Log io.Writer
}

// BuildImage compiles the operator for every platform and returns the multi-platform index.
func BuildImage(ctx context.Context, o ImageOptions) (v1.ImageIndex, error) {
	if o.Version == "" || o.Commit == "" {
		return nil, fmt.Errorf("a version and a commit are required (they label the image and stamp the binary)")
	}
	if len(o.Platforms) == 0 {
		o.Platforms = DefaultPlatforms
	}
	if o.CAFile == "" {
		o.CAFile = CAFile
	}
	ca, err := os.ReadFile(o.CAFile)
	if err != nil {
		return nil, fmt.Errorf("read the CA certificates to ship (install ca-certificates): %w", err)
	}
	tmp, err := os.MkdirTemp("", "dynamo-image-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range o.Platforms {
		bin := filepath.Join(tmp, p.OS+"-"+p.Architecture, "dynamo-operator")
		if o.Log != nil {
			_, _ = fmt.Fprintf(o.Log, "building %s for %s/%s\n", OperatorPackage, p.OS, p.Architecture)
		}
		if err := Compile(ctx, o.ModuleDir, OperatorPackage, p, o.Version, o.Commit, bin); err != nil {
			return nil, err
		}
		img, err := image(o, p, bin, ca)
		if err != nil {
			return nil, fmt.Errorf("assemble the %s/%s image: %w", p.OS, p.Architecture, err)
		}
		platform := p
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &platform}})
	}
	return idx, nil
}

// image puts the binary, the CA bundle and the users on an empty base.
func image(o ImageOptions, p v1.Platform, bin string, ca []byte) (v1.Image, error) {
	exe, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	files := []File{
		{Name: "etc/", Mode: 0o755},
		{Name: "etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{Name: "etc/group", Mode: 0o644, Data: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{Name: "etc/ssl/", Mode: 0o755},
		{Name: "etc/ssl/certs/", Mode: 0o755},
		{Name: strings.TrimPrefix(CAFile, "/"), Mode: 0o644, Data: ca},
		{Name: "home/", Mode: 0o755},
		{Name: "home/nonroot/", Mode: 0o700, UID: 65532},
		{Name: "tmp/", Mode: 0o1777},
		{Name: "usr/", Mode: 0o755},
		{Name: "usr/local/", Mode: 0o755},
		{Name: "usr/local/bin/", Mode: 0o755},
		{Name: strings.TrimPrefix(Entrypoint, "/"), Mode: 0o755, Data: exe},
	}
	var layerTar bytes.Buffer
	if err := Tar(&layerTar, files, o.Created); err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerTar.Bytes())), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	created := v1.Time{Time: o.Created.UTC()}
	img, err := mutate.Append(mutate.MediaType(mutate.ConfigMediaType(empty.Image, types.OCIConfigJSON), types.OCIManifestSchema1),
		mutate.Addendum{Layer: layer, History: v1.History{Created: created, CreatedBy: "make image", Comment: "dynamo-operator " + o.Version}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Created = created
	cf.Config.Entrypoint = []string{Entrypoint}
	cf.Config.User = User
	cf.Config.WorkingDir = "/"
	cf.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=" + CAFile}
	cf.Config.Labels = labels(o)
	return mutate.ConfigFile(img, cf)
}

// labels are the OCI annotations the image config carries.
func labels(o ImageOptions) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "dynamo-operator",
		"org.opencontainers.image.description": "Reconciles NVIDIA Dynamo DynamoGraphDeployments",
		"org.opencontainers.image.version":     o.Version,
		"org.opencontainers.image.revision":    o.Commit,
		"org.opencontainers.image.created":     o.Created.UTC().Format(time.RFC3339),
		"org.opencontainers.image.source":      Source,
		"org.opencontainers.image.licenses":    "Apache-2.0",
	}
}

// WriteArchive writes idx as an OCI image layout in dir and as a tar of that layout at
// archive, named ref: `ctr -n k8s.io images import ARCHIVE` and `kind load image-archive
// ARCHIVE` read it (containerd names the image from io.containerd.image.name).
func WriteArchive(idx v1.ImageIndex, ref name.Tag, dir, archive string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("write the OCI layout: %w", err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": ref.TagStr(),
		"io.containerd.image.name":          ref.Name(),
	})); err != nil {
		return fmt.Errorf("write the OCI layout: %w", err)
	}
	return tarDir(dir, archive)
}

// tarDir tars dir's files (sorted, as Walk visits them) with zero times into archive.
func tarDir(dir, archive string) error {
	f, err := os.Create(archive)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	walkErr := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		h := &tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, ModTime: time.Unix(0, 0).UTC(), Format: tar.FormatPAX}
		if info.IsDir() {
			h.Name, h.Typeflag, h.Mode = h.Name+"/", tar.TypeDir, 0o755
			return tw.WriteHeader(h)
		}
		h.Typeflag, h.Size = tar.TypeReg, info.Size()
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		src, err := os.Open(path)
		if err != nil {
			return err
		}
		defer func() { _ = src.Close() }()
		_, err = io.Copy(tw, src)
		return err
	})
	if err := tw.Close(); err != nil && walkErr == nil {
		walkErr = err
	}
	if err := f.Close(); err != nil && walkErr == nil {
		walkErr = err
	}
	return walkErr
}

// Push writes idx to ref with the caller's registry credentials (docker's config.json, as
// `docker login` or `crane auth login` leave them). Every request is bounded by ctx.
func Push(ctx context.Context, idx v1.ImageIndex, ref name.Reference, opts ...remote.Option) error {
	opts = append([]remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}, opts...)
	if err := remote.WriteIndex(ref, idx, opts...); err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	return nil
}
