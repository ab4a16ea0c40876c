// Command explain benchmarks `dynamoctl explain` against `kubectl get pods -l <the graph's
// selector> -o json` on a large simulated cluster: 2,000 GPU nodes of six kinds and 20,000 pods
// bound to them (half asking for a GPU). Three graphs are created with their children (as the
// operator renders them; the operator itself does not run): one whose pods run, one whose
// decode worker asks for 8 GPUs on any node, and one that asks for them on H100 nodes (a node
// selector). Each program runs as its own process, several times after a warm-up; the report
// gives the median wall time, the range and the peak RSS.
//
//	go run ./bench/explain [-nodes 2000] [-pods 20000] [-runs 5] [-dynamoctl bin/dynamoctl]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/bench/internal/load"
	"github.com/dynamo-infra/dynamo-infra/internal/controller"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster"
	"github.com/dynamo-infra/dynamo-infra/internal/explain"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
)

const namespace = "bench"

// decode is a decode worker of gpus GPUs with extra extraPodSpec lines. The load binds the
// one-GPU pods to every other node, so H100 nodes (and A100 MIG and time-sliced L4) are full
// while H200 nodes are empty: 8 GPUs on an H100 fit nowhere, 9 fit on no 8-GPU node, 16 on no
// node at all.
func decode(gpus, extra string) string {
	return `
    Decode:
      componentType: worker
      subComponentType: decode
      resources: {limits: {gpu: "` + gpus + `"}}
      extraPodSpec:
` + extra + `        mainContainer: {image: registry.example/vllm:1, command: [python3, -m, dynamo.vllm]}
`
}

const frontend = `
spec:
  backendFramework: vllm
  services:
    Frontend:
      componentType: frontend
      extraPodSpec: {mainContainer: {image: registry.example/frontend:1}}`

// graphs, in the order they are measured: Ready; a pod problem without the nodes (an image that
// cannot be pulled); and a decode worker the scheduler cannot place, with 333 (H100), the 8-GPU
// nodes and all 2,001 nodes as candidates.
var graphs = []struct{ name, spec string }{
	{"ready", frontend},
	{"pullfail", strings.Replace(frontend, "registry.example/frontend:1", "registry"+devcluster.InvalidRegistrySuffix+"/frontend:1", 1)},
	{"short-h100", frontend + decode("8", "        nodeSelector: {nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3}\n")},
	{"short-8gpu", frontend + decode("9", "        nodeSelector: {nvidia.com/gpu.count: \"8\"}\n")},
	{"short-any", frontend + decode("16", "")},
}

