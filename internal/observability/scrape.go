// Package observability generates what scrapes a graph: a Prometheus scrape job or a
// PodMonitor per service, from the same rendered pods the operator creates, so no role (frontend,
// worker, prefill, decode, planner) goes unscraped — the original's PodMonitors selected only
// component type "worker" and missed prefill and decode.
package observability

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
)

// Target is one metrics endpoint of a service's pods.
type Target struct {
	Graph         string
	Namespace     string
	Service       string
	ComponentType string
	// Endpoint names an endpoint beside the service's own: "" for the main container's,
	// EndpointFrontendSidecar, EndpointNixl.
	Endpoint string
	// Its pods are those labelled with the graph's name and the service's
	// (nvidia.com/dynamo-graph-deployment-name, nvidia.com/dynamo-component): every worker
	// generation's, so a rollout's old and new pods are both scraped and a worker change does
	// not leave the scrape config behind (nvidia.com/selector names one generation).
	// Port is the container port's name; Path the metrics path.
	Port string
	Path string
	// Enabled is false when the graph turned metrics off (nvidia.com/enable-metrics: "false").
	Enabled bool
}

// Endpoints beside a service's own.
const (
	// EndpointFrontendSidecar: a worker's frontend sidecar (spec.services.*.frontendSidecar)
	// serves the frontend's metrics on its http port — upstream's monitors never scrape it
	// (upstream #11981). Its series are labelled component type frontend.
	EndpointFrontendSidecar = "frontend-sidecar"
	// EndpointNixl: a worker whose main container turns NIXL telemetry on
	// (NIXL_TELEMETRY_ENABLE y, yes, 1 or true) serves it on its nixl port (19090).
	EndpointNixl = "nixl"
)

// JobName is the scrape job's (and PodMonitor's) name: dynamo-<graph>-<service>, and
// -<endpoint> for an endpoint beside the service's own.
func (t Target) JobName() string {
	name := "dynamo-" + t.Graph + "-" + strings.ToLower(t.Service)
	if t.Endpoint != "" {
		name += "-" + t.Endpoint
	}
	return name
}

// Targets renders each graph's services and returns their metrics endpoints, in graph and
// service order: each service's own, then its frontend sidecar's and its NIXL telemetry's
// where it has them.
func Targets(graphs []*graph.Graph, cfg render.Config) ([]Target, error) {
	var out []Target
	for _, g := range graphs {
		if err := g.Refusal(); err != nil {
			return nil, fmt.Errorf("%s: %w", g.Name, err)
		}
		for _, c := range g.Components {
			name := c.Name
			// A multi-node service's workers carry the same selector as its leader: both are scraped.
			tpl, err := render.PodTemplate(g, c, cfg)
			if err != nil {
				return nil, fmt.Errorf("%s/%s: %w", g.Name, name, err)
			}
			labels := tpl.Labels
			main := render.MainContainer(&tpl.Spec)
			port := metricsPort(main)
			if port == "" {
				return nil, fmt.Errorf("%s/%s: the main container has no %q, %q or %q port", g.Name, name, v1alpha1.PortNameFrontend, v1alpha1.PortNamePlannerMetrics, v1alpha1.PortNameSystem)
			}
			t := Target{
				Graph: g.Name, Namespace: g.Namespace, Service: name,
				ComponentType: labels[v1alpha1.LabelComponentType],
				Port:          port, Path: "/metrics",
				Enabled: labels[v1alpha1.LabelMetricsEnabled] == "true",
			}
			out = append(out, t)
			for i := range tpl.Spec.Containers {
				if ct := &tpl.Spec.Containers[i]; ct.Name == v1alpha1.FrontendSidecarContainerName && hasPort(ct, v1alpha1.PortNameFrontend) {
					side := t
					side.Endpoint, side.ComponentType, side.Port = EndpointFrontendSidecar, v1alpha1.ComponentFrontend, v1alpha1.PortNameFrontend
					out = append(out, side)
				}
			}
			if main != nil && hasPort(main, v1alpha1.PortNameNixl) && nixlTelemetry(main) {
				nixl := t
				nixl.Endpoint, nixl.Port = EndpointNixl, v1alpha1.PortNameNixl
				out = append(out, nixl)
			}
		}
	}
	return out, nil
}

