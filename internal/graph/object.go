package graph

import (
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/api/v1beta1"
)

// Resource is the graphs' API resource.
var Resource = v1alpha1.GroupVersion.WithResource("dynamographdeployments")

// FromUnstructured converts a graph read through a dynamic client, in either version.
func FromUnstructured(u *unstructured.Unstructured) (*v1alpha1.DynamoGraphDeployment, error) {
	g := &v1alpha1.DynamoGraphDeployment{}
	if u.GetAPIVersion() == v1beta1.GroupVersion.String() {
		beta := &v1beta1.DynamoGraphDeployment{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, beta); err != nil {
			return nil, fmt.Errorf("decode %s: %w", u.GetName(), err)
		}
		if err := g.ConvertFrom(beta); err != nil {
			return nil, fmt.Errorf("convert %s: %w", u.GetName(), err)
		}
		return g, nil
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, g); err != nil {
		return nil, fmt.Errorf("decode %s: %w", u.GetName(), err)
	}
	return g, nil
}

// IsMissing: err says the one graph asked for does not exist (a 404 about it, not about the
// resource: a cluster without the CRD is another answer).
func IsMissing(err error) bool {
	var status apierrors.APIStatus
	return apierrors.IsNotFound(err) && errors.As(err, &status) && status.Status().Details != nil && status.Status().Details.Name != ""
}
