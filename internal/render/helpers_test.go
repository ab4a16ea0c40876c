package render

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
)

// The tests read a graph as a manifest and ask for one service by name: these resolve it as
// the operator does (its default settings) and find the component.

func resolve(dgd *v1alpha1.DynamoGraphDeployment) *graph.Graph {
	g, _ := graph.Resolve(dgd, graph.Options{}) // render reports the error
	return g
}

func renderGraph(dgd *v1alpha1.DynamoGraphDeployment, cfg Config) ([]runtime.Object, error) {
	return Graph(resolve(dgd), cfg)
}

func podSpecOf(dgd *v1alpha1.DynamoGraphDeployment, service string, cfg Config) (corev1.PodSpec, error) {
	g := resolve(dgd)
	t, err := PodTemplate(g, g.Component(service), cfg)
	return t.Spec, err
}

func rolePodSpecOf(dgd *v1alpha1.DynamoGraphDeployment, service string, cfg Config, role Role) (corev1.PodSpec, error) {
	g := resolve(dgd)
	return RolePodSpec(g, g.Component(service), cfg, role)
}
