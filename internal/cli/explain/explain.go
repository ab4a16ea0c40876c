// Package explain is `dynamoctl explain`: why a graph is or is not Ready, one causal chain per
// service ending in a remediation sentence; or, for a graph file not applied yet, where its GPU
// pods would go and why some would not fit.
package explain

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/dynamo-infra/dynamo-infra/internal/cli/command"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/dgd"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/exit"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/output"
	"github.com/dynamo-infra/dynamo-infra/internal/explain"
	"github.com/dynamo-infra/dynamo-infra/internal/kube"
)

// Options are the flags and arguments of `dynamoctl explain`.
type Options struct {
	// Name is the graph to explain on the cluster (dgd/NAME or dgd NAME).
	Name string
	// File is a graph manifest to explain as a plan (-f; "-" for stdin).
	File string
	// Bundle is a directory to write the debug bundle into (live mode only).
	Bundle string
	// ReadNodes reads the nodes and their pods even where the graph's status carries the
	// operator's capacity figure.
	ReadNodes bool
	// WrapTransport, when set, wraps the HTTP transport of every request (tests record them).
	WrapTransport func(http.RoundTripper) http.RoundTripper

	namespace string
	format    output.Format
	out       *output.Flag
	flags     *kube.ConfigFlags
	streams   genericiooptions.IOStreams
	now       func() time.Time
}

// NewCommand returns `dynamoctl explain`; set changes its options before it runs (tests wrap
// the transport).
func NewCommand(flags *kube.ConfigFlags, streams genericiooptions.IOStreams, set ...func(*Options)) *cobra.Command {
	o := &Options{flags: flags, streams: streams, now: time.Now}
	for _, f := range set {
		f(o)
	}
	cmd := &cobra.Command{
		Use:   "explain dgd/NAME | -f FILE",
		Short: "Say why a DynamoGraphDeployment is not Ready, service by service, and what to change",
		Long: `Explain a DynamoGraphDeployment: for every service, one causal chain — the graph's service, its
Deployment or LeaderWorkerSet, its ReplicaSets, the pod that shows the problem, recent events
(scheduler, kubelet), and for a pod the scheduler cannot place, the nodes it could run on and how
much is free there — ending in one remediation sentence. The classification is the operator's
(status.services[*].reason), computed again from what the cluster holds now, so explain works
when the operator is not running. For a pod short of GPUs, how much is free where is the
operator's figure in the graph's status (status.services[*].capacity, at most a minute old)
when it has one: reading every candidate node's pods costs seconds on a large cluster.
--read-nodes reads them now instead.

With -f, explain a graph not applied yet: where its pods would go on the cluster as it is now (the
plan of dynamoctl plan -f, which preflight -f shares), and for a service that would not fit, why
and what to change.

-o json|yaml prints the report (schema dynamo-infra.dev/explain/v1, docs/explain.md).
--bundle DIR also writes a debug bundle for a bug report: the graph, its children, pods, events,
the operator's log when it can be read, and the GPU inventory, into a new or empty directory
(checked first). It only reads from the cluster, never reads a Secret, and redacts credentials in
every file: environment values whose names hold password, pass, pwd, secret, token, key or
credential (any case, anywhere), passwords in URLs, the values of --*token*, --*key*,
--*password*, --*secret* flags, and NAME=value with such a NAME. A read your RBAC forbids is a
note in the report, not its end.

Exit codes: 0 Ready (with -f: every GPU pod fits), 1 not Ready (does not fit), the graph does not
exist, or the bundle's directory cannot be written, 2 usage error, 3 cluster unreachable.`,
		Example: `  dynamoctl explain dgd/vllm-disagg
  dynamoctl explain dgd vllm-disagg -n inference -o yaml
  dynamoctl explain -f graph.yaml
  dynamoctl explain dgd/vllm-disagg --bundle ./vllm-disagg-bundle`,
		ValidArgsFunction: dgd.ValidArgs(flags),
	}
	f := cmd.Flags()
	f.StringVarP(&o.File, "filename", "f", "", "Explain the graph in this file (not applied yet) as a plan; - for stdin")
	f.StringVar(&o.Bundle, "bundle", "", "Also write a debug bundle into this directory (created, or empty; credentials redacted)")
	_ = cmd.MarkFlagDirname("bundle")
	f.BoolVar(&o.ReadNodes, "read-nodes", false, "For a service short of GPUs, read the nodes and their pods now instead of the operator's figure in the graph's status")
	o.out = output.AddFlag(cmd, output.Text, output.JSON, output.YAML)
	return command.Bind(cmd, o)
}

