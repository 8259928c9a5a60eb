package tiering

import (
	"fmt"
	"testing"
	"time"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

var now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

const gib = 1 << 30

// vol is a healthy, published, measured 1-replica volume of 10 GiB.
func vol(id string, p Placement, iops float64) Candidate {
	return Candidate{VolumeID: id, PVName: "pvc-" + id, Placement: p, KnownIOPS: true, IOPS: iops,
		Published: true, Healthy: true, SizeBytes: 10 * gib, Replicas: 1}
}

func input(vols ...Candidate) Input {
	return Input{Now: now, HighWatermarkIOPS: 5000, LowWatermarkIOPS: 500, Cooldown: 24 * time.Hour, Slots: 10,
		FreeBytes: map[storagev1.Tier]uint64{storagev1.TierNVMe: 1000 * gib, storagev1.TierSATA: 1000 * gib}, Volumes: vols}
}

func TestDecideRules(t *testing.T) {
	with := func(c Candidate, f func(*Candidate)) Candidate { f(&c); return c }
	cases := []struct {
		name string
		v    Candidate
		to   storagev1.Tier // "" = no move
		skip SkipReason
	}{
		{"hot on SATA is promoted", vol("a", PlacementSATA, 7000), storagev1.TierNVMe, ""},
		{"cold on NVMe is demoted", vol("a", PlacementNVMe, 10), storagev1.TierSATA, ""},
		{"zero IOPS measured is cold", vol("a", PlacementNVMe, 0), storagev1.TierSATA, ""},
		{"exactly at high watermark stays", vol("a", PlacementSATA, 5000), "", SkipBetweenWatermarks},
		{"exactly at low watermark stays", vol("a", PlacementNVMe, 500), "", SkipBetweenWatermarks},
		{"between watermarks stays on NVMe", vol("a", PlacementNVMe, 2000), "", SkipBetweenWatermarks},
		{"between watermarks stays on SATA", vol("a", PlacementSATA, 2000), "", SkipBetweenWatermarks},
		{"hot on NVMe stays", vol("a", PlacementNVMe, 9000), "", SkipAlreadyOnTarget},
		{"cold on SATA stays", vol("a", PlacementSATA, 1), "", SkipAlreadyOnTarget},
		{"missing data is not zero", with(vol("a", PlacementNVMe, 0), func(c *Candidate) { c.KnownIOPS = false; c.UnknownReason = "NoMetrics" }), "", SkipUnknownIOPS},
		{"excluded", with(vol("a", PlacementSATA, 9000), func(c *Candidate) { c.Excluded = true }), "", SkipExcluded},
		{"overlapping policies", with(vol("a", PlacementSATA, 9000), func(c *Candidate) { c.OtherPolicies = []string{"other"} }), "", SkipOverlap},
		{"in flight", with(vol("a", PlacementSATA, 9000), func(c *Candidate) { c.InFlight = true }), "", SkipInFlight},
		{"mixed placement", vol("a", PlacementMixed, 9000), "", SkipMixed},
		{"outside tiers", vol("a", PlacementOther, 9000), "", SkipOutsideTiers},
		{"unpublished", with(vol("a", PlacementSATA, 9000), func(c *Candidate) { c.Published = false }), "", SkipUnpublished},
		{"not healthy", with(vol("a", PlacementSATA, 9000), func(c *Candidate) { c.Healthy = false }), "", SkipNotHealthy},
		{"cooling down", with(vol("a", PlacementSATA, 9000), func(c *Candidate) { c.LastMigration = now.Add(-time.Hour) }), "", SkipCoolingDown},
		{"cooldown over", with(vol("a", PlacementSATA, 9000), func(c *Candidate) { c.LastMigration = now.Add(-25 * time.Hour) }), storagev1.TierNVMe, ""},
		{"pinned to NVMe though cold", with(vol("a", PlacementSATA, 1), func(c *Candidate) { c.Pin = storagev1.TierNVMe }), storagev1.TierNVMe, ""},
		{"pinned without data still moves", with(vol("a", PlacementNVMe, 0), func(c *Candidate) { c.Pin = storagev1.TierSATA; c.KnownIOPS = false }), storagev1.TierSATA, ""},
		{"pinned where it is stays", with(vol("a", PlacementNVMe, 1), func(c *Candidate) { c.Pin = storagev1.TierNVMe }), "", SkipAlreadyOnTarget},
		{"pin respects cooldown", with(vol("a", PlacementSATA, 1), func(c *Candidate) { c.Pin = storagev1.TierNVMe; c.LastMigration = now.Add(-time.Minute) }), "", SkipCoolingDown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(input(tc.v))
			if tc.to != "" {
				if len(d.Moves) != 1 || d.Moves[0].To != tc.to || d.Moves[0].From == tc.to {
					t.Fatalf("want a move to %s, got %+v", tc.to, d)
				}
				if d.Moves[0].Reason == "" {
					t.Fatal("a move without a reason")
				}
				return
			}
			if len(d.Moves) != 0 || len(d.Skips) != 1 || d.Skips[0].Reason != tc.skip {
				t.Fatalf("want skip %s, got %+v", tc.skip, d)
			}
		})
	}
}

