// Package kubenode reads facts of Node and Pod objects: a node's readiness, whether a pod holds
// its node's resources, what a pod asks of a node. It imports no client library, so the operator
// and the pure builders can use it without linking kubectl's (package kube does).
package kubenode

import corev1 "k8s.io/api/core/v1"

// Ready reports whether a node's Ready condition is True.
func Ready(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
