package render

import (
	"context"
	"fmt"
	"io"
	"os"
	goruntime "runtime"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"

	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/api/v1beta1"
	"github.com/dynamo-infra/dynamo-infra/internal/graphschema"
	"github.com/dynamo-infra/dynamo-infra/internal/yamldoc"
)

var graphDecoder = func() runtime.Decoder {
	s := runtime.NewScheme()
	utilruntime.Must(v1alpha1.AddToScheme(s))
	utilruntime.Must(v1beta1.AddToScheme(s))
	return serializer.NewCodecFactory(s, serializer.EnableStrict).UniversalDeserializer()
}()

// Documents are the documents of a manifest file, in order: graphs, decoded and validated,
// and objects of other kinds (the ConfigMaps and Secrets a graph's file often carries), as
// they were.
type Documents []Document

// Document is one document of a manifest file: a graph or another object. A graph written as
// v1beta1 is converted to v1alpha1 (losslessly: ConvertTo gives it back); Version says which
// version the file used.
type Document struct {
	Graph   *v1alpha1.DynamoGraphDeployment
	Version string
	Other   *unstructured.Unstructured
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
	schemas := map[string]*graphschema.Schema{}
	for version, compile := range map[string]func() (*graphschema.Schema, error){
		v1alpha1.GroupVersion.Version: graphschema.DGD, v1beta1.GroupVersion.Version: graphschema.DGDBeta} {
		s, err := compile()
		if err != nil {
			return nil, err
		}
		schemas[version] = s
	}
	// Validation (CEL above all) costs about a millisecond a graph: documents are decoded on
	// every core (a file of 20,000 graphs took 21 s on one).
	var mu sync.Mutex
	decoded := map[int]Document{}
	keep := func(i int, d Document) {
		mu.Lock()
		decoded[i] = d
		mu.Unlock()
	}
	n, err := yamldoc.EachParallel(r, source, goruntime.GOMAXPROCS(0), func(i int, raw []byte) error {
		// Integers stay int64 (as the API server decodes them): CEL rules compare them with ints.
		js, err := yaml.YAMLToJSON(raw)
		if err != nil {
			return err
		}
		if kind := jsonKind(js); kind != "object" {
			return fmt.Errorf("a document that is %s, not an object with apiVersion and kind", kind)
		}
		u := map[string]any{}
		if err := utiljson.Unmarshal(js, &u); err != nil {
			return err
		}
		obj := &unstructured.Unstructured{Object: u}
		gvk := obj.GroupVersionKind()
		if gvk.Kind != "DynamoGraphDeployment" || gvk.Group != v1alpha1.GroupVersion.Group {
			if gvk.Kind == "" || gvk.Version == "" {
				return fmt.Errorf("a document without apiVersion and kind")
			}
			keep(i, Document{Other: obj})
			return nil
		}
		schema, served := schemas[gvk.Version]
		if !served {
			return fmt.Errorf("DynamoGraphDeployment %s: dynamo-infra serves %s and %s", gvk.GroupVersion(), v1beta1.GroupVersion, v1alpha1.GroupVersion)
		}
		// The API server validates a graph in the namespace of the request; with none given
		// (and none in the file), as if in "default", which the output does not name.
		if m, ok := u["metadata"]; ok {
			if _, isMap := m.(map[string]any); !isMap {
				return fmt.Errorf("metadata: want an object (name, namespace, labels), not %v", m)
			}
		}
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
		if _, _, err := graphDecoder.Decode(raw, nil, nil); err != nil {
			// A value of the wrong type (spec: 42) is said as the API server says it, naming
			// the field, rather than as Go's decoder does.
			if runtime.IsStrictDecodingError(err) {
				return err // an unknown or duplicate field, named with its path
			}
			if verr := schema.DefaultAndValidate(context.Background(), u); verr != nil {
				return verr
			}
			return err
		}
		// Then as the API server: defaults, schema, list keys and CEL rules of our CRD.
		if err := schema.DefaultAndValidate(context.Background(), u); err != nil {
			return err
		}
		if namespace == "" && ns == metav1.NamespaceDefault {
			unstructured.RemoveNestedField(u, "metadata", "namespace")
		}
		dgd, err := toGraph(u, gvk.Version)
		if err != nil {
			return err
		}
		keep(i, Document{Graph: dgd, Version: gvk.Version})
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make(Documents, n)
	for i := range out {
		out[i] = decoded[i]
	}
	return out, nil
}

// toGraph turns a validated graph into the v1alpha1 form the rest reads; a v1beta1 one is held
// to the rules upstream's webhook adds (v1beta1.Validate) and converted.
func toGraph(u map[string]any, version string) (*v1alpha1.DynamoGraphDeployment, error) {
	dgd := &v1alpha1.DynamoGraphDeployment{}
	if version == v1alpha1.GroupVersion.Version {
		return dgd, runtime.DefaultUnstructuredConverter.FromUnstructured(u, dgd)
	}
	beta := &v1beta1.DynamoGraphDeployment{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u, beta); err != nil {
		return nil, err
	}
	if errs := beta.Validate(); len(errs) > 0 {
		return nil, (&graphschema.InvalidError{Kind: "DynamoGraphDeployment.nvidia.com", Name: beta.Name, Errs: errs})
	}
	if err := dgd.ConvertFrom(beta); err != nil {
		return nil, err
	}
	return dgd, nil
}

// jsonKind names the kind of a JSON document's top value: "object", "a string", "a list", ….
func jsonKind(js []byte) string {
	for _, c := range js {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '{':
			return "object"
		case '[':
			return "a list"
		case '"':
			return "a string"
		case 'n':
			return "empty (null)"
		case 't', 'f':
			return "a boolean"
		default:
			return "a number"
		}
	}
	return "empty"
}
