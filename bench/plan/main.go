// Command plan benchmarks `dynamoctl plan -f` against `dynamoctl gpus -o json` on the same large
// simulated cluster: 2,000 GPU nodes of five kinds and 20,000 pods bound to them (half asking for
// a GPU). Two graphs: one whose decode workers may use the H200 nodes only (about 400 candidate
// nodes: the exact search), one whose workers may use any node (2,000 candidates: the
// heuristic). Each program runs as its own process, several times after a warm-up; the report
// gives the median wall time, the range, the peak RSS and the ratio to gpus (issue 16: ≤ 1.2×).
//
//	go run ./bench/plan [-nodes 2000] [-pods 20000] [-runs 5] [-dynamoctl bin/dynamoctl]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/dynamo-infra/dynamo-infra/bench/internal/load"
)

// graph is a frontend and four decode workers of two GPUs each, with selector lines.
func graph(name, selector string) string {
	return `apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeployment
metadata: {name: ` + name + `, namespace: default}
spec:
  services:
    Frontend:
      componentType: frontend
      resources: {requests: {cpu: "2", memory: 4Gi}}
      extraPodSpec:
        mainContainer: {image: registry.example/frontend:1}
    decode:
      componentType: decode
      replicas: 4
      resources: {requests: {cpu: "8", memory: 64Gi}, limits: {gpu: "2"}}
      extraPodSpec:
` + selector + `        mainContainer: {image: registry.example/vllm:1}
`
}

func main() {
	nodes := flag.Int("nodes", 2000, "GPU nodes to create")
	pods := flag.Int("pods", 20000, "pods to create, bound to the nodes")
	runs := flag.Int("runs", 5, "runs of each program")
	bin := flag.String("dynamoctl", "bin/dynamoctl", "dynamoctl binary to measure")
	flag.Parse()
	if err := run(*nodes, *pods, *runs, *bin); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(nodes, pods, runs int, bin string) (err error) {
	if bin, err = filepath.Abs(bin); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	c, names, err := load.StartLoaded(ctx, nodes, pods, "h100", "h200", "a100-mig", "l4", "aks-a100")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, c.Stop()) }()
	fmt.Printf("created %d nodes and %d pods in %s\n", len(names), pods, time.Since(start).Round(time.Millisecond))
	dir, err := os.MkdirTemp("", "bench-plan-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	files := map[string]string{
		"h200": graph("h200", "        nodeSelector: {dynamo-infra.dev/node-kind: h200}\n"),
		"any":  graph("any", ""),
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(text), 0o644); err != nil {
			return err
		}
	}
	kc := c.KubeconfigPath()
	gpus := []string{bin, "gpus", "--kubeconfig", kc, "-o", "json"}
	plans := map[string][]string{}
	for _, name := range []string{"h200", "any"} {
		plans[name] = []string{bin, "plan", "--kubeconfig", kc, "-f", filepath.Join(dir, name+".yaml"), "-o", "json"}
	}
	// Warm-ups (the API server's caches), then the runs interleaved — gpus, plan h200, plan
	// any, again — so a cluster still settling slows all three alike.
	for _, argv := range [][]string{gpus, plans["h200"], plans["any"]} {
		if _, _, err := load.Runs(1, []int{1}, argv...); err != nil {
			return err
		}
	}
	times := map[string][]time.Duration{}
	rss := map[string]int64{}
	for range runs {
		for _, name := range []string{"gpus", "h200", "any"} {
			argv := gpus
			if name != "gpus" {
				argv = plans[name]
			}
			t, r, err := load.Runs(1, []int{1}, argv...)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			times[name] = append(times[name], t[0])
			rss[name] = max(rss[name], r)
		}
	}
	for _, t := range times {
		slices.Sort(t)
	}
	gT := times["gpus"]
	fmt.Printf("\n%d nodes, %d pods, %d runs each, interleaved (median wall time, range, peak RSS)\n", len(names)+1, pods, runs)
	line := func(what string, t []time.Duration, rss int64) {
		fmt.Printf("%-40s %8s  [%s–%s]  %6.1f MiB  %.2fx gpus\n", what, load.Median(t).Round(time.Millisecond),
			t[0].Round(time.Millisecond), t[len(t)-1].Round(time.Millisecond), float64(rss)/1024, float64(load.Median(t))/float64(load.Median(gT)))
	}
	line("dynamoctl gpus -o json", gT, rss["gpus"])
	line("dynamoctl plan -f h200.yaml -o json", times["h200"], rss["h200"])
	line("dynamoctl plan -f any.yaml -o json", times["any"], rss["any"])
	return nil
}
