// Command pluginsize checks that the kubectl plugin stays plugin-sized (make verify): it builds
// dynamoctl as a release does (linux/amd64, static, stripped; internal/release), prints its size
// and the peak memory of `dynamoctl version`, and fails above the bounds.
//
//	go run ./hack/pluginsize [-max-mb 60] [-max-rss-mib 40]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/dynamo-infra/dynamo-infra/internal/measure"
	"github.com/dynamo-infra/dynamo-infra/internal/release"
)

func main() {
	maxMB := flag.Float64("max-mb", 60, "largest release binary allowed, MB (10^6 bytes)")
	maxRSS := flag.Float64("max-rss-mib", 40, "largest peak RSS of `dynamoctl version` allowed, MiB")
	flag.Parse()
	if err := run(*maxMB, *maxRSS); err != nil {
		fmt.Fprintln(os.Stderr, "pluginsize:", err)
		os.Exit(1)
	}
}

func run(maxMB, maxRSS float64) error {
	dir, err := os.MkdirTemp("", "dynamo-pluginsize-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	bin := filepath.Join(dir, "dynamoctl")
	if err := release.Compile(context.Background(), wd, release.CLIPackage, v1.Platform{OS: "linux", Architecture: "amd64"}, "v0.0.0-size", "size", bin); err != nil {
		return err
	}
	st, err := os.Stat(bin)
	if err != nil {
		return err
	}
	mb := float64(st.Size()) / 1e6
	// Peak RSS through the measuring wrapper: a process started from this one would be charged
	// this one's peak (Linux starts it by vfork and exec).
	var peaks []float64
	for range 3 {
		r, err := measure.Run(nil, os.Stderr, nil, bin, "version")
		if err != nil {
			return err
		}
		peaks = append(peaks, float64(r.RSSKiB)/1024)
	}
	rss := slices.Max(peaks)
	fmt.Printf("dynamoctl, release build for linux/amd64: %.1f MB (bound %.0f MB)\n", mb, maxMB)
	fmt.Printf("dynamoctl version: peak RSS %.1f MiB, most of 3 runs (bound %.0f MiB)\n", rss, maxRSS)
	var errs []error
	if mb > maxMB {
		errs = append(errs, fmt.Errorf("the plugin is %.1f MB, above %.0f MB: keep developer tooling in dynamoctl-dev (docs/benchmarks.md)", mb, maxMB))
	}
	if rss > maxRSS {
		errs = append(errs, fmt.Errorf("dynamoctl version peaks at %.1f MiB, above %.0f MiB", rss, maxRSS))
	}
	return errors.Join(errs...)
}
