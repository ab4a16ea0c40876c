package render

import (
	"path/filepath"
	"testing"
)

// BenchmarkGraph renders the example graph of deploy/discovery (what the operator does on every
// reconcile of it): time and garbage per render.
func BenchmarkGraph(b *testing.B) {
	dgd := decodeFile(b, filepath.Join("..", "..", "deploy", "discovery", "dgd.yaml"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Graph(dgd, testConfig); err != nil {
			b.Fatal(err)
		}
	}
}
