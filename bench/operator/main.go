// Command operator benchmarks dynamo-operator at scale: on a simulated cluster already holding
// 2,000 GPU nodes and 20,000 other pods, it creates 500 DynamoGraphDeployments (three services
// each) at once and reports the time until every graph is Ready, the operator's write requests
// per graph (from its own client metrics), and its resident memory (idle and peak). -multinode
// runs the LeaderWorkerSet controller too and creates graphs whose decode spans 2 nodes.
//
//	go run ./bench/operator [-nodes 2000] [-pods 20000] [-graphs 500] [-workers 4] [-operator BINARY]
//
// Without -operator it measures the operator as the image ships it: built by internal/release
// (static, stripped) into a temporary directory.
//
//	go run ./bench/operator -multinode -graphs 100
//	go run ./bench/operator -floor   (no operator: the children applied once each by this program)
//	go run ./bench/operator -nodes 5000 -pods 50000 -graphs 100 -short 1   (the capacity view's memory)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/bench/internal/load"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster"
	"github.com/dynamo-infra/dynamo-infra/internal/release"
	"github.com/dynamo-infra/dynamo-infra/internal/simnode"
)

// Graphs are created as v1alpha1 (the example manifests), converted by the webhook this process
// serves, and watched in v1beta1, the stored version (as the operator reads them), so the
// benchmark's own reads add no conversions.
var (
	dgdResource    = schema.GroupVersionResource{Group: "nvidia.com", Version: "v1alpha1", Resource: "dynamographdeployments"}
	storedResource = schema.GroupVersionResource{Group: "nvidia.com", Version: "v1beta1", Resource: "dynamographdeployments"}
)

type options struct {
	nodes, pods, graphs, workers, short, roll int
	operator, manifest, crd                   string
	multinode, floor                          bool
	// args are more operator flags (-operator-arg, repeated).
	args []string
}

