package controller

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	lwsv1 "sigs.k8s.io/lws/api/leaderworkerset/v1"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/kubenode"
	"github.com/dynamo-infra/dynamo-infra/internal/restart"
	"github.com/dynamo-infra/dynamo-infra/internal/rollout"
)

// Events of a graph restart (ours; the original records none).
const (
	ReasonRestartStarted   = "RestartStarted"
	ReasonRestartCompleted = "RestartCompleted"
)

// planRestart takes the restart spec.restart asks for one step (internal/restart): it returns
// the graph with each service's nvidia.com/restartAt as this pass applies it, and
// status.restart. A service has restarted when each of its pods runs the id and is Ready, and
// there are as many as its replicas ask for (read from the cache: pods keep the annotation,
// TrimPod). A managed rolling update of the workers in flight (Pending or InProgress)
// supersedes a new id, as in the original.
func (r *Reconciler) planRestart(ctx context.Context, g *graph.Graph, rolling *v1alpha1.RollingUpdateStatus) (*graph.Graph, *v1alpha1.RestartStatus, error) {
	last := g.Status.Restart
	if g.Restart == nil && last == nil {
		return g, nil, nil // the common case: no restart ever asked for, nothing read
	}
	live := map[string]string{}
	for _, c := range g.Components {
		at, err := r.liveRestartAt(ctx, g.Namespace, c)
		if err != nil {
			return g, last, fmt.Errorf("read %s's restart annotation: %w", c.Name, err)
		}
		if at != "" {
			live[c.Name] = at
		}
	}
	var readErr error
	done := func(service string) bool {
		c := g.Component(service)
		if c == nil || g.Restart == nil {
			return false
		}
		ok, err := r.restarted(ctx, g.Namespace, c, g.Restart.ID)
		if err != nil && readErr == nil {
			readErr = err
		}
		return ok
	}
	inFlight := rolling != nil && (rolling.Phase == rollout.PhasePending || rolling.Phase == rollout.PhaseInProgress)
	st := restart.Step(g.Restart, last, inFlight, g.Names(), done)
	if readErr != nil {
		return g, last, fmt.Errorf("read the restart's pods: %w", readErr)
	}
	r.restartEvent(g, last, st)
	return g.WithRestartAt(restart.Annotations(g.Restart, st, g.Names(), live)), st, nil
}

// liveRestartAt is the restartAt annotation the component's workload carries now ("" for none
// or no workload yet).
func (r *Reconciler) liveRestartAt(ctx context.Context, namespace string, c *graph.Component) (string, error) {
	key := client.ObjectKey{Namespace: namespace, Name: c.WorkloadName}
	var annotations map[string]string
	if c.Multinode() {
		if !r.LWS {
			return "", nil
		}
		l := &lwsv1.LeaderWorkerSet{}
		if err := r.Client.Get(ctx, key, l); err != nil {
			return "", client.IgnoreNotFound(err)
		}
		annotations = l.Spec.LeaderWorkerTemplate.WorkerTemplate.Annotations
	} else {
		d := &appsv1.Deployment{}
		if err := r.Client.Get(ctx, key, d); err != nil {
			return "", client.IgnoreNotFound(err)
		}
		annotations = d.Spec.Template.Annotations
	}
	return annotations[v1alpha1.AnnotationRestartAt], nil
}

// restarted: every pod of the component that is not going away runs the id and is Ready, and
// there are as many as its replicas ask for (replicas × pods per replica).
func (r *Reconciler) restarted(ctx context.Context, namespace string, c *graph.Component, id string) (bool, error) {
	pods := &corev1.PodList{}
	if err := r.Client.List(ctx, pods, client.InNamespace(namespace), client.MatchingLabels{v1alpha1.LabelSelector: c.ChildName}); err != nil {
		return false, err
	}
	var n int64
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		if p.Annotations[v1alpha1.AnnotationRestartAt] != id || !kubenode.PodReady(p) {
			return false, nil
		}
		n++
	}
	return n >= c.Pods(), nil
}

// restartEvent records a restart starting (a new id taken up) and completing.
func (r *Reconciler) restartEvent(g *graph.Graph, last, st *v1alpha1.RestartStatus) {
	if st == nil {
		return
	}
	isNew := last == nil || last.ObservedID != st.ObservedID
	switch {
	case isNew && st.Phase == v1alpha1.RestartPhaseRestarting:
		r.event(g, corev1.EventTypeNormal, ReasonRestartStarted, "Restart",
			"Restart %s started (%s): %v first", st.ObservedID, restart.Strategy(g.Restart), st.InProgress)
	case st.Phase == v1alpha1.RestartPhaseCompleted && (isNew || last.Phase != v1alpha1.RestartPhaseCompleted):
		r.event(g, corev1.EventTypeNormal, ReasonRestartCompleted, "Restart",
			"Restart %s completed: every service's pods were replaced", st.ObservedID)
	}
}
