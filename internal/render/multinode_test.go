package render

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	lwsv1 "sigs.k8s.io/lws/api/leaderworkerset/v1"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
)

// multinodeGraph is a graph with one 2-node decode service of the given backend, whose main
// container is described by the YAML lines in container (indented for mainContainer), plus
// graph annotations.
func multinodeGraph(t *testing.T, backend, annotations, container string) *v1alpha1.DynamoGraphDeployment {
	t.Helper()
	if backend != "" {
		backend = "  backendFramework: " + backend + "\n"
	}
	doc := `apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeployment
metadata:
  name: mn
  annotations: {` + annotations + `}
spec:
` + backend + `  services:
    Decode:
      componentType: decode
      replicas: 3
      multinode: {nodeCount: 2}
      resources: {limits: {gpu: "8"}}
      extraPodSpec:
        mainContainer:
          image: engine:1
` + container
	dgds, err := DecodeGraphs(strings.NewReader(doc), "mn.yaml", "ns")
	if err != nil {
		t.Fatal(err)
	}
	return dgds[0]
}

func rolePod(t *testing.T, dgd *v1alpha1.DynamoGraphDeployment, role Role) (corev1.PodSpec, *corev1.Container) {
	t.Helper()
	pod, err := rolePodSpecOf(dgd, "Decode", Config{}, role)
	if err != nil {
		t.Fatalf("%s: %v", role, err)
	}
	return pod, MainContainer(&pod)
}

func envValue(c *corev1.Container, name string) (corev1.EnvVar, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e, true
		}
	}
	return corev1.EnvVar{}, false
}

