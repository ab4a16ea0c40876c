package rollout

import (
	"fmt"
	"testing"
	"time"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
)

// The original's arithmetic (docs/kubernetes/rolling-update.md and its resolveRollingUpdateParams):
// 25% each by default; a percentage rounds up for surge, down for unavailable; numbers as they
// are; both 0 makes surge 1.
func TestBounds(t *testing.T) {
	for _, tc := range []struct {
		surge, unavail string
		replicas       int32
		wantS, wantU   int32
	}{
		{"", "", 4, 1, 1},
		{"", "", 1, 1, 0},   // ceil(0.25) = 1, floor(0.25) = 0
		{"", "", 10, 3, 2},  // ceil(2.5), floor(2.5)
		{"", "", 0, 1, 0},   // nothing to roll: surge 1 keeps the rule
		{"1", "0", 4, 1, 0}, // the page's zero-downtime example
		{"0", "2", 8, 0, 2}, // the page's fast example
		{"0", "0", 5, 1, 0}, // both 0: surge 1
		{"50%", "50%", 3, 2, 1},
		{"100%", "0%", 7, 7, 0},
		{"abc", "", 4, 0, 1}, // not a number nor a percentage: 0, as the original
		{"abc", "x", 4, 1, 0},
	} {
		t.Run(fmt.Sprintf("%s/%s of %d", tc.surge, tc.unavail, tc.replicas), func(t *testing.T) {
			ann := map[string]string{}
			if tc.surge != "" {
				ann[v1alpha1.AnnotationMaxSurge] = tc.surge
			}
			if tc.unavail != "" {
				ann[v1alpha1.AnnotationMaxUnavailable] = tc.unavail
			}
			s, u := Bounds(ann, tc.replicas, false)
			if s != tc.wantS || u != tc.wantU {
				t.Errorf("Bounds = surge %d unavailable %d, want %d %d", s, u, tc.wantS, tc.wantU)
			}
		})
	}
}

// A multi-node service defaults to LeaderWorkerSet's own strategy: one group down, none extra.
func TestGroupBounds(t *testing.T) {
	if s, u := Bounds(nil, 4, true); s != 0 || u != 1 {
		t.Errorf("multi-node defaults: surge %d unavailable %d, want 0 1", s, u)
	}
	if s, u := Bounds(map[string]string{v1alpha1.AnnotationMaxSurge: "1"}, 4, true); s != 1 || u != 1 {
		t.Errorf("multi-node with maxSurge 1: surge %d unavailable %d, want 1 1", s, u)
	}
}

// simulate rolls one service from an old generation of replicas ready pods, applying each
// step's targets; ready(new) says how many new pods become ready (all of them, or none for a
// generation that cannot start). At every step the bounds hold: declared ≤ replicas + surge,
// available ≥ replicas − unavailable (counting only pods that were available).
func simulate(t *testing.T, replicas, surge, unavail int32, newStarts bool, steps int) Service {
	t.Helper()
	s := Service{Name: "decode", Replicas: replicas, MaxSurge: surge, MaxUnavailable: unavail,
		Old: []Workload{{Name: "old", Replicas: replicas, Available: replicas, Ready: replicas}}}
	for i := 0; i < steps && !Updated(s); i++ {
		tg := Step(s)
		declared := tg.New + tg.Old["old"]
		if declared > replicas+surge {
			t.Fatalf("step %d: %d declared, more than %d + %d", i, declared, replicas, surge)
		}
		// Old pods scaled away stop serving at once; new ones serve from the next step.
		s.Old[0].Replicas, s.Old[0].Available, s.Old[0].Ready = tg.Old["old"], tg.Old["old"], tg.Old["old"]
		if avail := s.Old[0].Available + s.New.Available; avail < replicas-unavail {
			t.Fatalf("step %d: %d available, fewer than %d − %d", i, avail, replicas, unavail)
		}
		s.New.Replicas = tg.New
		if newStarts {
			s.New.Available, s.New.Ready = tg.New, tg.New
		}
	}
	return s
}

