package diagnose

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	lwsv1 "sigs.k8s.io/lws/api/leaderworkerset/v1"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
)

// A LeaderWorkerSet is ready when it has the groups asked for, each with every pod Ready — not
// on its own count alone, which LeaderWorkerSet v0.8 raises once a group's pods exist;
// otherwise the reason counts groups and names the first pod's problem (the scheduler's words).
func TestLeaderWorkerSetNotReady(t *testing.T) {
	size := int32(2)
	lws := func(replicas, updated, ready int32) *lwsv1.LeaderWorkerSet {
		l := &lwsv1.LeaderWorkerSet{Status: lwsv1.LeaderWorkerSetStatus{Replicas: replicas, UpdatedReplicas: updated, ReadyReplicas: ready}}
		l.Spec.LeaderWorkerTemplate.Size = &size
		return l
	}
	pod := func(name, group string, ready bool) corev1.Pod {
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{lwsv1.GroupIndexLabelKey: group}},
			Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "main", Ready: ready}}}}
	}
	unschedulable := func(name, group string) corev1.Pod {
		p := pod(name, group, false)
		p.Status.ContainerStatuses = nil
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable",
			Message: "0/5 nodes are available: 4 Insufficient nvidia.com/gpu."}}
		return p
	}
	readyGroup := func(group string) []corev1.Pod {
		return []corev1.Pod{pod("g-decode-"+group, group, true), pod("g-decode-"+group+"-1", group, true)}
	}
	for _, tt := range []struct {
		name string
		l    *lwsv1.LeaderWorkerSet
		want int32
		pods []corev1.Pod
		why  Verdict
	}{
		{"ready", lws(2, 2, 2), 2, append(readyGroup("0"), readyGroup("1")...), Verdict{}},
		{"a group not placed", lws(2, 2, 1), 2, append(readyGroup("0"), pod("g-decode-1", "1", true), unschedulable("g-decode-1-1", "1")),
			Verdict{Reason: ReasonInsufficientCapacity,
				Message: "1/2 groups of 2 pods ready (pod g-decode-1-1 Unschedulable: 0/5 nodes are available: 4 Insufficient nvidia.com/gpu.)"}},
		// LeaderWorkerSet says the group is ready; its worker is Pending.
		{"counted ready with a Pending worker", lws(1, 1, 1), 1, []corev1.Pod{pod("g-decode-0", "0", true), unschedulable("g-decode-0-1", "0")},
			Verdict{Reason: ReasonInsufficientCapacity,
				Message: "0/1 groups of 2 pods ready (pod g-decode-0-1 Unschedulable: 0/5 nodes are available: 4 Insufficient nvidia.com/gpu.)"}},
		{"no pods seen", lws(1, 1, 1), 1, nil, Verdict{Reason: ReasonPodsNotReady, Message: "0/1 groups of 2 pods ready"}},
		{"rolling", lws(1, 0, 1), 1, readyGroup("0"), Verdict{Reason: ReasonUpdating, Message: "0/1 groups updated"}},
		{"scaling down", lws(2, 1, 1), 1, readyGroup("0"), Verdict{Reason: ReasonPodsNotReady, Message: "1/1 groups of 2 pods ready"}},
	} {
		if got := LeaderWorkerSet(tt.l, tt.want, tt.pods); got.Reason != tt.why.Reason || got.Message != tt.why.Message {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.why)
		}
	}
}

// Each pod problem gets its type: the scheduler's message (capacity, a claim, other filters) or
// the container's waiting reason.
func TestPodProblemReasons(t *testing.T) {
	unscheduled := func(msg string) corev1.Pod {
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: msg}}}}
	}
	waiting := func(reason string) corev1.Pod {
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}}}}
	}
	running := func(started bool) corev1.Pod {
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
			Name: "main", Started: &started, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}}
	}
	for _, tt := range []struct {
		pod  corev1.Pod
		want string
	}{
		{unscheduled("0/3 nodes are available: 3 Insufficient nvidia.com/gpu."), ReasonInsufficientCapacity},
		{unscheduled("0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {gpu: x}."), ReasonInsufficientCapacity},
		{unscheduled("0/3 nodes are available: 3 node(s) had untolerated taint {dedicated: infra}."), ReasonUnschedulable},
		{unscheduled("0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."), ReasonUnschedulable},
		{unscheduled(`0/3 nodes are available: persistentvolumeclaim "cache" not found.`), ReasonPendingPVC},
		{unscheduled("0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims."), ReasonPendingPVC},
		{waiting("ImagePullBackOff"), ReasonImagePull},
		{waiting("ErrImagePull"), ReasonImagePull},
		{waiting("CrashLoopBackOff"), ReasonCrashLoop},
		{waiting("CreateContainerConfigError"), ReasonPodsNotReady},
		{running(true), ReasonProbeFailing},
		{running(false), ""}, // still starting (a model loading): no problem yet
	} {
		if got := FirstPodProblem([]corev1.Pod{tt.pod}); got.Reason != tt.want {
			t.Errorf("%+v: %q, want %q", tt.pod.Status, got.Reason, tt.want)
		}
	}
}

