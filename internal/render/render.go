// Package render turns a resolved graph (graph.Resolve) and the operator's configuration into
// the child objects the operator applies: PVCs to create, the discovery ServiceAccount/Role/RoleBinding,
// and a Deployment and a Service per service. Pure functions, no client: the operator and
// `dynamoctl render` share them, so what the CLI prints is what the operator applies.
package render

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/api/v1beta1"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/topology"
)

// Config is the operator configuration that shapes children.
type Config struct {
	// NATSAddress is injected as NATS_SERVER when set.
	NATSAddress string
	// EtcdAddress is injected as ETCD_ENDPOINTS when set.
	EtcdAddress string
	// MPISSHSecret names the Secret with the SSH key pair multi-node TRT-LLM pods mount
	// (default v1alpha1.MPISSHSecret); it must exist in the graph's namespace.
	MPISSHSecret string
	// Topology is the profile the graph's topologyConstraint names, as read from the cluster
	// (topology.ReadProfile); zero: the built-in levels.
	Topology topology.Profile
}

// ManagedBy is the v1alpha1.LabelManagedBy value of every child.
const ManagedBy = "dynamo-operator"

// Graph returns the desired children of a resolved graph, in apply order: PVCs, the planner's
// account, discovery RBAC, the multi-node wait script, then for each component (sorted by name)
// its Deployment — a LeaderWorkerSet when it spans nodes — and Service, each but the claims
// stamped with AnnotationAppliedHash. Every object carries its TypeMeta; owner references point
// at the graph when it has a UID (PVCs excepted: they outlive the graph). A graph Resolve
// refused is refused here with the same error.
func Graph(g *graph.Graph, cfg Config) ([]runtime.Object, error) {
	if err := g.Err(); err != nil {
		return nil, err
	}
	scopes, err := g.Scopes(cfg.Topology)
	if err != nil {
		return nil, err
	}
	var out []runtime.Object
	for _, p := range g.PVCs {
		if p.Create != nil && *p.Create {
			out = append(out, PVC(g, p))
		}
	}
	if g.HasPlanner() {
		role, rb := PlannerRBAC(g)
		out = append(out, PlannerServiceAccount(g), role, rb)
	}
	if g.KubernetesDiscovery() {
		sa, role, rb := DiscoveryRBAC(g)
		out = append(out, sa, role, rb)
	}
	if g.HasMultinode() {
		out = append(out, WaitLeaderConfigMap(g))
	}
	for _, m := range g.BaseModels() {
		out = append(out, ModelService(g, m))
	}
	for _, t := range ClaimTemplates(g) {
		out = append(out, t)
	}
	if c := g.EPP(); c != nil {
		objs, err := eppObjects(g, c)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	for _, c := range g.Components {
		var workload runtime.Object
		if c.Multinode() {
			workload, err = leaderWorkerSet(g, c, cfg, scopes)
		} else {
			workload, err = deployment(g, c, cfg, scopes)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, workload, Service(g, c))
		if c.ScalingAdapter != "" {
			out = append(out, ScalingAdapter(g, c))
		}
		switch {
		case c.VirtualService():
			out = append(out, VirtualService(g, c))
		case c.Ingress != nil:
			out = append(out, Ingress(g, c))
		}
	}
	for _, o := range out {
		if err := stampAppliedHash(o.(metav1.Object)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ModelService is the headless Service of a base model's endpoints, as upstream renders it:
// dynamo-model-<hash of the name>, selecting every pod labelled with the hash (the workers of
// every graph of the namespace whose modelRef names it), port system 9090, only ready pods;
// labelled with the hash (its endpoint slices inherit it: DynamoModels find them by it) and
// upstream's nvidia.com/managed-by, annotated with the name and the graph's spec.annotations.
// Shared: each graph that serves the model is one of its owners (none a controller), so it goes
// with the last of them.
func ModelService(g *graph.Graph, baseModel string) *corev1.Service {
	hash := graph.ModelHash(baseModel)
	var owners []metav1.OwnerReference
	for _, o := range ownerRefs(g) {
		o.Controller = nil
		owners = append(owners, o)
	}
	return &corev1.Service{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: graph.ModelServiceName(baseModel), Namespace: g.Namespace, OwnerReferences: owners,
			Labels:      map[string]string{v1alpha1.LabelBaseModelHash: hash, v1alpha1.LabelUpstreamManagedBy: ManagedBy, v1alpha1.LabelManagedBy: ManagedBy},
			Annotations: merge(g.CommonAnnotations, map[string]string{v1alpha1.AnnotationBaseModel: baseModel})},
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone,
			Selector:  map[string]string{v1alpha1.LabelBaseModelHash: hash},
			Ports: []corev1.ServicePort{{Name: v1alpha1.PortNameSystem, Port: v1alpha1.PortSystem,
				TargetPort: intstr.FromInt32(v1alpha1.PortSystem), Protocol: corev1.ProtocolTCP}},
		},
	}
}

// IngressHost is the host a service's ingress routes, as upstream builds it:
// hostPrefix + host + "." + (hostSuffix, or "local").
func IngressHost(spec *v1alpha1.IngressSpec) string {
	host := spec.Host
	if spec.HostPrefix != nil {
		host = *spec.HostPrefix + host
	}
	suffix := "local"
	if spec.HostSuffix != nil {
		suffix = *spec.HostSuffix
	}
	return host + "." + suffix
}

// Ingress routes a service's host to its Service's port 8000, as upstream renders it: named
// as the Service, one rule for "/" (Prefix), ingressControllerClassName as its class, TLS for
// the host when tls.secretName is set. Ours: the ingress's annotations and labels go on it
// (upstream accepts and drops them), and with no class it is still rendered, for the cluster's
// default IngressClass (upstream renders nothing).
func Ingress(g *graph.Graph, c *graph.Component) *networkingv1.Ingress {
	spec := c.Ingress
	host := IngressHost(spec)
	ing := &networkingv1.Ingress{
		TypeMeta: metav1.TypeMeta{APIVersion: networkingv1.SchemeGroupVersion.String(), Kind: "Ingress"},
		ObjectMeta: metav1.ObjectMeta{Name: c.ChildName, Namespace: g.Namespace, OwnerReferences: ownerRefs(g),
			Labels: merge(spec.Labels, childLabels(g, c)), Annotations: merge(spec.Annotations)},
		Spec: networkingv1.IngressSpec{
			IngressClassName: spec.IngressControllerClassName,
			Rules: []networkingv1.IngressRule{{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: ptr.To(networkingv1.PathTypePrefix),
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: c.ChildName,
						Port: networkingv1.ServiceBackendPort{Number: v1alpha1.PortFrontend}}}}}}}}},
		},
	}
	if spec.TLS != nil {
		ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{host}, SecretName: spec.TLS.SecretName}}
	}
	return ing
}

