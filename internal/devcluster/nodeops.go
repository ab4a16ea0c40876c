package devcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/dynamo-infra/dynamo-infra/internal/simnode"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/internal/kubenode"
	"github.com/dynamo-infra/dynamo-infra/internal/yamldoc"
)

// nodeDecoder decodes core/v1 objects strictly: unknown or duplicate fields are errors that name
// the field path.
var nodeDecoder = func() runtime.Decoder {
	scheme := runtime.NewScheme()
	utilruntime.Must(corev1.AddToScheme(scheme))
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
}()

// CreateNodes creates the given nodes; kwok then initializes them and keeps them Ready.
func (c *Cluster) CreateNodes(ctx context.Context, nodes []*corev1.Node) error {
	for _, n := range nodes {
		if _, err := c.client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create node %s: %w", n.Name, err)
		}
	}
	if c.opts.DRA {
		return publishGPUDevices(ctx, c.client, nodes)
	}
	return nil
}

// AddNodes adds nodes of a profile to the running cluster, numbering them after the nodes that
// already exist, waits until they are Ready and returns their names.
func (c *Cluster) AddNodes(ctx context.Context, p simnode.Profile) ([]string, error) {
	list, err := c.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	taken := map[string]bool{}
	for _, n := range list.Items {
		taken[n.Name] = true
	}
	nodes, err := simnode.NodesForProfile(p, taken, len(list.Items))
	if err != nil {
		return nil, err
	}
	if err := c.CreateNodes(ctx, nodes); err != nil {
		return nil, err
	}
	names := make([]string, len(nodes))
	for i, n := range nodes {
		names[i] = n.Name
	}
	return names, c.WaitNodesReady(ctx)
}

