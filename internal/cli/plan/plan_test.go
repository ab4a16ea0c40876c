package plan_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/exit"
	"github.com/dynamo-infra/dynamo-infra/internal/controller/controllertest"
	"github.com/dynamo-infra/dynamo-infra/internal/plan"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
	"github.com/dynamo-infra/dynamo-infra/test/clitest"
)

// disagg is a frontend and two decode workers of a whole H100 node each.
const disagg = `apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeployment
metadata: {name: disagg, namespace: default}
spec:
  services:
    Frontend:
      componentType: frontend
      extraPodSpec:
        mainContainer: {image: registry.example/frontend:1}
    decode:
      componentType: decode
      replicas: 2
      resources: {limits: {gpu: "8"}}
      extraPodSpec:
        mainContainer: {image: registry.example/worker:1}
`

func decodeJSON(t *testing.T, r clitest.Result) plan.Report {
	t.Helper()
	var rep plan.Report
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("not a plan (exit %d): %v\n%s\n%s", r.Code, err, r.Stdout, r.Stderr)
	}
	if rep.SchemaVersion != plan.SchemaVersion {
		t.Errorf("schema %q", rep.SchemaVersion)
	}
	return rep
}

func svc(t *testing.T, rep plan.Report, name string) plan.Service {
	t.Helper()
	for _, s := range rep.Services {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no service %s in %+v", name, rep.Services)
	return plan.Service{}
}

// On the simulated cluster (2 × 8 H100, one CPU node): a graph file is planned as new (exit 0,
// one decode pod per node, a rollout that would stall); a third replica does not fit, proven;
// once the graph runs, the same file still does not fit beside it but dgd/NAME plans the change
// (its own pods not counted); the what-if flags; CPU short; usage and unreachable exits.
func TestPlanOnTheCluster(t *testing.T) {
	c, cl := controllertest.Setup(t, "h100=2,cpu=1")
	kc := c.KubeconfigPath()
	ctx := context.Background()
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	file := write("disagg.yaml", disagg)

	r := clitest.RunInProcess(ctx, kc, "plan", "-f", file, "-o", "json")
	rep := decodeJSON(t, r)
	dec := svc(t, rep, "decode")
	if r.Code != 0 || !rep.Fits || rep.Mode != plan.ModeNew || rep.Method != plan.MethodExact || dec.Placed != 2 || len(dec.Placement) != 2 ||
		dec.Placement[0] != (plan.NodePods{Node: "h100-0", Pods: 1}) || dec.Placement[1] != (plan.NodePods{Node: "h100-1", Pods: 1}) {
		t.Errorf("plan -f: exit %d fits %v mode %s method %s decode %+v", r.Code, rep.Fits, rep.Mode, rep.Method, dec)
	}
	if fe := svc(t, rep, "Frontend"); !fe.Fits || len(fe.Placement) != 1 || fe.Placement[0].Node != "cpu-0" {
		t.Errorf("the frontend goes to the CPU node: %+v", fe)
	}
	// 25% of 2 replicas: maxSurge 1, maxUnavailable 0, and no node has 8 GPUs left.
	if len(rep.Rollouts) != 1 || rep.Rollouts[0] != (plan.Rollout{Service: "decode", Replicas: 2, MaxSurge: 1, MaxUnavailable: 0, Stalls: true, Advice: rep.Rollouts[0].Advice}) {
		t.Errorf("rollouts %+v", rep.Rollouts)
	}
	if rep.Fragmentation != (plan.Fragmentation{}) || len(rep.Pools) != 1 || rep.Pools[0].FreeBefore != 16 || rep.Pools[0].FreeAfter != 0 {
		t.Errorf("fragmentation %+v pools %+v", rep.Fragmentation, rep.Pools)
	}
	text := clitest.RunInProcess(ctx, kc, "plan", "-f", file)
	for _, want := range []string{"Plan for default/disagg (new graph): FITS — exact placement on 3 usable of 3 nodes", "decode    2/2", "h100-0×1,h100-1×1",
		"Rollout of decode (maxSurge 1, maxUnavailable 0): no room for a surge pod and maxUnavailable is 0 (2 replica(s)): an update would stall"} {
		if !strings.Contains(text.Stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, text.Stdout)
		}
	}

	r = clitest.RunInProcess(ctx, kc, "plan", "-f", file, "--replicas", "decode=3", "-o", "json")
	rep = decodeJSON(t, r)
	if dec := svc(t, rep, "decode"); r.Code != exit.Failure || rep.Fits || !rep.Proven || dec.Placed != 2 ||
		!strings.Contains(dec.Reason, "2 of 3 replica(s) placed; each pod needs 8 nvidia.com/gpu") || !strings.Contains(dec.Reason, "have 8 nvidia.com/gpu left, the most is 0 (h100-0)") {
		t.Errorf("3 replicas: exit %d fits %v proven %v decode %+v", r.Code, rep.Fits, rep.Proven, dec)
	}

	// The graph runs: its two decode pods hold both nodes.
	controllertest.CreateGraph(t, cl, disagg)
	testkit.Eventually(t, "both decode pods bound", 2*time.Minute, func(ctx context.Context) (bool, error) {
		var pods corev1.PodList
		if err := cl.List(ctx, &pods, client.InNamespace("default"), client.MatchingLabels{v1alpha1.LabelGraphDeploymentName: "disagg"}); err != nil {
			return false, err
		}
		bound := 0
		for _, p := range pods.Items {
			if p.Spec.NodeName != "" {
				bound++
			}
		}
		return bound == 3, nil
	})
	// Deliberately changed (issue 27): the file of a running graph is planned as the change
	// applying it makes, as preflight -f and explain -f plan it, not as a second copy.
	if r := clitest.RunInProcess(ctx, kc, "plan", "-f", file, "-o", "json"); r.Code != 0 || decodeJSON(t, r).Mode != plan.ModeChange {
		t.Errorf("the file of the running graph: exit %d, want 0 as a change", r.Code)
	}
	r = clitest.RunInProcess(ctx, kc, "plan", "dgd/disagg", "-o", "json")
	rep = decodeJSON(t, r)
	if r.Code != 0 || !rep.Fits || rep.Mode != plan.ModeChange || rep.Cluster.OwnPods != 3 {
		t.Errorf("plan dgd/disagg: exit %d fits %v mode %s own pods %d\n%s", r.Code, rep.Fits, rep.Mode, rep.Cluster.OwnPods, r.Stderr)
	}
	if r := clitest.RunInProcess(ctx, kc, "plan", "dgd", "disagg", "--replicas", "decode=3"); r.Code != exit.Failure || !strings.Contains(r.Stderr, "default/disagg does not fit: decode") {
		t.Errorf("dgd/disagg with 3 replicas: exit %d %s", r.Code, r.Stderr)
	}
	r = clitest.RunInProcess(ctx, kc, "plan", "dgd/disagg", "--replicas", "decode=3", "--add-nodes", "h100=1", "-o", "json")
	rep = decodeJSON(t, r)
	if dec := svc(t, rep, "decode"); r.Code != 0 || rep.Cluster.Added != 1 || !strings.Contains(placementNodes(dec), "what-if-h100-0") {
		t.Errorf("with a what-if node: exit %d cluster %+v decode %+v", r.Code, rep.Cluster, dec)
	}

	// A frontend asking for more CPU than any node has: the reason names CPU.
	big := write("bigcpu.yaml", strings.Replace(disagg, "      componentType: frontend\n", "      componentType: frontend\n      resources: {requests: {cpu: \"500\"}}\n", 1))
	r = clitest.RunInProcess(ctx, kc, "plan", "-f", big, "-o", "json")
	rep = decodeJSON(t, r)
	if fe := svc(t, rep, "Frontend"); r.Code != exit.Failure || fe.Fits || !strings.Contains(fe.Reason, "have 500 cpu left") {
		t.Errorf("500 CPUs: exit %d frontend %+v", r.Code, fe)
	}

	for _, tc := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"plan", "dgd/nothere"}, exit.Failure, `dynamographdeployment "nothere" not found in namespace "default"`},
		{[]string{"plan", "pods/x"}, exit.Usage, `unknown resource type "pods"`},
		{[]string{"plan"}, exit.Usage, "say what to plan"},
		{[]string{"plan", "dgd/disagg", "--replicas", "nope=1"}, exit.Usage, `disagg has no service "nope"`},
		{[]string{"plan", "dgd/disagg", "--add-nodes", "tpu=1"}, exit.Usage, `unknown node kind "tpu"`},
		{[]string{"plan", "-f", file, "--server", "https://127.0.0.1:1"}, exit.Unreachable, "127.0.0.1:1"},
	} {
		if r := clitest.RunInProcess(ctx, kc, tc.args...); r.Code != tc.code || !strings.Contains(r.Stderr, tc.says) {
			t.Errorf("%v: exit %d, want %d saying %q:\n%s", tc.args, r.Code, tc.code, tc.says, r.Stderr)
		}
	}
}

func placementNodes(s plan.Service) string {
	var out []string
	for _, p := range s.Placement {
		out = append(out, p.Node)
	}
	return strings.Join(out, ",")
}
