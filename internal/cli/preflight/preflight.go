// Package preflight is `dynamoctl preflight`: checks a cluster, and optionally a graph, before
// Dynamo is deployed on it.
package preflight

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/dynamo-infra/dynamo-infra/internal/cli/command"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/exit"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/output"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/kube"
	"github.com/dynamo-infra/dynamo-infra/internal/preflight"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
)

// JUnit is the -o value for JUnit XML.
const JUnit output.Format = "junit"

// Options are the flags of `dynamoctl preflight`.
type Options struct {
	Profile      string
	Require      []string
	Skip         []string
	File         string
	NATS         string
	Etcd         string
	CheckTimeout time.Duration
	Strict       bool
	NoColor      bool

	out     *output.Flag
	format  output.Format
	checks  []preflight.Check
	flags   *kube.ConfigFlags
	streams genericiooptions.IOStreams
}

// NewCommand returns `dynamoctl preflight`.
func NewCommand(flags *kube.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{flags: flags, streams: streams}
	cmd := &cobra.Command{
		Use:   "preflight",
		Short: "Check a cluster (and a graph) before deploying Dynamo",
		Long: `Run pre-deployment checks against the current cluster. Each check reports pass, warn, fail,
skip, error or timeout with a one-line detail and, when not passing, what to do about it. Checks
run concurrently on one client, each bounded by --check-timeout; a check that runs out of time
gives no verdict on the cluster and fails nothing (--strict counts it like a warning).

Profiles: baseline (` + strings.Join(profileChecks(preflight.ProfileBaseline), ", ") + `);
production adds ` + strings.Join(onlyIn(preflight.ProfileProduction, preflight.ProfileBaseline), ", ") + `.
--nats, --etcd and -f add the nats, etcd and dgd-fits checks. --require adds checks, --skip
removes them. All checks: ` + strings.Join(preflight.IDs(), ", ") + `.

dgd-fits plans each graph as dynamoctl plan -f does (one planner, one verdict): every service
rendered as the operator would, its pod through the cluster's admission with a server-side dry
run, every resource on the nodes its node selector, affinity and tolerations allow, a graph that
already runs planned as a change.

Exit codes: 0 all passed (warnings allowed), 1 a check failed or could not run, 2 usage error,
3 cluster unreachable, 4 warnings with --strict.`,
		Example: `  dynamoctl preflight
  dynamoctl preflight --profile production --nats nats://nats:4222 --etcd http://etcd:2379
  dynamoctl preflight -f dgd.yaml --skip rdma
  dynamoctl preflight -o junit > preflight.xml`,
		Args: cobra.NoArgs,
	}
	f := cmd.Flags()
	f.StringVar(&o.Profile, "profile", preflight.ProfileBaseline, "Checks to run: baseline or production")
	f.StringSliceVar(&o.Require, "require", nil, "Add these checks (comma-separated ids)")
	f.StringSliceVar(&o.Skip, "skip", nil, "Leave out these checks (comma-separated ids)")
	f.StringVarP(&o.File, "filename", "f", "", "A DynamoGraphDeployment manifest to check for fit (- for stdin)")
	f.StringVar(&o.NATS, "nats", "", "Check this NATS server (nats://[user:pass@]host:4222)")
	f.StringVar(&o.Etcd, "etcd", "", "Check these etcd endpoints (http://host:2379, comma-separated)")
	f.DurationVar(&o.CheckTimeout, "check-timeout", 10*time.Second, "Time limit of each check")
	f.BoolVar(&o.Strict, "strict", false, "Exit 4 when a check warns")
	f.BoolVar(&o.NoColor, "no-color", false, "No colours in the table (they are only used on a terminal anyway)")
	_ = cmd.MarkFlagFilename("filename", "yaml", "yml", "json")
	_ = cmd.RegisterFlagCompletionFunc("profile", cobra.FixedCompletions(preflight.Profiles, cobra.ShellCompDirectiveNoFileComp))
	ids := cobra.FixedCompletions(preflight.IDs(), cobra.ShellCompDirectiveNoFileComp)
	_ = cmd.RegisterFlagCompletionFunc("require", ids)
	_ = cmd.RegisterFlagCompletionFunc("skip", ids)
	o.out = output.AddFlag(cmd, output.Table, output.Wide, output.JSON, output.YAML, JUnit)
	return command.Bind(cmd, o)
}

