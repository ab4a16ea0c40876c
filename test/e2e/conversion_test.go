package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster/devclustertest"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
	"github.com/dynamo-infra/dynamo-infra/test/clitest"
	"github.com/dynamo-infra/dynamo-infra/test/reference"
)

var (
	alphaGraphs = schema.GroupVersionResource{Group: "nvidia.com", Version: "v1alpha1", Resource: "dynamographdeployments"}
	betaGraphs  = schema.GroupVersionResource{Group: "nvidia.com", Version: "v1beta1", Resource: "dynamographdeployments"}
)

// ourBetaGraph is a disaggregated v1beta1 graph: a frontend, a prefill worker on one GPU and a
// decode worker over two nodes (a LeaderWorkerSet), and a field only v1beta1 has.
const ourBetaGraph = `apiVersion: nvidia.com/v1beta1
kind: DynamoGraphDeployment
metadata:
  name: beta-disagg
  namespace: default
spec:
  backendFramework: vllm
  components:
  - name: Frontend
    type: frontend
    runtimeVersionOverride: 1.5.0
    podTemplate:
      spec:
        containers:
        - name: main
          image: nvcr.io/nvidia/ai-dynamo/vllm-runtime:1.5.0
  - name: VllmPrefillWorker
    type: prefill
    podTemplate:
      spec:
        containers:
        - name: main
          image: nvcr.io/nvidia/ai-dynamo/vllm-runtime:1.5.0
          command: [python3, -m, dynamo.vllm]
          args: [--model, Qwen/Qwen3-0.6B, --disaggregation-mode, prefill]
          resources:
            limits:
              nvidia.com/gpu: "1"
  - name: VllmDecodeWorker
    type: decode
    multinode:
      nodeCount: 2
    podTemplate:
      spec:
        containers:
        - name: main
          image: nvcr.io/nvidia/ai-dynamo/vllm-runtime:1.5.0
          command: [python3, -m, dynamo.vllm]
          args: [--model, Qwen/Qwen3-0.6B]
          resources:
            limits:
              nvidia.com/gpu: "1"
`

