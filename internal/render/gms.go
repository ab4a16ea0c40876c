package render

import (
	"path"
	"slices"

	corev1 "k8s.io/api/core/v1"
	resourcev1 "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
)

// GPU Memory Service (intraPod), as upstream renders it: the service's GPUs come from one DRA
// claim every container of the pod references (so the gms-server sidecar, which holds the
// weights in GPU memory, and the engine share the same devices), and the two talk over a Unix
// socket in a shared emptyDir.
const (
	gmsClaimName     = "intrapod-shared-gpu"
	gmsServerName    = "gms-server"
	gmsVolumeName    = "gms-intrapod-control"
	gmsMountPath     = "/gms-intrapod-control"
	gmsEnvSocketDir  = "GMS_SOCKET_DIR"
	gmsServerModule  = "gpu_memory_service.cli.server"
	gmsReadyFile     = "gms-ready"
	gmsDeviceRequest = "gpus"
)

// GMSClaimTemplate is the ResourceClaimTemplate of a service's GPU Memory Service: exactly its
// GPU count of gpuMemoryService.deviceClassName (gpu.nvidia.com by default), request "gpus".
func GMSClaimTemplate(g *graph.Graph, c *graph.Component) *resourcev1.ResourceClaimTemplate {
	class := c.GMS.DeviceClassName
	if class == "" {
		class = nvidia.DeviceClassGPU
	}
	return &resourcev1.ResourceClaimTemplate{
		TypeMeta: metav1.TypeMeta{APIVersion: resourcev1.SchemeGroupVersion.String(), Kind: "ResourceClaimTemplate"},
		ObjectMeta: metav1.ObjectMeta{Name: c.GMSClaimTemplate(g), Namespace: g.Namespace, OwnerReferences: ownerRefs(g),
			Labels: map[string]string{v1alpha1.LabelGraphDeploymentName: g.Name, v1alpha1.LabelComponent: c.Name, v1alpha1.LabelManagedBy: ManagedBy}},
		Spec: resourcev1.ResourceClaimTemplateSpec{Spec: resourcev1.ResourceClaimSpec{Devices: resourcev1.DeviceClaim{
			Requests: []resourcev1.DeviceRequest{{Name: gmsDeviceRequest, Exactly: &resourcev1.ExactDeviceRequest{
				DeviceClassName: class, AllocationMode: resourcev1.DeviceAllocationModeExactCount, Count: c.GMSGPUs()}}},
		}}},
	}
}

// withGMS gives a pod its GPU Memory Service: the main container's GPUs (the NVIDIA resource
// upstream replaces) become the shared claim, the pod tolerates the GPU taint (the device
// plugin's admission does not see a claim), the socket volume is mounted with GMS_SOCKET_DIR,
// and the gms-server runs as a restartable init container (a sidecar) from the main image,
// started once its ready file exists (5 minutes at most).
func withGMS(g *graph.Graph, c *graph.Component, pod *corev1.PodSpec, main *corev1.Container) {
	delete(main.Resources.Limits, nvidia.ResourceGPU)
	delete(main.Resources.Requests, nvidia.ResourceGPU)
	claim := corev1.ResourceClaim{Name: gmsClaimName}
	main.Resources.Claims = append(main.Resources.Claims, claim)
	pod.Tolerations = append(pod.Tolerations, corev1.Toleration{Key: nvidia.ResourceGPU, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
	pod.ResourceClaims = append(pod.ResourceClaims, corev1.PodResourceClaim{Name: gmsClaimName, ResourceClaimTemplateName: ptr.To(c.GMSClaimTemplate(g))})
	pod.Volumes = append(pod.Volumes, corev1.Volume{Name: gmsVolumeName, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	mount := corev1.VolumeMount{Name: gmsVolumeName, MountPath: gmsMountPath}
	env := corev1.EnvVar{Name: gmsEnvSocketDir, Value: gmsMountPath}
	main.VolumeMounts = append(main.VolumeMounts, mount)
	// Appended after the sorted env, unless the user set it, as upstream's EnsureSharedVolume.
	if !slices.ContainsFunc(main.Env, func(e corev1.EnvVar) bool { return e.Name == gmsEnvSocketDir }) {
		main.Env = append(main.Env, env)
	}
	pod.InitContainers = append(pod.InitContainers, corev1.Container{
		Name: gmsServerName, Image: main.Image, Command: []string{"python3", "-m", gmsServerModule},
		Env: []corev1.EnvVar{env}, VolumeMounts: []corev1.VolumeMount{mount},
		Resources:     corev1.ResourceRequirements{Claims: []corev1.ResourceClaim{claim}},
		RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
		StartupProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"test", "-f", path.Join(gmsMountPath, gmsReadyFile)}}},
			PeriodSeconds: 1, FailureThreshold: 300},
	})
}

// ClaimTemplates are the ResourceClaimTemplates a graph renders (its GPU Memory Services'):
// plans lay them over the cluster's, so a graph not applied yet is planned with them.
func ClaimTemplates(g *graph.Graph) []*resourcev1.ResourceClaimTemplate {
	var out []*resourcev1.ResourceClaimTemplate
	for _, c := range g.Components {
		if c.GMS != nil && c.Err == nil {
			out = append(out, GMSClaimTemplate(g, c))
		}
	}
	return out
}
