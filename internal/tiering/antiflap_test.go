package tiering

import (
	"strings"
	"testing"
	"time"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

func TestAntiFlapCooldown(t *testing.T) {
	a := AntiFlap{WindowCooldowns: 3, Base: time.Hour, Max: 10 * time.Hour}
	for flips, want := range []time.Duration{time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour, 10 * time.Hour, 10 * time.Hour} {
		if got := a.Cooldown(flips); got != want {
			t.Errorf("%d flips: cooldown %s, want %s", flips, got, want)
		}
	}
	if got := a.Cooldown(1 << 40); got != a.Max {
		t.Errorf("a huge count: %s, want the cap", got)
	}
	if got := (AntiFlap{Base: time.Hour, Max: 10 * time.Hour}).Cooldown(3); got != time.Hour {
		t.Errorf("disabled: %s, want the base", got)
	}
	if got := (AntiFlap{WindowCooldowns: 3, Base: time.Hour, Max: time.Minute}).Cooldown(3); got != time.Hour {
		t.Errorf("a cap below the base: %s, want the base", got)
	}
	if got := (AntiFlap{WindowCooldowns: 100, Base: 1 << 62, Max: 1<<63 - 1}).window(5); got <= 0 {
		t.Errorf("the window overflowed: %s", got)
	}
}

// TestAntiFlapRecord: a base of 1h, window 3 cooldowns, cap 8h; the previous move went to SATA
// at t0.
func TestAntiFlapRecord(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	const nvme, sata = storagev1.TierNVMe, storagev1.TierSATA
	a := AntiFlap{WindowCooldowns: 3, Base: time.Hour, Max: 8 * time.Hour}
	prev := func(flips int) MoveRecord { return MoveRecord{Flips: flips, To: sata, At: t0} }
	for _, tc := range []struct {
		name      string
		a         AntiFlap
		prev      MoveRecord
		to        storagev1.Tier
		after     time.Duration
		dryRun    bool
		flips     int
		recorded  bool
		flip      bool
		wantSameT bool // the record keeps the previous move's time (a dry run)
	}{
		{"first move", a, MoveRecord{}, nvme, 0, false, 0, true, false, false},
		{"moved back within the window is a flip", a, prev(0), nvme, 2 * time.Hour, false, 1, true, true, false},
		{"exactly at the window's end is a flip", a, prev(0), nvme, 3 * time.Hour, false, 1, true, true, false},
		{"moved back after the window is not", a, prev(0), nvme, 3*time.Hour + time.Second, false, 0, true, false, false},
		{"a second flip doubles again", a, prev(1), nvme, 5 * time.Hour, false, 2, true, true, false},
		{"the window grows with the cooldown", a, prev(2), nvme, 12 * time.Hour, false, 3, true, true, false},
		{"flips past the cap still count", a, prev(5), nvme, 20 * time.Hour, false, 6, true, true, false},
		{"decay: a late move resets the count", a, prev(2), nvme, 12*time.Hour + time.Minute, false, 0, true, false, false},
		{"decay applies to a move the same way too", a, prev(2), sata, 13 * time.Hour, false, 0, true, false, false},
		{"a move the same way within the window keeps the count", a, prev(2), sata, 5 * time.Hour, false, 2, true, false, false},
		{"a dry run is not counted", a, prev(1), nvme, 2 * time.Hour, true, 1, false, false, true},
		{"a dry run first move records nothing", a, MoveRecord{}, nvme, 0, true, 0, false, false, true},
		{"disabled: recorded without flips", AntiFlap{Base: time.Hour, Max: 8 * time.Hour}, prev(0), nvme, time.Hour, false, 0, true, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at := t0.Add(tc.after)
			next, recorded, flip := tc.a.Record(tc.prev, tc.to, at, tc.dryRun)
			if next.Flips != tc.flips || recorded != tc.recorded || flip != tc.flip {
				t.Fatalf("got %+v recorded %v flip %v, want %d flips, recorded %v, flip %v", next, recorded, flip, tc.flips, tc.recorded, tc.flip)
			}
			if tc.wantSameT {
				if next != tc.prev {
					t.Fatalf("a dry run changed the record: %+v", next)
				}
				return
			}
			if next.To != tc.to || !next.At.Equal(at) {
				t.Fatalf("record %+v does not hold the move to %s at %s", next, tc.to, at)
			}
		})
	}
}

// TestAntiFlapSequence: a volume flipping every base cooldown doubles each time up to the cap,
// then calms down and is forgiven.
func TestAntiFlapSequence(t *testing.T) {
	a := AntiFlap{WindowCooldowns: 3, Base: time.Hour, Max: 8 * time.Hour}
	at := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	var rec MoveRecord
	to := storagev1.TierNVMe
	var cooldowns []time.Duration
	for range 6 {
		rec, _, _ = a.Record(rec, to, at, false)
		c := a.Cooldown(rec.Flips)
		cooldowns = append(cooldowns, c)
		at = at.Add(c) // moves back as soon as the cooldown allows
		to = map[storagev1.Tier]storagev1.Tier{storagev1.TierNVMe: storagev1.TierSATA, storagev1.TierSATA: storagev1.TierNVMe}[to]
	}
	want := []time.Duration{time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour, 8 * time.Hour, 8 * time.Hour}
	for i := range want {
		if cooldowns[i] != want[i] {
			t.Fatalf("cooldowns %v, want %v", cooldowns, want)
		}
	}
	rec, _, flip := a.Record(rec, to, at.Add(25*time.Hour), false)
	if flip || rec.Flips != 0 || a.Cooldown(rec.Flips) != time.Hour {
		t.Fatalf("after a quiet day: %+v flip %v", rec, flip)
	}
}

func TestMoveRecordAnnotation(t *testing.T) {
	r := MoveRecord{Flips: 2, To: storagev1.TierSATA, At: time.Date(2026, 11, 30, 23, 0, 0, 0, time.FixedZone("x", 3600))}
	s := r.String()
	if s != "2;SATA;2026-11-30T22:00:00Z" {
		t.Fatalf("String %q", s)
	}
	back, err := ParseMoveRecord(s)
	if err != nil || back.Flips != 2 || back.To != storagev1.TierSATA || !back.At.Equal(r.At) {
		t.Fatalf("ParseMoveRecord %+v %v", back, err)
	}
	for _, bad := range []string{"", "2;SATA", "x;SATA;2026-11-30T22:00:00Z", "-1;SATA;2026-11-30T22:00:00Z", "1;HDD;2026-11-30T22:00:00Z", "1;NVMe;yesterday", "1;NVMe;2026-11-30T22:00:00Z;x"} {
		if _, err := ParseMoveRecord(bad); err == nil || !strings.Contains(err.Error(), storagev1.AnnotationMoves) {
			t.Errorf("%q: error %v", bad, err)
		}
	}
}
