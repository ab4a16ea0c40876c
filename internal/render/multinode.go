package render

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/version"
	"k8s.io/utils/ptr"
	lwsv1 "sigs.k8s.io/lws/api/leaderworkerset/v1"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/topology"
)

// A multi-node service (multinode.nodeCount ≥ 2) runs as one LeaderWorkerSet, the way the
// original operator's LWS path renders it (deploy/operator/internal/dynamo: lws.go,
// backend_vllm.go, backend_sglang.go, backend_trtllm.go; the DCD controller's
// generateLeaderWorkerSet): replicas are groups, each of nodeCount pods — one leader, the rest
// workers — with the service's resources each. The engine is launched across a group with
// flags that name the leader by LWS_LEADER_ADDRESS and the pod's rank by LWS_WORKER_INDEX,
// which LWS sets in every container and the kubelet expands in commands and args.
// Deliberate differences are listed in docs/multinode.md.

// Role is the part a pod plays in its service.
type Role string

// Roles: the one pod kind of a single-node service, and a multi-node group's leader and
// workers.
const (
	RoleMain   Role = "main"
	RoleLeader Role = "leader"
	RoleWorker Role = "worker"
)

// Names and paths of the multi-node launch's own objects.
const (
	waitLeaderConfigMapSuffix = "-wait-leader-script"
	waitLeaderScriptKey       = "wait-for-leader.py"
	waitLeaderVolume          = "wait-leader-script"
	waitLeaderMountPath       = "/scripts"
	waitLeaderInitContainer   = "wait-for-leader-mp"
	mpiSSHVolume              = "mpi-ssh-key"
	mpiSSHMountPath           = "/ssh-pk"
	// leaderAddress and workerIndex are LWS's variables in the kubelet's $(VAR) syntax.
	leaderAddress = "$(" + v1alpha1.EnvLWSLeaderAddress + ")"
	workerIndex   = "$(" + v1alpha1.EnvLWSWorkerIndex + ")"
)

// vllmMPSince is the first origin version whose multi-node vLLM graphs use vLLM's own
// multiprocessing instead of Ray.
var vllmMPSince = version.MustParseSemantic("1.0.0")

// WaitLeaderConfigMapName is the ConfigMap holding the script multi-node vLLM workers wait for
// their leader with.
func WaitLeaderConfigMapName(g *graph.Graph) string {
	return g.Name + waitLeaderConfigMapSuffix
}

// LeaderWorkerSet renders one multi-node component's LeaderWorkerSet (the operator renders a
// graph whole: Graph).
func LeaderWorkerSet(g *graph.Graph, c *graph.Component, cfg Config) (*lwsv1.LeaderWorkerSet, error) {
	if err := usable(g, c); err != nil {
		return nil, err
	}
	scopes, err := g.Scopes(cfg.Topology)
	if err != nil {
		return nil, err
	}
	return leaderWorkerSet(g, c, cfg, scopes)
}

// leaderWorkerSet renders a multi-node component: replicas groups of nodeCount pods started
// leader first (LeaderCreated), leader and worker templates with the pod labels, the role
// label and each role's launch.
func leaderWorkerSet(g *graph.Graph, c *graph.Component, cfg Config, scopes []topology.Scope) (*lwsv1.LeaderWorkerSet, error) {
	leader, err := podTemplate(g, c, cfg, scopes)
	if err != nil {
		return nil, err
	}
	pod, err := rolePodSpec(g, c, cfg, RoleWorker, scopes)
	if err != nil {
		return nil, fmt.Errorf("service %s worker: %w", c.Name, err)
	}
	worker := leader.DeepCopy()
	worker.Labels[v1alpha1.LabelRole] = string(RoleWorker)
	worker.Spec = pod
	return &lwsv1.LeaderWorkerSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: lwsv1.GroupVersion.String(), Kind: "LeaderWorkerSet"},
		ObjectMeta: workloadMeta(g, c),
		Spec: lwsv1.LeaderWorkerSetSpec{
			Replicas:      ptr.To(c.Replicas),
			StartupPolicy: lwsv1.LeaderCreatedStartupPolicy,
			LeaderWorkerTemplate: lwsv1.LeaderWorkerTemplate{
				Size:           ptr.To(c.NodeCount),
				LeaderTemplate: &leader,
				WorkerTemplate: *worker,
			},
		},
	}, nil
}