func main() {
	var o options
	flag.IntVar(&o.nodes, "nodes", 2000, "H100 nodes (8 GPUs each) to create")
	flag.IntVar(&o.pods, "pods", 20000, "unrelated pods (scheduling-gated) the operator must not cache")
	flag.IntVar(&o.graphs, "graphs", 500, "DynamoGraphDeployments created at once")
	flag.IntVar(&o.workers, "workers", 4, "the operator's --max-concurrent-reconciles")
	flag.StringVar(&o.operator, "operator", "", "operator binary to measure (default: ./cmd/dynamo-operator built as the image builds it)")
	flag.StringVar(&o.manifest, "manifest", "deploy/discovery/dgd.yaml", "the graph to copy")
	flag.StringVar(&o.crd, "crd", "config/crd/bases/nvidia.com_dynamographdeployments.yaml", "CRD to install")
	flag.IntVar(&o.short, "short", 0, "of the graphs, how many ask for 16 GPUs per decode pod (no node has them): never Ready, they keep the capacity view reading")
	flag.IntVar(&o.roll, "roll", 0, "then change the decode worker's pod metadata of this many graphs at once (a new worker generation) and measure their rolling updates to Completed")
	flag.BoolVar(&o.floor, "floor", false, "run no operator: this program renders each graph's children as the operator does and applies them (server-side apply, once each, no reconcile loop), then waits until every graph's Deployments are available — the floor the operator is measured against")
	flag.BoolVar(&o.multinode, "multinode", false, "run LeaderWorkerSet and use deploy/discovery/dgd-multinode.yaml (a 2-node decode) unless -manifest is given")
	flag.Func("operator-arg", "one more flag for the operator, e.g. -operator-arg=--pprof-bind-address=127.0.0.1:6060 (repeat for more)", func(v string) error {
		o.args = append(o.args, v)
		return nil
	})
	flag.Parse()
	if o.multinode && !flagSet("manifest") {
		o.manifest = "deploy/discovery/dgd-multinode.yaml"
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(o options) (err error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop() // Ctrl-C ends the run through the deferred cluster and operator stops
	if o.operator == "" && !o.floor {
		// Built first: a build that fails fails before the cluster is loaded.
		dir, err := os.MkdirTemp("", "bench-operator-bin-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.operator = filepath.Join(dir, "dynamo-operator")
		host := v1.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}
		if err := release.Compile(ctx, ".", "./cmd/dynamo-operator", host, "bench", "bench", o.operator); err != nil {
			return err
		}
	}
	p, _ := simnode.ParseProfile("cpu=1")
	opts := devcluster.Options{Profile: p, StartTimeout: 5 * time.Minute, LWS: o.multinode}
	if o.nodes > 3000 {
		// kwok renews every node's lease each quarter lease: at 5,000 nodes and 40 s that is
		// 500 writes a second, more than this machine keeps up with beside the load.
		opts.NodeLease = 4 * time.Minute
	}
	c, err := devcluster.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, c.Stop()) }()
	cs := c.Client()
	rc := c.RESTConfig()
	rc.WarningHandler = rest.NoWarnings{} // v1alpha1's deprecation, on every create
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return err
	}
	crd, err := os.ReadFile(o.crd)
	if err != nil {
		return err
	}
	if err := devcluster.InstallCRDs(ctx, c.RESTConfig(), crd); err != nil {
		return err
	}
	// Graphs are stored as v1beta1; the v1alpha1 ones created here convert through the webhook
	// this process serves (the operator reads v1beta1 and needs none).
	if err := devcluster.ServeConversion(ctx, c.RESTConfig()); err != nil {
		return err
	}
	graph, err := readGraph(o.manifest)
	if err != nil {
		return err
	}

	step := time.Now()
	names, err := load.Nodes(ctx, cs, o.nodes, "h100")
	if err != nil {
		return err
	}
	if err := load.GatedPods(ctx, cs, o.pods); err != nil {
		return err
	}
	fmt.Printf("cluster loaded: %d nodes, %d scheduling-gated pods in %s\n", len(names)+1, o.pods, time.Since(step).Round(time.Second))

	var op *load.Operator
	var idleRSS int64
	var before map[string]*dto.MetricFamily
	if !o.floor {
		bin, err := filepath.Abs(o.operator)
		if err != nil {
			return err
		}
		if op, err = load.StartOperator(ctx, bin, c.KubeconfigPath(), append([]string{"--max-concurrent-reconciles", strconv.Itoa(o.workers)}, o.args...)...); err != nil {
			return err
		}
		defer func() { err = errors.Join(err, op.Stop()) }()
		time.Sleep(3 * time.Second) // informers synced and settled
		idleRSS = op.RSS("VmRSS")
		if before, err = op.Scrape(); err != nil {
			return err
		}
	}

	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	step = time.Now()
	graphs := make([]*unstructured.Unstructured, o.graphs)
	err = load.Parallel(o.graphs, func(i int) error {
		g := graph.DeepCopy()
		g.SetName(fmt.Sprintf("g%03d", i))
		if i < o.short {
			if err := askTooMuch(g); err != nil {
				return err
			}
		}
		var err error
		graphs[i], err = dyn.Resource(dgdResource).Namespace("bench").Create(ctx, g, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("create graphs: %w", err)
	}
	created := time.Since(step)
	fmt.Printf("created %d graphs in %s\n", o.graphs, created.Round(time.Millisecond))
	if o.floor {
		return floor(ctx, rc, graphs, step)
	}
	firstReady, allReady, err := waitReady(ctx, dyn, o.graphs-o.short, step)
	if err != nil {
		return err
	}
	if err := waitCapacity(ctx, dyn, o.short); err != nil {
		return err
	}
	after, err := settled(ctx, op)
	if err != nil {
		return err
	}
	peakRSS := op.RSS("VmHWM")

	n := float64(o.graphs)
	delta := func(family string, labels ...string) float64 {
		return sum(after, family, labels...) - sum(before, family, labels...)
	}
	fmt.Printf("\n%d graphs × 3 services (%s; %d short of GPUs), %d nodes, %d other pods, --max-concurrent-reconciles=%d\n", o.graphs, o.manifest, o.short, len(names)+1, o.pods, o.workers)
	fmt.Printf("  all created                  %8s\n", created.Round(time.Millisecond))
	fmt.Printf("  first graph Ready            %8s\n", firstReady.Round(time.Millisecond))
	fmt.Printf("  every graph Ready            %8s\n", allReady.Round(time.Millisecond))
	fmt.Printf("  reconciles per graph         %8.2f\n", delta("dynamo_operator_reconcile_total")/n)
	printWrites("graph", delta, n)
	fmt.Printf("  child applies per graph      %8.2f\n", delta("dynamo_operator_child_applies_total")/n)
	fmt.Printf("  read requests per graph      %8.2f  (GET/LIST/WATCH: informer start-up is before the baseline)\n", delta("rest_client_requests_total", "method", "GET")/n)
	fmt.Printf("  operator RSS idle            %8.1f MiB  (after start-up, before any graph)\n", float64(idleRSS)/1024)
	fmt.Printf("  operator RSS peak            %8.1f MiB\n", float64(peakRSS)/1024)
	if o.roll == 0 {
		return nil
	}
	return roll(ctx, dyn, op, o.roll, after)
}

// roll changes the decode worker's pod metadata of the first n graphs at once — a new worker
// generation — and waits until each one's rolling update is Completed and the graph Ready; its
// cost is the operator's requests from then until idle.
func roll(ctx context.Context, dyn dynamic.Interface, op *load.Operator, n int, before map[string]*dto.MetricFamily) error {
	patch := []byte(`{"spec":{"services":{"Decode":{"extraPodMetadata":{"annotations":{"bench.dynamo-infra.dev/roll":"1"}}}}}}`)
	start := time.Now()
	err := load.Parallel(n, func(i int) error {
		_, err := dyn.Resource(dgdResource).Namespace("bench").Patch(ctx, fmt.Sprintf("g%03d", i), types.MergePatchType, patch, metav1.PatchOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("change the graphs' decode workers: %w", err)
	}
	first, all, err := waitFor(ctx, dyn, n, start, "rolled", rolled)
	if err != nil {
		return err
	}
	after, err := settled(ctx, op)
	if err != nil {
		return err
	}
	delta := func(family string, labels ...string) float64 {
		return sum(after, family, labels...) - sum(before, family, labels...)
	}
	k := float64(n)
	fmt.Printf("\n%d graphs rolled at once (decode and prefill to a new generation, maxSurge 25%% / maxUnavailable 25%%)\n", n)
	fmt.Printf("  first rollout Completed      %8s\n", first.Round(time.Millisecond))
	fmt.Printf("  every rollout Completed      %8s\n", all.Round(time.Millisecond))
	fmt.Printf("  reconciles per rollout       %8.2f\n", delta("dynamo_operator_reconcile_total")/k)
	printWrites("rollout", delta, k)
	fmt.Printf("  operator RSS peak            %8.1f MiB\n", float64(op.RSS("VmHWM"))/1024)
	return nil
}

// printWrites prints the operator's write requests per graph (or rollout): in all, and by method.
func printWrites(per string, delta func(family string, labels ...string) float64, n float64) {
	methods := []string{"PATCH", "PUT", "POST", "DELETE"}
	var total float64
	for _, m := range methods {
		total += delta("rest_client_requests_total", "method", m)
	}
	fmt.Printf("  %-29s%8.2f\n", "write requests per "+per, total/n)
	for _, m := range methods {
		fmt.Printf("    %-6s                     %8.2f\n", m, delta("rest_client_requests_total", "method", m)/n)
	}
}

// rolled: the graph's rolling update is Completed for its current spec and it is Ready.
func rolled(u *unstructured.Unstructured) bool {
	phase, _, _ := unstructured.NestedString(u.Object, "status", "rollingUpdate", "phase")
	observed, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	return phase == "Completed" && observed == u.GetGeneration() && isReady(u)
}

// askTooMuch makes every GPU service of the graph ask for 16 GPUs per pod: more than any node
// has, so the scheduler refuses its pods for want of nvidia.com/gpu.
func askTooMuch(g *unstructured.Unstructured) error {
	services, _, err := unstructured.NestedMap(g.Object, "spec", "services")
	if err != nil {
		return err
	}
	for name := range services {
		if gpu, _, _ := unstructured.NestedString(services, name, "resources", "limits", "gpu"); gpu != "" {
			if err := unstructured.SetNestedField(services, "16", name, "resources", "limits", "gpu"); err != nil {
				return err
			}
		}
	}
	return unstructured.SetNestedMap(g.Object, services, "spec", "services")
}

// waitCapacity waits until the first n graphs (the short ones) have the operator's capacity
// figure in their status.
func waitCapacity(ctx context.Context, dyn dynamic.Interface, n int) error {
	return wait.PollUntilContextTimeout(ctx, time.Second, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		for i := range n {
			u, err := dyn.Resource(storedResource).Namespace("bench").Get(ctx, fmt.Sprintf("g%03d", i), metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			services, _, _ := unstructured.NestedMap(u.Object, "status", "components")
			found := false
			for _, s := range services {
				if m, _ := s.(map[string]any); m["capacity"] != nil {
					found = true
				}
			}
			if !found {
				return false, nil
			}
		}
		return true, nil
	})
}

func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func readGraph(path string) (*unstructured.Unstructured, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(raw, &u.Object); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return u, nil
}

// waitReady watches the graphs until every one has Ready=True; times count from start.
func waitReady(ctx context.Context, dyn dynamic.Interface, want int, start time.Time) (first, all time.Duration, err error) {
	return waitFor(ctx, dyn, want, start, "Ready", isReady)
}

func isReady(u *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, _ := c.(map[string]any); m["type"] == "Ready" && m["status"] == "True" {
			return true
		}
	}
	return false
}

// waitFor watches the graphs (an informer: polling 500 graphs would load the API server more
// than the operator does) until want of them are done; times count from start.
func waitFor(ctx context.Context, dyn dynamic.Interface, want int, start time.Time, what string, done func(*unstructured.Unstructured) bool) (first, all time.Duration, err error) {
	var mu sync.Mutex
	ready := map[string]bool{}
	note := func(obj any) {
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			return
		}
		isDone := done(u)
		mu.Lock()
		defer mu.Unlock()
		ready[u.GetName()] = isDone
		if isDone && first == 0 {
			first = time.Since(start)
		}
	}
	factory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, "bench", nil)
	inf := factory.ForResource(storedResource).Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: note, UpdateFunc: func(_, obj any) { note(obj) }}); err != nil {
		return 0, 0, err
	}
	stop := make(chan struct{})
	defer close(stop)
	factory.Start(stop)
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, r := range ready {
			if r {
				n++
			}
		}
		return n
	}
	lastReport := time.Now()
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 20*time.Minute, true, func(ctx context.Context) (bool, error) {
		n := count()
		if time.Since(lastReport) > 10*time.Second {
			fmt.Printf("  %s: %d/%d graphs %s\n", time.Since(start).Round(time.Second), n, want, what)
			lastReport = time.Now()
		}
		return n == want, nil
	})
	mu.Lock()
	defer mu.Unlock()
	return first, time.Since(start), err
}

