package preflight

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/version"

	"github.com/dynamo-infra/dynamo-infra/internal/inventory"
	"github.com/dynamo-infra/dynamo-infra/internal/kube"
	"github.com/dynamo-infra/dynamo-infra/internal/kubenode"
	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
)

// MinKubernetes is the oldest API server we support: the DGD CRD's CEL validation rules
// (x-kubernetes-validations, transition rules for immutable fields) are GA from 1.29.
const MinKubernetes = "v1.29.0"

const docsBase = "https://github.com/dynamo-infra/dynamo-infra/blob/main/docs/preflight.md#"

func checkAPI(_ context.Context, e *Env) Outcome {
	switch {
	case e.unreachable:
		return Outcome{Status: Fail, Detail: fmt.Sprintf("cannot reach %s: %v", e.Server(), kube.OneLine(e.connectErr)),
			Remediation: "check --kubeconfig/--context, that the cluster is running and that this machine can reach it (kubectl cluster-info)"}
	case apierrors.IsUnauthorized(e.connectErr):
		return Outcome{Status: Fail, Detail: fmt.Sprintf("%s rejected the credentials (401 Unauthorized)", e.Server()),
			Remediation: "refresh the credentials of the current context (kubectl config view --minify) and retry"}
	case e.connectErr != nil:
		return Outcome{Status: Error, Detail: fmt.Sprintf("version request failed: %v", kube.OneLine(e.connectErr))}
	}
	who := ""
	if e.user != "" {
		who = " as " + e.user
	}
	detail := fmt.Sprintf("Kubernetes %s at %s%s", e.server.GitVersion, e.Server(), who)
	v, err := version.ParseGeneric(e.server.GitVersion)
	if err != nil {
		return Outcome{Status: Warn, Detail: detail + "; cannot parse the version", Remediation: "check that the server is Kubernetes"}
	}
	if v.LessThan(version.MustParseGeneric(MinKubernetes)) {
		return Outcome{Status: Warn, Detail: fmt.Sprintf("%s; older than %s, the oldest supported", detail, MinKubernetes),
			Remediation: "upgrade the cluster: the DynamoGraphDeployment CRD relies on CEL validation rules (GA in 1.29)", DocsURL: docsBase + "api-connectivity"}
	}
	return Outcome{Status: Pass, Detail: detail}
}

const (
	defaultClassAnnotation     = "storageclass.kubernetes.io/is-default-class"
	defaultClassBetaAnnotation = "storageclass.beta.kubernetes.io/is-default-class"
)

// IsDefaultClass reports whether a StorageClass is marked default (GA or beta annotation).
func IsDefaultClass(sc *storagev1.StorageClass) bool {
	return sc.Annotations[defaultClassAnnotation] == "true" || sc.Annotations[defaultClassBetaAnnotation] == "true"
}

func checkStorageClass(ctx context.Context, e *Env) Outcome {
	l, err := e.Client.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		return apiError("list StorageClasses", err)
	}
	var all, defaults []string
	var def *storagev1.StorageClass
	for i := range l.Items {
		sc := &l.Items[i]
		all = append(all, sc.Name)
		if IsDefaultClass(sc) {
			defaults = append(defaults, sc.Name)
			def = sc
		}
	}
	switch {
	case len(all) == 0:
		return Outcome{Status: Fail, Detail: "no StorageClass: PVCs without storageClassName (model caches) will stay Pending",
			Remediation: "install a CSI driver or provisioner and mark its class default", DocsURL: docsBase + "default-storageclass"}
	case len(defaults) == 0:
		return Outcome{Status: Fail, Detail: fmt.Sprintf("no default StorageClass among %s", strings.Join(all, ", ")),
			Remediation: fmt.Sprintf(`kubectl patch storageclass %s -p '{"metadata":{"annotations":{"%s":"true"}}}'`, all[0], defaultClassAnnotation),
			DocsURL:     "https://kubernetes.io/docs/tasks/administer-cluster/change-default-storage-class/"}
	case len(defaults) > 1:
		return Outcome{Status: Warn, Detail: fmt.Sprintf("%d default StorageClasses (%s): which one a PVC gets is ambiguous", len(defaults), strings.Join(defaults, ", ")),
			Remediation: fmt.Sprintf(`keep one default: kubectl patch storageclass %s -p '{"metadata":{"annotations":{"%s":"false"}}}'`, defaults[1], defaultClassAnnotation),
			DocsURL:     "https://kubernetes.io/docs/tasks/administer-cluster/change-default-storage-class/"}
	}
	mode := storagev1.VolumeBindingImmediate
	if def.VolumeBindingMode != nil {
		mode = *def.VolumeBindingMode
	}
	return Outcome{Status: Pass, Detail: fmt.Sprintf("%s (provisioner %s, binding %s)", def.Name, def.Provisioner, mode)}
}

