package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// DynamoWorkerMetadata is what a Dynamo worker publishes about itself when discovery runs on
// Kubernetes (DYN_DISCOVERY_BACKEND=kubernetes): the Dynamo runtime creates one per worker pod
// and frontends read them. dynamo-infra ships the CRD (the runtime needs it) and the graph's
// discovery Role that lets pods write them; it never writes them itself.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=dynamoworkermetadatas,singular=dynamoworkermetadata,shortName=dwm,categories=dynamo
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type DynamoWorkerMetadata struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec DynamoWorkerMetadataSpec `json:"spec,omitempty"`
}

// DynamoWorkerMetadataSpec holds the worker's discovery metadata.
type DynamoWorkerMetadataSpec struct {
	// Data is the worker's serialized discovery metadata (endpoints, model cards), as the
	// Dynamo runtime writes it.
	// +kubebuilder:validation:Type=object
	// +kubebuilder:pruning:PreserveUnknownFields
	Data runtime.RawExtension `json:"data"`
}

// DynamoWorkerMetadataList is a list of DynamoWorkerMetadata.
//
// +kubebuilder:object:root=true
type DynamoWorkerMetadataList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DynamoWorkerMetadata `json:"items"`
}
