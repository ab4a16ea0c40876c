// Command krew builds the kubectl plugin's release archives and its krew manifest (make krew):
// <out>/kubectl-dynamo_<version>_<os>_<arch>.tar.gz and <out>/dynamo.yaml. See internal/release.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/dynamo-infra/dynamo-infra/internal/release"
)

func main() {
	var (
		version   = flag.String("version", "", "Release version, v-prefixed (required)")
		commit    = flag.String("commit", "", "Commit the release is built from (required)")
		epoch     = flag.String("source-date-epoch", os.Getenv("SOURCE_DATE_EPOCH"), "Unix time of the commit (default $SOURCE_DATE_EPOCH)")
		platforms = flag.String("platforms", "linux/amd64,linux/arm64,darwin/amd64,darwin/arm64", "Comma-separated OS/ARCH list")
		out       = flag.String("out", "bin/krew", "Directory for the archives and dynamo.yaml")
	)
	flag.Parse()
	if err := run(*version, *commit, *epoch, *platforms, *out); err != nil {
		fmt.Fprintln(os.Stderr, "krew:", err)
		os.Exit(1)
	}
}

func run(version, commit, epoch, platforms, out string) error {
	if commit == "" {
		return fmt.Errorf("--commit is required")
	}
	secs, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil {
		return fmt.Errorf("--source-date-epoch %q: want the commit's Unix time (git log -1 --format=%%ct)", epoch)
	}
	var ps []v1.Platform
	for _, p := range strings.Split(platforms, ",") {
		goos, arch, ok := strings.Cut(strings.TrimSpace(p), "/")
		if !ok {
			return fmt.Errorf("--platforms: %q is not OS/ARCH", p)
		}
		ps = append(ps, v1.Platform{OS: goos, Architecture: arch})
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	archives, err := release.BuildPluginArchives(ctx, wd, version, commit, time.Unix(secs, 0), ps)
	if err != nil {
		return err
	}
	manifest, err := release.KrewManifest(version, archives)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, a := range archives {
		if err := os.WriteFile(filepath.Join(out, a.Name), a.Data, 0o644); err != nil {
			return err
		}
		fmt.Printf("%s  %s\n", a.SHA256(), filepath.Join(out, a.Name))
	}
	path := filepath.Join(out, release.PluginName+".yaml")
	if err := os.WriteFile(path, manifest, 0o644); err != nil {
		return err
	}
	fmt.Printf("krew manifest %s (upload the archives as release %s's assets)\n", path, version)
	return nil
}
