// Package devcluster runs a local Kubernetes cluster from real control-plane binaries — etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler — with kwok making simulated GPU nodes
// Ready and their pods Running. The real scheduler places pods by nvidia.com/gpu and MIG
// resources. It serves `dynamoctl dev cluster`, the demo, and the integration and e2e tests.
package devcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dynamo-infra/dynamo-infra/internal/simnode"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	nodefast "sigs.k8s.io/kwok/kustomize/stage/node/fast"
	nodeheartbeat "sigs.k8s.io/kwok/kustomize/stage/node/heartbeat-with-lease"
	podfast "sigs.k8s.io/kwok/kustomize/stage/pod/fast"

	"github.com/dynamo-infra/dynamo-infra/config"
)

// Network settings of the simulated cluster.
const (
	serviceCIDR      = "10.96.0.0/16"
	serviceClusterIP = "10.96.0.1"
	podCIDR          = "10.244.0.0/16"
	// nodeLeaseSeconds is the lease kwok renews for every node; the node controller reads it.
	nodeLeaseSeconds = "40"
	// ContextName is the context (and cluster and user) name in the admin kubeconfig.
	ContextName = "dynamo-dev"
)

// DefaultStartTimeout bounds Start when Options.StartTimeout is zero.
const DefaultStartTimeout = 3 * time.Minute

// Options configure a cluster.
type Options struct {
	// BinDir holds the control-plane binaries; empty means FindBinDir.
	BinDir string
	// Dir holds certificates, kubeconfigs, etcd data and logs. Empty means a new temporary
	// directory, removed by Stop unless KeepDir.
	Dir string
	// KeepDir keeps Dir (logs, data) after Stop.
	KeepDir bool
	// Profile lists the built-in nodes to create.
	Profile simnode.Profile
	// ExtraNodes are user-supplied Node objects (see LoadNodesFile), created as given.
	ExtraNodes []*corev1.Node
	// KwokConfig holds extra kwok configuration documents (YAML: Logs, Exec, ... resources),
	// appended to the default stages.
	KwokConfig []string
	// APIServerPort fixes the API server port; 0 picks a free one.
	APIServerPort int
	// StartTimeout bounds Start; zero means DefaultStartTimeout.
	StartTimeout time.Duration
	// Progress receives one line per step of Start and Stop; nil discards them.
	Progress io.Writer
	// LWS starts the LeaderWorkerSet controller with its CRD and webhooks (multi-node workers).
	LWS bool
	// InferenceGateway installs the Gateway API Inference Extension's InferencePool CRD
	// (config.InferencePoolCRD, from the module tools/gaiecrds pins): a graph's Endpoint Picker
	// renders a pool. The CRD only; no gateway runs.
	InferenceGateway bool
	// DRA publishes the nodes' whole GPUs as DRA devices (dra.go): the gpu.nvidia.com
	// DeviceClass and a ResourceSlice per GPU node, for nodes created at start and later.
	DRA bool
	// NodeLease, when set, is the lease kwok renews for every node (default 40 s), and the
	// controller-manager waits 2.5 times it before marking a node NotReady. kwok renews a
	// lease every quarter of it: thousands of nodes on a small machine need a longer one
	// (the 5,000-node benchmark), or kwok falls behind and nodes go NotReady.
	NodeLease time.Duration
}

// Cluster is a running simulated cluster.
type Cluster struct {
	opts    Options
	dir     string
	tempDir bool
	pki     pki
	ports   ports
	binDir  string

	mu    sync.Mutex
	procs []*process
	state State

	restConfig *rest.Config
	client     kubernetes.Interface
	stopOnce   sync.Once
	stopErr    error
}

type ports struct {
	etcdClient, etcdPeer, apiserver, controllerManager, scheduler, kwok, lwsHealth, lwsWebhook int
}

// errPortTaken means a component could not bind a port picked for it: another process took it
// between the pick and the bind (tests start many servers at once). Start retries then.
var errPortTaken = errors.New("a port was taken by another process")

// Start brings a cluster up: etcd, the API server, then the controller-manager, scheduler and
// kwok, then the profile's nodes, and returns once every node is Ready and the default service
// account exists. On any error everything started so far is stopped.
// A start that lost a port race (another process bound a port picked for a component) is
// retried, twice at most, with fresh ports, unless the caller fixed the API server port.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	for attempt := 1; ; attempt++ {
		c, err := start(ctx, opts)
		if err == nil || !errors.Is(err, errPortTaken) || attempt == 3 || opts.APIServerPort != 0 || ctx.Err() != nil {
			return c, err
		}
		fmt.Fprintf(progressOf(opts), "  a port was taken during start (%v); retrying with new ports\n", err)
	}
}

