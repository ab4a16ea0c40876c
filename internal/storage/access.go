package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
)

// Defaults of `dynamoctl pvc access`.
const (
	// DefaultImage has sh, tar, find and sha256sum, which copy and verify use.
	DefaultImage = "docker.io/library/busybox:1.37.0"
	DefaultMount = "/data"
	DefaultTTL   = time.Hour
	// accessContainer is the access pod's one container.
	accessContainer = "access"
	// accessUID runs the pod as a non-root user; fsGroup makes the volume writable for it.
	accessUID = 1000
)

// AccessSpec describes an access pod.
type AccessSpec struct {
	Claim     string
	Namespace string
	Image     string
	Mount     string
	TTL       time.Duration
	// User is who starts the pod; one Running access pod per claim and user is reused.
	User string
}

// UserHash turns a user name into a label value.
func UserHash(user string) string { return shortHash(user) }

// shortHash is 16 hex digits of s's SHA-256: a label value for names that are not one.
func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:16]
}

// AccessPod builds the access pod (no I/O): a unique name, Pod Security "restricted", small
// requests and limits, the claim mounted at spec.Mount (also the working directory, so copy
// commands use paths relative to the volume), and a deadline of spec.TTL after which the
// kubelet stops it.
func AccessPod(spec AccessSpec) *corev1.Pod {
	res := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")}
	lim := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("512Mi")}
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: accessPrefix(spec.Claim),
			Namespace:    spec.Namespace,
			Labels:       map[string]string{v1alpha1.LabelManagedBy: ManagedBy, LabelPVC: ClaimLabel(spec.Claim), LabelUser: UserHash(spec.User)},
			Annotations:  map[string]string{AnnotationUser: spec.User, AnnotationPVC: spec.Claim},
		},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			ActiveDeadlineSeconds:         ptr.To(int64(spec.TTL.Seconds())),
			TerminationGracePeriodSeconds: ptr.To(int64(1)),
			AutomountServiceAccountToken:  ptr.To(false),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr.To(true),
				RunAsUser:      ptr.To(int64(accessUID)),
				RunAsGroup:     ptr.To(int64(accessUID)),
				FSGroup:        ptr.To(int64(accessUID)),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name:  accessContainer,
				Image: spec.Image,
				// Sleep until the deadline; exec sessions do the work.
				Command:    []string{"sh", "-c", fmt.Sprintf("sleep %d", int64(spec.TTL.Seconds()))},
				WorkingDir: spec.Mount,
				Resources:  corev1.ResourceRequirements{Requests: res, Limits: lim},
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
					RunAsNonRoot:             ptr.To(true),
					SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
				},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"test", "-w", spec.Mount}}},
					PeriodSeconds: 2,
				},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: spec.Mount}},
			}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: spec.Claim}}}},
		},
	}
}

// ClaimLabel is the LabelPVC value for a claim: its name, or, for a name longer than a label
// value may be (claim names go to 253 characters), a hash of it (the full name is in
// AnnotationPVC).
func ClaimLabel(claim string) string {
	if len(claim) <= 63 {
		return claim
	}
	return "h-" + shortHash(claim)
}

func accessPrefix(claim string) string {
	p := "pvc-access-" + claim
	if len(p) > 57 { // room for "-" and the 5 random characters under the 63 of a hostname
		p = p[:57]
	}
	return p + "-"
}

// AccessOptions bound StartAccess.
type AccessOptions struct {
	Timeout time.Duration
	// Progress receives a line every 2 s while waiting.
	Progress io.Writer
	// Record holds the UIDs of the access pods this user created. A Running pod is reused only
	// when its UID is in it: labels and names can be planted by anyone who may create pods in
	// the namespace, a UID cannot. Nil: never reuse.
	Record *PodRecord
}

// ErrNotReady means the access pod did not become Ready; the error carries its events.
var ErrNotReady = errors.New("access pod not ready")

// StartAccess returns a Ready access pod for the claim: the user's Running one when there is
// one that this user created (Record) and that still is what AccessPod builds, else a new one.
// A new pod that does not become Ready within the timeout, or whose wait is interrupted, is
// deleted before StartAccess returns; the error names the pod's events (e.g. the claim is
// ReadWriteOnce and mounted on another node).
func StartAccess(ctx context.Context, cs kubernetes.Interface, spec AccessSpec, o AccessOptions) (pod *corev1.Pod, reused bool, err error) {
	if spec.Image == "" {
		spec.Image = DefaultImage
	}
	if spec.Mount == "" {
		spec.Mount = DefaultMount
	}
	if spec.TTL <= 0 {
		spec.TTL = DefaultTTL
	}
	if !path.IsAbs(spec.Mount) {
		return nil, false, fmt.Errorf("--mount %q: want an absolute path", spec.Mount)
	}
	pods := cs.CoreV1().Pods(spec.Namespace)
	if _, err := cs.CoreV1().PersistentVolumeClaims(spec.Namespace).Get(ctx, spec.Claim, metav1.GetOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, false, fmt.Errorf("PVC %s/%s not found: create it with dynamoctl pvc create %s", spec.Namespace, spec.Claim, spec.Claim)
		}
		return nil, false, err
	}
	sel := labels.SelectorFromSet(labels.Set{v1alpha1.LabelManagedBy: ManagedBy, LabelPVC: ClaimLabel(spec.Claim), LabelUser: UserHash(spec.User)})
	existing, err := pods.List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, false, fmt.Errorf("list access pods: %w", err)
	}
	want := AccessPod(spec)
	for i := range existing.Items {
		p := &existing.Items[i]
		if p.DeletionTimestamp == nil && podReady(p) && o.Record.Has(p.UID) && sameAccessPod(p, want) {
			return p, true, nil
		}
	}
	created, err := pods.Create(ctx, want, metav1.CreateOptions{})
	if err != nil {
		return nil, false, fmt.Errorf("create access pod: %w", err)
	}
	ready, err := waitReady(ctx, cs, created, o)
	if err != nil {
		why := events(ctx, cs, created.Namespace, "Pod", created.Name)
		derr := DeletePod(ctx, cs, created.Namespace, created.Name)
		if ctx.Err() != nil {
			return nil, false, errors.Join(fmt.Errorf("interrupted; access pod %s deleted: %w", created.Name, ctx.Err()), derr)
		}
		return nil, false, errors.Join(fmt.Errorf("%w: %s %w%s; the pod was deleted", ErrNotReady, created.Name, err, why), derr)
	}
	// Not being able to remember the pod only costs its reuse.
	_ = o.Record.Add(ready.UID, spec.TTL)
	return ready, false, nil
}

