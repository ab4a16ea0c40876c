package v1beta1

import (
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

// Validate holds a new graph to upstream's rules that its CRD's CEL cannot: every component but
// an epp has a container "main" with an image, frontendSidecar names a container of the pod,
// and a restart order names every component once. The API server runs them through the operator's validating webhook; dynamoctl runs them
// on files.
func (g *DynamoGraphDeployment) Validate() field.ErrorList { return g.ValidateUpdate(nil) }

// ValidateUpdate is Validate for a change from old (nil: a new graph): as upstream, the image
// rule holds for components old did not have, and spec.restart.id may not change while old's
// rolling update is Pending or InProgress.
func (g *DynamoGraphDeployment) ValidateUpdate(old *DynamoGraphDeployment) field.ErrorList {
	var errs field.ErrorList
	existed := func(name string) bool {
		return old != nil && slices.ContainsFunc(old.Spec.Components, func(c ComponentSpec) bool { return c.Name == name })
	}
	for i := range g.Spec.Components {
		c := &g.Spec.Components[i]
		path := field.NewPath("spec", "components").Key(c.Name)
		var names []string
		mainImage := false
		if c.PodTemplate != nil {
			for _, ct := range c.PodTemplate.Spec.Containers {
				names = append(names, ct.Name)
				if ct.Name == MainContainerName && ct.Image != "" {
					mainImage = true
				}
			}
		}
		if c.Type != "epp" && !mainImage && !existed(c.Name) {
			errs = append(errs, field.Required(path.Child("podTemplate", "spec", "containers"),
				"a container named main with an image is required: every component needs an image"))
		}
		if c.FrontendSidecar != nil && !slices.Contains(names, *c.FrontendSidecar) {
			errs = append(errs, field.Invalid(path.Child("frontendSidecar"), *c.FrontendSidecar,
				"must name a container of podTemplate.spec.containers"))
		}
	}
	errs = append(errs, g.validateRestart()...)
	if old != nil && old.Status.RollingUpdate != nil {
		switch phase := old.Status.RollingUpdate.Phase; phase {
		case "Pending", "InProgress":
			if restartID(old) != restartID(g) {
				errs = append(errs, field.Forbidden(field.NewPath("spec", "restart", "id"),
					"cannot be changed while a rolling update is "+phase+": the rollout replaces the workers' pods; change it once status.rollingUpdate.phase is Completed"))
			}
		}
	}
	return errs
}

// validateRestart: a Sequential restart's order, when given, names every component once
// (upstream's webhook rules).
func (g *DynamoGraphDeployment) validateRestart() field.ErrorList {
	r := g.Spec.Restart
	if r == nil || r.Strategy == nil || len(r.Strategy.Order) == 0 {
		return nil
	}
	path := field.NewPath("spec", "restart", "strategy", "order")
	var errs field.ErrorList
	components := map[string]bool{}
	for _, c := range g.Spec.Components {
		components[c.Name] = true
	}
	seen := map[string]bool{}
	for i, name := range r.Strategy.Order {
		switch {
		case seen[name]:
			errs = append(errs, field.Duplicate(path.Index(i), name))
		case !components[name]:
			errs = append(errs, field.NotFound(path.Index(i), name))
		}
		seen[name] = true
	}
	if len(seen) != len(components) {
		var missing []string
		for _, c := range g.Spec.Components {
			if !seen[c.Name] {
				missing = append(missing, c.Name)
			}
		}
		if len(missing) > 0 {
			errs = append(errs, field.Invalid(path, r.Strategy.Order,
				"must name every component once; missing: "+strings.Join(missing, ", ")))
		}
	}
	return errs
}

func restartID(g *DynamoGraphDeployment) string {
	if g.Spec.Restart == nil {
		return ""
	}
	return g.Spec.Restart.ID
}

// ValidateReplicaOwnership refuses a change of the replicas of a component a scaling adapter
// owns (in old or in g): upstream's webhook rule for everyone but the operator and planners,
// who are not asked (the webhook decides who asks). The adapter is where they are changed:
// kubectl scale dgdsa/NAME, an autoscaler, the planner.
func (g *DynamoGraphDeployment) ValidateReplicaOwnership(old *DynamoGraphDeployment) field.ErrorList {
	if old == nil {
		return nil
	}
	var errs field.ErrorList
	for _, c := range g.Spec.Components {
		i := slices.IndexFunc(old.Spec.Components, func(o ComponentSpec) bool { return o.Name == c.Name })
		if i < 0 {
			continue
		}
		was := &old.Spec.Components[i]
		if c.ScalingAdapter == nil && was.ScalingAdapter == nil {
			continue
		}
		if ptr.Deref(c.Replicas, 1) != ptr.Deref(was.Replicas, 1) {
			errs = append(errs, field.Forbidden(field.NewPath("spec", "components").Key(c.Name).Child("replicas"),
				"cannot be modified directly when scaling adapter is enabled; scale or update the related DynamoGraphDeploymentScalingAdapter instead (kubectl scale dgdsa/"+g.Name+"-"+strings.ToLower(c.Name)+" --replicas=N)"))
		}
	}
	return errs
}