func progressOf(o Options) io.Writer {
	if o.Progress == nil {
		return io.Discard
	}
	return o.Progress
}

// lastLines returns the last n non-empty lines of a log file (nil when unreadable).
func lastLines(path string, n int) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}

// logTail returns the last n non-empty lines of a log file as "\n  | line" text ("" when
// unreadable), each cut at 300 characters, for errors that should say why a process died.
func logTail(path string, n int) string {
	lines := lastLines(path, n)
	var out strings.Builder
	for _, l := range lines {
		if len(l) > 300 {
			l = l[:300] + "…"
		}
		out.WriteString("\n  | " + l)
	}
	return out.String()
}

// start is one attempt of Start.
func start(ctx context.Context, opts Options) (c *Cluster, err error) {
	if opts.StartTimeout == 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()

	c = &Cluster{opts: opts, binDir: opts.BinDir}
	if c.binDir == "" {
		if c.binDir, err = FindBinDir(); err != nil {
			return nil, err
		}
	} else if err := checkBinDir(c.binDir); err != nil {
		return nil, fmt.Errorf("binaries in %s: %w", c.binDir, err)
	}
	if opts.Dir == "" {
		if c.dir, err = os.MkdirTemp("", "dynamo-dev-cluster-"); err != nil {
			return nil, err
		}
		c.tempDir = true
	} else {
		c.dir = opts.Dir
		if err := os.MkdirAll(c.dir, 0o755); err != nil {
			return nil, fmt.Errorf("create cluster dir: %w", err)
		}
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Stop())
			c = nil
		}
	}()

	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"prepare certificates and kubeconfigs", c.prepare},
		{"start etcd", c.startEtcd},
		{"start kube-apiserver", c.startAPIServer},
		{"start kube-controller-manager, kube-scheduler and kwok", c.startControllers},
	}
	if opts.LWS {
		steps = append(steps, struct {
			name string
			run  func(context.Context) error
		}{"start the LeaderWorkerSet controller", c.startLWS})
	}
	if opts.InferenceGateway {
		steps = append(steps, struct {
			name string
			run  func(context.Context) error
		}{"install the InferencePool CRD (Gateway API Inference Extension)", func(ctx context.Context) error {
			return InstallCRDs(ctx, c.restConfig, config.InferencePoolCRD)
		}})
	}
	steps = append(steps, []struct {
		name string
		run  func(context.Context) error
	}{
		{"create nodes", c.createInitialNodes},
		{"wait for nodes and the default service account", c.waitSettled},
	}...)
	for _, s := range steps {
		start := time.Now()
		fmt.Fprintf(opts.Progress, "• %s\n", s.name)
		if err := s.run(ctx); err != nil {
			switch {
			case errors.Is(ctx.Err(), context.DeadlineExceeded):
				err = fmt.Errorf("%w (cluster start timed out after %s; logs in %s)", err, opts.StartTimeout, c.logDir())
			case ctx.Err() != nil:
				err = fmt.Errorf("interrupted: %w", ctx.Err())
			}
			return c, fmt.Errorf("%s: %w", s.name, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			fmt.Fprintf(opts.Progress, "  done in %s\n", d.Round(100*time.Millisecond))
		}
	}
	c.setPhase(PhaseReady, "")
	return c, nil
}

// Dir is the cluster's state directory.
func (c *Cluster) Dir() string { return c.dir }

// KubeconfigPath is the admin kubeconfig written for the cluster.
func (c *Cluster) KubeconfigPath() string { return filepath.Join(c.dir, "kubeconfig") }

// RESTConfig returns a copy of the admin client configuration.
func (c *Cluster) RESTConfig() *rest.Config { return rest.CopyConfig(c.restConfig) }

// Client returns an admin clientset.
func (c *Cluster) Client() kubernetes.Interface { return c.client }

// Server is the API server URL.
func (c *Cluster) Server() string { return "https://127.0.0.1:" + strconv.Itoa(c.ports.apiserver) }

// State returns a snapshot of the cluster's state (phase, components, endpoints).
func (c *Cluster) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.state
	s.Components = append([]ComponentState(nil), c.state.Components...)
	return s
}