// VirtualServiceGVK is Istio's VirtualService, rendered where useVirtualService names a gateway.
var VirtualServiceGVK = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1beta1", Kind: "VirtualService"}

// VirtualService routes a service's host, through the ingress's gateway, to its Service's port
// 8000, as upstream renders it (prefix "/"). Unstructured: Istio's types are not a dependency.
func VirtualService(g *graph.Graph, c *graph.Component) *unstructured.Unstructured {
	spec := c.Ingress
	vs := &unstructured.Unstructured{Object: map[string]any{
		"spec": map[string]any{
			"hosts":    []any{IngressHost(spec)},
			"gateways": []any{*spec.VirtualServiceGateway},
			"http": []any{map[string]any{
				"match": []any{map[string]any{"uri": map[string]any{"prefix": "/"}}},
				"route": []any{map[string]any{"destination": map[string]any{"host": c.ChildName,
					"port": map[string]any{"number": int64(v1alpha1.PortFrontend)}}}},
			}},
		},
	}}
	vs.SetGroupVersionKind(VirtualServiceGVK)
	vs.SetName(c.ChildName)
	vs.SetNamespace(g.Namespace)
	vs.SetLabels(merge(spec.Labels, childLabels(g, c)))
	if len(spec.Annotations) > 0 {
		vs.SetAnnotations(merge(spec.Annotations))
	}
	vs.SetOwnerReferences(ownerRefs(g))
	return vs
}

