// Package testkit holds what the project's tests share: golden files, polling, graphs built in
// code. It is imported by tests only.
package testkit

import (
	"flag"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// update is the one -update flag of every test binary that compares golden files.
var update = flag.Bool("update", false, "rewrite golden files with what the tests produce")

// Golden compares got with the golden file at path; with -update it writes got there first.
// Golden files of the project are written from the specification (upstream), so a rewrite is
// read before it is committed.
func Golden(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs from the golden file (-want +got; go test -update rewrites it):\n%s", path, diff)
	}
}
