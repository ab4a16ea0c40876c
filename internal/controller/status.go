package controller

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	lwsv1 "sigs.k8s.io/lws/api/leaderworkerset/v1"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/capacity"
	"github.com/dynamo-infra/dynamo-infra/internal/diagnose"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
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
	ReasonMultinodeUnavailable = v1alpha1.ReasonMultinodeUnavailable

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
	// Capacity holds, by service name, how much is free for a service short of an NVIDIA
	// resource on the nodes its pods may use (from the capacity view).
	Capacity map[string]capacity.Fit
	// CapacityShort: a service is short of capacity; CapacityWaiting: the view has no
	// snapshot yet for it. Either way the graph is looked at again (Reconciler.requeue).
	CapacityShort, CapacityWaiting bool
	// Topology: the graph has a topology constraint; Placement is where its scopes' pods run.
	Topology  bool
	Placement []v1alpha1.TopologyPlacement
	// PlacementUnknown says why the placement could not be verified (nodes not readable).
	PlacementUnknown string
	// PlanOn: the operator plans graphs (it has a capacity view); Schedulable is a new verdict
	// (nil: keep the last).
	PlanOn      bool
	Schedulable *metav1.Condition
	// Held says why the graph's change was not applied (it waits for capacity); "" when applied.
	Held string
	// Old are, by service, the workloads of old worker generations a rollout drains: their
	// replicas count in the service's (not in its updated replicas). RollingUpdate is the
	// rollout's status.
	Old           map[string][]oldWorkload
	RollingUpdate *v1alpha1.RollingUpdateStatus
	// Restart is status.restart (internal/restart).
	Restart *v1alpha1.RestartStatus
}

// ComputeStatus rolls the children up into the graph's status: per-service replica counts,
// state, and the Ready condition (via meta.SetStatusCondition, so its transition time only moves
// when its status does). reconcileErr, when set, makes the graph failed.
func ComputeStatus(g *graph.Graph, obs Observed, reconcileErr error) v1alpha1.DynamoGraphDeploymentStatus {
	st := *g.Status.DeepCopy()
	st.Services = map[string]v1alpha1.ServiceReplicaStatus{}
	var notReady []string
	names := g.Names()
	for _, c := range g.Components {
		name := c.Name
		svc, why := serviceStatus(c, obs)
		if svc != nil {
			st.Services[name] = *svc
		}
		if !why.Ready() {
			notReady = append(notReady, name+": "+why.Message)
		}
	}
	st.ReadyServices = fmt.Sprintf("%d/%d", len(names)-len(notReady), len(names))
	for _, p := range obs.MissingPVCs {
		notReady = append(notReady, "PVC "+p+" not found (create it, or set create: true in spec.pvcs)")
	}
	cond := metav1.Condition{Type: ConditionReady, ObservedGeneration: g.Generation}
	switch {
	case reconcileErr != nil:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, ReasonReconcileFailed, reconcileErr.Error()
		var conflict *ConflictError
		var unimplemented *graph.UnimplementedError
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
	case obs.Held != "":
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, ReasonWaitingForCapacity, obs.Held
		st.State = StatePending
	case len(notReady) > 0:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, ReasonResourcesNotReady, "Resources not ready: "+strings.Join(notReady, "; ")
		st.State = StatePending
	default:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionTrue, ReasonAllResourcesReady, "All services have their replicas ready"
		st.State = StateSuccessful
	}
	meta.SetStatusCondition(&st.Conditions, cond)
	st.RollingUpdate = obs.RollingUpdate
	st.Restart = obs.Restart
	if reconcileErr == nil || obs.Topology {
		setPlacement(&st, g, obs)
	}
	if reconcileErr == nil {
		setSchedulable(&st, g, obs)
		setModelsServed(&st, g)
	}
	if reconcileErr == nil {
		st.ObservedGeneration = g.Generation
	}
	return st
}

// setModelsServed sets ModelsServed for a graph with a frontend and workers: False when a
// frontend runs and every worker service asks for 0 replicas (the models vanish from
// /v1/models), True otherwise; removed from a graph without both.
func setModelsServed(st *v1alpha1.DynamoGraphDeploymentStatus, g *graph.Graph) {
	var frontends, workers, running []string
	for _, c := range g.Components {
		switch {
		case c.Type == v1alpha1.ComponentFrontend && c.Replicas > 0:
			frontends = append(frontends, c.Name)
		case graph.IsWorker(c.Type):
			workers = append(workers, c.Name)
			if c.Replicas > 0 {
				running = append(running, c.Name)
			}
		}
	}
	if len(frontends) == 0 || len(workers) == 0 {
		meta.RemoveStatusCondition(&st.Conditions, v1alpha1.ConditionModelsServed)
		return
	}
	cond := metav1.Condition{Type: v1alpha1.ConditionModelsServed, ObservedGeneration: g.Generation, Status: metav1.ConditionTrue,
		Reason: v1alpha1.ReasonWorkersRunning, Message: "worker services with replicas: " + strings.Join(running, ", ")}
	if len(running) == 0 {
		cond.Status, cond.Reason = metav1.ConditionFalse, v1alpha1.ReasonWorkersScaledToZero
		cond.Message = fmt.Sprintf("every worker service (%s) is scaled to 0 while %s runs: their models vanish from its /v1/models until one scales up",
			strings.Join(workers, ", "), strings.Join(frontends, ", "))
	}
	meta.SetStatusCondition(&st.Conditions, cond)
}

