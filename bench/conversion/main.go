// Command conversion benchmarks DynamoGraphDeployment conversion between nvidia.com/v1alpha1 and
// v1beta1 (the stored version).
//
// The webhook's handler (internal/webhook, what every operator replica serves) is timed in
// process on a ConversionReview of one graph, in both directions, for the seed's three-service
// graph and upstream's disaggregated one with a planner: the median and 99th percentile per
// object. Then, on a dev cluster whose API server reaches the same handler over TLS on
// loopback, 500 graphs are listed in v1beta1 (no conversion) and in v1alpha1 (each graph
// through the webhook): cold (right after every graph changed, so the API server has no
// conversion of them cached) and warm (repeated).
//
//	go run ./bench/conversion [-graphs 500] [-runs 5] [-reviews 2000]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	apix "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/api/v1beta1"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
	"github.com/dynamo-infra/dynamo-infra/internal/simnode"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
	"github.com/dynamo-infra/dynamo-infra/internal/webhook"
	"github.com/dynamo-infra/dynamo-infra/test/reference"
)

func main() {
	graphs := flag.Int("graphs", 500, "graphs listed on the cluster")
	runs := flag.Int("runs", 5, "lists timed per case")
	reviews := flag.Int("reviews", 2000, "ConversionReviews timed per case in process")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *graphs, *runs, *reviews); err != nil {
		fmt.Fprintln(os.Stderr, "bench conversion:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, graphs, runs, reviews int) error {
	small, large, err := sampleGraphs()
	if err != nil {
		return err
	}
	fmt.Printf("webhook handler, in process, one graph per ConversionReview, %d reviews each:\n", reviews)
	for _, c := range []struct {
		name string
		g    *v1alpha1.DynamoGraphDeployment
	}{{"seed dgd.yaml (3 services)", small}, {"disagg_planner (4 services, envs, a volume)", large}} {
		beta := &v1beta1.DynamoGraphDeployment{}
		if err := c.g.DeepCopy().ConvertTo(beta); err != nil {
			return err
		}
		beta.APIVersion, beta.Kind = v1beta1.GroupVersion.String(), "DynamoGraphDeployment"
		for _, dir := range []struct {
			name string
			obj  runtime.Object
			to   string
		}{{"v1alpha1 → v1beta1", c.g, v1beta1.GroupVersion.String()}, {"v1beta1 → v1alpha1", beta, v1alpha1.GroupVersion.String()}} {
			p50, p99, err := timeReviews(dir.obj, dir.to, reviews)
			if err != nil {
				return err
			}
			fmt.Printf("  %-36s %-20s p50 %8s  p99 %8s\n", c.name, dir.name, p50, p99)
		}
	}
	return listBench(ctx, graphs, runs)
}

// sampleGraphs: the seed's example, and upstream's disaggregated vLLM graph with a planner from
// the render tests (four services, graph envs, envFromSecret, a volume mount).
func sampleGraphs() (small, large *v1alpha1.DynamoGraphDeployment, err error) {
	seed, err := reference.DGDExample()
	if err != nil {
		return nil, nil, err
	}
	g, err := render.DecodeGraphs(bytes.NewReader(seed), "dgd.yaml", "default")
	if err != nil {
		return nil, nil, err
	}
	small = g[0]
	raw, err := os.ReadFile(filepath.Join(testkit.RepoRoot(), "internal", "render", "testdata", "upstream", "vllm-disagg-planner.yaml"))
	if err != nil {
		return nil, nil, err
	}
	l, err := render.DecodeGraphs(bytes.NewReader(raw), "vllm-disagg-planner.yaml", "default")
	if err != nil {
		return nil, nil, err
	}
	large = l[0]
	for _, g := range []*v1alpha1.DynamoGraphDeployment{small, large} {
		g.APIVersion, g.Kind = v1alpha1.GroupVersion.String(), "DynamoGraphDeployment"
		g.UID = types.UID("00000000-0000-0000-0000-000000000001")
	}
	return small, large, nil
}

// timeReviews posts a ConversionReview of obj to the handler n times.
func timeReviews(obj runtime.Object, to string, n int) (p50, p99 time.Duration, err error) {
	raw, err := json.Marshal(obj)
	if err != nil {
		return 0, 0, err
	}
	review, err := json.Marshal(&apix.ConversionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "ConversionReview"},
		Request:  &apix.ConversionRequest{UID: "bench", DesiredAPIVersion: to, Objects: []runtime.RawExtension{{Raw: raw}}},
	})
	if err != nil {
		return 0, 0, err
	}
	h := webhook.Handler()
	took := make([]time.Duration, 0, n)
	for i := 0; i < n+n/10; i++ {
		req := httptest.NewRequest(http.MethodPost, webhook.ConvertPath, bytes.NewReader(review))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(w, req)
		d := time.Since(start)
		if i < n/10 {
			continue // warm-up
		}
		var out apix.ConversionReview
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || out.Response == nil || out.Response.Result.Status != metav1.StatusSuccess {
			return 0, 0, fmt.Errorf("conversion to %s failed: %w %s", to, err, w.Body.String())
		}
		took = append(took, d)
	}
	slices.Sort(took)
	return took[len(took)/2].Round(time.Microsecond), took[len(took)*99/100].Round(time.Microsecond), nil
}

