package inventory

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
)

// Labels and defaults of probe Jobs.
const (
	ManagedByDynamoctl = "dynamoctl"
	LabelComponent     = "app.kubernetes.io/component"
	ProbeComponent     = "gpu-probe"
	// AnnotationProbeNode names the node a probe runs on (names can exceed a label's 63 bytes).
	AnnotationProbeNode = "dynamo-infra.dev/probe-node"
	probeContainer      = "smi"

	DefaultProbeImage       = "nvcr.io/nvidia/cuda:12.8.1-base-ubuntu24.04"
	DefaultProbeTimeout     = 120 * time.Second
	DefaultProbeConcurrency = 8
	// probeCleanupTimeout bounds deleting a probe, which runs even after ctx is cancelled.
	probeCleanupTimeout = 30 * time.Second
	probePoll           = 250 * time.Millisecond
)

// ProbeOptions configure nvidia-smi probes.
type ProbeOptions struct {
	Namespace   string
	Image       string
	Timeout     time.Duration
	Concurrency int
	// Now is the clock (tests inject one); nil means time.Now.
	Now func() time.Time
}

func (o *ProbeOptions) defaults() {
	if o.Namespace == "" {
		o.Namespace = metav1.NamespaceDefault
	}
	if o.Image == "" {
		o.Image = DefaultProbeImage
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultProbeTimeout
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultProbeConcurrency
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// ProbeNodes runs one nvidia-smi probe per node that NeedsProbe, at most Concurrency at a time,
// fills in what each successful probe found, and returns every probe's result in node order.
// Each probe Job is deleted before ProbeNodes returns — on success, failure, timeout and when ctx
// is cancelled (Ctrl-C).
func ProbeNodes(ctx context.Context, cs kubernetes.Interface, nodes []NodeGPU, opts ProbeOptions) []ProbeResult {
	opts.defaults()
	var idx []int
	for i := range nodes {
		if nodes[i].NeedsProbe() {
			idx = append(idx, i)
		}
	}
	results := make([]ProbeResult, len(idx))
	sem := make(chan struct{}, opts.Concurrency)
	var wg sync.WaitGroup
	for j, i := range idx {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				results[j] = ProbeResult{Node: nodes[i].Name, Status: ProbeFailed, Detail: "not started: " + ctx.Err().Error(), Duration: "0s"}
				return
			}
			results[j] = probeNode(ctx, cs, &nodes[i], opts)
		}()
	}
	wg.Wait()
	for j, i := range idx {
		if results[j].Status == ProbeOK {
			ApplyProbe(&nodes[i], results[j].GPUs)
		}
	}
	return results
}

// ProbeJob builds the Job that runs nvidia-smi on one node: pinned by node affinity (so the
// scheduler, not the kubelet, decides and can say why it cannot), tolerating every taint,
// requesting one unit of the node's GPU resource (so nvidia-smi sees that one GPU: the probe
// reports a model, memory and MIG mode taken as the node's, never a count), bounded by activeDeadlineSeconds, and removed by
// the TTL controller even if dynamoctl dies before deleting it.
func ProbeJob(n *NodeGPU, name string, opts ProbeOptions) *batchv1.Job {
	opts.defaults()
	labels := map[string]string{v1alpha1.LabelManagedBy: ManagedByDynamoctl, LabelComponent: ProbeComponent}
	deadline := int64(opts.Timeout.Seconds())
	if deadline < 1 {
		deadline = 1
	}
	res := corev1.ResourceList{probeResource(n): resource.MustParse("1")}
	small := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("32Mi")}
	limits := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}
	for k, v := range res {
		small[k], limits[k] = v, v
	}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: opts.Namespace, Labels: labels,
			Annotations: map[string]string{AnnotationProbeNode: n.Name},
		},
		Spec: batchv1.JobSpec{
			BackoffLimit:            ptr.To[int32](0),
			ActiveDeadlineSeconds:   ptr.To(deadline),
			TTLSecondsAfterFinished: ptr.To[int32](60),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{AnnotationProbeNode: n.Name}},
				Spec: corev1.PodSpec{
					RestartPolicy:                 corev1.RestartPolicyNever,
					TerminationGracePeriodSeconds: ptr.To[int64](0),
					AutomountServiceAccountToken:  ptr.To(false),
					Tolerations:                   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
					Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
						RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
							MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{n.Name}}},
						}}},
					}},
					Containers: []corev1.Container{{
						Name:      probeContainer,
						Image:     opts.Image,
						Command:   SMIQuery,
						Resources: corev1.ResourceRequirements{Requests: small, Limits: limits},
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: ptr.To(false),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
							SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
						},
					}},
				},
			},
		},
	}
}

// probeResource is the resource a probe requests: the node's whole-GPU resource, or its first MIG
// resource on a node whose GPUs are all partitioned.
func probeResource(n *NodeGPU) corev1.ResourceName {
	if r := n.Resource(n.PrimaryResource()); r.Allocatable > 0 {
		return corev1.ResourceName(r.Name)
	}
	for _, r := range n.Resources {
		if strings.HasPrefix(r.Name, nvidia.ResourceMIGPrefix) && r.Allocatable > 0 {
			return corev1.ResourceName(r.Name)
		}
	}
	return corev1.ResourceName(n.PrimaryResource())
}

