package backtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

const gib = 1 << 30

var (
	nvme = storagev1.TierNVMe
	sata = storagev1.TierSATA
	// u marks an Unknown evaluation in the hand-written histories.
	u = math.NaN()
)

// handHistory is the small history every figure of TestReplayHandComputed was worked out on
// paper from: three volumes evaluated every 6h for three days (13 instants, 0h to 72h), with
// watermarks 100/1000, a 24h cooldown and one migration slot per step.
//
//	k    0     6h    12h   18h   24h   30h   36h   42h   48h   54h   60h   66h   72h
//	A  2000  2000    50    50    50    50    50  2000  2000  2000  2000  2000  2000   NVMe, 10 GiB × 3
//	B    10    10    10  5000  5000    20    20    20    20    20    20    20    20   SATA,  1 GiB × 2
//	C     ?     ?   500   500     ?     ?   500   500  3000  3000     ?   500   500   NVMe,  4 GiB × 1
//
// A goes cold at 12h and moves to SATA; hot again at 42h, its cooldown over (30h), it moves back:
// a flip. B goes hot at 18h and moves to NVMe; cold at 30h and 36h but cooling down (12h and 18h
// after its move); at 42h its cooldown is over but the one slot goes to A's promotion; it moves
// back at 48h: a flip. C is never moved: its gaps are Unknown, not zero (on NVMe, zero would
// demote it), and it is between the watermarks or on its tier otherwise.
var handStart = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func handHistory() (*Matrix, []Volume, Params) {
	series := map[string][]float64{
		"A": {2000, 2000, 50, 50, 50, 50, 50, 2000, 2000, 2000, 2000, 2000, 2000},
		"B": {10, 10, 10, 5000, 5000, 20, 20, 20, 20, 20, 20, 20, 20},
		"C": {u, u, 500, 500, u, u, 500, 500, 3000, 3000, u, 500, 500},
	}
	m := NewMatrix(handStart, 6*time.Hour, 13, []string{"C", "A", "B"}) // column order is not volume order
	for i, id := range m.Volumes {
		for k, x := range series[id] {
			m.Set(k, i, x)
		}
	}
	vols := []Volume{
		{ID: "A", Tier: nvme, SizeBytes: 10 * gib, Replicas: 3},
		{ID: "B", Tier: sata, SizeBytes: 1 * gib, Replicas: 2},
		{ID: "C", Tier: nvme, SizeBytes: 4 * gib, Replicas: 1},
	}
	p := Params{LowWatermarkIOPS: 100, HighWatermarkIOPS: 1000, Cooldown: 24 * time.Hour, Slots: 1}
	return m, vols, p
}

func h(n int) time.Time { return handStart.Add(time.Duration(n) * time.Hour) }

func iops(x float64) *float64 { return &x }

