// Package diagnose says why a service of a graph is not ready, from its workload (a Deployment
// or a LeaderWorkerSet) and its pods: a typed reason and one readable message. It is pure, and
// the one owner of that classification: the operator writes it into status.services[*], and
// `dynamoctl explain` builds its chain and remediation on the same findings.
package diagnose

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	lwsv1 "sigs.k8s.io/lws/api/leaderworkerset/v1"

	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/kubenode"
)

// Typed reasons of status.services[*].reason: upstream's strings where it has them
// (insufficient_capacity, pods_not_ready, updating), the same style elsewhere.
const (
	ReasonInsufficientCapacity = "insufficient_capacity"
	ReasonUnschedulable        = "unschedulable"
	ReasonImagePull            = "image_pull"
	ReasonCrashLoop            = "crash_loop"
	ReasonProbeFailing         = "probe_failing"
	ReasonPodsNotCreated       = "pods_not_created"
	ReasonProgressDeadline     = "progress_deadline"
	ReasonPendingPVC           = "pending_pvc"
	ReasonMissingPVC           = "missing_pvc"
	ReasonUpdating             = "updating"
	ReasonPodsNotReady         = "pods_not_ready"
	ReasonNotCreated           = "not_created"
)

// Verdict is why a service is not ready: a typed reason and a message (the Ready condition's
// part about it). Zero when it is ready. Pod is the pod whose problem decided the reason, when
// one did.
type Verdict struct {
	Reason, Message string
	Pod             PodProblem
}

// Ready reports whether the verdict finds nothing wrong.
func (v Verdict) Ready() bool { return v.Reason == "" }

// PodProblem is the first pod (by name) that cannot be scheduled, whose container waits, or
// whose container runs without becoming ready — classified, with what a remediation needs.
type PodProblem struct {
	Reason string
	// Message is one line: "pod NAME <reason>: <details>".
	Message string
	Pod     string
	// Container is the container the problem is about (waiting, crashing, not ready).
	Container string
	// Waiting is the container's waiting reason (ImagePullBackOff, CrashLoopBackOff, …) and
	// WaitingMessage the kubelet's words about it.
	Waiting, WaitingMessage string
	// LastExit is the container's last termination when it crash-loops.
	LastExit *corev1.ContainerStateTerminated
	// Scheduler is the scheduler's message for a pod it could not place.
	Scheduler string
}

// Deployment says why a Deployment does not have want replicas ready (zero when it has).
func Deployment(d *appsv1.Deployment, want int32, pods []corev1.Pod) Verdict {
	if d.Status.ObservedGeneration < d.Generation {
		return Verdict{Reason: ReasonUpdating, Message: "rollout not observed yet"}
	}
	// Pods the ReplicaSet could not create (Pod Security admission, a quota) leave the
	// Deployment at 0 updated replicas for good; its ReplicaFailure condition says why.
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue {
			return Verdict{Reason: ReasonPodsNotCreated, Message: "pods cannot be created (" + c.Reason + ": " + c.Message + ")"}
		}
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
			return withPods(Verdict{Reason: ReasonProgressDeadline, Message: fmt.Sprintf("rollout stuck past its progress deadline, %d/%d replicas ready", d.Status.ReadyReplicas, want)}, pods)
		}
	}
	if d.Status.UpdatedReplicas < want {
		// A rollout waits on its new pods: the first one's problem says why it does not move.
		v := Verdict{Reason: ReasonUpdating, Message: fmt.Sprintf("%d/%d replicas updated", d.Status.UpdatedReplicas, want)}
		if p := FirstPodProblem(pods); p.Message != "" {
			v.Message += " (" + p.Message + ")"
			v.Pod = p
		}
		return v
	}
	if d.Status.ReadyReplicas >= want && d.Status.Replicas == want {
		return Verdict{}
	}
	v := withPods(Verdict{Reason: ReasonPodsNotReady, Message: fmt.Sprintf("%d/%d replicas ready", d.Status.ReadyReplicas, want)}, pods)
	return withDemand(v, &d.Spec.Template.Spec)
}

// LeaderWorkerSet says why a LeaderWorkerSet does not have want groups ready (zero when it
// has). A group is ready when its leader and every worker are (ReadyGroups).
func LeaderWorkerSet(l *lwsv1.LeaderWorkerSet, want int32, pods []corev1.Pod) Verdict {
	ready := LeaderWorkerSetReady(l, pods)
	if l.Status.UpdatedReplicas < want && ready >= want {
		return Verdict{Reason: ReasonUpdating, Message: fmt.Sprintf("%d/%d groups updated", l.Status.UpdatedReplicas, want)}
	}
	if ready >= want && l.Status.Replicas == want {
		return Verdict{}
	}
	v := withPods(Verdict{Reason: ReasonPodsNotReady, Message: fmt.Sprintf("%d/%d groups of %d pods ready", ready, want, ptr.Deref(l.Spec.LeaderWorkerTemplate.Size, 1))}, pods)
	return withDemand(v, &l.Spec.LeaderWorkerTemplate.WorkerTemplate.Spec)
}