func TestStepStaysWithinBoundsAndFinishes(t *testing.T) {
	for _, tc := range []struct{ replicas, surge, unavail int32 }{
		{1, 1, 0}, {2, 1, 0}, {4, 1, 1}, {8, 0, 2}, {8, 2, 0}, {10, 3, 2}, {3, 3, 3},
	} {
		t.Run(fmt.Sprintf("%d replicas surge %d unavailable %d", tc.replicas, tc.surge, tc.unavail), func(t *testing.T) {
			s := simulate(t, tc.replicas, tc.surge, tc.unavail, true, 100)
			if !Updated(s) || s.New.Replicas != tc.replicas || s.Old[0].Replicas != 0 {
				t.Errorf("not rolled after 100 steps: new %d old %d", s.New.Replicas, s.Old[0].Replicas)
			}
		})
	}
}

// A new generation that cannot start (its GPU node cordoned) never takes the old one below
// replicas − maxUnavailable, and never declares more than maxSurge extra pods.
func TestStepHoldsWhenTheNewGenerationCannotStart(t *testing.T) {
	s := simulate(t, 4, 1, 0, false, 20)
	if Updated(s) {
		t.Fatal("updated with no new pod ready")
	}
	if s.Old[0].Replicas != 4 || s.New.Replicas != 1 {
		t.Errorf("old %d new %d, want 4 and 1 (old keeps serving, one surge pod waits)", s.Old[0].Replicas, s.New.Replicas)
	}
	s = simulate(t, 4, 0, 1, false, 20)
	if s.Old[0].Replicas != 3 || s.New.Replicas != 1 {
		t.Errorf("maxSurge 0: old %d new %d, want 3 and 1", s.Old[0].Replicas, s.New.Replicas)
	}
}

// Old generations share the old target: the oldest gives up its pods first, unavailable pods
// go before serving ones.
func TestStepSplitsOldGenerations(t *testing.T) {
	t0 := time.Unix(1000, 0)
	s := Service{Name: "w", Replicas: 4, MaxSurge: 1, MaxUnavailable: 1, Old: []Workload{
		{Name: "gen1", Created: t0, Replicas: 2, Available: 2, Ready: 2},
		{Name: "gen2", Created: t0.Add(time.Minute), Replicas: 2, Available: 2, Ready: 2},
	}}
	tg := Step(s)
	if tg.Old["gen1"] != 1 || tg.Old["gen2"] != 2 || tg.New != 1 {
		t.Errorf("targets %+v, want gen1 1 gen2 2 new 1", tg)
	}
	s.Old[1].Available = 1 // one of gen2's pods is not serving: it goes first
	tg = Step(s)
	if tg.Old["gen1"]+tg.Old["gen2"] != 3 || tg.Old["gen2"] != 1 {
		t.Errorf("targets %+v, want the unavailable gen2 pod gone (gen1 2, gen2 1)", tg)
	}
}

func TestUpdated(t *testing.T) {
	s := Service{Replicas: 2, New: Workload{Replicas: 2, Ready: 2}, Old: []Workload{{Name: "o", Ready: 1}}}
	if Updated(s) {
		t.Error("updated while an old pod is ready")
	}
	s.Old[0].Ready = 0
	if !Updated(s) {
		t.Error("not updated with every new pod ready and no old one")
	}
}

func TestShare(t *testing.T) {
	for _, tc := range []struct {
		partition string
		replicas  int32
		want      int32
		err       bool
	}{
		{"", 4, 4, false}, {"30%", 4, 2, false}, {"30%", 1, 1, false}, {"1", 4, 1, false},
		{"0", 4, 0, false}, {"9", 4, 4, false}, {"half", 4, 0, true}, {"-1", 4, 0, true},
	} {
		got, err := Share(tc.partition, tc.replicas)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("Share(%q, %d) = %d, %v; want %d (error %v)", tc.partition, tc.replicas, got, err, tc.want, tc.err)
		}
	}
}

