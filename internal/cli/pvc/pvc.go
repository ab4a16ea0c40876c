// Package pvc is `dynamoctl pvc`: claims for model caches, access pods, copying files in and
// out, shells, cleanup and snapshots.
package pvc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/dynamo-infra/dynamo-infra/internal/cli/command"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/exit"
	"github.com/dynamo-infra/dynamo-infra/internal/kube"
	"github.com/dynamo-infra/dynamo-infra/internal/storage"
)

type common struct {
	flags   *kube.ConfigFlags
	streams genericiooptions.IOStreams
}

func (c *common) clients() (kubernetes.Interface, *rest.Config, error) {
	cs, cfg, err := kube.Clientset(c.flags)
	if err != nil {
		return nil, nil, exit.WithCode(exit.Unreachable, err)
	}
	return cs, cfg, nil
}

// failed maps an error of a storage call to the documented exit codes.
func failed(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return exit.WithCode(exit.Interrupted, err)
	case kube.IsUnreachable(err):
		return exit.WithCode(exit.Unreachable, err)
	}
	return err
}

// accessFlags are the flags of every command that starts an access pod.
type accessFlags struct {
	Image   string
	Mount   string
	TTL     time.Duration
	Timeout time.Duration
}

func (a *accessFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&a.Image, "image", storage.DefaultImage, "Image of the access pod (needs sh and tar; sha256sum and find for --verify)")
	f.StringVar(&a.Mount, "mount", storage.DefaultMount, "Where the access pod mounts the PVC")
	f.DurationVar(&a.TTL, "ttl", storage.DefaultTTL, "The access pod stops after this long (activeDeadlineSeconds)")
	f.DurationVar(&a.Timeout, "timeout", 2*time.Minute, "How long to wait for the access pod to be Ready")
}

func (a *accessFlags) validate() error {
	if a.TTL < time.Minute {
		return errors.New("--ttl must be at least 1m")
	}
	if a.Timeout <= 0 {
		return errors.New("--timeout must be positive")
	}
	return nil
}

// start returns a Ready access pod for the claim, reusing the user's Running one.
func (c *common) start(ctx context.Context, cs kubernetes.Interface, claim string, a accessFlags) (*corev1.Pod, bool, error) {
	ns := kube.Namespace(c.flags)
	user := storage.CurrentUser(ctx, cs, os.Getenv("USER"))
	pod, reused, err := storage.StartAccess(ctx, cs, storage.AccessSpec{Claim: claim, Namespace: ns, Image: a.Image, Mount: a.Mount, TTL: a.TTL, User: user},
		storage.AccessOptions{Timeout: a.Timeout, Progress: c.streams.ErrOut, Record: &storage.PodRecord{Path: storage.DefaultRecordPath()}})
	return pod, reused, failed(ctx, err)
}

// NewCommand returns `dynamoctl pvc`.
func NewCommand(flags *kube.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	c := &common{flags: flags, streams: streams}
	cmd := &cobra.Command{
		Use:   "pvc",
		Short: "PVCs for model caches: create, access pods, copy files, shell, cleanup, snapshot",
		Long: `Work with the PersistentVolumeClaims that hold model caches. Access pods are per user and per
claim (pvc-access-<claim>-<random>, labelled app.kubernetes.io/managed-by=dynamoctl and
dynamo-infra/pvc=<claim>), run with Pod Security "restricted" settings and stop by themselves
after --ttl. Everything a command creates is deleted again on error, timeout and Ctrl-C; a
claim is only deleted by "pvc delete --yes".

Exit codes: 0 ok, 1 failure, 2 usage error, 3 cluster unreachable, 130 interrupted (after
cleaning up).`,
	}
	cmd.AddCommand(c.createCommand(), c.accessCommand(), c.cpCommand(), c.shellCommand(), c.cleanupCommand(), c.deleteCommand(), c.snapshotCommand())
	return cmd
}

// CreateOptions are the flags of `dynamoctl pvc create`.
type CreateOptions struct {
	*common
	Size, StorageClass, AccessMode string
	Timeout                        time.Duration

	spec storage.ClaimSpec
}

