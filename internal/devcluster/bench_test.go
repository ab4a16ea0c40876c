package devcluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/dynamo-infra/dynamo-infra/internal/devcluster"
	"github.com/dynamo-infra/dynamo-infra/internal/simnode"
)

func BenchmarkParseProfile(b *testing.B) {
	for b.Loop() {
		if _, err := simnode.ParseProfile("h100=4,h200=2,a100-mig=2,a100-40g=1,l4=8,cpu=2"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNodesForProfile1000(b *testing.B) {
	p, err := simnode.ParseProfile("h100=200,h200=200,a100-mig=200,l4=200,cpu=200")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		nodes, err := simnode.NodesForProfile(p, nil, 0)
		if err != nil || len(nodes) != 1000 {
			b.Fatal(len(nodes), err)
		}
	}
}

// benchmarkStart measures a whole start — certificates, five processes, nodes Ready, default
// service account — and the stop that follows, separately.
func benchmarkStart(b *testing.B, profile string) {
	p, err := simnode.ParseProfile(profile)
	if err != nil {
		b.Fatal(err)
	}
	var stopNanos int64
	for b.Loop() {
		c, err := devcluster.Start(context.Background(), devcluster.Options{Profile: p})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		start := nowNanos()
		if err := c.Stop(); err != nil {
			b.Fatal(err)
		}
		stopNanos += nowNanos() - start
		b.StartTimer()
	}
	b.ReportMetric(float64(stopNanos)/float64(b.N)/1e6, "stop-ms/op")
}

func BenchmarkClusterStart(b *testing.B) { benchmarkStart(b, "h100=2,cpu=1") }
func BenchmarkClusterStart100Nodes(b *testing.B) {
	benchmarkStart(b, "h100=40,a100-mig=20,l4=20,cpu=20")
}

func nowNanos() int64 { return time.Now().UnixNano() }