func checkGPUNodes(ctx context.Context, e *Env) Outcome {
	nodes, err := e.Nodes(ctx)
	if err != nil {
		return apiError("read nodes", err)
	}
	// The verdict needs the nodes alone; free GPUs need every active pod, which on a busy
	// cluster of thousands of nodes can take longer than the check has. Wait for them until
	// shortly before the deadline, then give the verdict without them, marked partial.
	type full struct {
		inv inventory.Inventory
		err error
	}
	done := make(chan full, 1)
	go func() {
		inv, err := e.Inventory(ctx)
		done <- full{inv, err}
	}()
	select {
	case f := <-done:
		if f.err != nil {
			return apiError("read pods", f.err)
		}
		return gpuNodesVerdict(f.inv, true)
	case <-shortlyBefore(ctx):
		return gpuNodesVerdict(inventory.Build(nodes, nil, inventory.BuildOptions{}), false)
	}
}

// shortlyBefore is closed a little before ctx's deadline (a fifth of the time left, at most
// 2 s), leaving a check time to report what it has; never when ctx has no deadline.
func shortlyBefore(ctx context.Context) <-chan time.Time {
	deadline, ok := ctx.Deadline()
	if !ok {
		return nil
	}
	left := time.Until(deadline)
	return time.After(left - min(2*time.Second, left/5))
}

// gpuNodesVerdict is the gpu-nodes outcome of an inventory; withPods is false when the pods
// could not be read in time, so free GPUs are unknown.
func gpuNodesVerdict(inv inventory.Inventory, withPods bool) Outcome {
	if inv.Totals.GPUNodes == 0 {
		return Outcome{Status: Fail, Detail: fmt.Sprintf("no GPU node among %d nodes (no nvidia.com/gpu.present=true label, no allocatable nvidia.com/gpu)", inv.Totals.Nodes),
			Remediation: "install the NVIDIA GPU Operator (or the device plugin) on the GPU nodes, or add GPU nodes", DocsURL: docsBase + "gpu-nodes"}
	}
	labelled, unlabelled := 0, 0
	for _, n := range inv.Nodes {
		if slices.Contains(n.Sources, inventory.SourceGFD) {
			labelled++
		} else {
			unlabelled++
		}
	}
	var pools []string
	for _, p := range inv.Pools {
		if withPods {
			// Free in the pool's unit: replicas of shared GPUs are not GPUs.
			pools = append(pools, fmt.Sprintf("%d× %s (%d GPUs, %s free)", len(p.Nodes), p.Name, p.GPUs, inventory.Amount(p.Free, p.Unit)))
		} else {
			pools = append(pools, fmt.Sprintf("%d× %s (%d GPUs)", len(p.Nodes), p.Name, p.GPUs))
		}
	}
	how := fmt.Sprintf("%d by GFD label", labelled)
	if unlabelled > 0 {
		how += fmt.Sprintf(", %d by allocatable nvidia.com/gpu only", unlabelled)
	}
	if !withPods {
		return Outcome{Status: Pass, Detail: fmt.Sprintf("%d GPU nodes (%s): %s; %d GPUs allocatable; partial: free GPUs not counted (the cluster's pods could not be listed in time)",
			inv.Totals.GPUNodes, how, strings.Join(pools, ", "), inv.Totals.Allocatable),
			Remediation: "raise --check-timeout to count free GPUs, or run dynamoctl gpus"}
	}
	detail := fmt.Sprintf("%d GPU nodes (%s): %s; %d of %d GPUs free", inv.Totals.GPUNodes, how, strings.Join(pools, ", "), inv.Totals.Free, inv.Totals.Allocatable)
	anyFree := inv.Totals.Free > 0
	for _, o := range inv.Totals.Other {
		// Replicas and MIG devices are counted apart from whole GPUs.
		detail += fmt.Sprintf("; %s of %d free", inventory.Amount(o.Free, o.Unit), o.Allocatable)
		anyFree = anyFree || o.Free > 0
	}
	if !anyFree {
		return Outcome{Status: Warn, Detail: detail, Remediation: "every GPU is requested: new GPU pods will stay Pending (see dynamoctl gpus)"}
	}
	return Outcome{Status: Pass, Detail: detail}
}