func (c *common) createCommand() *cobra.Command {
	o := &CreateOptions{common: c}
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a PVC and wait until it is Bound",
		Long: `Create a PersistentVolumeClaim. When its StorageClass binds immediately, wait until it is Bound;
with WaitForFirstConsumer, say so and return (it binds when a pod first mounts it). An existing
claim of the same name is accepted when its size, class and access mode match, refused
otherwise.`,
		Example: `  dynamoctl pvc create model-cache --size 200Gi --storage-class fast --access-mode ReadWriteMany`,
		Args:    cobra.ExactArgs(1),
	}
	cmd.Flags().StringVar(&o.Size, "size", storage.DefaultSize, "Requested storage")
	cmd.Flags().StringVar(&o.StorageClass, "storage-class", "", "StorageClass (default: the cluster's default class)")
	cmd.Flags().StringVar(&o.AccessMode, "access-mode", string(storage.DefaultAccessMode), "ReadWriteOnce, ReadWriteMany, ReadWriteOncePod or ReadOnlyMany")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 2*time.Minute, "How long to wait for Bound")
	_ = cmd.RegisterFlagCompletionFunc("access-mode", cobra.FixedCompletions([]string{"ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod", "ReadOnlyMany"}, cobra.ShellCompDirectiveNoFileComp))
	return command.Bind(cmd, o)
}

// Complete builds the claim's spec.
func (o *CreateOptions) Complete(args []string) error {
	o.spec = storage.ClaimSpec{Name: args[0], Namespace: kube.Namespace(o.flags), Size: o.Size, StorageClass: o.StorageClass, AccessMode: corev1.PersistentVolumeAccessMode(o.AccessMode)}
	return nil
}

// Validate checks the claim as the API server would.
func (o *CreateOptions) Validate() error {
	_, err := storage.NewClaim(o.spec)
	return err
}

// Run creates the claim (or accepts a matching one) and waits until it is Bound.
func (o *CreateOptions) Run(ctx context.Context) error {
	cs, _, err := o.clients()
	if err != nil {
		return err
	}
	res, err := storage.CreateClaim(ctx, cs, o.spec, o.Timeout, o.streams.ErrOut)
	if errors.Is(err, storage.ErrDifferentSpec) {
		return exit.UsageError(err)
	}
	if err != nil {
		return failed(ctx, err)
	}
	verb := "created"
	if res.Existed {
		verb = "already exists"
	}
	switch {
	case res.WaitForFirstConsumer:
		fmt.Fprintf(o.streams.Out, "persistentvolumeclaim/%s %s; its class binds on first use (WaitForFirstConsumer): Pending until a pod mounts it\n", o.spec.Name, verb)
	default:
		fmt.Fprintf(o.streams.Out, "persistentvolumeclaim/%s %s, Bound to %s\n", o.spec.Name, verb, res.Claim.Spec.VolumeName)
	}
	return nil
}

// AccessOptions are the flags of `dynamoctl pvc access`.
type AccessOptions struct {
	*common
	access accessFlags
	claim  string
}

func (c *common) accessCommand() *cobra.Command {
	o := &AccessOptions{common: c}
	cmd := &cobra.Command{
		Use:   "access NAME",
		Short: "Start (or reuse) an access pod that mounts the PVC",
		Long: `Start an access pod for the claim and wait until it is Ready, or reuse your Running one — one
that this machine recorded creating (by UID, in $XDG_STATE_HOME/dynamo-infra/access-pods.json)
and that still runs what dynamoctl built; a pod that only carries your labels is never used. If
it does not become Ready within --timeout, its events are shown (e.g. the claim is ReadWriteOnce
and mounted on another node) and it is deleted. It stops by itself after --ttl; delete it
earlier with "dynamoctl pvc cleanup NAME".`,
		Example: `  dynamoctl pvc access model-cache --ttl 30m`,
		Args:    cobra.ExactArgs(1),
	}
	o.access.add(cmd)
	return command.Bind(cmd, o)
}

// Complete takes the claim's name.
func (o *AccessOptions) Complete(args []string) error { o.claim = args[0]; return nil }

