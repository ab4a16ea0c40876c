package simnode

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseProfile(t *testing.T) {
	tests := []struct {
		in      string
		want    Profile
		wantErr string
	}{
		{in: "h100=4,a100-mig=2,cpu=2", want: Profile{{"h100", 4}, {"a100-mig", 2}, {"cpu", 2}}},
		{in: " H100 = 2 , cpu ", want: Profile{{"h100", 2}, {"cpu", 1}}},
		{in: "l4=200", want: Profile{{"l4", 200}}},
		{in: "h200=1,a100-40g=1,a100-80g=1,l4=1", want: Profile{{"h200", 1}, {"a100-40g", 1}, {"a100-80g", 1}, {"l4", 1}}},
		{in: "", wantErr: "empty node profile"},
		{in: "   ", wantErr: "empty node profile"},
		{in: "h100=2,,cpu=1", wantErr: "empty entry"},
		{in: "h100=2,", wantErr: "empty entry"},
		{in: "b300=1", wantErr: `unknown node kind "b300" in profile: use one of h100, h200`},
		{in: "=3", wantErr: `unknown node kind ""`},
		{in: "h100=0", wantErr: `bad count "0" for node kind "h100": want a whole number from 1 to 200`},
		{in: "h100=-1", wantErr: `bad count "-1"`},
		{in: "h100=two", wantErr: `bad count "two"`},
		{in: "h100=", wantErr: `bad count ""`},
		{in: "h100=201", wantErr: `bad count "201"`},
		{in: "h100=1.5", wantErr: `bad count "1.5"`},
		{in: "h100=1,h100=2", wantErr: `node kind "h100" appears twice`},
		{in: "h100=200,h200=200,l4=200,cpu=200,a100-40g=200,a100-80g=1", wantErr: "asks for 1001 nodes: at most 1000"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseProfile(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseProfile(%q) error = %v, want it to contain %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseProfile(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseProfile(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestProfileStringRoundTrip(t *testing.T) {
	p := Profile{{"h100", 4}, {"a100-mig", 2}, {"cpu", 1}}
	if got := p.String(); got != "h100=4,a100-mig=2,cpu=1" {
		t.Fatalf("String() = %q", got)
	}
	back, err := ParseProfile(p.String())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if p.Total() != 7 {
		t.Errorf("Total() = %d, want 7", p.Total())
	}
}

func FuzzParseProfile(f *testing.F) {
	for _, s := range []string{"h100=4,a100-mig=2,cpu=2", "cpu", "h100=0", "l4=2,,", "=", "a100-40g=99999999999999999999", "H200 = 3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseProfile(s)
		if err != nil {
			if p != nil {
				t.Fatalf("error %v with a non-nil profile", err)
			}
			return
		}
		if len(p) == 0 || p.Total() > MaxNodes {
			t.Fatalf("accepted %q as %v", s, p)
		}
		seen := map[string]bool{}
		for _, e := range p {
			if _, ok := LookupNodeKind(e.Kind); !ok || e.Count < 1 || e.Count > MaxNodesPerKind || seen[e.Kind] {
				t.Fatalf("accepted bad entry %+v from %q", e, s)
			}
			seen[e.Kind] = true
		}
		again, err := ParseProfile(p.String())
		if err != nil || !cmp.Equal(p, again) {
			t.Fatalf("round trip of %q: %v, %v", p.String(), again, err)
		}
	})
}
