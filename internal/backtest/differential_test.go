package backtest

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/tiering"
)

// The replay keeps its own loop (a 10,000-volume, 14-day replay must not build a Snapshot per
// instant), so it is held to the planner by this test: on random histories it runs the replay
// and, side by side, tiering.PlanPolicy at every instant on a snapshot of the same volumes, each
// following its own decisions, and fails on the first instant where they differ.

// diffCase is one random history and the volumes and rules it is replayed with.
type diffCase struct {
	m    *Matrix
	p    Params
	vols []Volume
}

// diffValues are the IOPS a random history draws from: the watermarks themselves and their
// neighbours (the strict comparisons), ties (the volume-id order), zero, Unknown.
func diffValue(r *rand.Rand, low, high int64) float64 {
	switch r.IntN(10) {
	case 0:
		return math.NaN()
	case 1:
		return float64(low)
	case 2:
		return float64(high)
	case 3:
		return float64(low) - 0.5
	case 4:
		return float64(high) + 0.5
	case 5:
		return 0
	case 6:
		return float64(r.IntN(4)) * float64(high) / 2 // ties between volumes
	default:
		return float64(r.Int64N(2*high + 2))
	}
}

func randomDiffCase(r *rand.Rand) diffCase {
	steps := []time.Duration{5 * time.Minute, time.Hour, 6 * time.Hour}
	step := steps[r.IntN(len(steps))]
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

	low := r.Int64N(1000)
	high := low + 1 + r.Int64N(1000)
	if r.IntN(10) == 0 { // above 2^24 the replay compares in float64
		low, high = 1<<24+r.Int64N(1000), 1<<25+r.Int64N(1000)
	}
	p := Params{
		LowWatermarkIOPS: low, HighWatermarkIOPS: high,
		Cooldown: time.Duration(1+r.IntN(8)) * step / 2,
		Slots:    r.IntN(5), // 0: unbounded
	}
	if r.IntN(2) == 0 {
		p.AntiFlap = tiering.AntiFlap{WindowCooldowns: 1 + r.IntN(4), Max: p.Cooldown << r.IntN(5)}
	}

	n := 1 + r.IntN(12)
	vols := make([]Volume, n)
	for i := range vols {
		v := &vols[i]
		v.ID = fmt.Sprintf("vol-%02d", r.IntN(100))
		for slices.ContainsFunc(vols[:i], func(o Volume) bool { return o.ID == v.ID }) {
			v.ID = fmt.Sprintf("vol-%02d", r.IntN(100))
		}
		switch r.IntN(10) {
		case 0:
			v.Tier = "Mixed" // not one tier: neither moves it
		case 1, 2, 3, 4:
			v.Tier = storagev1.TierNVMe
		default:
			v.Tier = storagev1.TierSATA
		}
		v.SizeBytes, v.Replicas = uint64(1+r.IntN(100))*gib, r.IntN(4) // 0: not known, one replica
		if r.IntN(8) == 0 {
			v.Pin = []storagev1.Tier{storagev1.TierNVMe, storagev1.TierSATA}[r.IntN(2)]
		}
		v.Excluded = r.IntN(10) == 0
		// Moved before the history starts (a TierMigration, a moves record, or both, either
		// one the later), or not.
		if r.IntN(3) == 0 {
			v.LastMoved = start.Add(-time.Duration(r.Int64N(int64(3 * p.Cooldown))))
		}
		if r.IntN(3) == 0 {
			v.Moves = tiering.MoveRecord{Flips: r.IntN(4), To: []storagev1.Tier{storagev1.TierNVMe, storagev1.TierSATA}[r.IntN(2)],
				At: start.Add(-time.Duration(r.Int64N(int64(3 * p.Cooldown))))}
		}
	}

	// The matrix's columns: most volumes in a shuffled order, some without any series, and a
	// series for a volume the policy does not select.
	var columns []string
	for _, v := range vols {
		if r.IntN(8) != 0 {
			columns = append(columns, v.ID)
		}
	}
	r.Shuffle(len(columns), func(i, j int) { columns[i], columns[j] = columns[j], columns[i] })
	if r.IntN(4) == 0 {
		columns = append(columns, "not-selected")
	}
	m := NewMatrix(start, step, 1+r.IntN(40), columns)
	for k := range m.Steps {
		for i := range columns {
			m.Set(k, i, diffValue(r, low, high))
		}
	}
	return diffCase{m: m, p: p, vols: vols}
}

// plannerVolume is one volume as the planner side of the test tracks it.
type plannerVolume struct {
	vol      *Volume
	tier     storagev1.Tier
	lastReal time.Time
	rec      tiering.MoveRecord
}