// Validate checks the access pod's flags.
func (o *AccessOptions) Validate() error { return o.access.validate() }

// Run starts (or reuses) the access pod and says how to use it.
func (o *AccessOptions) Run(ctx context.Context) error {
	cs, _, err := o.clients()
	if err != nil {
		return err
	}
	pod, reused, err := o.start(ctx, cs, o.claim, o.access)
	if err != nil {
		return err
	}
	how := "started"
	if reused {
		how = "reused"
	}
	fmt.Fprintf(o.streams.Out, "pod/%s %s: %s mounted at %s\n  shell: dynamoctl pvc shell %s\n  copy:  dynamoctl pvc cp ./dir pvc:%s:/dir\n",
		pod.Name, how, o.claim, storage.MountOf(pod), o.claim, o.claim)
	return nil
}

// CopyOptions are the flags of `dynamoctl pvc cp`.
type CopyOptions struct {
	*common
	access       accessFlags
	Verify, Keep bool
	IdleTimeout  time.Duration

	args     []string
	src, dst storage.Location
}

func (c *common) cpCommand() *cobra.Command {
	o := &CopyOptions{common: c}
	cmd := &cobra.Command{
		Use:   "cp SRC DST",
		Short: "Copy files or directories into or out of a PVC",
		Long: `Copy a file or directory tree between this machine and a PVC; one side is pvc:NAME:/path (a path
inside the volume). DST becomes the copy of SRC, like cp -r. Modes are kept. The data goes as a
tar stream over exec through an access pod (your Running one, or one started for the copy and
deleted after it unless --keep); no kubectl is needed. Paths that leave the volume (..) are
refused, and so are archive entries that would land outside DST (absolute names, .., links
pointing out, anything beneath a link); on copy-in, links that leave the copied tree are
skipped and named. Paths in the volume are passed to tar and find as ./PATH, so a name that
starts with "-" is a name. --verify compares the SHA-256 of every file on both sides. A copy in
which no data moves for --idle-timeout ends with an error.`,
		Example: `  dynamoctl pvc cp ./Qwen3-0.6B pvc:model-cache:/models/Qwen3-0.6B --verify
  dynamoctl pvc cp pvc:model-cache:/logs ./logs`,
		Args: cobra.ExactArgs(2),
	}
	o.access.add(cmd)
	cmd.Flags().BoolVar(&o.Verify, "verify", false, "Compare the SHA-256 of every file after copying")
	cmd.Flags().BoolVar(&o.Keep, "keep", false, "Keep an access pod started for this copy (it still stops after --ttl)")
	cmd.Flags().DurationVar(&o.IdleTimeout, "idle-timeout", time.Minute, "End the copy when no data moves for this long (0: wait forever)")
	return command.Bind(cmd, o)
}

// Complete takes the two locations.
func (o *CopyOptions) Complete(args []string) error { o.args = args; return nil }

// Validate parses the locations: one in a PVC, one here (which must exist to be copied in).
func (o *CopyOptions) Validate() error {
	if err := o.access.validate(); err != nil {
		return err
	}
	var err error
	if o.src, err = storage.ParseLocation(o.args[0]); err != nil {
		return err
	}
	if o.dst, err = storage.ParseLocation(o.args[1]); err != nil {
		return err
	}
	if o.src.Remote() == o.dst.Remote() {
		return errors.New("one side must be pvc:NAME:/path and the other a local path")
	}
	if o.dst.Remote() {
		if _, err := os.Lstat(o.src.Path); err != nil {
			return err
		}
	}
	return nil
}

