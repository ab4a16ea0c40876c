package get_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/cli"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/exit"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/get"
	"github.com/dynamo-infra/dynamo-infra/internal/controller/controllertest"
	"github.com/dynamo-infra/dynamo-infra/internal/kube"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
	"github.com/dynamo-infra/dynamo-infra/test/clitest"
)

const graphManifest = `apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeployment
metadata: {name: %s, namespace: %s}
spec:
  backendFramework: vllm
  services:
    Frontend:
      componentType: frontend
      extraPodSpec: {mainContainer: {image: registry.example/frontend:1}}
    Decode:
      componentType: decode
      resources: {limits: {gpu: "%d"}}
      extraPodSpec: {mainContainer: {image: registry.example/worker:1}}
`

// run runs dynamoctl with args against the cluster; it returns stdout, stderr and the exit code.
func run(ctx context.Context, kubeconfig string, args ...string) (string, string, int) {
	r := clitest.RunInProcess(ctx, kubeconfig, args...)
	return r.Stdout, r.Stderr, r.Code
}

// On the simulated cluster with the operator: a Ready graph and one whose decode cannot be
// scheduled, listed as their status says (kubectl's columns and dynamoctl's), wide, by name,
// across namespaces, as JSON; a missing name exits 1 after printing the others; -w prints the
// row of a graph that changes.
func TestGetDGD(t *testing.T) {
	c, cl := controllertest.Setup(t, "h100=1,cpu=1")
	ctx := context.Background()
	kubeconfig := c.KubeconfigPath()
	if err := cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-b"}}); err != nil {
		t.Fatal(err)
	}
	controllertest.CreateGraph(t, cl, fmt.Sprintf(graphManifest, "fits", "default", 1))
	controllertest.CreateGraph(t, cl, fmt.Sprintf(graphManifest, "toobig", "team-b", 16))
	testkit.Eventually(t, "both graphs reported, the frontends ready", 2*time.Minute, func(ctx context.Context) (bool, error) {
		for _, key := range []client.ObjectKey{{Namespace: "default", Name: "fits"}, {Namespace: "team-b", Name: "toobig"}} {
			g := &v1alpha1.DynamoGraphDeployment{}
			if err := cl.Get(ctx, key, g); err != nil {
				return false, err
			}
			// The frontend of the graph that does not fit is ready on its own.
			want, services := map[string]string{"fits": "successful", "toobig": "pending"}[key.Name], map[string]string{"fits": "2/2", "toobig": "1/2"}[key.Name]
			if g.Status.State != want || g.Status.ReadyServices != services {
				return false, fmt.Errorf("%s: state %q, services %q", key.Name, g.Status.State, g.Status.ReadyServices)
			}
		}
		return true, nil
	})

	out, errOut, code := run(ctx, kubeconfig, "get", "dgd")
	if code != 0 || !strings.HasPrefix(out, "NAME  READY  STATE       SERVICES  REASON             AGE\nfits  True   successful  2/2       AllResourcesReady  ") {
		t.Errorf("get dgd: exit %d, stderr %q, stdout:\n%s", code, errOut, out)
	}
	out, _, code = run(ctx, kubeconfig, "get", "dgd", "-A", "-o", "wide")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || !strings.Contains(lines[0], "NAMESPACE") || !strings.Contains(lines[0], "BACKEND") ||
		!strings.Contains(lines[2], "team-b") || !strings.Contains(lines[2], "False") || !strings.Contains(lines[2], "1/2") ||
		!strings.Contains(lines[2], "ResourcesNotReady") || !strings.Contains(lines[2], "vllm") || !strings.Contains(lines[2], "Decode=0/1,Frontend=1/1") {
		t.Errorf("get dgd -A -o wide: exit %d:\n%s", code, out)
	}
	out, _, code = run(ctx, kubeconfig, "get", "dynamographdeployment", "toobig", "-n", "team-b", "-o", "json")
	var g v1alpha1.DynamoGraphDeployment
	if err := json.Unmarshal([]byte(out), &g); code != 0 || err != nil || g.Name != "toobig" || g.Kind != "DynamoGraphDeployment" || g.Status.ReadyServices != "1/2" {
		t.Errorf("get dgd NAME -o json: exit %d, %v:\n%s", code, err, out)
	}
	out, errOut, code = run(ctx, kubeconfig, "get", "dgd", "fits", "nope")
	if code != exit.Failure || !strings.Contains(out, "fits") || !strings.Contains(errOut, `dynamographdeployment "nope" not found in namespace "default"`) {
		t.Errorf("get dgd fits nope: exit %d, stderr %q, stdout:\n%s", code, errOut, out)
	}
	for _, args := range [][]string{{"get"}, {"get", "pods"}, {"get", "dgd", "x", "-A"}, {"get", "dgd", "-o", "name"}} {
		if _, errOut, code := run(ctx, kubeconfig, args...); code != exit.Usage {
			t.Errorf("%v: exit %d (%s), want 2", args, code, errOut)
		}
	}
	if _, errOut, code := run(ctx, "/nonexistent/kubeconfig", "get", "dgd"); code != exit.Unreachable {
		t.Errorf("no cluster: exit %d (%s), want 3", code, errOut)
	}

	// -w: the table, then a row when the graph's status changes (the decode fits once it asks
	// for one GPU).
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	var wout clitest.SyncBuffer
	done := make(chan int, 1)
	go func() {
		root := cli.NewRootCommand(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &wout, ErrOut: &wout})
		root.SetArgs([]string{"--kubeconfig", kubeconfig, "get", "dgd", "toobig", "-n", "team-b", "-w"})
		done <- exit.Code(root.ExecuteContext(wctx))
	}()
	testkit.Eventually(t, "the watch printed the table", 30*time.Second, func(context.Context) (bool, error) {
		return strings.Contains(wout.String(), "toobig"), nil
	})
	g = v1alpha1.DynamoGraphDeployment{}
	if err := cl.Get(ctx, client.ObjectKey{Namespace: "team-b", Name: "toobig"}, &g); err != nil {
		t.Fatal(err)
	}
	g.Spec.Services["Decode"].Resources.Limits.GPU = "1"
	if err := cl.Update(ctx, &g); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the watch printed the Ready row", 90*time.Second, func(context.Context) (bool, error) {
		return strings.Contains(wout.String(), "AllResourcesReady"), fmt.Errorf("watch output:\n%s", wout.String())
	})
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("watch ended with exit %d:\n%s", code, wout.String())
	}

	t.Run("watches that end", func(t *testing.T) { testWatchesThatEnd(t, kubeconfig, cl) })
}

