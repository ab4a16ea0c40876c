package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
)

func TestParseSMIFiles(t *testing.T) {
	tests := []struct {
		file    string
		want    []SMIGPU
		wantErr string
	}{
		{file: "h100x8.csv", want: func() []SMIGPU {
			var g []SMIGPU
			for i := range 8 {
				g = append(g, SMIGPU{Index: i, Name: "NVIDIA-H100-80GB-HBM3", MemoryMiB: 81559, MIGMode: "Disabled"})
			}
			return g
		}()},
		{file: "a100x4-mig.csv", want: []SMIGPU{
			{0, "NVIDIA-A100-SXM4-80GB", 81920, "Enabled"}, {1, "NVIDIA-A100-SXM4-80GB", 81920, "Enabled"},
			{2, "NVIDIA-A100-SXM4-80GB", 81920, "Disabled"}, {3, "NVIDIA-A100-SXM4-80GB", 81920, "Disabled"},
		}},
		{file: "l4x1.csv", want: []SMIGPU{{0, "NVIDIA-L4", 23034, ""}}},
		{file: "no-driver.txt", wantErr: "line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", "nvidia-smi", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := ParseSMI(f)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseSMILines(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
	}{
		{"0, NVIDIA H100 80GB HBM3, 81559 MiB, Disabled", "not a MiB count"},
		{"x, NVIDIA L4, 23034, [N/A]", `index "x"`},
		{"0, , 23034, [N/A]", "empty GPU name"},
		{"0, NVIDIA L4, 23034", "want 4 comma-separated fields"},
		{"0, NVIDIA L4, 23034, Pending", `mig.mode.current "Pending"`},
		{"", "no GPUs"},
		{"\n\n", "no GPUs"},
	}
	for _, tt := range tests {
		_, err := ParseSMI(strings.NewReader(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ParseSMI(%q) error %v, want %q", tt.in, err, tt.wantErr)
		}
	}
	// A name with a comma still parses: the name is everything between index and memory.
	g, err := ParseSMI(strings.NewReader("3, Odd, Name GPU, 1024, Disabled\n"))
	if err != nil || g[0].Name != "Odd,Name-GPU" || g[0].MemoryMiB != 1024 {
		t.Errorf("comma in name: %+v, %v", g, err)
	}
}

func TestApplyProbe(t *testing.T) {
	n := NodeFacts(makeNode("aks").label(nvidia.LabelAKSAccelerator, "nvidia").res(nvidia.ResourceGPU, 4).obj())
	ApplyProbe(&n, []SMIGPU{{0, "NVIDIA-A100-SXM4-80GB", 81920, "Enabled"}, {1, "NVIDIA-A100-SXM4-80GB", 81920, "Disabled"}})
	if n.Product != "NVIDIA-A100-SXM4-80GB" || n.MemoryMiB != 81920 || n.Count != 4 || !n.MIG.Capable || n.NeedsProbe() {
		t.Errorf("after probe: %+v", n)
	}
	// Labels win over the probe.
	h := NodeFacts(gfdH100("h").obj())
	ApplyProbe(&h, []SMIGPU{{0, "Other", 1, "Disabled"}})
	if h.Product != "NVIDIA-H100-80GB-HBM3" || h.MemoryMiB != 81559 {
		t.Errorf("probe overwrote labels: %+v", h)
	}
}

func FuzzParseSMI(f *testing.F) {
	for _, name := range []string{"h100x8.csv", "a100x4-mig.csv", "l4x1.csv", "no-driver.txt"} {
		b, err := os.ReadFile(filepath.Join("testdata", "nvidia-smi", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, s string) {
		gpus, err := ParseSMI(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, g := range gpus {
			if g.Index < 0 || g.MemoryMiB <= 0 || g.Name == "" || strings.ContainsAny(g.Name, " \t") {
				t.Fatalf("accepted bad GPU %+v from %q", g, s)
			}
		}
	})
}
