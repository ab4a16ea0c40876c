// Command examples holds DynamoGraphDeployment manifests to both judges: dynamoctl render
// (decode, the CRD's schema and CEL, upstream's webhook rules, then render) and a real API
// server with the CRD and the operator's webhooks (a server-side dry-run create of each graph,
// strict field validation). It prints a Markdown table — file, render's verdict, the API
// server's, whether they agree — for docs/api/v1beta1.md's table of upstream's examples, which
// are read with the search tool and not kept in this repository.
//
//	go run ./hack/examples DIR
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/internal/devcluster"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
	"github.com/dynamo-infra/dynamo-infra/internal/simnode"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
	"github.com/dynamo-infra/dynamo-infra/internal/yamldoc"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run ./hack/examples DIR")
		os.Exit(2)
	}
	if err := run(context.Background(), os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "examples:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dir string) (err error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no manifests (*.yaml) in %s", dir)
	}
	slices.Sort(files)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	p, _ := simnode.ParseProfile("cpu=1")
	c, err := devcluster.Start(ctx, devcluster.Options{Profile: p, StartTimeout: 5 * time.Minute})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, c.Stop()) }()
	for _, crd := range []string{testkit.CRDPath(), testkit.WorkerMetadataCRDPath()} {
		raw, err := os.ReadFile(crd)
		if err != nil {
			return err
		}
		if err := devcluster.InstallCRDs(ctx, c.RESTConfig(), raw); err != nil {
			return err
		}
	}
	if err := devcluster.ServeConversion(ctx, c.RESTConfig()); err != nil {
		return err
	}
	dyn := dynamic.NewForConfigOrDie(c.RESTConfig())
	fmt.Println("| file | render | API server | agree |")
	fmt.Println("| --- | --- | --- | --- |")
	agreed := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		r := renderVerdict(raw, f)
		a := apiVerdict(ctx, dyn, raw)
		// A graph the API server admits and render cannot render is a disagreement too.
		same := (strings.HasPrefix(r, "accepted") && !strings.HasPrefix(r, "accepted; render fails")) == strings.HasPrefix(a, "accepted")
		if same {
			agreed++
		}
		fmt.Printf("| %s | %s | %s | %s |\n", filepath.Base(f), cell(r), cell(a), map[bool]string{true: "yes", false: "**no**"}[same])
	}
	fmt.Printf("\n%d of %d files: render and the API server agree\n", agreed, len(files))
	return nil
}

// renderVerdict: refused (the file), or accepted, with the fields reported as not implemented.
func renderVerdict(raw []byte, name string) string {
	docs, err := render.DecodeDocuments(bytes.NewReader(raw), name, "default")
	if err != nil {
		return "refused: " + err.Error()
	}
	var notes []string
	for _, d := range docs {
		if d.Graph == nil {
			continue
		}
		g, _ := graph.Resolve(d.Graph, graph.Options{})
		if _, err := render.Graph(g, render.Config{}); err != nil {
			var u *graph.UnimplementedError
			if errors.As(err, &u) {
				for _, f := range u.Fields {
					notes = append(notes, f.Path)
				}
				continue
			}
			return "accepted; render fails: " + err.Error()
		}
	}
	if len(notes) > 0 {
		return "accepted; reported: " + strings.Join(notes, ", ")
	}
	return "accepted, rendered"
}

// apiVerdict dry-runs a create of each graph of the file.
func apiVerdict(ctx context.Context, dyn dynamic.Interface, raw []byte) string {
	var out []string
	err := yamldoc.Each(bytes.NewReader(raw), "file", func(_ int, doc []byte) error {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &u.Object); err != nil {
			return err
		}
		if u.GetKind() != "DynamoGraphDeployment" {
			return nil
		}
		u.SetNamespace("default")
		gvr := u.GroupVersionKind().GroupVersion().WithResource("dynamographdeployments")
		_, err := dyn.Resource(gvr).Namespace("default").Create(ctx, u, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: metav1.FieldValidationStrict})
		if err != nil {
			out = append(out, "refused: "+err.Error())
		}
		return nil
	})
	if err != nil {
		return "refused: " + err.Error()
	}
	if len(out) > 0 {
		return strings.Join(out, "; ")
	}
	return "accepted"
}

func cell(s string) string {
	s = strings.ReplaceAll(s, "|", "\\|")
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 220 {
		s = s[:220] + "…"
	}
	return s
}
