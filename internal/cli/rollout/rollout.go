// Package rollout is `dynamoctl rollout status|pause|resume dgd/NAME`: a graph's managed rolling
// update of its workers (docs/rollout.md), in kubectl rollout's shape.
package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/command"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/dgd"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/exit"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/kube"
	ro "github.com/dynamo-infra/dynamo-infra/internal/rollout"
)

// NewCommand returns `dynamoctl rollout` and its subcommands; set sees each one's options (tests).
func NewCommand(flags *kube.ConfigFlags, streams genericiooptions.IOStreams, set ...func(*Options)) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollout",
		Short: "Follow, pause and resume the rolling update of a graph's workers",
		Long: `A change to a worker's spec rolls every worker service of a DynamoGraphDeployment to a new
generation beside the old one (docs/rollout.md). status waits for it and prints each service's
progress; pause holds it where it is; resume lets it go on.`,
	}
	for _, verb := range []string{"status", "pause", "resume", "undo"} {
		o := &Options{verb: verb, flags: flags, streams: streams, interval: time.Second}
		for _, f := range set {
			f(o)
		}
		cmd.AddCommand(o.command())
	}
	return cmd
}

// Options are the flags and arguments of one `dynamoctl rollout` subcommand.
type Options struct {
	Name string
	// Watch (status): wait until the rollout completes; Timeout bounds the wait (0: none).
	Watch   bool
	Timeout time.Duration
	// Client, when set, is used instead of one built from the flags (tests).
	Client dynamic.Interface

	verb      string
	namespace string
	interval  time.Duration
	flags     *kube.ConfigFlags
	streams   genericiooptions.IOStreams
}

func (o *Options) command() *cobra.Command {
	short := map[string]string{
		"status": "Wait for a graph's rolling update and print each worker service's progress",
		"pause":  "Hold a graph's rolling update where it is (dynamo-infra.dev/rollout-paused)",
		"resume": "Let a paused rolling update go on",
		"undo":   "Put back the worker services' specs of the previous generation (rolled out as any change)",
	}[o.verb]
	long := short + `.

Exit codes: 0 done, 1 the graph does not exist (or the wait timed out), 2 usage error, 3 cluster
unreachable, 130 interrupted.`
	if o.verb == "undo" {
		long = `Put back the worker services' specs of the generation before: during a rolling update, the
generation that still serves (the rollout ends, the new generation is deleted); after one, the
generation it replaced (a rollout back to it). The operator records each serving generation's
worker specs on the graph (dynamo-infra.dev/worker-spec, previous-worker-spec); a graph that has
not completed a rollout since it was recorded has no previous generation to go back to.

Exit codes: 0 done, 1 the graph does not exist or has no earlier generation recorded, 2 usage
error, 3 cluster unreachable, 130 interrupted.`
	}
	if o.verb == "status" {
		long = `Print the rolling update of a graph's workers: its phase and, per worker service, how many
replicas of the new generation are ready beside the old one's, and why it holds (paused, a
partition). With --watch (the default) wait until it completes, printing each change; without a
rollout in progress, say which generation serves.

Exit codes: 0 complete (or none in progress), 1 the graph does not exist or --timeout passed,
2 usage error, 3 cluster unreachable, 130 interrupted.`
	}
	cmd := &cobra.Command{
		Use: o.verb + " dgd/NAME", Short: short, Long: long,
		Example:           "  dynamoctl rollout " + o.verb + " dgd/vllm-disagg",
		ValidArgsFunction: dgd.ValidArgs(o.flags),
	}
	if o.verb == "status" {
		cmd.Flags().BoolVarP(&o.Watch, "watch", "w", true, "Wait until the rolling update completes")
		cmd.Flags().DurationVar(&o.Timeout, "timeout", 0, "How long to wait (0: until it completes or Ctrl-C)")
	}
	return command.Bind(cmd, o)
}

// Complete reads the graph's name and the client.
func (o *Options) Complete(args []string) error {
	name, err := dgd.ParseName("rollout "+o.verb, args)
	if err != nil {
		return err
	}
	if name == "" {
		return fmt.Errorf("say which graph: dynamoctl rollout %s dgd/NAME", o.verb)
	}
	o.Name = name
	o.namespace = kube.Namespace(o.flags)
	if o.Client == nil {
		cfg, err := kube.RESTConfig(o.flags)
		if err != nil {
			return exit.WithCode(exit.Failure, err)
		}
		if o.Client, err = dynamic.NewForConfig(cfg); err != nil {
			return exit.WithCode(exit.Failure, err)
		}
	}
	return nil
}

// Validate refuses a negative timeout.
func (o *Options) Validate() error {
	if o.Timeout < 0 {
		return errors.New("--timeout must not be negative")
	}
	return nil
}

// Run does the subcommand.
func (o *Options) Run(ctx context.Context) error {
	switch o.verb {
	case "pause", "resume":
		return o.pause(ctx, o.verb == "pause")
	case "undo":
		return o.undo(ctx)
	}
	return o.status(ctx)
}

