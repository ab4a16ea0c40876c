package storage_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster/devclustertest"
	"github.com/dynamo-infra/dynamo-infra/internal/storage"
)

const ns = "pvc-test"

// cluster starts a dev cluster whose kwok runs every exec into a pod of ns as a local command
// in volume, a directory standing in for the mounted claim, and creates ns, an Immediate
// StorageClass "manual" with a 50Gi PV, and a WaitForFirstConsumer class "late".
func cluster(t *testing.T) (*devcluster.Cluster, kubernetes.Interface, string) {
	t.Helper()
	volume := t.TempDir()
	c := devclustertest.Start(t, "cpu=1", devclustertest.ExecVolume(ns, volume))
	cs := c.Client()
	ctx := context.Background()
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	must(t, err)
	late := storagev1.VolumeBindingWaitForFirstConsumer
	for _, sc := range []*storagev1.StorageClass{
		{ObjectMeta: metav1.ObjectMeta{Name: "manual"}, Provisioner: "kubernetes.io/no-provisioner"},
		{ObjectMeta: metav1.ObjectMeta{Name: "late"}, Provisioner: "kubernetes.io/no-provisioner", VolumeBindingMode: &late},
	} {
		_, err := cs.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{})
		must(t, err)
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "manual-50g"},
		Spec: corev1.PersistentVolumeSpec{
			StorageClassName:       "manual",
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("50Gi")},
			AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: volume}},
		},
	}
	_, err = cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	must(t, err)
	return c, cs, volume
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestClaimsAndAccessPods(t *testing.T) {
	c, cs, volume := cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var progress strings.Builder

	// An Immediate class with a matching PV: created and Bound.
	spec := storage.ClaimSpec{Name: "cache", Namespace: ns, Size: "10Gi", StorageClass: "manual", AccessMode: corev1.ReadWriteOnce}
	res, err := storage.CreateClaim(ctx, cs, spec, time.Minute, &progress)
	must(t, err)
	if res.Existed || res.WaitForFirstConsumer || res.Claim.Status.Phase != corev1.ClaimBound {
		t.Fatalf("create: %+v phase %s", res, res.Claim.Status.Phase)
	}
	if res, err = storage.CreateClaim(ctx, cs, spec, time.Minute, &progress); err != nil || !res.Existed {
		t.Errorf("same spec again: existed=%v err=%v", res.Existed, err)
	}
	bigger := spec
	bigger.Size = "20Gi"
	if _, err := storage.CreateClaim(ctx, cs, bigger, time.Minute, &progress); !errors.Is(err, storage.ErrDifferentSpec) || !strings.Contains(err.Error(), "size 10Gi (want 20Gi)") {
		t.Errorf("different size: %v", err)
	}
	// WaitForFirstConsumer: created, not waited for.
	start := time.Now()
	res, err = storage.CreateClaim(ctx, cs, storage.ClaimSpec{Name: "later", Namespace: ns, Size: "1Gi", StorageClass: "late", AccessMode: corev1.ReadWriteOnce}, time.Minute, &progress)
	if err != nil || !res.WaitForFirstConsumer || time.Since(start) > 10*time.Second {
		t.Errorf("WaitForFirstConsumer: %+v, %v after %s", res, err, time.Since(start))
	}

	// Access pods: unique per user, reused for the same user (a pod this machine recorded),
	// restricted.
	record := &storage.PodRecord{Path: filepath.Join(t.TempDir(), "access-pods.json")}
	alice, reused, err := storage.StartAccess(ctx, cs, storage.AccessSpec{Claim: "cache", Namespace: ns, User: "alice@example.com"}, storage.AccessOptions{Timeout: time.Minute, Progress: &progress, Record: record})
	must(t, err)
	if reused || !strings.HasPrefix(alice.Name, "pvc-access-cache-") || alice.Labels[storage.LabelPVC] != "cache" || alice.Labels[v1alpha1.LabelManagedBy] != "dynamoctl" {
		t.Errorf("alice's pod: %s reused=%v labels %v", alice.Name, reused, alice.Labels)
	}
	sc := alice.Spec.Containers[0].SecurityContext
	if !*alice.Spec.SecurityContext.RunAsNonRoot || *sc.AllowPrivilegeEscalation || sc.Capabilities.Drop[0] != "ALL" || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault || *alice.Spec.ActiveDeadlineSeconds != 3600 {
		t.Errorf("not restricted: %+v %+v", alice.Spec.SecurityContext, sc)
	}
	again, reused, err := storage.StartAccess(ctx, cs, storage.AccessSpec{Claim: "cache", Namespace: ns, User: "alice@example.com"}, storage.AccessOptions{Timeout: time.Minute, Record: record})
	if err != nil || !reused || again.Name != alice.Name {
		t.Errorf("second access for alice: %s reused=%v err=%v", again.Name, reused, err)
	}
	bob, _, err := storage.StartAccess(ctx, cs, storage.AccessSpec{Claim: "cache", Namespace: ns, User: "bob"}, storage.AccessOptions{Timeout: time.Minute})
	must(t, err)
	if bob.Name == alice.Name {
		t.Error("bob got alice's pod")
	}

	// Copy a tree in, verify, copy it back out, compare.
	ex := storage.RemoteExecer{Config: c.RESTConfig(), Client: cs}
	src := t.TempDir()
	writeTree(t, src)
	st, err := storage.CopyIn(ctx, ex, alice, src, "models/qwen")
	must(t, err)
	if st.Files != 3 || st.Dirs != 3 || st.Bytes != int64(len("weights")+len("#!/bin/sh\n")) {
		t.Errorf("copy in: %+v", st)
	}
	assertTree(t, filepath.Join(volume, "models", "qwen"))
	if n, err := storage.Verify(ctx, ex, alice, "models/qwen", src); err != nil || n != 3 {
		t.Errorf("verify after copy in: %d files, %v", n, err)
	}
	out := filepath.Join(t.TempDir(), "back")
	st, err = storage.CopyOut(ctx, ex, alice, "models/qwen", out)
	must(t, err)
	if st.Files != 3 {
		t.Errorf("copy out: %+v", st)
	}
	assertTree(t, out)
	// A changed file in the volume fails verification, naming it.
	must(t, os.WriteFile(filepath.Join(volume, "models", "qwen", "config.json"), []byte(`{"changed":true}`), 0o644))
	if _, err := storage.Verify(ctx, ex, alice, "models/qwen", out); err == nil || !strings.Contains(err.Error(), "config.json differs") {
		t.Errorf("verify after a change: %v", err)
	}

	// Copy through a pod started for it (carol has none): verified, and the pod is gone after.
	var carolPod string
	res2, err := storage.Copy(ctx, ex, storage.CopyRequest{
		Src: storage.Location{Path: src}, Dst: storage.Location{Claim: "cache", Path: "models/carol"}, Verify: true,
		Access: func(ctx context.Context, claim string) (*corev1.Pod, bool, error) {
			p, reused, err := storage.StartAccess(ctx, cs, storage.AccessSpec{Claim: claim, Namespace: ns, User: "carol"}, storage.AccessOptions{Timeout: time.Minute})
			if p != nil {
				carolPod = p.Name
			}
			return p, reused, err
		},
		DeletePod: func(ctx context.Context, p *corev1.Pod) error { return storage.DeletePod(ctx, cs, p.Namespace, p.Name) },
	})
	if err != nil || res2.Verified != 3 || res2.Stats.Files != 3 {
		t.Errorf("Copy: %+v %v", res2, err)
	}
	if _, err := cs.CoreV1().Pods(ns).Get(ctx, carolPod, metav1.GetOptions{}); err == nil {
		t.Errorf("the pod started for the copy (%s) is still there", carolPod)
	}
	assertTree(t, filepath.Join(volume, "models", "carol"))

	// The claim is mounted: delete refuses; cleanup removes our pods only, never the claim.
	if err := storage.DeleteClaim(ctx, cs, ns, "cache"); !errors.Is(err, storage.ErrInUse) || !strings.Contains(err.Error(), alice.Name) {
		t.Errorf("delete while mounted: %v", err)
	}
	other := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "not-ours", Labels: map[string]string{"app": "x"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	_, err = cs.CoreV1().Pods(ns).Create(ctx, other, metav1.CreateOptions{})
	must(t, err)
	// Alice's cleanup deletes her pod only; then every user's.
	deleted, err := storage.Cleanup(ctx, cs, ns, "cache", "alice@example.com")
	must(t, err)
	if len(deleted) != 1 || deleted[0] != alice.Name {
		t.Errorf("alice's cleanup deleted %v, want only %s", deleted, alice.Name)
	}
	deleted, err = storage.Cleanup(ctx, cs, ns, "cache", "")
	must(t, err)
	if len(deleted) != 1 || deleted[0] != bob.Name {
		t.Errorf("cleanup of every user deleted %v, want bob's %s", deleted, bob.Name)
	}
	if _, err := cs.CoreV1().Pods(ns).Get(ctx, "not-ours", metav1.GetOptions{}); err != nil {
		t.Errorf("cleanup touched a pod that is not ours: %v", err)
	}
	if _, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "cache", metav1.GetOptions{}); err != nil {
		t.Errorf("cleanup touched the claim: %v", err)
	}
	must(t, storage.DeleteClaim(ctx, cs, ns, "cache"))
}

