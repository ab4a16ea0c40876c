package plan

import (
	"context"
	"fmt"
	"maps"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/pager"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/demand"
	"github.com/dynamo-infra/dynamo-infra/internal/inventory"
	"github.com/dynamo-infra/dynamo-infra/internal/kubenode"
	"github.com/dynamo-infra/dynamo-infra/internal/placement"
)

// Input is what a plan is built from: the nodes (trimmed) and what the active pods on them
// request, summed per node as the pods are read (20,000 pods are not held).
type Input struct {
	Nodes []corev1.Node
	// Used sums the requests of the active pods per node.
	Used map[string]map[string]int64
	// Graphs sums, per graph ("namespace/name") and node, the requests of the graph's own pods
	// (counted in Used too): a plan of that graph as a change takes them back out.
	Graphs map[string]map[string]map[string]int64
	// Pods are, per node, the active pods the graph's inter-pod constraints could count
	// (placement.Interest): the rest are not kept.
	Pods map[string][]Resident
}

// Resident is a pod on a node that inter-pod constraints count, and its graph ("namespace/name",
// "" for others): a plan of that graph as a change leaves it out.
type Resident struct {
	placement.Pod
	Graph string
}

// Add counts one active pod.
func (in *Input) Add(l Load) {
	if in.Used == nil {
		in.Used = map[string]map[string]int64{}
	}
	demand.AddTo(in.Used, l.Node, l.Requests)
	if l.Graph != "" {
		if in.Graphs == nil {
			in.Graphs = map[string]map[string]map[string]int64{}
		}
		if in.Graphs[l.Graph] == nil {
			in.Graphs[l.Graph] = map[string]map[string]int64{}
		}
		demand.AddTo(in.Graphs[l.Graph], l.Node, l.Requests)
	}
	if l.Pod != nil {
		if in.Pods == nil {
			in.Pods = map[string][]Resident{}
		}
		in.Pods[l.Node] = append(in.Pods[l.Node], Resident{Pod: *l.Pod, Graph: l.Graph})
	}
}

// Load is an active pod reduced to what a plan subtracts from its node.
type Load struct {
	Node     string
	Requests map[string]int64
	// Graph is "namespace/name" of the DynamoGraphDeployment the pod belongs to, "" for others.
	Graph string
	// Pod is the pod as inter-pod constraints see it, when they could count it (nil otherwise).
	Pod *placement.Pod
}

// pageSize is the objects per LIST page (as the inventory reads).
const pageSize = 500

// ListFromAPI reads the nodes (streamed: inventory.FoldNodes) and the active pods of every
// namespace page by page, keeping only what a plan reads — of a pod, its requests, and its labels only where interest keeps it (nil:
// none): the same two lists `dynamoctl gpus` reads, the two at once (the client decodes one
// while the server encodes the other).
func ListFromAPI(ctx context.Context, cs kubernetes.Interface, interest *placement.Interest) (Input, error) {
	var in Input
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		// Streamed: the reader keeps of each node what TrimNode keeps (its labels map is reused
		// from node to node: cloned here).
		nodes, err := inventory.FoldNodes(gctx, cs, func() []corev1.Node { return nil }, func(out []corev1.Node, n *corev1.Node) []corev1.Node {
			t := TrimNode(n)
			t.Labels = maps.Clone(n.Labels)
			return append(out, t)
		})
		in.Nodes = nodes
		return err
	})
	g.Go(func() error {
		pods := pager.New(func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return cs.CoreV1().Pods(metav1.NamespaceAll).List(ctx, opts)
		})
		pods.PageSize, pods.PageBufferSize = pageSize, 1
		err := pods.EachListItem(gctx, metav1.ListOptions{FieldSelector: inventory.ActivePodsSelector}, func(obj runtime.Object) error {
			pod := obj.(*corev1.Pod)
			if l, ok := LoadOf(pod); ok {
				if interest != nil {
					l.Pod = interest.Of(pod)
				}
				in.Add(l)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("list pods: %w", err)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return Input{}, err
	}
	return in, nil
}

// LoadOf reduces a bound, non-terminal pod to its node, its requests as the scheduler counts
// them (demand.StoredRequests: a pod slot included) and its graph.
func LoadOf(pod *corev1.Pod) (Load, bool) {
	if !kubenode.PodActive(pod) {
		return Load{}, false
	}
	l := Load{Node: pod.Spec.NodeName, Requests: demand.StoredRequests(pod)}
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
