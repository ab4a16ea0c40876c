package explain

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/dynamo-infra/dynamo-infra/internal/diagnose"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
)

// remedyInput is what a remediation sentence may read.
type remedyInput struct {
	graph       *graph.Graph
	component   *graph.Component
	verdict     diagnose.Verdict
	pod         *corev1.Pod
	nodes       *nodeView
	missingPVCs []string
}

// remedy is the one sentence that ends a chain: what is wrong, in numbers where there are
// numbers, and what to change. It is written for the reason diagnose gave.
func remedy(in remedyInput) string {
	svc := in.component.Name
	pp := in.verdict.Pod
	switch in.verdict.Reason {
	case diagnose.ReasonInsufficientCapacity:
		return capacityRemedy(svc, in.nodes)
	case diagnose.ReasonUnschedulable:
		return unschedulableRemedy(svc, pp.Scheduler, in.nodes, in.pod)
	case diagnose.ReasonImagePull:
		image := "its image"
		if in.pod != nil {
			if c := container(&in.pod.Spec, pp.Container); c != nil {
				image = "image " + c.Image
			}
		}
		return fmt.Sprintf("%s's %s cannot be pulled (%s): check the image name and tag, that nodes can reach the registry, and the imagePullSecrets in its extraPodSpec", svc, image, pp.Waiting)
	case diagnose.ReasonCrashLoop:
		if t := pp.LastExit; t != nil && t.Reason == "OOMKilled" {
			limit := "its memory limit"
			if in.pod != nil {
				if c := container(&in.pod.Spec, pp.Container); c != nil {
					if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
						limit = "its memory limit (" + q.String() + ")"
					}
				}
			}
			return fmt.Sprintf("%s's container %s is killed for using too much memory (OOMKilled, exit %d): raise %s in resources.limits.memory, or lower the engine's memory use", svc, pp.Container, t.ExitCode, limit)
		}
		code := ""
		if t := pp.LastExit; t != nil {
			code = fmt.Sprintf(" with code %d", t.ExitCode)
		}
		return fmt.Sprintf("%s's container %s keeps exiting%s: read why with kubectl logs -n %s %s -c %s --previous", svc, pp.Container, code, in.graph.Namespace, pp.Pod, pp.Container)
	case diagnose.ReasonProbeFailing:
		return fmt.Sprintf("%s's container %s runs but its readiness probe fails: kubectl describe pod -n %s %s shows the probe's errors; check the probe's port and path, and the worker's log", svc, pp.Container, in.graph.Namespace, pp.Pod)
	case diagnose.ReasonPodsNotCreated:
		return notCreatedRemedy(svc, in.graph.Namespace, in.verdict.Message)
	case diagnose.ReasonProgressDeadline:
		return fmt.Sprintf("%s's rollout stopped progressing: kubectl describe deployment -n %s %s and the events above say which pods fail", svc, in.graph.Namespace, in.component.WorkloadName)
	case diagnose.ReasonMissingPVC:
		var claims []string
		for _, claim := range in.component.Claims() {
			if slices.Contains(in.missingPVCs, claim) {
				claims = append(claims, claim)
			}
		}
		return fmt.Sprintf("%s mounts PersistentVolumeClaim %s, which does not exist in %s: create it, or set create: true for it in spec.pvcs", svc, strings.Join(claims, ", "), in.graph.Namespace)
	case diagnose.ReasonPendingPVC:
		return fmt.Sprintf("a claim %s mounts is not bound: kubectl describe pvc -n %s says why (its StorageClass, the provisioner, or no matching PersistentVolume)", svc, in.graph.Namespace)
	case diagnose.ReasonUpdating:
		if pp.Reason != "" {
			// The rollout waits on a new pod that has a problem of its own: remedy that.
			inner := in
			inner.verdict = diagnose.Verdict{Reason: pp.Reason, Message: pp.Message, Pod: pp}
			return fmt.Sprintf("a rollout of %s is stalled on its new pods (%s); %s", svc, pp.Message, remedy(inner))
		}
		return fmt.Sprintf("a rollout of %s is in progress (%s): wait for it, e.g. dynamoctl get dgd -n %s %s -w", svc, in.verdict.Message, in.graph.Namespace, in.graph.Name)
	case diagnose.ReasonNotCreated:
		return fmt.Sprintf("the operator has not created %s's workload: check that dynamo-operator runs and what its log and the graph's Ready condition say", svc)
	}
	return fmt.Sprintf("%s's pods are starting (a model may still be loading): wait, or read their logs and startup probe if it lasts", svc)
}