// ScalingAdapter renders the DynamoGraphDeploymentScalingAdapter that owns a component's
// replicas, as the original creates it: named <graph>-<lowercased service>, labelled with the
// graph and the component, its replicas seeded from the service's. The operator creates it and
// never changes it after (its replicas are the adapter's from then on: kubectl scale, an HPA,
// the planner), and deletes it when the service loses its scalingAdapter.
func ScalingAdapter(g *graph.Graph, c *graph.Component) *v1beta1.DynamoGraphDeploymentScalingAdapter {
	return &v1beta1.DynamoGraphDeploymentScalingAdapter{
		TypeMeta: metav1.TypeMeta{APIVersion: v1beta1.GroupVersion.String(), Kind: "DynamoGraphDeploymentScalingAdapter"},
		ObjectMeta: metav1.ObjectMeta{Name: c.ScalingAdapter, Namespace: g.Namespace, OwnerReferences: ownerRefs(g),
			Labels: map[string]string{v1alpha1.LabelGraphDeploymentName: g.Name, v1alpha1.LabelComponent: c.Name, v1alpha1.LabelManagedBy: ManagedBy}},
		Spec: v1beta1.DynamoGraphDeploymentScalingAdapterSpec{Replicas: c.Replicas,
			DGDRef: v1beta1.DynamoGraphDeploymentServiceRef{Name: g.Name, ServiceName: c.Name}},
	}
}

// ScalingAdapterSelector selects every pod of a graph's service, each worker generation's
// included (the original's: graph and component labels): the scale subresource's selector, with
// which an autoscaler reads the pods' metrics.
func ScalingAdapterSelector(graphName, service string) string {
	return labels.SelectorFromSet(labels.Set{v1alpha1.LabelGraphDeploymentName: graphName, v1alpha1.LabelComponent: service}).String()
}

// ownerRefs point a child at its graph (none before the graph is stored: render -f).
func ownerRefs(g *graph.Graph) []metav1.OwnerReference {
	if g.UID == "" {
		return nil
	}
	return []metav1.OwnerReference{{
		APIVersion: v1alpha1.GroupVersion.String(), Kind: "DynamoGraphDeployment",
		Name: g.Name, UID: g.UID, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
	}}
}

// selectorLabels select one component's pods.
func selectorLabels(c *graph.Component) map[string]string {
	return map[string]string{v1alpha1.LabelSelector: c.ChildName}
}

// serviceSelector selects the pods a component's Service sends traffic to: all of them, or a
// multi-node component's leaders (workers serve no HTTP).
func serviceSelector(c *graph.Component) map[string]string {
	sel := selectorLabels(c)
	if c.Multinode() {
		sel[v1alpha1.LabelRole] = string(RoleLeader)
	}
	return sel
}

// childLabels are the labels of a component's Deployment and Service: graph labels < service
// labels < the original's identifying labels and ours.
func childLabels(g *graph.Graph, c *graph.Component) map[string]string {
	l := merge(g.CommonLabels, c.Labels)
	for k, v := range identity(g, c) {
		l[k] = v
	}
	l[v1alpha1.LabelManagedBy] = ManagedBy
	if c.BaseModel != "" {
		l[v1alpha1.LabelBaseModelHash] = graph.ModelHash(c.BaseModel)
	}
	l["app.kubernetes.io/part-of"] = g.Name
	if c.Type != "" {
		l["app.kubernetes.io/component"] = c.Type
	}
	return l
}

// identity are the labels that say which graph, component and role an object or pod belongs
// to, as the original sets them (the component type labels only when set).
func identity(g *graph.Graph, c *graph.Component) map[string]string {
	l := map[string]string{
		v1alpha1.LabelSelector:            c.ChildName,
		v1alpha1.LabelGraphDeploymentName: g.Name,
		v1alpha1.LabelComponent:           c.Name,
		v1alpha1.LabelDynamoNamespace:     c.DynamoNamespace,
	}
	if c.Type != "" {
		l[v1alpha1.LabelComponentType] = c.Type
	}
	if c.SubType != "" {
		l[v1alpha1.LabelSubComponentType] = c.SubType
	}
	if c.WorkerHash != "" {
		l[v1alpha1.LabelWorkerHash] = c.WorkerHash
	}
	return l
}

// podLabels are the pod template's labels, as the original builds them: its identifying
// labels and the metrics label, then graph < service < extraPodMetadata labels, then the
// graph name, component type and Dynamo namespace again (users cannot move a pod to another
// graph), the selector (the Deployment needs it) and the discovery labels.
func podLabels(g *graph.Graph, c *graph.Component) map[string]string {
	id := identity(g, c)
	l := merge(id)
	if !strings.EqualFold(c.Setting(v1alpha1.AnnotationEnableMetrics), "false") {
		l[v1alpha1.LabelMetricsEnabled] = "true"
	}
	if c.BaseModel != "" { // under the user's labels, as upstream
		l[v1alpha1.LabelBaseModelHash] = graph.ModelHash(c.BaseModel)
	}
	l = merge(l, g.CommonLabels, c.Labels, c.Template.Labels)
	for _, k := range []string{v1alpha1.LabelSelector, v1alpha1.LabelGraphDeploymentName, v1alpha1.LabelComponentType, v1alpha1.LabelDynamoNamespace, v1alpha1.LabelWorkerHash} {
		if v, ok := id[k]; ok {
			l[k] = v
		}
	}
	l[v1alpha1.LabelManagedBy] = ManagedBy
	if g.KubernetesDiscovery() {
		l[v1alpha1.LabelDiscoveryBackend] = v1alpha1.DiscoveryKubernetes
		l[v1alpha1.LabelDiscoveryEnabled] = "true"
	}
	return l
}

