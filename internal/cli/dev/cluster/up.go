package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/dynamo-infra/dynamo-infra/internal/cli/command"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/exit"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster"
	"github.com/dynamo-infra/dynamo-infra/internal/simnode"
)

// UpOptions are the flags of `dev cluster up` (and of the hidden `serve` it starts).
type UpOptions struct {
	Dir        string
	Profile    string
	NodesFile  string
	KwokConfig string
	BinDir     string
	Timeout    time.Duration
	Foreground bool
	LWS        bool
	DRA        bool
	// InferenceGateway installs the InferencePool CRD (on by default, like LWS).
	InferenceGateway bool

	profile simnode.Profile
	nodes   []*corev1.Node
	kwok    []string
	streams genericiooptions.IOStreams
}

func (o *UpOptions) addFlags(cmd *cobra.Command) {
	addDirFlag(cmd, &o.Dir)
	cmd.Flags().StringVar(&o.Profile, "profile", simnode.DefaultProfile,
		"Nodes to create, KIND=COUNT,... (kinds: "+strings.Join(simnode.NodeKindNames(), ", ")+"); empty with --nodes-file for user nodes only")
	cmd.Flags().StringVar(&o.NodesFile, "nodes-file", "", "YAML file of Node manifests to create in addition to the profile")
	cmd.Flags().StringVar(&o.KwokConfig, "kwok-config", "", "YAML file of extra kwok configuration (ClusterExec, ClusterLogs, Stage … documents), e.g. to exec into simulated pods")
	cmd.Flags().StringVar(&o.BinDir, "bin-dir", "", "Directory of the control-plane binaries (default: bin/k8s of this repository, then the build cache; or $"+devcluster.EnvBinDir+")")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", devcluster.DefaultStartTimeout, "How long to wait for the cluster to become Ready")
	cmd.Flags().BoolVar(&o.LWS, "lws", true, "Run the LeaderWorkerSet controller (CRD, webhooks) that multi-node workers need; --lws=false leaves it out")
	cmd.Flags().BoolVar(&o.InferenceGateway, "inference-gateway", true, "Install the Gateway API Inference Extension's InferencePool CRD (inference.networking.k8s.io/v1), for graphs with an Endpoint Picker; --inference-gateway=false leaves it out")
	cmd.Flags().BoolVar(&o.DRA, "dra", false, "Also publish each node's whole GPUs as DRA devices (DeviceClass gpu.nvidia.com, a ResourceSlice per GPU node), as NVIDIA's DRA driver does")
	_ = cmd.RegisterFlagCompletionFunc("profile", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return simnode.NodeKindNames(), cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
	})
	_ = cmd.MarkFlagFilename("nodes-file", "yaml", "yml", "json")
	_ = cmd.MarkFlagFilename("kwok-config", "yaml", "yml")
}

// Complete parses the profile and the nodes file and resolves paths.
func (o *UpOptions) Complete(_ []string) error {
	var err error
	if o.Dir, err = filepath.Abs(o.Dir); err != nil {
		return err
	}
	if strings.TrimSpace(o.Profile) != "" || o.NodesFile == "" {
		if o.profile, err = simnode.ParseProfile(o.Profile); err != nil {
			return exit.UsageError(fmt.Errorf("--profile: %w", err))
		}
	}
	if o.NodesFile != "" {
		if o.NodesFile, err = filepath.Abs(o.NodesFile); err != nil {
			return err
		}
		if o.nodes, err = devcluster.LoadNodesFile(o.NodesFile); err != nil {
			return exit.UsageError(fmt.Errorf("--nodes-file: %w", err))
		}
	}
	if o.KwokConfig != "" {
		if o.KwokConfig, err = filepath.Abs(o.KwokConfig); err != nil {
			return err
		}
		if o.kwok, err = devcluster.LoadKwokConfig(o.KwokConfig); err != nil {
			return exit.UsageError(fmt.Errorf("--kwok-config: %w", err))
		}
	}
	if o.BinDir == "" {
		if o.BinDir, err = devcluster.FindBinDir(); err != nil {
			return exit.WithCode(exit.Failure, err) // the machine's, not the flags'
		}
	} else if o.BinDir, err = filepath.Abs(o.BinDir); err != nil {
		return err
	}
	return nil
}

// Validate checks the flags.
func (o *UpOptions) Validate() error {
	if o.Timeout <= 0 {
		return errors.New("--timeout must be positive")
	}
	return nil
}

func (o *UpOptions) clusterOptions() devcluster.Options {
	return devcluster.Options{
		BinDir:           o.BinDir,
		Dir:              o.Dir,
		Profile:          o.profile,
		ExtraNodes:       o.nodes,
		KwokConfig:       o.kwok,
		StartTimeout:     o.Timeout,
		LWS:              o.LWS,
		InferenceGateway: o.InferenceGateway,
		DRA:              o.DRA,
	}
}

