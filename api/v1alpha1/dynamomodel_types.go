package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DynamoModel is a model served by a graph's workers (upstream's): a LoRA adapter the operator
// loads on every endpoint of its base model (the workers whose modelRef names it, behind their
// headless model Service), and unloads when the DynamoModel is deleted; or the base model
// itself, whose endpoints it lists.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:deprecatedversion:warning="nvidia.com/v1alpha1 DynamoModel is deprecated; use nvidia.com/v1beta1 (the same fields)"
// +kubebuilder:resource:shortName=dm,categories=dynamo
// +kubebuilder:printcolumn:name="BaseModel",type=string,JSONPath=`.spec.baseModelName`,description="Base model name"
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.modelType`,description="Model type"
// +kubebuilder:printcolumn:name="Ready",type=integer,JSONPath=`.status.readyEndpoints`,description="Ready endpoints"
// +kubebuilder:printcolumn:name="Total",type=integer,JSONPath=`.status.totalEndpoints`,description="Total endpoints"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type DynamoModel struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   DynamoModelSpec   `json:"spec,omitempty"`
	Status DynamoModelStatus `json:"status,omitempty"`
}

// DynamoModelList is a list of models.
//
// +kubebuilder:object:root=true
type DynamoModelList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DynamoModel `json:"items"`
}

// DynamoModelSpec names the model and, for a LoRA adapter, where it comes from.
type DynamoModelSpec struct {
	// modelName is the model's full name (the LoRA's name as the engines serve it).
	// +kubebuilder:validation:MinLength=1
	ModelName string `json:"modelName"`
	// baseModelName is the base model, as the workers' modelRef.name names it: its endpoints
	// are those of the headless Service dynamo-model-<hash of the name>.
	// +kubebuilder:validation:MinLength=1
	BaseModelName string `json:"baseModelName"`
	// modelType is base, lora or adapter (only lora is loaded on the endpoints).
	// +optional
	// +kubebuilder:validation:Enum=base;lora;adapter
	// +kubebuilder:default=base
	ModelType string `json:"modelType,omitempty"`
	// source is where a LoRA's weights are (s3://bucket/path, hf://org/model@revision).
	// +optional
	Source *ModelSource `json:"source,omitempty"`
}

// ModelSource is where a model's weights are.
type ModelSource struct {
	// uri of the weights.
	// +kubebuilder:validation:MinLength=1
	URI string `json:"uri"`
}

// DynamoModelStatus is the model's endpoints and whether each serves it.
type DynamoModelStatus struct {
	// endpoints are the base model's endpoints (its workers' pods).
	// +optional
	// +listType=atomic
	Endpoints []EndpointInfo `json:"endpoints,omitempty"`
	// readyEndpoints is how many endpoints loaded the LoRA (0 for a base model: nothing is
	// loaded); totalEndpoints how many there are.
	ReadyEndpoints int `json:"readyEndpoints"`
	TotalEndpoints int `json:"totalEndpoints"`
	// conditions: ServicesFound, EndpointsReady.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// EndpointInfo is one endpoint of the base model.
type EndpointInfo struct {
	// address is http://<pod address>:<system port>.
	Address string `json:"address"`
	// podName is the pod behind the endpoint.
	// +optional
	PodName string `json:"podName,omitempty"`
	// ready: the endpoint answered the LoRA load with a 2xx (always false for a base model).
	Ready bool `json:"ready"`
}
