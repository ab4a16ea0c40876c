package hostile

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/dynamo-infra/dynamo-infra/internal/devcluster/devclustertest"
	"github.com/dynamo-infra/dynamo-infra/internal/kube"
	"github.com/dynamo-infra/dynamo-infra/internal/storage"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
	"github.com/dynamo-infra/dynamo-infra/test/clitest"
)

const pvcNS = "hostile-pvc"

// A cluster whose execs into pods of pvcNS run in volume (a directory standing in for the
// claim), with a Bound claim "cache" on it.
func pvcCluster(t *testing.T) (kubernetes.Interface, storage.Execer, string, string) {
	t.Helper()
	volume := t.TempDir()
	c := devclustertest.Start(t, "cpu=1", devclustertest.ExecVolume(pvcNS, volume))
	cs := c.Client()
	ctx := t.Context()
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: pvcNS}}, metav1.CreateOptions{})
	must(t, err)
	_, err = cs.StorageV1().StorageClasses().Create(ctx, &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "manual"}, Provisioner: "kubernetes.io/no-provisioner"}, metav1.CreateOptions{})
	must(t, err)
	for _, pv := range []string{"pv-a", "pv-b"} {
		_, err = cs.CoreV1().PersistentVolumes().Create(ctx, &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: pv},
			Spec: corev1.PersistentVolumeSpec{StorageClassName: "manual", Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
				AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
				PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: volume}}}}, metav1.CreateOptions{})
		must(t, err)
	}
	_, err = storage.CreateClaim(ctx, cs, storage.ClaimSpec{Name: "cache", Namespace: pvcNS, Size: "1Gi", StorageClass: "manual", AccessMode: corev1.ReadWriteMany}, time.Minute, io.Discard)
	must(t, err)
	return cs, storage.RemoteExecer{Config: c.RESTConfig(), Client: cs}, volume, c.KubeconfigPath()
}

