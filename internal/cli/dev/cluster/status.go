package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/dynamo-infra/dynamo-infra/internal/cli/command"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/exit"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/output"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster"
)

// StatusOptions are the flags of `dynamoctl dev cluster status`.
type StatusOptions struct {
	Dir string

	out     *output.Flag
	format  output.Format
	streams genericiooptions.IOStreams
}

func newStatusCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &StatusOptions{streams: streams}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Report the health of each dev cluster component and its nodes",
		Long: `Check every process of the dev cluster in --dir (alive, health endpoint answering) and list its
nodes. Exit codes: 0 healthy, 1 running but unhealthy, 3 no cluster running.`,
		Args: cobra.NoArgs,
	}
	addDirFlag(cmd, &o.Dir)
	o.out = output.AddFlag(cmd, output.Table, output.Wide, output.JSON, output.YAML)
	return command.Bind(cmd, o)
}

// Complete reads the output format and makes --dir absolute.
func (o *StatusOptions) Complete(_ []string) error {
	var err error
	if o.format, err = o.out.Format(); err != nil {
		return err
	}
	o.Dir, err = filepath.Abs(o.Dir)
	return err
}

// Validate has nothing more to check.
func (o *StatusOptions) Validate() error { return nil }

// Run checks the cluster and prints its health; the exit code follows it.
func (o *StatusOptions) Run(ctx context.Context) error {
	format, d := o.format, o.Dir
	st, err := devcluster.GetStatus(ctx, d)
	if errors.Is(err, devcluster.ErrNoCluster) {
		return exit.WithCode(exit.Unreachable, fmt.Errorf("no dev cluster in %s: start one with `dynamoctl dev cluster up`", d))
	}
	if err != nil {
		return err
	}
	if format == output.Table || format == output.Wide {
		err = printStatus(o.streams.Out, st, format == output.Wide)
	} else {
		err = output.Encode(o.streams.Out, format, st)
	}
	if err != nil {
		return err
	}
	switch {
	case !st.Running:
		return exit.WithCode(exit.Unreachable, fmt.Errorf("the dev cluster in %s is not running (its supervisor is gone): run `dynamoctl dev cluster down` then `up`", d))
	case !st.Healthy:
		return exit.WithCode(exit.Failure, errors.New("the dev cluster is not healthy: see the table above and the logs it names"))
	}
	return nil
}

func printStatus(w io.Writer, st devcluster.Status, wide bool) error {
	s := st.State
	phase := string(s.Phase)
	if !st.Running && s.Phase != devcluster.PhaseFailed {
		phase = string(devcluster.PhaseStopped)
	}
	fmt.Fprintf(w, "Cluster:     %s", phase)
	if s.Profile != "" {
		fmt.Fprintf(w, " (profile %s", s.Profile)
		if !s.StartedAt.IsZero() && st.Running {
			fmt.Fprintf(w, ", up %s", time.Since(s.StartedAt).Round(time.Second))
		}
		fmt.Fprint(w, ")")
	}
	fmt.Fprintln(w)
	if s.Error != "" {
		fmt.Fprintf(w, "Error:       %s\n", s.Error)
	}
	if s.Server != "" {
		fmt.Fprintf(w, "Server:      %s\nKubeconfig:  %s\n", s.Server, s.Kubeconfig)
	}
	if len(st.Components) > 0 {
		header := []string{"COMPONENT", "PID", "HEALTH", "DETAIL"}
		if wide {
			header = append(header, "ENDPOINT", "LOG")
		}
		rows := make([][]string, 0, len(st.Components))
		for _, c := range st.Components {
			health := "ok"
			if !c.Healthy {
				health = "FAILING"
			}
			row := []string{c.Name, strconv.Itoa(c.PID), health, dash(c.Detail)}
			if wide {
				row = append(row, c.HealthURL, c.Log)
			}
			rows = append(rows, row)
		}
		fmt.Fprintln(w)
		if err := output.WriteTable(w, header, rows); err != nil {
			return err
		}
	}
	if st.NodesError != "" {
		fmt.Fprintf(w, "\nNodes: %s\n", st.NodesError)
	}
	if len(st.Nodes) == 0 {
		return nil
	}
	header := []string{"NODE", "READY", "KIND", "GPU PRODUCT", "GPUS", "MIG"}
	if wide {
		header = append(header, "ZONE")
	}
	rows := make([][]string, 0, len(st.Nodes))
	for _, n := range st.Nodes {
		row := []string{n.Name, strconv.FormatBool(n.Ready), dash(n.Kind), dash(n.GPUProduct), strconv.FormatInt(n.GPUs, 10), dash(formatMIG(n.MIG))}
		if wide {
			row = append(row, dash(n.Zone))
		}
		rows = append(rows, row)
	}
	fmt.Fprintln(w)
	return output.WriteTable(w, header, rows)
}

func formatMIG(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.FormatInt(m[k], 10)
	}
	return strings.Join(parts, ",")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