func decodeYAML(t *testing.T, raw []byte) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(raw, &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

// The operator serves conversion itself, on the dev cluster (it points the CRD at its own
// address): a v1beta1 graph of ours and the seed's v1alpha1 dgd.yaml are Ready, each reads back
// in the other version with its status in that version's form, and an edit made in the other
// version converges.
func TestGraphsInEitherVersion(t *testing.T) {
	kc, cs := upCluster(t, "h100=2,cpu=1")
	cfg := installCRDs(t, kc)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	port := devclustertest.FreePort(t)
	url := fmt.Sprintf("https://127.0.0.1:%d", port)
	startOperator(t, nil, "--kubeconfig", kc, "--nats-address", "nats://nats:4222", "--metrics-bind-address=0", "--health-probe-bind-address=0",
		fmt.Sprintf("--webhook-port=%d", port), "--webhook-url="+url, "--webhook-cert-secret=default/dynamo-operator-webhook-cert")
	t.Cleanup(func() { devclustertest.RestoreConversion(t, cfg) })
	dyn := dynamic.NewForConfigOrDie(cfg)
	eventually(t, "the CRD's conversion pointed at the operator", func() bool {
		crd, err := dyn.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}).
			Get(ctx, "dynamographdeployments.nvidia.com", metav1.GetOptions{})
		got, _, _ := unstructured.NestedString(crd.Object, "spec", "conversion", "webhook", "clientConfig", "url")
		return err == nil && got == url+"/convert"
	})
	alphas, betas := dyn.Resource(alphaGraphs).Namespace("default"), dyn.Resource(betaGraphs).Namespace("default")

	if _, err := betas.Create(ctx, decodeYAML(t, []byte(ourBetaGraph)), metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict}); err != nil {
		t.Fatalf("create the v1beta1 graph: %v", err)
	}
	seed, err := reference.DGDExample()
	if err != nil {
		t.Fatal(err)
	}
	seedGraph := decodeYAML(t, seed)
	seedGraph.SetNamespace("default")
	if _, err := alphas.Create(ctx, seedGraph, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict}); err != nil {
		t.Fatalf("create the seed's v1alpha1 graph: %v", err)
	}
	ready := func(ri dynamic.ResourceInterface, name string) func() bool {
		return func() bool {
			u, err := ri.Get(ctx, name, metav1.GetOptions{})
			state, _, _ := unstructured.NestedString(u.Object, "status", "state")
			return err == nil && state == "successful"
		}
	}
	eventually(t, "the v1beta1 graph Ready", ready(betas, "beta-disagg"))
	eventually(t, "the seed graph Ready", ready(alphas, "dynamo"))
	// Workers are named by their generation: the decode's LeaderWorkerSet is
	// beta-disagg-vllmdecodeworker-<worker hash>-0, and so its leaders' StatefulSet.
	sets, err := cs.AppsV1().StatefulSets("default").List(ctx, metav1.ListOptions{})
	if err != nil || !slices.ContainsFunc(sets.Items, func(s appsv1.StatefulSet) bool {
		return regexp.MustCompile(`^beta-disagg-vllmdecodeworker-[0-9a-f]{8}-0$`).MatchString(s.Name)
	}) {
		t.Errorf("the multinode decode's LeaderWorkerSet group: %v", err)
	}

	// Read back in the other version: spec and status in that version's form.
	asAlpha, err := alphas.Get(ctx, "beta-disagg", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the v1beta1 graph as v1alpha1: %v", err)
	}
	if ct, _, _ := unstructured.NestedString(asAlpha.Object, "spec", "services", "VllmPrefillWorker", "subComponentType"); ct != "prefill" {
		t.Errorf("as v1alpha1, the prefill component's subComponentType is %q", ct)
	}
	if ns, _, _ := unstructured.NestedString(asAlpha.Object, "status", "services", "VllmDecodeWorker", "runtimeNamespace"); ns != "default-beta-disagg" {
		t.Errorf("as v1alpha1, status.services.VllmDecodeWorker.runtimeNamespace is %q", ns)
	}
	if r, _, _ := unstructured.NestedString(asAlpha.Object, "status", "readyServices"); r != "3/3" {
		t.Errorf("as v1alpha1, status.readyServices is %q", r)
	}
	asBeta, err := betas.Get(ctx, "dynamo", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the seed graph as v1beta1: %v", err)
	}
	comps, _, _ := unstructured.NestedSlice(asBeta.Object, "spec", "components")
	if len(comps) != 3 {
		t.Errorf("as v1beta1, the seed graph has %d components", len(comps))
	}
	if names, _, _ := unstructured.NestedStringSlice(asBeta.Object, "status", "components", "Frontend", "componentNames"); len(names) != 1 || names[0] != "dynamo-frontend" {
		t.Errorf("as v1beta1, status.components.Frontend.componentNames is %v", names)
	}
	if r, _, _ := unstructured.NestedString(asBeta.Object, "status", "readyComponents"); r != "3/3" {
		t.Errorf("as v1beta1, status.readyComponents is %q", r)
	}

	// Edit each in the other version; the edit converges, and what only the first version
	// holds stays.
	if err := unstructured.SetNestedField(asAlpha.Object, int64(2), "spec", "services", "Frontend", "replicas"); err != nil {
		t.Fatal(err)
	}
	if _, err := alphas.Update(ctx, asAlpha, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("edit the v1beta1 graph as v1alpha1: %v", err)
	}
	for i, c := range comps {
		if c.(map[string]any)["name"] == "VllmDecodeWorker" {
			c.(map[string]any)["replicas"] = int64(2)
			comps[i] = c
		}
	}
	if err := unstructured.SetNestedSlice(asBeta.Object, comps, "spec", "components"); err != nil {
		t.Fatal(err)
	}
	if _, err := betas.Update(ctx, asBeta, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("edit the seed graph as v1beta1: %v", err)
	}
	deploymentReplicas := func(graph, component string, want int32) func() bool {
		return func() bool {
			ds, err := cs.AppsV1().Deployments("default").List(ctx, metav1.ListOptions{LabelSelector: v1alpha1.LabelGraphDeploymentName + "=" + graph + "," + v1alpha1.LabelComponent + "=" + component})
			if err != nil || len(ds.Items) != 1 {
				return false
			}
			d := ds.Items[0]
			return d.Spec.Replicas != nil && *d.Spec.Replicas == want && d.Status.ReadyReplicas == want
		}
	}
	eventually(t, "beta-disagg's Frontend at 2 replicas", deploymentReplicas("beta-disagg", "Frontend", 2))
	// A scale is not a new worker generation: the same Deployment scales.
	eventually(t, "dynamo's decode worker at 2 replicas", deploymentReplicas("dynamo", "VllmDecodeWorker", 2))
	eventually(t, "both graphs Ready again", func() bool { return ready(betas, "beta-disagg")() && ready(alphas, "dynamo")() })
	stored, err := betas.Get(ctx, "beta-disagg", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	comps, _, _ = unstructured.NestedSlice(stored.Object, "spec", "components")
	if v, _ := comps[0].(map[string]any)["runtimeVersionOverride"].(string); v != "1.5.0" || comps[0].(map[string]any)["name"] != "Frontend" {
		t.Errorf("after an edit as v1alpha1, the v1beta1-only field is lost: %v", comps[0])
	}
}

