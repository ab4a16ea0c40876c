// Package yamldoc walks the documents of a YAML (or JSON) stream, the one loop every manifest
// reader here needs: graphs, nodes, kwok configuration, CRDs.
package yamldoc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Each calls fn with every document of r that holds more than comments and whitespace, numbered
// from 1 as they appear. An error from reading or from fn stops the walk and comes back as
// "<source>: document N: <error>".
func Each(r io.Reader, source string, fn func(n int, doc []byte) error) error {
	dec := utilyaml.NewYAMLReader(bufio.NewReader(r))
	for n := 1; ; n++ {
		doc, err := dec.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err == nil && Empty(doc) {
			continue
		}
		if err == nil {
			err = fn(n, doc)
		}
		if err != nil {
			return fmt.Errorf("%s: document %d: %w", source, n, err)
		}
	}
}

// Empty reports whether a document holds only comments, whitespace and "---" markers.
func Empty(doc []byte) bool {
	for _, l := range bytes.Split(doc, []byte("\n")) {
		t := bytes.TrimSpace(l)
		if len(t) > 0 && t[0] != '#' && !bytes.Equal(t, []byte("---")) {
			return false
		}
	}
	return true
}