// childAnnotations are a component's Deployment and Service annotations: graph < service.
func childAnnotations(g *graph.Graph, c *graph.Component) map[string]string {
	a := merge(g.CommonAnnotations, c.Annotations)
	if len(a) == 0 {
		return nil
	}
	return a
}

// propagatedAnnotations are the graph's own annotations the original copies into each
// service's (and so onto its pods), under the service's.
var propagatedAnnotations = []string{
	v1alpha1.AnnotationEnableMetrics, v1alpha1.AnnotationDiscoveryBackend, v1alpha1.AnnotationKubeDiscoveryMode,
	v1alpha1.AnnotationOriginVersion, v1alpha1.AnnotationVLLMExecutorBackend,
}

// podAnnotations are graph spec < graph metadata (propagatedAnnotations) < service <
// extraPodMetadata annotations.
func podAnnotations(g *graph.Graph, c *graph.Component) map[string]string {
	fromGraph := map[string]string{}
	for _, k := range propagatedAnnotations {
		if v, ok := g.Annotations[k]; ok {
			fromGraph[k] = v
		}
	}
	a := merge(g.CommonAnnotations, fromGraph, c.Annotations, c.Template.Annotations)
	if c.BaseModel != "" {
		a[v1alpha1.AnnotationBaseModel] = c.BaseModel
	}
	if len(a) == 0 {
		return nil
	}
	return a
}

func merge(maps ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// Service renders the Service of one component: frontend 8000/http, an Endpoint Picker
// 9002/grpc (HTTP/2, to the container's port by number, as upstream), others 9090/system; a
// multi-node component's selects its groups' leaders.
func Service(g *graph.Graph, c *graph.Component) *corev1.Service {
	name, port := v1alpha1.PortNameSystem, int32(v1alpha1.PortSystem)
	sp := corev1.ServicePort{Name: name, Port: port, TargetPort: intstr.FromString(name), Protocol: corev1.ProtocolTCP}
	switch c.Type {
	case v1alpha1.ComponentFrontend:
		sp.Name, sp.Port, sp.TargetPort = v1alpha1.PortNameFrontend, v1alpha1.PortFrontend, intstr.FromString(v1alpha1.PortNameFrontend)
	case v1alpha1.ComponentEPP:
		sp.Name, sp.Port, sp.TargetPort, sp.AppProtocol = v1alpha1.PortNameEPPGRPC, v1alpha1.PortEPPGRPC, intstr.FromInt32(v1alpha1.PortEPPGRPC), ptr.To("http2")
	}
	labels := childLabels(g, c)
	if g.KubernetesDiscovery() {
		labels[v1alpha1.LabelDiscoveryBackend] = v1alpha1.DiscoveryKubernetes
		labels[v1alpha1.LabelDiscoveryEnabled] = "true"
	}
	return &corev1.Service{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{
			Name: c.ChildName, Namespace: g.Namespace,
			Labels: labels, Annotations: childAnnotations(g, c), OwnerReferences: ownerRefs(g),
		},
		Spec: corev1.ServiceSpec{
			Selector: serviceSelector(c),
			Ports:    []corev1.ServicePort{sp},
		},
	}
}

// PVC renders a claim the graph creates. It has no owner reference: model caches outlive the
// graph; the annotation says which graph made it.
func PVC(g *graph.Graph, p v1alpha1.PVC) *corev1.PersistentVolumeClaim {
	pvc := &corev1.PersistentVolumeClaim{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: metav1.ObjectMeta{
			Name: p.Name, Namespace: g.Namespace,
			Labels:      map[string]string{v1alpha1.LabelGraphDeploymentName: g.Name, v1alpha1.LabelManagedBy: ManagedBy},
			Annotations: map[string]string{v1alpha1.AnnotationCreatedBy: g.Namespace + "/" + g.Name},
		},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{p.VolumeAccessMode}},
	}
	if p.StorageClass != "" {
		pvc.Spec.StorageClassName = ptr.To(p.StorageClass)
	}
	if p.Size != nil {
		pvc.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: *p.Size}
	}
	return pvc
}