// serviceStatus is a service's replica counts from its workload (a Deployment, or a
// LeaderWorkerSet counted in groups), its scheduled pods, and why it is not ready (a typed
// reason and a message; none when it is ready). A workload not created yet has no counts.
func serviceStatus(c *graph.Component, obs Observed) (*v1alpha1.ServiceReplicaStatus, diagnose.Verdict) {
	name := c.Name
	why := diagnose.Service(c, obs.Deployments[name], obs.LeaderWorkerSets[name], obs.Pods[name], obs.MissingPVCs)
	var svc *v1alpha1.ServiceReplicaStatus
	if l := obs.LeaderWorkerSets[name]; c.Multinode() && l != nil {
		svc = &v1alpha1.ServiceReplicaStatus{
			ComponentKind: v1alpha1.ComponentKindLeaderWorkerSet, ComponentName: l.Name, ComponentNames: []string{l.Name},
			Replicas: l.Status.Replicas, UpdatedReplicas: l.Status.UpdatedReplicas,
			ReadyReplicas: diagnose.LeaderWorkerSetReady(l, obs.Pods[name]), AvailableReplicas: diagnose.LeaderWorkerSetReady(l, obs.Pods[name]),
		}
	} else if d := obs.Deployments[name]; !c.Multinode() && d != nil {
		svc = &v1alpha1.ServiceReplicaStatus{
			ComponentKind: v1alpha1.ComponentKindDeployment, ComponentName: d.Name, ComponentNames: []string{d.Name},
			Replicas: d.Status.Replicas, UpdatedReplicas: d.Status.UpdatedReplicas,
			ReadyReplicas: d.Status.ReadyReplicas, AvailableReplicas: d.Status.AvailableReplicas,
		}
	} else {
		return nil, why // not created yet: no counts
	}
	svc.RuntimeNamespace = c.DynamoNamespace
	svc.ScheduledReplicas = diagnose.Scheduled(obs.Pods[name])
	// While a rollout drains an old generation, the service's replicas and ready replicas are
	// both generations'; its updated replicas the new one's (the original's aggregation).
	for _, o := range obs.Old[name] {
		svc.ComponentNames = append(svc.ComponentNames, o.obj.GetName())
		svc.Replicas += statusReplicas(o.obj)
		svc.ReadyReplicas += o.state.Ready
		svc.AvailableReplicas += o.state.Available
		svc.ScheduledReplicas += diagnose.Scheduled(o.pods)
	}
	slices.Sort(svc.ComponentNames)
	if fit, ok := obs.Capacity[name]; ok && why.Reason == diagnose.ReasonInsufficientCapacity && fit.NVIDIA {
		svc.Capacity = &v1alpha1.ServiceCapacity{Resource: fit.Resource, PerPod: fit.PerPod,
			CandidateNodes: int32(fit.Candidates), NodesWithResource: int32(fit.Having), Product: fit.Product,
			MostFree: fit.BestFree, MostFreeNode: fit.Best, NodesWithRoom: int32(fit.WithRoom)}
		why.Message += "; " + capacitySentence(fit)
	}
	svc.Reason, svc.Message = why.Reason, why.Message
	return svc, why
}

// capacitySentence is the capacity view's figure in the status message: "the most free on a
// node it may use is 4 (h100-3)".
func capacitySentence(f capacity.Fit) string {
	if f.Having == 0 {
		return "no node it may use has " + f.Resource
	}
	return fmt.Sprintf("the most free on a node it may use is %d (%s)", f.BestFree, f.Best)
}

// podProblem is what the status says about a pod (the predicate compares it before and after).
func podProblem(pods []corev1.Pod) string { return diagnose.FirstPodProblem(pods).Message }

// statusReplicas is how many replicas (groups) a workload runs, as its status counts them.
func statusReplicas(obj client.Object) int32 {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return o.Status.Replicas
	case *lwsv1.LeaderWorkerSet:
		return o.Status.Replicas
	}
	return 0
}