// settled waits until the operator is idle and reads its metrics.
func settled(ctx context.Context, op *load.Operator) (map[string]*dto.MetricFamily, error) {
	if err := waitIdle(ctx, op); err != nil {
		return nil, err
	}
	return op.Scrape()
}

// waitIdle waits until the operator has not reconciled for 5 s: the requests counted after it
// are the whole cost of bringing the graphs up.
func waitIdle(ctx context.Context, op *load.Operator) error {
	last, since := -1.0, time.Now()
	return wait.PollUntilContextTimeout(ctx, time.Second, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		m, err := op.Scrape()
		if err != nil {
			return false, err
		}
		if n := sum(m, "dynamo_operator_reconcile_total"); n != last {
			last, since = n, time.Now()
		}
		return time.Since(since) >= 5*time.Second, nil
	})
}

// sum adds the samples of a counter (or gauge) family whose labels match the given pairs.
func sum(m map[string]*dto.MetricFamily, family string, labels ...string) float64 {
	f := m[family]
	if f == nil {
		return 0
	}
	total := 0.0
next:
	for _, s := range f.Metric {
		have := map[string]string{}
		for _, l := range s.Label {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case s.Counter != nil:
			total += s.Counter.GetValue()
		case s.Gauge != nil:
			total += s.Gauge.GetValue()
		}
	}
	return total
}
