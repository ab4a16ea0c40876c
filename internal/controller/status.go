package controller

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	lwsv1 "sigs.k8s.io/lws/api/leaderworkerset/v1"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
)

// Condition types and reasons of a DynamoGraphDeployment.
const (
	ConditionReady = "Ready"

	ReasonAllResourcesReady = "AllResourcesReady"
	ReasonResourcesNotReady = "ResourcesNotReady"
	ReasonReconcileFailed   = "ReconcileFailed"
	// ReasonResourceConflict: a child's name is taken by an object the graph did not create.
	ReasonResourceConflict = "ResourceConflict"
	// ReasonNotImplemented: the graph sets a field whose behaviour is not implemented yet; the
	// message names it, and nothing of the graph is applied.
	ReasonNotImplemented = "NotImplemented"
	// ReasonIgnoredField is the reason of the warning event for a field accepted and ignored.
	ReasonIgnoredField = "IgnoredField"
	// ReasonMultinodeUnavailable: the graph has a multi-node service and the cluster does not
	// serve the LeaderWorkerSet API; nothing of the graph is applied.
	ReasonMultinodeUnavailable = "MultinodeUnavailable"

	StateInitializing = "initializing"
	StatePending      = "pending"
	StateSuccessful   = "successful"
	StateFailed       = "failed"
)

// MultinodeUnavailableError means a graph has a multi-node service and the operator found no
// LeaderWorkerSet API when it started.
type MultinodeUnavailableError struct{}

func (e *MultinodeUnavailableError) Error() string {
	return "multinode services run on LeaderWorkerSet (leaderworkerset.x-k8s.io/v1), which this cluster does not serve: install LWS and restart the operator, or remove multinode; nothing of the graph is applied"
}

// Observed is what the reconciler read about a graph's children.
type Observed struct {
	// Deployments by service name; a missing entry means not created yet.
	Deployments map[string]*appsv1.Deployment
	// LeaderWorkerSets by service name, for multi-node services.
	LeaderWorkerSets map[string]*lwsv1.LeaderWorkerSet
	// Pods by service name, for the reason a service is not ready.
	Pods map[string][]corev1.Pod
	// MissingPVCs are referenced, not created by the graph, and absent.
	MissingPVCs []string
}

// ComputeStatus rolls the children up into the graph's status: per-service replica counts,
// state, and the Ready condition (via meta.SetStatusCondition, so its transition time only moves
// when its status does). reconcileErr, when set, makes the graph failed.
func ComputeStatus(dgd *v1alpha1.DynamoGraphDeployment, obs Observed, reconcileErr error) v1alpha1.DynamoGraphDeploymentStatus {
	st := *dgd.Status.DeepCopy()
	st.Services = map[string]v1alpha1.ServiceReplicaStatus{}
	var notReady []string
	names := render.ServiceNames(dgd)
	for _, name := range names {
		svc, why := serviceStatus(dgd, name, obs)
		if svc != nil {
			st.Services[name] = *svc
		}
		if why.reason != "" {
			notReady = append(notReady, name+": "+why.message)
		}
	}
	st.ReadyServices = fmt.Sprintf("%d/%d", len(names)-len(notReady), len(names))
	for _, p := range obs.MissingPVCs {
		notReady = append(notReady, "PVC "+p+" not found (create it, or set create: true in spec.pvcs)")
	}
	cond := metav1.Condition{Type: ConditionReady, ObservedGeneration: dgd.Generation}
	switch {
	case reconcileErr != nil:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, ReasonReconcileFailed, reconcileErr.Error()
		var conflict *ConflictError
		var unimplemented *render.UnimplementedError
		var noLWS *MultinodeUnavailableError
		switch {
		case errors.As(reconcileErr, &conflict):
			cond.Reason = ReasonResourceConflict
		case errors.As(reconcileErr, &noLWS):
			cond.Reason, cond.Message = ReasonMultinodeUnavailable, noLWS.Error()
		case errors.As(reconcileErr, &unimplemented):
			cond.Reason, cond.Message = ReasonNotImplemented, unimplemented.Error()
		}
		st.State = StateFailed
	case len(notReady) > 0:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, ReasonResourcesNotReady, "Resources not ready: "+strings.Join(notReady, "; ")
		st.State = StatePending
	default:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionTrue, ReasonAllResourcesReady, "All services have their replicas ready"
		st.State = StateSuccessful
	}
	meta.SetStatusCondition(&st.Conditions, cond)
	if reconcileErr == nil {
		st.ObservedGeneration = dgd.Generation
	}
	return st
}

