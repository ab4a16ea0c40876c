package explain_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/exit"
	cliexplain "github.com/dynamo-infra/dynamo-infra/internal/cli/explain"
	"github.com/dynamo-infra/dynamo-infra/internal/controller/controllertest"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster"
	"github.com/dynamo-infra/dynamo-infra/internal/diagnose"
	"github.com/dynamo-infra/dynamo-infra/internal/explain"
	"github.com/dynamo-infra/dynamo-infra/internal/kube"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
	"github.com/dynamo-infra/dynamo-infra/test/clitest"
)

// graph is a one-service graph; service holds the service's YAML lines (indented for it).
func graph(name, ns, service string) string {
	return fmt.Sprintf(`apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeployment
metadata: {name: %s, namespace: %s}
spec:
  services:
    Frontend:
      componentType: frontend
%s`, name, ns, service)
}

const image = "      extraPodSpec:\n        mainContainer: {image: registry.example/frontend:1}\n"

// reasonCase is a graph that is not Ready for one reason, produced for real on the simulated
// cluster, and what the operator's status and explain must say about it.
type reasonCase struct {
	graph, ns, service string
	// reason is the typed reason of status and explain; says is in the status message.
	reason, says string
	// links are the kinds explain's chain must show, remedy what its remediation says.
	links  []string
	remedy string
}

