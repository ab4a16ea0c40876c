package render

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/api/v1beta1"
	"github.com/dynamo-infra/dynamo-infra/test/reference"
)

// Rendering does not depend on the version a graph is written in. Every graph of the render
// tests and the seed's dgd.yaml, converted to v1beta1 and decoded from a v1beta1 file, renders
// the same objects. Those v1beta1 can say exactly (once what only v1alpha1 can say is dropped:
// PVCs to create, a service's own labels, ...) render the same from the file a v1beta1 user
// would write, without the annotation that keeps a v1alpha1 spelling (envs beside
// mainContainer.env, componentType decode for worker + decode, ...).
func TestRenderIsTheSameInEitherVersion(t *testing.T) {
	files, err := filepath.Glob("testdata/in/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	up, _ := filepath.Glob("testdata/upstream/*.yaml")
	for _, f := range up {
		if !strings.HasSuffix(f, ".pods.yaml") {
			files = append(files, f)
		}
	}
	seed, err := reference.DGDExample()
	if err != nil {
		t.Fatal(err)
	}
	seedFile := filepath.Join(t.TempDir(), "dgd.yaml")
	if err := os.WriteFile(seedFile, seed, 0o644); err != nil {
		t.Fatal(err)
	}
	files = append(files, seedFile)
	exact := 0
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			alpha := decodeFile(t, file)
			sameRender(t, alpha, asBeta(t, alpha, true))
			alphaOnly(alpha)
			beta := asBeta(t, alpha, false)
			if beta == "" {
				t.Logf("v1beta1 cannot say it exactly: compared with its conversion annotation only")
				return
			}
			exact++
			sameRender(t, alpha, beta)
		})
	}
	if exact < 4 {
		t.Errorf("only %d graphs have an exact v1beta1 form: the test says little", exact)
	}
}

// asBeta writes a graph as a v1beta1 file; without keep, "" when v1beta1 cannot say it exactly.
func asBeta(t *testing.T, alpha *v1alpha1.DynamoGraphDeployment, keep bool) string {
	t.Helper()
	beta := &v1beta1.DynamoGraphDeployment{}
	if err := alpha.DeepCopy().ConvertTo(beta); err != nil {
		t.Fatal(err)
	}
	if _, kept := beta.Annotations[v1alpha1.AnnotationConversionSpec]; kept && !keep {
		return ""
	}
	raw, err := yaml.Marshal(beta)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func sameRender(t *testing.T, alpha *v1alpha1.DynamoGraphDeployment, betaFile string) {
	t.Helper()
	docs, err := DecodeDocuments(strings.NewReader(betaFile), "v1beta1 file", "default")
	if err != nil {
		t.Fatalf("%v\n%s", err, betaFile)
	}
	if docs[0].Version != "v1beta1" {
		t.Fatalf("decoded as %s", docs[0].Version)
	}
	want, wantErr := renderGraph(alpha, testConfig)
	got, gotErr := renderGraph(docs[0].Graph, testConfig)
	if (wantErr == nil) != (gotErr == nil) {
		t.Fatalf("v1alpha1: %v; v1beta1: %v", wantErr, gotErr)
	}
	wy, _ := yaml.Marshal(want)
	gy, _ := yaml.Marshal(got)
	if d := cmp.Diff(string(wy), string(gy)); d != "" {
		t.Errorf("rendered objects differ (-v1alpha1 +v1beta1):\n%s", d)
	}
}

// alphaOnly drops from a graph what only v1alpha1 can say, and spells what v1alpha1 can say two
// ways as v1beta1 converts it back (componentType decode is worker + decode).
func alphaOnly(g *v1alpha1.DynamoGraphDeployment) {
	g.Spec.PVCs = nil
	for _, s := range g.Spec.Services {
		s.Labels, s.Annotations, s.ServiceName, s.DynamoNamespace, s.Autoscaling, s.Ingress = nil, nil, "", nil, nil, nil
		switch s.ComponentType {
		case v1alpha1.ComponentPrefill, v1alpha1.ComponentDecode:
			s.ComponentType, s.SubComponentType = v1alpha1.ComponentWorker, s.ComponentType
		case v1alpha1.ComponentMain, v1alpha1.ComponentDefault:
			s.ComponentType = ""
		}
	}
}