// serviceStatus is a service's replica counts from its workload (a Deployment, or a
// LeaderWorkerSet counted in groups), its scheduled pods, and why it is not ready (a typed
// reason and a message; none when it is ready). A workload not created yet has no counts.
func serviceStatus(dgd *v1alpha1.DynamoGraphDeployment, name string, obs Observed) (*v1alpha1.ServiceReplicaStatus, notReady) {
	s := dgd.Spec.Services[name]
	want := render.Replicas(s)
	var svc *v1alpha1.ServiceReplicaStatus
	var why notReady
	if render.NodeCount(s) > 1 {
		l := obs.LeaderWorkerSets[name]
		if l == nil {
			return nil, notReady{ServiceReasonNotCreated, "not created yet"}
		}
		svc = &v1alpha1.ServiceReplicaStatus{
			ComponentKind: v1alpha1.ComponentKindLeaderWorkerSet, ComponentName: l.Name, ComponentNames: []string{l.Name},
			Replicas: l.Status.Replicas, UpdatedReplicas: l.Status.UpdatedReplicas,
			ReadyReplicas: l.Status.ReadyReplicas, AvailableReplicas: l.Status.ReadyReplicas,
		}
		why = leaderWorkerSetNotReady(l, want, obs.Pods[name])
	} else {
		d := obs.Deployments[name]
		if d == nil {
			return nil, notReady{ServiceReasonNotCreated, "not created yet"}
		}
		svc = &v1alpha1.ServiceReplicaStatus{
			ComponentKind: v1alpha1.ComponentKindDeployment, ComponentName: d.Name, ComponentNames: []string{d.Name},
			Replicas: d.Status.Replicas, UpdatedReplicas: d.Status.UpdatedReplicas,
			ReadyReplicas: d.Status.ReadyReplicas, AvailableReplicas: d.Status.AvailableReplicas,
		}
		why = deploymentNotReady(d, want, obs.Pods[name])
	}
	// A claim the service mounts that does not exist explains its pods better than "pending".
	if why.reason != "" {
		for _, vm := range s.VolumeMounts {
			if slices.Contains(obs.MissingPVCs, vm.Name) {
				why.reason = ServiceReasonMissingPVC
			}
		}
	}
	svc.ScheduledReplicas = scheduled(obs.Pods[name])
	svc.Reason, svc.Message = why.reason, why.message
	return svc, why
}

// notReady is why a service is not ready: a typed reason and the message of the Ready
// condition's part about it. Zero when it is ready.
type notReady struct{ reason, message string }

// Typed reasons of status.services[*].reason: upstream's strings where it has them
// (insufficient_capacity, pods_not_ready, updating), the same style elsewhere. (The Ready
// condition's reasons are the CamelCase Reason* constants.)
const (
	ServiceReasonInsufficientCapacity = "insufficient_capacity"
	ServiceReasonUnschedulable        = "unschedulable"
	ServiceReasonImagePull            = "image_pull"
	ServiceReasonCrashLoop            = "crash_loop"
	ServiceReasonProbeFailing         = "probe_failing"
	ServiceReasonPodsNotCreated       = "pods_not_created"
	ServiceReasonProgressDeadline     = "progress_deadline"
	ServiceReasonPendingPVC           = "pending_pvc"
	ServiceReasonMissingPVC           = "missing_pvc"
	ServiceReasonUpdating             = "updating"
	ServiceReasonPodsNotReady         = "pods_not_ready"
	ServiceReasonNotCreated           = "not_created"
)

// deploymentNotReady says why a Deployment does not have its replicas ready (zero when it has).
func deploymentNotReady(d *appsv1.Deployment, want int32, pods []corev1.Pod) notReady {
	if d.Status.ObservedGeneration < d.Generation {
		return notReady{ServiceReasonUpdating, "rollout not observed yet"}
	}
	// Pods the ReplicaSet could not create (Pod Security admission, a quota) leave the
	// Deployment at 0 updated replicas for good; its ReplicaFailure condition says why.
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue {
			return notReady{ServiceReasonPodsNotCreated, "pods cannot be created (" + c.Reason + ": " + c.Message + ")"}
		}
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
			return withPods(notReady{ServiceReasonProgressDeadline, fmt.Sprintf("rollout stuck past its progress deadline, %d/%d replicas ready", d.Status.ReadyReplicas, want)}, pods)
		}
	}
	if d.Status.UpdatedReplicas < want {
		return notReady{ServiceReasonUpdating, fmt.Sprintf("%d/%d replicas updated", d.Status.UpdatedReplicas, want)}
	}
	if d.Status.ReadyReplicas >= want && d.Status.Replicas == want {
		return notReady{}
	}
	return withPods(notReady{ServiceReasonPodsNotReady, fmt.Sprintf("%d/%d replicas ready", d.Status.ReadyReplicas, want)}, pods)
}

