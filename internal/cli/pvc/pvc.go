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
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/dynamo-infra/dynamo-infra/internal/cli/exit"
	"github.com/dynamo-infra/dynamo-infra/internal/kube"
	"github.com/dynamo-infra/dynamo-infra/internal/storage"
)

type common struct {
	flags   *genericclioptions.ConfigFlags
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
func NewCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
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

func (c *common) createCommand() *cobra.Command {
	var size, class, mode string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a PVC and wait until it is Bound",
		Long: `Create a PersistentVolumeClaim. When its StorageClass binds immediately, wait until it is Bound;
with WaitForFirstConsumer, say so and return (it binds when a pod first mounts it). An existing
claim of the same name is accepted when its size, class and access mode match, refused
otherwise.`,
		Example: `  dynamoctl pvc create model-cache --size 200Gi --storage-class fast --access-mode ReadWriteMany`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec := storage.ClaimSpec{Name: args[0], Namespace: kube.Namespace(c.flags), Size: size, StorageClass: class, AccessMode: corev1.PersistentVolumeAccessMode(mode)}
			if _, err := storage.NewClaim(spec); err != nil {
				return exit.UsageError(err)
			}
			cs, _, err := c.clients()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			res, err := storage.CreateClaim(ctx, cs, spec, timeout, c.streams.ErrOut)
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
				fmt.Fprintf(c.streams.Out, "persistentvolumeclaim/%s %s; its class binds on first use (WaitForFirstConsumer): Pending until a pod mounts it\n", spec.Name, verb)
			default:
				fmt.Fprintf(c.streams.Out, "persistentvolumeclaim/%s %s, Bound to %s\n", spec.Name, verb, res.Claim.Spec.VolumeName)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&size, "size", storage.DefaultSize, "Requested storage")
	cmd.Flags().StringVar(&class, "storage-class", "", "StorageClass (default: the cluster's default class)")
	cmd.Flags().StringVar(&mode, "access-mode", string(storage.DefaultAccessMode), "ReadWriteOnce, ReadWriteMany, ReadWriteOncePod or ReadOnlyMany")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "How long to wait for Bound")
	_ = cmd.RegisterFlagCompletionFunc("access-mode", cobra.FixedCompletions([]string{"ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod", "ReadOnlyMany"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func (c *common) accessCommand() *cobra.Command {
	var a accessFlags
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
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.validate(); err != nil {
				return exit.UsageError(err)
			}
			cs, _, err := c.clients()
			if err != nil {
				return err
			}
			pod, reused, err := c.start(cmd.Context(), cs, args[0], a)
			if err != nil {
				return err
			}
			how := "started"
			if reused {
				how = "reused"
			}
			fmt.Fprintf(c.streams.Out, "pod/%s %s: %s mounted at %s\n  shell: dynamoctl pvc shell %s\n  copy:  dynamoctl pvc cp ./dir pvc:%s:/dir\n",
				pod.Name, how, args[0], storage.MountOf(pod), args[0], args[0])
			return nil
		},
	}
	a.add(cmd)
	return cmd
}

func (c *common) cpCommand() *cobra.Command {
	var a accessFlags
	var verify, keep bool
	var idle time.Duration
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
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.validate(); err != nil {
				return exit.UsageError(err)
			}
			src, err := storage.ParseLocation(args[0])
			if err != nil {
				return exit.UsageError(err)
			}
			dst, err := storage.ParseLocation(args[1])
			if err != nil {
				return exit.UsageError(err)
			}
			if src.Remote() == dst.Remote() {
				return exit.UsageError(errors.New("one side must be pvc:NAME:/path and the other a local path"))
			}
			if dst.Remote() {
				if _, err := os.Lstat(src.Path); err != nil {
					return exit.UsageError(err)
				}
			}
			cs, cfg, err := c.clients()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			res, err := storage.Copy(ctx, storage.RemoteExecer{Config: cfg, Client: cs}, storage.CopyRequest{
				Src: src, Dst: dst, Keep: keep, Verify: verify, IdleTimeout: idle,
				Access:    func(ctx context.Context, claim string) (*corev1.Pod, bool, error) { return c.start(ctx, cs, claim, a) },
				DeletePod: func(ctx context.Context, p *corev1.Pod) error { return storage.DeletePod(ctx, cs, p.Namespace, p.Name) },
			})
			for _, s := range res.Stats.Skipped {
				fmt.Fprintf(c.streams.ErrOut, "skipped %s\n", s)
			}
			if err != nil {
				// Not "copied": what arrived before the failure is a note, not the result.
				if res.Stats.Files+res.Stats.Dirs > 0 {
					fmt.Fprintf(c.streams.ErrOut, "incomplete: %d files, %d directories, %s written before the copy failed\n", res.Stats.Files, res.Stats.Dirs, humanBytes(res.Stats.Bytes))
				}
				return failed(ctx, err)
			}
			fmt.Fprintf(c.streams.Out, "copied %d files, %d directories, %s\n", res.Stats.Files, res.Stats.Dirs, humanBytes(res.Stats.Bytes))
			if verify {
				fmt.Fprintf(c.streams.Out, "verified %d files (SHA-256)\n", res.Verified)
			}
			return nil
		},
	}
	a.add(cmd)
	cmd.Flags().BoolVar(&verify, "verify", false, "Compare the SHA-256 of every file after copying")
	cmd.Flags().BoolVar(&keep, "keep", false, "Keep an access pod started for this copy (it still stops after --ttl)")
	cmd.Flags().DurationVar(&idle, "idle-timeout", time.Minute, "End the copy when no data moves for this long (0: wait forever)")
	return cmd
}

