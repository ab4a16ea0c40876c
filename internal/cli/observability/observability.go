// Package observability is `dynamoctl observability`: scrape configuration for a graph.
package observability

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/internal/cli/command"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/exit"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/kube"
	"github.com/dynamo-infra/dynamo-infra/internal/observability"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
)

// NewCommand returns `dynamoctl observability`.
func NewCommand(flags *kube.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "observability",
		Short: "Generate monitoring configuration for a DynamoGraphDeployment",
	}
	cmd.AddCommand(scrapeConfigCommand(flags, streams))
	return cmd
}

// ScrapeConfigOptions are the flags of `dynamoctl observability scrape-config`.
type ScrapeConfigOptions struct {
	File     string
	Format   string
	Interval time.Duration

	flags   *kube.ConfigFlags
	streams genericiooptions.IOStreams
}

func scrapeConfigCommand(flags *kube.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &ScrapeConfigOptions{flags: flags, streams: streams}
	cmd := &cobra.Command{
		Use:   "scrape-config -f dgd.yaml",
		Short: "Prometheus scrape jobs (or PodMonitors) for every service of a graph",
		Long: `Print one Prometheus scrape job per service of the graph — frontend, workers, prefill, decode,
planner alike — using Kubernetes pod discovery in the graph's namespace, kept to the service's
pods (nvidia.com/dynamo-graph-deployment-name and nvidia.com/dynamo-component: every worker
generation's) and its metrics port (http for the frontend, metrics for the planner, system for
the others), and labelled dynamo_graph, dynamo_component and dynamo_component_type. A worker's
frontend sidecar gets a job of its own on the sidecar's http port (component type frontend),
and a worker with NIXL telemetry on (NIXL_TELEMETRY_ENABLE=y) one on its nixl port (19090);
those series also carry dynamo_scrape_endpoint. With -o podmonitor, print Prometheus Operator
PodMonitors that do the same. Services of a graph with the annotation
nvidia.com/enable-metrics: "false" are left out (and named on stderr).

Paste the jobs under scrape_configs: of prometheus.yml. kubernetes_sd_configs needs a
Prometheus built with Kubernetes discovery (the upstream release has it).`,
		Example: `  dynamoctl observability scrape-config -f dgd.yaml >> prometheus-jobs.yaml
  dynamoctl observability scrape-config -f dgd.yaml -o podmonitor | kubectl apply -f -`,
		Args: cobra.NoArgs,
	}
	cmd.Flags().StringVarP(&o.File, "filename", "f", "", "DynamoGraphDeployment manifest (- for stdin)")
	cmd.Flags().StringVarP(&o.Format, "output", "o", "prometheus", "prometheus (scrape_configs) or podmonitor")
	cmd.Flags().DurationVar(&o.Interval, "interval", 5*time.Second, "Scrape interval")
	_ = cmd.MarkFlagFilename("filename", "yaml", "yml", "json")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"prometheus", "podmonitor"}, cobra.ShellCompDirectiveNoFileComp))
	return command.Bind(cmd, o)
}

// Complete has nothing to fill.
func (o *ScrapeConfigOptions) Complete(_ []string) error { return nil }

// Validate checks the flags.
func (o *ScrapeConfigOptions) Validate() error {
	switch {
	case o.File == "":
		return errors.New("-f is required: the DynamoGraphDeployment manifest (- for stdin)")
	case o.Format != "prometheus" && o.Format != "podmonitor":
		return fmt.Errorf("-o %q: use prometheus or podmonitor", o.Format)
	case o.Interval <= 0:
		return errors.New("--interval must be positive")
	}
	return nil
}

// Run reads the graphs and prints their scrape jobs or PodMonitors.
func (o *ScrapeConfigOptions) Run(_ context.Context) error {
	docs, err := render.ReadGraphs(o.File, o.streams.In, kube.Namespace(o.flags))
	if err != nil {
		return exit.UsageError(fmt.Errorf("-f: %w", err))
	}
	if others := docs.Others(); len(others) > 0 {
		fmt.Fprintf(o.streams.ErrOut, "-f %s: ignoring %s (not DynamoGraphDeployments)\n", o.File, strings.Join(others, ", "))
	}
	targets, err := observability.Targets(graph.ResolveAll(docs.Graphs(), graph.Options{}), render.Config{})
	if err != nil {
		return exit.UsageError(err)
	}
	for _, t := range targets {
		if !t.Enabled {
			fmt.Fprintf(o.streams.ErrOut, "%s/%s: metrics disabled (nvidia.com/enable-metrics: \"false\"), not scraped\n", t.Graph, t.Service)
		}
	}
	return write(o.streams.Out, o.Format, targets, o.Interval.String())
}

func write(w io.Writer, format string, targets []observability.Target, interval string) error {
	if format == "prometheus" {
		b, err := yaml.Marshal(map[string]any{"scrape_configs": observability.ScrapeConfigs(targets, interval)})
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	for i, pm := range observability.PodMonitors(targets, interval) {
		b, err := yaml.Marshal(pm)
		if err != nil {
			return err
		}
		if i > 0 {
			fmt.Fprintln(w, "---")
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}