var betaGVR = schema.GroupVersionResource{Group: "nvidia.com", Version: "v1beta1", Resource: "dynamographdeployments"}

// listBench lists graphs in both versions on a dev cluster.
func listBench(ctx context.Context, graphs, runs int) (err error) {
	p, _ := simnode.ParseProfile("cpu=1")
	c, err := devcluster.Start(ctx, devcluster.Options{Profile: p, StartTimeout: 5 * time.Minute})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, c.Stop()) }()
	crd, err := os.ReadFile(testkit.CRDPath())
	if err != nil {
		return err
	}
	if err := devcluster.InstallCRDs(ctx, c.RESTConfig(), crd); err != nil {
		return err
	}
	if err := devcluster.ServeConversion(ctx, c.RESTConfig()); err != nil {
		return err
	}
	cfg := c.RESTConfig()
	cfg.QPS, cfg.Burst = 500, 500
	cfg.WarningHandler = rest.NoWarnings{} // v1alpha1's deprecation, on every request
	dyn := dynamic.NewForConfigOrDie(cfg)
	seed, err := reference.DGDExample()
	if err != nil {
		return err
	}
	for i := range graphs {
		u := &unstructured.Unstructured{}
		if err := json.Unmarshal(mustJSON(seed), &u.Object); err != nil {
			return err
		}
		u.SetName(fmt.Sprintf("g%03d", i))
		u.SetNamespace("default")
		if _, err := dyn.Resource(v1alpha1.GroupVersion.WithResource("dynamographdeployments")).Namespace("default").Create(ctx, u, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	// touch changes every graph, so that the API server has no conversion of them cached.
	touch := func(round int) error {
		for i := range graphs {
			patch := fmt.Sprintf(`{"metadata":{"labels":{"round":"%d"}}}`, round)
			if _, err := dyn.Resource(betaGVR).Namespace("default").Patch(ctx, fmt.Sprintf("g%03d", i), types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
				return err
			}
		}
		return nil
	}
	conversions := map[string]int64{}
	list := func(gvr schema.GroupVersionResource) (time.Duration, error) {
		before := devcluster.LocalConversionRequests()
		defer func() { conversions[gvr.Version] += devcluster.LocalConversionRequests() - before }()
		start := time.Now()
		l, err := dyn.Resource(gvr).Namespace("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return 0, err
		}
		if len(l.Items) != graphs {
			return 0, fmt.Errorf("listed %d graphs, want %d", len(l.Items), graphs)
		}
		return time.Since(start), nil
	}
	alpha := v1alpha1.GroupVersion.WithResource("dynamographdeployments")
	results := map[string][]time.Duration{}
	for r := range runs {
		if err := touch(r); err != nil {
			return err
		}
		for _, c := range []struct {
			name string
			gvr  schema.GroupVersionResource
		}{{"v1alpha1 cold (converted)", alpha}, {"v1alpha1 warm (converted)", alpha}, {"v1beta1 (stored)", betaGVR}} {
			d, err := list(c.gvr)
			if err != nil {
				return err
			}
			results[c.name] = append(results[c.name], d)
		}
	}
	fmt.Printf("LIST %d graphs (the seed's) on a dev cluster, conversion over loopback TLS, %d runs, median (min–max):\n", graphs, runs)
	fmt.Printf("  (conversion requests the API server sent during the lists: v1alpha1 %d, v1beta1 %d)\n", conversions["v1alpha1"], conversions["v1beta1"])
	for _, name := range []string{"v1beta1 (stored)", "v1alpha1 cold (converted)", "v1alpha1 warm (converted)"} {
		d := results[name]
		slices.Sort(d)
		fmt.Printf("  %-28s %8s (%s–%s)\n", name, d[len(d)/2].Round(time.Millisecond), d[0].Round(time.Millisecond), d[len(d)-1].Round(time.Millisecond))
	}
	return nil
}

func mustJSON(yamlDoc []byte) []byte {
	u := &unstructured.Unstructured{}
	docs, err := render.DecodeDocuments(bytes.NewReader(yamlDoc), "dgd.yaml", "default")
	if err != nil || len(docs) == 0 || docs[0].Graph == nil {
		panic(fmt.Sprint("the seed graph: ", err))
	}
	g := docs[0].Graph
	g.APIVersion, g.Kind = v1alpha1.GroupVersion.String(), "DynamoGraphDeployment"
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(g)
	if err != nil {
		panic(err)
	}
	u.Object = m
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "status")
	raw, _ := json.Marshal(u.Object)
	return raw
}
