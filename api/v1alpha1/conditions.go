package v1alpha1

// Condition types of a DynamoGraphDeployment's status beyond upstream's Ready: written by the
// operator, read by dynamoctl explain (docs/api/dynamographdeployment.md#status).
const (
	// ConditionSchedulable: whether the whole graph fits the cluster — planned before a change
	// that adds pods is applied, and again once the scheduler refuses a pod of the graph.
	ConditionSchedulable = "Schedulable"
	// ConditionPlacementVerified: for a graph with a topologyConstraint, whether its pods run
	// where the constraint says.
	ConditionPlacementVerified = "PlacementVerified"
	// ConditionModelsServed: for a graph with a frontend and workers, whether a worker service
	// has replicas while the frontend runs. False (ReasonWorkersScaledToZero) when every worker
	// service is scaled to 0 — by hand, an autoscaler or the planner — and a frontend is not: the
	// workers' models vanish from its /v1/models until one scales up.
	ConditionModelsServed = "ModelsServed"
	// ReasonWorkersScaledToZero and ReasonWorkersRunning are ModelsServed's reasons.
	ReasonWorkersScaledToZero = "WorkersScaledToZero"
	ReasonWorkersRunning      = "WorkersRunning"

	// ReasonWaitingForCapacity (of Ready): the graph waits for capacity
	// (AnnotationWaitForCapacity) and its change, which does not fit, is not applied.
	ReasonWaitingForCapacity = "WaitingForCapacity"
	// ReasonMultinodeUnavailable (of Ready): the graph has a multi-node service and the cluster
	// does not serve LeaderWorkerSets; nothing of it is applied.
	ReasonMultinodeUnavailable = "MultinodeUnavailable"
)
