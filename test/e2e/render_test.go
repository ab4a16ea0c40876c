package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/internal/devcluster/devclustertest"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
	"github.com/dynamo-infra/dynamo-infra/test/reference"
)

// Every object `dynamoctl render` prints is accepted by a real API server (strict server-side
// dry run): the render golden inputs and the original's example.
func TestRenderedObjectsAreValid(t *testing.T) {
	kc, cs := upCluster(t, "cpu=1")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		t.Fatal(err)
	}
	// Istio's VirtualService CRD and the scaling adapter CRD: render prints both kinds.
	devclustertest.InstallCRDs(t, cfg, testkit.VirtualServiceCRDPath(), testkit.ScalingAdapterCRDPath())
	dyn := dynamic.NewForConfigOrDie(cfg)
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(discovery.NewDiscoveryClientForConfigOrDie(cfg)))

	inputs, _ := filepath.Glob(filepath.Join("..", "..", "internal", "render", "testdata", "in", "*.yaml"))
	ref, err := reference.DGDExample()
	if err != nil {
		t.Fatal(err)
	}
	refFile := filepath.Join(t.TempDir(), "reference.yaml")
	if err := os.WriteFile(refFile, ref, 0o644); err != nil {
		t.Fatal(err)
	}
	inputs = append(inputs, refFile)
	for _, in := range inputs {
		r := runCLI(t, 30*time.Second, "render", "-f", in, "--nats", "nats://nats:4222", "--etcd", "http://etcd:2379")
		if r.code != 0 {
			t.Errorf("render %s: exit %d: %s", in, r.code, r.stderr)
			continue
		}
		count := 0
		for _, doc := range strings.Split(r.stdout, "\n---\n") {
			var obj map[string]any
			if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
				t.Fatalf("%s: %v", in, err)
			}
			u := &unstructured.Unstructured{Object: obj}
			m, err := mapper.RESTMapping(u.GroupVersionKind().GroupKind(), u.GroupVersionKind().Version)
			if err != nil {
				t.Fatalf("%s: %v", in, err)
			}
			var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
			if m.Scope.Name() == meta.RESTScopeNameNamespace {
				ri = dyn.Resource(m.Resource).Namespace(u.GetNamespace())
			}
			_, err = ri.Create(ctx, u, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: metav1.FieldValidationStrict})
			if err != nil {
				t.Errorf("%s: %s %s refused: %v", filepath.Base(in), u.GetKind(), u.GetName(), err)
			}
			count++
		}
		if count < 2 {
			t.Errorf("%s rendered %d objects", in, count)
		}
	}
}
