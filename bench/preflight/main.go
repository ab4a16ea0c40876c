// Command preflight benchmarks `dynamoctl preflight` (baseline profile) on a simulated cluster
// with 2,000 GPU nodes and 20,000 other pods against the original script's approach: one
// kubectl process per check, run one after another (the same four kubectl calls as
// pre-deployment-check.sh). It also reports, for every run of preflight, what the gpu-nodes
// check concluded (pass, partial, timeout) and the exit code: on a busy cluster, a check that
// runs out of time must not fail the run.
//
//	go run ./bench/preflight [-nodes 2000] [-pods 20000] [-runs 5] [-dynamoctl bin/dynamoctl] [-kubectl kubectl]
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
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dynamo-infra/dynamo-infra/bench/internal/load"
	"github.com/dynamo-infra/dynamo-infra/internal/simnode"
)

// script is the original's four checks as shell: each kubectl call is its own process.
const script = `set -u
kubectl cluster-info >/dev/null
kubectl get storageclass -o jsonpath='{.items[?(@.metadata.annotations.storageclass\.kubernetes\.io/is-default-class=="true")].metadata.name}' >/dev/null
kubectl get nodes -l nvidia.com/gpu.present=true --no-headers | wc -l >/dev/null
kubectl get pods -A -l app=gpu-operator --no-headers | grep -c Running >/dev/null || true
`

func main() {
	nodes := flag.Int("nodes", 2000, "GPU nodes to create")
	pods := flag.Int("pods", 20000, "other pods, bound to the nodes")
	runs := flag.Int("runs", 5, "runs of each program")
	bin := flag.String("dynamoctl", "bin/dynamoctl", "dynamoctl binary to measure")
	kubectl := flag.String("kubectl", "kubectl", "kubectl for the script")
	flag.Parse()
	if err := run(*nodes, *pods, *runs, *bin, *kubectl); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(nodes, pods, runs int, bin, kubectl string) (err error) {
	if bin, err = filepath.Abs(bin); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop() // Ctrl-C ends the run through the deferred cluster stop
	start := time.Now()
	c, names, err := load.StartLoaded(ctx, nodes, pods, "h100", "h200", "a100-mig", "l4", "aks-a100")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, c.Stop()) }()
	// A default StorageClass, so a run passes unless a check fails or errs.
	if _, err := c.Client().StorageV1().StorageClasses().Create(ctx, &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "standard",
		Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}}, Provisioner: "kubernetes.io/no-provisioner"}, metav1.CreateOptions{}); err != nil {
		return err
	}
	// Three GPU Operator pods, Running, so the gpu-operator check has something to count.
	if _, err := c.Client().CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "gpu-operator"}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	for i := range 3 {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("gpu-operator-%d", i), Labels: map[string]string{"app": "gpu-operator"}},
			Spec: corev1.PodSpec{NodeName: names[i], Tolerations: []corev1.Toleration{simnode.KwokToleration()},
				Containers: []corev1.Container{{Name: "operator", Image: "nvcr.io/nvidia/gpu-operator:v25.3.0"}}}}
		if _, err := c.Client().CoreV1().Pods("gpu-operator").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	fmt.Printf("created %d nodes and %d pods in %s\n", len(names), pods, time.Since(start).Round(time.Millisecond))

	kc := c.KubeconfigPath()
	shell := []string{"bash", "-c", script}
	_ = os.Setenv("KUBECONFIG", kc)
	kubectlPath, err := exec.LookPath(kubectl)
	if err != nil {
		return fmt.Errorf("the script needs kubectl: %w", err)
	}
	_ = os.Setenv("PATH", filepath.Dir(kubectlPath)+":"+os.Getenv("PATH"))
	preflight := []string{bin, "preflight", "--kubeconfig", kc, "-o", "json"}
	// One warm-up each (API server caches, kubectl's discovery cache), then the measured runs.
	if _, _, err := load.Runs(1, []int{1}, shell...); err != nil {
		return err
	}
	if _, _, err := load.Runs(1, []int{1}, preflight...); err != nil {
		return err
	}
	shT, _, err := load.Runs(runs, nil, shell...)
	if err != nil {
		return fmt.Errorf("script: %w", err)
	}
	pfT, pfRSS, err := load.Runs(runs, []int{1}, preflight...)
	if err != nil {
		return fmt.Errorf("dynamoctl preflight: %w", err)
	}
	fmt.Printf("\n%d nodes, baseline profile, %d runs each (median wall time, range)\n", len(names)+1, runs)
	fmt.Printf("script: 4 kubectl processes, sequential  %8s  [%s–%s]\n", load.Median(shT).Round(time.Millisecond), shT[0].Round(time.Millisecond), shT[len(shT)-1].Round(time.Millisecond))
	fmt.Printf("dynamoctl preflight -o json             %8s  [%s–%s]  peak RSS %.1f MiB\n", load.Median(pfT).Round(time.Millisecond), pfT[0].Round(time.Millisecond), pfT[len(pfT)-1].Round(time.Millisecond), float64(pfRSS)/1024)
	fmt.Printf("ratio (time)                            %8.2fx\n", float64(load.Median(pfT))/float64(load.Median(shT)))
	return outcomes(runs, preflight)
}

// outcomes runs preflight runs times more and prints what gpu-nodes concluded, which checks
// failed or erred, and the exit codes.
func outcomes(runs int, argv []string) error {
	counts := map[string]int{}
	var codes []int
	for range runs {
		out, err := exec.Command(argv[0], argv[1:]...).Output()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			return err
		}
		codes = append(codes, code)
		var rep struct {
			Checks []struct{ ID, Status, Detail string }
		}
		if err := json.Unmarshal(out, &rep); err != nil {
			return fmt.Errorf("preflight output: %w", err)
		}
		for _, c := range rep.Checks {
			if c.Status == "fail" || c.Status == "error" {
				counts[c.ID+" "+c.Status]++
			}
			if c.ID != "gpu-nodes" {
				continue
			}
			s := c.Status
			if strings.Contains(c.Detail, "partial") {
				s += " (partial)"
			}
			counts[s]++
		}
	}
	fmt.Printf("outcomes over %d runs (gpu-nodes, and every failed or erred check): %v; exit codes %v\n", runs, counts, codes)
	return nil
}