var clusterPolicies = schema.GroupResource{Group: "nvidia.com", Resource: "clusterpolicies"}

func checkGPUOperator(ctx context.Context, e *Env) Outcome {
	crd, err := e.CRD(ctx, clusterPolicies.String())
	if err != nil {
		return apiError("list CRDs", err)
	}
	if crd != nil {
		if out, ok := clusterPolicyState(ctx, e, crd.Spec.Versions); ok {
			return out
		}
	}
	pods, err := e.Client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: "app=gpu-operator"})
	if err != nil {
		return apiError("list gpu-operator pods", err)
	}
	if len(pods.Items) == 0 {
		inv, err := e.Inventory(ctx)
		if err != nil {
			return apiError("read nodes", err)
		}
		if platform := managedGPUPlatform(inv.Nodes); platform != "" {
			return Outcome{Status: Skip, Detail: fmt.Sprintf("no GPU Operator; the GPU nodes get drivers and the device plugin from %s", platform)}
		}
		return Outcome{Status: Fail, Detail: "no GPU Operator: no ClusterPolicy and no pod labelled app=gpu-operator",
			Remediation: "helm install --wait gpu-operator -n gpu-operator --create-namespace nvidia/gpu-operator",
			DocsURL:     "https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/getting-started.html"}
	}
	running := 0
	var notRunning []string
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning {
			running++
		} else {
			notRunning = append(notRunning, fmt.Sprintf("%s/%s %s", p.Namespace, p.Name, p.Status.Phase))
		}
	}
	detail := fmt.Sprintf("%d/%d gpu-operator pods Running", running, len(pods.Items))
	switch {
	case running == 0:
		return Outcome{Status: Fail, Detail: detail + "; not running: " + strings.Join(firstN(notRunning, 3), ", "),
			Remediation: fmt.Sprintf("kubectl describe pod -n %s -l app=gpu-operator", pods.Items[0].Namespace)}
	case running < len(pods.Items):
		return Outcome{Status: Warn, Detail: detail + "; not running: " + strings.Join(firstN(notRunning, 3), ", "),
			Remediation: fmt.Sprintf("kubectl describe pod -n %s -l app=gpu-operator", pods.Items[0].Namespace)}
	}
	return Outcome{Status: Pass, Detail: detail}
}

// clusterPolicyState reads the ClusterPolicies; ok is false when there are none (the pods
// decide then).
func clusterPolicyState(ctx context.Context, e *Env, versions []apiextensionsv1.CustomResourceDefinitionVersion) (Outcome, bool) {
	ver := ""
	for _, v := range versions {
		if v.Served && (ver == "" || v.Storage) {
			ver = v.Name
		}
	}
	if ver == "" {
		return Outcome{}, false
	}
	l, err := e.Dynamic.Resource(clusterPolicies.WithVersion(ver)).List(ctx, metav1.ListOptions{})
	if err != nil {
		return apiError("list ClusterPolicies", err), true
	}
	if len(l.Items) == 0 {
		return Outcome{}, false
	}
	var notReady []string
	for _, cp := range l.Items {
		state, _, _ := unstructured.NestedString(cp.Object, "status", "state")
		if state != "ready" {
			if state == "" {
				state = "no state yet"
			}
			notReady = append(notReady, fmt.Sprintf("%s: %s", cp.GetName(), state))
		}
	}
	if len(notReady) > 0 {
		return Outcome{Status: Fail, Detail: "ClusterPolicy not ready (" + strings.Join(notReady, ", ") + ")",
			Remediation: fmt.Sprintf("kubectl describe clusterpolicy %s; kubectl get pods -n gpu-operator", l.Items[0].GetName()),
			DocsURL:     "https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/troubleshooting.html"}, true
	}
	return Outcome{Status: Pass, Detail: fmt.Sprintf("ClusterPolicy %s ready", l.Items[0].GetName())}, true
}