// watchFaults answers the first watch "too old resource version" (410, as after etcd
// compaction) once release is closed, and ends every later watch after a second (as an API
// server's timeout or a load balancer does, only sooner).
type watchFaults struct {
	rt      http.RoundTripper
	release chan struct{}
	mu      sync.Mutex
	watches int
}

func (w *watchFaults) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Query().Get("watch") != "true" {
		return w.rt.RoundTrip(req)
	}
	w.mu.Lock()
	w.watches++
	n := w.watches
	w.mu.Unlock()
	if n == 1 {
		<-w.release
		gone := `{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version","reason":"Expired","code":410}}` + "\n"
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(gone)), Request: req}, nil
	}
	resp, err := w.rt.RoundTrip(req)
	if err == nil {
		body := resp.Body
		time.AfterFunc(time.Second, func() { _ = body.Close() })
	}
	return resp, err
}

func (w *watchFaults) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.watches
}

// get dgd -w lists again after "too old" and prints what changed meanwhile, watches again
// each time the server ends a watch, and runs until Ctrl-C (exit 0) — it exited 1 after 30 s.
func testWatchesThatEnd(t *testing.T, kubeconfig string, cl client.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	faults := &watchFaults{release: make(chan struct{})}
	flags := kube.NewConfigFlags()
	flags.KubeConfig = kubeconfig
	var out clitest.SyncBuffer
	cmd := get.NewCommand(flags, genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out},
		func(o *get.Options) {
			o.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { faults.rt = rt; return faults }
		})
	flags.AddFlags(cmd.PersistentFlags())
	cmd.SetArgs([]string{"dgd", "-n", "default", "-w"})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	rows := func() int { return strings.Count(out.String(), "fits ") }
	testkit.Eventually(t, "the table", 30*time.Second, func(context.Context) (bool, error) { return rows() == 1, nil })
	label := func(v string) {
		t.Helper()
		g := &v1alpha1.DynamoGraphDeployment{}
		if err := cl.Get(ctx, client.ObjectKey{Namespace: "default", Name: "fits"}, g); err != nil {
			t.Fatal(err)
		}
		g.Labels = map[string]string{"touched": v}
		if err := cl.Update(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	// Changed while the watch is lost: the list after "too old" prints it, once.
	label("1")
	close(faults.release)
	testkit.Eventually(t, "the change printed after the relist", 30*time.Second, func(context.Context) (bool, error) {
		return rows() == 2, fmt.Errorf("%d rows:\n%s", rows(), out.String())
	})
	// Several watches later (each ended after a second), a change is still printed.
	testkit.Eventually(t, "watched again", 30*time.Second, func(context.Context) (bool, error) {
		return faults.count() >= 4, fmt.Errorf("%d watches", faults.count())
	})
	label("2")
	testkit.Eventually(t, "the change printed by a later watch", 30*time.Second, func(context.Context) (bool, error) {
		return rows() == 3, fmt.Errorf("%d rows:\n%s", rows(), out.String())
	})
	select {
	case err := <-done:
		t.Fatalf("the watch ended: %v\n%s", err, out.String())
	default:
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Ctrl-C: %v, want nil (exit 0)", err)
	}
}
