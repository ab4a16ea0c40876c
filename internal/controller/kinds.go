package controller

import (
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	resourcev1 "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	lwsv1 "sigs.k8s.io/lws/api/leaderworkerset/v1"

	"github.com/dynamo-infra/dynamo-infra/api/v1beta1"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
)

// optionalAPIs are the APIs of other projects (or of ours, installed apart) that the operator
// uses where the cluster serves them, found once at start.
type optionalAPIs struct {
	// LWS: LeaderWorkerSets (multi-node services); Adapters: the scaling adapter CRD; Istio:
	// its VirtualService (ingress with useVirtualService); InferencePools: the Gateway API
	// Inference Extension's pools (an Endpoint Picker).
	LWS, Adapters, Istio, InferencePools bool
}

// missingFor says which API the graph needs that the cluster did not serve at the operator's
// start, and what to do (nil: none). Nothing of such a graph is applied.
func (a optionalAPIs) missingFor(g *graph.Graph) error {
	if g.HasMultinode() && !a.LWS {
		return &MultinodeUnavailableError{}
	}
	if g.HasVirtualService() && !a.Istio {
		return errors.New("a service's ingress asks for an Istio VirtualService (useVirtualService), and this cluster serves none (networking.istio.io/v1beta1): install Istio and restart the operator, or set useVirtualService: false for an Ingress")
	}
	if c := g.EPP(); c != nil && !a.InferencePools {
		return fmt.Errorf("service %s is an Endpoint Picker (componentType epp), whose InferencePool this cluster does not serve (%s): install the Gateway API Inference Extension's CRDs (config/thirdparty/gaie; dynamoctl dev cluster installs them) and restart the operator", c.Name, render.InferencePoolGVK.GroupVersion())
	}
	if g.HasScalingAdapter() && !a.Adapters {
		return errors.New("a service has a scalingAdapter, and this cluster serves no DynamoGraphDeploymentScalingAdapter API (nvidia.com): install its CRD (config/crd/bases, or the chart) and restart the operator")
	}
	return nil
}

// childKind is one kind of object the operator creates for a graph. This table is the one
// list of them: the caches, the watches, apply order, pruning and the lookups of live objects
// read it, and TestChildKindsMatchRBAC holds the RBAC markers to it. A new kind (a scaling
// adapter, an InferencePool, a ResourceClaimTemplate) is one row here and its render function.
type childKind struct {
	// Kind is the object's kind; Group and Resource name it for RBAC.
	Kind, Group, Resource string
	// New and NewList make an empty object and list of the kind.
	New     func() client.Object
	NewList func() client.ObjectList
	// Phase says when it is applied: prerequisites (what pods need before they start), then
	// workloads.
	Phase applyPhase
	// Owned: the graph's controller reference is set and its changes wake the graph (Owns).
	// Claims and the planner's account have no owner: they outlive the graph.
	Owned bool
	// Prune: deleted when the graph no longer renders it. Claims are data and never pruned.
	Prune bool
	// Update: a manual edit is reverted with an update (an account or a claim is never
	// changed once created: create and patch only).
	Update bool
	// CreateOnly: created when absent, then never changed while it is the graph's (a scaling
	// adapter: its replicas belong to whoever scales it from then on). Pruned all the same.
	CreateOnly bool
	// Immutable: its content cannot change once created (a ResourceClaimTemplate): a change
	// deletes it and creates it anew.
	Immutable bool
	// LWS marks a kind served only where LeaderWorkerSet is installed; Adapter one served only
	// where the DynamoGraphDeploymentScalingAdapter CRD is; Istio and InferencePool, where
	// those projects' CRDs are.
	LWS, Adapter, Istio, InferencePool bool
}

// applyPhase orders applies within a reconcile.
type applyPhase int

const (
	// phasePrerequisites: claims, accounts, roles, the wait script.
	phasePrerequisites applyPhase = iota
	// phaseWorkloads: Deployments, LeaderWorkerSets, Services and the role's binding (a
	// binding waits for its Role: without the "bind" verb the API server authorizes it by
	// reading the Role it names).
	phaseWorkloads
)

