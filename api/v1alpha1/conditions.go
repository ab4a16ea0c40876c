package v1alpha1

// Condition types of a DynamoGraphDeployment's status beyond upstream's Ready: written by the
// operator, read by dynamoctl explain (docs/api/dynamographdeployment.md#status).
const (
	// ConditionSchedulable: once the scheduler refuses a pod of the graph, whether the whole
	// graph fits the cluster.
	ConditionSchedulable = "Schedulable"
	// ConditionPlacementVerified: for a graph with a topologyConstraint, whether its pods run
	// where the constraint says.
	ConditionPlacementVerified = "PlacementVerified"
)
