// Package measure runs a program through the measuring wrapper (hack/measure) and reads what it
// reports: wall time, CPU, and peak RSS. The benchmarks (bench/) and make verify's plugin-size
// check share it.
package measure

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// Sample is one measured run.
type Sample struct {
	Wall, CPU time.Duration
	// RSSKiB is the peak RSS of the largest process of the run (the program or one it waited for).
	RSSKiB int64
	// Code is the exit code.
	Code int
}

// Run runs argv once as a separate process, its stdout and stderr to stdout and stderr (nil
// drops them). okCodes lists exit codes that count as success besides 0.
//
// The run goes through a small wrapper (hack/measure): Linux gives a process started from a
// large one (a benchmark holding a loaded cluster's client, a check that just built a binary) the starter's high-water RSS as its
// own peak, since Go starts it by vfork and exec. The wrapper times the run and reads its peak
// RSS and CPU; its own few MiB are the floor of what can be seen.
func Run(stdout, stderr io.Writer, okCodes []int, argv ...string) (Sample, error) {
	wrapper, err := measurer()
	if err != nil {
		return Sample{}, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return Sample{}, err
	}
	defer r.Close()
	cmd := exec.Command(wrapper, argv...)
	cmd.Stdout, cmd.Stderr, cmd.ExtraFiles = stdout, stderr, []*os.File{w}
	err = cmd.Run()
	w.Close()
	report, _ := io.ReadAll(r)
	var s Sample
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		s.Code = ee.ExitCode()
	}
	if err != nil && !slices.Contains(okCodes, s.Code) {
		return Sample{}, fmt.Errorf("%s: %w", argv[0], err)
	}
	var wall, cpu int64
	if _, err := fmt.Sscan(string(report), &wall, &s.RSSKiB, &cpu); err != nil {
		return Sample{}, fmt.Errorf("%s: no measurement from the wrapper: %w", argv[0], err)
	}
	s.Wall, s.CPU = time.Duration(wall), time.Duration(cpu)
	return s, nil
}

// measurer builds hack/measure once (into a temporary directory left to the OS) and returns its
// path. Its callers (make bench, make verify) run from the repository root.
var measurer = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "dynamo-infra-measure-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "measure")
	out, err := exec.Command("go", "build", "-o", bin, "./hack/measure").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build the measuring wrapper: %w\n%s", err, out)
	}
	return bin, nil
})