// Complete reads the graph's name from dgd/NAME or dgd NAME and resolves namespace and format.
func (o *Options) Complete(args []string) error {
	var err error
	if o.format, err = o.out.Format(); err != nil {
		return err
	}
	o.namespace = kube.Namespace(o.flags)
	o.Name, err = dgd.ParseName("explain", args)
	return err
}

// Validate wants exactly one of a name or -f; a bundle is of a graph on the cluster.
func (o *Options) Validate() error {
	switch {
	case o.Name == "" && o.File == "":
		return errors.New("say what to explain: dynamoctl explain dgd/NAME, or -f FILE")
	case o.Name != "" && o.File != "":
		return errors.New("give a graph's name or -f, not both")
	case o.Bundle != "" && o.File != "":
		return errors.New("--bundle is for a graph on the cluster (dgd/NAME), not -f")
	}
	return nil
}

// Run reads what it needs, prints the report, and exits 1 when the graph is not Ready (or does
// not fit).
func (o *Options) Run(ctx context.Context) (err error) {
	// The bundle's directory first: a local path error is the user's to fix before any wait.
	if o.Bundle != "" {
		created, perr := prepareBundle(o.Bundle)
		if perr != nil {
			return exit.WithCode(exit.Failure, fmt.Errorf("--bundle: %w", perr))
		}
		if created {
			defer func() {
				if err != nil {
					_ = os.Remove(o.Bundle) // only if still empty: a failed run leaves no empty directory
				}
			}()
		}
	}
	cfg, err := kube.RESTConfig(o.flags)
	if err != nil {
		return exit.WithCode(exit.Unreachable, err)
	}
	if o.WrapTransport != nil {
		cfg.Wrap(o.WrapTransport)
	}
	c, err := explain.NewClients(cfg)
	if err != nil {
		return exit.WithCode(exit.Unreachable, err)
	}
	var rep explain.Report
	var live *explain.LiveRead
	if o.File != "" {
		rep, err = o.plan(ctx, c)
	} else {
		live, err = explain.ReadLive(ctx, c, o.namespace, o.Name, explain.ReadOptions{Bundle: o.Bundle != "", Fresh: o.ReadNodes, Now: o.now()})
		if err == nil {
			rep = explain.Build(live.Live)
		}
	}
	if err != nil {
		return dgd.Failed(ctx, err)
	}
	if o.Bundle != "" {
		files, err := writeBundle(ctx, c, o.Bundle, live, rep)
		if err != nil {
			return dgd.Failed(ctx, fmt.Errorf("--bundle: %w", err))
		}
		fmt.Fprintf(o.streams.ErrOut, "debug bundle: %d files in %s\n", files, o.Bundle)
	}
	if o.format == output.Text {
		err = explain.WriteText(o.streams.Out, rep)
	} else {
		err = output.Encode(o.streams.Out, o.format, rep)
	}
	if err != nil {
		return err
	}
	if !rep.Graph.Ready {
		what := "is not Ready"
		if rep.Graph.Mode == explain.ModePlan {
			what = "does not fit"
		}
		return exit.WithCode(exit.Failure, fmt.Errorf("%s/%s %s (%s services)", rep.Graph.Namespace, rep.Graph.Name, what, rep.Graph.ReadyServices))
	}
	return nil
}
