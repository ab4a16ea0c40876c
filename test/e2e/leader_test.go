package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/dynamo-infra/dynamo-infra/internal/devcluster/devclustertest"
	"github.com/dynamo-infra/dynamo-infra/test/clitest"
)

// Election timing for the test: short enough to take over in seconds.
const (
	leaseDuration = 4 * time.Second
	retryPeriod   = 500 * time.Millisecond
)

// replica is one operator process and its metrics endpoint.
type replica struct {
	name    string
	proc    *clitest.Process
	metrics string
}

// metric sums the series of name whose labels contain every label in match ("" matches all).
func (r *replica) metric(name, match string) float64 {
	_, body := httpGet(r.metrics)
	var sum float64
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(name) + `(\{[^}]*\})? (\S+)$`)
	for _, line := range strings.Split(body, "\n") {
		m := re.FindStringSubmatch(line)
		if m == nil || !strings.Contains(m[1], match) {
			continue
		}
		v, _ := strconv.ParseFloat(m[2], 64)
		sum += v
	}
	return sum
}

func (r *replica) leading() bool {
	return r.metric("leader_election_master_status", `name="dynamo-operator.nvidia.com"`) == 1
}

// Two operator replicas: only the leader writes. Killed (no clean-up, as a lost node), the
// leader is replaced within the lease duration; the new leader converges the graph created
// while nobody led and writes nothing for the graph that was already converged. Stopped by a
// signal (a rollout), a leader hands the Lease over at once.
func TestLeaderHandover(t *testing.T) {
	kc, _ := upCluster(t, "cpu=1")
	cfg := installCRDs(t, kc)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	start := func(name string) *replica {
		port := devclustertest.FreePort(t)
		p := startOperator(t, nil, "--kubeconfig", kc, "--leader-elect", "--leader-election-namespace", "default",
			"--leader-elect-lease-duration", leaseDuration.String(), "--leader-elect-renew-deadline", "3s",
			"--leader-elect-retry-period", retryPeriod.String(), "--nats-address", "nats://nats:4222",
			fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", port), "--health-probe-bind-address=0")
		return &replica{name: name, proc: p, metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", port)}
	}
	waitFor := func(what string, limit time.Duration, cond func() bool) time.Duration {
		t.Helper()
		began := time.Now()
		for !cond() {
			if time.Since(began) > limit || ctx.Err() != nil {
				t.Fatalf("%s: not within %s", what, limit)
			}
			time.Sleep(100 * time.Millisecond)
		}
		return time.Since(began)
	}
	a, b := start("a"), start("b")
	var leader, standby *replica
	waitFor("a leader", time.Minute, func() bool {
		switch {
		case a.leading():
			leader, standby = a, b
		case b.leading():
			leader, standby = b, a
		}
		return leader != nil
	})
	if standby.leading() {
		t.Fatal("both replicas lead")
	}

	dgds := dynamic.NewForConfigOrDie(cfg).Resource(schema.GroupVersionResource{Group: "nvidia.com", Version: "v1alpha1", Resource: "dynamographdeployments"}).Namespace("default")
	create := func(name string) {
		t.Helper()
		g := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "nvidia.com/v1alpha1", "kind": "DynamoGraphDeployment",
			"metadata": map[string]any{"name": name, "namespace": "default"},
			"spec": map[string]any{"services": map[string]any{"Frontend": map[string]any{
				"componentType": "frontend", "extraPodSpec": map[string]any{"mainContainer": map[string]any{"image": "registry.example/frontend:1"}}}}},
		}}
		if _, err := dgds.Create(ctx, g, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	successful := func(name string) func() bool {
		return func() bool {
			u, err := dgds.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false
			}
			state, _, _ := unstructured.NestedString(u.Object, "status", "state")
			return state == "successful"
		}
	}
	cs := clientFor(t, kc)
	create("before")
	waitFor("graph before Ready", time.Minute, successful("before"))
	if n := standby.metric("dynamo_operator_child_applies_total", ""); n != 0 {
		t.Errorf("the standby wrote %v children", n)
	}
	if n := standby.metric("dynamo_operator_reconcile_total", ""); n != 0 {
		t.Errorf("the standby reconciled %v times", n)
	}
	before, err := cs.AppsV1().Deployments("default").Get(ctx, "before-frontend", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// The leader dies; a graph arrives while nobody leads.
	leader.proc.Kill()
	create("during")
	took := waitFor("the standby to lead", leaseDuration+4*retryPeriod, standby.leading)
	t.Logf("takeover %s after the leader was killed (lease %s)", took.Round(time.Millisecond), leaseDuration)
	waitFor("graph during Ready", time.Minute, successful("during"))
	// The new leader reconciles both graphs: wait until it has, then count its writes.
	waitFor("the new leader to reconcile both graphs", time.Minute, func() bool {
		return standby.metric("dynamo_operator_reconcile_total", `result="success"`) >= 2
	})
	if n := standby.metric("dynamo_operator_child_applies_total", `kind="Deployment"`); n != 1 {
		t.Errorf("the new leader applied %v Deployments, want 1 (the new graph's; the converged one is not rewritten)", n)
	}
	after, err := cs.AppsV1().Deployments("default").Get(ctx, "before-frontend", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after.ResourceVersion != before.ResourceVersion {
		t.Errorf("the converged graph's Deployment was written again on takeover (resourceVersion %s → %s)", before.ResourceVersion, after.ResourceVersion)
	}
	during, err := cs.AppsV1().Deployments("default").Get(ctx, "during-frontend", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if during.Generation != 1 {
		t.Errorf("the graph created without a leader: its Deployment is at generation %d, want 1 (written once)", during.Generation)
	}

	// A rollout: a new replica starts, the leader is stopped by a signal and gives the Lease up
	// — the new one leads well before a lease duration.
	c := start("c")
	waitFor("the new replica's metrics", 30*time.Second, func() bool { code, _ := httpGet(c.metrics); return code == 200 })
	if !standby.proc.Stop(30 * time.Second) {
		t.Fatal("the leader ignored SIGINT")
	}
	// Without giving the Lease up it would wait for the lease to expire: 3.5–4.5 s here.
	took = waitFor("the new replica to lead after a graceful stop", leaseDuration*5/8, c.leading)
	t.Logf("hand-over %s after a graceful stop", took.Round(time.Millisecond))
}
