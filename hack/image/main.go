// Command image builds the operator's multi-platform OCI image (make image): without a
// registry it writes an OCI layout and a tar of it under --out, with --push it pushes the
// index to --repository:--tag. See internal/release.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/dynamo-infra/dynamo-infra/internal/release"
)

func main() {
	var (
		repo      = flag.String("repository", "ghcr.io/dynamo-infra/dynamo-operator", "Image repository")
		tag       = flag.String("tag", "", "Image tag and the binary's version (required)")
		commit    = flag.String("commit", "", "Commit the image is built from (required)")
		epoch     = flag.String("source-date-epoch", os.Getenv("SOURCE_DATE_EPOCH"), "Unix time of the commit: every time in the image (default $SOURCE_DATE_EPOCH)")
		platforms = flag.String("platforms", "linux/amd64,linux/arm64", "Comma-separated OS/ARCH list")
		out       = flag.String("out", "bin/image", "Directory for the OCI layout (oci/) and its tar")
		push      = flag.Bool("push", false, "Push to the registry instead of writing files")
		timeout   = flag.Duration("timeout", 20*time.Minute, "Limit for the whole build and push")
	)
	flag.Parse()
	if err := run(*repo, *tag, *commit, *epoch, *platforms, *out, *push, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(repo, tag, commit, epoch, platforms, out string, push bool, timeout time.Duration) error {
	if tag == "" || commit == "" {
		return fmt.Errorf("--tag and --commit are required")
	}
	ref, err := name.NewTag(repo + ":" + tag)
	if err != nil {
		return fmt.Errorf("--repository %q --tag %q: %w", repo, tag, err)
	}
	created, err := release.ParseEpoch(epoch)
	if err != nil {
		return err
	}
	ps, err := release.ParsePlatforms(platforms)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	idx, err := release.BuildImage(ctx, release.ImageOptions{ModuleDir: wd, Version: tag, Commit: commit, Created: created, Platforms: ps, Log: os.Stderr})
	if err != nil {
		return err
	}
	digest, err := idx.Digest()
	if err != nil {
		return err
	}
	if push {
		if err := release.Push(ctx, idx, ref); err != nil {
			return err
		}
		fmt.Printf("pushed %s@%s\n", ref, digest)
		return nil
	}
	archive := filepath.Join(out, "dynamo-operator-"+tag+".oci.tar")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if err := release.WriteArchive(idx, ref, filepath.Join(out, "oci"), archive); err != nil {
		return err
	}
	fmt.Printf("%s@%s\n  OCI layout %s\n  archive    %s (ctr -n k8s.io images import --all-platforms; kind load image-archive)\n",
		ref, digest, filepath.Join(out, "oci"), archive)
	return nil
}
