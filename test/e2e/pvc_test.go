package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// dynamoctl pvc on a dev cluster started by the CLI with --kwok-config, so exec into the access
// pod runs in a local directory standing in for the volume: create, cp in and out with
// --verify, cleanup, delete, and Ctrl-C during an access pod's wait.
func TestPVCCommands(t *testing.T) {
	volume := t.TempDir()
	kwokCfg := filepath.Join(t.TempDir(), "kwok.yaml")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(kwokCfg, fmt.Appendf(nil, `apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterExec
metadata: {name: volume}
spec:
  selector: {matchNamespaces: [default]}
  execs:
  - local: {workDir: %s}
`, volume), 0o644))
	dir := clusterDir(t)
	if r := runCLI(t, 4*time.Minute, "dev", "cluster", "up", "--dir", dir, "--profile", "cpu=1", "--kwok-config", kwokCfg); r.code != 0 {
		t.Fatalf("up: %s", r.stderr)
	}
	kc := filepath.Join(dir, "kubeconfig")
	cs := clientFor(t, kc)
	ctx := t.Context()
	_, err := cs.StorageV1().StorageClasses().Create(ctx, &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "manual",
		Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}}, Provisioner: "kubernetes.io/no-provisioner"}, metav1.CreateOptions{})
	must(err)
	_, err = cs.CoreV1().PersistentVolumes().Create(ctx, &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv"},
		Spec: corev1.PersistentVolumeSpec{StorageClassName: "manual", Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("100Gi")},
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: volume}}}}, metav1.CreateOptions{})
	must(err)
	pvc := func(args ...string) result {
		return runCLI(t, 2*time.Minute, append([]string{"pvc", "--kubeconfig", kc}, args...)...)
	}

	for _, args := range [][]string{
		{"create", "c", "--size", "lots"},
		{"create", "c", "--access-mode", "ReadWriteSometimes"},
		{"cp", "./a", "./b"},
		{"cp", "pvc:c:/a", "pvc:c:/b"},
		{"cp", "./x", "pvc:c:/../etc"},
		{"delete", "c"},
		{"cleanup"},
		{"access", "c", "--ttl", "10s"},
	} {
		if r := pvc(args...); r.code != 2 {
			t.Errorf("pvc %v: exit %d, want 2 (%s)", args, r.code, r.stderr)
		}
	}

	if r := pvc("create", "model-cache", "--size", "50Gi"); r.code != 0 || !strings.Contains(r.stdout, "Bound to pv") {
		t.Fatalf("create: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := pvc("create", "model-cache", "--size", "60Gi"); r.code != 2 || !strings.Contains(r.stderr, "size 50Gi (want 60Gi)") {
		t.Errorf("create with another size: exit %d %s", r.code, r.stderr)
	}

	src := filepath.Join(t.TempDir(), "Qwen3-0.6B")
	must(os.MkdirAll(filepath.Join(src, "tokenizer"), 0o755))
	must(os.WriteFile(filepath.Join(src, "config.json"), []byte(`{"layers":28}`), 0o644))
	must(os.WriteFile(filepath.Join(src, "tokenizer", "vocab.txt"), bytes.Repeat([]byte("token\n"), 1000), 0o600))
	r := pvc("cp", src, "pvc:model-cache:/models/Qwen3-0.6B", "--verify")
	if r.code != 0 || !strings.Contains(r.stdout, "copied 2 files, 2 directories, 5.9 KiB") || !strings.Contains(r.stdout, "verified 2 files") {
		t.Fatalf("cp in: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if b, err := os.ReadFile(filepath.Join(volume, "models", "Qwen3-0.6B", "config.json")); err != nil || string(b) != `{"layers":28}` {
		t.Errorf("file in the volume: %q %v", b, err)
	}
	out := filepath.Join(t.TempDir(), "back")
	if r := pvc("cp", "pvc:model-cache:/models/Qwen3-0.6B", out, "--verify"); r.code != 0 {
		t.Fatalf("cp out: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if fi, err := os.Stat(filepath.Join(out, "tokenizer", "vocab.txt")); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != 6000 {
		t.Errorf("copied back: %v %v", fi, err)
	}
	// Neither copy left its access pod behind.
	if l, _ := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "dynamo-infra/pvc"}); len(l.Items) != 0 {
		t.Errorf("%d access pods left after cp", len(l.Items))
	}

	// A shell without a terminal: commands from stdin run in the volume; the pod goes after.
	sh := exec.Command(dynamoctl, "pvc", "--kubeconfig", kc, "shell", "model-cache")
	sh.Stdin = strings.NewReader("cat models/Qwen3-0.6B/config.json; exit\n")
	var shOut, shErr bytes.Buffer
	sh.Stdout, sh.Stderr = &shOut, &shErr
	if err := sh.Run(); err != nil || !strings.Contains(shOut.String(), `{"layers":28}`) {
		t.Errorf("shell: %v\n%s%s", err, shOut.String(), shErr.String())
	}
	if l, _ := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "dynamo-infra/pvc"}); len(l.Items) != 0 {
		t.Errorf("%d access pods left after shell", len(l.Items))
	}

	// An access pod that stays: delete refuses, cleanup removes it, then delete works.
	if r := pvc("access", "model-cache"); r.code != 0 || !strings.Contains(r.stdout, "pod/pvc-access-model-cache-") {
		t.Fatalf("access: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := pvc("delete", "model-cache", "--yes"); r.code != 1 || !strings.Contains(r.stderr, "in use") {
		t.Errorf("delete while mounted: exit %d %s", r.code, r.stderr)
	}
	if r := pvc("cleanup", "model-cache"); r.code != 0 || !strings.Contains(r.stdout, "deleted") {
		t.Errorf("cleanup: exit %d %s%s", r.code, r.stdout, r.stderr)
	}
	if r := pvc("delete", "model-cache", "--yes"); r.code != 0 {
		t.Errorf("delete: exit %d %s", r.code, r.stderr)
	}

	// Ctrl-C while an access pod waits (its claim can never bind): exit 130, no pod left.
	claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "stuck"}, Spec: corev1.PersistentVolumeClaimSpec{
		AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Ti")}}}}
	_, err = cs.CoreV1().PersistentVolumeClaims("default").Create(ctx, claim, metav1.CreateOptions{})
	must(err)
	cmd := exec.Command(dynamoctl, "pvc", "--kubeconfig", kc, "access", "stuck")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	must(cmd.Start())
	code := interruptAndWait(t, cmd, &stderr, func() bool {
		l, err := cs.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: "dynamo-infra/pvc=stuck"})
		return err == nil && len(l.Items) == 1
	})
	if code != 130 {
		t.Errorf("Ctrl-C: exit %d, want 130\n%s", code, stderr.String())
	}
	if l, _ := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "dynamo-infra/pvc=stuck"}); len(l.Items) != 0 {
		t.Errorf("access pod left after Ctrl-C: %s", l.Items[0].Name)
	}
}

func clientFor(t *testing.T, kubeconfig string) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}