// Complete reads the output format.
func (o *Options) Complete(_ []string) error {
	var err error
	o.format, err = o.out.Format()
	return err
}

// Validate checks the flags and selects the checks to run.
func (o *Options) Validate() error {
	if o.CheckTimeout <= 0 {
		return errors.New("--check-timeout must be positive")
	}
	var have preflight.Need
	if o.NATS != "" {
		have |= preflight.NeedNATS
	}
	if o.Etcd != "" {
		have |= preflight.NeedEtcd
	}
	if o.File != "" {
		have |= preflight.NeedManifest
	}
	var err error
	o.checks, err = preflight.Select(preflight.Selection{Profile: o.Profile, Require: o.Require, Skip: o.Skip, Have: have})
	return err
}

// Run runs the checks and prints the report; the exit code follows the results.
func (o *Options) Run(ctx context.Context) error {
	checks := o.checks
	ns := kube.Namespace(o.flags)
	needsCluster := false
	for _, c := range checks {
		needsCluster = needsCluster || c.Needs&preflight.NeedCluster != 0
	}
	var env *preflight.Env
	if needsCluster {
		cfg, err := kube.RESTConfig(o.flags)
		if err != nil {
			return exit.WithCode(exit.Unreachable, err)
		}
		if env, err = preflight.NewEnv(cfg); err != nil {
			return err
		}
	} else {
		env, _ = preflight.NewEnv(nil)
	}
	env.Profile, env.Namespace, env.NATS, env.Etcd = o.Profile, ns, o.NATS, o.Etcd
	env.Render = render.Config{NATSAddress: o.NATS, EtcdAddress: o.Etcd}
	if o.File != "" {
		docs, err := render.ReadGraphs(o.File, o.streams.In, ns)
		if err != nil {
			return exit.UsageError(fmt.Errorf("-f: %w", err))
		}
		if others := docs.Others(); len(others) > 0 {
			fmt.Fprintf(o.streams.ErrOut, "-f %s: ignoring %s (not DynamoGraphDeployments)\n", o.File, strings.Join(others, ", "))
		}
		env.Graphs = graph.ResolveAll(docs.Graphs(), graph.Options{})
	}
	rep := preflight.Run(ctx, env, checks, preflight.RunOptions{CheckTimeout: o.CheckTimeout})
	if ctx.Err() != nil {
		return exit.WithCode(exit.Interrupted, fmt.Errorf("interrupted: %w", ctx.Err()))
	}
	var err error
	switch o.format {
	case output.Table, output.Wide:
		err = preflight.WriteTable(o.streams.Out, rep, preflight.TableOptions{Wide: o.format == output.Wide, Color: !o.NoColor && isTerminal(o.streams.Out)})
	case output.JSON:
		err = preflight.WriteJSON(o.streams.Out, rep)
	case JUnit:
		err = preflight.WriteJUnit(o.streams.Out, rep)
	default:
		err = output.Encode(o.streams.Out, o.format, rep)
	}
	if err != nil {
		return err
	}
	return verdictError(rep, o.Strict)
}

// verdictError is the run's verdict as the command's error and exit code (nil: exit 0).
func verdictError(rep preflight.Report, strict bool) error {
	switch rep.Verdict(strict) {
	case preflight.VerdictUnreachable:
		return exit.WithCode(exit.Unreachable, fmt.Errorf("the API server at %s is unreachable", rep.Server))
	case preflight.VerdictFailed:
		return exit.WithCode(exit.Failure, fmt.Errorf("%d check(s) failed, %d could not run", rep.Summary.Failed, rep.Summary.Errors))
	case preflight.VerdictWarnings:
		return exit.WithCode(exit.Warnings, fmt.Errorf("%d warning(s), %d check(s) out of time, with --strict", rep.Summary.Warnings, rep.Summary.TimedOut))
	}
	return nil
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func profileChecks(profile string) []string {
	var ids []string
	for _, c := range preflight.Registry() {
		for _, p := range c.Profiles {
			if p == profile {
				ids = append(ids, c.ID)
			}
		}
	}
	return ids
}

func onlyIn(profile, not string) []string {
	base := map[string]bool{}
	for _, id := range profileChecks(not) {
		base[id] = true
	}
	var ids []string
	for _, id := range profileChecks(profile) {
		if !base[id] {
			ids = append(ids, id)
		}
	}
	return ids
}
