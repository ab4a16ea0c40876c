// Package v1beta1 is the nvidia.com/v1beta1 API of dynamo-infra: DynamoGraphDeployment in the
// shape upstream Dynamo's examples use since mid-2026 — spec.components, a list, each with one
// podTemplate whose container "main" is the engine. It is the hub of conversion: v1alpha1
// converts to and from it (api/v1alpha1/conversion.go), losslessly, keeping what one version
// cannot hold in the annotations nvidia.com/dgd-spec and nvidia.com/dgd-status as upstream
// does.
// +kubebuilder:object:generate=true
// +groupName=nvidia.com
package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of these types.
	GroupVersion = schema.GroupVersion{Group: "nvidia.com", Version: "v1beta1"}
	// SchemeBuilder registers the types with a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme adds the types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &DynamoGraphDeployment{}, &DynamoGraphDeploymentList{}, &DynamoGraphDeploymentScalingAdapter{}, &DynamoGraphDeploymentScalingAdapterList{}, &DynamoModel{}, &DynamoModelList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