// The launch of each backend and role, as the original's backend_*.go and lws.go write it
// (their tests' expectations for the LWS deployer).
func TestMultinodeLaunch(t *testing.T) {
	const direct = "          command: [python3, -m, dynamo.vllm]\n          args: [--model, m, --tensor-parallel-size, \"16\"]\n"
	tests := []struct {
		name, backend, annotations, container string
		role                                  Role
		command, args                         []string
		probes                                bool // liveness, readiness and startup kept
	}{
		{name: "vllm mp leader", backend: "vllm", container: direct, role: RoleLeader, probes: true,
			command: []string{"python3", "-m", "dynamo.vllm"},
			args: []string{"--model", "m", "--tensor-parallel-size", "16", "--distributed-executor-backend", "mp", "--nnodes", "2",
				"--master-addr", "$(LWS_LEADER_ADDRESS)", "--master-port", "29500", "--node-rank", "0"}},
		{name: "vllm mp worker", backend: "vllm", container: direct, role: RoleWorker,
			command: []string{"python3", "-m", "dynamo.vllm"},
			args: []string{"--model", "m", "--tensor-parallel-size", "16", "--distributed-executor-backend", "mp", "--nnodes", "2",
				"--master-addr", "$(LWS_LEADER_ADDRESS)", "--master-port", "29500", "--node-rank", "$(LWS_WORKER_INDEX)", "--headless"}},
		{name: "vllm ray leader (graph created by 0.9)", backend: "vllm", annotations: "nvidia.com/dynamo-operator-origin-version: 0.9.0",
			container: direct, role: RoleLeader, probes: true,
			command: []string{"/bin/sh", "-c"},
			args:    []string{"ray start --head --port=6379 && python3 -m dynamo.vllm --model m --tensor-parallel-size 16 --distributed-executor-backend ray"}},
		{name: "vllm ray worker (annotation)", backend: "vllm", annotations: "nvidia.com/vllm-distributed-executor-backend: Ray",
			container: direct, role: RoleWorker,
			command: []string{"/bin/sh", "-c"}, args: []string{"ray start --address=$(LWS_LEADER_ADDRESS):6379 --block"}},
		{name: "vllm ray leader of a script", backend: "vllm", annotations: "nvidia.com/vllm-distributed-executor-backend: ray",
			container: "          command: [/bin/sh, -c]\n          args: [\"python3 -m dynamo.vllm --model m --tensor-parallel-size 16 | tee log\"]\n",
			role:      RoleLeader, probes: true, command: []string{"/bin/sh", "-c"},
			args: []string{"ray start --head --port=6379 && python3 -m dynamo.vllm --distributed-executor-backend ray --model m --tensor-parallel-size 16 | tee log"}},
		{name: "vllm data-parallel leader", backend: "vllm", role: RoleLeader, probes: true,
			container: "          command: [python3, -m, dynamo.vllm]\n          args: [--data-parallel-size, \"16\", --enable-expert-parallel]\n",
			command:   []string{"python3", "-m", "dynamo.vllm"},
			args: []string{"--data-parallel-size", "16", "--enable-expert-parallel", "--data-parallel-hybrid-lb", "--data-parallel-size-local", "8",
				"--data-parallel-start-rank", "0", "--data-parallel-address", "$(LWS_LEADER_ADDRESS)", "--data-parallel-rpc-port", "13445"}},
		{name: "vllm data-parallel worker", backend: "vllm", role: RoleWorker,
			container: "          command: [python3, -m, dynamo.vllm]\n          args: [--data-parallel-size, \"16\", --model, 'a b']\n",
			command:   []string{"sh", "-c"},
			args: []string{"exec python3 -m dynamo.vllm --data-parallel-size 16 --model 'a b' --data-parallel-hybrid-lb --data-parallel-size-local 8 " +
				"--data-parallel-start-rank $(( 8 * $(LWS_WORKER_INDEX) )) --data-parallel-address $(LWS_LEADER_ADDRESS) --data-parallel-rpc-port 13445"}},
		{name: "vllm data-parallel worker in a bash script", backend: "vllm", role: RoleWorker,
			container: "          command: [/bin/bash, -c]\n          args:\n          - |\n            exec python3 -m dynamo.vllm \\\n              --data-parallel-size 16\n",
			command:   []string{"/bin/bash", "-c"},
			args: []string{"exec python3 -m dynamo.vllm --data-parallel-hybrid-lb --data-parallel-size-local 8 --data-parallel-start-rank $(( 8 * $(LWS_WORKER_INDEX) )) " +
				"--data-parallel-address $(LWS_LEADER_ADDRESS) --data-parallel-rpc-port 13445 \\\n  --data-parallel-size 16\n"}},
		{name: "vllm fits one node: nothing added", backend: "vllm", role: RoleWorker,
			container: "          command: [python3, -m, dynamo.vllm]\n          args: [--tensor-parallel-size, \"8\"]\n",
			command:   []string{"python3", "-m", "dynamo.vllm"}, args: []string{"--tensor-parallel-size", "8"}},
		{name: "sglang leader", backend: "sglang", role: RoleLeader, probes: true,
			container: "          command: [python3, -m, dynamo.sglang]\n          args: [--tp, \"16\"]\n",
			command:   []string{"python3", "-m", "dynamo.sglang"},
			args:      []string{"--tp", "16", "--dist-init-addr", "$(LWS_LEADER_ADDRESS):29500", "--nnodes", "2", "--node-rank", "0"}},
		{name: "sglang worker in a script", backend: "sglang", role: RoleWorker,
			container: "          command: [sh, -c]\n          args: [\"python3 -m dynamo.sglang --tp 16 && echo done\"]\n",
			command:   []string{"sh", "-c"},
			args:      []string{"python3 -m dynamo.sglang --dist-init-addr $(LWS_LEADER_ADDRESS):29500 --nnodes 2 --node-rank $(LWS_WORKER_INDEX) --tp 16 && echo done"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, main := rolePod(t, multinodeGraph(t, tt.backend, tt.annotations, tt.container), tt.role)
			if diff := cmp.Diff(tt.command, main.Command); diff != "" {
				t.Errorf("command (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.args, main.Args); diff != "" {
				t.Errorf("args (-want +got):\n%s", diff)
			}
			kept := main.LivenessProbe != nil && main.ReadinessProbe != nil && main.StartupProbe != nil
			gone := main.LivenessProbe == nil && main.ReadinessProbe == nil && main.StartupProbe == nil
			if (tt.probes && !kept) || (!tt.probes && !gone) {
				t.Errorf("probes: liveness %v readiness %v startup %v, want kept=%v", main.LivenessProbe != nil, main.ReadinessProbe != nil, main.StartupProbe != nil, tt.probes)
			}
		})
	}
}

// An mp worker waits for its leader's master port in an init container; the leader and Ray
// pods do not; every mp pod binds NIXL's side channel to its own IP.
func TestVLLMMultiprocessingPods(t *testing.T) {
	dgd := multinodeGraph(t, "vllm", "", "          command: [python3, -m, dynamo.vllm]\n          args: [--tensor-parallel-size, \"16\"]\n")
	worker, wmain := rolePod(t, dgd, RoleWorker)
	if len(worker.InitContainers) != 1 {
		t.Fatalf("worker init containers: %+v", worker.InitContainers)
	}
	ic := worker.InitContainers[0]
	want := []string{"sh", "-c", `export LEADER_HOST="${LWS_LEADER_ADDRESS}" LEADER_PORT="29500" && exec python3 /scripts/wait-for-leader.py`}
	if ic.Name != "wait-for-leader-mp" || ic.Image != "engine:1" || !cmp.Equal(ic.Command, want) {
		t.Errorf("init container %s %s %q", ic.Name, ic.Image, ic.Command)
	}
	if len(ic.VolumeMounts) != 1 || ic.VolumeMounts[0].MountPath != "/scripts" || !ic.VolumeMounts[0].ReadOnly {
		t.Errorf("init container mounts %+v", ic.VolumeMounts)
	}
	last := worker.Volumes[len(worker.Volumes)-1]
	if last.ConfigMap == nil || last.ConfigMap.Name != "mn-wait-leader-script" {
		t.Errorf("last volume %+v, want the wait-leader ConfigMap", last)
	}
	if e, ok := envValue(wmain, "VLLM_NIXL_SIDE_CHANNEL_HOST"); !ok || e.ValueFrom == nil || e.ValueFrom.FieldRef.FieldPath != "status.podIP" {
		t.Errorf("worker: VLLM_NIXL_SIDE_CHANNEL_HOST %+v", e)
	}
	leader, lmain := rolePod(t, dgd, RoleLeader)
	if len(leader.InitContainers) != 0 {
		t.Errorf("leader init containers: %+v", leader.InitContainers)
	}
	if _, ok := envValue(lmain, "VLLM_NIXL_SIDE_CHANNEL_HOST"); !ok {
		t.Error("leader has no VLLM_NIXL_SIDE_CHANNEL_HOST")
	}
	ray := multinodeGraph(t, "vllm", "nvidia.com/vllm-distributed-executor-backend: ray", "          command: [python3, -m, dynamo.vllm]\n          args: [--tensor-parallel-size, \"16\"]\n")
	if pod, main := rolePod(t, ray, RoleWorker); len(pod.InitContainers) != 0 {
		t.Errorf("ray worker init containers: %+v", pod.InitContainers)
	} else if _, ok := envValue(main, "VLLM_NIXL_SIDE_CHANNEL_HOST"); ok {
		t.Error("ray worker has VLLM_NIXL_SIDE_CHANNEL_HOST")
	}
	cm := WaitLeaderConfigMap(resolve(dgd))
	if script := cm.Data["wait-for-leader.py"]; !strings.Contains(script, `os.environ["LEADER_HOST"]`) || !strings.Contains(script, "create_connection") {
		t.Errorf("wait script:\n%s", script)
	}
}

func TestVLLMUsesMP(t *testing.T) {
	for annotations, want := range map[string]bool{
		"": true, "nvidia.com/dynamo-operator-origin-version: 1.0.0": true, "nvidia.com/dynamo-operator-origin-version: v1.2.3": true,
		"nvidia.com/dynamo-operator-origin-version: 0.9.1": false, "nvidia.com/dynamo-operator-origin-version: 1.0.0-rc1": false,
		"nvidia.com/dynamo-operator-origin-version: unknown":                                                 false,
		"nvidia.com/dynamo-operator-origin-version: 0.9.1, nvidia.com/vllm-distributed-executor-backend: MP": true,
		"nvidia.com/vllm-distributed-executor-backend: ray":                                                  false,
		"nvidia.com/vllm-distributed-executor-backend: other":                                                true,
	} {
		if got := vllmUsesMP(resolve(multinodeGraph(t, "vllm", annotations, "")).Component("Decode")); got != want {
			t.Errorf("{%s}: mp %v, want %v", annotations, got, want)
		}
	}
}

// TRT-LLM runs mpirun over SSH: the key from the Secret on every pod, sshd on the workers
// (ready when port 2222 listens), and on the leader a DNS wait for each worker, then mpirun on
// all the group's GPUs with the environment passed on.
func TestTRTLLMMultinode(t *testing.T) {
	dgd := multinodeGraph(t, "trtllm", "", "          command: [python3, -m, dynamo.trtllm]\n          args: [--extra-engine-args, '{\"a\": 1}']\n          env: [{name: MODEL_PATH, value: /m}, {name: ZED, value: z}]\n")
	for _, role := range []Role{RoleLeader, RoleWorker} {
		pod, main := rolePod(t, dgd, role)
		var secret bool
		for _, v := range pod.Volumes {
			secret = secret || (v.Secret != nil && v.Secret.SecretName == "mpi-run-ssh-secret" && *v.Secret.DefaultMode == 0o644)
		}
		var mounted bool
		for _, m := range main.VolumeMounts {
			mounted = mounted || (m.MountPath == "/ssh-pk" && m.ReadOnly)
		}
		if !secret || !mounted {
			t.Errorf("%s: SSH secret volume %v, mounted at /ssh-pk %v", role, secret, mounted)
		}
		if e, _ := envValue(main, "OMPI_MCA_orte_keep_fqdn_hostnames"); e.Value != "1" {
			t.Errorf("%s: OMPI_MCA_orte_keep_fqdn_hostnames %q", role, e.Value)
		}
		if !cmp.Equal(main.Command, []string{"/bin/sh", "-c"}) || len(main.Args) != 1 {
			t.Fatalf("%s: command %q args %q", role, main.Command, main.Args)
		}
	}
	_, worker := rolePod(t, dgd, RoleWorker)
	if worker.LivenessProbe != nil || worker.StartupProbe != nil || worker.ReadinessProbe == nil ||
		worker.ReadinessProbe.TCPSocket == nil || worker.ReadinessProbe.TCPSocket.Port.IntValue() != 2222 ||
		worker.ReadinessProbe.InitialDelaySeconds != 20 || worker.ReadinessProbe.PeriodSeconds != 20 ||
		worker.ReadinessProbe.TimeoutSeconds != 5 || worker.ReadinessProbe.FailureThreshold != 10 {
		t.Errorf("worker probes: liveness %v startup %v readiness %+v", worker.LivenessProbe, worker.StartupProbe, worker.ReadinessProbe)
	}
	for _, part := range []string{"cp /ssh-pk/private.key $HOME/.ssh/id_rsa", "ssh-keygen -q -t ed25519", "Port 2222", "/usr/sbin/sshd -D -f $HOME/.ssh/sshd_config"} {
		if !strings.Contains(worker.Args[0], part) {
			t.Errorf("worker script lacks %q:\n%s", part, worker.Args[0])
		}
	}
	_, leader := rolePod(t, dgd, RoleLeader)
	if leader.LivenessProbe == nil || leader.ReadinessProbe == nil || leader.StartupProbe == nil {
		t.Error("leader lost its probes")
	}
	script := leader.Args[0]
	for _, part := range []string{
		`for host in $(echo "$LWS_LEADER_ADDRESS" | sed 's/\./-1./'); do until getent hosts "$host"`,
		`mpirun $([ "$(id -u)" = "0" ] && echo --allow-run-as-root) --oversubscribe -n 16 -H $(LWS_LEADER_ADDRESS),$(echo "$LWS_LEADER_ADDRESS" | sed 's/\./-1./') --mca pml ob1 --mca plm_rsh_args "-p 2222 -o StrictHostKeyChecking=no -i $HOME/.ssh/id_rsa"`,
		"-x HF_TOKEN -x HOME -x HUGGING_FACE_HUB_TOKEN -x LD_LIBRARY_PATH -x MODEL_PATH",
		"-x TRTLLM_USE_UCX_KVCACHE -x USER -x ZED",
		`bash -c 'trtllm-llmapi-launch python3 -m dynamo.trtllm --extra-engine-args '\''{"a": 1}'\'''`,
	} {
		if !strings.Contains(script, part) {
			t.Errorf("leader script lacks %q:\n%s", part, script)
		}
	}
	if strings.Index(script, "getent") > strings.Index(script, "mpirun") {
		t.Error("the leader runs mpirun before the workers' names resolve")
	}
}

// One LeaderWorkerSet per multi-node service: <dgd>-<service>-<generation>-0, replicas groups
// of nodeCount pods started leader first, the pod labels plus the role on each template; the
// Service selects leaders; the wait script's ConfigMap comes with the graph.
func TestLeaderWorkerSetObject(t *testing.T) {
	dgd := multinodeGraph(t, "sglang", "", "          command: [python3, -m, dynamo.sglang]\n")
	child := "mn-decode-" + graph.WorkerHash(dgd)
	objs, err := renderGraph(dgd, Config{})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	var lws *lwsv1.LeaderWorkerSet
	var svc *corev1.Service
	for _, o := range objs {
		kinds = append(kinds, o.GetObjectKind().GroupVersionKind().Kind)
		switch v := o.(type) {
		case *lwsv1.LeaderWorkerSet:
			lws = v
		case *corev1.Service:
			svc = v
		}
	}
	if diff := cmp.Diff([]string{"ServiceAccount", "Role", "RoleBinding", "ConfigMap", "LeaderWorkerSet", "Service"}, kinds); diff != "" {
		t.Fatalf("kinds (-want +got):\n%s", diff)
	}
	if lws.Name != child+"-0" || lws.APIVersion != "leaderworkerset.x-k8s.io/v1" || *lws.Spec.Replicas != 3 ||
		*lws.Spec.LeaderWorkerTemplate.Size != 2 || lws.Spec.StartupPolicy != lwsv1.LeaderCreatedStartupPolicy {
		t.Errorf("LeaderWorkerSet %s %s replicas %d size %d startup %s", lws.Name, lws.APIVersion, *lws.Spec.Replicas,
			*lws.Spec.LeaderWorkerTemplate.Size, lws.Spec.StartupPolicy)
	}
	if lws.Annotations[AnnotationAppliedHash] == "" || lws.Labels[v1alpha1.LabelSelector] != child {
		t.Errorf("LeaderWorkerSet metadata %v %v", lws.Labels, lws.Annotations)
	}
	for role, tpl := range map[Role]*corev1.PodTemplateSpec{RoleLeader: lws.Spec.LeaderWorkerTemplate.LeaderTemplate, RoleWorker: &lws.Spec.LeaderWorkerTemplate.WorkerTemplate} {
		l := tpl.Labels
		if l["role"] != string(role) || l[v1alpha1.LabelSelector] != child || l[v1alpha1.LabelManagedBy] != ManagedBy || l[v1alpha1.LabelComponentType] != "decode" {
			t.Errorf("%s template labels %v", role, l)
		}
		if got := MainContainer(&tpl.Spec).Resources.Limits[nvidia.ResourceGPU]; got.Value() != 8 {
			t.Errorf("%s: %s GPUs per pod, want 8", role, got.String())
		}
	}
	if want := map[string]string{v1alpha1.LabelSelector: child, "role": "leader"}; !cmp.Equal(want, svc.Spec.Selector) {
		t.Errorf("Service selector %v", svc.Spec.Selector)
	}
}

func TestMultinodeWithoutEngineCommand(t *testing.T) {
	dgd := multinodeGraph(t, "sglang", "", "          args: [-m, dynamo.sglang]\n")
	_, err := renderGraph(dgd, Config{})
	if err == nil || !strings.Contains(err.Error(), "no python command running dynamo.sglang") || !strings.Contains(err.Error(), "Decode") {
		t.Errorf("render: %v", err)
	}
	var unimplemented *graph.UnimplementedError
	if errors.As(err, &unimplemented) {
		t.Error("reported as not implemented")
	}
	// No backend at all: rendered, with a warning that no launch flags were added.
	none := multinodeGraph(t, "", "", "          command: [./serve]\n")
	if _, err := renderGraph(none, Config{}); err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(resolve(none).Warnings(), "\n"); !strings.Contains(w, "spec.services.Decode.multinode: no backend") {
		t.Errorf("warnings: %q", w)
	}
}

// GPUs per pod are counted in the service's own GPU resource: gpuType when set (here on
// requests only), else nvidia.com/gpu; other extended resources do not count.
func TestGPUCount(t *testing.T) {
	for _, tt := range []struct {
		res  *v1alpha1.Resources
		want int64
	}{
		{&v1alpha1.Resources{Limits: &v1alpha1.ResourceItem{GPU: "8", Custom: map[string]resource.Quantity{"rdma/ib": resource.MustParse("8")}}}, 8},
		{&v1alpha1.Resources{Requests: &v1alpha1.ResourceItem{GPU: "4", GPUType: "example.com/gpu"}}, 4},
		{nil, 0},
	} {
		dgd := &v1alpha1.DynamoGraphDeployment{Spec: v1alpha1.DynamoGraphDeploymentSpec{Services: map[string]*v1alpha1.ServiceSpec{
			"Decode": {Resources: tt.res, ExtraPodSpec: &v1alpha1.ExtraPodSpec{MainContainer: &corev1.Container{Image: "x"}}}}}}
		c := resolve(dgd).Component("Decode")
		if c.Err != nil {
			t.Fatal(c.Err)
		}
		if got := gpuCount(c, c.MainContainer()); got != tt.want {
			t.Errorf("%+v: %d GPUs, want %d", tt.res, got, tt.want)
		}
	}
}
