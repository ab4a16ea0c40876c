package v1alpha1_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/api/v1beta1"
)

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(raw, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// withoutResidual drops the conversion annotations: the goldens say what upstream's mapping
// gives; the round-trip tests hold the annotations to their job.
func withoutResidual(annotations map[string]string) map[string]string {
	delete(annotations, v1alpha1.AnnotationConversionSpec)
	delete(annotations, v1alpha1.AnnotationConversionStatus)
	if len(annotations) == 0 {
		return nil
	}
	return annotations
}

func TestConversionGoldens(t *testing.T) {
	froms, err := filepath.Glob("testdata/conversion/*.from.yaml")
	if err != nil || len(froms) == 0 {
		t.Fatalf("no goldens: %v", err)
	}
	for _, from := range froms {
		name := strings.TrimSuffix(filepath.Base(from), ".from.yaml")
		to := strings.TrimSuffix(from, ".from.yaml") + ".to.yaml"
		t.Run(name, func(t *testing.T) {
			if strings.HasSuffix(name, "-alpha") {
				in, want := &v1alpha1.DynamoGraphDeployment{}, &v1beta1.DynamoGraphDeployment{}
				readYAML(t, from, in)
				readYAML(t, to, want)
				got := &v1beta1.DynamoGraphDeployment{}
				if err := in.ConvertTo(got); err != nil {
					t.Fatal(err)
				}
				got.Annotations = withoutResidual(got.Annotations)
				sameJSON(t, name, want, got)
				alphaRoundTrip(t, in)
				return
			}
			in, want := &v1beta1.DynamoGraphDeployment{}, &v1alpha1.DynamoGraphDeployment{}
			readYAML(t, from, in)
			readYAML(t, to, want)
			got := &v1alpha1.DynamoGraphDeployment{}
			if err := got.ConvertFrom(in); err != nil {
				t.Fatal(err)
			}
			got.Annotations = withoutResidual(got.Annotations)
			sameJSON(t, name, want, got)
			betaRoundTrip(t, in)
		})
	}
}

// An edit made in the other version converges: it shows in the graph's own version, and what
// only the graph's own version holds survives it.
func TestConversionEditInTheOtherVersion(t *testing.T) {
	t.Run("v1alpha1 graph edited as v1beta1", func(t *testing.T) {
		in := &v1alpha1.DynamoGraphDeployment{}
		readYAML(t, "testdata/conversion/disagg-alpha.from.yaml", in)
		in.Spec.Services["Frontend"].Ingress = &v1alpha1.IngressSpec{Enabled: true, Host: "llm.example.com"}
		in.Spec.Services["VllmDecodeWorker"].ServiceName = "legacy-name"
		hub := &v1beta1.DynamoGraphDeployment{}
		if err := in.ConvertTo(hub); err != nil {
			t.Fatal(err)
		}
		// As a v1beta1 user: scale the frontend, drop the prefill worker, add a planner.
		for i := range hub.Spec.Components {
			if hub.Spec.Components[i].Name == "Frontend" {
				hub.Spec.Components[i].Replicas = ptr.To[int32](3)
			}
		}
		hub.Spec.Components = append(hub.Spec.Components[:2], v1beta1.ComponentSpec{Name: "Planner", Type: "planner"})
		out := &v1alpha1.DynamoGraphDeployment{}
		if err := out.ConvertFrom(hub); err != nil {
			t.Fatal(err)
		}
		if r := out.Spec.Services["Frontend"].Replicas; r == nil || *r != 3 {
			t.Errorf("the edit (Frontend replicas 3) is lost: %v", r)
		}
		if _, ok := out.Spec.Services["VllmPrefillWorker"]; ok {
			t.Errorf("the component deleted as v1beta1 came back")
		}
		if _, ok := out.Spec.Services["Planner"]; !ok {
			t.Errorf("the component added as v1beta1 is missing")
		}
		if len(out.Spec.PVCs) != 1 || out.Spec.PVCs[0].Name != "model-cache" {
			t.Errorf("spec.pvcs (v1alpha1 only) is lost: %+v", out.Spec.PVCs)
		}
		if ing := out.Spec.Services["Frontend"].Ingress; ing == nil || ing.Host != "llm.example.com" {
			t.Errorf("the Frontend's ingress (v1alpha1 only) is lost: %+v", ing)
		}
		if n := out.Spec.Services["VllmDecodeWorker"].ServiceName; n != "legacy-name" {
			t.Errorf("serviceName (v1alpha1 only) is lost: %q", n)
		}
		if env := out.Spec.Services["VllmDecodeWorker"].ExtraPodSpec.MainContainer.Env; len(env) != 2 {
			t.Errorf("extraPodSpec.mainContainer.env should come back as written, got %v", env)
		}
	})
	t.Run("v1beta1 graph edited as v1alpha1", func(t *testing.T) {
		in := &v1beta1.DynamoGraphDeployment{}
		readYAML(t, "testdata/conversion/disagg-beta.from.yaml", in)
		// v1beta1 only: a component order that is not the names' order, minAvailable, roles.
		in.Spec.Components[0], in.Spec.Components[1] = in.Spec.Components[1], in.Spec.Components[0]
		in.Spec.Components[0].MinAvailable = ptr.To[int32](2)
		in.Spec.Components[0].Roles = []v1beta1.ComponentRoleSpec{{Name: "leader"}, {Name: "worker"}}
		spoke := &v1alpha1.DynamoGraphDeployment{}
		if err := spoke.ConvertFrom(in); err != nil {
			t.Fatal(err)
		}
		spoke.Spec.Services["prefill"].Replicas = ptr.To[int32](5)
		spoke.Spec.Services["prefill"].Envs = append(spoke.Spec.Services["prefill"].Envs, v1alpha1EnvVar("NEW", "1"))
		out := &v1beta1.DynamoGraphDeployment{}
		if err := spoke.ConvertTo(out); err != nil {
			t.Fatal(err)
		}
		if out.Spec.Components[0].Name != "prefill" || out.Spec.Components[1].Name != "Frontend" {
			t.Fatalf("component order lost: %s, %s", out.Spec.Components[0].Name, out.Spec.Components[1].Name)
		}
		p := out.Spec.Components[0]
		if p.Replicas == nil || *p.Replicas != 5 {
			t.Errorf("the edit (prefill replicas 5) is lost: %v", p.Replicas)
		}
		if p.MinAvailable == nil || *p.MinAvailable != 2 || len(p.Roles) != 2 {
			t.Errorf("minAvailable and roles (v1beta1 only) are lost: %v %v", p.MinAvailable, p.Roles)
		}
		env := p.PodTemplate.Spec.Containers[0].Env
		if len(env) != 2 || env[1].Name != "NEW" {
			t.Errorf("the env added as v1alpha1 should be in main: %v", env)
		}
		if names := []string{p.PodTemplate.Spec.Containers[0].Name, p.PodTemplate.Spec.Containers[1].Name}; names[0] != "main" || names[1] != "metrics" {
			t.Errorf("containers: %v", names)
		}
	})
}

func v1alpha1EnvVar(name, value string) corev1.EnvVar { return corev1.EnvVar{Name: name, Value: value} }
