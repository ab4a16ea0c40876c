package devcluster_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/internal/devcluster"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster/devclustertest"
)

const twoNodeGroup = `apiVersion: leaderworkerset.x-k8s.io/v1
kind: LeaderWorkerSet
metadata: {name: decode, namespace: default}
spec:
  replicas: 1
  leaderWorkerTemplate:
    size: 2
    workerTemplate:
      spec:
        containers:
        - name: worker
          image: registry.example/worker:1
          resources:
            limits: {nvidia.com/gpu: "8"}
`

// With Options.LWS the cluster runs the real LeaderWorkerSet controller: a group of two pods
// of 8 GPUs each gets a leader and a worker, each on its own H100 node, and the webhooks give
// them what LWS promises its pods (the leader's address, the group size, the worker index) —
// so the API server reaches the webhooks and the controller reconciles.
func TestLeaderWorkerSet(t *testing.T) {
	c := devclustertest.Start(t, "h100=2", func(o *devcluster.Options) { o.LWS = true })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(twoNodeGroup), &u.Object); err != nil {
		t.Fatal(err)
	}
	lws := dynamic.NewForConfigOrDie(c.RESTConfig()).Resource(schema.GroupVersionResource{Group: "leaderworkerset.x-k8s.io", Version: "v1", Resource: "leaderworkersets"}).Namespace("default")
	created, err := lws.Create(ctx, u, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The defaulting webhook ran: the leader template defaults to the worker template's copy
	// and the startup policy is set.
	if p, _, _ := unstructured.NestedString(created.Object, "spec", "startupPolicy"); p == "" {
		t.Errorf("the LeaderWorkerSet was not defaulted by its webhook: %v", created.Object["spec"])
	}
	var pods []corev1.Pod
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		list, err := c.Client().CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "leaderworkerset.sigs.k8s.io/name=decode"})
		if err != nil {
			return false, nil
		}
		pods = list.Items
		running := 0
		for _, p := range pods {
			if p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		return running == 2, nil
	})
	if err != nil {
		t.Fatalf("the group's two pods are not Running: %v (%d pods)", err, len(pods))
	}
	nodes := map[string]bool{}
	indexes := map[string]bool{}
	for _, p := range pods {
		nodes[p.Spec.NodeName] = true
		indexes[p.Labels["leaderworkerset.sigs.k8s.io/worker-index"]] = true
		env := map[string]string{}
		for _, e := range p.Spec.Containers[0].Env {
			env[e.Name] = e.Value
		}
		if !strings.HasPrefix(env["LWS_LEADER_ADDRESS"], "decode-0.decode.default") || env["LWS_GROUP_SIZE"] != "2" || env["LWS_WORKER_INDEX"] == "" {
			t.Errorf("pod %s: env %v, want LWS_LEADER_ADDRESS, LWS_GROUP_SIZE=2 and LWS_WORKER_INDEX from the pod webhook", p.Name, env)
		}
	}
	if len(nodes) != 2 || !indexes["0"] || !indexes["1"] {
		t.Errorf("pods on nodes %v with worker indexes %v, want 2 nodes and indexes 0 and 1", nodes, indexes)
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		got, err := lws.Get(ctx, "decode", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		ready, _, _ := unstructured.NestedInt64(got.Object, "status", "readyReplicas")
		return ready == 1, nil
	})
	if err != nil {
		t.Errorf("the LeaderWorkerSet never reported its group ready: %v", err)
	}
	st := c.State()
	found := false
	for _, comp := range st.Components {
		found = found || comp.Name == devcluster.BinLWS
	}
	if !found {
		t.Errorf("the cluster's state lists no %s component: %+v", devcluster.BinLWS, st.Components)
	}
}
