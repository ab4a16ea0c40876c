package plan

import (
	"slices"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/dynamo-infra/dynamo-infra/internal/kube"
	"github.com/dynamo-infra/dynamo-infra/internal/kubenode"
	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
	"github.com/dynamo-infra/dynamo-infra/internal/topology"
)

// --add-nodes KIND=COUNT: nodes named what-if-KIND-0.. per kind, Ready, without the kwok taint;
// a rack kind's in what-if racks and cliques of their own.
func TestWhatIfNodes(t *testing.T) {
	o := parsed(t, "-f", "x.yaml", "--add-nodes", "h100=2,gb200=1", "--add-nodes", "h100=1")
	if err := o.Complete(nil); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range o.added {
		names = append(names, n.Name)
		if len(n.Spec.Taints) != 0 || !kubenode.Ready(&n) {
			t.Errorf("%s: taints %v ready %v", n.Name, n.Spec.Taints, kubenode.Ready(&n))
		}
	}
	if want := []string{"what-if-h100-0", "what-if-h100-1", "what-if-gb200-0", "what-if-h100-2"}; !slices.Equal(names, want) {
		t.Errorf("names %v, want %v", names, want)
	}
	if gb := o.added[2]; gb.Labels[topology.LabelRack] != "what-if-gb200-rack-0" || gb.Labels[nvidia.LabelGPUClique] == "" || gb.Labels[nvidia.LabelGPUClique][:8] != "what-if-" {
		t.Errorf("gb200 labels %v", gb.Labels)
	}
	for _, bad := range []string{"h100", "h100=0", "tpu=1"} {
		if err := parsed(t, "-f", "x.yaml", "--add-nodes", bad).Complete(nil); err == nil {
			t.Errorf("--add-nodes %s accepted", bad)
		}
	}
}

// parsed is the command's options after its flags are parsed.
func parsed(t *testing.T, args ...string) *Options {
	t.Helper()
	var o *Options
	cmd := NewCommand(kube.NewConfigFlags(), genericiooptions.NewTestIOStreamsDiscard(), func(x *Options) { o = x })
	if err := cmd.Flags().Parse(args); err != nil {
		t.Fatal(err)
	}
	return o
}
