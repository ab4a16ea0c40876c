// Package config embeds the generated manifests (CRDs, the operator's RBAC) so the binaries can
// install them and compare them with what a cluster has.
package config

import _ "embed"

// DGDCRD is the DynamoGraphDeployment CustomResourceDefinition (make generate).
//
//go:embed crd/bases/nvidia.com_dynamographdeployments.yaml
var DGDCRD []byte

// OperatorRole is the ClusterRole generated from the reconciler's RBAC markers.
//
//go:embed rbac/role.yaml
var OperatorRole []byte

// InferencePoolCRD is the Gateway API Inference Extension's InferencePool CRD
// (inference.networking.k8s.io/v1, at the version tools/gaiecrds pins; make generate): the dev
// cluster installs it, for graphs with an Endpoint Picker.
//
//go:embed thirdparty/gaie/inference.networking.k8s.io_inferencepools.yaml
var InferencePoolCRD []byte
