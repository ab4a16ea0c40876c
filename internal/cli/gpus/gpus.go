// Package gpus is `dynamoctl gpus`: the GPU inventory of a cluster.
package gpus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/dynamo-infra/dynamo-infra/internal/cli/command"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/exit"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/output"
	"github.com/dynamo-infra/dynamo-infra/internal/inventory"
	"github.com/dynamo-infra/dynamo-infra/internal/inventory/collect"
	"github.com/dynamo-infra/dynamo-infra/internal/kube"
)

// Options are the flags of `dynamoctl gpus`.
type Options struct {
	Source           string
	Selector         string
	AllNodes         bool
	Aggregate        bool
	ShowMIG          bool
	Probe            bool
	ProbeImage       string
	ProbeTimeout     time.Duration
	ProbeConcurrency int
	Kubectl          string

	out     *output.Flag
	format  output.Format
	flags   *kube.ConfigFlags
	streams genericiooptions.IOStreams
}

// NewCommand returns `dynamoctl gpus`.
func NewCommand(flags *kube.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{flags: flags, streams: streams}
	cmd := &cobra.Command{
		Use:   "gpus",
		Short: "Show the GPUs of every node: model, memory, MIG, sharing, allocated and free",
		Long: `Show the NVIDIA GPUs of the cluster's nodes, read from every form a cluster exposes them in: GPU
Feature Discovery labels (whole GPUs, MIG single/mixed/INVALID, time-slicing and MPS), GKE, AKS,
Karpenter and NFD labels, and the nvidia.com resources nodes advertise. Requested is the sum of
the requests of the node's bound, non-terminal pods (init containers by the max rule, plus pod
overhead); free is allocatable minus requested.

--probe runs nvidia-smi in a short-lived Job on each GPU node whose model or memory is unknown
(concurrently, each bounded by --probe-timeout, always deleted, also on Ctrl-C). A probe asks
for one GPU, so it reports that GPU's model, memory and MIG mode, taken as the node's; the
count is the node's own. A probe the cluster refuses (Pod Security admission in the namespace,
a quota) or whose nvidia-smi fails makes the command exit 1 after printing the inventory; one
that cannot be scheduled (every GPU taken) or runs out of time is shown and fails nothing.

Exit codes: 0 ok, 1 error, 2 usage error, 3 cluster unreachable.`,
		Example: `  dynamoctl gpus
  dynamoctl gpus --aggregate --show-mig
  dynamoctl gpus -l nvidia.com/gpu.product=NVIDIA-H100-80GB-HBM3 -o json
  dynamoctl gpus --probe --probe-image nvcr.io/nvidia/cuda:12.8.1-base-ubuntu24.04`,
		Args: cobra.NoArgs,
	}
	f := cmd.Flags()
	f.StringVar(&o.Source, "source", inventory.SourceAuto, "Where to read nodes and pods: auto (API, then kubectl), api, kubectl")
	f.StringVarP(&o.Selector, "selector", "l", "", "Only nodes matching this label selector")
	f.BoolVar(&o.AllNodes, "all-nodes", false, "Also list nodes without GPUs")
	f.BoolVar(&o.Aggregate, "aggregate", false, "Add pools (nodes with the same product, memory, MIG layout and sharing mode), totals per unit and the gpu_inventory.py summary")
	f.BoolVar(&o.ShowMIG, "show-mig", false, "Show each MIG resource of a node on its own row")
	f.BoolVar(&o.Probe, "probe", false, "Run nvidia-smi on GPU nodes whose model or memory is unknown")
	f.StringVar(&o.ProbeImage, "probe-image", inventory.DefaultProbeImage, "Image with nvidia-smi for --probe")
	f.DurationVar(&o.ProbeTimeout, "probe-timeout", inventory.DefaultProbeTimeout, "Time limit of each probe")
	f.IntVar(&o.ProbeConcurrency, "probe-concurrency", inventory.DefaultProbeConcurrency, "Probes run at the same time")
	f.StringVar(&o.Kubectl, "kubectl", "kubectl", "kubectl binary for --source kubectl and the auto fallback")
	_ = cmd.RegisterFlagCompletionFunc("source", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{inventory.SourceAuto, inventory.SourceAPI, inventory.SourceKubectl}, cobra.ShellCompDirectiveNoFileComp
	})
	o.out = output.AddFlag(cmd, output.Table, output.Wide, output.JSON, output.YAML)
	return command.Bind(cmd, o)
}

// Complete reads the output format.
func (o *Options) Complete(_ []string) error {
	var err error
	o.format, err = o.out.Format()
	return err
}

// Validate checks the flags.
func (o *Options) Validate() error {
	switch o.Source {
	case inventory.SourceAuto, inventory.SourceAPI, inventory.SourceKubectl:
	default:
		return fmt.Errorf("--source %q: use auto, api or kubectl", o.Source)
	}
	if o.ProbeTimeout <= 0 {
		return errors.New("--probe-timeout must be positive")
	}
	if o.ProbeConcurrency < 1 || o.ProbeConcurrency > 256 {
		return errors.New("--probe-concurrency must be from 1 to 256")
	}
	return nil
}

// Run collects the inventory and prints it.
func (o *Options) Run(ctx context.Context) error {
	ns := kube.Namespace(o.flags)
	var cs kubernetes.Interface
	inv, err := collect.Run(ctx, collect.Options{
		Collect: collect.CollectOptions{
			Source:   o.Source,
			Selector: o.Selector,
			API: func() (kubernetes.Interface, error) {
				if cs == nil {
					c, _, err := kube.Clientset(o.flags)
					if err != nil {
						return nil, err
					}
					cs = c
				}
				return cs, nil
			},
			Kubectl: kube.NewKubectl(o.Kubectl, o.flags),
		},
		Build: inventory.BuildOptions{AllNodes: o.AllNodes},
		Probe: o.Probe,
		ProbeOptions: inventory.ProbeOptions{
			Namespace: ns, Image: o.ProbeImage, Timeout: o.ProbeTimeout, Concurrency: o.ProbeConcurrency,
		},
	})
	switch {
	case ctx.Err() != nil:
		return exit.WithCode(exit.Interrupted, fmt.Errorf("interrupted (probe jobs were deleted): %w", ctx.Err()))
	case errors.Is(err, inventory.ErrUnreachable):
		return exit.WithCode(exit.Unreachable, err)
	case err != nil:
		return err
	}
	for _, n := range inv.Nodes {
		for _, w := range n.Warnings {
			fmt.Fprintf(o.streams.ErrOut, "warning: node %s: %s\n", n.Name, w)
		}
	}
	var err2 error
	switch o.format {
	case output.Table, output.Wide:
		err2 = PrintTable(o.streams.Out, inv, PrintOptions{Wide: o.format == output.Wide, Aggregate: o.Aggregate, ShowMIG: o.ShowMIG})
	default:
		err2 = output.Encode(o.streams.Out, o.format, inv)
	}
	if err2 != nil {
		return err2
	}
	return probesFailed(inv.Probes)
}

// probesFailed is an error (exit 1) naming the probes that failed — refused by admission, a
// Job that could not be created, nvidia-smi that failed — after the inventory was printed. A
// probe that could not be scheduled or ran out of time is in the output and fails nothing:
// the node is busy, not broken.
func probesFailed(probes []inventory.ProbeResult) error {
	var failed []string
	for _, p := range probes {
		if p.Status == inventory.ProbeFailed {
			failed = append(failed, "node "+p.Node+": "+p.Detail)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return fmt.Errorf("%d of %d probes failed: %s", len(failed), len(probes), strings.Join(failed, "; "))
}