// metricsPort is the port the main container serves Dynamo's /metrics on: the frontend's http,
// the planner's metrics (9085), the workers' system.
func metricsPort(main *corev1.Container) string {
	if main == nil {
		return ""
	}
	for _, name := range []string{v1alpha1.PortNameFrontend, v1alpha1.PortNamePlannerMetrics, v1alpha1.PortNameSystem} {
		if hasPort(main, name) {
			return name
		}
	}
	return ""
}

func hasPort(c *corev1.Container, name string) bool {
	return slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == name })
}

// nixlTelemetry: the container turns NIXL's telemetry on (the env as NIXL reads it).
func nixlTelemetry(c *corev1.Container) bool {
	for _, e := range c.Env {
		if e.Name == v1alpha1.EnvNixlTelemetry {
			switch strings.ToLower(e.Value) {
			case "y", "yes", "1", "true":
				return true
			}
			return false
		}
	}
	return false
}

// ScrapeConfig is one Prometheus scrape job (the fields we set).
type ScrapeConfig struct {
	JobName             string               `json:"job_name"`
	ScrapeInterval      string               `json:"scrape_interval,omitempty"`
	MetricsPath         string               `json:"metrics_path"`
	KubernetesSDConfigs []KubernetesSDConfig `json:"kubernetes_sd_configs"`
	RelabelConfigs      []RelabelConfig      `json:"relabel_configs"`
}

// KubernetesSDConfig discovers pods of some namespaces.
type KubernetesSDConfig struct {
	Role       string             `json:"role"`
	Namespaces *NamespaceSelector `json:"namespaces,omitempty"`
}

// NamespaceSelector lists namespaces by name.
type NamespaceSelector struct {
	Names []string `json:"names"`
}

// RelabelConfig is a Prometheus relabelling step.
type RelabelConfig struct {
	SourceLabels []string `json:"source_labels,omitempty"`
	Regex        string   `json:"regex,omitempty"`
	Action       string   `json:"action,omitempty"`
	TargetLabel  string   `json:"target_label,omitempty"`
	Replacement  string   `json:"replacement,omitempty"`
}

// promLabel is the __meta_kubernetes_pod_label_ name of a pod label.
func promLabel(k string) string {
	var b strings.Builder
	for _, r := range k {
		if (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return "__meta_kubernetes_pod_label_" + b.String()
}

// identity are the labels every series of a target gets, so dashboards can split by role (and,
// for an endpoint beside the service's own, by that endpoint).
func identity(t Target) []RelabelConfig {
	rc := []RelabelConfig{
		{Action: "replace", TargetLabel: "dynamo_graph", Replacement: t.Graph},
		{Action: "replace", TargetLabel: "dynamo_component", Replacement: t.Service},
		{Action: "replace", TargetLabel: "dynamo_component_type", Replacement: t.ComponentType},
	}
	if t.Endpoint != "" {
		rc = append(rc, RelabelConfig{Action: "replace", TargetLabel: "dynamo_scrape_endpoint", Replacement: t.Endpoint})
	}
	return rc
}

// ScrapeConfigs returns one job per enabled target: Kubernetes pod discovery in the graph's
// namespace, kept to the service's pods (graph and component labels) and its metrics port, labelled
// with graph, component and component type.
func ScrapeConfigs(targets []Target, interval string) []ScrapeConfig {
	out := []ScrapeConfig{}
	for _, t := range targets {
		if !t.Enabled {
			continue
		}
		rc := []RelabelConfig{
			{SourceLabels: []string{promLabel(v1alpha1.LabelGraphDeploymentName)}, Regex: regexp.QuoteMeta(t.Graph), Action: "keep"},
			{SourceLabels: []string{promLabel(v1alpha1.LabelComponent)}, Regex: regexp.QuoteMeta(t.Service), Action: "keep"},
			{SourceLabels: []string{"__meta_kubernetes_pod_container_port_name"}, Regex: t.Port, Action: "keep"},
			{SourceLabels: []string{"__meta_kubernetes_namespace"}, TargetLabel: "namespace", Action: "replace"},
			{SourceLabels: []string{"__meta_kubernetes_pod_name"}, TargetLabel: "pod", Action: "replace"},
		}
		out = append(out, ScrapeConfig{
			JobName: t.JobName(), ScrapeInterval: interval, MetricsPath: t.Path,
			KubernetesSDConfigs: []KubernetesSDConfig{{Role: "pod", Namespaces: &NamespaceSelector{Names: []string{namespaceOrDefault(t.Namespace)}}}},
			RelabelConfigs:      append(rc, identity(t)...),
		})
	}
	return out
}

// PodMonitor is a monitoring.coreos.com/v1 PodMonitor (the fields we set).
type PodMonitor struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   PodMonitorMeta `json:"metadata"`
	Spec       PodMonitorSpec `json:"spec"`
}

// PodMonitorMeta names a PodMonitor.
type PodMonitorMeta struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace"`
	Labels    map[string]string `json:"labels,omitempty"`
}