func TestReplayHandComputed(t *testing.T) {
	m, vols, p := handHistory()
	r, err := Replay(m, p, vols)
	if err != nil {
		t.Fatal(err)
	}

	wantMoves := []Move{
		{Volume: "A", At: h(12), From: nvme, To: sata, IOPS: iops(50), Bytes: 30 * gib},
		{Volume: "B", At: h(18), From: sata, To: nvme, IOPS: iops(5000), Bytes: 2 * gib},
		{Volume: "A", At: h(42), From: sata, To: nvme, IOPS: iops(2000), Bytes: 30 * gib, Flip: true, SincePrevious: Duration(30 * time.Hour)},
		{Volume: "B", At: h(48), From: nvme, To: sata, IOPS: iops(20), Bytes: 2 * gib, Flip: true, SincePrevious: Duration(30 * time.Hour)},
	}
	if !reflect.DeepEqual(r.Moves, wantMoves) {
		t.Errorf("moves:\n got %s\nwant %s", jsonOf(t, r.Moves), jsonOf(t, wantMoves))
	}

	wantTotals := Totals{
		Volumes: 3, VolumesMoved: 2, VolumesFlipped: 2,
		Moves: 4, Promotions: 2, Demotions: 2, Flips: 2, BytesRebuilt: 64 * gib,
		CooldownBlocked: 2, SlotDeferred: 1,
		RightEvaluations: 27, WrongEvaluations: 7, UnknownEvaluations: 5,
		RightTier: 27 * 6 * 3600, WrongTier: 7 * 6 * 3600, Unknown: 5 * 6 * 3600,
	}
	if r.Totals != wantTotals {
		t.Errorf("totals:\n got %+v\nwant %+v", r.Totals, wantTotals)
	}

	wantVolumes := []VolumeReport{
		{ID: "A", InitialTier: nvme, FinalTier: nvme, SizeBytes: 10 * gib, Replicas: 3, Moves: 2, Flips: 1, BytesRebuilt: 60 * gib,
			RightTier: Duration(66 * time.Hour), WrongTier: Duration(12 * time.Hour)},
		{ID: "B", InitialTier: sata, FinalTier: sata, SizeBytes: 1 * gib, Replicas: 2, Moves: 2, Flips: 1, BytesRebuilt: 4 * gib,
			CooldownBlocked: 2, SlotDeferred: 1, RightTier: Duration(48 * time.Hour), WrongTier: Duration(30 * time.Hour)},
		{ID: "C", InitialTier: nvme, FinalTier: nvme, SizeBytes: 4 * gib, Replicas: 1,
			RightTier: Duration(48 * time.Hour), Unknown: Duration(30 * time.Hour)},
	}
	if !reflect.DeepEqual(r.Volumes, wantVolumes) {
		t.Errorf("volumes:\n got %s\nwant %s", jsonOf(t, r.Volumes), jsonOf(t, wantVolumes))
	}

	wantDays := []DayReport{
		{Day: "2026-03-01", Moves: 2, Promotions: 1, Demotions: 1, BytesRebuilt: 32 * gib},
		{Day: "2026-03-02", Moves: 1, Promotions: 1, Flips: 1, BytesRebuilt: 30 * gib},
		{Day: "2026-03-03", Moves: 1, Demotions: 1, Flips: 1, BytesRebuilt: 2 * gib},
		{Day: "2026-03-04"},
	}
	if !reflect.DeepEqual(r.Days, wantDays) {
		t.Errorf("days:\n got %+v\nwant %+v", r.Days, wantDays)
	}
	if !r.From.Equal(h(0)) || !r.To.Equal(h(72)) || r.Evaluations != 13 {
		t.Errorf("range %s..%s, %d evaluations; want %s..%s, 13", r.From, r.To, r.Evaluations, h(0), h(72))
	}
}

// Each rule of the replay, taken away, changes the hand-computed history's figures.
func TestReplayRulesMatter(t *testing.T) {
	m, vols, p := handHistory()

	t.Run("no cooldown: B moves back at 30h, A at 42h", func(t *testing.T) {
		q := p
		q.Cooldown = 0
		r := mustReplay(t, m, q, vols)
		if got := movesAt(r); !reflect.DeepEqual(got, []string{"A@12h", "B@18h", "B@30h", "A@42h"}) {
			t.Errorf("moves %v", got)
		}
		if r.Totals.CooldownBlocked != 0 {
			t.Errorf("CooldownBlocked = %d, want 0", r.Totals.CooldownBlocked)
		}
	})
	t.Run("two slots: A and B both move at 42h", func(t *testing.T) {
		q := p
		q.Slots = 2
		r := mustReplay(t, m, q, vols)
		if got := movesAt(r); !reflect.DeepEqual(got, []string{"A@12h", "B@18h", "A@42h", "B@42h"}) {
			t.Errorf("moves %v", got)
		}
		if r.Totals.SlotDeferred != 0 {
			t.Errorf("SlotDeferred = %d, want 0", r.Totals.SlotDeferred)
		}
	})
	t.Run("a move before the range extends into it", func(t *testing.T) {
		v := append([]Volume(nil), vols...)
		v[0].LastMoved = h(-12) // A: cooldown until 12h, so the 12h evaluation may move it
		v[1].LastMoved = h(-4)  // B: cooldown until 20h
		r := mustReplay(t, m, p, v)
		// A moves at 12h (24h after its last move); B wants NVMe at 18h (cooling down) and
		// at 24h (cooldown over: moves); back at 48h (24h later).
		if got := movesAt(r); !reflect.DeepEqual(got, []string{"A@12h", "B@24h", "A@42h", "B@48h"}) {
			t.Errorf("moves %v", got)
		}
		if r.Totals.Flips != 2 {
			t.Errorf("flips = %d: a move before the range is not a replayed move, want 2", r.Totals.Flips)
		}
	})
	t.Run("pinned, excluded and mixed volumes", func(t *testing.T) {
		v := append([]Volume(nil), vols...)
		v[0].Excluded = true
		v[1].Pin = nvme
		v[2].Tier = "Mixed"
		r := mustReplay(t, m, p, v)
		// B goes to its pin at once and stays; A never moves; C is not replayed.
		if got := movesAt(r); !reflect.DeepEqual(got, []string{"B@0s"}) {
			t.Errorf("moves %v", got)
		}
		if !r.Moves[0].Pinned || r.Moves[0].IOPS == nil || *r.Moves[0].IOPS != 10 {
			t.Errorf("pinned move %+v", r.Moves[0])
		}
		if len(r.Skipped) != 1 || r.Skipped[0].ID != "C" || r.Totals.Volumes != 2 {
			t.Errorf("skipped %+v, %d volumes replayed", r.Skipped, r.Totals.Volumes)
		}
	})
	t.Run("a volume Prometheus never saw is Unknown throughout", func(t *testing.T) {
		v := append(append([]Volume(nil), vols...), Volume{ID: "D", Tier: nvme, SizeBytes: gib})
		r := mustReplay(t, m, p, v)
		d := r.Volumes[3]
		if d.Moves != 0 || d.Unknown != Duration(78*time.Hour) {
			t.Errorf("D: %+v", d)
		}
	})
}

