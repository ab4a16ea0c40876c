// Package convert is `dynamoctl convert`: move DynamoGraphDeployment manifests between
// nvidia.com/v1alpha1 and nvidia.com/v1beta1 offline, with the conversion the API server runs.
package convert

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/api/v1beta1"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/command"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/exit"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/output"
	"github.com/dynamo-infra/dynamo-infra/internal/kube"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
	"github.com/dynamo-infra/dynamo-infra/internal/residual"
)

// Options are the flags of `dynamoctl convert`.
type Options struct {
	File string
	To   string
	// KeepUnconvertible keeps what the target version cannot hold in the conversion
	// annotations (as the API server does), so converting back gives the file again.
	KeepUnconvertible bool

	out     *output.Flag
	format  output.Format
	flags   *kube.ConfigFlags
	streams genericiooptions.IOStreams
}

// NewCommand returns `dynamoctl convert`.
func NewCommand(flags *kube.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{flags: flags, streams: streams}
	cmd := &cobra.Command{
		Use:   "convert -f FILE --to v1beta1|v1alpha1",
		Short: "Convert DynamoGraphDeployment manifests between nvidia.com/v1alpha1 and v1beta1",
		Long: `Decode the DynamoGraphDeployments of a file (either version, validated as the API server
validates them), convert each to the version --to names with the code the operator's
conversion webhook runs, and print them; other documents of the file are printed unchanged, in
their place. Nothing is sent to a cluster.

What the target version cannot hold (v1alpha1's spec.pvcs and a service's ingress in v1beta1;
v1beta1's component order, minAvailable and roles in v1alpha1, ...) is kept, as the API server
keeps it, in the annotation nvidia.com/dgd-spec, and named on standard error: converting back
gives the same graph. --keep-unconvertible=false leaves it out instead (a clean manifest; the
named fields are lost).

Exit status: 0 converted; 2 the file is invalid or --to names no version.`,
		Example: `  dynamoctl convert -f dgd.yaml --to v1beta1 > dgd.v1beta1.yaml
  dynamoctl convert -f old/ --to v1beta1 --keep-unconvertible=false
  kubectl get dgd my-graph -o yaml | dynamoctl convert -f - --to v1beta1`,
		Args: cobra.NoArgs,
	}
	cmd.Flags().StringVarP(&o.File, "filename", "f", "", "DynamoGraphDeployment manifest (- for stdin)")
	cmd.Flags().StringVar(&o.To, "to", v1beta1.GroupVersion.Version, "version to convert to: v1beta1 or v1alpha1 (nvidia.com/ may be given)")
	cmd.Flags().BoolVar(&o.KeepUnconvertible, "keep-unconvertible", true, "keep what the target version cannot hold in the nvidia.com/dgd-spec annotation")
	_ = cmd.MarkFlagRequired("filename")
	_ = cmd.MarkFlagFilename("filename", "yaml", "yml", "json")
	_ = cmd.RegisterFlagCompletionFunc("to", cobra.FixedCompletions([]string{"v1beta1", "v1alpha1"}, cobra.ShellCompDirectiveNoFileComp))
	o.out = output.AddFlag(cmd, output.YAML, output.JSON)
	return command.Bind(cmd, o)
}

// Complete reads the output format and the target version.
func (o *Options) Complete(_ []string) error {
	var err error
	o.format, err = o.out.Format()
	o.To = strings.TrimPrefix(o.To, v1alpha1.GroupVersion.Group+"/")
	return err
}

// Validate checks --to.
func (o *Options) Validate() error {
	if o.To != v1alpha1.GroupVersion.Version && o.To != v1beta1.GroupVersion.Version {
		return fmt.Errorf("--to %q: want v1beta1 or v1alpha1", o.To)
	}
	return nil
}

// Run converts and prints.
func (o *Options) Run(_ context.Context) error {
	docs, err := render.ReadGraphs(o.File, o.streams.In, kube.Namespace(o.flags))
	if err != nil {
		return exit.UsageError(fmt.Errorf("-f: %w", err))
	}
	objs := make([]runtime.Object, 0, len(docs))
	for _, doc := range docs {
		if doc.Graph == nil {
			objs = append(objs, doc.Other)
			continue
		}
		obj, kept, err := o.convert(doc.Graph)
		if err != nil {
			return exit.UsageError(fmt.Errorf("%s: graph %s: %w", o.File, doc.Graph.Name, err))
		}
		if len(kept) > 0 {
			verb := "kept in the annotation " + v1alpha1.AnnotationConversionSpec
			if !o.KeepUnconvertible {
				verb = "left out (--keep-unconvertible=false)"
			}
			fmt.Fprintf(o.streams.ErrOut, "graph %s: not expressible as written in %s (a field it has not, or the same meaning spelled otherwise): %s: %s\n", doc.Graph.Name, o.To, strings.Join(kept, ", "), verb)
		}
		objs = append(objs, obj)
	}
	return output.WriteObjects(o.streams.Out, objs, o.format == output.JSON)
}

// convert gives the graph (read as v1alpha1, whatever the file's version) in the target
// version and the fields that version cannot hold.
func (o *Options) convert(g *v1alpha1.DynamoGraphDeployment) (runtime.Object, []string, error) {
	g = g.DeepCopy()
	var out interface {
		runtime.Object
		metav1.Object
	}
	if o.To == v1beta1.GroupVersion.Version {
		beta := &v1beta1.DynamoGraphDeployment{}
		if err := g.ConvertTo(beta); err != nil {
			return nil, nil, err
		}
		beta.Kind = "DynamoGraphDeployment"
		out = beta
	} else {
		// A graph read from v1beta1 holds its v1beta1 form in the annotation: converting it to
		// v1beta1 and back gives the v1alpha1 form with what v1alpha1 cannot hold annotated.
		beta := &v1beta1.DynamoGraphDeployment{}
		if err := g.ConvertTo(beta); err != nil {
			return nil, nil, err
		}
		alpha := &v1alpha1.DynamoGraphDeployment{}
		if err := alpha.ConvertFrom(beta); err != nil {
			return nil, nil, err
		}
		alpha.Kind = "DynamoGraphDeployment"
		out = alpha
	}
	var kept []string
	annotations := out.GetAnnotations()
	if raw, ok := annotations[v1alpha1.AnnotationConversionSpec]; ok {
		rec, err := residual.Decode(raw)
		if err != nil {
			return nil, nil, err
		}
		kept = rec.Paths("spec")
		if !o.KeepUnconvertible {
			delete(annotations, v1alpha1.AnnotationConversionSpec)
			if len(annotations) == 0 {
				annotations = nil
			}
			out.SetAnnotations(annotations)
		}
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(out)
	if err != nil {
		return nil, nil, err
	}
	return &unstructured.Unstructured{Object: tidy(u).(map[string]any)}, kept, nil
}

// tidy drops what Go's types add to a manifest and a person would not write: nulls
// (creationTimestamp) and empty metadata, resources and status. Other empty objects stay:
// scalingAdapter: {} means something.
func tidy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			e = tidy(e)
			if m, ok := e.(map[string]any); e == nil || ok && len(m) == 0 && (k == "metadata" || k == "resources" || k == "status") {
				delete(t, k)
				continue
			}
			t[k] = e
		}
	case []any:
		for i, e := range t {
			t[i] = tidy(e)
		}
	}
	return v
}