// eventually waits for cond with the test kit's one loop (the operator's log is printed when
// the test fails).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testkit.Eventually(t, what, 2*time.Minute, func(context.Context) (bool, error) { return cond(), nil })
}

// Two replicas serve conversion: one is killed (no clean-up, as a lost node) and started
// again, then the other, while graphs are listed and watched in v1alpha1 — every answer goes
// through conversion — without one failed request. The replicas share the CA and certificate
// of the Secret the first made (a restarted replica neither makes a new one nor changes the
// CRD's caBundle). The test's front end stands for the webhook's Service: each request to a
// replica that answers, and a request whose replica dies before answering sent to the other (a
// conversion is idempotent; a Service's endpoints drop a dead pod the same way).
func TestConversionSurvivesAReplica(t *testing.T) {
	kc, _ := upCluster(t, "cpu=1")
	cfg := installCRDs(t, kc)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	front := devclustertest.FreePort(t)
	url := fmt.Sprintf("https://127.0.0.1:%d", front)
	ports := []int{devclustertest.FreePort(t), devclustertest.FreePort(t)}
	start := func(i int) *clitest.Process {
		return startOperator(t, nil, "--kubeconfig", kc, "--leader-elect", "--leader-election-namespace", "default",
			"--metrics-bind-address=0", "--health-probe-bind-address=0",
			fmt.Sprintf("--webhook-port=%d", ports[i]), "--webhook-url="+url, "--webhook-cert-secret=default/dynamo-operator-webhook-cert")
	}
	ops := []*clitest.Process{start(0), start(1)}
	t.Cleanup(func() { devclustertest.RestoreConversion(t, cfg) })
	cs := kubernetes.NewForConfigOrDie(cfg)
	var cert tls.Certificate
	eventually(t, "the webhook's certificate", func() bool {
		s, err := cs.CoreV1().Secrets("default").Get(ctx, "dynamo-operator-webhook-cert", metav1.GetOptions{})
		if err != nil {
			return false
		}
		cert, err = tls.X509KeyPair(s.Data["tls.crt"], s.Data["tls.key"])
		return err == nil
	})
	lb := startFront(t, front, cert, ports)
	dyn := dynamic.NewForConfigOrDie(cfg)
	// Both replicas have pointed the CRD at the front end and put the Secret's CA in it, and a
	// conversion (a dry-run create in v1alpha1; an empty list converts nothing) goes through.
	var trusted []byte
	eventually(t, "the CRD trusting the replicas' CA", func() bool {
		s, err := cs.CoreV1().Secrets("default").Get(ctx, "dynamo-operator-webhook-cert", metav1.GetOptions{})
		if err != nil {
			return false
		}
		trusted = s.Data["ca-bundle.crt"]
		return string(crdCABundle(ctx, t, dyn)) == base64.StdEncoding.EncodeToString(trusted)
	})
	if err := devcluster.WaitConverting(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		g := decodeYAML(t, []byte(ourBetaGraph))
		g.SetName(fmt.Sprintf("g%d", i))
		if _, err := dyn.Resource(betaGraphs).Namespace("default").Create(ctx, g, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	caBefore := crdCABundle(ctx, t, dyn)

	// Readers in v1alpha1: lists in a loop, and a watch.
	reader := rest.CopyConfig(cfg)
	reader.QPS, reader.Burst = 200, 200
	rdyn := dynamic.NewForConfigOrDie(reader)
	var lists, failed atomic.Int64
	var failures sync.Map
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				l, err := rdyn.Resource(alphaGraphs).Namespace("default").List(ctx, metav1.ListOptions{})
				lists.Add(1)
				if err != nil || len(l.Items) != 10 {
					failed.Add(1)
					failures.Store(fmt.Sprint(err), true)
				}
			}
		}()
	}
	w, err := rdyn.Resource(alphaGraphs).Namespace("default").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var watchErrors atomic.Int64
	var stopping atomic.Bool
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ev := range w.ResultChan() {
			if ev.Type == watch.Error && !stopping.Load() { // stopping the watch ends its stream with one
				watchErrors.Add(1)
				failures.Store(fmt.Sprint(apierrors.FromObject(ev.Object)), true)
			}
		}
	}()
	// Status writes of the leader make watch events, each converted to v1alpha1.
	touch := func(i int) {
		g, err := dyn.Resource(betaGraphs).Namespace("default").Get(ctx, fmt.Sprintf("g%d", i), metav1.GetOptions{})
		if err == nil {
			g.SetLabels(map[string]string{"touched": fmt.Sprint(time.Now().UnixNano())})
			_, _ = dyn.Resource(betaGraphs).Namespace("default").Update(ctx, g, metav1.UpdateOptions{})
		}
	}
	for round, victim := range []int{0, 1} {
		time.Sleep(2 * time.Second)
		ops[victim].Kill()
		for i := range 10 {
			touch(i)
			time.Sleep(200 * time.Millisecond)
		}
		ops[victim] = start(victim)
		eventually(t, fmt.Sprintf("round %d: replica %d back", round, victim), func() bool { return lb.serving(victim) })
		for i := range 10 {
			touch(i)
		}
	}
	time.Sleep(2 * time.Second)
	close(stop)
	stopping.Store(true)
	w.Stop()
	wg.Wait()
	if caAfter := crdCABundle(ctx, t, dyn); !bytes.Equal(caBefore, caAfter) {
		t.Errorf("a restarted replica changed the CRD's caBundle")
	}
	var msgs []string
	failures.Range(func(k, _ any) bool { msgs = append(msgs, k.(string)); return true })
	t.Logf("%d lists in v1alpha1, %d failed; %d watch errors; %d conversion requests answered by a replica, %d retried on the other", lists.Load(), failed.Load(), watchErrors.Load(), lb.answered.Load(), lb.retried.Load())
	// The API server caches what it converted for unchanged graphs: the touches above make
	// conversions while a replica is down, and the front end must have seen one fail over.
	if lb.retried.Load() == 0 {
		t.Errorf("no conversion request met a killed replica: the test proves nothing")
	}
	if failed.Load() != 0 || watchErrors.Load() != 0 || lists.Load() < 50 {
		t.Errorf("reads in v1alpha1 while replicas were killed: %d of %d lists failed, %d watch errors: %v", failed.Load(), lists.Load(), watchErrors.Load(), msgs)
	}
}