func TestReplayRejectsBadInput(t *testing.T) {
	m, vols, p := handHistory()
	for name, q := range map[string]Params{
		"low not below high": {LowWatermarkIOPS: 1000, HighWatermarkIOPS: 1000},
		"negative low":       {LowWatermarkIOPS: -1, HighWatermarkIOPS: 10},
		"negative cooldown":  {LowWatermarkIOPS: 1, HighWatermarkIOPS: 10, Cooldown: -time.Second},
	} {
		if _, err := Replay(m, q, vols); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := Replay(m, p, append(vols, vols[0])); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate volume: %v", err)
	}
	bad := *m
	bad.Values = bad.Values[1:]
	if _, err := Replay(&bad, p, vols); err == nil {
		t.Error("short matrix: no error")
	}
}

func TestSweepFindsWatermarksWithoutFlips(t *testing.T) {
	m, vols, p := handHistory()
	pairs := WatermarkGrid([]int64{10, 30, 100}, []int64{1000, 3000, 6000, 50})
	got, err := Sweep(m, p, vols, pairs)
	if err != nil {
		t.Fatal(err)
	}
	type mf struct{ moves, flips int }
	want := map[Watermarks]mf{
		{10, 1000}:  {1, 0}, // A never below 10; B promoted at 18h and never below 10
		{10, 3000}:  {1, 0},
		{10, 6000}:  {0, 0}, // nothing above 6000, nothing below 10
		{30, 1000}:  {2, 1}, // B up at 18h, down at 42h (the slot is free: A never leaves NVMe)
		{30, 3000}:  {2, 1},
		{30, 6000}:  {0, 0},
		{100, 1000}: {4, 2}, // the hand-computed history
		{100, 3000}: {3, 1}, // A down at 12h and never above 3000; B up and back down
		{100, 6000}: {1, 0}, // A down at 12h only
		{10, 50}:    {1, 0}, // A between 10 and 50 at its coldest; B up at 18h, 20 is between
		{30, 50}:    {2, 1},
	}
	if len(got) != len(want) {
		t.Fatalf("%d grid points for pairs %v, want %d (pairs with low >= high are left out)", len(got), pairs, len(want))
	}
	for i, g := range got {
		w := Watermarks{g.LowWatermarkIOPS, g.HighWatermarkIOPS}
		if w != pairs[i] {
			t.Errorf("point %d is %v, want %v", i, w, pairs[i])
		}
		if e := want[w]; g.Moves != e.moves || g.Flips != e.flips {
			t.Errorf("%v: %d moves, %d flips; want %d, %d", w, g.Moves, g.Flips, e.moves, e.flips)
		}
	}
	// The grid's figures are the full replay's.
	full := mustReplay(t, m, p, vols)
	if g := got[slices.Index(pairs, Watermarks{100, 1000})]; g.BytesRebuilt != full.Totals.BytesRebuilt || g.RightTierShare != full.Totals.RightTierShare() {
		t.Errorf("grid point %+v differs from the replay's totals %+v", g, full.Totals)
	}
}

func TestDaysFollowTheTimeZone(t *testing.T) {
	m, vols, p := handHistory()
	tokyo, err := time.LoadLocation("Asia/Tokyo") // UTC+9: 18h UTC on March 1 is March 2 there
	if err != nil {
		t.Skip(err)
	}
	p.Days = tokyo
	r := mustReplay(t, m, p, vols)
	if r.Days[0].Day != "2026-03-01" || r.Days[0].Moves != 1 || r.Days[1].Moves != 1 {
		t.Errorf("days in Tokyo: %+v", r.Days)
	}
}