// Run copies through an access pod.
func (o *CopyOptions) Run(ctx context.Context) error {
	cs, cfg, err := o.clients()
	if err != nil {
		return err
	}
	res, err := storage.Copy(ctx, storage.RemoteExecer{Config: cfg, Client: cs}, storage.CopyRequest{
		Src: o.src, Dst: o.dst, Keep: o.Keep, Verify: o.Verify, IdleTimeout: o.IdleTimeout,
		Access: func(ctx context.Context, claim string) (*corev1.Pod, bool, error) {
			return o.start(ctx, cs, claim, o.access)
		},
		DeletePod: func(ctx context.Context, p *corev1.Pod) error { return storage.DeletePod(ctx, cs, p.Namespace, p.Name) },
	})
	for _, s := range res.Stats.Skipped {
		fmt.Fprintf(o.streams.ErrOut, "skipped %s\n", s)
	}
	if err != nil {
		// Not "copied": what arrived before the failure is a note, not the result.
		if res.Stats.Files+res.Stats.Dirs > 0 {
			fmt.Fprintf(o.streams.ErrOut, "incomplete: %d files, %d directories, %s written before the copy failed\n", res.Stats.Files, res.Stats.Dirs, humanBytes(res.Stats.Bytes))
		}
		return failed(ctx, err)
	}
	fmt.Fprintf(o.streams.Out, "copied %d files, %d directories, %s\n", res.Stats.Files, res.Stats.Dirs, humanBytes(res.Stats.Bytes))
	if o.Verify {
		fmt.Fprintf(o.streams.Out, "verified %d files (SHA-256)\n", res.Verified)
	}
	return nil
}

// ShellOptions are the flags of `dynamoctl pvc shell`.
type ShellOptions struct {
	*common
	access accessFlags
	Keep   bool
	claim  string
}

func (c *common) shellCommand() *cobra.Command {
	o := &ShellOptions{common: c}
	cmd := &cobra.Command{
		Use:   "shell NAME",
		Short: "Open a shell in an access pod of the PVC",
		Long: `Open sh in your access pod of the claim (started if needed and, unless --keep, deleted when the
shell ends). The shell gets a terminal when stdin is one.`,
		Args: cobra.ExactArgs(1),
	}
	o.access.add(cmd)
	cmd.Flags().BoolVar(&o.Keep, "keep", false, "Keep an access pod started for this shell (it still stops after --ttl)")
	return command.Bind(cmd, o)
}

// Complete takes the claim's name.
func (o *ShellOptions) Complete(args []string) error { o.claim = args[0]; return nil }

// Validate checks the access pod's flags.
func (o *ShellOptions) Validate() error { return o.access.validate() }

// Run opens sh in the access pod (a terminal when stdin is one).
func (o *ShellOptions) Run(ctx context.Context) error {
	cs, cfg, err := o.clients()
	if err != nil {
		return err
	}
	pod, reused, err := o.start(ctx, cs, o.claim, o.access)
	if err != nil {
		return err
	}
	if !reused && !o.Keep {
		defer func() { _ = storage.DeletePod(ctx, cs, pod.Namespace, pod.Name) }()
	}
	streams := remotecommand.StreamOptions{Stdin: o.streams.In, Stdout: o.streams.Out, Stderr: o.streams.ErrOut}
	if f, ok := o.streams.In.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		state, err := term.MakeRaw(int(f.Fd()))
		if err == nil {
			defer func() { _ = term.Restore(int(f.Fd()), state) }()
			streams.Tty, streams.Stderr = true, nil
		}
	}
	return failed(ctx, storage.RemoteExecer{Config: cfg, Client: cs}.Exec(ctx, pod, []string{"sh"}, streams))
}

// CleanupOptions are the flags of `dynamoctl pvc cleanup`.
type CleanupOptions struct {
	*common
	All, AllUsers bool
	claim         string
	named         bool
}

func (c *common) cleanupCommand() *cobra.Command {
	o := &CleanupOptions{common: c}
	cmd := &cobra.Command{
		Use:   "cleanup [NAME]",
		Short: "Delete your access pods (never PVCs)",
		Long: `Delete the access pods you started for one claim, or for every claim with --all, in the
namespace; --all-users deletes every user's. Claims and their data are not touched.`,
		Args: cobra.MaximumNArgs(1),
	}
	cmd.Flags().BoolVar(&o.All, "all", false, "Delete the access pods of every PVC in the namespace")
	cmd.Flags().BoolVar(&o.AllUsers, "all-users", false, "Delete every user's access pods, not only yours")
	return command.Bind(cmd, o)
}

