// Package storage is dynamoctl's PVC tooling: claims for model caches, short-lived access pods
// that mount them, and copying files in and out through those pods (tar over exec), with
// everything it creates cleaned up on error, timeout and interrupt. Object builders are pure
// so the manifests in deploy/manifests are checked against them.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
)

// Labels on everything dynamoctl creates for PVC access.
const (
	ManagedBy = "dynamoctl"
	// LabelPVC names the claim an access pod mounts.
	LabelPVC = "dynamo-infra/pvc"
	// LabelUser is a hash of the user who started an access pod (user names are not label values).
	LabelUser = "dynamo-infra/user"
	// AnnotationUser holds the user name itself.
	AnnotationUser = "dynamo-infra/user"
	// AnnotationPVC holds the claim's name itself (LabelPVC is a hash for long names).
	AnnotationPVC = "dynamo-infra/pvc"
)

// ClaimSpec describes a claim to create.
type ClaimSpec struct {
	Name         string
	Namespace    string
	Size         string
	StorageClass string
	AccessMode   corev1.PersistentVolumeAccessMode
}

// Defaults of `dynamoctl pvc create`.
const (
	DefaultSize       = "50Gi"
	DefaultAccessMode = corev1.ReadWriteOnce
)

// NewClaim builds the PersistentVolumeClaim for spec (no I/O).
func NewClaim(spec ClaimSpec) (*corev1.PersistentVolumeClaim, error) {
	size, err := resource.ParseQuantity(spec.Size)
	if err != nil || size.Sign() <= 0 {
		return nil, fmt.Errorf("size %q: want a positive quantity such as 50Gi", spec.Size)
	}
	switch spec.AccessMode {
	case corev1.ReadWriteOnce, corev1.ReadWriteMany, corev1.ReadWriteOncePod, corev1.ReadOnlyMany:
	default:
		return nil, fmt.Errorf("access mode %q: use ReadWriteOnce, ReadWriteMany, ReadWriteOncePod or ReadOnlyMany", spec.AccessMode)
	}
	pvc := &corev1.PersistentVolumeClaim{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: metav1.ObjectMeta{Name: spec.Name, Namespace: spec.Namespace,
			Labels: map[string]string{v1alpha1.LabelManagedBy: ManagedBy}},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{spec.AccessMode},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
		},
	}
	if spec.StorageClass != "" {
		pvc.Spec.StorageClassName = &spec.StorageClass
	}
	return pvc, nil
}

// ErrDifferentSpec means a claim of that name exists with another size, class or access mode.
var ErrDifferentSpec = errors.New("a different claim of that name exists")

// CreateResult says what CreateClaim did.
type CreateResult struct {
	Claim *corev1.PersistentVolumeClaim
	// Existed is true when an identical claim was already there.
	Existed bool
	// WaitForFirstConsumer is true when the class binds only once a pod uses the claim.
	WaitForFirstConsumer bool
}

// CreateClaim creates the claim (or accepts an identical existing one) and, when its class
// binds immediately, waits until it is Bound, reporting progress to w every 2 s.
func CreateClaim(ctx context.Context, cs kubernetes.Interface, spec ClaimSpec, timeout time.Duration, w io.Writer) (CreateResult, error) {
	if w == nil {
		w = io.Discard
	}
	want, err := NewClaim(spec)
	if err != nil {
		return CreateResult{}, err
	}
	claims := cs.CoreV1().PersistentVolumeClaims(spec.Namespace)
	got, err := claims.Get(ctx, spec.Name, metav1.GetOptions{})
	res := CreateResult{}
	switch {
	case err == nil:
		if diff := claimDiff(want, got); diff != "" {
			return CreateResult{Claim: got}, fmt.Errorf("%w: PVC %s/%s has %s; delete it (dynamoctl pvc delete %s --yes) or pick another name",
				ErrDifferentSpec, spec.Namespace, spec.Name, diff, spec.Name)
		}
		res.Existed = true
	case apierrors.IsNotFound(err):
		if got, err = claims.Create(ctx, want, metav1.CreateOptions{}); err != nil {
			return CreateResult{}, fmt.Errorf("create PVC %s: %w", spec.Name, err)
		}
	default:
		return CreateResult{}, fmt.Errorf("get PVC %s: %w", spec.Name, err)
	}
	res.Claim = got
	if got.Status.Phase == corev1.ClaimBound {
		return res, nil
	}
	class, err := claimClass(ctx, cs, got)
	if err != nil {
		return res, err
	}
	if class != nil && class.VolumeBindingMode != nil && *class.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer {
		res.WaitForFirstConsumer = true
		return res, nil
	}
	start := time.Now()
	last := start
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		// A failed read (the deadline reached mid-request) returns an empty object: keep the
		// last claim seen, so the error names its phase and its events.
		cur, err := claims.Get(ctx, spec.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		got = cur
		if time.Since(last) >= 2*time.Second {
			fmt.Fprintf(w, "waiting for PVC %s to be Bound (%s, %s)\n", spec.Name, got.Status.Phase, time.Since(start).Round(time.Second))
			last = time.Now()
		}
		return got.Status.Phase == corev1.ClaimBound, nil
	})
	res.Claim = got
	if err != nil {
		why := claimEvents(ctx, cs, got)
		return res, fmt.Errorf("PVC %s not Bound after %s (phase %s)%s", spec.Name, time.Since(start).Round(time.Second), got.Status.Phase, why)
	}
	return res, nil
}