// sameAccessPod reports whether a live pod still runs what AccessPod built: the same image,
// command, claim and mount, and nothing added (no other container, init or ephemeral
// container, volume, or a changed security context). A pod's image can be changed after
// creation, so a UID alone does not say what runs in it.
func sameAccessPod(live, want *corev1.Pod) bool {
	l, w := live.Spec, want.Spec
	if len(l.Containers) != 1 || len(l.InitContainers) != 0 || len(l.EphemeralContainers) != 0 || len(l.Volumes) != 1 {
		return false
	}
	lc, wc := l.Containers[0], w.Containers[0]
	return lc.Image == wc.Image && slices.Equal(lc.Command, wc.Command) && len(lc.Args) == 0 &&
		equality.Semantic.DeepEqual(lc.VolumeMounts, wc.VolumeMounts) &&
		equality.Semantic.DeepEqual(l.Volumes[0].VolumeSource, w.Volumes[0].VolumeSource) &&
		equality.Semantic.DeepEqual(lc.SecurityContext, wc.SecurityContext) &&
		equality.Semantic.DeepEqual(l.SecurityContext, w.SecurityContext) && !l.HostNetwork && !l.HostPID && !l.HostIPC
}

func waitReady(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, o AccessOptions) (*corev1.Pod, error) {
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	start, last := time.Now(), time.Now()
	cur := pod
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, o.Timeout, true, func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return false, fmt.Errorf("access pod %s was deleted while starting", pod.Name)
		case err != nil:
			// A failed read (a slow API server, the deadline reached mid-request) says nothing
			// about the pod: keep polling, and report its last seen state at the deadline.
			return false, nil
		}
		cur = p
		if p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
			return false, fmt.Errorf("pod ended (%s: %s)", p.Status.Phase, p.Status.Reason)
		}
		if o.Progress != nil && time.Since(last) >= 2*time.Second {
			fmt.Fprintf(o.Progress, "waiting for access pod %s (%s) %s\n", p.Name, podState(p), time.Since(start).Round(time.Second))
			last = time.Now()
		}
		return podReady(p), nil
	})
	if err != nil && wait.Interrupted(err) && ctx.Err() == nil {
		err = fmt.Errorf("not Ready after %s (%s)", o.Timeout, podState(cur))
	}
	return cur, err
}

// DeletePod deletes a pod and waits (up to 30 s) until it is gone. It works on its own
// context so it also runs after Ctrl-C.
func DeletePod(ctx context.Context, cs kubernetes.Interface, ns, name string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	err := cs.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete access pod %s: %w", name, err)
	}
	return wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}

// Cleanup deletes dynamoctl's access pods in ns — of one claim, or of all when claim is "" —
// started by user, or by anyone when user is "", and returns their names. It never touches a
// claim.
func Cleanup(ctx context.Context, cs kubernetes.Interface, ns, claim, user string) ([]string, error) {
	set := labels.Set{v1alpha1.LabelManagedBy: ManagedBy}
	if claim != "" {
		set[LabelPVC] = ClaimLabel(claim)
	}
	if user != "" {
		set[LabelUser] = UserHash(user)
	}
	sel := labels.SelectorFromSet(set).String()
	// Only pods that carry the claim label are access pods (the probe Jobs of dynamoctl gpus
	// share the managed-by label).
	l, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel + "," + LabelPVC})
	if err != nil {
		return nil, err
	}
	var names []string
	var errs []error
	for _, p := range l.Items {
		if err := DeletePod(ctx, cs, ns, p.Name); err != nil {
			errs = append(errs, err)
			continue
		}
		names = append(names, p.Name)
	}
	return names, errors.Join(errs...)
}

func podReady(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podState(p *corev1.Pod) string {
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && w.Reason != "" {
			return string(p.Status.Phase) + ": " + w.Reason
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			return "Pending: " + c.Reason + " " + c.Message
		}
	}
	return string(p.Status.Phase)
}

// MountOf returns where an access pod mounts its claim.
func MountOf(p *corev1.Pod) string { return mountOf(p) }

// mountOf returns where an access pod mounts its claim.
func mountOf(p *corev1.Pod) string {
	for _, c := range p.Spec.Containers {
		for _, m := range c.VolumeMounts {
			if m.Name == "data" {
				return m.MountPath
			}
		}
	}
	return ""
}
