package render

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
)

// The Endpoint Picker (componentType epp) of the Gateway API Inference Extension, as upstream
// renders it (deploy/operator/internal/dynamo: component_epp.go, epp/; the legacy Go EPP that
// eppConfig selects): the component's Deployment runs the picker with the graph's InferencePool
// and its EndpointPickerConfig; its Service serves gRPC on 9002; the InferencePool selects the
// graph's workers (whose frontend sidecars serve 8000) and names that Service as its picker.

// InferencePoolGVK is the Gateway API Inference Extension's InferencePool (stable v1), rendered
// for a graph with an Endpoint Picker. Unstructured: the extension's types are not a dependency.
var InferencePoolGVK = schema.GroupVersionKind{Group: v1alpha1.InferencePoolGroup, Version: "v1", Kind: "InferencePool"}

// eppContainer sets what upstream's EPP defaults give the main container over the common env:
// the gRPC, health and metrics ports, gRPC probes on the health port (a 30-minute startup: the
// picker waits for workers to register), its env, the image's own entrypoint with the pool's and
// config file's flags, and the config mount.
func eppContainer(g *graph.Graph, comp *graph.Component, c *corev1.Container) {
	port := func(name string, n int32) corev1.ContainerPort {
		return corev1.ContainerPort{Name: name, ContainerPort: n, Protocol: corev1.ProtocolTCP}
	}
	c.Ports = []corev1.ContainerPort{port(v1alpha1.PortNameEPPGRPC, v1alpha1.PortEPPGRPC),
		port(v1alpha1.PortNameEPPHealth, v1alpha1.PortEPPHealth), port(v1alpha1.PortNameMetrics, v1alpha1.PortSystem)}
	grpc := corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: v1alpha1.PortEPPHealth, Service: ptr.To(v1alpha1.EPPHealthService)}}
	c.LivenessProbe = &corev1.Probe{ProbeHandler: grpc, InitialDelaySeconds: 5, PeriodSeconds: 10}
	c.ReadinessProbe = &corev1.Probe{ProbeHandler: *grpc.DeepCopy(), InitialDelaySeconds: 5, PeriodSeconds: 10}
	c.StartupProbe = &corev1.Probe{ProbeHandler: *grpc.DeepCopy(), PeriodSeconds: 10, FailureThreshold: 180}
	c.Env = append(c.Env,
		corev1.EnvVar{Name: v1alpha1.EnvUseStreaming, Value: "true"},
		corev1.EnvVar{Name: v1alpha1.EnvRustLog, Value: "info"},
		corev1.EnvVar{Name: v1alpha1.EnvEnforceDisagg, Value: "false"},
		corev1.EnvVar{Name: v1alpha1.EnvNamespacePrefix, Value: comp.DynamoNamespace})
	c.Command = nil
	c.Args = []string{
		"--pool-name", g.InferencePoolName(),
		"--pool-namespace", g.Namespace,
		"--pool-group", v1alpha1.InferencePoolGroup,
		"-v", "4",
		"--zap-encoder", "json",
		"--grpc-port", strconv.Itoa(v1alpha1.PortEPPGRPC),
		"--grpc-health-port", strconv.Itoa(v1alpha1.PortEPPHealth),
		"--config-file", v1alpha1.EPPConfigDir + "/" + v1alpha1.EPPConfigKey,
	}
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: v1alpha1.EPPConfigVolume, MountPath: v1alpha1.EPPConfigDir, ReadOnly: true})
}

// eppPodSpec sets what upstream's EPP defaults give the pod: the namespace's EPP account, a
// 130 s grace period, and the config volume — the graph's ConfigMap, or the user's (its key, by
// default upstream's, mounted as upstream's file name either way).
func eppPodSpec(g *graph.Graph, comp *graph.Component, p *corev1.PodSpec) {
	p.ServiceAccountName = v1alpha1.EPPServiceAccount
	p.TerminationGracePeriodSeconds = ptr.To(int64(v1alpha1.EPPTerminationGraceSecs))
	name, key := g.EPPConfigMapName(), v1alpha1.EPPConfigKey
	if ref := comp.EPP.ConfigMapRef; ref != nil {
		name = ref.Name
		if ref.Key != "" {
			key = ref.Key
		}
	}
	p.Volumes = append(p.Volumes, corev1.Volume{Name: v1alpha1.EPPConfigVolume, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: name},
		Items:                []corev1.KeyToPath{{Key: key, Path: v1alpha1.EPPConfigKey}},
	}}})
}

// eppObjects are the children of a graph's Endpoint Picker besides its Deployment and Service:
// the namespace's EPP account (shared, like the planner's) with a Role of the graph's own —
// upstream's EPP ClusterRole: read InferencePools, pods, endpoint slices and worker metadata —
// the ConfigMap of an inline EndpointPickerConfig, and the InferencePool.
func eppObjects(g *graph.Graph, c *graph.Component) ([]runtime.Object, error) {
	sa := sharedServiceAccount(g, v1alpha1.EPPServiceAccount)
	role, rb := roleAndBinding(g, g.Name+"-epp", g.Name+"-epp", sa.Name, []rbacv1.PolicyRule{
		{APIGroups: []string{v1alpha1.InferencePoolGroup}, Resources: []string{"inferencepools", "inferencepools/status"}, Verbs: readVerbs},
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: readVerbs},
		{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: readVerbs},
		{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"dynamoworkermetadatas"}, Verbs: readVerbs},
	})
	out := []runtime.Object{sa, role, rb}
	if c.EPP.Config != nil {
		cm, err := EPPConfigMap(g, c)
		if err != nil {
			return nil, err
		}
		out = append(out, cm)
	}
	return append(out, InferencePool(g, c)), nil
}