func TestPVCHostile(t *testing.T) {
	cs, ex, volume, _ := pvcCluster(t)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	record := &storage.PodRecord{Path: filepath.Join(t.TempDir(), "access-pods.json")}
	access := func(user string) (*corev1.Pod, bool) {
		t.Helper()
		p, reused, err := storage.StartAccess(ctx, cs, storage.AccessSpec{Claim: "cache", Namespace: pvcNS, User: user}, storage.AccessOptions{Timeout: time.Minute, Record: record})
		must(t, err)
		return p, reused
	}

	t.Run("a path that starts with - is a path", func(t *testing.T) {
		must(t, os.MkdirAll(filepath.Join(volume, "keep"), 0o755))
		must(t, os.WriteFile(filepath.Join(volume, "keep", "me"), []byte("weights"), 0o644))
		src := t.TempDir()
		must(t, os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o644))
		res, err := storage.Copy(ctx, ex, storage.CopyRequest{
			Src: storage.Location{Path: src}, Dst: storage.Location{Claim: "cache", Path: "-delete"}, Verify: true,
			Access: func(ctx context.Context, claim string) (*corev1.Pod, bool, error) {
				p, r := access("alice")
				return p, r, nil
			},
			DeletePod: func(context.Context, *corev1.Pod) error { return nil },
		})
		if err != nil || res.Verified != 1 {
			t.Errorf("copy to -delete: %+v %v", res, err)
		}
		if _, err := os.Stat(filepath.Join(volume, "keep", "me")); err != nil {
			t.Errorf("the volume's other files are gone: %v", err)
		}
		if _, err := os.Stat(filepath.Join(volume, "-delete", "f")); err != nil {
			t.Errorf("the copy is not at -delete/f: %v", err)
		}
		out := filepath.Join(t.TempDir(), "back")
		pod, _ := access("alice")
		if _, err := storage.CopyOut(ctx, ex, pod, "-delete", out); err != nil {
			t.Errorf("copy out of -delete: %v", err)
		}
	})

	t.Run("a planted pod with the victim's labels is not used", func(t *testing.T) {
		victim := storage.AccessPod(storage.AccessSpec{Claim: "cache", Namespace: pvcNS, User: "victim", Image: storage.DefaultImage, Mount: storage.DefaultMount, TTL: time.Hour})
		evil := victim.DeepCopy()
		evil.GenerateName = "pvc-access-cache-evil-"
		evil.Spec.Containers[0].Image = "attacker.example/exfiltrate:1"
		same := victim.DeepCopy() // what dynamoctl would build, but not created by the victim
		same.GenerateName = "pvc-access-cache-same-"
		var planted []string
		for _, p := range []*corev1.Pod{evil, same} {
			created, err := cs.CoreV1().Pods(pvcNS).Create(ctx, p, metav1.CreateOptions{})
			must(t, err)
			planted = append(planted, created.Name)
		}
		waitPodsReady(t, cs, planted...)
		got, reused := access("victim")
		if reused || got.Name == planted[0] || got.Name == planted[1] {
			t.Fatalf("the victim got pod %s (reused %v); planted: %v", got.Name, reused, planted)
		}
		// The victim's own pod, recorded, is reused.
		again, reused := access("victim")
		if !reused || again.Name != got.Name {
			t.Errorf("second access: %s reused=%v, want %s reused", again.Name, reused, got.Name)
		}
	})

	t.Run("a remote side that never ends is cut off", func(t *testing.T) {
		pod, _ := access("alice")
		start := time.Now()
		err := storage.IdleTimeout(ex, 2*time.Second).Exec(ctx, pod, []string{"sleep", "60"}, remotecommandStreams())
		if !errors.Is(err, storage.ErrIdle) {
			t.Errorf("err = %v after %s, want ErrIdle", err, time.Since(start))
		}
	})

	t.Run("a claim name longer than a label value can be opened", func(t *testing.T) {
		long := "model-cache-" + strings.Repeat("x", 60)
		_, err := storage.CreateClaim(ctx, cs, storage.ClaimSpec{Name: long, Namespace: pvcNS, Size: "1Gi", StorageClass: "manual", AccessMode: corev1.ReadWriteMany}, time.Minute, io.Discard)
		must(t, err)
		p, _, err := storage.StartAccess(ctx, cs, storage.AccessSpec{Claim: long, Namespace: pvcNS, User: "alice"}, storage.AccessOptions{Timeout: time.Minute})
		if err != nil {
			t.Fatalf("access to a %d-character claim: %v", len(long), err)
		}
		if p.Annotations[storage.AnnotationPVC] != long {
			t.Errorf("annotation %q", p.Annotations[storage.AnnotationPVC])
		}
		names, err := storage.Cleanup(ctx, cs, pvcNS, long, "alice")
		if err != nil || len(names) != 1 || names[0] != p.Name {
			t.Errorf("cleanup of the long claim: %v %v", names, err)
		}
	})

	t.Run("a claim that never binds says its phase and events", func(t *testing.T) {
		_, err := storage.CreateClaim(ctx, cs, storage.ClaimSpec{Name: "never", Namespace: pvcNS, Size: "100Ti", StorageClass: "manual", AccessMode: corev1.ReadWriteOnce}, 3*time.Second, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "(phase Pending)") || !strings.Contains(err.Error(), "events:") {
			t.Errorf("err = %v, want the phase and the claim's events", err)
		}
	})
}

func waitPodsReady(t *testing.T, cs kubernetes.Interface, names ...string) {
	t.Helper()
	for _, n := range names {
		testkit.Eventually(t, "pod "+n+" running", time.Minute, func(ctx context.Context) (bool, error) {
			p, err := cs.CoreV1().Pods(pvcNS).Get(ctx, n, metav1.GetOptions{})
			return err == nil && p.Status.Phase == corev1.PodRunning, err
		})
	}
}

func remotecommandStreams() remotecommand.StreamOptions {
	return remotecommand.StreamOptions{Stdout: io.Discard, Stderr: io.Discard}
}

