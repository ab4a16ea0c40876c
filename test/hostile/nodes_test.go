package hostile

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dynamo-infra/dynamo-infra/internal/devcluster"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster/devclustertest"
)

// What `kubectl get nodes -o yaml` prints on a real cluster: a List of live nodes, with what
// the API server and the kubelet wrote. It replays into the simulated cluster.
const liveNodes = `apiVersion: v1
kind: List
metadata:
  resourceVersion: ""
items:
- apiVersion: v1
  kind: Node
  metadata:
    annotations:
      kubectl.kubernetes.io/last-applied-configuration: '{}'
      node.alpha.kubernetes.io/ttl: "0"
      volumes.kubernetes.io/controller-managed-attach-detach: "true"
    creationTimestamp: "2026-01-02T03:04:05Z"
    labels:
      kubernetes.io/hostname: gpu-a
      nvidia.com/gpu.present: "true"
      nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3
      nvidia.com/gpu.count: "8"
    name: gpu-a
    resourceVersion: "123456"
    uid: 0b7c9a36-6a3e-4a52-9d0e-1f6c0a0c2f11
  spec:
    podCIDR: 10.244.1.0/24
    providerID: aws:///us-east-1a/i-0123
    taints:
    - {effect: NoSchedule, key: nvidia.com/gpu, value: present}
  status:
    addresses:
    - {address: 10.0.0.12, type: InternalIP}
    allocatable: {cpu: "190", memory: 2000Gi, nvidia.com/gpu: "8", pods: "110"}
    capacity: {cpu: "192", memory: 2048Gi, nvidia.com/gpu: "8", pods: "110"}
    conditions:
    - {type: Ready, status: "False", reason: KubeletNotReady, message: stale, lastHeartbeatTime: "2026-01-02T03:04:05Z", lastTransitionTime: "2026-01-02T03:04:05Z"}
    nodeInfo: {architecture: amd64, bootID: "", containerRuntimeVersion: containerd://1.7, kernelVersion: "6.1", kubeProxyVersion: "", kubeletVersion: v1.33.1, machineID: "", operatingSystem: linux, osImage: Ubuntu, systemUUID: ""}
- apiVersion: v1
  kind: Node
  metadata:
    name: cpu-a
    uid: 5d1e3c7f-0000-4000-8000-000000000001
    resourceVersion: "99"
  status:
    allocatable: {cpu: "16", memory: 64Gi, pods: "110"}
    capacity: {cpu: "16", memory: 64Gi, pods: "110"}
`

func TestNodesFileReplaysKubectlList(t *testing.T) {
	nodes, err := devcluster.DecodeNodes(strings.NewReader(liveNodes), "nodes.yaml")
	must(t, err)
	if len(nodes) != 2 {
		t.Fatalf("%d nodes, want 2", len(nodes))
	}
	a := nodes[0]
	if a.UID != "" || a.ResourceVersion != "" || !a.CreationTimestamp.IsZero() || len(a.Status.Conditions) != 0 || len(a.Status.Addresses) != 0 ||
		a.Spec.ProviderID != "" || a.Annotations["kubectl.kubernetes.io/last-applied-configuration"] != "" || a.Annotations["node.alpha.kubernetes.io/ttl"] != "" {
		t.Errorf("live state kept: %+v", a)
	}
	if a.Labels["nvidia.com/gpu.product"] != "NVIDIA-H100-80GB-HBM3" || len(a.Spec.Taints) != 1 || a.Status.Allocatable.Name("nvidia.com/gpu", "").Value() != 8 {
		t.Errorf("description lost: labels %v taints %v allocatable %v", a.Labels, a.Spec.Taints, a.Status.Allocatable)
	}
	c := devclustertest.Start(t, "cpu=1", func(o *devcluster.Options) { o.ExtraNodes = nodes })
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	got, err := c.Client().CoreV1().Nodes().Get(ctx, "gpu-a", metav1.GetOptions{})
	must(t, err)
	ready := false
	for _, cond := range got.Status.Conditions {
		ready = ready || (cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue)
	}
	if !ready || got.Status.Allocatable.Name("nvidia.com/gpu", "").Value() != 8 {
		t.Errorf("gpu-a on the cluster: ready %v allocatable %v", ready, got.Status.Allocatable)
	}
}
