package backtest

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/billyronks/couchestor/internal/tiering"
)

// TestReplayFlipsPreventedByAntiFlap: one volume, evaluated every 6h for six days, hot for 12h
// then cold for 12h; cooldown 12h, anti-flap window 3 cooldowns, cap 48h.
//
// Without anti-flap it moves at every other instant (0h, 12h, ... 144h): 13 moves, 12 flips.
// With it (worked out by hand): promoted at 0h; demoted at 12h, a flip (cooldown 24h);
// promoted at 48h, flip 2 (48h); demoted at 108h, flip 3 (capped at 48h); hot at 120h and 144h
// but cooling down: 4 moves, 3 flips. Anti-flap prevents 9.
func TestReplayFlipsPreventedByAntiFlap(t *testing.T) {
	const steps = 25
	m := NewMatrix(handStart, 6*time.Hour, steps, []string{"D"})
	for k := range steps {
		x := 2000.0
		if (k/2)%2 == 1 {
			x = 50
		}
		m.Set(k, 0, x)
	}
	vols := []Volume{{ID: "D", Tier: sata, SizeBytes: gib, Replicas: 1}}
	p := Params{LowWatermarkIOPS: 100, HighWatermarkIOPS: 1000, Cooldown: 12 * time.Hour, Slots: 1}

	plain, err := Replay(m, p, vols)
	if err != nil {
		t.Fatal(err)
	}
	if plain.Totals.Moves != 13 || plain.Totals.Flips != 12 || plain.FlipsPreventedByAntiFlap != 0 {
		t.Fatalf("without anti-flap: %d moves, %d flips, %d prevented", plain.Totals.Moves, plain.Totals.Flips, plain.FlipsPreventedByAntiFlap)
	}

	p.AntiFlap = tiering.AntiFlap{WindowCooldowns: 3, Max: 48 * time.Hour}
	r, err := Replay(m, p, vols)
	if err != nil {
		t.Fatal(err)
	}
	if r.Totals != plain.Totals {
		t.Errorf("the report is the replay without anti-flap: %+v, want %+v", r.Totals, plain.Totals)
	}
	if r.FlipsPreventedByAntiFlap != 9 {
		t.Errorf("flips prevented %d, want 9", r.FlipsPreventedByAntiFlap)
	}
	af, err := replay(m, p, vols, true, true)
	if err != nil {
		t.Fatal(err)
	}
	var at []time.Duration
	for _, mv := range af.Moves {
		at = append(at, mv.At.Sub(handStart))
	}
	if want := []time.Duration{0, 12 * time.Hour, 48 * time.Hour, 108 * time.Hour}; !slices.Equal(at, want) {
		t.Errorf("anti-flap moves at %v, want %v", at, want)
	}
	var out bytes.Buffer
	if err := r.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Prevented by anti-flap") {
		t.Errorf("the text report does not say what anti-flap prevents:\n%s", out.String())
	}
}