// Every typed reason produced for real, not by writing status: a decode worker asking for more
// GPUs than a node has, a taint nobody tolerates, an image from the unpullable registry, a
// ResourceQuota that forbids the pods, a namespace enforcing Pod Security "restricted", a claim
// that does not exist, containers that keep dying (the dev cluster's crash-loop stage, exit 1 or
// OOMKilled), a readiness probe that fails (its probe-failing stage) and a rollout stalled on
// such a pod. For each: the status reason and message, then `dynamoctl explain`'s reason, chain,
// remediation sentence and exit code (1); a Ready graph exits 0.
func TestExplainReasons(t *testing.T) {
	c, cl := controllertest.Setup(t, "h100=1,cpu=1")
	ctx := context.Background()
	kubeconfig := c.KubeconfigPath()
	addTaintedNode(t, cl)
	for _, ns := range []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: "quota"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "restricted", Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}},
	} {
		if err := cl.Create(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.Create(ctx, &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "no-pods", Namespace: "quota"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("0")}}}); err != nil {
		t.Fatal(err)
	}
	pod := []string{explain.LinkService, explain.LinkDeployment, explain.LinkReplicaSet, explain.LinkPod, explain.LinkEvents}
	cases := []reasonCase{
		{"toomany", "default", "      resources: {limits: {gpu: \"16\"}}\n" + image, diagnose.ReasonInsufficientCapacity, "Insufficient nvidia.com/gpu",
			append(slices.Clone(pod), explain.LinkNodes),
			"Frontend needs 16 × NVIDIA-H100-80GB-HBM3 (nvidia.com/gpu) on one node; the most free on any NVIDIA-H100-80GB-HBM3 node is 8 (h100-0): free 8 GPUs there or lower tensor parallelism"},
		{"tainted", "default", "      extraPodSpec:\n        nodeSelector: {pool: infra}\n        mainContainer: {image: registry.example/frontend:1}\n",
			diagnose.ReasonUnschedulable, "had untolerated taint", append(slices.Clone(pod), explain.LinkNodes),
			"every node Frontend's node selector/affinity allows has a taint it does not tolerate (dedicated=infra:NoSchedule on infra-0): add a toleration for dedicated=infra:NoSchedule to its extraPodSpec"},
		{"pullfail", "default", "      extraPodSpec:\n        mainContainer: {image: registry" + devcluster.InvalidRegistrySuffix + "/frontend:1}\n",
			diagnose.ReasonImagePull, "ErrImagePull", pod,
			"Frontend's image registry" + devcluster.InvalidRegistrySuffix + "/frontend:1 cannot be pulled"},
		{"quota", "quota", image, diagnose.ReasonPodsNotCreated, "exceeded quota",
			[]string{explain.LinkService, explain.LinkDeployment, explain.LinkReplicaSet, explain.LinkEvents},
			"a ResourceQuota in namespace quota forbids Frontend's pods"},
		{"restricted", "restricted", image, diagnose.ReasonPodsNotCreated, `violates PodSecurity "restricted:latest"`,
			[]string{explain.LinkService, explain.LinkDeployment, explain.LinkReplicaSet, explain.LinkEvents},
			`namespace restricted enforces Pod Security "restricted" and Frontend's pods break it`},
		{"noclaim", "default", "      volumeMounts: [{name: absent, mountPoint: /models}]\n" + image,
			diagnose.ReasonMissingPVC, `persistentvolumeclaim "absent" not found`, pod,
			"Frontend mounts PersistentVolumeClaim absent, which does not exist in default: create it, or set create: true"},
		{"crashing", "default", "      extraPodMetadata: {annotations: {dynamo-infra.dev/simulate: crash-loop}}\n" + image,
			diagnose.ReasonCrashLoop, "CrashLoopBackOff, last exit 1 Error", pod,
			"Frontend's container main keeps exiting with code 1: read why with kubectl logs -n default"},
		{"oom", "default", "      extraPodMetadata: {annotations: {dynamo-infra.dev/simulate: oom-killed}}\n" + image,
			diagnose.ReasonCrashLoop, "CrashLoopBackOff, last exit 137 OOMKilled", pod,
			"Frontend's container main is killed for using too much memory (OOMKilled, exit 137)"},
		{"unready", "default", "      extraPodMetadata: {annotations: {dynamo-infra.dev/simulate: probe-failing}}\n" + image,
			diagnose.ReasonProbeFailing, "container main running but not ready (readiness probe failing)", pod,
			"Frontend's container main runs but its readiness probe fails"},
	}
	for _, tc := range cases {
		manifest := graph(tc.graph, tc.ns, tc.service)
		if tc.graph == "noclaim" {
			manifest = strings.Replace(manifest, "spec:\n", "spec:\n  pvcs: [{name: absent}]\n", 1)
		}
		controllertest.CreateGraph(t, cl, manifest)
	}
	// A rollout in progress: two Ready replicas, then a template change whose new pod never
	// becomes ready (maxSurge 1, maxUnavailable 0 on two replicas: the rollout waits on it).
	rolling := controllertest.CreateGraph(t, cl, graph("rolling", "default", "      replicas: 2\n"+image))
	waitStatus(t, cl, client.ObjectKeyFromObject(rolling), func(d *v1alpha1.DynamoGraphDeployment) error {
		if d.Status.State != "successful" {
			return fmt.Errorf("state %q", d.Status.State)
		}
		return nil
	})
	testkit.Eventually(t, "annotate the rolling graph's pods", 30*time.Second, func(ctx context.Context) (bool, error) {
		d := &v1alpha1.DynamoGraphDeployment{}
		if err := cl.Get(ctx, client.ObjectKeyFromObject(rolling), d); err != nil {
			return false, err
		}
		d.Spec.Services["Frontend"].ExtraPodMetadata = &v1alpha1.ExtraPodMetadata{Annotations: map[string]string{devcluster.AnnotationSimulate: "probe-failing"}}
		err := cl.Update(ctx, d)
		return err == nil, err
	})
	cases = append(cases, reasonCase{"rolling", "default", "", diagnose.ReasonUpdating, "1/2 replicas updated",
		[]string{explain.LinkService, explain.LinkDeployment, explain.LinkReplicaSet, explain.LinkReplicaSet, explain.LinkPod, explain.LinkEvents},
		"a rollout of Frontend is stalled on its new pods"})

	for _, tc := range cases {
		t.Run(tc.graph, func(t *testing.T) {
			waitStatus(t, cl, client.ObjectKey{Namespace: tc.ns, Name: tc.graph}, func(d *v1alpha1.DynamoGraphDeployment) error {
				s := d.Status.Services["Frontend"]
				// The scheduler counts nodes; the status adds what one pod needs and the
				// capacity view the most free where it may go: h100-0 (the tainted node and
				// the CPU node are no place for its GPUs).
				if tc.graph == "toomany" && (!strings.HasSuffix(s.Message, "; each pod needs 16 nvidia.com/gpu; the most free on a node it may use is 8 (h100-0)") ||
					s.Capacity == nil || *s.Capacity != (v1alpha1.ServiceCapacity{Resource: "nvidia.com/gpu", PerPod: 16, CandidateNodes: 2,
					NodesWithResource: 1, Product: "NVIDIA-H100-80GB-HBM3", MostFree: 8, MostFreeNode: "h100-0"})) {
					return fmt.Errorf("frontend %+v, capacity %+v", s, s.Capacity)
				}
				if s.Reason != tc.reason || !strings.Contains(s.Message, tc.says) {
					return fmt.Errorf("frontend %+v", s)
				}
				return nil
			})
			r := clitest.RunInProcess(ctx, kubeconfig, "explain", "dgd/"+tc.graph, "-n", tc.ns, "-o", "json")
			if r.Code != exit.Failure {
				t.Fatalf("explain: exit %d, want 1\nstderr: %s", r.Code, r.Stderr)
			}
			var rep explain.Report
			if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
				t.Fatalf("explain -o json: %v\n%s", err, r.Stdout)
			}
			if rep.SchemaVersion != explain.SchemaVersion || rep.Graph.Ready || len(rep.Services) != 1 {
				t.Fatalf("report: %+v", rep)
			}
			s := rep.Services[0]
			var kinds []string
			for _, l := range s.Chain {
				kinds = append(kinds, l.Kind)
			}
			if s.Reason != tc.reason || !slices.Equal(kinds, tc.links) || !strings.Contains(s.Remediation, tc.remedy) {
				t.Errorf("explain: reason %q (want %q), chain %v (want %v), remediation %q (want it to say %q)\n%s",
					s.Reason, tc.reason, kinds, tc.links, s.Remediation, tc.remedy, r.Stdout)
			}
			if tc.graph != "toomany" {
				return
			}
			// Short of GPUs, explain takes the operator's figure from the status; --read-nodes
			// reads the nodes and their pods itself and comes to the same sentence.
			nodes := s.Chain[len(s.Chain)-1]
			if !strings.Contains(nodes.Summary, "the operator's view") {
				t.Errorf("nodes link %+v: want the operator's view", nodes)
			}
			fresh := clitest.RunInProcess(ctx, kubeconfig, "explain", "dgd/"+tc.graph, "-n", tc.ns, "-o", "json", "--read-nodes")
			var again explain.Report
			if err := json.Unmarshal([]byte(fresh.Stdout), &again); err != nil || fresh.Code != exit.Failure {
				t.Fatalf("--read-nodes: exit %d, %v\n%s", fresh.Code, err, fresh.Stderr)
			}
			// Reading the nodes also names the taint of the node the pod may not use.
			read := again.Services[0]
			readNodes := read.Chain[len(read.Chain)-1]
			if read.Remediation != s.Remediation || len(readNodes.Details) != 3 || !slices.Equal(readNodes.Details[1:], nodes.Details) ||
				!strings.HasPrefix(readNodes.Summary, "2 of 3 node(s) match") {
				t.Errorf("--read-nodes: %+v\nwant the remediation and details of %+v", read, s)
			}
		})
	}

	// A user who may read the graph's namespace and the nodes, but not pods cluster-wide: the
	// chain is explained, the nodes' usage is left out with a note, nothing fails.
	t.Run("usage forbidden", func(t *testing.T) {
		read := []rbacv1.PolicyRule{{APIGroups: []string{"nvidia.com", "apps", "", "leaderworkerset.x-k8s.io"},
			Resources: []string{"dynamographdeployments", "deployments", "replicasets", "pods", "events", "persistentvolumeclaims", "leaderworkersets"},
			Verbs:     []string{"get", "list"}}}
		user := []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: "limited", APIGroup: rbacv1.GroupName}}
		for _, o := range []client.Object{
			&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "explain-read"}, Rules: read},
			&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "limited-read", Namespace: "default"}, Subjects: user,
				RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "explain-read"}},
			&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "nodes-read"}, Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"list"}}}},
			&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "limited-nodes"}, Subjects: user,
				RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "nodes-read"}},
		} {
			if err := cl.Create(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		r := clitest.RunInProcess(ctx, kubeconfig, "explain", "dgd/toomany", "--as", "limited", "-o", "json", "--read-nodes")
		var rep explain.Report
		if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil || r.Code != exit.Failure {
			t.Fatalf("exit %d, %v\n%s%s", r.Code, err, r.Stdout, r.Stderr)
		}
		s := rep.Services[0]
		if s.Reason != diagnose.ReasonInsufficientCapacity || len(rep.Notes) != 1 || !strings.HasPrefix(rep.Notes[0], "nodes not shown: ") ||
			s.Chain[len(s.Chain)-1].Kind != explain.LinkEvents {
			t.Errorf("reason %q, notes %q, chain %+v", s.Reason, rep.Notes, s.Chain)
		}
	})

	t.Run("text", func(t *testing.T) {
		r := clitest.RunInProcess(ctx, kubeconfig, "explain", "dgd", "toomany")
		for _, want := range []string{
			"DynamoGraphDeployment default/toomany: not Ready, 0/1 services ready\n",
			"Frontend: insufficient_capacity\n",
			"2 node(s): Insufficient nvidia.com/gpu\n",
			"1 node(s) had untolerated taint(s)\n",
			"Warning FailedScheduling",
			"1 of them have nvidia.com/gpu (NVIDIA-H100-80GB-HBM3); most free on one node: 8 (h100-0); the pod needs 16",
			"  → Frontend needs 16 × ",
		} {
			if !strings.Contains(r.Stdout, want) {
				t.Errorf("explain text lacks %q:\n%s", want, r.Stdout)
			}
		}
		if r.Code != exit.Failure || !strings.Contains(r.Stderr, "default/toomany is not Ready (0/1 services)") {
			t.Errorf("exit %d, stderr %q", r.Code, r.Stderr)
		}
	})
}

