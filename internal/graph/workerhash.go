package graph

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
)

// WorkerHash is the graph's worker generation as the original operator (1.1.0) computes it:
// the first 8 hex digits of the SHA-256 of the JSON of every worker service's spec (worker,
// prefill, decode; by name), less what does not change a worker's pod — its annotations and
// labels (the children's; extraPodMetadata counts), serviceName, componentType,
// subComponentType, dynamoNamespace, replicas, autoscaling, scalingAdapter, ingress, modelRef
// and eppConfig. Any other change to a worker — image, args, env, resources — is a new
// generation, and every worker service rolls to it; a frontend change or a scale is not.
//
// The JSON is the original's v1alpha1 spec as Go encodes it, field by field in its order, so a
// graph gets the hash (and the child names) the original gives it. Two shapes differ from our
// types and are written as the original's here: extraPodMetadata lists annotations before
// labels, and sharedMemory always has a size ("0" when unset). Resource quantities are hashed
// in canonical form ("1000m" as "1"); the original hashes them as written (docs/api).
func WorkerHash(dgd *v1alpha1.DynamoGraphDeployment) string {
	inputs := map[string]workerHashInput{}
	for name, s := range dgd.Spec.Services {
		if s != nil && IsWorker(s.ComponentType) {
			inputs[name] = hashInput(s)
		}
	}
	// encoding/json writes map keys sorted: the services' order is fixed.
	data, err := json.Marshal(inputs)
	if err != nil {
		return "00000000" // the original's value when encoding fails (it cannot for these types)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])[:8]
}

// workerHashInput is the original's DynamoComponentDeploymentSharedSpec less the fields
// WorkerHash leaves out (all omitempty there: absent fields and cleared ones encode alike), in
// its field order.
type workerHashInput struct {
	GlobalDynamoNamespace bool                              `json:"globalDynamoNamespace,omitempty"`
	Resources             *hashResources                    `json:"resources,omitempty"`
	Envs                  []corev1.EnvVar                   `json:"envs,omitempty"`
	EnvFromSecret         *string                           `json:"envFromSecret,omitempty"`
	VolumeMounts          []v1alpha1.VolumeMount            `json:"volumeMounts,omitempty"`
	SharedMemory          *hashSharedMemory                 `json:"sharedMemory,omitempty"`
	ExtraPodMetadata      *hashPodMetadata                  `json:"extraPodMetadata,omitempty"`
	ExtraPodSpec          *v1alpha1.ExtraPodSpec            `json:"extraPodSpec,omitempty"`
	LivenessProbe         *corev1.Probe                     `json:"livenessProbe,omitempty"`
	ReadinessProbe        *corev1.Probe                     `json:"readinessProbe,omitempty"`
	Multinode             *v1alpha1.MultinodeSpec           `json:"multinode,omitempty"`
	FrontendSidecar       *v1alpha1.FrontendSidecarSpec     `json:"frontendSidecar,omitempty"`
	Checkpoint            *v1alpha1.ServiceCheckpointConfig `json:"checkpoint,omitempty"`
	TopologyConstraint    *v1alpha1.TopologyConstraint      `json:"topologyConstraint,omitempty"`
	GPUMemoryService      *v1alpha1.GPUMemoryServiceSpec    `json:"gpuMemoryService,omitempty"`
	Failover              *v1alpha1.FailoverSpec            `json:"failover,omitempty"`
}

// hashResources and hashResourceItem are the original's resources: quantities as strings.
type hashResources struct {
	Requests *hashResourceItem      `json:"requests,omitempty"`
	Limits   *hashResourceItem      `json:"limits,omitempty"`
	Claims   []corev1.ResourceClaim `json:"claims,omitempty"`
}

type hashResourceItem struct {
	CPU     string            `json:"cpu,omitempty"`
	Memory  string            `json:"memory,omitempty"`
	GPU     string            `json:"gpu,omitempty"`
	GPUType string            `json:"gpuType,omitempty"`
	Custom  map[string]string `json:"custom,omitempty"`
}

// hashSharedMemory is the original's: size is a Quantity value, which omitempty never omits.
type hashSharedMemory struct {
	Disabled bool              `json:"disabled,omitempty"`
	Size     resource.Quantity `json:"size,omitempty"`
}

// hashPodMetadata is the original's extraPodMetadata: annotations first.
type hashPodMetadata struct {
	Annotations map[string]string `json:"annotations,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
}

func hashInput(s *v1alpha1.ServiceSpec) workerHashInput {
	in := workerHashInput{
		GlobalDynamoNamespace: s.GlobalDynamoNamespace, Envs: s.Envs, EnvFromSecret: s.EnvFromSecret,
		VolumeMounts: s.VolumeMounts, ExtraPodSpec: s.ExtraPodSpec, LivenessProbe: s.LivenessProbe,
		ReadinessProbe: s.ReadinessProbe, Multinode: s.Multinode, FrontendSidecar: s.FrontendSidecar,
		Checkpoint: s.Checkpoint, TopologyConstraint: s.TopologyConstraint,
		GPUMemoryService: s.GPUMemoryService, Failover: s.Failover,
	}
	if e := s.ExtraPodSpec; e != nil && e.PodSpec != nil && emptyPodSpec(e.PodSpec) {
		// The original decodes its graphs with encoding/json, which leaves the inline pod spec
		// nil unless a field of it is written; some decoders allocate it empty. An empty one
		// would encode "containers":null (that field has no omitempty) and change the hash.
		in.ExtraPodSpec = &v1alpha1.ExtraPodSpec{MainContainer: e.MainContainer}
	}
	if r := s.Resources; r != nil {
		in.Resources = &hashResources{Requests: hashItem(r.Requests), Limits: hashItem(r.Limits), Claims: r.Claims}
	}
	if sm := s.SharedMemory; sm != nil {
		in.SharedMemory = &hashSharedMemory{Disabled: sm.Disabled}
		if sm.Size != nil {
			in.SharedMemory.Size = *sm.Size
		}
	}
	if m := s.ExtraPodMetadata; m != nil {
		in.ExtraPodMetadata = &hashPodMetadata{Annotations: m.Annotations, Labels: m.Labels}
	}
	return in
}

func hashItem(it *v1alpha1.ResourceItem) *hashResourceItem {
	if it == nil {
		return nil
	}
	out := &hashResourceItem{GPU: it.GPU, GPUType: it.GPUType}
	if it.CPU != nil {
		out.CPU = it.CPU.String()
	}
	if it.Memory != nil {
		out.Memory = it.Memory.String()
	}
	if len(it.Custom) > 0 {
		out.Custom = make(map[string]string, len(it.Custom))
		for k, q := range it.Custom {
			out.Custom[k] = q.String()
		}
	}
	return out
}

// emptyPodSpec: the pod spec sets nothing (encodes as an empty one does).
func emptyPodSpec(p *corev1.PodSpec) bool {
	got, err1 := json.Marshal(p)
	empty, err2 := json.Marshal(corev1.PodSpec{})
	return err1 == nil && err2 == nil && string(got) == string(empty)
}

// WorkerSpec is the worker services' specs as written (JSON of their spec.services entries, by
// name): what the operator records of the generation that serves, for `dynamoctl rollout undo`.
func (g *Graph) WorkerSpec() string {
	specs := map[string]*v1alpha1.ServiceSpec{}
	for _, c := range g.Components {
		if c.WorkerHash != "" && c.service != nil {
			specs[c.Name] = c.service
		}
	}
	if len(specs) == 0 {
		return ""
	}
	data, err := json.Marshal(specs)
	if err != nil {
		return ""
	}
	return string(data)
}
