package render

import (
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
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
// strictly: an unknown or duplicate field is an error naming its path. namespace fills in
// documents without one. source names r in errors.
func DecodeGraphs(r io.Reader, source, namespace string) ([]*v1alpha1.DynamoGraphDeployment, error) {
	var out []*v1alpha1.DynamoGraphDeployment
	err := yamldoc.Each(r, source, func(_ int, raw []byte) error {
		obj, gvk, err := graphDecoder.Decode(raw, nil, nil)
		if err != nil {
			return err
		}
		dgd, ok := obj.(*v1alpha1.DynamoGraphDeployment)
		if !ok {
			return fmt.Errorf("%s is not a DynamoGraphDeployment", gvk.Kind)
		}
		if dgd.Namespace == "" {
			dgd.Namespace = namespace
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
