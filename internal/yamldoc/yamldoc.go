// Package yamldoc walks the documents of a YAML (or JSON) stream, the one loop every manifest
// reader here needs: graphs, nodes, kwok configuration, CRDs.
package yamldoc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"unicode/utf8"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// MaxBytes bounds a stream Each reads: a manifest, a node list of thousands of nodes and our
// CRDs are a few MiB; /dev/zero or a wrong file would otherwise be read until memory runs out.
const MaxBytes = 64 << 20

// MaxErrorChars bounds an error message: a decoder error can quote its whole document.
const MaxErrorChars = 512

// ErrTooLarge means a stream was longer than MaxBytes.
var ErrTooLarge = fmt.Errorf("larger than %d MiB (not a manifest?)", MaxBytes>>20)

// Each calls fn with every document of r that holds more than comments and whitespace, numbered
// from 1 as they appear. An error from reading or from fn stops the walk and comes back as
// "<source>: document N: <error>", cut to MaxErrorChars.
func Each(r io.Reader, source string, fn func(n int, doc []byte) error) error {
	dec := utilyaml.NewYAMLReader(bufio.NewReader(&boundedReader{r: r, left: MaxBytes}))
	for n := 1; ; n++ {
		doc, err := dec.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if errors.Is(err, ErrTooLarge) {
			return fmt.Errorf("%s: %w", source, ErrTooLarge)
		}
		if err == nil && Empty(doc) {
			continue
		}
		if err == nil {
			err = fn(n, doc)
		}
		if err != nil {
			return fmt.Errorf("%s: document %d: %w", source, n, Shorten(err))
		}
	}
}

// EachParallel is Each with fn run on up to workers documents at once (fn must be safe for
// that): the documents are read first (MaxBytes bounds them), then decoded together. fn gets
// each document's index among the non-empty ones (0, 1, …), so results keep the file's order;
// of several failing documents, the first in the file is the error returned.
func EachParallel(r io.Reader, source string, workers int, fn func(i int, doc []byte) error) (int, error) {
	type numbered struct {
		n   int
		doc []byte
	}
	var docs []numbered
	if err := Each(r, source, func(n int, doc []byte) error {
		docs = append(docs, numbered{n, doc})
		return nil
	}); err != nil {
		return 0, err
	}
	errs := make([]error, len(docs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = fn(i, docs[i].doc)
			}
		}()
	}
	for i := range docs {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return len(docs), fmt.Errorf("%s: document %d: %w", source, docs[i].n, Shorten(err))
		}
	}
	return len(docs), nil
}

// boundedReader fails with ErrTooLarge once more than left bytes were asked of it.
type boundedReader struct {
	r    io.Reader
	left int64
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, ErrTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

// Shorten cuts err's message to MaxErrorChars, keeping it unwrappable.
func Shorten(err error) error {
	if err == nil || len(err.Error()) <= MaxErrorChars {
		return err
	}
	return shortError{err}
}

type shortError struct{ err error }

func (e shortError) Error() string {
	msg := e.err.Error()
	cut := MaxErrorChars
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut-- // never split a character
	}
	return msg[:cut] + fmt.Sprintf("… (%d more characters)", len(msg)-cut)
}

func (e shortError) Unwrap() error { return e.err }

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