func (c *common) shellCommand() *cobra.Command {
	var a accessFlags
	var keep bool
	cmd := &cobra.Command{
		Use:   "shell NAME",
		Short: "Open a shell in an access pod of the PVC",
		Long: `Open sh in your access pod of the claim (started if needed and, unless --keep, deleted when the
shell ends). The shell gets a terminal when stdin is one.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.validate(); err != nil {
				return exit.UsageError(err)
			}
			cs, cfg, err := c.clients()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			pod, reused, err := c.start(ctx, cs, args[0], a)
			if err != nil {
				return err
			}
			if !reused && !keep {
				defer func() { _ = storage.DeletePod(ctx, cs, pod.Namespace, pod.Name) }()
			}
			streams := remotecommand.StreamOptions{Stdin: c.streams.In, Stdout: c.streams.Out, Stderr: c.streams.ErrOut}
			if f, ok := c.streams.In.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				state, err := term.MakeRaw(int(f.Fd()))
				if err == nil {
					defer func() { _ = term.Restore(int(f.Fd()), state) }()
					streams.Tty, streams.Stderr = true, nil
				}
			}
			return failed(ctx, storage.RemoteExecer{Config: cfg, Client: cs}.Exec(ctx, pod, []string{"sh"}, streams))
		},
	}
	a.add(cmd)
	cmd.Flags().BoolVar(&keep, "keep", false, "Keep an access pod started for this shell (it still stops after --ttl)")
	return cmd
}

func (c *common) cleanupCommand() *cobra.Command {
	var all, allUsers bool
	cmd := &cobra.Command{
		Use:   "cleanup [NAME]",
		Short: "Delete your access pods (never PVCs)",
		Long: `Delete the access pods you started for one claim, or for every claim with --all, in the
namespace; --all-users deletes every user's. Claims and their data are not touched.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (len(args) == 0) != all {
				return exit.UsageError(errors.New("name a PVC or pass --all"))
			}
			cs, _, err := c.clients()
			if err != nil {
				return err
			}
			claim := ""
			if len(args) == 1 {
				claim = args[0]
			}
			ctx := cmd.Context()
			user := ""
			if !allUsers {
				user = storage.CurrentUser(ctx, cs, os.Getenv("USER"))
			}
			names, err := storage.Cleanup(ctx, cs, kube.Namespace(c.flags), claim, user)
			for _, n := range names {
				fmt.Fprintf(c.streams.Out, "pod/%s deleted\n", n)
			}
			if len(names) == 0 && err == nil {
				fmt.Fprintln(c.streams.Out, "no access pods")
			}
			return failed(ctx, err)
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "Delete the access pods of every PVC in the namespace")
	cmd.Flags().BoolVar(&allUsers, "all-users", false, "Delete every user's access pods, not only yours")
	return cmd
}

func (c *common) deleteCommand() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "delete NAME --yes",
		Short: "Delete a PVC (its data may go with it); refuses while pods mount it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !yes {
				return exit.UsageError(fmt.Errorf("deleting PVC %s may delete its data (reclaim policy); pass --yes to confirm", args[0]))
			}
			cs, _, err := c.clients()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if err := storage.DeleteClaim(ctx, cs, kube.Namespace(c.flags), args[0]); err != nil {
				return failed(ctx, err)
			}
			fmt.Fprintf(c.streams.Out, "persistentvolumeclaim/%s deleted\n", args[0])
			return nil
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "Confirm the deletion")
	return cmd
}

func (c *common) snapshotCommand() *cobra.Command {
	var class string
	cmd := &cobra.Command{
		Use:   "snapshot NAME",
		Short: "Take a CSI VolumeSnapshot of the PVC",
		Long:  `Create a VolumeSnapshot (snapshot.storage.k8s.io/v1) of the claim, named <claim>-<UTC time>. Needs the CSI snapshot CRDs and controller; without them, says what to install.`,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cs, cfg, err := c.clients()
			if err != nil {
				return err
			}
			dyn, err := dynamic.NewForConfig(cfg)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			name, err := storage.Snapshot(ctx, cs, dyn, kube.Namespace(c.flags), args[0], class, time.Now())
			if err != nil {
				return failed(ctx, err)
			}
			fmt.Fprintf(c.streams.Out, "volumesnapshot/%s created\n", name)
			return nil
		},
	}
	cmd.Flags().StringVar(&class, "class", "", "VolumeSnapshotClass (default: the cluster's default)")
	return cmd
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