// WaitLeaderConfigMap renders the script a multi-node vLLM worker's init container runs: it
// returns once the leader's master port accepts connections, so the worker's engine does not
// start (and fail) before its leader listens.
func WaitLeaderConfigMap(g *graph.Graph) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{
			Name: WaitLeaderConfigMapName(g), Namespace: g.Namespace, OwnerReferences: ownerRefs(g),
			Labels: map[string]string{v1alpha1.LabelGraphDeploymentName: g.Name, v1alpha1.LabelManagedBy: ManagedBy},
		},
		Data: map[string]string{waitLeaderScriptKey: waitLeaderScript},
	}
}

// waitLeaderScript resolves LEADER_HOST and connects to LEADER_PORT every 2 s until it can,
// saying every 30 s what it is still waiting for.
const waitLeaderScript = `import os, socket, sys, time

host, port = os.environ["LEADER_HOST"], int(os.environ["LEADER_PORT"])
start = last = time.monotonic()
error = "not tried yet"
print(f"waiting for the group leader at {host}:{port}", flush=True)
while True:
    try:
        socket.create_connection((host, port), timeout=2).close()
        print(f"leader reachable after {time.monotonic() - start:.0f}s", flush=True)
        sys.exit(0)
    except OSError as e:
        error = f"{type(e).__name__}: {e}"
    now = time.monotonic()
    if now - last >= 30:
        print(f"still waiting for {host}:{port} after {now - start:.0f}s ({error})", flush=True)
        last = now
    time.sleep(2)
`

// multinodeContainer changes the main container of a multi-node pod for its backend and role:
// the distributed-launch flags (or a new command), the env the launch needs, and the probes a
// worker no longer answers.
func multinodeContainer(g *graph.Graph, c *graph.Component, role Role, main *corev1.Container) error {
	nodes, service := c.NodeCount, c.Name
	if nodes > v1alpha1.MaxNodes {
		// The CRD refuses it; a graph stored under an older CRD must not make the operator
		// write a launch line with a host per node.
		return fmt.Errorf("spec.services.%s.multinode.nodeCount %d: at most %d", service, nodes, v1alpha1.MaxNodes)
	}
	switch c.Backend {
	case "vllm":
		if err := vllmMultinode(c, role, main); err != nil {
			return err
		}
		if vllmUsesMP(c) {
			main.Env = append(main.Env, corev1.EnvVar{Name: v1alpha1.EnvVLLMNixlSideChannelHost,
				ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}})
		}
		if role == RoleWorker {
			main.LivenessProbe, main.ReadinessProbe, main.StartupProbe = nil, nil, nil
		}
	case "sglang":
		if role == RoleWorker {
			main.LivenessProbe, main.ReadinessProbe, main.StartupProbe = nil, nil, nil
		}
		rank := "0"
		if role == RoleWorker {
			rank = workerIndex
		}
		flags := fmt.Sprintf("--dist-init-addr %s:%d --nnodes %d --node-rank %s", leaderAddress, v1alpha1.PortSGLangDistInit, nodes, rank)
		if !injectLaunchFlags(main, flags, false, "sglang") {
			return noEngineCommand("sglang")
		}
	case "trtllm":
		trtllmMultinode(role, nodes, gpuCount(c, main), main)
	}
	return nil
}

