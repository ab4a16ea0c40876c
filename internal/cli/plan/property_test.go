package plan_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/dynamo-infra/dynamo-infra/internal/devcluster/devclustertest"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
	"github.com/dynamo-infra/dynamo-infra/internal/plan"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
	"github.com/dynamo-infra/dynamo-infra/internal/simnode"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
	"github.com/dynamo-infra/dynamo-infra/test/clitest"
)

// propertyCases is how many generated clusters and graphs TestPlanAgainstTheScheduler runs
// (issue 16: at least 30), and interPodCases how many more whose services carry required pod
// affinity, anti-affinity and topology spread.
const (
	propertyCases = 32
	interPodCases = 24
)

// planCase is one generated cluster (its own nodes, some tainted, some partly used) and graph
// (services of whole GPUs or MIG devices, confined to the case's nodes by a node selector).
type planCase struct {
	id      string
	nodes   []*corev1.Node
	fillers []*corev1.Pod
	graph   string
	// filled after the plan and the scheduler
	rep       plan.Report
	scheduled bool
}

const caseLabel = "dynamo-infra.dev/plan-case"

// genCase builds case i from rng: 2–4 nodes of H100, H200, A100 MIG or L4; a third tainted;
// half partly used by a pod bound to them; 1–3 services of 1–3 replicas, each asking for 1, 2,
// 4 or 8 GPUs — a quarter of them through a DRA claim of that many devices — or 1–8 MIG 1g.10gb
// devices, half of them tolerating the case's taint. With
// interPod, nodes are spread over two zones, the filler pods are labelled (a third of them with
// anti-affinity to w0's pods), and each service may carry a constraint (interPodRule).
func genCase(rng *rand.Rand, i int, interPod bool) *planCase {
	pc := &planCase{id: fmt.Sprintf("c%02d", i)}
	kinds := []string{"h100", "h200", "a100-mig", "l4"}
	taint := corev1.Taint{Key: "dedicated", Value: pc.id, Effect: corev1.TaintEffectNoSchedule}
	hasMIG := false
	for n := range 2 + rng.IntN(3) {
		kind, _ := simnode.LookupNodeKind(kinds[rng.IntN(len(kinds))])
		zone := "zone-a"
		if interPod && rng.IntN(2) == 0 {
			zone = "zone-b"
		}
		node := simnode.NewNode(kind, fmt.Sprintf("%s-%d", pc.id, n), zone)
		node.Labels[caseLabel] = pc.id
		if rng.IntN(3) == 0 {
			node.Spec.Taints = append(node.Spec.Taints, taint)
		}
		pc.nodes = append(pc.nodes, node)
		hasMIG = hasMIG || kind.Name == "a100-mig"
		gpus := node.Status.Allocatable.Name(nvidia.ResourceGPU, resource.DecimalSI).Value()
		if rng.IntN(2) == 0 && gpus > 1 {
			req := corev1.ResourceList{nvidia.ResourceGPU: *resource.NewQuantity(1+rng.Int64N(gpus-1), resource.DecimalSI)}
			if kind.Name == "a100-mig" {
				req[nvidia.ResourceMIGPrefix+"1g.10gb"] = *resource.NewQuantity(1+rng.Int64N(27), resource.DecimalSI)
			}
			filler := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "filler-" + node.Name},
				Spec: corev1.PodSpec{NodeName: node.Name, Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
					Containers: []corev1.Container{{Name: "main", Image: "registry.example/other:1", Resources: corev1.ResourceRequirements{Limits: req, Requests: req}}}},
			}
			if interPod {
				filler.Labels = map[string]string{"app": "filler"}
				if rng.IntN(3) == 0 {
					filler.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
						TopologyKey: simnode.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "w0"}}}}}}
				}
			}
			pc.fillers = append(pc.fillers, filler)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: nvidia.com/v1alpha1\nkind: DynamoGraphDeployment\nmetadata: {name: g, namespace: %s}\nspec:\n  services:\n", pc.id)
	for s := range 1 + rng.IntN(3) {
		gpus := []int{1, 2, 4, 8}[rng.IntN(4)]
		res, claims := fmt.Sprintf("{limits: {gpu: \"%d\"}}", gpus), ""
		switch {
		case hasMIG && rng.IntN(3) == 0:
			res = fmt.Sprintf("{limits: {custom: {nvidia.com/mig-1g.10gb: \"%d\"}}}", 1+rng.IntN(8))
		case rng.IntN(4) == 0:
			// Whole GPUs from a DRA claim (the cluster publishes its GPUs WithDRA).
			res = "{claims: [{name: gpus}]}"
			claims = fmt.Sprintf("        resourceClaims: [{name: gpus, resourceClaimTemplateName: gpus-%d}]\n", gpus)
		}
		tol := ""
		if rng.IntN(2) == 0 {
			tol = fmt.Sprintf("        tolerations: [{key: dedicated, value: %s, effect: NoSchedule}]\n", pc.id)
		}
		meta, rule := "", ""
		if interPod {
			meta = fmt.Sprintf("      extraPodMetadata: {labels: {app: w%d}}\n", s)
			rule = interPodRule(rng, s)
		}
		fmt.Fprintf(&b, "    w%d:\n      componentType: worker\n      replicas: %d\n      resources: %s\n%s      extraPodSpec:\n        nodeSelector: {%s: %s}\n%s%s%s        mainContainer: {image: registry.example/worker:1}\n",
			s, 1+rng.IntN(3), res, meta, caseLabel, pc.id, tol, rule, claims)
	}
	pc.graph = b.String()
	return pc
}

