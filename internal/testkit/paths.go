package testkit

import (
	"path/filepath"
	"runtime"
)

// RepoRoot is the repository's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// CRDPath is the generated DynamoGraphDeployment CRD: the one place tests find it.
func CRDPath() string {
	return filepath.Join(RepoRoot(), "config", "crd", "bases", "nvidia.com_dynamographdeployments.yaml")
}

// ScalingAdapterCRDPath is the DynamoGraphDeploymentScalingAdapter CRD.
func ScalingAdapterCRDPath() string {
	return filepath.Join(RepoRoot(), "config", "crd", "bases", "nvidia.com_dynamographdeploymentscalingadapters.yaml")
}

// DynamoModelCRDPath is the DynamoModel CRD.
func DynamoModelCRDPath() string {
	return filepath.Join(RepoRoot(), "config", "crd", "bases", "nvidia.com_dynamomodels.yaml")
}

// VirtualServiceCRDPath is Istio's VirtualService CRD (make generate takes it from istio.io/api).
func VirtualServiceCRDPath() string {
	return filepath.Join(RepoRoot(), "config", "thirdparty", "istio", "networking.istio.io_virtualservices.yaml")
}

// InferencePoolCRDPath is the Gateway API Inference Extension's InferencePool CRD (make
// generate takes it from the module tools/gaiecrds pins).
func InferencePoolCRDPath() string {
	return filepath.Join(RepoRoot(), "config", "thirdparty", "gaie", "inference.networking.k8s.io_inferencepools.yaml")
}

// WorkerMetadataCRDPath is the DynamoWorkerMetadata CRD (the Dynamo runtime's discovery
// records, which the graphs' discovery Role names).
func WorkerMetadataCRDPath() string {
	return filepath.Join(RepoRoot(), "config", "crd", "bases", "nvidia.com_dynamoworkermetadatas.yaml")
}

// ClusterTopologyCRDPath is the stand-in CRD of Grove's ClusterTopology (internal/topology/testdata).
func ClusterTopologyCRDPath() string {
	return filepath.Join(RepoRoot(), "internal", "topology", "testdata", "grove.io_clustertopologies.yaml")
}
