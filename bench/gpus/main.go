// Command gpus benchmarks `dynamoctl gpus -o json` against its floor on a large simulated
// cluster: 2,000 GPU nodes and 20,000 pods. The floor is this program's `floor` mode: the same
// LISTs (nodes, then active pods; paged, protobuf) decoded into typed objects and dropped —
// what any client-go tool must at least do. Each is run as its own process, several times; the
// report gives the median wall time and the peak RSS of each.
//
//	go run ./bench/gpus [-nodes 2000] [-pods 20000] [-runs 5] [-dynamoctl bin/dynamoctl]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/dynamo-infra/dynamo-infra/bench/internal/load"
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == "floor" {
		if err := floor(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	nodes := flag.Int("nodes", 2000, "GPU nodes to create")
	pods := flag.Int("pods", 20000, "pods to create, bound round-robin to the nodes")
	runs := flag.Int("runs", 5, "runs of each program")
	bin := flag.String("dynamoctl", "bin/dynamoctl", "dynamoctl binary to measure")
	flag.Parse()
	if err := run(*nodes, *pods, *runs, *bin); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(nodes, pods, runs int, bin string) (err error) {
	bin, err = filepath.Abs(bin)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop() // Ctrl-C ends the run through the deferred cluster stop
	start := time.Now()
	c, names, err := load.StartLoaded(ctx, nodes, pods, "h100", "h200", "a100-mig", "l4", "l4-timeslice", "aks-a100")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, c.Stop()) }()
	fmt.Printf("cluster up with %d nodes and %d pods in %s\n", len(names)+1, pods, time.Since(start).Round(time.Millisecond))

	measure := func(name string, argv ...string) ([]time.Duration, int64, error) {
		t, rss, err := load.Runs(runs, nil, argv...)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", name, err)
		}
		return t, rss, nil
	}
	// One warm-up each, not counted: the API server's caches, the page cache.
	_, _, _ = measure("floor", self, "floor", c.KubeconfigPath())
	floorT, floorRSS, err := measure("floor", self, "floor", c.KubeconfigPath())
	if err != nil {
		return err
	}
	gpusT, gpusRSS, err := measure("dynamoctl gpus", bin, "gpus", "--kubeconfig", c.KubeconfigPath(), "-o", "json", "--source", "api")
	if err != nil {
		return err
	}
	med := load.Median
	fmt.Printf("\n%d nodes, %d pods, %d runs each (median wall time, range, peak RSS)\n", nodes+1, pods, runs)
	fmt.Printf("floor (client-go LISTs only)  %8s  [%s–%s]  %6.1f MiB\n", med(floorT).Round(time.Millisecond), floorT[0].Round(time.Millisecond), floorT[len(floorT)-1].Round(time.Millisecond), float64(floorRSS)/1024)
	fmt.Printf("dynamoctl gpus -o json        %8s  [%s–%s]  %6.1f MiB\n", med(gpusT).Round(time.Millisecond), gpusT[0].Round(time.Millisecond), gpusT[len(gpusT)-1].Round(time.Millisecond), float64(gpusRSS)/1024)
	fmt.Printf("ratio (time)                  %8.2fx\n", float64(med(gpusT))/float64(med(floorT)))
	return nil
}

// floor lists what `dynamoctl gpus` lists, the same way (paged, protobuf, server-side filters),
// and keeps nothing.
func floor(kubeconfig string) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	cfg.ContentType = runtime.ContentTypeProtobuf
	cfg.AcceptContentTypes = runtime.ContentTypeProtobuf
	cfg.QPS, cfg.Burst = 50, 100
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx := context.Background()
	count := 0
	opts := metav1.ListOptions{Limit: 500}
	for {
		l, err := cs.CoreV1().Nodes().List(ctx, opts)
		if err != nil {
			return err
		}
		count += len(l.Items)
		if opts.Continue = l.Continue; opts.Continue == "" {
			break
		}
	}
	opts = metav1.ListOptions{Limit: 500, FieldSelector: "spec.nodeName!=,status.phase!=Succeeded,status.phase!=Failed"}
	for {
		l, err := cs.CoreV1().Pods("").List(ctx, opts)
		if err != nil {
			return err
		}
		count += len(l.Items)
		if opts.Continue = l.Continue; opts.Continue == "" {
			break
		}
	}
	if count == 0 {
		return fmt.Errorf("listed nothing")
	}
	return nil
}