// Stop stops every component (kwok and the controllers first, etcd last), killing each process
// group, and removes a temporary directory unless KeepDir. Safe to call more than once.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		c.mu.Lock()
		procs := append([]*process(nil), c.procs...)
		c.mu.Unlock()
		var errs []error
		for i := len(procs) - 1; i >= 0; i-- {
			if err := procs[i].stop(stopGrace); err != nil {
				errs = append(errs, err)
			}
		}
		if c.tempDir && !c.opts.KeepDir {
			if err := os.RemoveAll(c.dir); err != nil {
				errs = append(errs, fmt.Errorf("remove %s: %w", c.dir, err))
			}
		}
		c.stopErr = errors.Join(errs...)
	})
	return c.stopErr
}

// Exited returns a channel that receives the first component that exits on its own. A cluster
// supervisor uses it to notice a crashed component.
func (c *Cluster) Exited() <-chan error {
	ch := make(chan error, 1)
	c.mu.Lock()
	procs := append([]*process(nil), c.procs...)
	c.mu.Unlock()
	for _, p := range procs {
		go func() {
			<-p.done
			select {
			case ch <- p.exitError():
			default:
			}
		}()
	}
	return ch
}

func (c *Cluster) logDir() string { return filepath.Join(c.dir, "logs") }

func (c *Cluster) prepare(context.Context) error {
	c.pki = pki{dir: filepath.Join(c.dir, "pki")}
	if err := c.pki.generate(time.Now()); err != nil {
		return err
	}
	free, err := freePorts(8)
	if err != nil {
		return err
	}
	c.ports = ports{free[0], free[1], free[2], free[3], free[4], free[5], free[6], free[7]}
	if c.opts.APIServerPort != 0 {
		c.ports.apiserver = c.opts.APIServerPort
	}
	for _, id := range []clientIdentity{adminIdentity, controllerIdentity, schedulerIdentity, kwokIdentity} {
		if err := c.writeKubeconfig(id); err != nil {
			return err
		}
	}
	// The admin kubeconfig is the one users and tests get.
	if err := copyFile(c.kubeconfigFor(adminIdentity), c.KubeconfigPath()); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.KubeconfigPath())
	if err != nil {
		return err
	}
	cfg.Timeout = 30 * time.Second
	// client-go's default 5 requests/s would make creating 100 nodes take 20 s.
	cfg.QPS, cfg.Burst = 200, 400
	c.restConfig = cfg
	if c.client, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	c.state = State{
		Dir:        c.dir,
		Kubeconfig: c.KubeconfigPath(),
		Server:     c.Server(),
		Profile:    c.opts.Profile.String(),
		Phase:      PhaseStarting,
		CAFile:     c.pki.caCert(),
		ClientCert: c.pki.clientCert(adminIdentity.file),
		ClientKey:  c.pki.clientKey(adminIdentity.file),
		StartedAt:  time.Now().UTC(),
	}
	if err := os.WriteFile(c.admissionConfigPath(), []byte(admissionConfig), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.dir, "kwok.yaml"), []byte(c.kwokConfig()), 0o644)
}

func (c *Cluster) admissionConfigPath() string { return filepath.Join(c.dir, "admission.yaml") }

// admissionConfig makes every pod tolerate the kwok taint through the PodTolerationRestriction
// admission plugin, so manifests written for real clusters (the DGD example) schedule onto the
// simulated nodes unchanged, while the nodes keep the taint kwok recommends.
const admissionConfig = `apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: PodTolerationRestriction
  configuration:
    apiVersion: podtolerationrestriction.admission.k8s.io/v1alpha1
    kind: Configuration
    default:
    - key: ` + simnode.TaintKwokNode + `
      operator: Exists
      effect: NoSchedule
`

func (c *Cluster) kubeconfigFor(id clientIdentity) string {
	return filepath.Join(c.dir, "kubeconfigs", id.file+".kubeconfig")
}

func (c *Cluster) writeKubeconfig(id clientIdentity) error {
	ca, err := os.ReadFile(c.pki.caCert())
	if err != nil {
		return err
	}
	cert, err := os.ReadFile(c.pki.clientCert(id.file))
	if err != nil {
		return err
	}
	key, err := os.ReadFile(c.pki.clientKey(id.file))
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[ContextName] = &clientcmdapi.Cluster{Server: c.Server(), CertificateAuthorityData: ca}
	cfg.AuthInfos[ContextName] = &clientcmdapi.AuthInfo{ClientCertificateData: cert, ClientKeyData: key}
	cfg.Contexts[ContextName] = &clientcmdapi.Context{Cluster: ContextName, AuthInfo: ContextName, Namespace: "default"}
	cfg.CurrentContext = ContextName
	path := c.kubeconfigFor(id)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return clientcmd.WriteToFile(*cfg, path)
}