// Complete takes the claim's name, if given.
func (o *CleanupOptions) Complete(args []string) error {
	if o.named = len(args) == 1; o.named {
		o.claim = args[0]
	}
	return nil
}

// Validate wants a claim or --all, not both.
func (o *CleanupOptions) Validate() error {
	if o.named == o.All {
		return errors.New("name a PVC or pass --all")
	}
	return nil
}

// Run deletes the access pods.
func (o *CleanupOptions) Run(ctx context.Context) error {
	cs, _, err := o.clients()
	if err != nil {
		return err
	}
	user := ""
	if !o.AllUsers {
		user = storage.CurrentUser(ctx, cs, os.Getenv("USER"))
	}
	names, err := storage.Cleanup(ctx, cs, kube.Namespace(o.flags), o.claim, user)
	for _, n := range names {
		fmt.Fprintf(o.streams.Out, "pod/%s deleted\n", n)
	}
	if len(names) == 0 && err == nil {
		fmt.Fprintln(o.streams.Out, "no access pods")
	}
	return failed(ctx, err)
}

// DeleteOptions are the flags of `dynamoctl pvc delete`.
type DeleteOptions struct {
	*common
	Yes   bool
	claim string
}

func (c *common) deleteCommand() *cobra.Command {
	o := &DeleteOptions{common: c}
	cmd := &cobra.Command{
		Use:   "delete NAME --yes",
		Short: "Delete a PVC (its data may go with it); refuses while pods mount it",
		Args:  cobra.ExactArgs(1),
	}
	cmd.Flags().BoolVar(&o.Yes, "yes", false, "Confirm the deletion")
	return command.Bind(cmd, o)
}

// Complete takes the claim's name.
func (o *DeleteOptions) Complete(args []string) error { o.claim = args[0]; return nil }

// Validate wants the confirmation.
func (o *DeleteOptions) Validate() error {
	if !o.Yes {
		return fmt.Errorf("deleting PVC %s may delete its data (reclaim policy); pass --yes to confirm", o.claim)
	}
	return nil
}

// Run deletes the claim (refused while pods mount it).
func (o *DeleteOptions) Run(ctx context.Context) error {
	cs, _, err := o.clients()
	if err != nil {
		return err
	}
	if err := storage.DeleteClaim(ctx, cs, kube.Namespace(o.flags), o.claim); err != nil {
		return failed(ctx, err)
	}
	fmt.Fprintf(o.streams.Out, "persistentvolumeclaim/%s deleted\n", o.claim)
	return nil
}

// SnapshotOptions are the flags of `dynamoctl pvc snapshot`.
type SnapshotOptions struct {
	*common
	Class string
	claim string
}

func (c *common) snapshotCommand() *cobra.Command {
	o := &SnapshotOptions{common: c}
	cmd := &cobra.Command{
		Use:   "snapshot NAME",
		Short: "Take a CSI VolumeSnapshot of the PVC",
		Long:  `Create a VolumeSnapshot (snapshot.storage.k8s.io/v1) of the claim, named <claim>-<UTC time>. Needs the CSI snapshot CRDs and controller; without them, says what to install.`,
		Args:  cobra.ExactArgs(1),
	}
	cmd.Flags().StringVar(&o.Class, "class", "", "VolumeSnapshotClass (default: the cluster's default)")
	return command.Bind(cmd, o)
}

// Complete takes the claim's name.
func (o *SnapshotOptions) Complete(args []string) error { o.claim = args[0]; return nil }

// Validate has nothing more to check.
func (o *SnapshotOptions) Validate() error { return nil }

// Run creates the VolumeSnapshot.
func (o *SnapshotOptions) Run(ctx context.Context) error {
	cs, cfg, err := o.clients()
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	name, err := storage.Snapshot(ctx, cs, dyn, kube.Namespace(o.flags), o.claim, o.Class, time.Now())
	if err != nil {
		return failed(ctx, err)
	}
	fmt.Fprintf(o.streams.Out, "volumesnapshot/%s created\n", name)
	return nil
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
