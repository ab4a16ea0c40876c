package graph

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/residual"
)

// The API admits every field of the original's v1alpha1 graph, so that its manifests apply
// unchanged. A field whose behaviour is not built yet must not be dropped silently (a graph
// with multinode rendered as single-node Deployments runs a model that does not fit), so a
// graph that uses one is reported and nothing of it is applied.

// UnimplementedError lists the fields a graph sets whose behaviour dynamo-infra does not
// implement yet, by field path.
type UnimplementedError struct {
	Fields []UnimplementedField
}

// UnimplementedField is one field a graph sets that is not implemented.
type UnimplementedField struct {
	// Path of the field ("spec.services.Decode.multinode").
	Path string
	// What the field does in the original operator.
	What string
}

func (e *UnimplementedError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = fmt.Sprintf("%s (%s)", f.Path, f.What)
	}
	return fmt.Sprintf("not implemented by dynamo-infra yet: %s; nothing of the graph is applied until the field is removed",
		strings.Join(parts, ", "))
}

// unimplemented lists every field of dgd whose behaviour is not implemented.
func unimplemented(dgd *v1alpha1.DynamoGraphDeployment, components []*Component) []UnimplementedField {
	var out []UnimplementedField
	add := func(path, what string) { out = append(out, UnimplementedField{Path: path, What: what}) }
	spec := &dgd.Spec
	if spec.PriorityClassName != "" {
		add("spec.priorityClassName", "Grove PodCliqueSet priority; set extraPodSpec.priorityClassName on services")
	}
	for _, c := range components {
		s := c.service
		if s == nil {
			continue
		}
		p := "spec.services." + c.Name + "."
		if s.ComponentType == v1alpha1.ComponentEPP && s.EPPConfig == nil {
			add(p+"eppConfig", "an Endpoint Picker without eppConfig: upstream's native (Rust) picker")
		}
		if s.GPUMemoryService != nil && s.GPUMemoryService.Enabled && s.GPUMemoryService.Mode == v1alpha1.GMSModeInterPod {
			add(p+"gpuMemoryService.mode", "interPod GPU Memory Service (a weight-server pod per rank: Grove only)")
		}
		if s.Failover != nil && s.Failover.Enabled && s.Failover.Mode == v1alpha1.GMSModeInterPod {
			add(p+"failover.mode", "interPod failover (an engine pod per rank: Grove only)")
		}
		if s.Checkpoint != nil && s.Checkpoint.Enabled {
			add(p+"checkpoint", "checkpoint restore")
		}
	}
	return append(out, v1beta1Only(dgd)...)
}

// v1beta1Only lists the fields of a graph written as v1beta1 that v1alpha1 cannot hold and
// whose behaviour is not implemented: they travel in the conversion annotation (the graph is
// read as v1alpha1 here), and are reported like the others, by their v1beta1 path.
func v1beta1Only(dgd *v1alpha1.DynamoGraphDeployment) []UnimplementedField {
	raw := dgd.Annotations[v1alpha1.AnnotationConversionSpec]
	if raw == "" {
		return nil
	}
	rec, err := residual.Decode(raw)
	if err != nil {
		return nil
	}
	spec, _ := rec.Want.(map[string]any)
	var out []UnimplementedField
	add := func(tree map[string]any, key, path, what string) {
		if tree[key] != nil {
			out = append(out, UnimplementedField{Path: path, What: what})
		}
	}
	add(spec, "providerOverride", "spec.providerOverride", "Grove provider override")
	if x, ok := spec["experimental"].(map[string]any); ok {
		add(x, "kvTransferPolicy", "spec.experimental.kvTransferPolicy", "topology-aware KV transfer routing")
		add(x, "componentGroups", "spec.experimental.componentGroups", "component groups scaled together")
	}
	components := residualComponents(spec["components"])
	for _, name := range slices.Sorted(maps.Keys(components)) {
		c := components[name]
		p := "spec.components[" + name + "]."
		add(c, "minAvailable", p+"minAvailable", "gang minimum (Grove)")
		add(c, "providerOverride", p+"providerOverride", "Grove provider override")
		if roles, ok := c["roles"]; ok && rolesConfigure(roles) {
			out = append(out, UnimplementedField{Path: p + "roles", What: "per-role provider override or pod template"})
		}
		if x, ok := c["experimental"].(map[string]any); ok {
			add(x, "grove", p+"experimental.grove", "Grove rendering options")
		}
	}
	return out
}

