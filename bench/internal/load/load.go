// Package load fills a simulated cluster with the nodes and pods the benchmarks measure against,
// and times the programs measured.
package load

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/dynamo-infra/dynamo-infra/internal/devcluster"
	"github.com/dynamo-infra/dynamo-infra/internal/measure"
	"github.com/dynamo-infra/dynamo-infra/internal/simnode"
)

// StartLoaded starts a simulated cluster (one CPU node) and fills it with n GPU nodes of the
// given kinds and pods bound round-robin to them (see Pods). The caller stops the cluster.
func StartLoaded(ctx context.Context, nodes, pods int, kinds ...string) (*devcluster.Cluster, []string, error) {
	p, _ := simnode.ParseProfile("cpu=1")
	c, err := devcluster.Start(ctx, devcluster.Options{Profile: p, StartTimeout: 5 * time.Minute})
	if err != nil {
		return nil, nil, err
	}
	names, err := Nodes(ctx, c.Client(), nodes, kinds...)
	if err == nil {
		err = Pods(ctx, c.Client(), names, pods)
	}
	if err != nil {
		return nil, nil, errors.Join(err, c.Stop())
	}
	return c, names, nil
}

// Nodes creates n nodes, cycling through the given node kinds, 16 requests at a time, and
// returns their names.
func Nodes(ctx context.Context, cs kubernetes.Interface, n int, kinds ...string) ([]string, error) {
	for _, k := range kinds {
		if _, ok := simnode.LookupNodeKind(k); !ok {
			return nil, fmt.Errorf("unknown node kind %q", k)
		}
	}
	names := make([]string, n)
	err := Parallel(n, func(i int) error {
		kind, _ := simnode.LookupNodeKind(kinds[i%len(kinds)])
		node := simnode.NewNode(kind, fmt.Sprintf("bench-%s-%d", kind.Name, i), "dev-zone-a")
		names[i] = node.Name
		_, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
		return err
	})
	return names, err
}

// Pods creates n pods in namespace default, bound round-robin to nodes (no scheduling needed);
// every other one asks for a GPU. They stand in for the other workloads of a busy cluster.
func Pods(ctx context.Context, cs kubernetes.Interface, nodes []string, n int) error {
	return createPods(ctx, cs, n, func(i int, pod *corev1.Pod) { pod.Spec.NodeName = nodes[i%len(nodes)] })
}

// GatedPods creates n pods in namespace default that wait on a scheduling gate: stored and
// watched like any pod, but neither the scheduler nor kwok works on them. Under kwok v0.8, 20,000
// bound pods keep its pod stages busy for minutes (failed pod-ready patches are retried), which
// would starve the pods a benchmark measures.
func GatedPods(ctx context.Context, cs kubernetes.Interface, n int) error {
	return createPods(ctx, cs, n, func(_ int, pod *corev1.Pod) {
		pod.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "dynamo-infra.dev/bench"}}
	})
}

func createPods(ctx context.Context, cs kubernetes.Interface, n int, mutate func(int, *corev1.Pod)) error {
	return Parallel(n, func(i int) error {
		res := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("256Mi")}
		if i%2 == 0 {
			res["nvidia.com/gpu"] = resource.MustParse("1")
		}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-%d", i), Namespace: "default",
				Labels: map[string]string{"app": "bench", "app.kubernetes.io/part-of": "dynamo-bench"}},
			Spec: corev1.PodSpec{
				Tolerations: []corev1.Toleration{simnode.KwokToleration()},
				Containers: []corev1.Container{{Name: "main", Image: "nvcr.io/nvidia/ai-dynamo/vllm-runtime:0.6.1",
					Args: []string{"--model", "Qwen/Qwen3-0.6B"}, Resources: corev1.ResourceRequirements{Requests: res, Limits: res},
					Env: []corev1.EnvVar{{Name: "DYN_NAMESPACE", Value: "bench"}, {Name: "NATS_SERVER", Value: "nats://nats:4222"}}}},
			},
		}
		mutate(i, pod)
		_, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
		return err
	})
}

// Parallel calls f(0..n-1) from 16 goroutines and returns the first error (the rest of that
// goroutine's share is skipped).
func Parallel(n int, f func(int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// Runs times argv as a separate process runs times (stdout dropped, stderr passed through) and
// returns the wall times, sorted, and the largest peak RSS in KiB. okCodes lists exit codes
// that count as success besides 0.
func Runs(runs int, okCodes []int, argv ...string) ([]time.Duration, int64, error) {
	var times []time.Duration
	var rss int64
	for range runs {
		s, err := measure.Run(nil, os.Stderr, okCodes, argv...)
		if err != nil {
			return nil, 0, err
		}
		times = append(times, s.Wall)
		rss = max(rss, s.RSSKiB)
	}
	slices.Sort(times)
	return times, rss, nil
}

// Median of sorted durations.
func Median(t []time.Duration) time.Duration { return t[len(t)/2] }
