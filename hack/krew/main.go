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
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	archives, err := release.BuildPluginArchives(ctx, wd, version, commit, created, ps)
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