// multinodePod adds to a multi-node pod what its backend's launch needs beside the container:
// the vLLM mp worker's wait for its leader, TRT-LLM's SSH key.
func multinodePod(g *graph.Graph, c *graph.Component, cfg Config, role Role, pod *corev1.PodSpec) {
	main := MainContainer(pod)
	switch backend := c.Backend; {
	case backend == "vllm" && role == RoleWorker && hasArg(commandLine(main), "--distributed-executor-backend", "mp"):
		// Only an mp worker waits: a Ray worker joins the head itself, and a data-parallel
		// worker's leader never opens the master port.
		pod.Volumes = append(pod.Volumes, corev1.Volume{Name: waitLeaderVolume, VolumeSource: corev1.VolumeSource{
			ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: WaitLeaderConfigMapName(g)}}}})
		// A shell reads LWS_LEADER_ADDRESS: LWS appends its variables after ours, and the
		// kubelet's $(VAR) expansion only sees variables defined before the reference.
		pod.InitContainers = append(pod.InitContainers, corev1.Container{
			Name: waitLeaderInitContainer, Image: main.Image,
			Command: []string{"sh", "-c", fmt.Sprintf(`export LEADER_HOST="${%s}" LEADER_PORT="%d" && exec python3 %s/%s`,
				v1alpha1.EnvLWSLeaderAddress, v1alpha1.PortVLLMMaster, waitLeaderMountPath, waitLeaderScriptKey)},
			VolumeMounts: []corev1.VolumeMount{{Name: waitLeaderVolume, MountPath: waitLeaderMountPath, ReadOnly: true}},
		})
	case backend == "trtllm":
		pod.Volumes = append(pod.Volumes, corev1.Volume{Name: mpiSSHVolume, VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{SecretName: cfg.mpiSSHSecret(), DefaultMode: ptr.To(int32(0o644))}}})
	}
}

// vllmUsesMP decides how multi-node vLLM spans its nodes: the graph's (or service's)
// nvidia.com/vllm-distributed-executor-backend when it says "mp" or "ray"; otherwise mp, unless
// the graph was created by an operator older than 1.0.0 (its origin-version annotation), which
// launched Ray. The original's webhook stamps that annotation on every new graph; this
// operator has no webhook, so a graph without it counts as new.
func vllmUsesMP(c *graph.Component) bool {
	switch strings.ToLower(c.Setting(v1alpha1.AnnotationVLLMExecutorBackend)) {
	case "mp":
		return true
	case "ray":
		return false
	}
	origin := c.Setting(v1alpha1.AnnotationOriginVersion)
	if origin == "" {
		return true
	}
	v, err := version.ParseSemantic(strings.TrimPrefix(origin, "v"))
	return err == nil && v.AtLeast(vllmMPSince)
}

// vllmMultinode launches vLLM across a group. When tensor × pipeline parallelism needs more
// GPUs than a pod has, the group is one engine: with mp, every pod runs vLLM with the group's
// size and its rank (workers headless); with Ray, the leader starts the Ray head and vLLM, the
// workers join the head. When data parallelism needs more, each pod runs its share of the
// ranks, coordinated by the leader (hybrid load balancing).
func vllmMultinode(c *graph.Component, role Role, main *corev1.Container) error {
	nodes := c.NodeCount
	args := splitArgs(main.Args)
	gpus := gpuCount(c, main)
	world := flagInt(args, "--tensor-parallel-size") * flagInt(args, "--pipeline-parallel-size")
	switch {
	case gpus > 0 && world > gpus && vllmUsesMP(c):
		flags := fmt.Sprintf("--distributed-executor-backend mp --nnodes %d --master-addr %s --master-port %d", nodes, leaderAddress, v1alpha1.PortVLLMMaster)
		if role == RoleLeader {
			flags += " --node-rank 0"
		} else {
			flags += " --node-rank " + workerIndex + " --headless"
		}
		if !injectLaunchFlags(main, flags, false, "vllm") {
			return noEngineCommand("vllm")
		}
	case gpus > 0 && world > gpus:
		return vllmRay(role, main)
	case gpus > 0 && world*flagInt(args, "--data-parallel-size") > gpus:
		local := gpus / world
		flags := []string{"--data-parallel-hybrid-lb"}
		if !slices.Contains(args, "--data-parallel-size") {
			flags = append(flags, "--data-parallel-size", fmt.Sprint(local*int64(nodes)))
		}
		start, shell := "0", false
		if role == RoleWorker {
			start, shell = fmt.Sprintf("$(( %d * %s ))", local, workerIndex), true // arithmetic needs a shell
		}
		flags = append(flags, "--data-parallel-size-local", fmt.Sprint(local), "--data-parallel-start-rank", start,
			"--data-parallel-address", leaderAddress, "--data-parallel-rpc-port", fmt.Sprint(v1alpha1.PortVLLMDataParallelRPC))
		if !injectLaunchFlags(main, strings.Join(flags, " "), shell, "vllm") {
			return noEngineCommand("vllm")
		}
	}
	return nil
}