func TestReportWriters(t *testing.T) {
	m, vols, p := handHistory()
	r := mustReplay(t, m, p, vols)
	r.Grid, _ = Sweep(m, p, vols, []Watermarks{{10, 6000}})
	var buf bytes.Buffer
	if err := r.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Moves", "4 (2 to NVMe, 2 to SATA)", "Flips", "64Gi", "2026-03-02", "A ", "79.4% of the known time", "6000"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, buf.String())
		}
	}
	buf.Reset()
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Moves, r.Moves) || back.Totals != r.Totals || back.Step != r.Step {
		t.Errorf("JSON does not round-trip:\n%s", buf.String())
	}
}

func mustReplay(t *testing.T, m *Matrix, p Params, vols []Volume) *Report {
	t.Helper()
	r, err := Replay(m, p, vols)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func movesAt(r *Report) []string {
	var out []string
	for _, mv := range r.Moves {
		out = append(out, mv.Volume+"@"+strings.TrimSuffix(mv.At.Sub(r.From).String(), "0m0s"))
	}
	return out
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The selection of the first-ranked moves agrees with a full sort, for few and many slots.
func TestFirstRankedAgreesWithSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	states := make([]volumeState, 200)
	for i := range states {
		states[i].vol = &Volume{ID: fmt.Sprintf("v%03d", i)}
	}
	for _, n := range []int{1, 2, 5, 40, 199} {
		cands := make([]candidate, len(states))
		for i := range cands {
			c := candidate{state: &states[i], to: tierNVMe, iops: float32(rng.IntN(50)), pinned: rng.IntN(10) == 0}
			if rng.IntN(2) == 0 {
				c.to = tierSATA
			}
			if c.pinned && rng.IntN(2) == 0 {
				c.iops = float32(math.NaN())
			}
			cands[i] = c
		}
		sorted := slices.Clone(cands)
		slices.SortFunc(sorted, compareCandidates)
		firstRanked(cands, n)
		for i := range n {
			if cands[i].state != sorted[i].state {
				t.Fatalf("n=%d: rank %d is %s, want %s", n, i, cands[i].state.vol.ID, sorted[i].state.vol.ID)
			}
		}
		if sorted[0].to != tierNVMe || (sorted[0].iops == sorted[0].iops && !sorted[0].pinned) {
			t.Errorf("first ranked %+v: want a pinned promotion", sorted[0])
		}
	}
}

// Time summed over volumes outgrows a time.Duration (292 years) at 10,000 volumes × 14 days at
// any step (383 years): the totals hold it, and the report writes and reads it back.
func TestTotalsHoldCenturies(t *testing.T) {
	ids := make([]string, 10_000)
	vols := make([]Volume, len(ids))
	for i := range ids {
		ids[i] = fmt.Sprintf("v%05d", i)
		vols[i] = Volume{ID: ids[i], Tier: sata, SizeBytes: gib, Replicas: 1}
	}
	m := NewMatrix(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), 5*time.Minute, 4033, ids)
	for i := range m.Values {
		m.Values[i] = 10 // below low: SATA is right
	}
	r := mustReplay(t, m, Params{LowWatermarkIOPS: 100, HighWatermarkIOPS: 1000, Cooldown: time.Hour, Slots: 1}, vols)
	want := VolumeTime(int64(len(ids)) * 4033 * 300)
	if r.Totals.RightTier != want || r.Totals.RightTier.String() != "3360833h20m0s" {
		t.Fatalf("right tier %d s (%s), want %d s (3360833h20m0s)", r.Totals.RightTier, r.Totals.RightTier, want)
	}
	b, err := json.Marshal(r.Totals)
	if err != nil {
		t.Fatal(err)
	}
	var back Totals
	if err := json.Unmarshal(b, &back); err != nil || back != r.Totals {
		t.Errorf("JSON round trip: %+v (%v), want %+v", back, err, r.Totals)
	}
	for _, bad := range []string{`"1h5"`, `"h"`, `""`, `"1.5h"`, `"99999999999999999999h"`} {
		var v VolumeTime
		if err := json.Unmarshal([]byte(bad), &v); err == nil {
			t.Errorf("%s read as %d s", bad, v)
		}
	}
}