// kwokConfig is kwok's --config: kwok's own default stages (node initialize, heartbeat with
// lease, pod ready/complete/delete), taken from the kwok module, our image-pull-failure,
// crash-loop and probe-failing stages, plus any extra documents.
func (c *Cluster) kwokConfig() string {
	docs := []string{
		nodefast.DefaultNodeInit,
		nodeheartbeat.DefaultNodeHeartbeatWithLease,
		podfast.DefaultPodReady,
		podfast.DefaultPodComplete,
		podfast.DefaultPodDelete,
		stageImagePullFailed,
		stageCrashLoop,
		stageProbeFailing,
	}
	docs = append(docs, c.opts.KwokConfig...)
	for i, d := range docs {
		docs[i] = strings.TrimSpace(d)
	}
	return strings.Join(docs, "\n---\n") + "\n"
}

func (c *Cluster) bin(name string) string { return filepath.Join(c.binDir, name) }

func (c *Cluster) start(name string, args []string, healthURL string) error {
	logPath := filepath.Join(c.logDir(), name+".log")
	p, err := startProcess(name, c.bin(name), args, logPath)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.state.Components = append(c.state.Components, ComponentState{Name: name, PID: p.pid(), HealthURL: healthURL, Log: logPath})
	c.mu.Unlock()
	return nil
}

func (c *Cluster) startEtcd(ctx context.Context) error {
	client := "http://127.0.0.1:" + strconv.Itoa(c.ports.etcdClient)
	peer := "http://127.0.0.1:" + strconv.Itoa(c.ports.etcdPeer)
	args := []string{
		"--name=dev",
		"--data-dir=" + filepath.Join(c.dir, "etcd"),
		"--listen-client-urls=" + client,
		"--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=dev=" + peer,
		// A dev cluster trades durability for speed: its data is thrown away anyway.
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	}
	if err := c.start(BinEtcd, args, client+"/health"); err != nil {
		return err
	}
	return c.waitHealthy(ctx, BinEtcd)
}

func (c *Cluster) startAPIServer(ctx context.Context) error {
	p := c.pki
	args := []string{
		"--etcd-servers=http://127.0.0.1:" + strconv.Itoa(c.ports.etcdClient),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(c.ports.apiserver),
		"--cert-dir=" + filepath.Join(c.dir, "apiserver"),
		"--tls-cert-file=" + p.servingCert(),
		"--tls-private-key-file=" + p.servingKey(),
		"--client-ca-file=" + p.caCert(),
		"--service-cluster-ip-range=" + serviceCIDR,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + p.saPub(),
		"--service-account-signing-key-file=" + p.saKey(),
		"--authorization-mode=RBAC",
		"--allow-privileged=true",
		// kwok serves the kubelet API (logs, exec) on loopback with our serving certificate.
		"--kubelet-client-certificate=" + p.clientCert(apiserverKubelet.file),
		"--kubelet-client-key=" + p.clientKey(apiserverKubelet.file),
		"--kubelet-certificate-authority=" + p.caCert(),
		"--kubelet-preferred-address-types=InternalIP",
		// The front-proxy settings kubeadm sets; without them every aggregated-auth consumer
		// (controller-manager, scheduler, operators) logs a missing requestheader CA.
		"--requestheader-client-ca-file=" + p.caCert(),
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--profiling=false",
		"--enable-admission-plugins=PodTolerationRestriction",
		"--admission-control-config-file=" + c.admissionConfigPath(),
		// The API server listens on loopback, which the kubernetes Service's endpoints may not
		// hold; no simulated pod could reach it anyway.
		"--endpoint-reconciler-type=none",
	}
	if err := c.start(BinAPIServer, args, c.Server()+"/readyz"); err != nil {
		return err
	}
	return c.waitHealthy(ctx, BinAPIServer)
}

