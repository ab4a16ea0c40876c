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
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"

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
	// Peak RSS through the measuring wrapper (hack/measure): a process started from this one
	// would be charged this one's peak (Linux starts it by vfork and exec).
	measure := filepath.Join(dir, "measure")
	if out, err := exec.Command("go", "build", "-o", measure, "./hack/measure").CombinedOutput(); err != nil {
		return fmt.Errorf("build the measuring wrapper: %w\n%s", err, out)
	}
	var peaks []float64
	for range 3 {
		kib, err := peakKiB(measure, bin, "version")
		if err != nil {
			return err
		}
		peaks = append(peaks, float64(kib)/1024)
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

// peakKiB runs argv through the wrapper and returns the peak RSS it reports on fd 3.
func peakKiB(measure string, argv ...string) (int64, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	cmd := exec.Command(measure, argv...)
	cmd.ExtraFiles = []*os.File{w}
	err = cmd.Run()
	w.Close()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", argv[0], err)
	}
	report, err := io.ReadAll(r)
	if err != nil {
		return 0, err
	}
	var ns, kib int64
	if _, err := fmt.Sscan(string(report), &ns, &kib); err != nil {
		return 0, fmt.Errorf("no measurement from the wrapper: %w", err)
	}
	return kib, nil
}
