// Package render is `dynamoctl render`: print what the operator would apply for a graph.
package render

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	goruntime "runtime"
	"sync"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/command"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/exit"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/output"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
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
	format  output.Format
	flags   *kube.ConfigFlags
	streams genericiooptions.IOStreams
}

// NewCommand returns `dynamoctl render`.
func NewCommand(flags *kube.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
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
	}
	cmd.Flags().StringVarP(&o.File, "filename", "f", "", "DynamoGraphDeployment manifest (- for stdin)")
	cmd.Flags().StringVar(&o.NATS, "nats", "", "NATS address injected as NATS_SERVER (the operator's --nats-address)")
	cmd.Flags().StringVar(&o.Etcd, "etcd", "", "etcd endpoints injected as ETCD_ENDPOINTS (the operator's --etcd-address)")
	cmd.Flags().StringVar(&o.Discovery, "discovery-backend", graph.DefaultDiscovery, "DYN_DISCOVERY_BACKEND unless the graph's annotation sets it")
	cmd.Flags().StringVar(&o.MPISecret, "mpi-ssh-secret", v1alpha1.MPISSHSecret, "Secret multi-node TRT-LLM pods mount for mpirun (the operator's --mpi-ssh-secret)")
	_ = cmd.MarkFlagRequired("filename")
	_ = cmd.MarkFlagFilename("filename", "yaml", "yml", "json")
	o.out = output.AddFlag(cmd, output.YAML, output.JSON)
	return command.Bind(cmd, o)
}

// Complete reads the output format.
func (o *Options) Complete(_ []string) error {
	var err error
	o.format, err = o.out.Format()
	return err
}

// Validate has nothing to check beyond the flags' own parsing.
func (o *Options) Validate() error { return nil }

// Run decodes, renders and prints: each graph's children in its place, other documents of
// the file (ConfigMaps, Secrets) unchanged. Rendering is CPU work: ctx is not consulted.
func (o *Options) Run(_ context.Context) error {
	format := o.format
	docs, err := render.ReadGraphs(o.File, o.streams.In, kube.Namespace(o.flags))
	if err != nil {
		return exit.UsageError(fmt.Errorf("-f: %w", err))
	}
	opts := graph.Options{Discovery: o.Discovery}
	cfg := render.Config{NATSAddress: o.NATS, EtcdAddress: o.Etcd, MPISSHSecret: o.MPISecret}
	// Every graph renders before anything is printed (an error prints nothing); then the
	// output is rendered again and streamed, a batch of documents encoded on every core at a
	// time — the objects of 20,000 graphs held together took over a gigabyte, their text 200 MB.
	for _, doc := range docs {
		if doc.Graph == nil {
			continue
		}
		g, _ := graph.Resolve(doc.Graph, opts) // render says why it cannot be rendered
		for _, w := range g.Warnings() {
			fmt.Fprintf(o.streams.ErrOut, "Warning: graph %s: %s\n", doc.Graph.Name, w)
		}
		if _, err := render.Graph(g, cfg); err != nil {
			err = fmt.Errorf("%s: graph %s: %w", o.File, doc.Graph.Name, err)
			var unimplemented *graph.UnimplementedError
			if errors.As(err, &unimplemented) {
				return exit.WithCode(exit.Failure, err)
			}
			return exit.UsageError(err)
		}
	}
	w := output.NewStream(o.streams.Out, format == output.JSON)
	batch := max(goruntime.GOMAXPROCS(0)*8, 8)
	for from := 0; from < len(docs); from += batch {
		part := docs[from:min(from+batch, len(docs))]
		encoded := make([][][]byte, len(part))
		errs := make([]error, len(part))
		var wg sync.WaitGroup
		for i := range part {
			wg.Add(1)
			go func() {
				defer wg.Done()
				encoded[i], errs[i] = encodeDocument(part[i], opts, cfg, format == output.JSON)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
		for _, objs := range encoded {
			for _, b := range objs {
				if err := w.Write(b); err != nil {
					return err
				}
			}
		}
	}
	return w.Close()
}

// encodeDocument renders a graph (or takes another document as it is) and encodes each object
// as JSON or YAML.
func encodeDocument(doc render.Document, opts graph.Options, cfg render.Config, asJSON bool) ([][]byte, error) {
	objs := []runtime.Object{doc.Other}
	if doc.Graph != nil {
		g, err := graph.Resolve(doc.Graph, opts)
		if err != nil {
			return nil, err
		}
		if objs, err = render.Graph(g, cfg); err != nil {
			return nil, err
		}
	}
	out := make([][]byte, 0, len(objs))
	for _, obj := range objs {
		var b []byte
		var err error
		if asJSON {
			b, err = json.Marshal(obj)
		} else {
			b, err = yaml.Marshal(obj)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}
