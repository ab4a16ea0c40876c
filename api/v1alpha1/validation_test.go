package v1alpha1_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster/devclustertest"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
	"github.com/dynamo-infra/dynamo-infra/test/reference"
)

var dgdGVR = schema.GroupVersionResource{Group: "nvidia.com", Version: "v1alpha1", Resource: "dynamographdeployments"}

// installCRD installs the generated CRD and returns a client for DGDs in default.
func installCRD(t *testing.T, c *devcluster.Cluster) dynamic.ResourceInterface {
	t.Helper()
	devclustertest.InstallCRDs(t, c.RESTConfig(), testkit.CRDPath())
	return dynamic.NewForConfigOrDie(c.RESTConfig()).Resource(dgdGVR).Namespace("default")
}

// referenceDGD is the original's example, verbatim, with ${IMAGE} substituted.
func referenceDGD(t *testing.T) map[string]any {
	t.Helper()
	raw, err := reference.DGDExample()
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := yaml.Unmarshal(raw, &obj); err != nil {
		t.Fatal(err)
	}
	return obj
}

func create(ctx context.Context, ri dynamic.ResourceInterface, obj map[string]any) error {
	_, err := ri.Create(ctx, &unstructured.Unstructured{Object: obj}, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
	return err
}

// mutate returns a deep copy of the reference with f applied to its spec.
func mutate(t *testing.T, name string, f func(spec map[string]any)) map[string]any {
	obj := referenceDGD(t)
	obj["metadata"].(map[string]any)["name"] = name
	f(obj["spec"].(map[string]any))
	return obj
}

func service(spec map[string]any, name string) map[string]any {
	return spec["services"].(map[string]any)[name].(map[string]any)
}

func TestCRDValidation(t *testing.T) {
	c := devclustertest.Start(t, "cpu=1")
	ri := installCRD(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The original's example applies unchanged.
	if err := create(ctx, ri, referenceDGD(t)); err != nil {
		t.Fatalf("reference dgd.yaml refused: %v", err)
	}
	got, err := ri.Get(ctx, "dynamo", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ct, _, _ := unstructured.NestedString(got.Object, "spec", "services", "Frontend", "componentType"); ct != "frontend" {
		t.Errorf("Frontend componentType %q", ct)
	}

	manyServices := map[string]any{}
	for i := range 26 {
		manyServices[fmt.Sprintf("svc%d", i)] = map[string]any{"extraPodSpec": map[string]any{"mainContainer": map[string]any{"image": "x"}}}
	}
	var manyPVCs []any
	for i := range 101 {
		manyPVCs = append(manyPVCs, map[string]any{"name": fmt.Sprintf("p%d", i)})
	}
	tests := []struct {
		name string
		obj  map[string]any
		want string
	}{
		{"no services", mutate(t, "v1", func(s map[string]any) { s["services"] = map[string]any{} }), "spec.services: Invalid value"},
		{"services missing", mutate(t, "v2", func(s map[string]any) { delete(s, "services") }), "spec.services: Required value"},
		{"26 services", mutate(t, "v3", func(s map[string]any) { s["services"] = manyServices }), "spec.services: Too many"},
		{"no image", mutate(t, "v4", func(s map[string]any) { delete(service(s, "Frontend"), "extraPodSpec") }), "extraPodSpec.mainContainer.image is required"},
		{"empty image", mutate(t, "v5", func(s map[string]any) {
			service(s, "Frontend")["extraPodSpec"] = map[string]any{"mainContainer": map[string]any{"image": ""}}
		}), "extraPodSpec.mainContainer.image is required"},
		{"negative replicas", mutate(t, "v6", func(s map[string]any) { service(s, "Frontend")["replicas"] = -1 }), "spec.services.Frontend.replicas"},
		{"bad componentType", mutate(t, "v7", func(s map[string]any) { service(s, "Frontend")["componentType"] = "router" }), `spec.services.Frontend.componentType: Unsupported value: "router"`},
		{"bad backendFramework", mutate(t, "v8", func(s map[string]any) { s["backendFramework"] = "tgi" }), `spec.backendFramework: Unsupported value: "tgi"`},
		{"pvc create without size", mutate(t, "v9", func(s map[string]any) { s["pvcs"] = []any{map[string]any{"name": "cache", "create": true}} }), "storageClass, size and volumeAccessMode are required when create is true"},
		{"pvc bad name", mutate(t, "v10", func(s map[string]any) { s["pvcs"] = []any{map[string]any{"name": "My_PVC"}} }), "spec.pvcs[0].name"},
		{"101 pvcs", mutate(t, "v11", func(s map[string]any) { s["pvcs"] = manyPVCs }), "spec.pvcs: Too many"},
		{"pvc bad access mode", mutate(t, "v12", func(s map[string]any) {
			s["pvcs"] = []any{map[string]any{"name": "c", "create": true, "size": "1Gi", "storageClass": "x", "volumeAccessMode": "RWX"}}
		}), `spec.pvcs[0].volumeAccessMode: Unsupported value: "RWX"`},
		{"dotted name", mutate(t, "llama.70b", func(map[string]any) {}), "metadata.name: lowercase letters, digits and dashes"},
		{"name starting with a digit", mutate(t, "70b", func(map[string]any) {}), "metadata.name: lowercase letters, digits and dashes"},
		{"name too long", mutate(t, strings.Repeat("n", 41), func(map[string]any) {}), "metadata.name: at most 40 characters"},
		{"service name with underscore", mutate(t, "v14", func(s map[string]any) {
			s["services"].(map[string]any)["vllm_worker"] = service(s, "Frontend")
		}), "service names must be alphanumeric"},
		{"child name over 63", mutate(t, strings.Repeat("d", 40), func(s map[string]any) {
			s["services"].(map[string]any)[strings.Repeat("s", 23)] = service(s, "Frontend")
		}), "must fit in 63 characters"},
		{"unknown spec field", mutate(t, "v16", func(s map[string]any) { s["servicez"] = 1 }), `unknown field "spec.servicez"`},
		{"unknown service field", mutate(t, "v17", func(s map[string]any) { service(s, "Frontend")["replica"] = 1 }), `unknown field "spec.services.Frontend.replica"`},
		{"unknown main container field", mutate(t, "v18", func(s map[string]any) {
			service(s, "Frontend")["extraPodSpec"].(map[string]any)["mainContainer"].(map[string]any)["imagePullPolicyy"] = "Always"
		}), `unknown field "spec.services.Frontend.extraPodSpec.mainContainer.imagePullPolicyy"`},
		// Upstream's admission rules (its CRD's and its webhook's), as CEL and schema here.
		{"multinode name too long for LWS", mutate(t, "v40", func(s map[string]any) {
			s["services"].(map[string]any)[strings.Repeat("d", 42)] = map[string]any{"multinode": map[string]any{"nodeCount": 2},
				"extraPodSpec": map[string]any{"mainContainer": map[string]any{"image": "x"}}}
		}), "for a multinode service the DGD name, a dash and the service name must fit in 45 characters"},
		{"multinode on one node", mutate(t, "v19", func(s map[string]any) { service(s, "VllmDecodeWorker")["multinode"] = map[string]any{"nodeCount": 1} }),
			"spec.services.VllmDecodeWorker.multinode.nodeCount"},
		{"epp without config", mutate(t, "v20", func(s map[string]any) {
			s["services"].(map[string]any)["Epp"] = map[string]any{"componentType": "epp"}
		}), "an epp service has exactly 1 replica and eppConfig with exactly one of configMapRef and config"},
		{"failover without GMS", mutate(t, "v21", func(s map[string]any) {
			service(s, "VllmDecodeWorker")["failover"] = map[string]any{"enabled": true}
		}), "failover.enabled requires gpuMemoryService.enabled"},
		{"checkpoint without ref", mutate(t, "v22", func(s map[string]any) { service(s, "VllmDecodeWorker")["checkpoint"] = map[string]any{"enabled": true} }),
			"When enabled, either checkpointRef or identity must be specified"},
		{"shared memory disabled with a size", mutate(t, "v23", func(s map[string]any) {
			service(s, "VllmDecodeWorker")["sharedMemory"] = map[string]any{"disabled": true, "size": "1Gi"}
		}), "sharedMemory.size must not be set when sharedMemory.disabled is true"},
		{"restart on create", mutate(t, "v24", func(s map[string]any) { s["restart"] = map[string]any{"id": "1"} }), "spec.restart must be unset on create"},
		{"topologyConstraint without profile", mutate(t, "v25", func(s map[string]any) { s["topologyConstraint"] = map[string]any{"packDomain": "rack"} }),
			"spec.topologyConstraint.topologyProfile: Required value"},
		{"mount without a mount point", mutate(t, "v29", func(s map[string]any) {
			service(s, "VllmDecodeWorker")["volumeMounts"] = []any{map[string]any{"name": "cache"}}
		}), "mountPoint is required unless useAsCompilationCache is true"},
		{"gpu not a number", mutate(t, "v26", func(s map[string]any) {
			service(s, "VllmDecodeWorker")["resources"] = map[string]any{"limits": map[string]any{"gpu": "one"}}
		}), "spec.services.VllmDecodeWorker.resources.limits.gpu"},
		{"relative mount point", mutate(t, "v27", func(s map[string]any) {
			service(s, "VllmDecodeWorker")["volumeMounts"] = []any{map[string]any{"name": "cache", "mountPoint": "data"}}
		}), "spec.services.VllmDecodeWorker.volumeMounts[0].mountPoint"},
		{"duplicate env", mutate(t, "v28", func(s map[string]any) {
			s["envs"] = []any{map[string]any{"name": "A", "value": "1"}, map[string]any{"name": "A", "value": "2"}}
		}), "spec.envs[1]: Duplicate value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := create(ctx, ri, tt.obj)
			if err == nil {
				t.Fatalf("accepted; want refusal mentioning %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}

	// Every field of the original's v1alpha1 graph is admitted with its shape, those whose
	// behaviour is not built included (the operator reports them; see the controller's tests).
	all := mutate(t, "every-field", func(s map[string]any) {
		s["priorityClassName"] = "high"
		s["topologyConstraint"] = map[string]any{"topologyProfile": "default", "packDomain": "rack"}
		s["pvcs"] = []any{map[string]any{"name": "cache", "create": true, "storageClass": "standard", "size": "10Gi", "volumeAccessMode": "ReadWriteMany"}}
		d := service(s, "VllmDecodeWorker")
		d["componentType"], d["subComponentType"] = "worker", "decode"
		d["serviceName"], d["dynamoNamespace"], d["globalDynamoNamespace"] = "decode", "legacy", true
		d["multinode"] = map[string]any{"nodeCount": 2}
		d["ingress"] = map[string]any{"enabled": true, "host": "llm", "tls": map[string]any{"secretName": "t"}}
		d["modelRef"] = map[string]any{"name": "qwen", "revision": "1"}
		d["scalingAdapter"] = map[string]any{"enabled": true}
		d["checkpoint"] = map[string]any{"enabled": true, "checkpointRef": "ckpt"}
		d["topologyConstraint"] = map[string]any{"packDomain": "rack"}
		d["gpuMemoryService"] = map[string]any{"enabled": true}
		d["failover"] = map[string]any{"enabled": true}
		d["autoscaling"] = map[string]any{"enabled": true, "minReplicas": 1, "maxReplicas": 4}
		d["resources"] = map[string]any{"limits": map[string]any{"gpu": "1", "gpuType": "nvidia.com/gpu"}, "claims": []any{map[string]any{"name": "gpus"}}}
		d["volumeMounts"] = []any{map[string]any{"name": "cache", "useAsCompilationCache": true}}
		d["frontendSidecar"] = map[string]any{"image": "frontend:1", "args": []any{"-m", "dynamo.frontend"}}
		eps := d["extraPodSpec"].(map[string]any)
		eps["resourceClaims"] = []any{map[string]any{"name": "gpus", "resourceClaimTemplateName": "gpu"}}
		eps["hostNetwork"] = true
		eps["mainContainer"].(map[string]any)["name"] = "main"
		s["services"].(map[string]any)["Epp"] = map[string]any{"componentType": "epp", "replicas": 1,
			"eppConfig": map[string]any{"configMapRef": map[string]any{"name": "epp", "key": "config.yaml"}}}
		s["services"].(map[string]any)["Main"] = map[string]any{"componentType": "main",
			"extraPodSpec": map[string]any{"mainContainer": map[string]any{"image": "busybox"}}}
	})
	if err := create(ctx, ri, all); err != nil {
		t.Errorf("a graph with every upstream field refused: %v", err)
	}

	// backendFramework is immutable once set.
	obj := mutate(t, "immutable", func(s map[string]any) { s["backendFramework"] = "vllm" })
	if err := create(ctx, ri, obj); err != nil {
		t.Fatal(err)
	}
	cur, err := ri.Get(ctx, "immutable", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := unstructured.SetNestedField(cur.Object, "sglang", "spec", "backendFramework"); err != nil {
		t.Fatal(err)
	}
	_, err = ri.Update(ctx, cur, metav1.UpdateOptions{})
	if err == nil || !strings.Contains(err.Error(), "spec.backendFramework is immutable") {
		t.Errorf("changing backendFramework: %v, want it refused as immutable", err)
	}
}

// The scheme decodes the reference example into the Go types without loss of known fields.
func TestSchemeDecodesReference(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	raw, err := yaml.Marshal(referenceDGD(t))
	if err != nil {
		t.Fatal(err)
	}
	obj, _, err := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer().Decode(raw, nil, nil)
	if err != nil {
		t.Fatalf("strict decode of the reference: %v", err)
	}
	dgd := obj.(*v1alpha1.DynamoGraphDeployment)
	w := dgd.Spec.Services["VllmPrefillWorker"]
	if w == nil || w.ComponentType != "prefill" || w.Resources.Limits.GPU != "1" || *w.ExtraPodSpec.TerminationGracePeriodSeconds != 120 ||
		w.ExtraPodSpec.MainContainer.WorkingDir != "/workspace/components/backends/vllm" || len(w.ExtraPodSpec.MainContainer.Args) != 4 {
		t.Errorf("decoded prefill worker: %+v", w)
	}
	if dgd.Annotations["nvidia.com/dynamo-discovery-backend"] != "kubernetes" || len(dgd.Spec.Envs) != 1 {
		t.Errorf("decoded metadata/envs: %v %v", dgd.Annotations, dgd.Spec.Envs)
	}
}
