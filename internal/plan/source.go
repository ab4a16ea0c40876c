package plan

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/pager"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/inventory"
	"github.com/dynamo-infra/dynamo-infra/internal/preflight"
)

// Input is what a plan is built from: the nodes (trimmed) and the active pods on them.
type Input struct {
	Nodes []corev1.Node
	Pods  []Load
}

// Load is an active pod reduced to what a plan subtracts from its node.
type Load struct {
	Node     string
	Requests map[string]int64
	// Graph is "namespace/name" of the DynamoGraphDeployment the pod belongs to, "" for others.
	Graph string
}

// pageSize is the objects per LIST page (as the inventory reads).
const pageSize = 500

// ListFromAPI reads the nodes and the active pods of every namespace page by page, keeping only
// what a plan reads: the same two lists `dynamoctl gpus` reads, so a plan costs what it costs.
func ListFromAPI(ctx context.Context, cs kubernetes.Interface) (Input, error) {
	var in Input
	nodes := pager.New(func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
		return cs.CoreV1().Nodes().List(ctx, opts)
	})
	nodes.PageSize, nodes.PageBufferSize = pageSize, 1
	err := nodes.EachListItem(ctx, metav1.ListOptions{}, func(obj runtime.Object) error {
		in.Nodes = append(in.Nodes, TrimNode(obj.(*corev1.Node)))
		return nil
	})
	if err != nil {
		return Input{}, fmt.Errorf("list nodes: %w", err)
	}
	pods := pager.New(func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
		return cs.CoreV1().Pods(metav1.NamespaceAll).List(ctx, opts)
	})
	pods.PageSize, pods.PageBufferSize = pageSize, 1
	err = pods.EachListItem(ctx, metav1.ListOptions{FieldSelector: inventory.ActivePodsSelector}, func(obj runtime.Object) error {
		if l, ok := LoadOf(obj.(*corev1.Pod)); ok {
			in.Pods = append(in.Pods, l)
		}
		return nil
	})
	if err != nil {
		return Input{}, fmt.Errorf("list pods: %w", err)
	}
	return in, nil
}

// LoadOf reduces a bound, non-terminal pod to its node, its requests as the scheduler counts
// them (preflight.StoredRequests: a pod slot included) and its graph.
func LoadOf(pod *corev1.Pod) (Load, bool) {
	if pod.Spec.NodeName == "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return Load{}, false
	}
	l := Load{Node: pod.Spec.NodeName, Requests: preflight.StoredRequests(pod)}
	if g := pod.Labels[v1alpha1.LabelGraphDeploymentName]; g != "" {
		l.Graph = pod.Namespace + "/" + g
	}
	return l, true
}

// TrimNode keeps what placement matches and counts: name, labels (a node selector may name any),
// taints, cordon, allocatable and the Ready condition.
func TrimNode(n *corev1.Node) corev1.Node {
	t := corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: n.Labels},
		Spec:       corev1.NodeSpec{Unschedulable: n.Spec.Unschedulable, Taints: n.Spec.Taints},
	}
	t.Status.Allocatable = n.Status.Allocatable
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			t.Status.Conditions = []corev1.NodeCondition{{Type: c.Type, Status: c.Status}}
		}
	}
	return t
}