func crdCABundle(ctx context.Context, t *testing.T, dyn dynamic.Interface) []byte {
	t.Helper()
	crd, err := dyn.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}).
		Get(ctx, "dynamographdeployments.nvidia.com", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ca, _, _ := unstructured.NestedString(crd.Object, "spec", "conversion", "webhook", "clientConfig", "caBundle")
	return []byte(ca)
}

// front is the test's stand-in for the webhook's Service: TLS with the operator's certificate,
// each request forwarded to a replica, in turn; one that cannot be reached or dies before
// answering is retried on the other.
type front struct {
	backends []int
	next     atomic.Int64
	answered atomic.Int64
	retried  atomic.Int64
	client   *http.Client
}

func startFront(t *testing.T, port int, cert tls.Certificate, backends []int) *front {
	t.Helper()
	f := &front{backends: backends, client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the replicas' certificate is the front's own
		DisableKeepAlives: true}}}
	ln, err := tls.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return f
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	first := int(f.next.Add(1))
	var last error
	for i := range len(f.backends) {
		b := f.backends[(first+i)%len(f.backends)]
		resp, err := f.client.Post(fmt.Sprintf("https://127.0.0.1:%d%s", b, r.URL.Path), r.Header.Get("Content-Type"), bytes.NewReader(body))
		if err != nil {
			last = err
			if i == 0 {
				f.retried.Add(1)
			}
			continue
		}
		out, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			last = err
			continue
		}
		f.answered.Add(1)
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(out)
		return
	}
	http.Error(w, fmt.Sprint("no replica answered: ", last), http.StatusBadGateway)
}

// serving reports whether replica i answers TLS.
func (f *front) serving(i int) bool {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", fmt.Sprintf("127.0.0.1:%d", f.backends[i]), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // probing only
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}
