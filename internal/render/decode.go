package render

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
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
// strictly: an unknown or duplicate field is an error naming its path. namespace fills in
// documents without one. source names r in errors.
func DecodeGraphs(r io.Reader, source, namespace string) ([]*v1alpha1.DynamoGraphDeployment, error) {
	dec := utilyaml.NewYAMLReader(bufio.NewReader(r))
	var out []*v1alpha1.DynamoGraphDeployment
	for doc := 1; ; doc++ {
		raw, err := dec.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", source, doc, err)
		}
		if isEmptyDoc(raw) {
			continue
		}
		obj, gvk, err := graphDecoder.Decode(raw, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", source, doc, err)
		}
		dgd, ok := obj.(*v1alpha1.DynamoGraphDeployment)
		if !ok {
			return nil, fmt.Errorf("%s: document %d: %s is not a DynamoGraphDeployment", source, doc, gvk.Kind)
		}
		if dgd.Namespace == "" {
			dgd.Namespace = namespace
		}
		out = append(out, dgd)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no DynamoGraphDeployment found", source)
	}
	return out, nil
}

func isEmptyDoc(raw []byte) bool {
	var v any
	if err := yaml.Unmarshal(raw, &v); err != nil {
		return false
	}
	return v == nil || len(bytes.TrimSpace(raw)) == 0
}