// leaderWorkerSetNotReady says why a LeaderWorkerSet does not have its groups ready (zero when
// it has). A group is ready when its leader and every worker are; a pod that cannot be placed
// (the scheduler's reason) or does not start is named.
func leaderWorkerSetNotReady(l *lwsv1.LeaderWorkerSet, want int32, pods []corev1.Pod) notReady {
	if l.Status.UpdatedReplicas < want && l.Status.ReadyReplicas >= want {
		return notReady{ServiceReasonUpdating, fmt.Sprintf("%d/%d groups updated", l.Status.UpdatedReplicas, want)}
	}
	if l.Status.ReadyReplicas >= want && l.Status.Replicas == want {
		return notReady{}
	}
	return withPods(notReady{ServiceReasonPodsNotReady, fmt.Sprintf("%d/%d groups of %d pods ready", l.Status.ReadyReplicas, want, ptr.Deref(l.Spec.LeaderWorkerTemplate.Size, 1))}, pods)
}

// withPods adds the first pod's problem to why: its words to the message, its type as the
// reason (a more precise one than the workload's).
func withPods(why notReady, pods []corev1.Pod) notReady {
	if p := firstPodProblem(pods); p.message != "" {
		why.message += " (" + p.message + ")"
		if p.reason != "" {
			why.reason = p.reason
		}
	}
	return why
}

// podProblem names the first pod that cannot be scheduled or whose container is waiting.
func podProblem(pods []corev1.Pod) string { return firstPodProblem(pods).message }

// firstPodProblem is the first pod (by name) that cannot be scheduled or whose container is
// waiting, classified.
func firstPodProblem(pods []corev1.Pod) notReady {
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	for _, p := range pods {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Message != "" {
				return notReady{schedulingReason(c.Message), "pod " + p.Name + " " + c.Reason + ": " + c.Message}
			}
		}
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil && w.Reason != "" {
				msg := "pod " + p.Name + " " + w.Reason
				// A restarting container's last end says why it keeps dying (OOMKilled).
				if t := cs.LastTerminationState.Terminated; t != nil && w.Reason == "CrashLoopBackOff" {
					msg += fmt.Sprintf(", last exit %d %s", t.ExitCode, t.Reason)
				}
				return notReady{waitingReason(w.Reason), msg}
			}
		}
		// Running and past its startup probe, yet not ready: the readiness probe fails. (Not yet
		// started is a model still loading, not a problem.)
		for _, cs := range p.Status.ContainerStatuses {
			if cs.State.Running != nil && cs.Started != nil && *cs.Started && !cs.Ready && p.DeletionTimestamp == nil {
				return notReady{ServiceReasonProbeFailing, "pod " + p.Name + " container " + cs.Name + " running but not ready (readiness probe failing)"}
			}
		}
	}
	return notReady{}
}

// schedulingReason types the scheduler's message: a claim not bound, too little of a resource
// (CPU, memory, GPUs, pods), or another filter (taints, affinity, node selector).
func schedulingReason(msg string) string {
	switch {
	case strings.Contains(msg, "PersistentVolumeClaim") || strings.Contains(msg, "persistentvolumeclaim"):
		return ServiceReasonPendingPVC
	case strings.Contains(msg, "Insufficient ") || strings.Contains(msg, "Too many pods"):
		return ServiceReasonInsufficientCapacity
	}
	return ServiceReasonUnschedulable
}

// waitingReason types a container's waiting reason.
func waitingReason(reason string) string {
	switch reason {
	case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull":
		return ServiceReasonImagePull
	case "CrashLoopBackOff":
		return ServiceReasonCrashLoop
	}
	return ServiceReasonPodsNotReady
}

// scheduled counts the pods bound to a node (the cache keeps their PodScheduled condition).
func scheduled(pods []corev1.Pod) int32 {
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
