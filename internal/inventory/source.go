package inventory

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/pager"

	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
)

// Sources `dynamoctl gpus --source` accepts.
const (
	SourceAuto    = "auto"
	SourceAPI     = "api"
	SourceKubectl = "kubectl"
)

// pageSize is the number of objects per LIST page.
const pageSize = 500

// ActivePodsSelector asks the server for pods that can hold resources: bound and not terminal.
const ActivePodsSelector = "spec.nodeName!=,status.phase!=Succeeded,status.phase!=Failed"

// Input is what Build reads: trimmed nodes and the NVIDIA requests of active pods.
type Input struct {
	Nodes []corev1.Node
	Pods  []PodUsage
}

// ListFromAPI lists nodes (by label selector) and active pods page by page, at once, keeping only
// the fields the inventory reads, so memory grows with the node count, not with whole Pod
// objects.
func ListFromAPI(ctx context.Context, cs kubernetes.Interface, selector string) (Input, error) {
	var in Input
	// The two lists overlap: the server encodes pods while nodes are decoded here.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		in.Pods, err = ListPodUsage(gctx, cs)
		return err
	})
	nodePager := pager.New(func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
		return cs.CoreV1().Nodes().List(ctx, opts)
	})
	nodePager.PageSize = pageSize
	nodePager.PageBufferSize = 1
	g.Go(func() error {
		err := nodePager.EachListItem(gctx, metav1.ListOptions{LabelSelector: selector}, func(obj runtime.Object) error {
			in.Nodes = append(in.Nodes, TrimNode(obj.(*corev1.Node)))
			return nil
		})
		if err != nil {
			return fmt.Errorf("list nodes: %w", err)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return Input{}, err
	}
	return in, nil
}

// TrimNode keeps the fields NodeFacts reads: name, GPU-related labels, taints, cordon, NVIDIA
// capacity and allocatable, and the Ready condition.
func TrimNode(n *corev1.Node) corev1.Node {
	var labels map[string]string
	for k, v := range n.Labels {
		if readsLabel(k) {
			if labels == nil {
				labels = map[string]string{}
			}
			labels[k] = v
		}
	}
	t := corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: labels},
		Spec:       corev1.NodeSpec{Unschedulable: n.Spec.Unschedulable, Taints: n.Spec.Taints},
	}
	keep := func(l corev1.ResourceList) corev1.ResourceList {
		var out corev1.ResourceList
		for name, q := range l {
			if isNvidiaResource(string(name)) {
				if out == nil {
					out = corev1.ResourceList{}
				}
				out[name] = q
			}
		}
		return out
	}
	t.Status.Capacity = keep(n.Status.Capacity)
	t.Status.Allocatable = keep(n.Status.Allocatable)
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			t.Status.Conditions = []corev1.NodeCondition{{Type: c.Type, Status: c.Status}}
		}
	}
	return t
}

// readLabelPrefixes are the label families NodeFacts reads; TrimNode drops every other label.
var readLabelPrefixes = []string{nvidia.Prefix, "cloud.google.com/gke-", "kubernetes.azure.com/accelerator", "karpenter.k8s.aws/instance-gpu-", nvidia.LabelNFDNvidiaPCI}

func readsLabel(key string) bool {
	for _, p := range readLabelPrefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// ErrUnreachable marks errors that mean no source could reach the cluster.
var ErrUnreachable = errors.New("cluster unreachable")

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }
