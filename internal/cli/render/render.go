// Package render is `dynamoctl render`: print what the operator would apply for a graph.
package render

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/exit"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/output"
	"github.com/dynamo-infra/dynamo-infra/internal/kube"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
)

// Options are the flags of `dynamoctl render`.
type Options struct {
	File      string
	NATS      string
	Etcd      string
	Discovery string
	MPISecret string

	out     *output.Flag
	flags   *genericclioptions.ConfigFlags
	streams genericiooptions.IOStreams
}

// NewCommand returns `dynamoctl render`.
func NewCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{flags: flags, streams: streams}
	cmd := &cobra.Command{
		Use:   "render -f FILE",
		Short: "Print the objects the operator would apply for a DynamoGraphDeployment",
		Long: `Decode a DynamoGraphDeployment manifest strictly (unknown fields are errors), default and
validate it as the API server would (the CRD's schema and CEL rules, in process), and print the
Deployments, LeaderWorkerSets (multinode services), Services, PVCs, ServiceAccounts, ConfigMaps
and discovery RBAC the operator would apply for it, built by the same code the operator runs. Other documents of the file (ConfigMaps, Secrets) are printed unchanged,
in their place. Nothing is sent to a cluster. The namespace is the manifest's, else -n, else the
kubeconfig context's, else default. -f - reads standard input.

Exit status: 0 rendered; 1 a graph uses a field dynamo-infra does not implement yet (named, as in
the graph's status on a cluster); 2 the file is invalid (the API server's words).`,
		Example: `  dynamoctl render -f dgd.yaml
  dynamoctl render -f dgd.yaml --nats nats://nats:4222 --etcd http://etcd:2379 -o json
  dynamoctl render -f dgd.yaml | kubectl apply --dry-run=server -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.Run()
		},
	}
	cmd.Flags().StringVarP(&o.File, "filename", "f", "", "DynamoGraphDeployment manifest (- for stdin)")
	cmd.Flags().StringVar(&o.NATS, "nats", "", "NATS address injected as NATS_SERVER (the operator's --nats-address)")
	cmd.Flags().StringVar(&o.Etcd, "etcd", "", "etcd endpoints injected as ETCD_ENDPOINTS (the operator's --etcd-address)")
	cmd.Flags().StringVar(&o.Discovery, "discovery-backend", "kubernetes", "DYN_DISCOVERY_BACKEND unless the graph's annotation sets it")
	cmd.Flags().StringVar(&o.MPISecret, "mpi-ssh-secret", v1alpha1.MPISSHSecret, "Secret multi-node TRT-LLM pods mount for mpirun (the operator's --mpi-ssh-secret)")
	_ = cmd.MarkFlagRequired("filename")
	_ = cmd.MarkFlagFilename("filename", "yaml", "yml", "json")
	o.out = output.AddFlag(cmd, output.YAML, output.JSON)
	return cmd
}

// Run decodes, renders and prints: each graph's children in its place, other documents of
// the file (ConfigMaps, Secrets) unchanged.
func (o *Options) Run() error {
	format, err := o.out.Format()
	if err != nil {
		return exit.UsageError(err)
	}
	docs, err := render.ReadGraphs(o.File, o.streams.In, kube.Namespace(o.flags))
	if err != nil {
		return exit.UsageError(fmt.Errorf("-f: %w", err))
	}
	cfg := render.Config{NATSAddress: o.NATS, EtcdAddress: o.Etcd, DiscoveryBackend: o.Discovery, MPISSHSecret: o.MPISecret}
	var all []runtime.Object
	for _, doc := range docs {
		if doc.Other != nil {
			all = append(all, doc.Other)
			continue
		}
		d := doc.Graph
		for _, w := range render.Warnings(d) {
			fmt.Fprintf(o.streams.ErrOut, "Warning: graph %s: %s\n", d.Name, w)
		}
		objs, err := render.Graph(d, cfg)
		if err != nil {
			err = fmt.Errorf("%s: graph %s: %w", o.File, d.Name, err)
			var unimplemented *render.UnimplementedError
			if errors.As(err, &unimplemented) {
				return exit.WithCode(exit.Failure, err)
			}
			return exit.UsageError(err)
		}
		all = append(all, objs...)
	}
	if format == output.JSON {
		return output.Encode(o.streams.Out, output.JSON, map[string]any{"apiVersion": "v1", "kind": "List", "items": all})
	}
	for i, obj := range all {
		if i > 0 {
			fmt.Fprintln(o.streams.Out, "---")
		}
		b, err := yaml.Marshal(obj)
		if err != nil {
			return err
		}
		if _, err := o.streams.Out.Write(b); err != nil {
			return err
		}
	}
	return nil
}
