package storage

import (
	"context"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/kube"
)

// VolumeSnapshots is the CSI snapshot resource.
var VolumeSnapshots = schema.GroupVersionResource{Group: "snapshot.storage.k8s.io", Version: "v1", Resource: "volumesnapshots"}

// ErrNoSnapshotCRDs means the cluster does not serve VolumeSnapshot.
var ErrNoSnapshotCRDs = fmt.Errorf("the cluster has no VolumeSnapshot API (snapshot.storage.k8s.io/v1): install the CSI external-snapshotter CRDs and snapshot controller (https://github.com/kubernetes-csi/external-snapshotter) and a CSI driver that supports snapshots")

// Snapshot creates a VolumeSnapshot of the claim, named <claim>-<UTC time>, with the given
// class ("" for the default), and returns its name.
func Snapshot(ctx context.Context, cs kubernetes.Interface, dyn dynamic.Interface, ns, claim, class string, now time.Time) (string, error) {
	if _, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return "", fmt.Errorf("PVC %s/%s not found", ns, claim)
		}
		return "", err
	}
	if ok, err := kube.Serves(cs.Discovery(), VolumeSnapshots); err != nil {
		return "", err
	} else if !ok {
		return "", ErrNoSnapshotCRDs
	}
	name := fmt.Sprintf("%s-%s", claim, now.UTC().Format("20060102-150405"))
	spec := map[string]any{"source": map[string]any{"persistentVolumeClaimName": claim}}
	if class != "" {
		spec["volumeSnapshotClassName"] = class
	}
	snap := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": VolumeSnapshots.GroupVersion().String(), "kind": "VolumeSnapshot",
		"metadata": map[string]any{"name": name, "namespace": ns, "labels": map[string]any{v1alpha1.LabelManagedBy: ManagedBy, LabelPVC: claim}},
		"spec":     spec,
	}}
	if _, err := dyn.Resource(VolumeSnapshots).Namespace(ns).Create(ctx, snap, metav1.CreateOptions{}); err != nil {
		return "", fmt.Errorf("create VolumeSnapshot: %w", err)
	}
	return name, nil
}

// CurrentUser is who the credentials authenticate as (SelfSubjectReview), or fallback when the
// server does not say.
func CurrentUser(ctx context.Context, cs kubernetes.Interface, fallback string) string {
	r, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil || r.Status.UserInfo.Username == "" {
		return fallback
	}
	return r.Status.UserInfo.Username
}
