// Package v1alpha1 is the nvidia.com/v1alpha1 API of dynamo-infra: DynamoGraphDeployment, a
// drop-in for NVIDIA Dynamo's resource of the same name.
// +kubebuilder:object:generate=true
// +groupName=nvidia.com
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of these types.
	GroupVersion = schema.GroupVersion{Group: "nvidia.com", Version: "v1alpha1"}
	// SchemeBuilder registers the types with a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme adds the types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &DynamoGraphDeployment{}, &DynamoGraphDeploymentList{}, &DynamoWorkerMetadata{}, &DynamoWorkerMetadataList{}, &DynamoGraphDeploymentScalingAdapter{}, &DynamoGraphDeploymentScalingAdapterList{}, &DynamoModel{}, &DynamoModelList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