// LeaderWorkerSetReady is how many of a LeaderWorkerSet's groups are ready: what it reports,
// but no more than the groups whose pods are all Ready. LeaderWorkerSet v0.8 counts a group
// ready once its worker StatefulSet has created every pod (StatefulsetReady compares
// status.replicas), so a group with a Pending worker counted as ready.
func LeaderWorkerSetReady(l *lwsv1.LeaderWorkerSet, pods []corev1.Pod) int32 {
	return min(l.Status.ReadyReplicas, ReadyGroups(pods, ptr.Deref(l.Spec.LeaderWorkerTemplate.Size, 1)))
}

// ReadyGroups counts the groups (pods by their LeaderWorkerSet group index) that have size pods,
// every one Ready.
func ReadyGroups(pods []corev1.Pod, size int32) int32 {
	readyIn := map[string]int32{}
	for i := range pods {
		if g, ok := pods[i].Labels[lwsv1.GroupIndexLabelKey]; ok && kubenode.PodReady(&pods[i]) {
			readyIn[g]++
		}
	}
	var n int32
	for _, c := range readyIn {
		if c >= size {
			n++
		}
	}
	return n
}

// withDemand adds to an insufficient_capacity verdict what one pod asks of each resource the
// scheduler found short ("; each pod needs 16 nvidia.com/gpu"): the scheduler counts nodes, not
// amounts. (The most free on a matching node needs the nodes' usage: dynamoctl explain reads
// it; the operator watches no nodes.)
func withDemand(v Verdict, tmpl *corev1.PodSpec) Verdict {
	if v.Reason != ReasonInsufficientCapacity {
		return v
	}
	req := kubenode.PodRequests(tmpl)
	var parts []string
	for _, r := range Insufficient(v.Pod.Scheduler) {
		if q, ok := req[corev1.ResourceName(r)]; ok && !q.IsZero() {
			parts = append(parts, q.String()+" "+r)
		}
	}
	if len(parts) > 0 {
		v.Message += "; each pod needs " + strings.Join(parts, " + ")
	}
	return v
}

// Service says why a graph's service is not ready: from its LeaderWorkerSet when it is
// multi-node, else its Deployment (nil: not created yet), its pods, and the claims the graph
// references that do not exist. The operator's status and dynamoctl explain both call it.
func Service(c *graph.Component, d *appsv1.Deployment, l *lwsv1.LeaderWorkerSet, pods []corev1.Pod, missingPVCs []string) Verdict {
	want := c.Replicas
	var v Verdict
	switch {
	case c.Multinode() && l == nil, !c.Multinode() && d == nil:
		return Verdict{Reason: ReasonNotCreated, Message: "not created yet"}
	case c.Multinode():
		v = LeaderWorkerSet(l, want, pods)
	default:
		v = Deployment(d, want, pods)
	}
	// A claim the service mounts that does not exist explains its pods better than "pending".
	for _, claim := range c.Claims() {
		if !v.Ready() && slices.Contains(missingPVCs, claim) {
			v.Reason = ReasonMissingPVC
		}
	}
	return v
}

// withPods adds the first pod's problem to v: its words to the message, its type as the reason
// (a more precise one than the workload's).
func withPods(v Verdict, pods []corev1.Pod) Verdict {
	if p := FirstPodProblem(pods); p.Message != "" {
		v.Message += " (" + p.Message + ")"
		if p.Reason != "" {
			v.Reason = p.Reason
		}
		v.Pod = p
	}
	return v
}

// FirstPodProblem is the first pod (by name) that cannot be scheduled, whose container is
// waiting, or whose container runs past its startup probe without becoming ready. It sorts
// pods in place.
func FirstPodProblem(pods []corev1.Pod) PodProblem {
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	for i := range pods {
		if p := podProblem(&pods[i]); p.Message != "" {
			return p
		}
	}
	return PodProblem{}
}