// interPodRule is the extraPodSpec lines of one constraint for service ws, or none: required
// anti-affinity to its own pods or to the fillers by hostname, topology spread (maxSkew 1) of its
// pods over zones or hosts, or (not for w0) pod affinity to w0's pods by zone.
func interPodRule(rng *rand.Rand, s int) string {
	term := func(key, app string) string {
		return fmt.Sprintf("[{topologyKey: %s, labelSelector: {matchLabels: {app: %s}}}]", key, app)
	}
	spread := func(key string) string {
		return fmt.Sprintf("        topologySpreadConstraints: [{maxSkew: 1, topologyKey: %s, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: w%d}}}]\n", key, s)
	}
	switch rng.IntN(6) {
	case 0:
		return "        affinity: {podAntiAffinity: {requiredDuringSchedulingIgnoredDuringExecution: " + term(simnode.LabelHostname, fmt.Sprintf("w%d", s)) + "}}\n"
	case 1:
		return "        affinity: {podAntiAffinity: {requiredDuringSchedulingIgnoredDuringExecution: " + term(simnode.LabelHostname, "filler") + "}}\n"
	case 2:
		return spread(simnode.LabelZone)
	case 3:
		return spread(simnode.LabelHostname)
	case 4:
		if s > 0 {
			return "        affinity: {podAffinity: {requiredDuringSchedulingIgnoredDuringExecution: " + term(simnode.LabelZone, "w0") + "}}\n"
		}
	}
	return ""
}