// vllmRay makes the leader start a Ray head before vLLM (told to use Ray) and the workers join
// it and block. Deliberate difference: for a shell-script command the original appends the
// executor flag after the script, where the shell takes it for $0; here it goes into vLLM's
// command line, as for a direct python command.
func vllmRay(role Role, main *corev1.Container) error {
	if role == RoleWorker {
		main.Command = []string{"/bin/sh", "-c"}
		main.Args = []string{fmt.Sprintf("ray start --address=%s:%d --block", leaderAddress, v1alpha1.PortRayHead)}
		return nil
	}
	head := fmt.Sprintf("ray start --head --port=%d && ", v1alpha1.PortRayHead)
	if len(main.Command) > 0 && isPython(main.Command[0]) {
		main.Args = []string{head + shellJoin(append(append([]string{}, main.Command...), main.Args...)) + " --distributed-executor-backend ray"}
		main.Command = []string{"/bin/sh", "-c"}
		return nil
	}
	i, ok := injectIntoScript(main, "--distributed-executor-backend ray", "vllm")
	if !ok {
		return noEngineCommand("vllm")
	}
	main.Args[i] = head + main.Args[i]
	return nil
}

// trtllmMultinode launches TRT-LLM with MPI over SSH: workers set up the key from the
// mounted Secret and run sshd on port 2222 (ready when it listens); the leader sets up the
// key, waits until every worker's name resolves, and runs the original command under mpirun
// on all the group's GPUs, passing the environment on.
func trtllmMultinode(role Role, nodes int32, gpus int64, main *corev1.Container) {
	main.VolumeMounts = append(main.VolumeMounts, corev1.VolumeMount{Name: mpiSSHVolume, MountPath: mpiSSHMountPath, ReadOnly: true})
	main.Env = append(main.Env, corev1.EnvVar{Name: v1alpha1.EnvOMPIKeepFQDN, Value: "1"})
	keys := []string{
		"mkdir -p $HOME/.ssh",
		"cp " + mpiSSHMountPath + "/private.key $HOME/.ssh/id_rsa",
		"cp " + mpiSSHMountPath + "/private.key.pub $HOME/.ssh/id_rsa.pub",
		"cp " + mpiSSHMountPath + "/private.key.pub $HOME/.ssh/authorized_keys",
		"chmod 600 $HOME/.ssh/id_rsa $HOME/.ssh/authorized_keys",
		"chmod 644 $HOME/.ssh/id_rsa.pub",
		fmt.Sprintf(`printf 'Host *\nIdentityFile %%s/.ssh/id_rsa\nStrictHostKeyChecking no\nPort %d\n' "$HOME" > $HOME/.ssh/config`, v1alpha1.PortMPISSH),
	}
	if role == RoleWorker {
		main.LivenessProbe, main.StartupProbe = nil, nil
		main.ReadinessProbe = &corev1.Probe{
			ProbeHandler:        corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(v1alpha1.PortMPISSH)}},
			InitialDelaySeconds: 20, PeriodSeconds: 20, TimeoutSeconds: 5, FailureThreshold: 10,
		}
		// $HOME, not ~: sshd and the shell may disagree on the home of the user the image runs as.
		script := append(keys,
			"mkdir -p $HOME/.ssh/host_keys $HOME/.ssh/run",
			"ssh-keygen -q -t rsa -f $HOME/.ssh/host_keys/ssh_host_rsa_key -N ''",
			"ssh-keygen -q -t ecdsa -f $HOME/.ssh/host_keys/ssh_host_ecdsa_key -N ''",
			"ssh-keygen -q -t ed25519 -f $HOME/.ssh/host_keys/ssh_host_ed25519_key -N ''",
			fmt.Sprintf(`printf 'Port %d\nHostKey %%s/.ssh/host_keys/ssh_host_rsa_key\nHostKey %%s/.ssh/host_keys/ssh_host_ecdsa_key\nHostKey %%s/.ssh/host_keys/ssh_host_ed25519_key\nPidFile %%s/.ssh/run/sshd.pid\nStrictModes no\nPermitRootLogin yes\nPasswordAuthentication no\nPubkeyAuthentication yes\nAuthorizedKeysFile %%s/.ssh/authorized_keys\n' "$HOME" "$HOME" "$HOME" "$HOME" "$HOME" > $HOME/.ssh/sshd_config`, v1alpha1.PortMPISSH),
			"exec /usr/sbin/sshd -D -f $HOME/.ssh/sshd_config")
		main.Command, main.Args = []string{"/bin/sh", "-c"}, []string{strings.Join(script, " && ")}
		return
	}
	var original string
	switch {
	case len(main.Command) > 0 && isPython(main.Command[0]):
		original = shellJoin(append(append([]string{}, main.Command...), main.Args...))
	case len(main.Args) > 0:
		original = strings.Join(main.Args, " ") // the script of sh -c
	default:
		original = strings.Join(main.Command, " ")
	}
	hosts := groupHostNames(nodes)
	var env []string
	for _, name := range mpiEnv(main.Env) {
		env = append(env, "-x "+name)
	}
	mpirun := fmt.Sprintf(`mpirun $([ "$(id -u)" = "0" ] && echo --allow-run-as-root) --oversubscribe -n %d -H %s --mca pml ob1 --mca plm_rsh_args "-p %d -o StrictHostKeyChecking=no -i $HOME/.ssh/id_rsa" %s bash -c %s`,
		int64(nodes)*gpus, strings.Join(hosts, ","), v1alpha1.PortMPISSH, strings.Join(env, " "), shellQuote("trtllm-llmapi-launch "+original))
	// LWS starts a group's pods together: a worker's DNS name may not resolve yet when the
	// leader starts.
	dnsWait := fmt.Sprintf(`deadline=$(($(date +%%s) + 300)); for host in %s; do until getent hosts "$host" >/dev/null 2>&1; do if [ "$(date +%%s)" -gt "$deadline" ]; then echo "timed out waiting for DNS of $host" >&2; exit 1; fi; sleep 2; done; echo "resolved $host"; done`,
		strings.Join(hosts[1:], " "))
	script := append(keys, dnsWait, mpirun)
	main.Command, main.Args = []string{"/bin/sh", "-c"}, []string{strings.Join(script, " && ")}
}