func main() {
	nodes := flag.Int("nodes", 2000, "GPU nodes to create")
	pods := flag.Int("pods", 20000, "pods to create, bound round-robin to the nodes")
	runs := flag.Int("runs", 5, "runs of each program")
	bin := flag.String("dynamoctl", "bin/dynamoctl", "dynamoctl binary to measure")
	crd := flag.String("crd", "config/crd/bases/nvidia.com_dynamographdeployments.yaml", "the DynamoGraphDeployment CRD")
	flag.Parse()
	if err := run(*nodes, *pods, *runs, *bin, *crd); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(nodes, pods, runs int, bin, crdPath string) (err error) {
	if bin, err = filepath.Abs(bin); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop() // Ctrl-C ends the run through the deferred cluster stop
	start := time.Now()
	c, _, err := load.StartLoaded(ctx, nodes, pods, "h100", "h200", "a100-mig", "l4", "l4-timeslice", "aks-a100")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, c.Stop()) }()
	fmt.Printf("cluster loaded: %d nodes, %d pods in %s\n", nodes+1, pods, time.Since(start).Round(time.Second))
	crd, err := os.ReadFile(crdPath)
	if err != nil {
		return err
	}
	if err := devcluster.InstallCRDs(ctx, c.RESTConfig(), crd); err != nil {
		return err
	}
	cl, err := client.New(c.RESTConfig(), client.Options{Scheme: controller.Scheme()})
	if err != nil {
		return err
	}
	if err := cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		return err
	}
	for _, g := range graphs {
		if err := createGraph(ctx, cl, g.name, g.spec); err != nil {
			return fmt.Errorf("graph %s: %w", g.name, err)
		}
	}
	// Wait until the frontends run Ready (but the unpullable one), the unpullable one says so,
	// and the scheduler has refused the three decode workers. kwok is slow with 20,000 bound pods.
	err = wait.PollUntilContextTimeout(ctx, 2*time.Second, 10*time.Minute, true, func(ctx context.Context) (bool, error) {
		var list corev1.PodList
		if err := cl.List(ctx, &list, client.InNamespace(namespace)); err != nil {
			return false, nil
		}
		ready, pull, refused := 0, 0, 0
		for _, p := range list.Items {
			for _, cond := range p.Status.Conditions {
				switch {
				case cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue:
					ready++
				case cond.Type == corev1.PodScheduled && cond.Reason == corev1.PodReasonUnschedulable:
					refused++
				}
			}
			for _, cs := range p.Status.ContainerStatuses {
				if w := cs.State.Waiting; w != nil && strings.Contains(w.Reason, "Image") {
					pull++
				}
			}
		}
		fmt.Printf("\rgraphs' pods: %d ready, %d refusing their image, %d refused by the scheduler", ready, pull, refused)
		return ready == 4 && pull == 1 && refused == 3, nil
	})
	fmt.Println()
	if err != nil {
		return fmt.Errorf("graphs' pods did not settle: %w", err)
	}

	kubeconfig := c.KubeconfigPath()
	type program struct {
		name string
		argv []string
	}
	var programs []program
	for _, gr := range graphs {
		g := gr.name
		programs = append(programs,
			program{"kubectl get pods -l … " + g, []string{"kubectl", "--kubeconfig", kubeconfig, "get", "pods", "-n", namespace, "-l", v1alpha1.LabelGraphDeploymentName + "=" + g, "-o", "json"}},
			program{"dynamoctl explain dgd/" + g, []string{bin, "--kubeconfig", kubeconfig, "explain", "dgd/" + g, "-n", namespace, "-o", "json"}})
	}
	// What explain says about each graph: the scenario is what it should be.
	for _, gr := range graphs {
		out, _ := exec.Command(bin, "--kubeconfig", kubeconfig, "explain", "dgd/"+gr.name, "-n", namespace, "-o", "json").Output()
		var rep explain.Report
		if err := json.Unmarshal(out, &rep); err != nil {
			return fmt.Errorf("explain %s: %w", gr.name, err)
		}
		for _, svc := range rep.Services {
			line := fmt.Sprintf("%-11s %-9s ready=%-5v %s", gr.name, svc.Name, svc.Ready, svc.Reason)
			for _, l := range svc.Chain {
				if l.Kind == explain.LinkNodes {
					line += "; " + l.Summary + "; " + strings.Join(l.Details, "; ")
				}
			}
			fmt.Println(line)
		}
	}
	fmt.Printf("\n%d nodes, %d pods, %d runs each (median wall time, range, peak RSS)\n", nodes+1, pods, runs)
	var last time.Duration
	for i, pr := range programs {
		_, _, _ = load.Runs(1, []int{1}, pr.argv...) // warm-up: the API server's caches, kubectl's discovery cache
		t, rss, err := load.Runs(runs, []int{1}, pr.argv...)
		if err != nil {
			return err
		}
		med := load.Median(t)
		ratio := ""
		if i%2 == 1 {
			ratio = fmt.Sprintf("  %.2fx", float64(med)/float64(last))
		}
		last = med
		fmt.Printf("%-40s %8s  [%s–%s]  %6.1f MiB%s\n", pr.name, med.Round(time.Millisecond), t[0].Round(time.Millisecond), t[len(t)-1].Round(time.Millisecond), float64(rss)/1024, ratio)
	}
	return nil
}

// createGraph creates a graph and the children the operator would render for it.
func createGraph(ctx context.Context, cl client.Client, name, spec string) error {
	gs, err := render.DecodeGraphs(strings.NewReader("apiVersion: nvidia.com/v1alpha1\nkind: DynamoGraphDeployment\nmetadata: {name: "+name+"}\n"+spec), name, namespace)
	if err != nil {
		return err
	}
	g := gs[0]
	if err := cl.Create(ctx, g.DeepCopy()); err != nil {
		return err
	}
	objs, err := render.Graph(g, render.Config{DiscoveryBackend: "kubernetes"})
	if err != nil {
		return err
	}
	for _, o := range objs {
		if err := cl.Create(ctx, o.(client.Object)); err != nil {
			return fmt.Errorf("%T: %w", o, err)
		}
	}
	return nil
}
