// Package release builds what a release ships, without a container daemon and reproducibly:
// the operator's OCI image (a static binary per platform on an empty base with a non-root user
// and the build machine's CA certificates, assembled with go-containerregistry into a
// multi-platform index) and the kubectl plugin's archives with their krew manifest. Everything
// that enters them is fixed by the commit — times are the commit's, binaries are built with
// -trimpath and no build ID, archives list files in a fixed order with fixed owners — so the
// same commit on the same machine gives the same digests.
package release

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// What every release artifact is stamped with.
const (
	// VersionVar and CommitVar are stamped into binaries (what --version prints).
	VersionVar = "github.com/dynamo-infra/dynamo-infra/internal/version.version"
	CommitVar  = "github.com/dynamo-infra/dynamo-infra/internal/version.commit"
	Source     = "https://github.com/dynamo-infra/dynamo-infra"
)

// Compile builds pkg (in the module at dir) for p into out: static, stripped, reproducible,
// stamped with version and commit.
func Compile(ctx context.Context, dir, pkg string, p v1.Platform, version, commit, out string) error {
	ldflags := fmt.Sprintf("-s -w -buildid= -X %s=%s -X %s=%s", VersionVar, version, CommitVar, commit)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture, "GOFLAGS=-mod=readonly")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s for %s/%s: %w\n%s", pkg, p.OS, p.Architecture, err, b)
	}
	return nil
}

// File is one entry of an archive; a Name ending in "/" is a directory.
type File struct {
	Name string
	Mode int64
	UID  int
	Data []byte
}

// Tar writes files in order with mtime and numeric owners only (no user names, no build
// machine's times).
func Tar(w io.Writer, files []File, mtime time.Time) error {
	tw := tar.NewWriter(w)
	for _, f := range files {
		h := &tar.Header{Name: f.Name, Mode: f.Mode, Uid: f.UID, Gid: f.UID, ModTime: mtime.UTC(), Format: tar.FormatPAX}
		if strings.HasSuffix(f.Name, "/") {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return err
		}
	}
	return tw.Close()
}

// ParsePlatforms reads a comma-separated OS/ARCH list (the --platforms flag of make image and
// make krew).
func ParsePlatforms(list string) ([]v1.Platform, error) {
	var ps []v1.Platform
	for _, p := range strings.Split(list, ",") {
		goos, arch, ok := strings.Cut(strings.TrimSpace(p), "/")
		if !ok || goos == "" || arch == "" {
			return nil, fmt.Errorf("--platforms: %q is not OS/ARCH", p)
		}
		ps = append(ps, v1.Platform{OS: goos, Architecture: arch})
	}
	return ps, nil
}

// ParseEpoch reads SOURCE_DATE_EPOCH: the commit's Unix time, every time in an artifact.
func ParseEpoch(s string) (time.Time, error) {
	secs, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("--source-date-epoch %q: want the commit's Unix time (git log -1 --format=%%ct)", s)
	}
	return time.Unix(secs, 0), nil
}
