package clidocs

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDocsUpToDate fails when docs/cli no longer matches the command tree.
func TestDocsUpToDate(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "") // GenerateDocs sets it; t.Setenv restores it afterwards.
	dir := t.TempDir()
	if err := GenerateDocs(dir); err != nil {
		t.Fatal(err)
	}
	committed := filepath.Join("..", "..", "..", "docs", "cli")
	want, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadDir(committed)
	if err != nil {
		t.Fatal(err)
	}
	names := func(es []os.DirEntry) []string {
		var n []string
		for _, e := range es {
			n = append(n, e.Name())
		}
		return n
	}
	if diff := cmp.Diff(names(want), names(got)); diff != "" {
		t.Fatalf("docs/cli files differ from the command tree (-generated +committed); run make docs:\n%s", diff)
	}
	for _, e := range want {
		gen, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		com, _ := os.ReadFile(filepath.Join(committed, e.Name()))
		if diff := cmp.Diff(string(gen), string(com)); diff != "" {
			t.Errorf("docs/cli/%s is stale (-generated +committed); run make docs:\n%s", e.Name(), diff)
		}
	}
}