// capacityRemedy: "VllmDecodeWorker needs 8 × NVIDIA-H100 (nvidia.com/gpu) on one node; the most
// free on any matching node is 4 (h100-3): free 4 GPUs there or lower tensor parallelism".
func capacityRemedy(svc string, v *nodeView) string {
	if v == nil || v.Resource == "" {
		return fmt.Sprintf("%s asks for more than any node it may use has free: free resources on matching nodes, add nodes, or lower its requests", svc)
	}
	if !v.NVIDIA {
		return fmt.Sprintf("%s needs %s %s per pod and %d matching node(s) have too little: lower its requests, free some on the nodes, or add nodes", svc, v.PerPodText, v.Resource, v.short)
	}
	if v.Having == 0 {
		return fmt.Sprintf("no node %s may use has %s: add GPU nodes that match its node selector, affinity and tolerations, or correct them (gpuType, extraPodSpec)", svc, v.Resource)
	}
	what := v.Resource
	if v.Product != "" {
		what = v.Product + " (" + v.Resource + ")"
	}
	where := "one node"
	if v.group > 1 {
		where = fmt.Sprintf("each of %d nodes", v.group)
	}
	if v.group > 1 {
		// A group is placed whole: what is short is nodes with room, not GPUs on one node.
		return fmt.Sprintf("%s needs %d × %s on %s; %d matching node(s) have that free: free %s on %d more node(s), or lower nodeCount or GPUs per node",
			svc, v.PerPod, what, where, v.WithRoom, gpus(v.PerPod), max(int(v.group)-v.WithRoom, 1))
	}
	return fmt.Sprintf("%s needs %d × %s on %s; the most free on any %snode is %d (%s): free %s there or lower tensor parallelism (GPUs per pod)",
		svc, v.PerPod, what, where, productNode(v.Product), v.BestFree, v.Best, gpus(v.PerPod-v.BestFree))
}

// unschedulableRemedy names the filter that left no node: the node selector or affinity
// matching no node, or taints on every node they match (named from the nodes: the scheduler
// only counts them), else the scheduler's first reason.
func unschedulableRemedy(svc, scheduler string, v *nodeView, pod *corev1.Pod) string {
	if v != nil && v.Candidates == 0 {
		switch {
		case v.selected == 0:
			return fmt.Sprintf("no Ready node matches %s's node selector/affinity%s: correct the labels it asks for (extraPodSpec.nodeSelector, affinity, gpuType) or label nodes", svc, selectorText(pod))
		case len(v.taints) > 0:
			return fmt.Sprintf("every node %s's node selector/affinity allows has a taint it does not tolerate (%s): add a toleration for %s to its extraPodSpec, or remove the taint",
				svc, v.taintList(), v.taints[0].taint)
		}
	}
	reasons := diagnose.SchedulerReasons(scheduler)
	for _, r := range reasons {
		if strings.Contains(r.Reason, "node affinity/selector") && len(reasons) == 1 {
			return fmt.Sprintf("no node matches %s's node selector/affinity%s: correct the labels it asks for (extraPodSpec.nodeSelector, affinity, gpuType) or label nodes", svc, selectorText(pod))
		}
	}
	if len(reasons) > 0 {
		return fmt.Sprintf("the scheduler places %s on no node (%s): change the constraint it names", svc, reasons[0].Reason)
	}
	return fmt.Sprintf("the scheduler places %s on no node: kubectl describe its pod for the scheduler's reason", svc)
}

// selectorText is " (pool=infra)" for a pod with a node selector, else "".
func selectorText(pod *corev1.Pod) string {
	if pod == nil || len(pod.Spec.NodeSelector) == 0 {
		return ""
	}
	return " (" + NodeSelector(&pod.Spec) + ")"
}

var podSecurityLevel = regexp.MustCompile(`PodSecurity "([a-z]+)`)

// notCreatedRemedy reads the ReplicaSet's failure: a quota, Pod Security, a missing service
// account.
func notCreatedRemedy(svc, ns, msg string) string {
	switch {
	case strings.Contains(msg, "exceeded quota"):
		return fmt.Sprintf("a ResourceQuota in namespace %s forbids %s's pods: raise the quota (kubectl describe resourcequota -n %s) or lower the service's replicas or requests", ns, svc, ns)
	case strings.Contains(msg, "violates PodSecurity"):
		level := "its level"
		if m := podSecurityLevel.FindStringSubmatch(msg); m != nil {
			level = `"` + m[1] + `"`
		}
		return fmt.Sprintf("namespace %s enforces Pod Security %s and %s's pods break it: drop the settings the message lists from its extraPodSpec, or run the graph in a namespace with a lower pod-security.kubernetes.io/enforce level", ns, level, svc)
	case strings.Contains(msg, "serviceaccount"):
		return fmt.Sprintf("%s's pods name a service account that does not exist in %s: create it or fix serviceAccountName", svc, ns)
	}
	return fmt.Sprintf("the API server refuses %s's pods: the message above says which admission check, fix that setting in the service", svc)
}

// productNode is "NVIDIA-H100-80GB-HBM3 " when every candidate has that product, else "matching ".
func productNode(product string) string {
	if product == "" {
		return "matching "
	}
	return product + " "
}

// gpus is "1 GPU" or "4 GPUs".
func gpus(n int64) string {
	if n == 1 {
		return "1 GPU"
	}
	return fmt.Sprintf("%d GPUs", n)
}
