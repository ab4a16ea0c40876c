package deploy

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
)

// Our example graphs decode strictly and render; the GPU ones ask for GPUs on prefill and decode,
// the CPU one for none, with the same three services; the multi-node one's decode is a
// LeaderWorkerSet of 2 pods × 8 GPUs.
func TestExampleGraphs(t *testing.T) {
	for file, wantGPU := range map[string]bool{"dgd.yaml": true, "dgd-cpu.yaml": false, "dgd-multinode.yaml": true} {
		docs, err := render.ReadGraphs(filepath.Join(deployDir, "discovery", file), nil, "default")
		graphs := docs.Graphs()
		if err != nil || len(graphs) != 1 {
			t.Fatalf("%s: %d graphs, %v", file, len(graphs), err)
		}
		g, _ := graph.Resolve(graphs[0], graph.Options{})
		if got := strings.Join(g.Names(), ","); got != "Decode,Frontend,Prefill" {
			t.Errorf("%s: services %s", file, got)
		}
		for _, c := range g.Components {
			name := c.Name
			tmpl, err := render.PodTemplate(g, c, render.Config{})
			spec := tmpl.Spec
			if err != nil {
				t.Fatalf("%s/%s: %v", file, name, err)
			}
			_, gpu := render.MainContainer(&spec).Resources.Limits["nvidia.com/gpu"]
			if want := wantGPU && name != "Frontend"; gpu != want {
				t.Errorf("%s/%s: GPU limit %v, want %v", file, name, gpu, want)
			}
		}
		if file == "dgd-multinode.yaml" {
			lws, err := render.LeaderWorkerSet(g, g.Component("Decode"), render.Config{})
			if err != nil || *lws.Spec.LeaderWorkerTemplate.Size != 2 {
				t.Errorf("%s: Decode LeaderWorkerSet %v (%v)", file, lws, err)
			}
		}
	}
}
