package v1beta1

import (
	"slices"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Validate holds a new graph to upstream's rules that its CRD's CEL cannot: every component but
// an epp has a container "main" with an image, and frontendSidecar names a container of the
// pod. The API server runs them through the operator's validating webhook; dynamoctl runs them
// on files.
func (g *DynamoGraphDeployment) Validate() field.ErrorList { return g.ValidateUpdate(nil) }

// ValidateUpdate is Validate for a change from old (nil: a new graph): as upstream, the image
// rule holds for components old did not have.
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
	return errs
}
