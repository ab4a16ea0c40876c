package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DynamoGraphDeploymentScalingAdapter owns the replicas of one component of a graph (upstream's):
// the operator creates one per component with a scalingAdapter, and from then on the adapter's
// spec.replicas is what the component runs. It serves the scale subresource, so `kubectl scale`,
// a HorizontalPodAutoscaler, KEDA or the Dynamo planner scale the component through it.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:subresource:scale:specpath=.spec.replicas,statuspath=.status.replicas,selectorpath=.status.selector
// +kubebuilder:resource:shortName=dgdsa,categories=dynamo
// +kubebuilder:printcolumn:name="DGD",type=string,JSONPath=`.spec.dgdRef.name`,description="DynamoGraphDeployment name"
// +kubebuilder:printcolumn:name="SERVICE",type=string,JSONPath=`.spec.dgdRef.serviceName`,description="Service name"
// +kubebuilder:printcolumn:name="REPLICAS",type=integer,JSONPath=`.status.replicas`,description="Current replicas"
// +kubebuilder:printcolumn:name="AGE",type=date,JSONPath=`.metadata.creationTimestamp`
type DynamoGraphDeploymentScalingAdapter struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   DynamoGraphDeploymentScalingAdapterSpec   `json:"spec,omitempty"`
	Status DynamoGraphDeploymentScalingAdapterStatus `json:"status,omitempty"`
}

// DynamoGraphDeploymentScalingAdapterList is a list of scaling adapters.
//
// +kubebuilder:object:root=true
type DynamoGraphDeploymentScalingAdapterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DynamoGraphDeploymentScalingAdapter `json:"items"`
}

// DynamoGraphDeploymentScalingAdapterSpec is the replicas asked for and the component they
// are for.
type DynamoGraphDeploymentScalingAdapterSpec struct {
	// replicas the component should run: written by kubectl scale, an autoscaler or the planner
	// (the scale subresource), copied into the graph by the operator.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=150000
	Replicas int32 `json:"replicas"`
	// dgdRef names the graph and its component.
	DGDRef DynamoGraphDeploymentServiceRef `json:"dgdRef"`
}

// DynamoGraphDeploymentServiceRef names a component of a graph.
type DynamoGraphDeploymentServiceRef struct {
	// name of the DynamoGraphDeployment (same namespace).
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// serviceName is the component's name (v1alpha1: the key of spec.services).
	// +kubebuilder:validation:MinLength=1
	ServiceName string `json:"serviceName"`
}

// DynamoGraphDeploymentScalingAdapterStatus is what the adapter last applied.
type DynamoGraphDeploymentScalingAdapterStatus struct {
	// replicas last written into the graph (the scale subresource's status.replicas).
	// +optional
	Replicas int32 `json:"replicas,omitempty"`
	// selector of the component's pods, every generation (the scale subresource's
	// selector: an autoscaler reads their metrics with it).
	// +optional
	Selector string `json:"selector,omitempty"`
	// lastScaleTime is when the adapter last changed the graph's replicas.
	// +optional
	LastScaleTime *metav1.Time `json:"lastScaleTime,omitempty"`
}
