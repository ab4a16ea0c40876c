package render

import (
	"context"
	"fmt"
	"io"
	"os"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"

	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/graphschema"
	"github.com/dynamo-infra/dynamo-infra/internal/yamldoc"
)

var graphDecoder = func() runtime.Decoder {
	s := runtime.NewScheme()
	utilruntime.Must(v1alpha1.AddToScheme(s))
	return serializer.NewCodecFactory(s, serializer.EnableStrict).UniversalDeserializer()
}()

// ReadGraphs decodes the graphs of a file, or of stdin when path is "-".
func ReadGraphs(path string, stdin io.Reader, namespace string) ([]*v1alpha1.DynamoGraphDeployment, error) {
	if path == "-" {
		return DecodeGraphs(stdin, "stdin", namespace)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return DecodeGraphs(f, path, namespace)
}

// DecodeGraphs reads DynamoGraphDeployment manifests (YAML or JSON, several documents allowed)
// strictly — an unknown or duplicate field is an error naming its path — then defaults and
// validates each as the API server would (internal/graphschema: schema, list keys, CEL rules),
// so a graph the API refuses is refused here with the same words. namespace fills in documents
// without one. source names r in errors.
func DecodeGraphs(r io.Reader, source, namespace string) ([]*v1alpha1.DynamoGraphDeployment, error) {
	var out []*v1alpha1.DynamoGraphDeployment
	schema, err := graphschema.DGD()
	if err != nil {
		return nil, err
	}
	err = yamldoc.Each(r, source, func(_ int, raw []byte) error {
		obj, gvk, err := graphDecoder.Decode(raw, nil, nil)
		if err != nil {
			return err
		}
		if _, ok := obj.(*v1alpha1.DynamoGraphDeployment); !ok {
			return fmt.Errorf("%s is not a DynamoGraphDeployment", gvk.Kind)
		}
		// Then as the API server: defaults, schema, list keys and CEL rules of our CRD.
		u := map[string]any{}
		if err := yaml.Unmarshal(raw, &u); err != nil {
			return err
		}
		// The API server validates a graph in the namespace of the request; with none given
		// (and none in the file), as if in "default", which the output does not name.
		ns, _, _ := unstructured.NestedString(u, "metadata", "namespace")
		if ns == "" {
			ns = namespace
			if ns == "" {
				ns = metav1.NamespaceDefault
			}
			if err := unstructured.SetNestedField(u, ns, "metadata", "namespace"); err != nil {
				return err
			}
		}
		if err := schema.DefaultAndValidate(context.Background(), u); err != nil {
			return err
		}
		if namespace == "" && ns == metav1.NamespaceDefault {
			unstructured.RemoveNestedField(u, "metadata", "namespace")
		}
		dgd := &v1alpha1.DynamoGraphDeployment{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u, dgd); err != nil {
			return err
		}
		out = append(out, dgd)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no DynamoGraphDeployment found", source)
	}
	return out, nil
}
