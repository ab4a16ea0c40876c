// Package explain builds `dynamoctl explain`'s answer: for every service of a graph, one causal
// chain — the graph's service → its Deployment or LeaderWorkerSet → ReplicaSet → the pod that
// shows the problem → recent events → the nodes it could run on — ending in one remediation
// sentence. It is pure: the command reads the cluster, Build and BuildPlan only look. The
// classification is diagnose's, the one the operator writes into status, so the two never
// disagree on the same objects.
package explain

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/duration"
	lwsv1 "sigs.k8s.io/lws/api/leaderworkerset/v1"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/capacity"
	"github.com/dynamo-infra/dynamo-infra/internal/diagnose"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/inventory"
	"github.com/dynamo-infra/dynamo-infra/internal/restart"
)

// SchemaVersion versions the JSON/YAML document of `dynamoctl explain` (docs/explain.md). Fields
// are only added within a version.
const SchemaVersion = "dynamo-infra.dev/explain/v1"

// Modes of a report.
const (
	// ModeLive explains a graph on the cluster from its children, pods and events.
	ModeLive = "live"
	// ModePlan explains a graph file not applied yet: where its GPU pods would go.
	ModePlan = "plan"
)

// Kinds of the links of a chain.
const (
	LinkService         = "Service"
	LinkDeployment      = "Deployment"
	LinkLeaderWorkerSet = "LeaderWorkerSet"
	LinkReplicaSet      = "ReplicaSet"
	LinkPod             = "Pod"
	LinkEvents          = "Events"
	LinkNodes           = "Nodes"
	LinkPlacement       = "Placement"
)

// Report is the whole answer.
type Report struct {
	SchemaVersion string    `json:"schemaVersion"`
	Graph         Graph     `json:"graph"`
	Services      []Service `json:"services"`
	// Notes say what could not be read (events, nodes) and what was approximated.
	Notes []string `json:"notes,omitempty"`
}

// Graph is the graph explained.
type Graph struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Mode      string `json:"mode"`
	// Ready: every service has its replicas ready (live), or every GPU pod has a place (plan).
	Ready bool `json:"ready"`
	// ReadyServices is "ready/total".
	ReadyServices string `json:"readyServices"`
	// Operator is what the operator last wrote into status (live mode), to compare with.
	Operator *OperatorStatus `json:"operator,omitempty"`
	// Problems keep the graph from Ready without belonging to a service: a claim in spec.pvcs
	// that no service mounts and that does not exist.
	Problems []string `json:"problems,omitempty"`
}

// OperatorStatus is the graph's status as the operator last wrote it.
type OperatorStatus struct {
	State              string `json:"state,omitempty"`
	Reason             string `json:"reason,omitempty"`
	Message            string `json:"message,omitempty"`
	ObservedGeneration int64  `json:"observedGeneration"`
	Generation         int64  `json:"generation"`
	// Schedulable is the operator's plan of the whole graph once the scheduler refused a pod:
	// DoesNotFit (and why), or PlacementExists — the scheduler's order, not capacity, holds
	// the pods (dynamoctl plan dgd/NAME shows the placement).
	Schedulable *Condition `json:"schedulable,omitempty"`
	// PlacementVerified is whether the pods run where the graph's topologyConstraint says.
	PlacementVerified *Condition `json:"placementVerified,omitempty"`
}

