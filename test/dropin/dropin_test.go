// Package dropin checks that graphs written the way upstream Dynamo's examples and recipes write
// them (testdata/upstream-*.yaml are upstream's own, multi-node ones included) work here unchanged: every document of each file is accepted by the real API server with
// our CRDs, and `render` either renders the graph — and the API server accepts every object it
// renders — or reports the field it does not implement yet, with the sentence the operator puts
// in the graph's status.
package dropin

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/internal/controller"
	"github.com/dynamo-infra/dynamo-infra/internal/controller/controllertest"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster/devclustertest"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
	"github.com/dynamo-infra/dynamo-infra/internal/yamldoc"
)

// reported maps the files whose graph uses a field not implemented yet to that field's path.
var reported = map[string]string{
	"interpod-failover.yaml": "spec.services.agg.failover.mode",
}

const ns = "dropin"

func TestUpstreamShapedGraphs(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if err != nil || len(files) < 11 {
		t.Fatalf("testdata: %v %v", files, err)
	}
	// With LeaderWorkerSet's CRD and webhooks (multi-node graphs render LeaderWorkerSets) and
	// the InferencePool CRD (an Endpoint Picker renders a pool).
	c := devclustertest.Start(t, "cpu=1", devclustertest.WithLWS, devclustertest.WithInferenceGateway)
	devclustertest.InstallCRDs(t, c.RESTConfig(), testkit.CRDPath(), testkit.WorkerMetadataCRDPath())
	cl, err := client.New(c.RESTConfig(), client.Options{Scheme: controller.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	dryRun := func(t *testing.T, obj map[string]any) error {
		u := &unstructured.Unstructured{Object: obj}
		u.SetNamespace(ns)
		return cl.Create(ctx, u, client.DryRunAll, client.FieldValidation(metav1.FieldValidationStrict))
	}
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			// The API server accepts every document as written.
			err = yamldoc.Each(bytes.NewReader(raw), name, func(i int, doc []byte) error {
				obj := map[string]any{}
				if err := yaml.Unmarshal(doc, &obj); err != nil {
					return err
				}
				if err := dryRun(t, obj); err != nil {
					t.Errorf("document %d refused by the API server: %v", i, err)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			docs, err := render.DecodeDocuments(bytes.NewReader(raw), name, ns)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if len(docs.Graphs()) != 1 {
				t.Fatalf("%d graphs", len(docs.Graphs()))
			}
			g, _ := graph.Resolve(docs.Graphs()[0], graph.Options{})
			objs, err := render.Graph(g, controllertest.RenderConfig)
			if field, ok := reported[name]; ok {
				var unimplemented *graph.UnimplementedError
				if !errors.As(err, &unimplemented) || !strings.Contains(err.Error(), field) {
					t.Fatalf("render: %v, want it to report %s as not implemented", err, field)
				}
				return
			}
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			// The API server accepts every object render prints (what the operator applies).
			for _, o := range objs {
				u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
				if err != nil {
					t.Fatal(err)
				}
				unstructured.RemoveNestedField(u, "metadata", "creationTimestamp")
				unstructured.RemoveNestedField(u, "spec", "template", "metadata", "creationTimestamp")
				delete(u, "status")
				if err := dryRun(t, u); err != nil {
					kind, _, _ := unstructured.NestedString(u, "kind")
					t.Errorf("rendered %s refused by the API server: %v", kind, err)
				}
			}
		})
	}
}