// ProbeName makes a unique, valid Job name for a node: gpu-probe-<node prefix>-<random>.
func ProbeName(node string) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	prefix := strings.Trim(strings.ToLower(node), "-.")
	prefix = strings.Map(func(r rune) rune {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-' {
			return r
		}
		return '-'
	}, prefix)
	if len(prefix) > 30 {
		prefix = strings.TrimRight(prefix[:30], "-")
	}
	return "gpu-probe-" + prefix + "-" + hex.EncodeToString(b)
}

func probeNode(ctx context.Context, cs kubernetes.Interface, n *NodeGPU, opts ProbeOptions) (res ProbeResult) {
	start := opts.Now()
	job := ProbeJob(n, ProbeName(n.Name), opts)
	res = ProbeResult{Node: n.Name, Pod: job.Name}
	defer func() { res.Duration = opts.Now().Sub(start).Round(time.Millisecond).String() }()

	pctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	if _, err := cs.BatchV1().Jobs(opts.Namespace).Create(pctx, job, metav1.CreateOptions{}); err != nil {
		res.Status, res.Detail = ProbeFailed, "create probe job: "+err.Error()
		return res
	}
	// Cleanup must run after Ctrl-C too, so it gets its own context.
	defer func() {
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), probeCleanupTimeout)
		defer ccancel()
		if err := deleteProbe(cctx, cs, opts.Namespace, job.Name); err != nil {
			res.Detail = strings.TrimSpace(res.Detail + "; cleanup: " + err.Error())
		}
	}()

	pod, unschedulable, err := waitProbePod(pctx, cs, opts.Namespace, job.Name)
	switch {
	case err != nil && unschedulable != "":
		res.Status, res.Detail = ProbeUnschedulable, unschedulable
		return res
	case err != nil && errors.Is(pctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil:
		res.Status, res.Detail = ProbeTimeout, fmt.Sprintf("no result within %s", opts.Timeout)
		return res
	case err != nil:
		res.Status, res.Detail = ProbeFailed, err.Error()
		return res
	}
	logs, err := cs.CoreV1().Pods(opts.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{Container: probeContainer}).DoRaw(pctx)
	if err != nil {
		res.Status, res.Detail = ProbeFailed, "read probe logs: "+err.Error()
		return res
	}
	if pod.Status.Phase == corev1.PodFailed {
		res.Status, res.Detail = ProbeFailed, "nvidia-smi failed: "+truncate(strings.TrimSpace(string(logs)), 200)
		return res
	}
	gpus, err := ParseSMI(bytes.NewReader(logs))
	if err != nil {
		res.Status, res.Detail = ProbeFailed, err.Error()
		return res
	}
	res.Status, res.GPUs = ProbeOK, gpus
	return res
}

// ErrProbeRefused means the cluster refused to create the probe's pod.
var ErrProbeRefused = errors.New("probe pod refused")

// refusedPod returns the message of the Job's FailedCreate event, or "".
func refusedPod(ctx context.Context, cs kubernetes.Interface, ns, job string) string {
	evs, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.kind=Job,involvedObject.name=" + job + ",reason=FailedCreate"})
	if err != nil || len(evs.Items) == 0 {
		return ""
	}
	return truncate(strings.TrimSpace(evs.Items[len(evs.Items)-1].Message), 300)
}

// waitProbePod waits until the Job's pod has finished. While the scheduler cannot place it, the
// returned reason holds the scheduler's message (the wait goes on: GPUs may be freed).
func waitProbePod(ctx context.Context, cs kubernetes.Interface, ns, job string) (*corev1.Pod, string, error) {
	var unschedulable string
	for {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + job})
		if err == nil && len(pods.Items) == 0 {
			// No pod yet: the Job controller may be unable to create one (Pod Security
			// admission, a quota); it says so only in an event on the Job.
			if why := refusedPod(ctx, cs, ns, job); why != "" {
				return nil, "", fmt.Errorf("%w: %s", ErrProbeRefused, why)
			}
		}
		if err == nil {
			for i := range pods.Items {
				p := &pods.Items[i]
				if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
					return p, "", nil
				}
				unschedulable = ""
				for _, c := range p.Status.Conditions {
					if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
						unschedulable = "cannot be scheduled: " + c.Message
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
			return nil, unschedulable, err
		case <-time.After(probePoll):
		}
	}
}

// deleteProbe deletes the Job and its pods (grace 0) and waits until both are gone, deleting
// again any pod the Job controller made before it saw the Job's deletion. ctx bounds the wait.
func deleteProbe(ctx context.Context, cs kubernetes.Interface, ns, job string) error {
	fg := metav1.DeletePropagationForeground
	pods := metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + job}
	for {
		err := cs.BatchV1().Jobs(ns).Delete(ctx, job, metav1.DeleteOptions{PropagationPolicy: &fg, GracePeriodSeconds: ptr.To[int64](0)})
		jobGone := isNotFound(err)
		if err != nil && !jobGone {
			return fmt.Errorf("delete job %s: %w", job, err)
		}
		if err := cs.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, pods); err != nil && !isNotFound(err) {
			return fmt.Errorf("delete pods of job %s: %w", job, err)
		}
		left, err := cs.CoreV1().Pods(ns).List(ctx, pods)
		if err != nil {
			return fmt.Errorf("list pods of job %s: %w", job, err)
		}
		if jobGone && len(left.Items) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("job %s or its pods still there: %w", job, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
