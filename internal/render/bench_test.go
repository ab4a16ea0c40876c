package render

import (
	"path/filepath"
	"testing"
)

// BenchmarkGraph renders the example graphs of deploy/discovery (what the operator does on every
// reconcile of them): time and garbage per render. The multi-node one renders its decode as a
// LeaderWorkerSet: two pod templates.
func BenchmarkGraph(b *testing.B) {
	for _, file := range []string{"dgd.yaml", "dgd-multinode.yaml"} {
		b.Run(file, func(b *testing.B) {
			dgd := decodeFile(b, filepath.Join("..", "..", "deploy", "discovery", file))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := renderGraph(dgd, testConfig); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