// managedGPUPlatform names the platform that provides GPUs without the GPU Operator, from the
// facts of GPU nodes that carry no GFD labels; empty when the nodes do not say.
func managedGPUPlatform(nodes []inventory.NodeGPU) string {
	platforms := map[string]int{}
	for _, n := range nodes {
		if slices.Contains(n.Sources, inventory.SourceGFD) {
			return "" // GFD labels: the GPU Operator (or GFD by hand) should be there
		}
		switch {
		case slices.Contains(n.Sources, inventory.SourceGKE):
			platforms["GKE (managed GPU drivers)"]++
		case slices.Contains(n.Sources, inventory.SourceAKS):
			platforms["AKS (managed GPU node pools)"]++
		case slices.Contains(n.Sources, inventory.SourceKarpenter):
			platforms["Karpenter-provisioned nodes (EKS accelerated AMI)"]++
		default: // allocatable only, or NFD's PCI labels
			platforms["a device plugin without GPU Feature Discovery"]++
		}
	}
	var names []string
	for _, p := range slices.Sorted(maps.Keys(platforms)) {
		names = append(names, fmt.Sprintf("%s on %d node(s)", p, platforms[p]))
	}
	return strings.Join(names, ", ")
}

// gpuNodes returns every node and the set of GPU node names; when the check cannot go on
// (an API error, no GPU node) ok is false and out says why.
func (e *Env) gpuNodes(ctx context.Context) (nodes []corev1.Node, gpu map[string]bool, out Outcome, ok bool) {
	inv, err := e.Inventory(ctx)
	if err != nil {
		return nil, nil, apiError("read nodes", err), false
	}
	if nodes, err = e.Nodes(ctx); err != nil {
		return nil, nil, apiError("list nodes", err), false
	}
	gpu = map[string]bool{}
	for _, n := range inv.Nodes {
		gpu[n.Name] = true
	}
	if len(gpu) == 0 {
		return nil, nil, Outcome{Status: Skip, Detail: "no GPU nodes"}, false
	}
	return nodes, gpu, Outcome{}, true
}

func checkNodePressure(ctx context.Context, e *Env) Outcome {
	nodes, gpu, out, ok := e.gpuNodes(ctx)
	if !ok {
		return out
	}
	var bad []string
	for i := range nodes {
		n := &nodes[i]
		if !gpu[n.Name] {
			continue
		}
		if problems := NodeProblems(n); len(problems) > 0 {
			bad = append(bad, n.Name+" "+strings.Join(problems, "+"))
		}
	}
	detail := fmt.Sprintf("%d of %d GPU nodes usable", len(gpu)-len(bad), len(gpu))
	switch {
	case len(bad) == len(gpu):
		return Outcome{Status: Fail, Detail: detail + ": " + strings.Join(firstN(bad, 5), ", "),
			Remediation: "kubectl describe node " + strings.Fields(bad[0])[0] + "; uncordon with kubectl uncordon NODE"}
	case len(bad) > 0:
		return Outcome{Status: Warn, Detail: detail + "; not: " + strings.Join(firstN(bad, 5), ", "),
			Remediation: "kubectl describe node " + strings.Fields(bad[0])[0]}
	}
	return Outcome{Status: Pass, Detail: detail}
}

