package devcluster

import (
	"context"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	resourcev1 "k8s.io/api/resource/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
)

// With Options.DRA the cluster publishes its GPUs as NVIDIA's DRA driver does: the DeviceClass
// gpu.nvidia.com, and for each node with whole GPUs one ResourceSlice (pool: the node) of
// devices gpu-0…gpu-N-1 with the driver's type and productName attributes and the GPU's memory
// as capacity. The scheduler allocates claims from them as on a real cluster; kwok runs the pods
// (no kubelet prepares a device). The nodes keep advertising nvidia.com/gpu as well: a workload
// should ask for GPUs one way or the other, as on a cluster moving to DRA.

// gpuDeviceClass is the class NVIDIA's driver installs for whole GPUs.
func gpuDeviceClass() *resourcev1.DeviceClass {
	return &resourcev1.DeviceClass{ObjectMeta: metav1.ObjectMeta{Name: nvidia.DeviceClassGPU},
		Spec: resourcev1.DeviceClassSpec{Selectors: []resourcev1.DeviceSelector{{CEL: &resourcev1.CELDeviceSelector{
			Expression: fmt.Sprintf(`device.driver == %q && device.attributes[%q].%s == "gpu"`, nvidia.DRADriverGPU, nvidia.DRADriverGPU, nvidia.DRAAttributeType)}}}}}
}

// GPUSlice is the ResourceSlice of a node's whole GPUs (nil: the node has none).
func GPUSlice(n *corev1.Node) *resourcev1.ResourceSlice {
	q := n.Status.Allocatable[nvidia.ResourceGPU]
	count := q.Value()
	if count <= 0 {
		return nil
	}
	s := &resourcev1.ResourceSlice{ObjectMeta: metav1.ObjectMeta{Name: n.Name + "-" + nvidia.DRADriverGPU},
		Spec: resourcev1.ResourceSliceSpec{Driver: nvidia.DRADriverGPU, NodeName: ptr.To(n.Name),
			Pool: resourcev1.ResourcePool{Name: n.Name, Generation: 1, ResourceSliceCount: 1}}}
	mib, _ := strconv.ParseInt(n.Labels[nvidia.LabelGPUMemory], 10, 64)
	for i := range count {
		d := resourcev1.Device{Name: "gpu-" + strconv.FormatInt(i, 10), Attributes: map[resourcev1.QualifiedName]resourcev1.DeviceAttribute{
			nvidia.DRAAttributeType:    {StringValue: ptr.To("gpu")},
			nvidia.DRAAttributeProduct: {StringValue: ptr.To(n.Labels[nvidia.LabelGPUProduct])},
		}}
		if mib > 0 {
			d.Capacity = map[resourcev1.QualifiedName]resourcev1.DeviceCapacity{"memory": {Value: *resource.NewQuantity(mib<<20, resource.BinarySI)}}
		}
		s.Spec.Devices = append(s.Spec.Devices, d)
	}
	return s
}

// publishGPUDevices creates the GPU DeviceClass (once) and the nodes' GPU slices.
func publishGPUDevices(ctx context.Context, cs kubernetes.Interface, nodes []*corev1.Node) error {
	if _, err := cs.ResourceV1().DeviceClasses().Create(ctx, gpuDeviceClass(), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create DeviceClass %s: %w", nvidia.DeviceClassGPU, err)
	}
	for _, n := range nodes {
		s := GPUSlice(n)
		if s == nil {
			continue
		}
		if _, err := cs.ResourceV1().ResourceSlices().Create(ctx, s, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create ResourceSlice %s: %w", s.Name, err)
		}
	}
	return nil
}