func (c *Cluster) startControllers(ctx context.Context) error {
	p := c.pki
	serving := func(port int) []string {
		return []string{
			"--bind-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(port),
			"--tls-cert-file=" + p.servingCert(),
			"--tls-private-key-file=" + p.servingKey(),
		}
	}
	kubeconfig := func(id clientIdentity) []string {
		k := c.kubeconfigFor(id)
		return []string{"--kubeconfig=" + k, "--authentication-kubeconfig=" + k, "--authorization-kubeconfig=" + k}
	}
	cm := append(kubeconfig(controllerIdentity), serving(c.ports.controllerManager)...)
	cm = append(cm,
		"--leader-elect=false",
		"--use-service-account-credentials=false",
		"--service-account-private-key-file="+p.saKey(),
		"--root-ca-file="+p.caCert(),
		"--cluster-signing-cert-file="+p.caCert(),
		"--cluster-signing-key-file="+p.caKey(),
		"--controllers=*,bootstrapsigner,tokencleaner",
		"--profiling=false",
		// 20 QPS (the default) made 500 graphs × 3 Deployments wait minutes for their
		// ReplicaSets and pods: kcm's endpoint, slice and status writes share the budget.
		"--kube-api-qps=200",
		"--kube-api-burst=400",
	)
	lease := nodeLeaseSeconds
	if c.opts.NodeLease > 0 {
		lease = strconv.Itoa(int(c.opts.NodeLease.Seconds()))
		cm = append(cm, "--node-monitor-grace-period="+(c.opts.NodeLease*5/2).String())
	}
	sched := append(kubeconfig(schedulerIdentity), serving(c.ports.scheduler)...)
	sched = append(sched, "--leader-elect=false", "--profiling=false")
	kwokAddr := "127.0.0.1:" + strconv.Itoa(c.ports.kwok)
	kwok := []string{
		"--kubeconfig=" + c.kubeconfigFor(kwokIdentity),
		"--config=" + filepath.Join(c.dir, "kwok.yaml"),
		"--manage-all-nodes=true",
		"--cidr=" + podCIDR,
		"--node-ip=127.0.0.1",
		"--node-port=" + strconv.Itoa(c.ports.kwok),
		"--server-address=" + kwokAddr,
		"--tls-cert-file=" + p.servingCert(),
		"--tls-private-key-file=" + p.servingKey(),
		"--node-lease-duration-seconds=" + lease,
	}
	hp := func(port int) string { return "https://127.0.0.1:" + strconv.Itoa(port) + "/healthz" }
	if err := c.start(BinControllerManager, cm, hp(c.ports.controllerManager)); err != nil {
		return err
	}
	if err := c.start(BinScheduler, sched, hp(c.ports.scheduler)); err != nil {
		return err
	}
	if err := c.start(BinKwok, kwok, "https://"+kwokAddr+"/healthz"); err != nil {
		return err
	}
	return errors.Join(c.waitHealthy(ctx, BinControllerManager), c.waitHealthy(ctx, BinScheduler), c.waitHealthy(ctx, BinKwok))
}

func (c *Cluster) createInitialNodes(ctx context.Context) error {
	nodes, err := simnode.NodesForProfile(c.opts.Profile, nil, 0)
	if err != nil {
		return err
	}
	nodes = append(nodes, c.opts.ExtraNodes...)
	return c.CreateNodes(ctx, nodes)
}

func (c *Cluster) waitSettled(ctx context.Context) error {
	if err := c.WaitNodesReady(ctx); err != nil {
		return err
	}
	return c.WaitDefaultServiceAccount(ctx, "default")
}

func (c *Cluster) setPhase(phase Phase, msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state.Phase = phase
	c.state.Error = msg
}

// waitHealthy polls a component's health endpoint until it answers 200, the process exits, or
// ctx ends.
// component returns the last started component called name and its process.
func (c *Cluster) component(name string) (ComponentState, *process) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var comp ComponentState
	var proc *process
	for i, s := range c.state.Components {
		if s.Name == name {
			comp, proc = s, c.procs[i]
		}
	}
	return comp, proc
}

func (c *Cluster) waitHealthy(ctx context.Context, name string) error {
	comp, proc := c.component(name)
	c.mu.Lock()
	state := c.state
	c.mu.Unlock()
	hc, err := state.healthClient()
	if err != nil {
		return err
	}
	var last error
	for {
		if err := proc.died(comp.Log); err != nil {
			return err
		}
		if last = checkHealth(ctx, hc, comp.HealthURL); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not healthy: %w (last check: %w); see %s", name, ctx.Err(), last, comp.Log)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// freePorts reserves n distinct loopback ports by listening on port 0, then releases them.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	out := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o600)
}
