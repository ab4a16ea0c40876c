// Package output implements the -o flag shared by dynamoctl commands.
package output

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// Format is an -o value.
type Format string

// Formats every command may offer.
const (
	Table Format = "table"
	Wide  Format = "wide"
	JSON  Format = "json"
	YAML  Format = "yaml"
	// Text is prose for a person, for commands whose answer is not rows (dynamoctl explain).
	Text Format = "text"
)

// Flag is an -o/--output flag restricted to a set of formats.
type Flag struct {
	Value   string
	allowed []Format
}

// AddFlag registers -o on cmd with the given formats; the first is the default.
func AddFlag(cmd *cobra.Command, allowed ...Format) *Flag {
	f := &Flag{Value: string(allowed[0]), allowed: allowed}
	names := f.names()
	cmd.Flags().StringVarP(&f.Value, "output", "o", f.Value, "Output format: "+strings.Join(names, "|"))
	_ = cmd.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return names, cobra.ShellCompDirectiveNoFileComp
	})
	return f
}

func (f *Flag) names() []string {
	names := make([]string, len(f.allowed))
	for i, a := range f.allowed {
		names[i] = string(a)
	}
	return names
}

// Format validates and returns the chosen format.
func (f *Flag) Format() (Format, error) {
	v := Format(strings.ToLower(f.Value))
	if !slices.Contains(f.allowed, v) {
		return "", fmt.Errorf("unknown output format %q: use one of %s", f.Value, strings.Join(f.names(), ", "))
	}
	return v, nil
}

// Encode writes v as JSON or YAML.
func Encode(w io.Writer, format Format, v any) error {
	switch format {
	case JSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case YAML:
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return fmt.Errorf("format %q is not a data format", format)
}

// WriteTable writes rows under a header as kubectl does: upper-case columns, two spaces apart.
func WriteTable(w io.Writer, header []string, rows [][]string) error {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// Rows with empty last cells would end in padding.
	lines := strings.SplitAfter(b.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(strings.TrimSuffix(l, "\n"), " ")
		if strings.HasSuffix(l, "\n") {
			lines[i] += "\n"
		}
	}
	_, err := io.WriteString(w, strings.Join(lines, ""))
	return err
}

// Stream writes encoded objects as a YAML stream (--- between documents) or as the items of a
// JSON List, formatted as Encode formats one.
type Stream struct {
	out   io.Writer
	json  bool
	count int
}

// Write adds one encoded object (JSON or YAML, as the stream is).
func (s *Stream) Write(b []byte) error {
	var err error
	switch {
	case s.json:
		sep := ",\n    "
		if s.count == 0 {
			sep = "{\n  \"apiVersion\": \"v1\",\n  \"items\": [\n    "
		}
		var ind bytes.Buffer
		if err = json.Indent(&ind, b, "    ", "  "); err == nil {
			_, err = io.WriteString(s.out, sep+ind.String())
		}
	default:
		if s.count > 0 {
			if _, err = io.WriteString(s.out, "---\n"); err != nil {
				return err
			}
		}
		_, err = s.out.Write(b)
	}
	s.count++
	return err
}

// Close ends the stream (the JSON List).
func (s *Stream) Close() error {
	if !s.json {
		return nil
	}
	end := "\n  ],\n  \"kind\": \"List\"\n}\n"
	if s.count == 0 {
		end = "{\n  \"apiVersion\": \"v1\",\n  \"items\": [],\n  \"kind\": \"List\"\n}\n"
	}
	_, err := io.WriteString(s.out, end)
	return err
}

// NewStream starts a stream on w.
func NewStream(w io.Writer, asJSON bool) *Stream { return &Stream{out: w, json: asJSON} }

// WriteObjects encodes objects as one stream.
func WriteObjects(w io.Writer, objs []runtime.Object, asJSON bool) error {
	s := NewStream(w, asJSON)
	for _, obj := range objs {
		var b []byte
		var err error
		if asJSON {
			b, err = json.Marshal(obj)
		} else {
			b, err = yaml.Marshal(obj)
		}
		if err != nil {
			return err
		}
		if err := s.Write(b); err != nil {
			return err
		}
	}
	return s.Close()
}