func TestDecideRanksWhenSlotsBind(t *testing.T) {
	in := input(
		vol("warm", PlacementSATA, 6000),
		vol("hottest", PlacementSATA, 20000),
		vol("hot", PlacementSATA, 9000),
		vol("cool", PlacementNVMe, 400),
		vol("coldest", PlacementNVMe, 1),
	)
	in.Slots = 3
	d := Decide(in)
	var got []string
	for _, m := range d.Moves {
		got = append(got, m.VolumeID)
	}
	if len(got) != 3 || got[0] != "hottest" || got[1] != "hot" || got[2] != "warm" {
		t.Fatalf("promotions first, hottest first: got %v", got)
	}
	if len(d.Deferred) != 2 || d.Deferred[0].VolumeID != "coldest" || d.Deferred[0].Reason != SkipNoSlot {
		t.Fatalf("coldest demotion first among the deferred: %+v", d.Deferred)
	}

	in.Slots = 4
	d = Decide(in)
	if len(d.Moves) != 4 || d.Moves[3].VolumeID != "coldest" {
		t.Fatalf("coldest demoted first: %+v", d.Moves)
	}
	in.Slots = 0
	if d = Decide(in); len(d.Moves) != 0 || len(d.Deferred) != 5 {
		t.Fatalf("no slot, no move: %+v", d)
	}
}

func TestDecideRespectsCapacity(t *testing.T) {
	big := vol("big", PlacementSATA, 30000)
	big.SizeBytes, big.Replicas = 100*gib, 3 // needs 300 GiB of NVMe
	small := vol("small", PlacementSATA, 8000)
	in := input(big, small)
	in.FreeBytes[storagev1.TierNVMe] = 200 * gib
	d := Decide(in)
	if len(d.Moves) != 1 || d.Moves[0].VolumeID != "small" {
		t.Fatalf("the volume that fits moves: %+v", d.Moves)
	}
	if len(d.Deferred) != 1 || d.Deferred[0].VolumeID != "big" || d.Deferred[0].Reason != SkipNoCapacity {
		t.Fatalf("the one that does not fit waits: %+v", d.Deferred)
	}
	// Granted moves use up the room.
	in = input(vol("a", PlacementSATA, 9000), vol("b", PlacementSATA, 8000))
	in.FreeBytes[storagev1.TierNVMe] = 15 * gib
	if d = Decide(in); len(d.Moves) != 1 || d.Moves[0].VolumeID != "a" || len(d.Deferred) != 1 {
		t.Fatalf("room is consumed by granted moves: %+v", d)
	}
}

func TestDecideIsRepeatable(t *testing.T) {
	in := input(vol("b", PlacementSATA, 9000), vol("a", PlacementSATA, 9000), vol("c", PlacementSATA, 9000))
	in.Slots = 2
	first := Decide(in)
	for i := 0; i < 20; i++ {
		in.Volumes[0], in.Volumes[2] = in.Volumes[2], in.Volumes[0]
		d := Decide(in)
		if d.Moves[0].VolumeID != "a" || d.Moves[1].VolumeID != first.Moves[1].VolumeID {
			t.Fatalf("ties are not broken by volume id: %+v", d.Moves)
		}
	}
}

// BenchmarkDecide10k is one policy's decision over 10,000 volumes.
func BenchmarkDecide10k(b *testing.B) {
	vols := make([]Candidate, 10000)
	for i := range vols {
		p := PlacementSATA
		if i%2 == 0 {
			p = PlacementNVMe
		}
		vols[i] = vol(fmt.Sprintf("vol-%05d", i), p, float64((i*7919)%12000))
	}
	in := input(vols...)
	in.Slots = 2
	b.ReportAllocs()
	for b.Loop() {
		if d := Decide(in); len(d.Moves) != 2 {
			b.Fatalf("moves: %d", len(d.Moves))
		}
	}
}