// The scheduler's message is split per reason (taint values keep their commas), most nodes
// first, without the preemption note; Insufficient names each resource once.
func TestSchedulerReasons(t *testing.T) {
	for _, tt := range []struct {
		msg          string
		want         []NodeReason
		insufficient []string
	}{
		// As the simulated cluster's kube-scheduler v1.36 writes it.
		{"0/3 nodes are available: 3 Insufficient nvidia.com/gpu. no new claims to deallocate, preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
			[]NodeReason{{3, "Insufficient nvidia.com/gpu"}}, []string{"nvidia.com/gpu"}},
		{"0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: infra}, 2 Insufficient nvidia.com/gpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.",
			[]NodeReason{{2, "Insufficient nvidia.com/gpu"}, {1, "node(s) had untolerated taint {dedicated: infra}"}}, []string{"nvidia.com/gpu"}},
		{"0/5 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, 3 node(s) didn't match Pod's node affinity/selector, 1 Too many pods.",
			[]NodeReason{{3, "node(s) didn't match Pod's node affinity/selector"}, {1, "Insufficient cpu"}, {1, "Insufficient memory"}, {1, "Too many pods"}},
			[]string{"cpu", "memory", "pods"}},
		{"0/2 nodes are available: 2 node(s) had untolerated taint {a: b, c}.",
			[]NodeReason{{2, "node(s) had untolerated taint {a: b, c}"}}, nil},
		{`0/3 nodes are available: persistentvolumeclaim "cache" not found.`,
			[]NodeReason{{0, `persistentvolumeclaim "cache" not found`}}, nil},
		{"something else entirely.", []NodeReason{{0, "something else entirely"}}, nil},
	} {
		got := SchedulerReasons(tt.msg)
		if len(got) != len(tt.want) {
			t.Errorf("%q: %+v, want %+v", tt.msg, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%q: [%d] %+v, want %+v", tt.msg, i, got[i], tt.want[i])
			}
		}
		if ins := Insufficient(tt.msg); len(ins) != len(tt.insufficient) || (len(ins) > 0 && ins[0] != tt.insufficient[0]) {
			t.Errorf("Insufficient(%q) = %v, want %v", tt.msg, ins, tt.insufficient)
		}
	}
}

// An insufficient_capacity verdict says what one pod needs of each resource the scheduler found
// short; other verdicts are left alone.
func TestDemandInMessage(t *testing.T) {
	d := &appsv1.Deployment{Status: appsv1.DeploymentStatus{Replicas: 1, UpdatedReplicas: 1}}
	// GPUs as a limit only, as graphs give them: the template is not defaulted like a pod.
	d.Spec.Template.Spec.Containers = []corev1.Container{{Resources: corev1.ResourceRequirements{
		Limits: corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("16")}, Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}}}}
	pod := func(msg string) []corev1.Pod {
		return []corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: msg}}}}}
	}
	v := Deployment(d, 1, pod("0/3 nodes are available: 1 Insufficient cpu, 2 Insufficient nvidia.com/gpu."))
	if want := "0/1 replicas ready (pod p Unschedulable: 0/3 nodes are available: 1 Insufficient cpu, 2 Insufficient nvidia.com/gpu.); each pod needs 4 cpu + 16 nvidia.com/gpu"; v.Message != want {
		t.Errorf("message %q, want %q", v.Message, want)
	}
	if v := Deployment(d, 1, pod("0/3 nodes are available: 3 node(s) had untolerated taint(s).")); strings.Contains(v.Message, "needs") {
		t.Errorf("unschedulable: %q", v.Message)
	}
}

// A service's workload by its kind: not created yet, ready, or not ready for a claim it mounts
// that does not exist (missing_pvc wins over the pods' reason).
func TestService(t *testing.T) {
	single, multi := &v1alpha1.ServiceSpec{}, &v1alpha1.ServiceSpec{Multinode: &v1alpha1.MultinodeSpec{NodeCount: 2}}
	mounts := &v1alpha1.ServiceSpec{VolumeMounts: []v1alpha1.VolumeMount{{Name: "models", MountPoint: "/m"}}}
	ready := &appsv1.Deployment{Status: appsv1.DeploymentStatus{Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1}}
	pending := &appsv1.Deployment{Status: appsv1.DeploymentStatus{Replicas: 1, UpdatedReplicas: 1}}
	for _, tt := range []struct {
		name   string
		s      *v1alpha1.ServiceSpec
		d      *appsv1.Deployment
		l      *lwsv1.LeaderWorkerSet
		reason string
	}{
		{"deployment not created", single, nil, nil, ReasonNotCreated},
		{"multinode without its LeaderWorkerSet", multi, ready, nil, ReasonNotCreated},
		{"ready", single, ready, nil, ""},
		{"missing claim", mounts, pending, nil, ReasonMissingPVC},
		{"ready with a claim missing elsewhere", mounts, ready, nil, ""},
	} {
		g, _ := graph.Resolve(&v1alpha1.DynamoGraphDeployment{Spec: v1alpha1.DynamoGraphDeploymentSpec{
			Services: map[string]*v1alpha1.ServiceSpec{"S": tt.s}}}, graph.Options{})
		if got := Service(g.Component("S"), tt.d, tt.l, nil, []string{"models"}); got.Reason != tt.reason {
			t.Errorf("%s: %q, want %q", tt.name, got.Reason, tt.reason)
		}
	}
}