// endpointPickerConfig is the EndpointPickerConfig of the Gateway API Inference Extension
// (apix/config/v1alpha1 at v1.2.0, upstream's pin), field for field with its JSON tags: upstream
// decodes eppConfig.config into it and writes it back, so the file its picker reads has these
// fields only, with null for an absent name's parameters or weight.
type endpointPickerConfig struct {
	metav1.TypeMeta    `json:",inline"`
	Plugins            []eppPlugin          `json:"plugins"`
	SchedulingProfiles []eppProfile         `json:"schedulingProfiles"`
	FeatureGates       []string             `json:"featureGates,omitempty"`
	SaturationDetector *saturationDetection `json:"saturationDetector,omitempty"`
}

type eppPlugin struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Parameters json.RawMessage `json:"parameters"`
}

type eppProfile struct {
	Name    string `json:"name"`
	Plugins []struct {
		PluginRef string `json:"pluginRef"`
		Weight    *int   `json:"weight"`
	} `json:"plugins"`
}

type saturationDetection struct {
	QueueDepthThreshold       int             `json:"queueDepthThreshold,omitempty"`
	KVCacheUtilThreshold      float64         `json:"kvCacheUtilThreshold,omitempty"`
	MetricsStalenessThreshold metav1.Duration `json:"metricsStalenessThreshold,omitempty"`
}

// EPPConfigMap holds an inline EndpointPickerConfig as upstream writes it: <graph>-epp-config,
// key epp-config-dynamo.yaml, the config as YAML with its apiVersion and kind
// (inference.networking.x-k8s.io/v1alpha1 EndpointPickerConfig), labelled with the graph, the
// component and its type.
func EPPConfigMap(g *graph.Graph, c *graph.Component) (*corev1.ConfigMap, error) {
	var cfg endpointPickerConfig
	if err := json.Unmarshal(c.EPP.Config.Raw, &cfg); err != nil {
		return nil, fmt.Errorf("service %s: eppConfig.config is not an EndpointPickerConfig: %w", c.Name, err)
	}
	cfg.TypeMeta = metav1.TypeMeta{APIVersion: "inference.networking.x-k8s.io/v1alpha1", Kind: "EndpointPickerConfig"}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("service %s: eppConfig.config: %w", c.Name, err)
	}
	return &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: g.EPPConfigMapName(), Namespace: g.Namespace, OwnerReferences: ownerRefs(g),
			Labels: eppLabels(g, c)},
		Data: map[string]string{v1alpha1.EPPConfigKey: string(out)},
	}, nil
}

// InferencePool is the graph's pool as upstream renders it: <graph>-pool in the graph's
// namespace, the graph's workers (component type worker, the Endpoint Picker's Dynamo namespace)
// on port 8000 — their frontend sidecars — and the Endpoint Picker's Service on 9002 as its
// picker. Ours: a graph whose workers run no frontend sidecar (upstream's earlier gateway
// examples, a frontend service beside the workers) gets its frontends' pods, as upstream's
// pool selected before sidecars; upstream's newest would select workers that serve no 8000.
func InferencePool(g *graph.Graph, c *graph.Component) *unstructured.Unstructured {
	members := v1alpha1.ComponentWorker
	if !slices.ContainsFunc(g.Components, func(w *graph.Component) bool { return w.FrontendSidecar != nil && graph.IsWorker(w.Type) }) &&
		slices.ContainsFunc(g.Components, func(f *graph.Component) bool { return f.Type == v1alpha1.ComponentFrontend }) {
		members = v1alpha1.ComponentFrontend
	}
	pool := &unstructured.Unstructured{Object: map[string]any{
		"spec": map[string]any{
			"targetPorts": []any{map[string]any{"number": int64(v1alpha1.PortFrontend)}},
			"selector": map[string]any{"matchLabels": map[string]any{
				v1alpha1.LabelComponentType:   members,
				v1alpha1.LabelDynamoNamespace: c.DynamoNamespace,
			}},
			"endpointPickerRef": map[string]any{"kind": "Service", "name": c.ChildName,
				"port": map[string]any{"number": int64(v1alpha1.PortEPPGRPC)}},
		},
	}}
	pool.SetGroupVersionKind(InferencePoolGVK)
	pool.SetName(g.InferencePoolName())
	pool.SetNamespace(g.Namespace)
	pool.SetLabels(eppLabels(g, c))
	pool.SetOwnerReferences(ownerRefs(g))
	return pool
}

// eppLabels are upstream's labels of the picker's ConfigMap and pool, and our managed-by.
func eppLabels(g *graph.Graph, c *graph.Component) map[string]string {
	return map[string]string{v1alpha1.LabelGraphDeploymentName: g.Name, v1alpha1.LabelComponent: c.Name,
		v1alpha1.LabelComponentType: v1alpha1.ComponentEPP, v1alpha1.LabelManagedBy: ManagedBy}
}