// An access pod that cannot become Ready (its claim will never bind, or its image cannot be
// pulled) is deleted, with the reason and its events in the error; an interrupted wait deletes
// it too.
func TestAccessPodFailures(t *testing.T) {
	c, cs, _ := cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	claim, err := storage.NewClaim(storage.ClaimSpec{Name: "nowhere", Namespace: ns, Size: "1Ti", StorageClass: "manual", AccessMode: corev1.ReadWriteOnce})
	must(t, err)
	_, err = cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, claim, metav1.CreateOptions{})
	must(t, err)

	var progress strings.Builder
	_, _, err = storage.StartAccess(ctx, cs, storage.AccessSpec{Claim: "nowhere", Namespace: ns, User: "alice"}, storage.AccessOptions{Timeout: 5 * time.Second, Progress: &progress})
	if !errors.Is(err, storage.ErrNotReady) || !strings.Contains(err.Error(), "FailedScheduling") || !strings.Contains(err.Error(), "unbound") {
		t.Errorf("timeout: %v", err)
	}
	if !strings.Contains(progress.String(), "waiting for access pod pvc-access-nowhere-") {
		t.Errorf("no progress line: %q", progress.String())
	}
	assertNoAccessPods(t, cs)

	// A bound claim but an image that cannot be pulled (the dev cluster fails pulls from a
	// ".invalid" registry, as a kubelet would): the pull failure is in the error, the pod is gone.
	_, err = storage.CreateClaim(ctx, cs, storage.ClaimSpec{Name: "bound", Namespace: ns, Size: "10Gi", StorageClass: "manual", AccessMode: corev1.ReadWriteOnce}, time.Minute, io.Discard)
	must(t, err)
	_, _, err = storage.StartAccess(ctx, cs, storage.AccessSpec{Claim: "bound", Namespace: ns, User: "alice", Image: "registry" + devcluster.InvalidRegistrySuffix + "/busybox:1.37.0"},
		storage.AccessOptions{Timeout: 10 * time.Second}) // the whole timeout passes: leave kwok room under load
	if !errors.Is(err, storage.ErrNotReady) || !strings.Contains(err.Error(), "ErrImagePull") || !strings.Contains(err.Error(), "Failed to pull image") {
		t.Errorf("unpullable image: %v", err)
	}
	assertNoAccessPods(t, cs)

	ictx, icancel := context.WithCancel(ctx)
	go func() { time.Sleep(2 * time.Second); icancel() }() // Ctrl-C in the middle of the wait
	_, _, err = storage.StartAccess(ictx, cs, storage.AccessSpec{Claim: "nowhere", Namespace: ns, User: "alice"}, storage.AccessOptions{Timeout: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("interrupted: %v", err)
	}
	assertNoAccessPods(t, cs)

	if _, _, err := storage.StartAccess(ctx, cs, storage.AccessSpec{Claim: "missing", Namespace: ns, User: "alice"}, storage.AccessOptions{}); err == nil || !strings.Contains(err.Error(), "dynamoctl pvc create missing") {
		t.Errorf("missing claim: %v", err)
	}

	// Snapshots: a clear error without the snapshot API, a VolumeSnapshot with it.
	dyn := dynamic.NewForConfigOrDie(c.RESTConfig())
	now := time.Date(2026, 11, 29, 3, 4, 5, 0, time.UTC)
	if _, err := storage.Snapshot(ctx, cs, dyn, ns, "nowhere", "", now); !errors.Is(err, storage.ErrNoSnapshotCRDs) {
		t.Errorf("snapshot without CRDs: %v", err)
	}
	devclustertest.InstallCRDs(t, c.RESTConfig(), filepath.Join("testdata", "volumesnapshots.yaml"))
	name, err := storage.Snapshot(ctx, cs, dyn, ns, "nowhere", "csi-snapclass", now)
	must(t, err)
	snap, err := dyn.Resource(storage.VolumeSnapshots).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	must(t, err)
	source, _, _ := unstructured.NestedString(snap.Object, "spec", "source", "persistentVolumeClaimName")
	class, _, _ := unstructured.NestedString(snap.Object, "spec", "volumeSnapshotClassName")
	if name != "nowhere-20261129-030405" || source != "nowhere" || class != "csi-snapclass" {
		t.Errorf("snapshot %s: source %q class %q", name, source, class)
	}
}

func assertNoAccessPods(t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	l, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: storage.LabelPVC})
	must(t, err)
	if len(l.Items) != 0 {
		t.Errorf("%d access pods left behind", len(l.Items))
	}
}

// writeTree makes config.json (0644), bin/run.sh (0755), weights/empty (0600, empty) and
// weights/shard (0644), plus a relative symlink.
func writeTree(t *testing.T, dir string) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Join(dir, "bin"), 0o755))
	must(t, os.MkdirAll(filepath.Join(dir, "weights"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "config.json"), []byte("weights"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "bin", "run.sh"), []byte("#!/bin/sh\n"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "weights", "empty"), nil, 0o600))
	must(t, os.Symlink("../config.json", filepath.Join(dir, "weights", "config")))
}

func assertTree(t *testing.T, dir string) {
	t.Helper()
	for name, mode := range map[string]os.FileMode{"config.json": 0o644, "bin/run.sh": 0o755, "weights/empty": 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}
	if target, err := os.Readlink(filepath.Join(dir, "weights", "config")); err != nil || target != "../config.json" {
		t.Errorf("symlink: %q %v", target, err)
	}
}
