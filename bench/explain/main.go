// Command explain benchmarks `dynamoctl explain` against `kubectl get pods -l <the graph's
// selector> -o json` on a large simulated cluster: 2,000 GPU nodes of six kinds and 20,000 pods
// bound to them (half asking for a GPU). The operator runs (its binary, capacity view on) and five graphs are created: one whose pods run, one whose image cannot be pulled, and
// three whose decode worker the scheduler cannot place (on H100 nodes, on 8-GPU nodes, on any
// node). Each program runs as its own process, several times after a warm-up; the report gives
// the median wall time, the range and the peak RSS. For the three short of GPUs, explain runs
// twice: taking the operator's figure from the status (the default), and with --read-nodes.
//
//	go run ./bench/explain [-nodes 2000] [-pods 20000] [-runs 5] [-dynamoctl bin/dynamoctl] [-operator bin/dynamo-operator]
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
	"slices"
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
	operator := flag.String("operator", "bin/dynamo-operator", "dynamo-operator binary to run")
	crd := flag.String("crd", "config/crd/bases/nvidia.com_dynamographdeployments.yaml", "the DynamoGraphDeployment CRD")
	flag.Parse()
	if err := run(*nodes, *pods, *runs, *bin, *operator, *crd); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(nodes, pods, runs int, bin, operatorBin, crdPath string) (err error) {
	if bin, err = filepath.Abs(bin); err != nil {
		return err
	}
	if operatorBin, err = filepath.Abs(operatorBin); err != nil {
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
	// Graphs are stored as v1beta1; the v1alpha1 ones created here convert through the webhook
	// this process serves (the operator reads v1beta1 and needs none).
	if err := devcluster.ServeConversion(ctx, c.RESTConfig()); err != nil {
		return err
	}
	cl, err := client.New(c.RESTConfig(), client.Options{Scheme: controller.Scheme()})
	if err != nil {
		return err
	}
	// The operator as its own process: a child started by a process this large would report
	// its size as the child's peak RSS (Linux carries the parent's high-water mark across the
	// vfork and exec that start it).
	op, err := load.StartOperator(ctx, operatorBin, c.KubeconfigPath(), "--capacity-refresh", "1m")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, op.Stop()) }()
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
	err = wait.PollUntilContextTimeout(ctx, 2*time.Second, 20*time.Minute, true, func(ctx context.Context) (bool, error) {
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
		var dgds v1alpha1.DynamoGraphDeploymentList
		if err := cl.List(ctx, &dgds, client.InNamespace(namespace)); err != nil {
			return false, nil
		}
		figures := 0
		for _, d := range dgds.Items {
			if d.Status.Services["Decode"].Capacity != nil {
				figures++
			}
		}
		fmt.Printf("\rgraphs' pods: %d ready, %d refusing their image, %d refused by the scheduler; %d capacity figures in status", ready, pull, refused, figures)
		return ready == 4 && pull == 1 && refused == 3 && figures == 3, nil
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
	// Per graph: kubectl first, then what is compared with it.
	var programs [][]program
	for _, gr := range graphs {
		g := gr.name
		explainArgs := []string{bin, "--kubeconfig", kubeconfig, "explain", "dgd/" + g, "-n", namespace, "-o", "json"}
		p := []program{
			{"kubectl get pods -l … " + g, []string{"kubectl", "--kubeconfig", kubeconfig, "get", "pods", "-n", namespace, "-l", v1alpha1.LabelGraphDeploymentName + "=" + g, "-o", "json"}},
			{"dynamoctl explain dgd/" + g, explainArgs}}
		if strings.HasPrefix(g, "short-") {
			p = append(p, program{"  … --read-nodes", append(slices.Clone(explainArgs), "--read-nodes")})
		}
		programs = append(programs, p)
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
	for _, group := range programs {
		var kubectl time.Duration
		for i, pr := range group {
			_, _, _ = load.Runs(1, []int{1}, pr.argv...) // warm-up: the API server's caches, kubectl's discovery cache
			t, rss, err := load.Runs(runs, []int{1}, pr.argv...)
			if err != nil {
				return err
			}
			med := load.Median(t)
			ratio := ""
			if i == 0 {
				kubectl = med
			} else {
				ratio = fmt.Sprintf("  %.2fx", float64(med)/float64(kubectl))
			}
			fmt.Printf("%-40s %8s  [%s–%s]  %6.1f MiB%s\n", pr.name, med.Round(time.Millisecond), t[0].Round(time.Millisecond), t[len(t)-1].Round(time.Millisecond), float64(rss)/1024, ratio)
		}
	}
	return nil
}

// createGraph creates a graph; the operator renders its children.
func createGraph(ctx context.Context, cl client.Client, name, spec string) error {
	gs, err := render.DecodeGraphs(strings.NewReader("apiVersion: nvidia.com/v1alpha1\nkind: DynamoGraphDeployment\nmetadata: {name: "+name+"}\n"+spec), name, namespace)
	if err != nil {
		return err
	}
	return cl.Create(ctx, gs[0])
}