// residualComponents are the components a residual keeps fields of, by name: a list compared
// by name (ours) or a plain list (upstream's sparse spec).
func residualComponents(v any) map[string]map[string]any {
	out := map[string]map[string]any{}
	if m, ok := v.(map[string]any); ok {
		if k, ok := m["$keyed"].(map[string]any); ok {
			items, _ := k["items"].(map[string]any)
			for n, it := range items {
				if c, ok := it.(map[string]any); ok {
					out[n] = c
				}
			}
		}
	}
	if l, ok := v.([]any); ok {
		for _, it := range l {
			if c, ok := it.(map[string]any); ok {
				if n, ok := c["name"].(string); ok {
					out[n] = c
				}
			}
		}
	}
	return out
}

// rolesConfigure reports whether roles set more than names and counts (a provider override or
// a pod template of a role); names and counts are what multinode already says.
func rolesConfigure(v any) bool {
	var roles []any
	switch t := v.(type) {
	case []any:
		roles = t
	case map[string]any:
		if k, ok := t["$keyed"].(map[string]any); ok {
			items, _ := k["items"].(map[string]any)
			for _, it := range items {
				roles = append(roles, it)
			}
		}
	}
	for _, r := range roles {
		m, _ := r.(map[string]any)
		if el, ok := m["$element"].(map[string]any); ok {
			m = el
		}
		if m["providerOverride"] != nil || m["podTemplate"] != nil {
			return true
		}
	}
	return false
}

// Warnings are notes on fields that are accepted and ignored, as the original ignores them.
func (g *Graph) Warnings() []string {
	var out []string
	if g.WaitForCapacityErr != nil {
		out = append(out, g.WaitForCapacityErr.Error())
	}
	for _, c := range g.Components {
		s := c.service
		if s == nil {
			continue
		}
		if s.Autoscaling != nil {
			out = append(out, fmt.Sprintf("spec.services.%s.autoscaling is deprecated and ignored (as by the original operator): set replicas", c.Name))
		}
		if c.Multinode() && c.Backend == "" {
			out = append(out, fmt.Sprintf("spec.services.%s.multinode: no backend (set spec.backendFramework, or run python -m dynamo.vllm, dynamo.sglang or dynamo.trtllm): its pods are placed as groups but no distributed-launch flags are added", c.Name))
		}
		if fs := s.FrontendSidecar; fs != nil && len(fs.Args) > 0 && fs.Args[0] != "-m" {
			// Upstream's sidecar args replace the frontend's, -m dynamo.frontend included (its own
			// v1alpha1 gateway example writes [--router-mode, direct]).
			out = append(out, fmt.Sprintf("spec.services.%s.frontendSidecar.args replace the frontend's (-m dynamo.frontend), as upstream's do: the sidecar runs python3 %s; start them with -m dynamo.frontend", c.Name, strings.Join(fs.Args, " ")))
		}
		if s.EPPConfig != nil && c.Type != v1alpha1.ComponentEPP {
			out = append(out, fmt.Sprintf("spec.services.%s.eppConfig is ignored: the service is not an Endpoint Picker (componentType epp)", c.Name))
		}
		if s.DynamoNamespace != nil {
			out = append(out, fmt.Sprintf("spec.services.%s.dynamoNamespace is deprecated and ignored: the Dynamo namespace derives from the graph", c.Name))
		}
	}
	return out
}

// waitsForCapacity reads the graph's wait-for-capacity annotation as Kubernetes reads a boolean
// (strconv.ParseBool: 1, t, T, TRUE, true, True and 0, f, F, FALSE, false, False); unset is
// false. Any other value is false, and the error says so (the operator's Warning event, render's
// warning): "yes" or " true" do not hold a graph, and the user is told.
func waitsForCapacity(dgd *v1alpha1.DynamoGraphDeployment) (bool, error) {
	v, ok := dgd.Annotations[v1alpha1.AnnotationWaitForCapacity]
	if !ok {
		return false, nil
	}
	wait, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("annotation %s: %q is not a boolean (true or false, as Kubernetes reads them): the graph does not wait for capacity", v1alpha1.AnnotationWaitForCapacity, v)
	}
	return wait, nil
}