// supervisorCommand is the argv of the background `serve` process for these options.
func (o *UpOptions) supervisorCommand() ([]string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the dynamoctl-dev executable: %w", err)
	}
	// The dev binary's root is `dev` itself.
	args := []string{exe, "cluster", "serve", "--dir", o.Dir, "--profile", o.Profile, "--bin-dir", o.BinDir, "--timeout", o.Timeout.String(),
		"--lws=" + strconv.FormatBool(o.LWS), "--inference-gateway=" + strconv.FormatBool(o.InferenceGateway), "--dra=" + strconv.FormatBool(o.DRA)}
	if o.NodesFile != "" {
		args = append(args, "--nodes-file", o.NodesFile)
	}
	if o.KwokConfig != "" {
		args = append(args, "--kwok-config", o.KwokConfig)
	}
	return args, nil
}

// Run starts the cluster in the background (or the foreground) and prints the export line.
func (o *UpOptions) Run(ctx context.Context) error {
	start := time.Now()
	if o.Foreground {
		opts := o.clusterOptions()
		opts.Progress = o.streams.ErrOut
		err := devcluster.Supervise(ctx, opts, func(s devcluster.State) { o.printReady(s, start) })
		if errors.Is(err, devcluster.ErrAlreadyRunning) {
			return err
		}
		// Like `down`: the cluster is gone, so are its files (a fresh context: ctx is done).
		cleanCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, derr := devcluster.Down(cleanCtx, o.Dir, false)
		return errors.Join(err, derr)
	}
	argv, err := o.supervisorCommand()
	if err != nil {
		return err
	}
	s, err := devcluster.Launch(ctx, devcluster.LaunchOptions{
		Dir:         o.Dir,
		Command:     argv,
		Timeout:     o.Timeout + 30*time.Second,
		Progress:    o.streams.ErrOut,
		Description: o.describe(),
	})
	if err != nil {
		if ctx.Err() != nil {
			return exit.WithCode(exit.Interrupted, err)
		}
		return err
	}
	o.printReady(s, start)
	return nil
}

func (o *UpOptions) describe() string {
	parts := []string{}
	if len(o.profile) > 0 {
		parts = append(parts, "profile "+o.profile.String())
	}
	if o.NodesFile != "" {
		parts = append(parts, fmt.Sprintf("%d nodes from %s", len(o.nodes), o.NodesFile))
	}
	return strings.Join(parts, ", ")
}

func (o *UpOptions) printReady(s devcluster.State, start time.Time) {
	fmt.Fprintf(o.streams.ErrOut, "Dev cluster ready in %s: %s\nStop it with: dynamoctl dev cluster down --dir %s\n",
		time.Since(start).Round(100*time.Millisecond), s.Server, o.Dir)
	fmt.Fprintf(o.streams.Out, "export KUBECONFIG=%s\n", s.Kubeconfig)
}

func newUpCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &UpOptions{streams: streams}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the dev cluster in the background and wait until its nodes are Ready",
		Long: `Start etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok and the LeaderWorkerSet
controller (with its CRD and webhooks; --lws=false leaves it out) in the background, create the
simulated nodes, wait until every node is Ready, and print the line that points kubectl
at the cluster. Exits non-zero when a cluster is already running in --dir.`,
		Example: `  eval "$(dynamoctl dev cluster up --profile h100=4,a100-mig=2,cpu=2)"
  kubectl get nodes -L nvidia.com/gpu.product,nvidia.com/gpu.count
  dynamoctl dev cluster up --nodes-file my-nodes.yaml --profile ""`,
		Args: cobra.NoArgs,
	}
	o.addFlags(cmd)
	cmd.Flags().BoolVar(&o.Foreground, "foreground", false, "Run the cluster in this process until Ctrl-C instead of in the background")
	return command.Bind(cmd, o)
}

// ServeOptions are `up`'s, run as the background supervisor.
type ServeOptions struct{ UpOptions }

// Run supervises the cluster in this process until ctx ends or a component exits.
func (o *ServeOptions) Run(ctx context.Context) error {
	opts := o.clusterOptions()
	opts.Progress = o.streams.Out
	return devcluster.Supervise(ctx, opts, nil)
}

// newServeCommand is the hidden body of the background supervisor that `up` starts.
func newServeCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &ServeOptions{UpOptions{streams: streams}}
	cmd := &cobra.Command{
		Use:    "serve",
		Short:  "Run the dev cluster supervisor (started by 'up')",
		Hidden: true,
		Args:   cobra.NoArgs,
	}
	o.addFlags(cmd)
	return command.Bind(cmd, o)
}
