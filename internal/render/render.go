// Package render turns a DynamoGraphDeployment and the operator's configuration into the child
// objects the operator applies: PVCs to create, the discovery ServiceAccount/Role/RoleBinding,
// and a Deployment and a Service per service. Pure functions, no client: the operator and
// `dynamoctl render` share them, so what the CLI prints is what the operator applies.
package render

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/topology"
)

// Config is the operator configuration that shapes children.
type Config struct {
	// NATSAddress is injected as NATS_SERVER when set.
	NATSAddress string
	// EtcdAddress is injected as ETCD_ENDPOINTS when set.
	EtcdAddress string
	// DiscoveryBackend is DYN_DISCOVERY_BACKEND unless the graph's annotation says otherwise.
	DiscoveryBackend string
	// MPISSHSecret names the Secret with the SSH key pair multi-node TRT-LLM pods mount
	// (default v1alpha1.MPISSHSecret); it must exist in the graph's namespace.
	MPISSHSecret string
	// Topology is the profile the graph's topologyConstraint names, as read from the cluster
	// (topology.ReadProfile); zero: the built-in levels.
	Topology topology.Profile
}

// ManagedBy is the v1alpha1.LabelManagedBy value of every child.
const ManagedBy = "dynamo-operator"

// Graph returns the desired children of dgd, in apply order: PVCs, the planner's account,
// discovery RBAC, the multi-node wait script, then for each service (sorted by name) its
// Deployment — a LeaderWorkerSet when it spans nodes — and Service, each but the claims stamped
// with AnnotationAppliedHash. Every object carries its TypeMeta; owner
// references point at dgd when it has a UID (PVCs excepted: they outlive the graph).
func Graph(dgd *v1alpha1.DynamoGraphDeployment, cfg Config) ([]runtime.Object, error) {
	if len(dgd.Spec.Services) == 0 {
		return nil, fmt.Errorf("graph %s has no services", dgd.Name)
	}
	if err := childNamesUnique(dgd); err != nil {
		return nil, err
	}
	if err := Unimplemented(dgd); err != nil {
		return nil, err
	}
	var out []runtime.Object
	for _, p := range dgd.Spec.PVCs {
		if p.Create != nil && *p.Create {
			out = append(out, PVC(dgd, p))
		}
	}
	if hasPlanner(dgd) {
		out = append(out, PlannerServiceAccount(dgd))
	}
	discovery := discoveryBackend(dgd, cfg) == v1alpha1.DiscoveryKubernetes
	if discovery {
		sa, role, rb := DiscoveryRBAC(dgd)
		out = append(out, sa, role, rb)
	}
	if HasMultinode(dgd) {
		out = append(out, WaitLeaderConfigMap(dgd))
	}
	for _, name := range ServiceNames(dgd) {
		var workload runtime.Object
		var err error
		if NodeCount(dgd.Spec.Services[name]) > 1 {
			workload, err = LeaderWorkerSet(dgd, name, cfg)
		} else {
			workload, err = Deployment(dgd, name, cfg)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, workload, Service(dgd, name, cfg))
	}
	for _, o := range out {
		if err := stampAppliedHash(o.(metav1.Object)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ServiceNames returns the graph's service names, sorted.
func ServiceNames(dgd *v1alpha1.DynamoGraphDeployment) []string {
	names := make([]string, 0, len(dgd.Spec.Services))
	for n := range dgd.Spec.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// childNamesUnique refuses two services whose children would share a name (Frontend and
// FRONTEND): both would write the same Deployment forever. The CRD refuses them too.
func childNamesUnique(dgd *v1alpha1.DynamoGraphDeployment) error {
	seen := map[string]string{}
	for _, name := range ServiceNames(dgd) {
		child := ChildName(dgd, name)
		if other, ok := seen[child]; ok {
			return fmt.Errorf("spec.services: %s and %s both name the child %s (service names must differ in more than case)", other, name, child)
		}
		seen[child] = name
	}
	return nil
}

// ChildName is the name of a service's Deployment and Service: <dgd>-<lowercased service>.
func ChildName(dgd *v1alpha1.DynamoGraphDeployment, service string) string {
	return dgd.Name + "-" + strings.ToLower(service)
}

// DynamoNamespace is the Dynamo namespace of a service: <k8s namespace>-<graph name, dots as
// dashes>, or "dynamo" for a service with globalDynamoNamespace.
func DynamoNamespace(dgd *v1alpha1.DynamoGraphDeployment, service string) string {
	if s := dgd.Spec.Services[service]; s != nil && s.GlobalDynamoNamespace {
		return v1alpha1.GlobalDynamoNamespace
	}
	return dgd.Namespace + "-" + strings.ReplaceAll(dgd.Name, ".", "-")
}

// DiscoveryServiceAccount is the account of a graph's pods when discovery runs on Kubernetes.
func DiscoveryServiceAccount(dgd *v1alpha1.DynamoGraphDeployment) string {
	return dgd.Name + "-k8s-service-discovery"
}

// annotation reads a graph-level annotation a service may override (the original copies these
// DGD annotations into each service's, the service's winning).
func annotation(dgd *v1alpha1.DynamoGraphDeployment, service, key string) string {
	if s := dgd.Spec.Services[service]; s != nil {
		if v, ok := s.Annotations[key]; ok {
			return v
		}
	}
	return dgd.Annotations[key]
}

func hasPlanner(dgd *v1alpha1.DynamoGraphDeployment) bool {
	for _, s := range dgd.Spec.Services {
		if s != nil && s.ComponentType == v1alpha1.ComponentPlanner {
			return true
		}
	}
	return false
}

func isWorker(ct string) bool {
	return ct == v1alpha1.ComponentWorker || ct == v1alpha1.ComponentPrefill || ct == v1alpha1.ComponentDecode
}

func discoveryBackend(dgd *v1alpha1.DynamoGraphDeployment, cfg Config) string {
	if v := dgd.Annotations[v1alpha1.AnnotationDiscoveryBackend]; v != "" {
		return v
	}
	if cfg.DiscoveryBackend != "" {
		return cfg.DiscoveryBackend
	}
	return v1alpha1.DiscoveryKubernetes
}

func ownerRefs(dgd *v1alpha1.DynamoGraphDeployment) []metav1.OwnerReference {
	if dgd.UID == "" {
		return nil
	}
	return []metav1.OwnerReference{{
		APIVersion: v1alpha1.GroupVersion.String(), Kind: "DynamoGraphDeployment",
		Name: dgd.Name, UID: dgd.UID, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
	}}
}

// selectorLabels select one service's pods.
func selectorLabels(dgd *v1alpha1.DynamoGraphDeployment, service string) map[string]string {
	return map[string]string{v1alpha1.LabelSelector: ChildName(dgd, service)}
}

// serviceSelector selects the pods a service's Service sends traffic to: all of them, or a
// multi-node service's leaders (workers serve no HTTP).
func serviceSelector(dgd *v1alpha1.DynamoGraphDeployment, service string) map[string]string {
	sel := selectorLabels(dgd, service)
	if NodeCount(dgd.Spec.Services[service]) > 1 {
		sel[v1alpha1.LabelRole] = string(RoleLeader)
	}
	return sel
}

// childLabels are the labels of a service's Deployment and Service: graph labels < service
// labels < the original's identifying labels and ours.
func childLabels(dgd *v1alpha1.DynamoGraphDeployment, service string) map[string]string {
	s := dgd.Spec.Services[service]
	l := merge(dgd.Spec.Labels, s.Labels)
	for k, v := range identity(dgd, service) {
		l[k] = v
	}
	l[v1alpha1.LabelManagedBy] = ManagedBy
	l["app.kubernetes.io/part-of"] = dgd.Name
	if s.ComponentType != "" {
		l["app.kubernetes.io/component"] = s.ComponentType
	}
	return l
}

// identity are the labels that say which graph, service and role an object or pod belongs to,
// as the original sets them (the component type labels only when set).
func identity(dgd *v1alpha1.DynamoGraphDeployment, service string) map[string]string {
	s := dgd.Spec.Services[service]
	l := map[string]string{
		v1alpha1.LabelSelector:            ChildName(dgd, service),
		v1alpha1.LabelGraphDeploymentName: dgd.Name,
		v1alpha1.LabelComponent:           service,
		v1alpha1.LabelDynamoNamespace:     DynamoNamespace(dgd, service),
	}
	if s.ComponentType != "" {
		l[v1alpha1.LabelComponentType] = s.ComponentType
	}
	if s.SubComponentType != "" {
		l[v1alpha1.LabelSubComponentType] = s.SubComponentType
	}
	return l
}

// podLabels are the pod template's labels, as the original builds them: its identifying
// labels and the metrics label, then graph < service < extraPodMetadata labels, then the
// graph name, component type and Dynamo namespace again (users cannot move a pod to another
// graph), the selector (the Deployment needs it) and the discovery labels.
func podLabels(dgd *v1alpha1.DynamoGraphDeployment, service string, cfg Config) map[string]string {
	s := dgd.Spec.Services[service]
	id := identity(dgd, service)
	l := merge(id)
	if !strings.EqualFold(annotation(dgd, service, v1alpha1.AnnotationEnableMetrics), "false") {
		l[v1alpha1.LabelMetricsEnabled] = "true"
	}
	l = merge(l, dgd.Spec.Labels, s.Labels)
	if s.ExtraPodMetadata != nil {
		l = merge(l, s.ExtraPodMetadata.Labels)
	}
	for _, k := range []string{v1alpha1.LabelSelector, v1alpha1.LabelGraphDeploymentName, v1alpha1.LabelComponentType, v1alpha1.LabelDynamoNamespace} {
		if v, ok := id[k]; ok {
			l[k] = v
		}
	}
	l[v1alpha1.LabelManagedBy] = ManagedBy
	if discoveryBackend(dgd, cfg) == v1alpha1.DiscoveryKubernetes {
		l[v1alpha1.LabelDiscoveryBackend] = v1alpha1.DiscoveryKubernetes
		l[v1alpha1.LabelDiscoveryEnabled] = "true"
	}
	return l
}

// childAnnotations are a service's Deployment and Service annotations: graph < service.
func childAnnotations(dgd *v1alpha1.DynamoGraphDeployment, service string) map[string]string {
	a := merge(dgd.Spec.Annotations, dgd.Spec.Services[service].Annotations)
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
func podAnnotations(dgd *v1alpha1.DynamoGraphDeployment, service string) map[string]string {
	s := dgd.Spec.Services[service]
	fromGraph := map[string]string{}
	for _, k := range propagatedAnnotations {
		if v, ok := dgd.Annotations[k]; ok {
			fromGraph[k] = v
		}
	}
	a := merge(dgd.Spec.Annotations, fromGraph, s.Annotations)
	if s.ExtraPodMetadata != nil {
		a = merge(a, s.ExtraPodMetadata.Annotations)
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

// Service renders the Service of one service: frontend 8000/http, others 9090/system; a
// multi-node service's selects its groups' leaders.
func Service(dgd *v1alpha1.DynamoGraphDeployment, service string, cfg Config) *corev1.Service {
	name, port := v1alpha1.PortNameSystem, int32(v1alpha1.PortSystem)
	if dgd.Spec.Services[service].ComponentType == v1alpha1.ComponentFrontend {
		name, port = v1alpha1.PortNameFrontend, v1alpha1.PortFrontend
	}
	labels := childLabels(dgd, service)
	if discoveryBackend(dgd, cfg) == v1alpha1.DiscoveryKubernetes {
		labels[v1alpha1.LabelDiscoveryBackend] = v1alpha1.DiscoveryKubernetes
		labels[v1alpha1.LabelDiscoveryEnabled] = "true"
	}
	return &corev1.Service{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{
			Name: ChildName(dgd, service), Namespace: dgd.Namespace,
			Labels: labels, Annotations: childAnnotations(dgd, service), OwnerReferences: ownerRefs(dgd),
		},
		Spec: corev1.ServiceSpec{
			Selector: serviceSelector(dgd, service),
			Ports:    []corev1.ServicePort{{Name: name, Port: port, TargetPort: intstr.FromString(name), Protocol: corev1.ProtocolTCP}},
		},
	}
}

// PVC renders a claim the graph creates. It has no owner reference: model caches outlive the
// graph; the annotation says which graph made it.
func PVC(dgd *v1alpha1.DynamoGraphDeployment, p v1alpha1.PVC) *corev1.PersistentVolumeClaim {
	pvc := &corev1.PersistentVolumeClaim{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: metav1.ObjectMeta{
			Name: p.Name, Namespace: dgd.Namespace,
			Labels:      map[string]string{v1alpha1.LabelGraphDeploymentName: dgd.Name, v1alpha1.LabelManagedBy: ManagedBy},
			Annotations: map[string]string{v1alpha1.AnnotationCreatedBy: dgd.Namespace + "/" + dgd.Name},
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
func DiscoveryRBAC(dgd *v1alpha1.DynamoGraphDeployment) (*corev1.ServiceAccount, *rbacv1.Role, *rbacv1.RoleBinding) {
	base := DiscoveryServiceAccount(dgd)
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: dgd.Namespace, OwnerReferences: ownerRefs(dgd),
			Labels: map[string]string{v1alpha1.LabelGraphDeploymentName: dgd.Name, v1alpha1.LabelManagedBy: ManagedBy}}
	}
	read := []string{"get", "list", "watch"}
	sa := &corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}, ObjectMeta: meta(base)}
	role := &rbacv1.Role{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
		ObjectMeta: meta(base + "-role"),
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"endpoints", "pods"}, Verbs: read},
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: read},
			{APIGroups: []string{"nvidia.com"}, Resources: []string{"dynamoworkermetadatas"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
		},
	}
	rb := &rbacv1.RoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
		ObjectMeta: meta(base + "-binding"),
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa.Name, Namespace: dgd.Namespace}},
	}
	return sa, role, rb
}

// PlannerServiceAccount renders the account planner pods run as. Like a claim, it is shared by
// every graph of the namespace: created when absent, with no owner, never changed or deleted.
// What the planner may do (scale the graph, read metrics) is the cluster admin's to grant: the
// operator holds no such rights to give.
func PlannerServiceAccount(dgd *v1alpha1.DynamoGraphDeployment) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: metav1.ObjectMeta{
			Name: v1alpha1.PlannerServiceAccount, Namespace: dgd.Namespace,
			Labels:      map[string]string{v1alpha1.LabelManagedBy: ManagedBy},
			Annotations: map[string]string{v1alpha1.AnnotationCreatedBy: dgd.Namespace + "/" + dgd.Name},
		},
	}
}
