// Command fleet measures dynamoctl's cluster reads at fleet scale, side by side with the
// programs they replace, on one simulated cluster: 2,000 GPU nodes of six kinds and 20,000 pods
// bound to them, half asking for a GPU.
//
//	go run ./bench/fleet [-nodes 2000] [-pods 20000] [-runs 5] [-dynamoctl bin/dynamoctl] [-before BIN] [-originals DIR]
//	go run ./bench/fleet -hold        # load the cluster, print its kubeconfig, wait for Ctrl-C
//	go run ./bench/fleet floor MODE KUBECONFIG
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dynamo-infra/dynamo-infra/bench/internal/load"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster"
	"github.com/dynamo-infra/dynamo-infra/internal/simnode"
)

func main() {
	if len(os.Args) > 3 && os.Args[1] == "floor" {
		if err := floor(os.Args[2], os.Args[3]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	var o options
	flag.IntVar(&o.nodes, "nodes", 2000, "GPU nodes to create")
	flag.IntVar(&o.pods, "pods", 20000, "pods to create, bound round-robin to the nodes")
	flag.IntVar(&o.runs, "runs", 5, "runs of each program")
	flag.StringVar(&o.dynamoctl, "dynamoctl", "bin/dynamoctl", "dynamoctl binary to measure")
	flag.StringVar(&o.originals, "originals", "", "directory holding upstream's pre-deployment-check.sh and gpu_inventory.py (see docs/benchmarks.md); without it they are not run")
	flag.StringVar(&o.before, "before", "", "an earlier dynamoctl binary to measure beside it")
	flag.StringVar(&o.python, "python", "/usr/bin/python3", "Python with the kubernetes client (Debian's python3-kubernetes) for gpu_inventory.py")
	flag.StringVar(&o.kubectl, "kubectl", "kubectl", "kubectl for the original script and gpu_inventory.py")
	flag.DurationVar(&o.settle, "settle", 30*time.Second, "wait after every pod is Running, before measuring (kwok's retries die down); negative: measure at once, on the busy cluster")
	flag.BoolVar(&o.hold, "hold", false, "load the cluster, print its kubeconfig and wait for Ctrl-C")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type options struct {
	nodes, pods, runs                             int
	dynamoctl, before, originals, python, kubectl string
	settle                                        time.Duration
	hold                                          bool
}

func run(o options) (err error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop() // Ctrl-C ends the run through the deferred cluster stop
	start := time.Now()
	c, names, err := load.StartLoaded(ctx, o.nodes, o.pods, "h100", "h200", "a100-mig", "l4", "l4-timeslice", "aks-a100")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, c.Stop()) }()
	if err := preflightFixtures(ctx, c, names); err != nil {
		return err
	}
	fmt.Printf("cluster up with %d nodes and %d pods in %s\n", len(names)+1, o.pods, time.Since(start).Round(time.Millisecond))
	if o.hold {
		fmt.Printf("KUBECONFIG=%s (Ctrl-C stops the cluster)\n", c.KubeconfigPath())
		<-ctx.Done()
		return nil
	}
	if err := settle(ctx, c, o.settle); err != nil {
		return err
	}
	progs, err := programs(o, c.KubeconfigPath())
	if err != nil {
		return err
	}
	return measureAll(ctx, o.runs, progs)
}

// settle waits until no pod is Pending (kwok has made every one Running), then d more: kwok
// retries failed status patches of bound pods for a while after, which loads the API server. A
// negative d measures at once, on the busy cluster.
func settle(ctx context.Context, c *devcluster.Cluster, d time.Duration) error {
	if d < 0 {
		fmt.Println("measuring at once: kwok is still making pods Running")
		return nil
	}
	start := time.Now()
	for {
		l, err := c.Client().CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "status.phase=Pending", Limit: 1})
		if err != nil {
			return err
		}
		if len(l.Items) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
	fmt.Printf("every pod Running after %s; settling %s\n", time.Since(start).Round(time.Second), d)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// preflightFixtures gives the cluster what the pre-deployment checks look for, so that they
// pass: a default StorageClass and three Running GPU Operator pods.
func preflightFixtures(ctx context.Context, c *devcluster.Cluster, nodes []string) error {
	cs := c.Client()
	if _, err := cs.StorageV1().StorageClasses().Create(ctx, &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "standard",
		Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}}, Provisioner: "kubernetes.io/no-provisioner"}, metav1.CreateOptions{}); err != nil {
		return err
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "gpu-operator"}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	for i := range 3 {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("gpu-operator-%d", i), Labels: map[string]string{"app": "gpu-operator"}},
			Spec: corev1.PodSpec{NodeName: nodes[i], Tolerations: []corev1.Toleration{simnode.KwokToleration()},
				Containers: []corev1.Container{{Name: "operator", Image: "nvcr.io/nvidia/gpu-operator:v25.3.0"}}}}
		if _, err := cs.CoreV1().Pods("gpu-operator").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	return nil
}