// groupHostNames are the DNS names of a group's pods: the leader's address, then each
// worker's, which is the leader's with -<index> after its first label
// (<lws>-<group>.<lws>.<namespace> → <lws>-<group>-<index>.<lws>.<namespace>).
func groupHostNames(nodes int32) []string {
	out := []string{leaderAddress}
	for i := int32(1); i < nodes; i++ {
		out = append(out, fmt.Sprintf(`$(echo "$%s" | sed 's/\./-%d./')`, v1alpha1.EnvLWSLeaderAddress, i))
	}
	return out
}

// mpiEnv are the variables mpirun passes to every rank: the container's and those TRT-LLM
// runs commonly depend on, sorted.
func mpiEnv(env []corev1.EnvVar) []string {
	set := map[string]bool{}
	for _, n := range []string{"CUDA_VISIBLE_DEVICES", "MODEL_PATH", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_ENDPOINT",
		"TOKENIZERS_PARALLELISM", "NCCL_DEBUG", "NCCL_IB_DISABLE", "NCCL_P2P_DISABLE", "TENSORRT_LLM_CACHE_DIR", "HF_HOME",
		"TRANSFORMERS_CACHE", "HF_DATASETS_CACHE", "PATH", "LD_LIBRARY_PATH", "PYTHONPATH", "HOME", "USER", "TRTLLM_USE_UCX_KVCACHE"} {
		set[n] = true
	}
	for _, e := range env {
		set[e.Name] = true
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func noEngineCommand(framework string) error {
	return fmt.Errorf("multinode: no python command running dynamo.%s found in the main container's command or args to add the distributed-launch flags to (set command: [python3] with args, or a sh -c script that runs it)", framework)
}

var pythonExecutable = regexp.MustCompile(`^(.*/)?python\d*(\.\d+)*$`)

func isPython(cmd string) bool { return pythonExecutable.MatchString(cmd) }

// injectLaunchFlags adds flags to the engine's command line. A container that runs python
// directly gets them as more args (the kubelet expands $(VAR) in them), or, when they hold
// shell arithmetic, its command becomes sh -c "exec <command> <args> <flags>". A container
// that runs a script gets them after the engine's module in the script's python command. It
// reports whether the flags went in.
func injectLaunchFlags(c *corev1.Container, flags string, needsShell bool, framework string) bool {
	if len(c.Command) > 0 && isPython(c.Command[0]) {
		if needsShell {
			c.Args = []string{"exec " + shellJoin(append(append([]string{}, c.Command...), c.Args...)) + " " + flags}
			c.Command = []string{"sh", "-c"}
		} else {
			c.Args = append(c.Args, strings.Fields(flags)...)
		}
		return true
	}
	_, ok := injectIntoScript(c, flags, framework)
	return ok
}

// injectIntoScript inserts flags after the last word naming the framework in the python
// commands of the first arg that has one, and returns that arg's index.
func injectIntoScript(c *corev1.Container, flags, framework string) (int, bool) {
	re := regexp.MustCompile(`python[0-9.]*\s+[^|&;]*` + regexp.QuoteMeta(framework) + `[^\s|&;]*`)
	for i, arg := range c.Args {
		if re.MatchString(arg) {
			c.Args[i] = re.ReplaceAllStringFunc(arg, func(m string) string { return m + " " + flags })
			return i, true
		}
	}
	return 0, false
}

// shellJoin quotes each word for sh and joins them.
func shellJoin(words []string) string {
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = shellQuote(w)
	}
	return strings.Join(out, " ")
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// shellQuote returns w as one sh word: unchanged when it holds nothing the shell interprets,
// else in single quotes (the kubelet still expands $(VAR) in it first).
func shellQuote(w string) string {
	if shellSafe.MatchString(w) {
		return w
	}
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}

// splitArgs splits args written as one string ("--model x --tensor-parallel-size 16") into words.
func splitArgs(args []string) []string {
	var out []string
	for _, a := range args {
		out = append(out, strings.Fields(a)...)
	}
	return out
}

// commandLine is a container's command and args as words.
func commandLine(c *corev1.Container) []string {
	return splitArgs(append(append([]string{}, c.Command...), c.Args...))
}

func hasArg(words []string, flag, value string) bool {
	for i, w := range words {
		if w == flag+"="+value || (w == flag && i+1 < len(words) && words[i+1] == value) {
			return true
		}
	}
	return false
}

// flagInt is the integer value of flag (default 1, as vLLM's parallel sizes).
func flagInt(words []string, flag string) int64 {
	for i, w := range words {
		if w == flag && i+1 < len(words) {
			if n, err := strconv.ParseInt(words[i+1], 10, 64); err == nil {
				return n
			}
		}
	}
	return 1
}

// gpuCount is the number of GPUs a component's container is limited to, counted in the
// component's GPU resource (gpuType, or nvidia.com/gpu).
func gpuCount(c *graph.Component, main *corev1.Container) int64 {
	q := main.Resources.Limits[c.GPUResource]
	return q.Value()
}

func (cfg Config) mpiSSHSecret() string {
	if cfg.MPISSHSecret != "" {
		return cfg.MPISSHSecret
	}
	return v1alpha1.MPISSHSecret
}
