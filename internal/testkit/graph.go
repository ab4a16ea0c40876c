package testkit

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
)

// Image is the image of graphs the kit builds (the reference example's runtime).
const Image = "nvcr.io/nvidia/ai-dynamo/vllm-runtime:0.6.1"

// GraphWrapper builds a DynamoGraphDeployment in code, one call per fact, as kueue's testing
// wrappers do: Graph("ns", "g").Service("Decode", Service(v1alpha1.ComponentWorker).Limits("8", 0)).Obj().
type GraphWrapper struct {
	g        v1alpha1.DynamoGraphDeployment
	services map[string]*v1alpha1.ServiceSpec
}

// Graph starts a graph named name in namespace ns, without services.
func Graph(ns, name string) *GraphWrapper {
	return &GraphWrapper{g: v1alpha1.DynamoGraphDeployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}},
		services: map[string]*v1alpha1.ServiceSpec{}}
}

// Service adds (or replaces) a service.
func (w *GraphWrapper) Service(name string, s *ServiceWrapper) *GraphWrapper {
	w.services[name] = s.Obj()
	return w
}

// Annotation sets an annotation of the graph's metadata.
func (w *GraphWrapper) Annotation(k, v string) *GraphWrapper {
	if w.g.Annotations == nil {
		w.g.Annotations = map[string]string{}
	}
	w.g.Annotations[k] = v
	return w
}

// UID sets the graph's UID (as the API server would: children get owner references).
func (w *GraphWrapper) UID(uid string) *GraphWrapper { w.g.UID = types.UID(uid); return w }

// Generation sets the graph's generation.
func (w *GraphWrapper) Generation(n int64) *GraphWrapper { w.g.Generation = n; return w }

// Status sets the graph's status.
func (w *GraphWrapper) Status(st v1alpha1.DynamoGraphDeploymentStatus) *GraphWrapper {
	w.g.Status = st
	return w
}

// Obj is the graph built (a copy: the wrapper may go on building).
func (w *GraphWrapper) Obj() *v1alpha1.DynamoGraphDeployment {
	g := w.g.DeepCopy()
	services := make(map[string]*v1alpha1.ServiceSpec, len(w.services))
	for name, s := range w.services {
		services[name] = s.DeepCopy()
	}
	g.Spec.Services = services
	return g
}

// ServiceWrapper builds one service of a graph.
type ServiceWrapper struct{ s v1alpha1.ServiceSpec }

// Service starts a service of a component type ("" for none), without a pod.
func Service(componentType string) *ServiceWrapper {
	return &ServiceWrapper{s: v1alpha1.ServiceSpec{ComponentType: componentType}}
}

// Image gives the service its main container's image (Image when "").
func (w *ServiceWrapper) Image(image string) *ServiceWrapper {
	if image == "" {
		image = Image
	}
	w.main().Image = image
	return w
}

// Command sets the main container's command and arguments.
func (w *ServiceWrapper) Command(command []string, args ...string) *ServiceWrapper {
	c := w.main()
	c.Command, c.Args = command, args
	return w
}

// Annotation sets one of the service's annotations.
func (w *ServiceWrapper) Annotation(k, v string) *ServiceWrapper {
	if w.s.Annotations == nil {
		w.s.Annotations = map[string]string{}
	}
	w.s.Annotations[k] = v
	return w
}

// Replicas sets the replicas.
func (w *ServiceWrapper) Replicas(n int32) *ServiceWrapper { w.s.Replicas = &n; return w }

// Multinode spreads each replica over n nodes.
func (w *ServiceWrapper) Multinode(n int32) *ServiceWrapper {
	w.s.Multinode = &v1alpha1.MultinodeSpec{NodeCount: n}
	return w
}

// Limits sets the service's GPU limit and, when cpuMilli > 0, its CPU limit.
func (w *ServiceWrapper) Limits(gpus string, cpuMilli int64) *ServiceWrapper {
	item := &v1alpha1.ResourceItem{GPU: gpus}
	if cpuMilli > 0 {
		item.CPU = resource.NewMilliQuantity(cpuMilli, resource.DecimalSI)
	}
	w.s.Resources = &v1alpha1.Resources{Limits: item}
	return w
}

// Mount mounts the claim at path.
func (w *ServiceWrapper) Mount(claim, path string) *ServiceWrapper {
	w.s.VolumeMounts = append(w.s.VolumeMounts, v1alpha1.VolumeMount{Name: claim, MountPoint: path})
	return w
}

// Obj is the service built (a copy).
func (w *ServiceWrapper) Obj() *v1alpha1.ServiceSpec { return w.s.DeepCopy() }

func (w *ServiceWrapper) main() *corev1.Container {
	if w.s.ExtraPodSpec == nil {
		w.s.ExtraPodSpec = &v1alpha1.ExtraPodSpec{}
	}
	if w.s.ExtraPodSpec.MainContainer == nil {
		w.s.ExtraPodSpec.MainContainer = &corev1.Container{}
	}
	return w.s.ExtraPodSpec.MainContainer
}