// DiscoveryRBAC renders what Kubernetes-based discovery needs: a ServiceAccount for the graph's
// pods and a Role to read endpoints, endpoint slices and pods and manage worker metadata.
func DiscoveryRBAC(g *graph.Graph) (*corev1.ServiceAccount, *rbacv1.Role, *rbacv1.RoleBinding) {
	base := g.DiscoveryServiceAccount()
	sa := &corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}, ObjectMeta: graphObjectMeta(g, base)}
	role, rb := roleAndBinding(g, base+"-role", base+"-binding", sa.Name, []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"endpoints", "pods"}, Verbs: readVerbs},
		{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: readVerbs},
		{APIGroups: []string{"nvidia.com"}, Resources: []string{"dynamoworkermetadatas"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
	})
	return sa, role, rb
}

// readVerbs are the verbs of a rule that only reads.
var readVerbs = []string{"get", "list", "watch"}

// graphObjectMeta is the metadata of a graph-wide child (an account, a Role, its binding): the
// graph's namespace and owner reference, labelled with the graph and our managed-by.
func graphObjectMeta(g *graph.Graph, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: g.Namespace, OwnerReferences: ownerRefs(g),
		Labels: map[string]string{v1alpha1.LabelGraphDeploymentName: g.Name, v1alpha1.LabelManagedBy: ManagedBy}}
}

// roleAndBinding renders a Role of the graph's with rules, and its binding to the account of
// the graph's namespace.
func roleAndBinding(g *graph.Graph, roleName, bindingName, account string, rules []rbacv1.PolicyRule) (*rbacv1.Role, *rbacv1.RoleBinding) {
	role := &rbacv1.Role{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"}, ObjectMeta: graphObjectMeta(g, roleName), Rules: rules}
	rb := &rbacv1.RoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
		ObjectMeta: graphObjectMeta(g, bindingName),
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: roleName},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: account, Namespace: g.Namespace}},
	}
	return role, rb
}

// PlannerRBAC renders what the graph's planner may do, bound to the planner's account: read
// graphs and endpoint slices, change this graph (its services' replicas) and scale its scaling
// adapters — upstream's planner Role, narrowed to this graph's names (upstream grants every
// graph of the namespace, and DynamoComponentDeployments, which are not served here). A Role of
// the graph's own (<graph>-planner), not one shared by the namespace: it goes with the graph.
func PlannerRBAC(g *graph.Graph) (*rbacv1.Role, *rbacv1.RoleBinding) {
	rules := []rbacv1.PolicyRule{
		{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"dynamographdeployments"}, Verbs: readVerbs},
		{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"dynamographdeployments"}, ResourceNames: []string{g.Name}, Verbs: []string{"update", "patch"}},
		{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: readVerbs},
	}
	var adapters []string
	for _, c := range g.Components {
		if c.ScalingAdapter != "" {
			adapters = append(adapters, c.ScalingAdapter)
		}
	}
	if len(adapters) > 0 {
		rules = append(rules,
			rbacv1.PolicyRule{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"dynamographdeploymentscalingadapters"}, Verbs: readVerbs},
			rbacv1.PolicyRule{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"dynamographdeploymentscalingadapters/scale"},
				ResourceNames: adapters, Verbs: []string{"get", "update", "patch"}})
	}
	return roleAndBinding(g, g.Name+"-planner", g.Name+"-planner", v1alpha1.PlannerServiceAccount, rules)
}

// PlannerServiceAccount renders the account planner pods run as (sharedServiceAccount). Each
// graph with a planner binds it to a Role of its own (PlannerRBAC).
func PlannerServiceAccount(g *graph.Graph) *corev1.ServiceAccount {
	return sharedServiceAccount(g, v1alpha1.PlannerServiceAccount)
}

// sharedServiceAccount renders an account upstream shares between the graphs of a namespace
// (the planner's, the Endpoint Picker's). Like a claim: created when absent, with no owner,
// never changed or deleted; each graph binds it to a Role of its own.
func sharedServiceAccount(g *graph.Graph, name string) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: g.Namespace,
			Labels:      map[string]string{v1alpha1.LabelManagedBy: ManagedBy},
			Annotations: map[string]string{v1alpha1.AnnotationCreatedBy: g.Namespace + "/" + g.Name},
		},
	}
}