// A Ready graph explains as Ready and exits 0; a missing one exits 1, a stopped cluster 3.
// -f plans a graph not applied: 0 when it fits, 1 with the remediation when it does not.
func TestExplainReadyPlanAndBundle(t *testing.T) {
	c, cl := controllertest.Setup(t, "h100=1,cpu=1")
	ctx := context.Background()
	kubeconfig := c.KubeconfigPath()
	g := controllertest.CreateGraph(t, cl, graph("fine", "default", "      resources: {limits: {gpu: \"2\"}}\n"+
		"      extraPodSpec:\n        mainContainer:\n          image: registry.example/frontend:1\n          env: [{name: HF_TOKEN, value: hf_very_secret}, {name: DYN_LOG, value: keep-me}]\n"))
	waitStatus(t, cl, client.ObjectKeyFromObject(g), func(d *v1alpha1.DynamoGraphDeployment) error {
		if d.Status.State != "successful" {
			return fmt.Errorf("state %q", d.Status.State)
		}
		return nil
	})
	r := clitest.RunInProcess(ctx, kubeconfig, "explain", "dgd/fine")
	if r.Code != 0 || !strings.Contains(r.Stdout, "default/fine: Ready, 1/1 services ready") || !strings.Contains(r.Stdout, "Frontend: Ready\n") {
		t.Errorf("ready graph: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if r := clitest.RunInProcess(ctx, kubeconfig, "explain", "dgd/nothere"); r.Code != exit.Failure || !strings.Contains(r.Stderr, `dynamographdeployment "nothere" not found in namespace "default"`) {
		t.Errorf("missing graph: exit %d, stderr %q", r.Code, r.Stderr)
	}
	// Shell completion names the graphs: explain dgd/<TAB>, get dgd <TAB>.
	if r := clitest.RunInProcess(ctx, kubeconfig, "__complete", "explain", "dgd/"); !strings.HasPrefix(r.Stdout, "dgd/fine\n:4\n") {
		t.Errorf("completion of explain dgd/: %q", r.Stdout)
	}
	if r := clitest.RunInProcess(ctx, kubeconfig, "__complete", "get", "dgd", ""); !strings.HasPrefix(r.Stdout, "fine\n:4\n") {
		t.Errorf("completion of get dgd: %q", r.Stdout)
	}
	if r := clitest.RunInProcess(ctx, kubeconfig, "explain", "pods/x"); r.Code != exit.Usage {
		t.Errorf("explain pods/x: exit %d, want 2", r.Code)
	}

	// The plan: 2 GPUs of 8 are taken by "fine"; 8 more do not fit, 6 do.
	dir := t.TempDir()
	write := func(name, gpus string) string {
		p := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(p, []byte(graph(name, "default", "      resources: {limits: {gpu: \""+gpus+"\"}}\n"+image)), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	r = clitest.RunInProcess(ctx, kubeconfig, "explain", "-f", write("wants8", "8"), "-o", "json")
	var rep explain.Report
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil || r.Code != exit.Failure || rep.Graph.Mode != explain.ModePlan || rep.Graph.Ready {
		t.Fatalf("plan of 8: exit %d, %v\n%s%s", r.Code, err, r.Stdout, r.Stderr)
	}
	if s := rep.Services[0]; s.Reason != diagnose.ReasonInsufficientCapacity ||
		s.Remediation != "Frontend needs 8 × nvidia.com/gpu on one node; the most free on any matching node is 6 (h100-0): free 2 GPUs there or lower tensor parallelism (GPUs per pod)" {
		t.Errorf("plan of 8: %+v", s)
	}
	if r := clitest.RunInProcess(ctx, kubeconfig, "explain", "-f", write("wants6", "6")); r.Code != 0 || !strings.Contains(r.Stdout, "fits: 1 pod(s) × 6 nvidia.com/gpu on h100-0") {
		t.Errorf("plan of 6: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	// The bundle: only GET requests (LIST and log reads included), none for Secrets; the
	// credential in the graph's env is redacted everywhere, other values kept.
	var mu sync.Mutex
	var requests []string
	record := func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(req *http.Request) (*http.Response, error) {
			mu.Lock()
			requests = append(requests, req.Method+" "+req.URL.Path)
			mu.Unlock()
			return rt.RoundTrip(req)
		})
	}
	bundle := filepath.Join(dir, "bundle")
	flags := kube.NewConfigFlags()
	flags.KubeConfig = kubeconfig
	var out, errOut clitest.SyncBuffer
	cmd := cliexplain.NewCommand(flags, genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
		func(o *cliexplain.Options) { o.WrapTransport = record })
	cmd.SetArgs([]string{"dgd/fine", "--bundle", bundle})
	if err := cmd.ExecuteContext(ctx); err != nil {
		t.Fatalf("bundle: %v\n%s", err, errOut.String())
	}
	for _, req := range requests {
		if !strings.HasPrefix(req, "GET ") || strings.Contains(req, "/secrets") {
			t.Errorf("the bundle made %s", req)
		}
	}
	files, err := os.ReadDir(bundle)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	all := ""
	for _, f := range files {
		names = append(names, f.Name())
		b, err := os.ReadFile(filepath.Join(bundle, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		all += string(b)
	}
	// No operator pod runs in this cluster (the operator runs in the test): the README says so.
	want := []string{"README.txt", "events.yaml", "explain.json", "graph.yaml", "inventory.json", "pods.yaml", "services.yaml", "workloads.yaml"}
	if !slices.Equal(names, want) || strings.Contains(all, "hf_very_secret") || !strings.Contains(all, "keep-me") ||
		!strings.Contains(all, "operator.log: no pod labelled app.kubernetes.io/name=dynamo-operator") {
		t.Errorf("bundle files %v (want %v); secret leaked: %v; other value kept: %v", names, want, strings.Contains(all, "hf_very_secret"), strings.Contains(all, "keep-me"))
	}
	// A bundle never overwrites: the same directory again is refused.
	cmd.SetArgs([]string{"dgd/fine", "--bundle", bundle})
	if err := cmd.ExecuteContext(ctx); err == nil || !strings.Contains(err.Error(), "is not empty") {
		t.Errorf("second bundle into the same directory: %v", err)
	}

	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if r := clitest.RunInProcess(ctx, kubeconfig, "explain", "dgd/fine", "--request-timeout", "2s"); r.Code != exit.Unreachable {
		t.Errorf("stopped cluster: exit %d, want 3\n%s", r.Code, r.Stderr)
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// addTaintedNode adds a node tainted for infrastructure, labelled pool=infra, copied from the
// CPU node: the only node a graph selecting pool=infra may use.
func addTaintedNode(t *testing.T, cl client.Client) {
	t.Helper()
	ctx := context.Background()
	cpu := &corev1.Node{}
	if err := cl.Get(ctx, client.ObjectKey{Name: "cpu-0"}, cpu); err != nil {
		t.Fatal(err)
	}
	infra := cpu.DeepCopy()
	infra.ObjectMeta = metav1.ObjectMeta{Name: "infra-0", Labels: map[string]string{"pool": "infra", "type": "kwok"}, Annotations: cpu.Annotations}
	infra.Spec.Taints = append(infra.Spec.Taints, corev1.Taint{Key: "dedicated", Value: "infra", Effect: corev1.TaintEffectNoSchedule})
	infra.Status = corev1.NodeStatus{Allocatable: cpu.Status.Allocatable, Capacity: cpu.Status.Capacity}
	if err := cl.Create(ctx, infra); err != nil {
		t.Fatal(err)
	}
}

func waitStatus(t *testing.T, cl client.Client, key client.ObjectKey, ok func(*v1alpha1.DynamoGraphDeployment) error) {
	t.Helper()
	testkit.Eventually(t, key.String()+" status", 2*time.Minute, func(ctx context.Context) (bool, error) {
		d := &v1alpha1.DynamoGraphDeployment{}
		if err := cl.Get(ctx, key, d); err != nil {
			return false, err
		}
		err := ok(d)
		return err == nil, err
	})
}