// claimDiff names what differs between the wanted claim and an existing one, "" when nothing.
func claimDiff(want, got *corev1.PersistentVolumeClaim) string {
	var d []string
	ws, gs := want.Spec.Resources.Requests[corev1.ResourceStorage], got.Spec.Resources.Requests[corev1.ResourceStorage]
	if ws.Cmp(gs) != 0 {
		d = append(d, fmt.Sprintf("size %s (want %s)", gs.String(), ws.String()))
	}
	if want.Spec.StorageClassName != nil && (got.Spec.StorageClassName == nil || *got.Spec.StorageClassName != *want.Spec.StorageClassName) {
		have := "<default>"
		if got.Spec.StorageClassName != nil {
			have = *got.Spec.StorageClassName
		}
		d = append(d, fmt.Sprintf("storage class %s (want %s)", have, *want.Spec.StorageClassName))
	}
	if len(got.Spec.AccessModes) != 1 || got.Spec.AccessModes[0] != want.Spec.AccessModes[0] {
		d = append(d, fmt.Sprintf("access modes %v (want %s)", got.Spec.AccessModes, want.Spec.AccessModes[0]))
	}
	return strings.Join(d, ", ")
}

// claimClass returns the claim's StorageClass (the default one when it names none); nil when
// there is none.
func claimClass(ctx context.Context, cs kubernetes.Interface, pvc *corev1.PersistentVolumeClaim) (*storagev1.StorageClass, error) {
	if pvc.Spec.StorageClassName != nil && *pvc.Spec.StorageClassName != "" {
		sc, err := cs.StorageV1().StorageClasses().Get(ctx, *pvc.Spec.StorageClassName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return sc, err
	}
	l, err := cs.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for i := range l.Items {
		if l.Items[i].Annotations["storageclass.kubernetes.io/is-default-class"] == "true" {
			return &l.Items[i], nil
		}
	}
	return nil, nil
}

func claimEvents(ctx context.Context, cs kubernetes.Interface, pvc *corev1.PersistentVolumeClaim) string {
	return events(ctx, cs, pvc.Namespace, "PersistentVolumeClaim", pvc.Name)
}

// events returns the object's recent events as "; reason: message" text ("" when none).
func events(ctx context.Context, cs kubernetes.Interface, ns, kind, name string) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	l, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.kind=" + kind + ",involvedObject.name=" + name})
	if err != nil || len(l.Items) == 0 {
		return ""
	}
	var parts []string
	for _, e := range l.Items {
		parts = append(parts, fmt.Sprintf("%s: %s", e.Reason, strings.TrimSpace(e.Message)))
	}
	return "; events: " + strings.Join(parts, "; ")
}

// PodsMounting lists the pods in the claim's namespace that mount it (not terminated).
func PodsMounting(ctx context.Context, cs kubernetes.Interface, ns, claim string) ([]string, error) {
	l, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, p := range l.Items {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		for _, v := range p.Spec.Volumes {
			if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == claim {
				names = append(names, p.Name)
				break
			}
		}
	}
	return names, nil
}

// ErrInUse means the claim is mounted by pods.
var ErrInUse = errors.New("the PVC is in use")

// DeleteClaim deletes a claim nobody mounts. Data goes with it (depending on the volume's
// reclaim policy); callers ask the user first.
func DeleteClaim(ctx context.Context, cs kubernetes.Interface, ns, name string) error {
	users, err := PodsMounting(ctx, cs, ns, name)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return fmt.Errorf("%w: mounted by pod(s) %s; stop them first (access pods: dynamoctl pvc cleanup %s)", ErrInUse, strings.Join(users, ", "), name)
	}
	return cs.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, name, metav1.DeleteOptions{})
}