// diffPools are three Online pools per tier with room for anything: the backtest does not model
// capacity, so the planner must never be short of it here.
func diffPools() []tiering.PoolObservation {
	var pools []tiering.PoolObservation
	for _, tier := range []string{"nvme", "sata"} {
		for i := range 3 {
			pools = append(pools, tiering.PoolObservation{ID: fmt.Sprintf("%s-%d", tier, i), Node: fmt.Sprintf("node-%d", i),
				Labels: map[string]string{"tier": tier}, Online: true, CapacityBytes: 1 << 60})
		}
	}
	return pools
}

func (v *plannerVolume) replicaPools() []string {
	switch v.tier {
	case storagev1.TierNVMe, storagev1.TierSATA:
		prefix := strings.ToLower(string(v.tier))
		pools := make([]string, v.vol.replicas())
		for i := range pools {
			pools[i] = fmt.Sprintf("%s-%d", prefix, i)
		}
		return pools
	}
	return []string{"nvme-0", "sata-1"}
}

// diffPolicy is the StoragePolicy the replay's Params stand for; antiFlap: its anti-flap rule
// is on (else windowCooldowns 0).
func diffPolicy(p Params, antiFlap bool) *storagev1.StoragePolicy {
	slots := int32(p.Slots)
	if slots == 0 {
		slots = math.MaxInt32
	}
	spec := storagev1.StoragePolicySpec{
		HighWatermarkIOPS: p.HighWatermarkIOPS, LowWatermarkIOPS: p.LowWatermarkIOPS,
		SamplingWindow: "1h", CooldownPeriod: p.Cooldown.String(), StorageClassName: "mayastor",
		NVMePoolSelector:        metav1.LabelSelector{MatchLabels: map[string]string{"tier": "nvme"}},
		SATAPoolSelector:        metav1.LabelSelector{MatchLabels: map[string]string{"tier": "sata"}},
		MaxConcurrentMigrations: slots,
	}
	spec.AntiFlap.WindowCooldowns = ptr.To(int32(0))
	if antiFlap {
		spec.AntiFlap.WindowCooldowns = ptr.To(int32(p.AntiFlap.WindowCooldowns))
		spec.AntiFlap.MaxCooldown = p.AntiFlap.Max.String()
	}
	return &storagev1.StoragePolicy{ObjectMeta: metav1.ObjectMeta{Name: "diff"}, Spec: spec}
}

// plannedMove is one move, as both sides report it.
type plannedMove struct {
	Volume   string
	From, To storagev1.Tier
	Pinned   bool
	IOPS     string // "" when unknown
}

func (m plannedMove) String() string {
	return fmt.Sprintf("%s %s→%s pinned=%t iops=%q", m.Volume, m.From, m.To, m.Pinned, m.IOPS)
}

func iopsText(known bool, x float64) string {
	if !known {
		return ""
	}
	return fmt.Sprint(x)
}