// NodeProblems lists why a node cannot take new pods: NotReady, cordoned, under memory, disk
// or PID pressure, network unavailable.
func NodeProblems(n *corev1.Node) []string {
	var p []string
	if !kubenode.Ready(n) {
		p = append(p, "NotReady")
	}
	if n.Spec.Unschedulable {
		p = append(p, "cordoned")
	}
	for _, c := range n.Status.Conditions {
		switch c.Type {
		case corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure, corev1.NodeNetworkUnavailable:
			if c.Status == corev1.ConditionTrue {
				p = append(p, string(c.Type))
			}
		}
	}
	return p
}

// RDMA signals: resources named like rdma/*, nvidia.com/*rdma*, and labels of the NVIDIA
// Network Operator and NFD.
var rdmaLabels = []string{nvidia.LabelRDMAPresent, "feature.node.kubernetes.io/rdma.available", "feature.node.kubernetes.io/rdma.capable"}

func checkRDMA(ctx context.Context, e *Env) Outcome {
	nodes, gpu, out, ok := e.gpuNodes(ctx)
	if !ok {
		return out
	}
	with := 0
	resources := map[string]bool{}
	for i := range nodes {
		n := &nodes[i]
		if !gpu[n.Name] {
			continue
		}
		found := false
		for name, q := range n.Status.Allocatable {
			if r := string(name); (strings.HasPrefix(r, "rdma/") || strings.Contains(r, "rdma")) && !q.IsZero() {
				resources[r], found = true, true
			}
		}
		for _, l := range rdmaLabels {
			if n.Labels[l] == "true" {
				resources["label "+l], found = true, true
			}
		}
		if found {
			with++
		}
	}
	if with == 0 {
		return Outcome{Status: Warn, Detail: fmt.Sprintf("none of %d GPU nodes advertises RDMA: KV-cache transfer between prefill and decode falls back to TCP", len(gpu)),
			Remediation: "for multi-node disaggregation install the NVIDIA Network Operator (RDMA shared device plugin); single-node graphs do not need it",
			DocsURL:     "https://docs.nvidia.com/networking/display/kubernetes2410/getting-started-kubernetes.html"}
	}
	detail := fmt.Sprintf("%d of %d GPU nodes advertise RDMA (%s)", with, len(gpu), strings.Join(slices.Sorted(maps.Keys(resources)), ", "))
	if with < len(gpu) {
		return Outcome{Status: Warn, Detail: detail, Remediation: "pin disaggregated workers to the RDMA nodes with a node selector"}
	}
	return Outcome{Status: Pass, Detail: detail}
}

func checkPrometheusOperator(ctx context.Context, e *Env) Outcome {
	var have, missing []string
	for _, name := range []string{"servicemonitors.monitoring.coreos.com", "podmonitors.monitoring.coreos.com"} {
		crd, err := e.CRD(ctx, name)
		if err != nil {
			return apiError("list CRDs", err)
		}
		if crd == nil {
			missing = append(missing, name)
		} else {
			have = append(have, crd.Spec.Names.Kind)
		}
	}
	if len(missing) > 0 {
		return Outcome{Status: Warn, Detail: "missing CRDs " + strings.Join(missing, ", ") + ": the chart's ServiceMonitor/PodMonitors cannot be installed, metrics go unscraped",
			Remediation: "install the Prometheus Operator (kube-prometheus-stack), or scrape with dynamoctl observability scrape-config",
			DocsURL:     "https://prometheus-operator.dev/docs/getting-started/installation/"}
	}
	return Outcome{Status: Pass, Detail: strings.Join(have, " and ") + " CRDs installed"}
}

func apiError(what string, err error) Outcome {
	if apierrors.IsForbidden(err) {
		return Outcome{Status: Error, Detail: fmt.Sprintf("%s: forbidden for this user", what), Remediation: "run with a user that may read it, or --skip this check"}
	}
	return Outcome{Status: Error, Detail: fmt.Sprintf("%s: %v", what, kube.OneLine(err))}
}

func firstN(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(slices.Clone(s[:n]), fmt.Sprintf("and %d more", len(s)-n))
}