// pvc cp through the CLI: a local destination that cannot be written (under a file) is exit 1 —
// the user's disk, not the cluster (it exited 3) — and a copy that failed does not say "copied"
// on stdout; a tree 5,000 characters deep copies whole.
func TestPVCCopyLocalErrors(t *testing.T) {
	_, _, volume, kc := pvcCluster(t)
	// deep/d…d/…/f, 5,000 characters below deep: made a directory at a time (a path that
	// long cannot be opened whole).
	root, err := os.OpenRoot(volume)
	must(t, err)
	for _, name := range append([]string{"deep"}, slices.Repeat([]string{strings.Repeat("d", 200)}, 25)...) {
		must(t, root.Mkdir(name, 0o755))
		next, err := root.OpenRoot(name)
		must(t, err)
		must(t, root.Close())
		root = next
	}
	must(t, root.WriteFile("f", []byte("x"), 0o644))
	must(t, root.Close())
	must(t, os.MkdirAll(filepath.Join(volume, "ok"), 0o755))
	must(t, os.WriteFile(filepath.Join(volume, "ok", "f"), []byte("x"), 0o644))
	file := filepath.Join(t.TempDir(), "a-file")
	must(t, os.WriteFile(file, []byte("x"), 0o644))
	env := []string{"KUBECONFIG=" + kc, "HOME=" + t.TempDir()}
	r := clitest.Run(t, dynamoctl, 2*time.Minute, env, "pvc", "cp", "pvc:cache:/ok", filepath.Join(file, "sub"), "-n", pvcNS)
	if r.Code != 1 || strings.Contains(r.Stdout, "copied") || !strings.Contains(r.Stderr, "not a directory") {
		t.Errorf("a destination under a file: exit %d (want 1), stdout %q, stderr %s", r.Code, r.Stdout, r.Stderr)
	}
	// Part of the tree written, then a directory that is a file here: no "copied", a note.
	must(t, os.MkdirAll(filepath.Join(volume, "mix", "z"), 0o755))
	must(t, os.WriteFile(filepath.Join(volume, "mix", "z", "f"), []byte("x"), 0o644))
	out := t.TempDir()
	must(t, os.WriteFile(filepath.Join(out, "z"), []byte("mine"), 0o644))
	r = clitest.Run(t, dynamoctl, 2*time.Minute, env, "pvc", "cp", "pvc:cache:/mix", out, "-n", pvcNS)
	if r.Code != 1 || strings.Contains(r.Stdout, "copied") || !strings.Contains(r.Stderr, "incomplete: 0 files, 1 directories") {
		t.Errorf("a copy that failed half-way: exit %d (want 1), stdout %q, stderr %s", r.Code, r.Stdout, r.Stderr)
	}
	if b, err := os.ReadFile(filepath.Join(out, "z")); err != nil || string(b) != "mine" {
		t.Errorf("the local file in the way changed: %q %v", b, err)
	}
	dst := filepath.Join(t.TempDir(), "deep")
	r = clitest.Run(t, dynamoctl, 2*time.Minute, env, "pvc", "cp", "pvc:cache:/deep", dst, "-n", pvcNS)
	if r.Code != 0 || !strings.Contains(r.Stdout, "copied 1 files, 26 directories") {
		t.Errorf("a 5,000-character path: exit %d, stdout %q, stderr %s", r.Code, r.Stdout, r.Stderr)
	}
}

// An archive entry whose one name is longer than any file name (a hostile volume's tar) is a
// local error — exit 1, not "cluster unreachable" (it was 3) — said in a line, not 5,000
// characters.
func TestOverlongEntryNameIsALocalError(t *testing.T) {
	long := strings.Repeat("n", 5000)
	s := newSandbox(t)
	_, err := storage.ExtractArchive(bytes.NewReader(tarOf(t, entry{"d", "top/", ""}, entry{"f", "top/" + long, ""})), "top", s.dst)
	if err == nil {
		t.Fatal("a 5,000-character file name was written")
	}
	if kube.IsUnreachable(err) {
		t.Errorf("%.200s: counted as an unreachable cluster (exit 3)", err)
	}
	if len(err.Error()) > 400 {
		t.Errorf("the error is %d characters long: %.200s…", len(err.Error()), err)
	}
}