// compareWithPlanner replays c with the replay's own loop and with tiering.PlanPolicy at each
// instant, and returns the first difference ("" when none): the moves of an instant (volume,
// from, to, pinned, IOPS), then per volume the instants a cooldown blocked and a slot deferred.
func compareWithPlanner(c diffCase, antiFlap bool) (string, error) {
	rep, err := replay(c.m, c.p, c.vols, true, antiFlap)
	if err != nil {
		return "", err
	}
	byInstant := map[time.Time][]plannedMove{}
	for _, mv := range rep.Moves {
		iops := ""
		if mv.IOPS != nil {
			iops = fmt.Sprint(*mv.IOPS)
		}
		byInstant[mv.At] = append(byInstant[mv.At], plannedMove{Volume: mv.Volume, From: mv.From, To: mv.To, Pinned: mv.Pinned, IOPS: iops})
	}

	policy := diffPolicy(c.p, antiFlap)
	flags := tiering.Flags{MaxConcurrentMigrations: math.MaxInt}
	pools := diffPools()
	column := map[string]int{}
	for i, id := range c.m.Volumes {
		column[id] = i
	}
	vols := make([]*plannerVolume, len(c.vols))
	for i := range c.vols {
		v := &c.vols[i]
		vols[i] = &plannerVolume{vol: v, tier: v.Tier, lastReal: v.LastMoved, rec: v.Moves}
	}
	blocked, deferred := map[string]int{}, map[string]int{}
	key := tiering.IOPSKey{Window: time.Hour}
	for k := range c.m.Steps {
		at, row := c.m.At(k), c.m.Row(k)
		s := &tiering.Snapshot{
			Taken: at, Volumes: map[string]*tiering.VolumeObservation{}, Pools: pools,
			PVs: map[string]*tiering.PVObservation{}, Migrations: map[string]tiering.MigrationObservation{},
			IOPS:     map[tiering.IOPSKey]*tiering.IOPSObservation{key: {Volumes: map[string]tiering.VolumeIOPS{}}},
			Policies: []*storagev1.StoragePolicy{policy},
		}
		for _, v := range vols {
			id := v.vol.ID
			s.Volumes[id] = &tiering.VolumeObservation{ID: id, SizeBytes: v.vol.SizeBytes, NumReplicas: v.vol.replicas(),
				ReplicaPools: v.replicaPools(), Published: true, Healthy: true}
			s.PVs["pvc-"+id] = &tiering.PVObservation{Name: "pvc-" + id, VolumeID: id, StorageClass: "mayastor",
				Pin: v.vol.Pin, Excluded: v.vol.Excluded, Moves: v.rec}
			s.Migrations[id] = tiering.MigrationObservation{LastAny: v.lastReal, LastReal: v.lastReal}
			if col, ok := column[id]; ok && row[col] == row[col] {
				s.IOPS[key].Volumes[id] = tiering.VolumeIOPS{Known: true, IOPS: float64(row[col])}
			}
		}
		plan := tiering.PlanPolicy(s, policy, flags, at)
		// Not Ready because every volume is Unknown (or none is selected) still decides: each
		// volume stays, which the replay must match too.
		if plan.Ready.Status != metav1.ConditionTrue && plan.Ready.Reason != storagev1.ReasonAllVolumesUnknown && plan.Ready.Reason != storagev1.ReasonNoVolumesSelected {
			return "", fmt.Errorf("the planner is not ready at %s: %s", at, plan.Ready.Message)
		}
		var planned []plannedMove
		for _, mv := range plan.Moves {
			planned = append(planned, plannedMove{Volume: mv.VolumeID, From: mv.From, To: mv.To, Pinned: mv.Pinned, IOPS: iopsText(mv.KnownIOPS, mv.IOPS)})
			for _, v := range vols {
				if v.vol.ID == mv.VolumeID { // the move ends before the next instant, as the replay assumes
					v.tier, v.lastReal = mv.To, at
					v.rec, _, _ = plan.AntiFlap.Record(v.rec, mv.To, at, false)
				}
			}
		}
		for _, d := range plan.Volumes {
			switch d.Reason {
			case storagev1.ReasonCoolingDown, storagev1.ReasonAntiFlapCooldown:
				blocked[d.VolumeID]++
			case storagev1.ReasonConcurrencyLimit:
				deferred[d.VolumeID]++
			}
		}
		replayed := byInstant[at]
		byVolume := func(a, b plannedMove) int { return cmp.Compare(a.Volume, b.Volume) }
		slices.SortFunc(planned, byVolume)
		slices.SortFunc(replayed, byVolume)
		if !slices.Equal(planned, replayed) {
			return fmt.Sprintf("instant %d (%s): the planner moves %v, the replay %v", k, at.Format(time.RFC3339), planned, replayed), nil
		}
	}
	for _, vr := range rep.Volumes {
		if vr.CooldownBlocked != blocked[vr.ID] || vr.SlotDeferred != deferred[vr.ID] {
			return fmt.Sprintf("volume %s: the planner kept it cooling down %d times and waiting for a slot %d times, the replay %d and %d",
				vr.ID, blocked[vr.ID], deferred[vr.ID], vr.CooldownBlocked, vr.SlotDeferred), nil
		}
	}
	return "", nil
}

// TestReplayDecidesAsThePlanner: on 1,000 random histories (volumes, tiers, pins, exclusions,
// earlier moves and anti-flap records, watermarks, cooldowns, slots) the replay moves exactly
// the volumes tiering.PlanPolicy moves, to the same tier, at the same instants, with and
// without anti-flap.
func TestReplayDecidesAsThePlanner(t *testing.T) {
	r := rand.New(rand.NewPCG(16, 3))
	moves := 0
	for i := range 1000 {
		c := randomDiffCase(r)
		for _, antiFlap := range []bool{false, true} {
			if antiFlap && !c.p.AntiFlap.Enabled() {
				continue
			}
			diff, err := compareWithPlanner(c, antiFlap)
			if err != nil {
				t.Fatalf("case %d: %v", i, err)
			}
			if diff != "" {
				t.Fatalf("case %d (anti-flap %t, params %+v, volumes %+v): %s", i, antiFlap, c.p, c.vols, diff)
			}
		}
		rep, _ := replay(c.m, c.p, c.vols, false, false)
		moves += rep.Totals.Moves
	}
	// The histories must exercise the rules, not agree on doing nothing.
	if moves < 1000 {
		t.Fatalf("the random histories made only %d moves", moves)
	}
}
