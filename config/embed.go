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