// PodMonitorSpec selects pods and their metrics endpoint.
type PodMonitorSpec struct {
	Selector            LabelSelector        `json:"selector"`
	NamespaceSelector   NamespaceNames       `json:"namespaceSelector"`
	PodMetricsEndpoints []PodMetricsEndpoint `json:"podMetricsEndpoints"`
}

// LabelSelector matches labels exactly.
type LabelSelector struct {
	MatchLabels map[string]string `json:"matchLabels"`
}

// NamespaceNames lists namespaces.
type NamespaceNames struct {
	MatchNames []string `json:"matchNames"`
}

// PodMetricsEndpoint is a port and path to scrape.
type PodMetricsEndpoint struct {
	Port        string              `json:"port"`
	Path        string              `json:"path"`
	Interval    string              `json:"interval,omitempty"`
	Relabelings []PodMonitorRelabel `json:"relabelings,omitempty"`
}

// PodMonitorRelabel is a Prometheus Operator relabelling (camelCase fields).
type PodMonitorRelabel struct {
	Action      string `json:"action"`
	TargetLabel string `json:"targetLabel"`
	Replacement string `json:"replacement"`
}

// PodMonitors returns one PodMonitor per enabled target, in the graph's namespace.
func PodMonitors(targets []Target, interval string) []PodMonitor {
	var out []PodMonitor
	for _, t := range targets {
		if !t.Enabled {
			continue
		}
		var rl []PodMonitorRelabel
		for _, r := range identity(t) {
			rl = append(rl, PodMonitorRelabel{Action: r.Action, TargetLabel: r.TargetLabel, Replacement: r.Replacement})
		}
		out = append(out, PodMonitor{
			APIVersion: "monitoring.coreos.com/v1", Kind: "PodMonitor",
			Metadata: PodMonitorMeta{Name: t.JobName(), Namespace: namespaceOrDefault(t.Namespace),
				Labels: map[string]string{v1alpha1.LabelGraphDeploymentName: t.Graph, v1alpha1.LabelManagedBy: "dynamoctl"}},
			Spec: PodMonitorSpec{
				Selector: LabelSelector{MatchLabels: map[string]string{v1alpha1.LabelGraphDeploymentName: t.Graph,
					v1alpha1.LabelComponent: t.Service, v1alpha1.LabelMetricsEnabled: "true"}},
				NamespaceSelector:   NamespaceNames{MatchNames: []string{namespaceOrDefault(t.Namespace)}},
				PodMetricsEndpoints: []PodMetricsEndpoint{{Port: t.Port, Path: t.Path, Interval: interval, Relabelings: rl}},
			},
		})
	}
	return out
}

func namespaceOrDefault(ns string) string {
	if ns == "" {
		return "default"
	}
	return ns
}