func podProblem(p *corev1.Pod) PodProblem {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Message != "" {
			return PodProblem{Reason: schedulingReason(c.Message), Message: "pod " + p.Name + " " + c.Reason + ": " + c.Message,
				Pod: p.Name, Scheduler: c.Message}
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && w.Reason != "" {
			pp := PodProblem{Reason: waitingReason(w.Reason), Message: "pod " + p.Name + " " + w.Reason, Pod: p.Name,
				Container: cs.Name, Waiting: w.Reason, WaitingMessage: w.Message}
			// A restarting container's last end says why it keeps dying (OOMKilled).
			if t := cs.LastTerminationState.Terminated; t != nil && w.Reason == "CrashLoopBackOff" {
				pp.Message += fmt.Sprintf(", last exit %d %s", t.ExitCode, t.Reason)
				pp.LastExit = t
			}
			return pp
		}
	}
	// Running and past its startup probe, yet not ready: the readiness probe fails. (Not yet
	// started is a model still loading, not a problem.)
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Running != nil && cs.Started != nil && *cs.Started && !cs.Ready && p.DeletionTimestamp == nil {
			return PodProblem{Reason: ReasonProbeFailing, Pod: p.Name, Container: cs.Name,
				Message: "pod " + p.Name + " container " + cs.Name + " running but not ready (readiness probe failing)"}
		}
	}
	return PodProblem{}
}

// schedulingReason types the scheduler's message: a claim not bound, too little of a resource
// (CPU, memory, GPUs, pods), or another filter (taints, affinity, node selector).
func schedulingReason(msg string) string {
	switch {
	case strings.Contains(msg, "PersistentVolumeClaim") || strings.Contains(msg, "persistentvolumeclaim"):
		return ReasonPendingPVC
	case len(Insufficient(msg)) > 0:
		return ReasonInsufficientCapacity
	}
	return ReasonUnschedulable
}

// waitingReason types a container's waiting reason.
func waitingReason(reason string) string {
	switch reason {
	case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull":
		return ReasonImagePull
	case "CrashLoopBackOff":
		return ReasonCrashLoop
	}
	return ReasonPodsNotReady
}

// Scheduled counts the pods bound to a node and not being deleted.
func Scheduled(pods []corev1.Pod) int32 {
	var n int32
	for _, p := range pods {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionTrue && p.DeletionTimestamp == nil {
				n++
			}
		}
	}
	return n
}

// NodeReason is one of the scheduler's reasons for not placing a pod, with how many nodes it
// applies to (0 when the scheduler gave no count: a claim, a preemption note).
type NodeReason struct {
	Nodes  int    `json:"nodes,omitempty"`
	Reason string `json:"reason"`
}

var nodeCount = regexp.MustCompile(`^(\d+) (.+)$`)

// SchedulerReasons splits the scheduler's FailedScheduling message — "0/5 nodes are available:
// 1 node(s) had untolerated taint {a: b}, 4 Insufficient nvidia.com/gpu. no new claims to
// deallocate, preemption: …" (the 1.36 scheduler's words) — into
// one entry per reason, most nodes first. Taint and selector values may hold ", " themselves,
// so the split is on ", " followed by a count. The preemption note is dropped: it repeats the
// same nodes.
func SchedulerReasons(msg string) []NodeReason {
	_, body, ok := strings.Cut(msg, "nodes are available: ")
	if !ok {
		return []NodeReason{{Reason: strings.TrimSuffix(strings.TrimSpace(msg), ".")}}
	}
	// The reasons are one sentence; what follows (a DRA note, "preemption: …") repeats the
	// same nodes.
	if i := strings.Index(body, ". "); i >= 0 {
		body = body[:i]
	}
	if i := strings.Index(body, ", preemption: "); i >= 0 {
		body = body[:i]
	}
	body = strings.TrimSuffix(strings.TrimSpace(body), ".")
	var out []NodeReason
	for _, part := range splitCounted(body) {
		m := nodeCount.FindStringSubmatch(part)
		if m == nil {
			out = append(out, NodeReason{Reason: part})
			continue
		}
		n, _ := strconv.Atoi(m[1])
		out = append(out, NodeReason{Nodes: n, Reason: m[2]})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Nodes > out[j].Nodes })
	return out
}

var countedPart = regexp.MustCompile(`, (\d+ )`)

// splitCounted splits "1 a, b, 2 c" into "1 a, b" and "2 c".
func splitCounted(s string) []string {
	var parts []string
	for {
		loc := countedPart.FindStringIndex(s)
		if loc == nil {
			return append(parts, s)
		}
		parts = append(parts, s[:loc[0]])
		s = s[loc[0]+2:]
	}
}

var insufficient = regexp.MustCompile(`Insufficient ([A-Za-z0-9./_-]+)`)

// Insufficient lists the resources the scheduler found too little of ("Insufficient
// nvidia.com/gpu"; "Too many pods" reads as "pods"), in the order it names them.
func Insufficient(msg string) []string {
	var out []string
	for _, m := range insufficient.FindAllStringSubmatch(msg, -1) {
		r := strings.TrimSuffix(m[1], ".") // the sentence's full stop
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	if strings.Contains(msg, "Too many pods") && !slices.Contains(out, "pods") {
		out = append(out, "pods")
	}
	return out
}