// Condition is one of the operator's conditions, as written.
type Condition struct {
	Status  string `json:"status"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// Service is one service's chain.
type Service struct {
	Name  string `json:"name"`
	Ready bool   `json:"ready"`
	// Reason is diagnose's typed reason (live), or insufficient_capacity / unschedulable (plan).
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	Chain   []Link `json:"chain"`
	// Remediation is one sentence: what to change so the service comes up.
	Remediation string `json:"remediation,omitempty"`
}

// Link is one object of a chain, or the events or nodes seen about it.
type Link struct {
	Kind    string   `json:"kind"`
	Name    string   `json:"name,omitempty"`
	Summary string   `json:"summary"`
	Details []string `json:"details,omitempty"`
}

// Live is what the command read about a graph on the cluster.
type Live struct {
	Graph *graph.Graph
	// Deployments and LeaderWorkerSets by service name; missing: not created (yet).
	Deployments      map[string]*appsv1.Deployment
	LeaderWorkerSets map[string]*lwsv1.LeaderWorkerSet
	// ReplicaSets of the graph's Deployments (matched to them by owner).
	ReplicaSets []appsv1.ReplicaSet
	// Pods of the graph (matched to services by the nvidia.com/selector label).
	Pods []corev1.Pod
	// Events about the workloads, ReplicaSets and pods in the chain.
	Events []corev1.Event
	// MissingPVCs are claims the graph references, does not create, and that do not exist.
	MissingPVCs []string
	// Nodes, when read, are the nodes the problem pods could run on and their GPUs' usage.
	Nodes *Nodes
	// ReadNodes: read the nodes even for a service whose status carries the operator's
	// capacity figure (status.services[].capacity), instead of using it.
	ReadNodes bool
	Notes     []string
	Now       time.Time
}

// Nodes is what was read to say how much is free where a pod could go.
type Nodes struct {
	// Items are the nodes read (all of them, or those matching Selector).
	Items []corev1.Node
	// Selector is the label selector the nodes were listed with ("" for all).
	Selector string
	// Usage is the NVIDIA requests of the active pods on the nodes read.
	Usage []inventory.PodUsage
	// Read names the nodes whose pods were read; nil: every node's. The others have no more
	// allocatable than the most free on a node read (UsagePlan).
	Read map[string]bool
}

// Build explains a graph on the cluster.
func Build(in Live) Report {
	g := in.Graph
	r := Report{SchemaVersion: SchemaVersion, Notes: in.Notes, Graph: Graph{Name: g.Name, Namespace: g.Namespace, Mode: ModeLive,
		Operator: operatorStatus(g)}}
	podsBySelector := map[string][]corev1.Pod{}
	for _, p := range in.Pods {
		podsBySelector[p.Labels[v1alpha1.LabelSelector]] = append(podsBySelector[p.Labels[v1alpha1.LabelSelector]], p)
	}
	ready := 0
	for _, c := range g.Components {
		s := explainService(in, c, podsBySelector[c.ChildName])
		if s.Ready {
			ready++
		}
		r.Services = append(r.Services, s)
	}
	r.Graph.ReadyServices = fmt.Sprintf("%d/%d", ready, len(r.Services))
	// A missing claim keeps the graph from Ready even when no service mounts it (the operator
	// says so too): say it at the graph's level.
	for _, p := range in.MissingPVCs {
		r.Graph.Problems = append(r.Graph.Problems, "PersistentVolumeClaim "+p+" (spec.pvcs) does not exist in "+g.Namespace+": create it, or set create: true for it")
	}
	// A graph that waits for capacity: the operator did not apply its change (the services
	// above may still run the previous one).
	held := r.Graph.Operator.Reason == v1alpha1.ReasonWaitingForCapacity
	if held {
		r.Graph.Problems = append(r.Graph.Problems, "the operator has not applied the graph's change: it waits for capacity ("+v1alpha1.AnnotationWaitForCapacity+
			") and its plan does not fit (Schedulable); free capacity, lower replicas or GPUs per pod, or remove the annotation to apply it anyway")
	}
	// A rolling update of the workers in flight: its old generation serves while the new one
	// comes up (the services above are the new generation's); why it holds, when it does.
	if ru := g.Status.RollingUpdate; ru != nil && (ru.Phase == "Pending" || ru.Phase == "InProgress") {
		line := fmt.Sprintf("a rolling update of the workers is in progress (from generation %s to %s; dynamoctl rollout status dgd/%s)",
			g.CurrentWorkerHash, g.WorkerHash, g.Name)
		if ru.Message != "" {
			line += ": " + ru.Message
		}
		r.Graph.Problems = append(r.Graph.Problems, line)
	}
	// A restart in flight (spec.restart.id): which service's pods are being replaced.
	if rs := g.Status.Restart; rs != nil && rs.Phase == v1alpha1.RestartPhaseRestarting {
		r.Graph.Problems = append(r.Graph.Problems, fmt.Sprintf("restart %s is in progress (%s): replacing the pods of %s",
			rs.ObservedID, restart.Strategy(g.Restart), strings.Join(rs.InProgress, ", ")))
	}
	r.Graph.Ready = ready == len(r.Services) && len(in.MissingPVCs) == 0 && !held
	return r
}

func operatorStatus(g *graph.Graph) *OperatorStatus {
	st := &OperatorStatus{State: g.Status.State, ObservedGeneration: g.Status.ObservedGeneration, Generation: g.Generation}
	if c := meta.FindStatusCondition(g.Status.Conditions, "Ready"); c != nil {
		st.Reason, st.Message = c.Reason, c.Message
	}
	condition := func(t string) *Condition {
		if c := meta.FindStatusCondition(g.Status.Conditions, t); c != nil {
			return &Condition{Status: string(c.Status), Reason: c.Reason, Message: c.Message}
		}
		return nil
	}
	st.Schedulable, st.PlacementVerified = condition(v1alpha1.ConditionSchedulable), condition(v1alpha1.ConditionPlacementVerified)
	return st
}

// explainService builds one service's chain from its workload down.
func explainService(in Live, c *graph.Component, pods []corev1.Pod) Service {
	g, name := in.Graph, c.Name
	want := c.Replicas
	out := Service{Name: name}
	out.Chain = append(out.Chain, serviceLink(c))
	verdict := diagnose.Service(c, in.Deployments[name], in.LeaderWorkerSets[name], pods, in.MissingPVCs)
	var owners []string // the objects whose events belong to this chain
	noLWS := operatorReason(g) == v1alpha1.ReasonMultinodeUnavailable
	if size := c.NodeCount; c.Multinode() {
		if l := in.LeaderWorkerSets[name]; l == nil {
			summary := "not found"
			if noLWS {
				summary = "not created: this cluster does not serve LeaderWorkerSets (leaderworkerset.x-k8s.io/v1)"
			}
			out.Chain = append(out.Chain, Link{Kind: LinkLeaderWorkerSet, Name: c.WorkloadName, Summary: summary})
		} else {
			out.Chain = append(out.Chain, Link{Kind: LinkLeaderWorkerSet, Name: l.Name,
				Summary: fmt.Sprintf("%d/%d groups of %d pods ready, %d updated", l.Status.ReadyReplicas, want, size, l.Status.UpdatedReplicas)})
			owners = append(owners, "LeaderWorkerSet/"+l.Name)
		}
	} else {
		if d := in.Deployments[name]; d == nil {
			out.Chain = append(out.Chain, Link{Kind: LinkDeployment, Name: c.WorkloadName, Summary: "not found"})
		} else {
			out.Chain = append(out.Chain, deploymentLink(d, want, pods))
			owners = append(owners, "Deployment/"+d.Name)
			for _, l := range replicaSetLinks(d, in.ReplicaSets) {
				out.Chain = append(out.Chain, l)
				owners = append(owners, "ReplicaSet/"+l.Name)
			}
		}
	}
	out.Ready, out.Reason, out.Message = verdict.Ready(), verdict.Reason, verdict.Message
	if out.Ready {
		return out
	}
	problem := podByName(pods, verdict.Pod.Pod)
	if problem != nil {
		out.Chain = append(out.Chain, podLink(problem, verdict.Pod))
		owners = append(owners, "Pod/"+problem.Name)
	} else if len(pods) > 0 {
		out.Chain = append(out.Chain, Link{Kind: LinkPod, Summary: podCounts(pods)})
	}
	if ev := eventsLink(in.Events, owners, in.Now); ev != nil {
		out.Chain = append(out.Chain, *ev)
	}
	var view *nodeView
	pod := problemSpec(in, out)
	switch {
	case pod == nil || !needsNodes(verdict.Reason):
	case statusCapacity(in, out, pod, verdict.Pod.Scheduler) != nil:
		view = operatorView(statusCapacity(in, out, pod, verdict.Pod.Scheduler), verdict.Pod.Scheduler, c.NodeCount)
	case in.Nodes != nil:
		view = newNodeView(pod, in.Nodes, verdict.Pod.Scheduler, c.NodeCount)
	}
	if view != nil {
		out.Chain = append(out.Chain, view.link())
	}
	out.Remediation = remedy(remedyInput{graph: g, component: c, verdict: verdict, pod: problem, nodes: view,
		missingPVCs: in.MissingPVCs})
	if noLWS && verdict.Reason == diagnose.ReasonNotCreated {
		// The operator applies nothing of a graph with a multi-node service on a cluster
		// without LeaderWorkerSet: every service waits on that, not on the operator running.
		out.Remediation = lwsRemedy(name, c.Multinode())
	}
	return out
}

// operatorReason is the reason of the graph's Ready condition ("" without one).
func operatorReason(g *graph.Graph) string {
	if c := meta.FindStatusCondition(g.Status.Conditions, "Ready"); c != nil {
		return c.Reason
	}
	return ""
}

// lwsRemedy is what a service of a graph held for want of LeaderWorkerSet needs.
func lwsRemedy(svc string, multinode bool) string {
	if multinode {
		return fmt.Sprintf("%s is multi-node: it runs as a LeaderWorkerSet, which this cluster does not serve — install LeaderWorkerSet (https://lws.sigs.k8s.io, v0.8 or later) and restart dynamo-operator, or remove its multinode", svc)
	}
	return fmt.Sprintf("nothing of the graph is applied while its multi-node services wait for LeaderWorkerSet, %s included: install LeaderWorkerSet (https://lws.sigs.k8s.io) and restart dynamo-operator, or remove multinode from them", svc)
}

// needsNodes: only a pod the scheduler could not place is explained by the nodes.
func needsNodes(reason string) bool {
	return reason == diagnose.ReasonInsufficientCapacity || reason == diagnose.ReasonUnschedulable
}

// serviceLink says what the graph asks of the service: replicas (groups), GPUs per pod.
func serviceLink(c *graph.Component) Link {
	l := Link{Kind: LinkService, Name: c.Name}
	if c.Multinode() {
		l.Summary = fmt.Sprintf("%d replica(s) × %d nodes", c.Replicas, c.NodeCount)
	} else {
		l.Summary = fmt.Sprintf("%d replica(s)", c.Replicas)
	}
	if c.Type != "" {
		l.Summary = c.Type + ", " + l.Summary
	}
	if res := resourcesText(c); res != "" {
		l.Summary += ", " + res + " per pod"
	}
	if c.ScalingAdapter != "" {
		l.Summary += ", replicas from dgdsa/" + c.ScalingAdapter
	}
	return l
}

// resourcesText is the GPUs a component's pod is limited to: "8 nvidia.com/gpu".
func resourcesText(c *graph.Component) string {
	main := c.MainContainer()
	if main == nil {
		return ""
	}
	q, ok := main.Resources.Limits[c.GPUResource]
	if !ok || q.IsZero() {
		return ""
	}
	return q.String() + " " + string(c.GPUResource)
}

func deploymentLink(d *appsv1.Deployment, want int32, pods []corev1.Pod) Link {
	l := Link{Kind: LinkDeployment, Name: d.Name, Summary: fmt.Sprintf("%d/%d ready, %d updated, %d scheduled",
		d.Status.ReadyReplicas, want, d.Status.UpdatedReplicas, diagnose.Scheduled(pods))}
	for _, c := range d.Status.Conditions {
		if c.Status != corev1.ConditionTrue || c.Type == appsv1.DeploymentReplicaFailure {
			l.Details = append(l.Details, fmt.Sprintf("%s=%s %s: %s", c.Type, c.Status, c.Reason, c.Message))
		}
	}
	return l
}

// replicaSetLinks are the Deployment's ReplicaSets that still have pods or are its newest,
// newest first: more than one is a rollout in progress.
func replicaSetLinks(d *appsv1.Deployment, all []appsv1.ReplicaSet) []Link {
	var mine []appsv1.ReplicaSet
	for _, rs := range all {
		for _, o := range rs.OwnerReferences {
			if o.UID == d.UID {
				mine = append(mine, rs)
			}
		}
	}
	sort.Slice(mine, func(i, j int) bool { return revision(&mine[i]) > revision(&mine[j]) })
	var out []Link
	for i, rs := range mine {
		if i > 0 && rs.Status.Replicas == 0 {
			continue
		}
		l := Link{Kind: LinkReplicaSet, Name: rs.Name, Summary: fmt.Sprintf("revision %s, %d/%d ready",
			rs.Annotations["deployment.kubernetes.io/revision"], rs.Status.ReadyReplicas, ptrOr(rs.Spec.Replicas, 0))}
		if i > 0 {
			l.Summary += " (old: being replaced)"
		}
		for _, c := range rs.Status.Conditions {
			if c.Type == appsv1.ReplicaSetReplicaFailure && c.Status == corev1.ConditionTrue {
				l.Details = append(l.Details, c.Reason+": "+c.Message)
			}
		}
		out = append(out, l)
	}
	return out
}

func revision(rs *appsv1.ReplicaSet) int {
	n, _ := strconv.Atoi(rs.Annotations["deployment.kubernetes.io/revision"])
	return n
}

func ptrOr(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

func podByName(pods []corev1.Pod, name string) *corev1.Pod {
	for i := range pods {
		if pods[i].Name == name && name != "" {
			return &pods[i]
		}
	}
	return nil
}

// podLink is the pod that decided the verdict, with the scheduler's reasons one per line, or
// its container's state.
func podLink(p *corev1.Pod, pp diagnose.PodProblem) Link {
	l := Link{Kind: LinkPod, Name: p.Name, Summary: string(p.Status.Phase)}
	if p.Spec.NodeName != "" {
		l.Summary += " on " + p.Spec.NodeName
	}
	switch {
	case pp.Scheduler != "":
		l.Summary += ", not scheduled"
		for _, r := range diagnose.SchedulerReasons(pp.Scheduler) {
			switch {
			case r.Nodes > 0 && strings.HasPrefix(r.Reason, "node(s) "):
				l.Details = append(l.Details, fmt.Sprintf("%d %s", r.Nodes, r.Reason))
			case r.Nodes > 0:
				l.Details = append(l.Details, fmt.Sprintf("%d node(s): %s", r.Nodes, r.Reason))
			default:
				l.Details = append(l.Details, r.Reason)
			}
		}
	case pp.Waiting != "":
		l.Summary += ", container " + pp.Container + " " + pp.Waiting
		if pp.WaitingMessage != "" {
			l.Details = append(l.Details, pp.WaitingMessage)
		}
		if t := pp.LastExit; t != nil {
			l.Details = append(l.Details, fmt.Sprintf("last exit: code %d, %s", t.ExitCode, t.Reason))
		}
	case pp.Reason == diagnose.ReasonProbeFailing:
		l.Summary += ", container " + pp.Container + " running, not ready"
		if c := container(&p.Spec, pp.Container); c != nil && c.ReadinessProbe != nil {
			l.Details = append(l.Details, "readiness probe: "+probeText(c.ReadinessProbe))
		}
	}
	return l
}

func podCounts(pods []corev1.Pod) string {
	ready := 0
	for _, p := range pods {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready++
			}
		}
	}
	return fmt.Sprintf("%d pod(s), %d ready", len(pods), ready)
}

func container(spec *corev1.PodSpec, name string) *corev1.Container {
	for i := range spec.Containers {
		if spec.Containers[i].Name == name {
			return &spec.Containers[i]
		}
	}
	return nil
}

// probeText is "HTTP GET :9090/health every 10s, 3 failures".
func probeText(p *corev1.Probe) string {
	var what string
	switch {
	case p.HTTPGet != nil:
		what = fmt.Sprintf("HTTP GET :%s%s", p.HTTPGet.Port.String(), p.HTTPGet.Path)
	case p.TCPSocket != nil:
		what = "TCP :" + p.TCPSocket.Port.String()
	case p.Exec != nil:
		what = "exec " + strings.Join(p.Exec.Command, " ")
	case p.GRPC != nil:
		what = fmt.Sprintf("gRPC :%d", p.GRPC.Port)
	}
	return fmt.Sprintf("%s every %ds, %d failure(s)", what, max(p.PeriodSeconds, 10), max(p.FailureThreshold, 3))
}

// maxEvents is how many events a chain shows, newest first.
const maxEvents = 5

// eventsLink shows the newest events about the chain's objects ("Kind/name").
func eventsLink(events []corev1.Event, objects []string, now time.Time) *Link {
	var mine []corev1.Event
	for _, e := range events {
		if slices.Contains(objects, e.InvolvedObject.Kind+"/"+e.InvolvedObject.Name) {
			mine = append(mine, e)
		}
	}
	if len(mine) == 0 {
		return nil
	}
	sort.SliceStable(mine, func(i, j int) bool { return eventTime(&mine[i]).After(eventTime(&mine[j])) })
	l := &Link{Kind: LinkEvents, Summary: fmt.Sprintf("%d recent", len(mine))}
	for i, e := range mine {
		if i == maxEvents {
			break
		}
		count := ""
		if e.Count > 1 {
			count = fmt.Sprintf(" ×%d", e.Count)
		}
		l.Details = append(l.Details, fmt.Sprintf("%s ago %s %s%s %s/%s: %s", duration.HumanDuration(now.Sub(eventTime(&e))), e.Type, e.Reason, count,
			strings.ToLower(e.InvolvedObject.Kind), e.InvolvedObject.Name, strings.TrimSpace(e.Message)))
	}
	return l
}

// eventTime is when the event last happened (the newest of its timestamps).
func eventTime(e *corev1.Event) time.Time {
	t := e.LastTimestamp.Time
	if e.Series != nil && e.Series.LastObservedTime.After(t) {
		t = e.Series.LastObservedTime.Time
	}
	if e.EventTime.After(t) {
		t = e.EventTime.Time
	}
	if t.IsZero() {
		t = e.CreationTimestamp.Time
	}
	return t
}

// ChainObjects are the objects ("Kind/name") in the chains of the services not ready: whose
// events the command reads.
func ChainObjects(r Report) []string {
	var out []string
	for _, s := range r.Services {
		if s.Ready {
			continue
		}
		for _, l := range s.Chain {
			switch l.Kind {
			case LinkDeployment, LinkLeaderWorkerSet, LinkReplicaSet, LinkPod:
				if l.Name != "" && !slices.Contains(out, l.Kind+"/"+l.Name) {
					out = append(out, l.Kind+"/"+l.Name)
				}
			}
		}
	}
	return out
}

// NodeQuestion is a pod whose candidate nodes a report wants to show, and what the scheduler
// said about it.
type NodeQuestion struct {
	Spec      *corev1.PodSpec
	Scheduler string
}

// NodeQuestions are, of each service the scheduler cannot place, the pod it named (else its
// workload's template).
func NodeQuestions(in Live, r Report) []NodeQuestion {
	var out []NodeQuestion
	for _, s := range r.Services {
		if s.Ready || !needsNodes(s.Reason) {
			continue
		}
		q := NodeQuestion{Spec: problemSpec(in, s)}
		if q.Spec == nil {
			continue
		}
		for _, l := range s.Chain {
			if p := podByName(in.Pods, l.Name); l.Kind == LinkPod && p != nil {
				q.Scheduler = diagnose.FirstPodProblem([]corev1.Pod{*p}).Scheduler
			}
		}
		if statusCapacity(in, s, q.Spec, q.Scheduler) != nil {
			continue // the operator's figure answers it
		}
		out = append(out, q)
	}
	return out
}

// statusCapacity is the operator's capacity figure for a service short of capacity
// (status.services[].capacity), when it is about the resource the pod is short of now and the
// reader did not ask to read the nodes itself; nil otherwise.
func statusCapacity(in Live, s Service, spec *corev1.PodSpec, scheduler string) *v1alpha1.ServiceCapacity {
	if in.ReadNodes || s.Reason != diagnose.ReasonInsufficientCapacity {
		return nil
	}
	c := in.Graph.Status.Services[s.Name].Capacity
	if c == nil || c.Resource != capacity.ShortResource(spec, scheduler) {
		return nil
	}
	return c
}

// problemSpec is the spec of the pod in a service's chain, else its workload's template.
func problemSpec(in Live, s Service) *corev1.PodSpec {
	for _, l := range s.Chain {
		if l.Kind == LinkPod {
			if p := podByName(in.Pods, l.Name); p != nil {
				return &p.Spec
			}
		}
	}
	if d := in.Deployments[s.Name]; d != nil {
		return &d.Spec.Template.Spec
	}
	if l := in.LeaderWorkerSets[s.Name]; l != nil {
		return &l.Spec.LeaderWorkerTemplate.WorkerTemplate.Spec
	}
	return nil
}
