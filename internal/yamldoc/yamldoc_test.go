package yamldoc

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestEach(t *testing.T) {
	in := "# header\n---\na: 1\n---\n# only a comment\n---\n\n---\nb: 2\n"
	var got []string
	err := Each(strings.NewReader(in), "f.yaml", func(n int, doc []byte) error {
		got = append(got, strings.TrimSpace(string(doc))+"@"+string(rune('0'+n)))
		return nil
	})
	if err != nil || strings.Join(got, ",") != "a: 1@2,b: 2@5" {
		t.Errorf("got %v, %v", got, err)
	}
	err = Each(strings.NewReader("a: 1\n---\nb: 2\n"), "f.yaml", func(n int, _ []byte) error {
		if n == 2 {
			return errors.New("bad")
		}
		return nil
	})
	if err == nil || err.Error() != "f.yaml: document 2: bad" {
		t.Errorf("error %v", err)
	}
}

func FuzzEach(f *testing.F) {
	f.Add("a: 1\n---\nb: [\n")
	f.Add("---\n---\n# x\n")
	f.Fuzz(func(t *testing.T, s string) {
		_ = Each(strings.NewReader(s), "fuzz", func(int, []byte) error { return nil })
	})
}

// A stream with no end (/dev/zero) or a huge document is refused at MaxBytes, not read until
// memory runs out; an error quoting a whole document is cut.
func TestBounds(t *testing.T) {
	err := Each(io.LimitReader(zeros{}, MaxBytes+1), "zero", func(int, []byte) error { return nil })
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("endless stream: %v, want ErrTooLarge", err)
	}
	doc := "a: " + strings.Repeat("x", 100000) + "\n"
	err = Each(strings.NewReader(doc), "big", func(_ int, d []byte) error { return fmt.Errorf("bad document %s", d) })
	if err == nil || len(err.Error()) > MaxErrorChars+100 || !strings.Contains(err.Error(), "more characters") {
		t.Errorf("error of %d characters: %.200s", len(err.Error()), err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