// The plan against the real scheduler, on 32 generated clusters and graphs at once (each on its
// own nodes): preflight -f and explain -f give plan's verdict; whenever the scheduler places
// every pod, plan said it fits; whenever plan says it
// does not fit, pods stay Pending; and every placement plan reports is valid — its pods, pinned
// to its nodes by hostname, are all placed by the scheduler. Cases where the scheduler's greedy
// order strands pods that plan places are counted (and pass the pinned check).
func TestPlanAgainstTheScheduler(t *testing.T) {
	c := devclustertest.Start(t, "cpu=1", devclustertest.WithDRA)
	cs := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	rng := rand.New(rand.NewPCG(16, 2026))
	var cases []*planCase
	var nodes []*corev1.Node
	for i := range propertyCases + interPodCases {
		pc := genCase(rng, i, i >= propertyCases)
		cases = append(cases, pc)
		nodes = append(nodes, pc.nodes...)
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: pc.id}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, n := range []int64{1, 2, 4, 8} {
			if _, err := cs.ResourceV1().ResourceClaimTemplates(pc.id).Create(ctx, devclustertest.GPUClaimTemplate(pc.id, fmt.Sprintf("gpus-%d", n), n), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := c.CreateNodes(ctx, nodes); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitNodesReady(ctx); err != nil {
		t.Fatal(err)
	}
	for _, pc := range cases {
		for _, p := range pc.fillers {
			if _, err := cs.CoreV1().Pods(pc.id).Create(ctx, p, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.WaitDefaultServiceAccount(ctx, pc.id); err != nil {
			t.Fatal(err)
		}
	}
	waitRunning(t, ctx, cs, cases)

	// Every plan first (the graphs' pods do not exist yet), then every graph's pods.
	dir := t.TempDir()
	for _, pc := range cases {
		file := filepath.Join(dir, pc.id+".yaml")
		if err := os.WriteFile(file, []byte(pc.graph), 0o644); err != nil {
			t.Fatal(err)
		}
		r := clitest.RunInProcess(ctx, c.KubeconfigPath(), "plan", "-f", file, "-o", "json")
		pc.rep = decodeJSON(t, r)
		if (r.Code == 0) != pc.rep.Fits || pc.rep.Method != plan.MethodExact {
			t.Fatalf("%s: exit %d fits %v method %s", pc.id, r.Code, pc.rep.Fits, pc.rep.Method)
		}
		// One verdict (issue 27): preflight's dgd-fits and explain -f say what plan says.
		pre := clitest.RunInProcess(ctx, c.KubeconfigPath(), "preflight", "-f", file, "--skip", "api-connectivity,default-storageclass,gpu-nodes,gpu-operator", "-o", "json")
		if (pre.Code == 0) != pc.rep.Fits {
			t.Errorf("%s: preflight -f exit %d, plan fits %v:\n%s%s", pc.id, pre.Code, pc.rep.Fits, pre.Stdout, pre.Stderr)
		}
		ex := clitest.RunInProcess(ctx, c.KubeconfigPath(), "explain", "-f", file, "-o", "json")
		var exRep struct {
			Graph struct{ Ready bool } `json:"graph"`
		}
		if err := json.Unmarshal([]byte(ex.Stdout), &exRep); err != nil || exRep.Graph.Ready != pc.rep.Fits {
			t.Errorf("%s: explain -f ready %v (%v), plan fits %v:\n%s%s", pc.id, exRep.Graph.Ready, err, pc.rep.Fits, ex.Stdout, ex.Stderr)
		}
	}
	for _, pc := range cases {
		createGraphPods(t, ctx, cs, pc, nil)
	}
	settled := settle(t, ctx, cs, cases)
	for _, pc := range cases {
		pc.scheduled = settled[pc.id]
	}
	var fits, notFit, stranded, interRefused int
	for _, pc := range cases {
		switch {
		case pc.scheduled && !pc.rep.Fits:
			t.Errorf("%s: the scheduler placed every pod, plan said it does not fit:\n%s\n%+v", pc.id, pc.graph, pc.rep.Services)
		case !pc.rep.Fits:
			notFit++
			if interPodRefused(pc.rep) {
				interRefused++
			}
		case !pc.scheduled:
			stranded++
		default:
			fits++
		}
	}
	t.Logf("%d cases: %d fit (scheduler agrees), %d do not fit (pods Pending; %d of them refused by inter-pod constraints), %d the scheduler strands where plan places",
		len(cases), fits, notFit, interRefused, stranded)
	dra := 0
	for _, pc := range cases {
		if strings.Contains(pc.graph, "resourceClaims") {
			dra++
		}
	}
	t.Logf("%d cases ask for GPUs through DRA claims", dra)
	if fits == 0 || notFit == 0 || interRefused == 0 || dra == 0 {
		t.Errorf("the generated cases do not exercise every answer (fit %d, not %d, refused by inter-pod constraints %d, with DRA claims %d)", fits, notFit, interRefused, dra)
	}

	// Every plan that fits, pinned: the scheduler must place every pod on the node plan chose.
	for _, pc := range cases {
		if !pc.rep.Fits {
			continue
		}
		if err := cs.CoreV1().Pods(pc.id).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)},
			metav1.ListOptions{LabelSelector: "plan-test=graph"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, pc := range cases {
		if pc.rep.Fits {
			waitGone(t, ctx, cs, pc.id)
			createGraphPods(t, ctx, cs, pc, pc.rep.Services)
		}
	}
	settled = settle(t, ctx, cs, cases)
	for _, pc := range cases {
		if pc.rep.Fits && !settled[pc.id] {
			t.Errorf("%s: pods pinned to plan's nodes are not all placed:\n%s\n%+v", pc.id, pc.graph, pc.rep.Services)
		}
	}
}

// interPodRefused: some service of the plan has nodes with room that its inter-pod
// constraints refuse.
func interPodRefused(rep plan.Report) bool {
	for _, s := range rep.Services {
		if len(s.RefusedBy) > 0 {
			return true
		}
	}
	return false
}

// createGraphPods creates the graph's pods as the operator's children would run them (its
// rendered pod template, one pod per replica); with pinned, each pod gets plan's node by hostname.
func createGraphPods(t *testing.T, ctx context.Context, cs kubernetes.Interface, pc *planCase, pinned []plan.Service) {
	t.Helper()
	graphs, err := render.DecodeGraphs(strings.NewReader(pc.graph), pc.id, pc.id)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := graph.Resolve(graphs[0], graph.Options{})
	for _, c := range g.Components {
		svc := c.Name
		tmpl, err := render.PodTemplate(g, c, render.Config{})
		if err != nil {
			t.Fatal(err)
		}
		tmpl.Spec.ServiceAccountName = "" // as plan's admission dry run: the discovery account is the operator's to create
		tmpl.Labels["plan-test"] = "graph"
		var hosts []string
		for _, s := range pinned {
			if s.Name == svc {
				for _, p := range s.Placement {
					for range p.Pods {
						hosts = append(hosts, p.Node)
					}
				}
			}
		}
		for i := range int(c.Replicas) {
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: svc + "-", Labels: tmpl.Labels}, Spec: *tmpl.Spec.DeepCopy()}
			if pinned != nil {
				p.Spec.NodeSelector[simnode.LabelHostname] = hosts[i]
			}
			if _, err := cs.CoreV1().Pods(pc.id).Create(ctx, p, metav1.CreateOptions{}); err != nil {
				t.Fatalf("%s: %v", pc.id, err)
			}
		}
	}
}

// settleQuiet is how long the scheduler's decisions must stay the same before settle trusts
// them: a pod refused for want of its affinity's pods is tried again once they are bound.
const settleQuiet = 12 * time.Second

// settle waits until the scheduler has decided on every graph pod of every case and nothing
// has changed for settleQuiet (at once when every pod is placed), and says per case whether it
// placed them all.
func settle(t *testing.T, ctx context.Context, cs kubernetes.Interface, cases []*planCase) map[string]bool {
	t.Helper()
	var placed map[string]bool
	last, since := "", time.Now()
	err := wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: "plan-test=graph"})
		if err != nil {
			return false, nil
		}
		placed = map[string]bool{}
		for _, pc := range cases {
			placed[pc.id] = true
		}
		var sig strings.Builder
		allPlaced := true
		for _, p := range pods.Items {
			decided := false
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodScheduled {
					decided = c.Status == corev1.ConditionTrue || c.Reason == corev1.PodReasonUnschedulable
				}
			}
			if !decided {
				return false, nil
			}
			placed[p.Namespace] = placed[p.Namespace] && p.Spec.NodeName != ""
			allPlaced = allPlaced && p.Spec.NodeName != ""
			fmt.Fprintf(&sig, "%s/%s=%s;", p.Namespace, p.Name, p.Spec.NodeName)
		}
		if sig.String() != last {
			last, since = sig.String(), time.Now()
		}
		return allPlaced || time.Since(since) >= settleQuiet, nil
	})
	if err != nil {
		t.Fatalf("the scheduler did not decide on every pod: %v", err)
	}
	return placed
}

func waitRunning(t *testing.T, ctx context.Context, cs kubernetes.Interface, cases []*planCase) {
	t.Helper()
	for _, pc := range cases {
		for _, f := range pc.fillers {
			testkit.Eventually(t, "filler "+pc.id+"/"+f.Name+" running", 2*time.Minute, func(ctx context.Context) (bool, error) {
				p, err := cs.CoreV1().Pods(pc.id).Get(ctx, f.Name, metav1.GetOptions{})
				return err == nil && p.Status.Phase == corev1.PodRunning, err
			})
		}
	}
}

func waitGone(t *testing.T, ctx context.Context, cs kubernetes.Interface, ns string) {
	t.Helper()
	testkit.Eventually(t, ns+": the graph's pods gone", 2*time.Minute, func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "plan-test=graph"})
		return err == nil && len(pods.Items) == 0, err
	})
}
