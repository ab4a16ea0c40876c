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
	utiljson "k8s.io/apimachinery/pkg/util/json"
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

// Documents are the documents of a manifest file, in order: graphs, decoded and validated,
// and objects of other kinds (the ConfigMaps and Secrets a graph's file often carries), as
// they were.
type Documents []Document

// Document is one document of a manifest file: a graph or another object.
type Document struct {
	Graph *v1alpha1.DynamoGraphDeployment
	Other *unstructured.Unstructured
}

// Graphs returns the graphs of the documents.
func (d Documents) Graphs() []*v1alpha1.DynamoGraphDeployment {
	var out []*v1alpha1.DynamoGraphDeployment
	for _, doc := range d {
		if doc.Graph != nil {
			out = append(out, doc.Graph)
		}
	}
	return out
}

// Others names the documents that are not graphs ("ConfigMap/model-config").
func (d Documents) Others() []string {
	var out []string
	for _, doc := range d {
		if doc.Other != nil {
			out = append(out, doc.Other.GetKind()+"/"+doc.Other.GetName())
		}
	}
	return out
}

// ReadDocuments decodes the documents of a file, or of stdin when path is "-" (see
// DecodeDocuments).
func ReadDocuments(path string, stdin io.Reader, namespace string) (Documents, error) {
	if path == "-" {
		return DecodeDocuments(stdin, "stdin", namespace)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return DecodeDocuments(f, path, namespace)
}

// ReadGraphs decodes the graphs of a file, or of stdin when path is "-"; documents of other
// kinds are skipped (Documents.Others names them). A file without a graph is an error.
func ReadGraphs(path string, stdin io.Reader, namespace string) (Documents, error) {
	docs, err := ReadDocuments(path, stdin, namespace)
	if err != nil {
		return nil, err
	}
	if len(docs.Graphs()) == 0 {
		if path == "-" {
			path = "stdin"
		}
		return nil, fmt.Errorf("%s: no DynamoGraphDeployment found", path)
	}
	return docs, nil
}

// DecodeGraphs decodes the graphs of r (see DecodeDocuments), skipping other kinds; no graph is
// an error.
func DecodeGraphs(r io.Reader, source, namespace string) ([]*v1alpha1.DynamoGraphDeployment, error) {
	docs, err := DecodeDocuments(r, source, namespace)
	if err != nil {
		return nil, err
	}
	if g := docs.Graphs(); len(g) > 0 {
		return g, nil
	}
	return nil, fmt.Errorf("%s: no DynamoGraphDeployment found", source)
}

// DecodeDocuments reads manifests (YAML or JSON, several documents allowed). A
// DynamoGraphDeployment is decoded strictly — an unknown or duplicate field is an error
// naming its path — then defaulted and validated as the API server would (internal/graphschema:
// schema, list keys, CEL rules), so a graph the API refuses is refused here with the same
// words. Other kinds are kept as they are. namespace fills in graphs without one. source
// names r in errors.
func DecodeDocuments(r io.Reader, source, namespace string) (Documents, error) {
	var out Documents
	schema, err := graphschema.DGD()
	if err != nil {
		return nil, err
	}
	err = yamldoc.Each(r, source, func(_ int, raw []byte) error {
		// Integers stay int64 (as the API server decodes them): CEL rules compare them with ints.
		js, err := yaml.YAMLToJSON(raw)
		if err != nil {
			return err
		}
		u := map[string]any{}
		if err := utiljson.Unmarshal(js, &u); err != nil {
			return err
		}
		obj := &unstructured.Unstructured{Object: u}
		if gvk := obj.GroupVersionKind(); gvk.Kind != "DynamoGraphDeployment" || gvk.Group != v1alpha1.GroupVersion.Group {
			if gvk.Kind == "" || gvk.Version == "" {
				return fmt.Errorf("a document without apiVersion and kind")
			}
			out = append(out, Document{Other: obj})
			return nil
		} else if gvk.Version != v1alpha1.GroupVersion.Version {
			return fmt.Errorf("DynamoGraphDeployment %s: dynamo-infra serves %s only", gvk.GroupVersion(), v1alpha1.GroupVersion)
		}
		if _, _, err := graphDecoder.Decode(raw, nil, nil); err != nil {
			return err
		}
		// Then as the API server: defaults, schema, list keys and CEL rules of our CRD.
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
		out = append(out, Document{Graph: dgd})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
