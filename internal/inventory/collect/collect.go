// Package collect reads what the GPU inventory is built from — through the API or, when that
// fails, kubectl — and runs the inventory (`dynamoctl gpus`). It is apart from package
// inventory so that what builds on the inventory without a kubeconfig (the operator's capacity
// view) does not link kubectl's client libraries.
package collect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/dynamo-infra/dynamo-infra/internal/inventory"
	"github.com/dynamo-infra/dynamo-infra/internal/kube"
)

// Options configure one inventory run (`dynamoctl gpus`).
type Options struct {
	Collect CollectOptions
	Build   inventory.BuildOptions
	// Probe runs nvidia-smi on GPU nodes whose model or memory is unknown (API source only).
	Probe        bool
	ProbeOptions inventory.ProbeOptions
}

// Run collects, builds and, when asked, probes. It is the whole of `dynamoctl gpus` but the
// printing.
func Run(ctx context.Context, opts Options) (inventory.Inventory, error) {
	in, source, note, err := Collect(ctx, opts.Collect)
	if err != nil {
		return inventory.Inventory{}, err
	}
	inv := inventory.Build(in.Nodes, in.Pods, opts.Build)
	inv.Source, inv.SourceNote = source, note
	if !opts.Probe {
		return inv, nil
	}
	if source != inventory.SourceAPI {
		inv.SourceNote = joinNote(inv.SourceNote, "probes need the API source; skipped")
		return inv, nil
	}
	var cs kubernetes.Interface
	if cs, err = opts.Collect.API(); err != nil {
		return inv, err
	}
	inv.Probes = inventory.ProbeNodes(ctx, cs, inv.Nodes, opts.ProbeOptions)
	// Probed facts can move nodes between pools and change the totals and summary.
	inv.Recount()
	return inv, ctx.Err()
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// CollectOptions choose and configure the source.
type CollectOptions struct {
	// Source is auto, api or kubectl.
	Source   string
	Selector string
	// API returns the clientset; it is called only when the API source is tried.
	API     func() (kubernetes.Interface, error)
	Kubectl kube.Kubectl
}

// Collect reads the input from the chosen source. With auto, the API is tried first and kubectl
// second when the API fails; the returned note says why. An error wraps inventory.ErrUnreachable when the
// cluster could not be reached at all.
func Collect(ctx context.Context, opts CollectOptions) (in inventory.Input, source, note string, err error) {
	fromAPI := func() (inventory.Input, error) {
		cs, err := opts.API()
		if err != nil {
			return inventory.Input{}, err
		}
		return inventory.ListFromAPI(ctx, cs, opts.Selector)
	}
	switch opts.Source {
	case inventory.SourceAPI:
		in, err = fromAPI()
		return in, inventory.SourceAPI, "", classify(err)
	case inventory.SourceKubectl:
		in, err = ListFromKubectl(ctx, opts.Kubectl, opts.Selector)
		return in, inventory.SourceKubectl, "", classify(err)
	case inventory.SourceAuto, "":
	default:
		return inventory.Input{}, "", "", fmt.Errorf("unknown source %q: use auto, api or kubectl", opts.Source)
	}
	in, apiErr := fromAPI()
	if apiErr == nil {
		return in, inventory.SourceAPI, "", nil
	}
	if ctx.Err() != nil {
		return inventory.Input{}, inventory.SourceAPI, "", apiErr
	}
	// kubectl reads the same kubeconfig: a server that never answered, or a kubeconfig that
	// cannot be used, would only cost it another timeout before the same answer.
	var cfgErr *kube.ConfigError
	if kube.IsTimeout(apiErr) || errors.As(apiErr, &cfgErr) {
		return inventory.Input{}, inventory.SourceAPI, "", classify(apiErr)
	}
	in, kErr := ListFromKubectl(ctx, opts.Kubectl, opts.Selector)
	if kErr == nil {
		return in, inventory.SourceKubectl, "API failed: " + kube.OneLine(apiErr), nil
	}
	err = fmt.Errorf("api: %w; kubectl: %w", apiErr, kErr)
	if kube.IsUnreachable(apiErr) {
		err = fmt.Errorf("%w: %w", inventory.ErrUnreachable, err)
	}
	return inventory.Input{}, "", "", err
}

func classify(err error) error {
	if err != nil && kube.IsUnreachable(err) {
		return fmt.Errorf("%w: %w", inventory.ErrUnreachable, err)
	}
	return err
}

// ListFromKubectl gets the same lists through `kubectl get -o json`.
func ListFromKubectl(ctx context.Context, k kube.Kubectl, selector string) (inventory.Input, error) {
	args := []string{"get", "nodes", "-o", "json"}
	if selector != "" {
		args = append(args, "-l", selector)
	}
	out, err := k.Output(ctx, args...)
	if err != nil {
		return inventory.Input{}, err
	}
	var nodes corev1.NodeList
	if err := json.NewDecoder(bytes.NewReader(out)).Decode(&nodes); err != nil {
		return inventory.Input{}, fmt.Errorf("decode kubectl get nodes: %w", err)
	}
	in := inventory.Input{Nodes: make([]corev1.Node, 0, len(nodes.Items))}
	for i := range nodes.Items {
		in.Nodes = append(in.Nodes, inventory.TrimNode(&nodes.Items[i]))
	}
	out, err = k.Output(ctx, "get", "pods", "--all-namespaces", "-o", "json", "--field-selector", inventory.ActivePodsSelector)
	if err != nil {
		return inventory.Input{}, err
	}
	var pods corev1.PodList
	if err := json.NewDecoder(bytes.NewReader(out)).Decode(&pods); err != nil {
		return inventory.Input{}, fmt.Errorf("decode kubectl get pods: %w", err)
	}
	for i := range pods.Items {
		if u, ok := inventory.PodUsageOf(&pods.Items[i]); ok {
			in.Pods = append(in.Pods, u)
		}
	}
	return in, nil
}