// A partitioned rollout moves its share and holds there: the new generation at the share, all
// ready, the old one serving the rest, and never completes; lifted, it finishes.
func TestHoldAtPartition(t *testing.T) {
	s := Service{Name: "decode", Replicas: 4, MaxSurge: 1, MaxUnavailable: 1,
		Old: []Workload{{Name: "old", Replicas: 4, Available: 4, Ready: 4}}}
	step := func(newMax int32) {
		tg := Hold(s, Step(s), newMax)
		if tg.New+tg.Old["old"] > s.Replicas+s.MaxSurge {
			t.Fatalf("%d declared, above replicas + surge", tg.New+tg.Old["old"])
		}
		s.Old[0].Replicas, s.Old[0].Available, s.Old[0].Ready = tg.Old["old"], tg.Old["old"], tg.Old["old"]
		s.New = Workload{Replicas: tg.New, Available: tg.New, Ready: tg.New}
	}
	for range 10 {
		step(2)
	}
	if s.New.Replicas != 2 || s.Old[0].Replicas != 2 || Updated(s) {
		t.Errorf("held at 2 of 4: new %d old %d updated %v", s.New.Replicas, s.Old[0].Replicas, Updated(s))
	}
	if tg := Paused(s); tg.New != 2 || tg.Old["old"] != 2 {
		t.Errorf("paused step %+v changes replicas", tg)
	}
	for i := 0; i < 10 && !Updated(s); i++ {
		step(4)
	}
	if !Updated(s) {
		t.Errorf("not finished once the partition is lifted: new %d old %d", s.New.Replicas, s.Old[0].Replicas)
	}
}

// Coordinated, a prefill (2 replicas) and a decode (8) roll together: at every step neither's
// new generation is more than one surge ahead of the other's ready share; when the new prefill
// cannot start, the decode stops one surge in (uncoordinated, it would roll all 8 with no new
// prefill to feed them).
func TestCoordinate(t *testing.T) {
	run := func(prefillStarts bool) (Service, Service) {
		svcs := []Service{
			{Name: "prefill", Replicas: 2, MaxSurge: 1, Old: []Workload{{Name: "p-old", Replicas: 2, Available: 2, Ready: 2}}},
			{Name: "decode", Replicas: 8, MaxSurge: 2, MaxUnavailable: 2, Old: []Workload{{Name: "d-old", Replicas: 8, Available: 8, Ready: 8}}},
		}
		for step := 0; step < 50 && (!Updated(svcs[0]) || !Updated(svcs[1])); step++ {
			ts := Coordinate(svcs, []Targets{Step(svcs[0]), Step(svcs[1])})
			for i := range svcs {
				s := &svcs[i]
				old := ts[i].Old[s.Old[0].Name]
				s.Old[0] = Workload{Name: s.Old[0].Name, Replicas: old, Available: old, Ready: old}
				s.New.Replicas = ts[i].New
				if i == 1 || prefillStarts {
					s.New.Available, s.New.Ready = ts[i].New, ts[i].New
				}
			}
			p, d := float64(svcs[0].New.Ready)/2, float64(svcs[1].New.Ready)/8
			if d > p+2.0/8+1e-9 || p > d+1.0/2+1e-9 {
				t.Fatalf("step %d: prefill %d/2, decode %d/8 new ready: out of step", step, svcs[0].New.Ready, svcs[1].New.Ready)
			}
			if avail := svcs[1].Old[0].Available + svcs[1].New.Available; avail < 6 {
				t.Fatalf("step %d: decode %d available, below 8 − 2", step, avail)
			}
		}
		return svcs[0], svcs[1]
	}
	if p, d := run(true); !Updated(p) || !Updated(d) {
		t.Errorf("not rolled: prefill %+v decode %+v", p.New, d.New)
	}
	p, d := run(false)
	if d.New.Replicas > 2 || d.Old[0].Replicas < 6 || p.Old[0].Ready != 2 {
		t.Errorf("new prefill stuck: decode new %d old %d, prefill old ready %d; want decode held at 2 new, 6 old, the old prefill serving",
			d.New.Replicas, d.Old[0].Replicas, p.Old[0].Ready)
	}
}