// undo writes the recorded worker specs of the earlier generation back into the graph.
func (o *Options) undo(ctx context.Context) error {
	graphs := o.Client.Resource(graph.Resource).Namespace(o.namespace)
	u, err := graphs.Get(ctx, o.Name, metav1.GetOptions{})
	if err != nil {
		return dgd.Failed(ctx, err)
	}
	g, err := graph.FromUnstructured(u)
	if err != nil {
		return exit.WithCode(exit.Failure, err)
	}
	// Rolling: back to the generation that serves; else to the one before it.
	key, which := v1alpha1.AnnotationPreviousWorkerSpec, "the previous"
	if rg, _ := graph.Resolve(g, graph.Options{}); rg.CurrentWorkerHash != "" && rg.CurrentWorkerHash != rg.WorkerHash {
		key, which = v1alpha1.AnnotationWorkerSpec, "the serving"
	}
	recorded := u.GetAnnotations()[key]
	if recorded == "" {
		return exit.WithCode(exit.Failure, fmt.Errorf("dgd/%s: %s worker generation's specs are not recorded (%s): nothing to go back to", o.Name, which, key))
	}
	var specs map[string]any
	if err := json.Unmarshal([]byte(recorded), &specs); err != nil {
		return exit.WithCode(exit.Failure, fmt.Errorf("dgd/%s: annotation %s: %w", o.Name, key, err))
	}
	for name, spec := range specs {
		if err := unstructured.SetNestedField(u.Object, spec, "spec", "services", name); err != nil {
			return exit.WithCode(exit.Failure, err)
		}
	}
	updated, err := graphs.Update(ctx, u, metav1.UpdateOptions{})
	if err != nil {
		return dgd.Failed(ctx, err)
	}
	back, err := graph.FromUnstructured(updated)
	if err != nil {
		return exit.WithCode(exit.Failure, err)
	}
	fmt.Fprintf(o.streams.Out, "dgd/%s rolled back to worker generation %s\n", o.Name, graph.WorkerHash(back))
	return nil
}

// pause sets or removes the graph's pause annotation.
func (o *Options) pause(ctx context.Context, on bool) error {
	var value any // null removes the annotation
	if on {
		value = "true"
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{v1alpha1.AnnotationRolloutPaused: value}}})
	if _, err := o.Client.Resource(graph.Resource).Namespace(o.namespace).Patch(ctx, o.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return dgd.Failed(ctx, err)
	}
	fmt.Fprintf(o.streams.Out, "dgd/%s %sd\n", o.Name, o.verb)
	return nil
}

// status prints the rollout, and with Watch waits for it to complete.
func (o *Options) status(ctx context.Context) error {
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	last := ""
	for {
		u, err := o.Client.Resource(graph.Resource).Namespace(o.namespace).Get(ctx, o.Name, metav1.GetOptions{})
		if err != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) && o.Timeout > 0 {
				return exit.WithCode(exit.Failure, fmt.Errorf("dgd/%s: timed out after %s waiting for the rollout: %s", o.Name, o.Timeout, last))
			}
			return dgd.Failed(ctx, err)
		}
		g, err := graph.FromUnstructured(u)
		if err != nil {
			return exit.WithCode(exit.Failure, err)
		}
		line, done := Describe(g)
		if line != last {
			fmt.Fprintln(o.streams.Out, line)
			last = line
		}
		if done || !o.Watch {
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return exit.WithCode(exit.Failure, fmt.Errorf("dgd/%s: timed out after %s waiting for the rollout", o.Name, o.Timeout))
			}
			return exit.WithCode(exit.Interrupted, ctx.Err())
		case <-time.After(o.interval):
		}
	}
}

// Describe says where a graph's rolling update is, and whether there is nothing left to wait for.
func Describe(g *v1alpha1.DynamoGraphDeployment) (string, bool) {
	// A graph that cannot be rendered still has its names, types, replicas and worker hash.
	rg, _ := graph.Resolve(g, graph.Options{})
	want, current := rg.WorkerHash, rg.CurrentWorkerHash
	ru := g.Status.RollingUpdate
	switch {
	case g.Status.ObservedGeneration < g.Generation:
		return fmt.Sprintf("Waiting for the operator to observe generation %d of dgd/%s", g.Generation, g.Name), false
	case current == want && (ru == nil || ru.Phase == ro.PhaseCompleted || ru.Phase == ""):
		if ru != nil && ru.EndTime != nil {
			return fmt.Sprintf("dgd/%s: rollout to worker generation %s complete (%s)", g.Name, want, ru.EndTime.UTC().Format(time.RFC3339)), true
		}
		return fmt.Sprintf("dgd/%s: no rollout in progress (worker generation %s serves)", g.Name, want), true
	case ru == nil:
		return fmt.Sprintf("Waiting for dgd/%s's rollout from worker generation %s to %s to start", g.Name, current, want), false
	}
	var parts []string
	for _, c := range rg.Components { // by name
		if c.WorkerHash == "" {
			continue
		}
		state := fmt.Sprintf("%s %d/%d new", c.Name, min(g.Status.Services[c.Name].UpdatedReplicas, c.Replicas), c.Replicas)
		if slices.Contains(ru.UpdatedServices, c.Name) {
			state += " (done)"
		}
		parts = append(parts, state)
	}
	line := fmt.Sprintf("Waiting for dgd/%s's rollout from %s to %s (%s): %s", g.Name, current, want, ru.Phase, strings.Join(parts, ", "))
	if ru.Message != "" {
		line += "; " + ru.Message
	}
	return line, false
}