var childKinds = []childKind{
	{Kind: "PersistentVolumeClaim", Resource: "persistentvolumeclaims", Phase: phasePrerequisites,
		New: func() client.Object { return &corev1.PersistentVolumeClaim{} }, NewList: func() client.ObjectList { return &corev1.PersistentVolumeClaimList{} }},
	{Kind: "ServiceAccount", Resource: "serviceaccounts", Phase: phasePrerequisites, Owned: true, Prune: true,
		New: func() client.Object { return &corev1.ServiceAccount{} }, NewList: func() client.ObjectList { return &corev1.ServiceAccountList{} }},
	{Kind: "Role", Group: rbacv1.GroupName, Resource: "roles", Phase: phasePrerequisites, Owned: true, Prune: true, Update: true,
		New: func() client.Object { return &rbacv1.Role{} }, NewList: func() client.ObjectList { return &rbacv1.RoleList{} }},
	{Kind: "ResourceClaimTemplate", Group: resourcev1.GroupName, Resource: "resourceclaimtemplates", Phase: phasePrerequisites, Owned: true, Prune: true, Immutable: true,
		New:     func() client.Object { return &resourcev1.ResourceClaimTemplate{} },
		NewList: func() client.ObjectList { return &resourcev1.ResourceClaimTemplateList{} }},
	{Kind: "ConfigMap", Resource: "configmaps", Phase: phasePrerequisites, Owned: true, Prune: true, Update: true,
		New: func() client.Object { return &corev1.ConfigMap{} }, NewList: func() client.ObjectList { return &corev1.ConfigMapList{} }},
	{Kind: "Deployment", Group: appsv1.GroupName, Resource: "deployments", Phase: phaseWorkloads, Owned: true, Prune: true, Update: true,
		New: func() client.Object { return &appsv1.Deployment{} }, NewList: func() client.ObjectList { return &appsv1.DeploymentList{} }},
	{Kind: "LeaderWorkerSet", Group: lwsv1.GroupVersion.Group, Resource: "leaderworkersets", Phase: phaseWorkloads, Owned: true, Prune: true, Update: true, LWS: true,
		New: func() client.Object { return &lwsv1.LeaderWorkerSet{} }, NewList: func() client.ObjectList { return &lwsv1.LeaderWorkerSetList{} }},
	{Kind: "Service", Resource: "services", Phase: phaseWorkloads, Owned: true, Prune: true, Update: true,
		New: func() client.Object { return &corev1.Service{} }, NewList: func() client.ObjectList { return &corev1.ServiceList{} }},
	{Kind: "RoleBinding", Group: rbacv1.GroupName, Resource: "rolebindings", Phase: phaseWorkloads, Owned: true, Prune: true, Update: true,
		New: func() client.Object { return &rbacv1.RoleBinding{} }, NewList: func() client.ObjectList { return &rbacv1.RoleBindingList{} }},
	{Kind: "Ingress", Group: networkingv1.GroupName, Resource: "ingresses", Phase: phaseWorkloads, Owned: true, Prune: true, Update: true,
		New: func() client.Object { return &networkingv1.Ingress{} }, NewList: func() client.ObjectList { return &networkingv1.IngressList{} }},
	{Kind: "VirtualService", Group: render.VirtualServiceGVK.Group, Resource: "virtualservices", Phase: phaseWorkloads, Owned: true, Prune: true, Update: true, Istio: true,
		New:     func() client.Object { return newUnstructured(render.VirtualServiceGVK) },
		NewList: func() client.ObjectList { return newUnstructuredList(render.VirtualServiceGVK) }},
	{Kind: "InferencePool", Group: render.InferencePoolGVK.Group, Resource: "inferencepools", Phase: phaseWorkloads, Owned: true, Prune: true, Update: true, InferencePool: true,
		New:     func() client.Object { return newUnstructured(render.InferencePoolGVK) },
		NewList: func() client.ObjectList { return newUnstructuredList(render.InferencePoolGVK) }},
	{Kind: "DynamoGraphDeploymentScalingAdapter", Group: v1beta1.GroupVersion.Group, Resource: "dynamographdeploymentscalingadapters", Phase: phaseWorkloads,
		Owned: true, Prune: true, CreateOnly: true, Adapter: true,
		New:     func() client.Object { return &v1beta1.DynamoGraphDeploymentScalingAdapter{} },
		NewList: func() client.ObjectList { return &v1beta1.DynamoGraphDeploymentScalingAdapterList{} }},
}

// newUnstructured and newUnstructuredList hold a kind of another project, whose Go types are
// not a dependency (Istio's VirtualService, the InferencePool).
func newUnstructured(gvk schema.GroupVersionKind) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	return u
}

func newUnstructuredList(gvk schema.GroupVersionKind) *unstructured.UnstructuredList {
	u := &unstructured.UnstructuredList{}
	u.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	return u
}

// kindOf is the row of a kind (false: the operator creates no such child).
func kindOf(kind string) (childKind, bool) {
	for _, k := range childKinds {
		if k.Kind == kind {
			return k, true
		}
	}
	return childKind{}, false
}

// served are the child kinds this cluster serves (LeaderWorkerSet and scaling adapters only
// where installed).
func served(a optionalAPIs) []childKind {
	out := make([]childKind, 0, len(childKinds))
	for _, k := range childKinds {
		if (!k.LWS || a.LWS) && (!k.Adapter || a.Adapters) && (!k.Istio || a.Istio) && (!k.InferencePool || a.InferencePools) {
			out = append(out, k)
		}
	}
	return out
}