// WaitNodesReady waits until every node in the cluster is Ready and free of the not-ready and
// unreachable taints (NodeSchedulable), printing a progress line every few seconds.
func (c *Cluster) WaitNodesReady(ctx context.Context) error {
	start := time.Now()
	lastReport := start
	for {
		list, err := c.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err == nil {
			var notReady []string
			for _, n := range list.Items {
				if !NodeSchedulable(&n) {
					notReady = append(notReady, n.Name)
				}
			}
			if len(notReady) == 0 {
				return nil
			}
			if time.Since(lastReport) > 2*time.Second {
				fmt.Fprintf(c.opts.Progress, "  %d/%d nodes Ready (%s)\n", len(list.Items)-len(notReady), len(list.Items), time.Since(start).Round(time.Second))
				lastReport = time.Now()
			}
			err = fmt.Errorf("nodes not Ready: %s", strings.Join(notReady, ", "))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// WaitDefaultServiceAccount waits until the controller-manager has created the "default"
// service account of namespace ns; pods cannot be created there before it exists.
func (c *Cluster) WaitDefaultServiceAccount(ctx context.Context, ns string) error {
	for {
		_, err := c.client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			return nil
		}
		if !apierrors.IsNotFound(err) && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("get service account %s/default: %w", ns, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("service account %s/default not created: %w", ns, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// NodeSchedulable reports whether a node is Ready and the node lifecycle controller has lifted
// its not-ready and unreachable taints. A node's Ready condition turns True before the taint is
// removed, and a pod scheduled in between fails with "untolerated taint".
func NodeSchedulable(n *corev1.Node) bool {
	if !NodeReady(n) {
		return false
	}
	for _, t := range n.Spec.Taints {
		if t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable {
			return false
		}
	}
	return true
}

// NodeReady reports whether a node's Ready condition is True.
func NodeReady(n *corev1.Node) bool { return kubenode.Ready(n) }

// LoadNodesFile reads Node manifests (YAML or JSON, several documents allowed) for
// --nodes-file. Unknown fields are errors; nodes get the kwok annotation when they lack it.
func LoadNodesFile(path string) ([]*corev1.Node, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return DecodeNodes(f, path)
}

// DecodeNodes decodes Node manifests from r; source names r in errors. A document may be one
// Node, a NodeList, or a List of Nodes — what `kubectl get nodes -o yaml` prints — so a real
// cluster's nodes can be replayed; what a live node carries that a new one must not (UID,
// resourceVersion, conditions, addresses, …) is dropped (see freshNode).
func DecodeNodes(r io.Reader, source string) ([]*corev1.Node, error) {
	var nodes []*corev1.Node
	seen := map[string]bool{}
	add := func(n corev1.Node) error {
		if n.Name == "" {
			return errors.New("node has no metadata.name")
		}
		if seen[n.Name] {
			return fmt.Errorf("node %q defined twice", n.Name)
		}
		seen[n.Name] = true
		nodes = append(nodes, freshNode(n))
		return nil
	}
	err := yamldoc.Each(r, source, func(_ int, raw []byte) error {
		obj, gvk, err := decodeNodeObject(raw)
		if err != nil {
			return err
		}
		switch o := obj.(type) {
		case *corev1.Node:
			return add(*o)
		case *corev1.NodeList:
			for i, n := range o.Items {
				if err := add(n); err != nil {
					return fmt.Errorf("items[%d]: %w", i, err)
				}
			}
			return nil
		case *corev1.List:
			for i, item := range o.Items {
				obj, _, err := decodeNodeObject(item.Raw)
				if err != nil {
					return fmt.Errorf("items[%d]: %w", i, err)
				}
				n, ok := obj.(*corev1.Node)
				if !ok {
					return fmt.Errorf("items[%d]: %T is not a Node", i, obj)
				}
				if err := add(*n); err != nil {
					return fmt.Errorf("items[%d]: %w", i, err)
				}
			}
			return nil
		}
		return fmt.Errorf("kind %q apiVersion %q: want kind Node, NodeList or List, apiVersion v1", gvk.Kind, gvk.GroupVersion().String())
	})
	if err != nil {
		return nil, err
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("%s: no Node manifests found", source)
	}
	return nodes, nil
}

func decodeNodeObject(raw []byte) (runtime.Object, *schema.GroupVersionKind, error) {
	obj, gvk, err := nodeDecoder.Decode(raw, nil, nil)
	if err != nil && gvk != nil && (gvk.Version != "v1" || gvk.Group != "") {
		return nil, gvk, fmt.Errorf("kind %q apiVersion %q: want kind Node, NodeList or List, apiVersion v1", gvk.Kind, gvk.GroupVersion().String())
	}
	return obj, gvk, err
}

// freshNode keeps what describes a node (name, labels, annotations, taints, capacity,
// allocatable) and drops what the API server, the kubelet or controllers of the cluster it came
// from wrote: a UID or resourceVersion makes the create fail, and stale conditions, addresses
// or images would be served as if true. nodeInfo goes too: kwok writes its own, and its
// template reads a kernel version such as 6.1 as a number and never readies the node. It adds
// the kwok annotation when missing.
func freshNode(n corev1.Node) *corev1.Node {
	out := &corev1.Node{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Node"},
		ObjectMeta: metav1.ObjectMeta{
			Name: n.Name, Labels: n.Labels, Annotations: map[string]string{},
		},
		Spec: corev1.NodeSpec{Taints: n.Spec.Taints, Unschedulable: n.Spec.Unschedulable},
		Status: corev1.NodeStatus{
			Capacity: n.Status.Capacity, Allocatable: n.Status.Allocatable,
		},
	}
	for k, v := range n.Annotations {
		// Annotations of the kubelet and of kubectl describe the old node's state, not this one.
		if strings.HasPrefix(k, "kubectl.kubernetes.io/") || strings.HasPrefix(k, "node.alpha.kubernetes.io/") || strings.HasPrefix(k, "volumes.kubernetes.io/") {
			continue
		}
		out.Annotations[k] = v
	}
	if _, ok := out.Annotations[simnode.AnnotationKwokNode]; !ok {
		out.Annotations[simnode.AnnotationKwokNode] = simnode.KwokNodeValue
	}
	return out
}

// LoadKwokConfig reads extra kwok configuration for --kwok-config: YAML documents, each with
// apiVersion kwok.x-k8s.io/v1alpha1 or config.kwok.x-k8s.io/v1alpha1 and a kind. kwok itself
// validates their fields when it starts.
func LoadKwokConfig(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var docs []string
	err = yamldoc.Each(f, path, func(_ int, doc []byte) error {
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			return err
		}
		if !strings.HasPrefix(meta.APIVersion, "kwok.x-k8s.io/") && !strings.HasPrefix(meta.APIVersion, "config.kwok.x-k8s.io/") || meta.Kind == "" {
			return fmt.Errorf("apiVersion %q kind %q is not kwok configuration", meta.APIVersion, meta.Kind)
		}
		docs = append(docs, string(doc))
		return nil
	})
	return docs, err
}
