// Package backtest replays a StoragePolicy's rules over the IOPS history Prometheus holds and
// reports what they would have moved, when, and how often a volume would have flipped between
// the tiers. The replay's rules are the planner's (tiering.PlanPolicy), held to it by a
// differential test.
package backtest

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/tiering"
)

// Params are the planner's rules a replay applies: the policy's watermarks, cooldown and
// migration slots.
type Params struct {
	// LowWatermarkIOPS and HighWatermarkIOPS: above High a volume goes to NVMe, below Low to
	// SATA, in between (either bound included) it stays, as tiering.PlanPolicy decides.
	LowWatermarkIOPS, HighWatermarkIOPS int64
	// Cooldown is the least time between two moves of one volume.
	Cooldown time.Duration
	// Slots bounds the moves started at one evaluation (the policy's maxConcurrentMigrations,
	// or less when the operator's limit is lower); 0 means no bound. The replay assumes every
	// migration ends before the next evaluation, so Slots is an upper bound of what the
	// operator would start.
	Slots int
	// Days is the time zone whose calendar days Report.Days counts in; nil means UTC.
	Days *time.Location
	// AntiFlap is the policy's anti-flap rule (its Base is taken from Cooldown). When it is
	// enabled, Replay replays a second time with the cooldown anti-flap lengthens and reports
	// the flips it would have prevented (Report.FlipsPreventedByAntiFlap); the report itself
	// is the replay with the plain cooldown.
	AntiFlap tiering.AntiFlap
}

// Volume is one volume the policy selects, as it is today.
type Volume struct {
	// ID is the Mayastor volume uuid (the pv_name label is pvc-<ID>).
	ID string
	// Tier is where its replicas are now: NVMe or SATA. A volume with another placement
	// (replicas on both tiers, or off the policy's pools) is not replayed: the planner leaves
	// it alone.
	Tier storagev1.Tier
	// SizeBytes and Replicas say what a move rebuilds: one replica of SizeBytes per replica.
	SizeBytes uint64
	Replicas  int
	// LastMoved is when the volume's latest real migration ended, if any: its cooldown (from
	// the later of LastMoved and Moves.At) runs into the replay.
	LastMoved time.Time
	// Moves is the volume's anti-flap record (the PV's moves annotation), if any: the
	// anti-flap replay starts from its flips. Without one, the volume's next move is no flip,
	// as for the planner, even if it has moved before (LastMoved).
	Moves tiering.MoveRecord
	// Pin is the tier a person pinned the volume to ("" when not pinned): it goes there
	// whatever its IOPS, and stays. Excluded volumes never move.
	Pin      storagev1.Tier
	Excluded bool
}

// replicas is how many replicas a move rebuilds (a volume whose count is not known has one).
func (v *Volume) replicas() int { return max(v.Replicas, 1) }

// tier codes in the replay's hot loop.
const (
	tierNone int8 = iota
	tierNVMe
	tierSATA
)

func tierCode(t storagev1.Tier) int8 {
	switch t {
	case storagev1.TierNVMe:
		return tierNVMe
	case storagev1.TierSATA:
		return tierSATA
	}
	return tierNone
}

func tierName(c int8) storagev1.Tier {
	if c == tierNVMe {
		return storagev1.TierNVMe
	}
	return storagev1.TierSATA
}

// volumeState is one replayed volume.
type volumeState struct {
	vol    *Volume
	col    int // column in the matrix, -1 when Prometheus has no series for it
	tier   int8
	pin    int8
	frozen bool // excluded
	// lastMove is the instant of its latest move (UnixNano), hasMoved whether there is one.
	lastMove int64
	hasMoved bool
	// cooldown is the volume's cooldown (UnixNano); rec its anti-flap record (anti-flap
	// replays only).
	cooldown int64
	rec      tiering.MoveRecord
	// replayed: the replay moved it; a later move is a flip. A move made before the range
	// does not count (its direction is not known here).
	replayed, flipped bool
	report            *VolumeReport
}

// candidate is a volume that should move at one instant and is not cooling down.
type candidate struct {
	state  *volumeState
	to     int8
	iops   float32 // NaN for a pinned volume without data
	pinned bool
}

// Replay runs the planner's rules over an IOPS history, starting from the volumes' tiers, and
// reports what it would have done. It is pure: the same inputs give the same report.
//
// At each instant of the matrix, in order, each volume wants NVMe when its IOPS are above the
// high watermark, SATA below the low one, and otherwise stays; Unknown IOPS keep it where it
// is. A volume pinned by annotation wants its pin; an excluded one stays. A volume that wants
// the tier it is on stays; one moved less than Cooldown ago waits (CooldownBlocked). The others
// are ranked as tiering.PlanPolicy ranks them (promotions before demotions; within each, pinned
// first, then the hottest promotion or the coldest demotion, then volume id) and the first Slots
// move at that instant; the rest wait (SlotDeferred) and are decided again at the next instant.
// A move ends before the next instant. TestReplayDecidesAsThePlanner holds these rules to the
// planner's.
//
// Time on the right tier is judged at each instant for the tier the volume held during the
// window just measured (before that instant's move): above high on NVMe, below low on SATA,
// in between on either; each instant stands for one Step.
//
// With p.AntiFlap enabled, a second replay (totals only) lengthens each volume's cooldown after
// its flips as the planner does (tiering.AntiFlap), and Report.FlipsPreventedByAntiFlap is how
// many fewer flips it makes.
func Replay(m *Matrix, p Params, volumes []Volume) (*Report, error) {
	r, err := replay(m, p, volumes, true, false)
	if err != nil || !p.AntiFlap.Enabled() {
		return r, err
	}
	af, err := replay(m, p, volumes, false, true)
	if err != nil {
		return nil, err
	}
	r.AntiFlapWindowCooldowns, r.AntiFlapMaxCooldown = p.AntiFlap.WindowCooldowns, Duration(p.AntiFlap.Max)
	r.FlipsPreventedByAntiFlap = max(0, r.Totals.Flips-af.Totals.Flips)
	return r, nil
}

func (p *Params) validate() error {
	switch {
	case p.LowWatermarkIOPS < 0:
		return fmt.Errorf("backtest: low watermark %d is negative", p.LowWatermarkIOPS)
	case p.LowWatermarkIOPS >= p.HighWatermarkIOPS:
		return fmt.Errorf("backtest: low watermark %d must be below high watermark %d", p.LowWatermarkIOPS, p.HighWatermarkIOPS)
	case p.Cooldown < 0:
		return fmt.Errorf("backtest: cooldown %s is negative", p.Cooldown)
	case p.Slots < 0:
		return fmt.Errorf("backtest: slots %d is negative", p.Slots)
	}
	return nil
}

// replay is Replay; detailed=false keeps only the totals (for a watermark grid); antiFlap
// lengthens the cooldown of volumes that flip, as p.AntiFlap says.
func replay(m *Matrix, p Params, volumes []Volume, detailed, antiFlap bool) (*Report, error) {
	if err := m.validate(); err != nil {
		return nil, err
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	loc := p.Days
	if loc == nil {
		loc = time.UTC
	}
	r := &Report{
		From: m.Start, Step: Duration(m.Step), Evaluations: m.Steps,
		LowWatermarkIOPS: p.LowWatermarkIOPS, HighWatermarkIOPS: p.HighWatermarkIOPS,
		Cooldown: Duration(p.Cooldown), Slots: p.Slots,
	}
	if m.Steps > 0 {
		r.To = m.At(m.Steps - 1)
	}
	af := p.AntiFlap
	af.Base = p.Cooldown
	columns := make(map[string]int, len(m.Volumes))
	for i, id := range m.Volumes {
		columns[id] = i
	}

	states := make([]volumeState, 0, len(volumes))
	var reports []VolumeReport
	if detailed {
		reports = make([]VolumeReport, 0, len(volumes))
	}
	seen := make(map[string]bool, len(volumes))
	for i := range volumes {
		v := &volumes[i]
		if seen[v.ID] {
			return nil, fmt.Errorf("backtest: volume %s is given twice", v.ID)
		}
		seen[v.ID] = true
		t := tierCode(v.Tier)
		if t == tierNone {
			r.Skipped = append(r.Skipped, SkippedVolume{ID: v.ID, Reason: fmt.Sprintf("placement %q is not one tier: the planner leaves it alone", v.Tier)})
			continue
		}
		col, ok := columns[v.ID]
		if !ok {
			col = -1
		}
		s := volumeState{vol: v, col: col, tier: t, pin: tierCode(v.Pin), frozen: v.Excluded, cooldown: p.Cooldown.Nanoseconds()}
		// The cooldown runs from the later of the latest migration and the moves record, as
		// the planner reads them (TierMigrations are cleaned up, the record stays).
		if last := lastMoved(v.LastMoved, v.Moves); !last.IsZero() {
			s.lastMove, s.hasMoved = last.UnixNano(), true
		}
		if antiFlap {
			// Without a record the planner counts no flip, whatever LastMoved says: the
			// reconciler folds a move into the PV's record only.
			s.rec = v.Moves
			s.cooldown = af.Cooldown(s.rec.Flips).Nanoseconds()
		}
		states = append(states, s)
		if detailed {
			reports = append(reports, VolumeReport{ID: v.ID, InitialTier: v.Tier, FinalTier: v.Tier, SizeBytes: v.SizeBytes, Replicas: v.replicas()})
		}
	}
	if detailed {
		for i := range states {
			states[i].report = &reports[i]
		}
	}
	high, low := float32(p.HighWatermarkIOPS), float32(p.LowWatermarkIOPS)
	// A float32 holds every watermark below 2^24 exactly; above that the comparisons below
	// are made in float64, as the planner makes them.
	exact := p.HighWatermarkIOPS < 1<<24
	step := m.Step
	days := newDayIndex(m, loc)
	r.Days = days.reports
	var cands []candidate
	nan := float32(math.NaN())

	for k := range m.Steps {
		row := m.Row(k)
		at := m.At(k)
		now := at.UnixNano()
		cands = cands[:0]
		for j := range states {
			s := &states[j]
			x := nan
			if s.col >= 0 {
				x = row[s.col]
			}
			// want is the tier the IOPS call for (tierNone: stay, or Unknown).
			want := tierNone
			known := x == x // not NaN
			if known {
				above, below := x > high, x < low
				if !exact {
					above, below = float64(x) > float64(p.HighWatermarkIOPS), float64(x) < float64(p.LowWatermarkIOPS)
				}
				switch {
				case above:
					want = tierNVMe
				case below:
					want = tierSATA
				}
			}
			switch {
			case !known:
				r.Totals.UnknownEvaluations++
				if s.report != nil {
					s.report.Unknown += Duration(step)
				}
			case want == tierNone || want == s.tier:
				r.Totals.RightEvaluations++
				if s.report != nil {
					s.report.RightTier += Duration(step)
				}
			default:
				r.Totals.WrongEvaluations++
				if s.report != nil {
					s.report.WrongTier += Duration(step)
				}
			}
			if s.pin != tierNone {
				want = s.pin
			}
			if s.frozen || want == tierNone || want == s.tier {
				continue
			}
			if s.hasMoved && now-s.lastMove < s.cooldown {
				r.Totals.CooldownBlocked++
				if s.report != nil {
					s.report.CooldownBlocked++
				}
				continue
			}
			cands = append(cands, candidate{state: s, to: want, iops: x, pinned: s.pin != tierNone})
		}
		if p.Slots > 0 && len(cands) > p.Slots {
			firstRanked(cands, p.Slots)
			for _, c := range cands[p.Slots:] {
				r.Totals.SlotDeferred++
				if c.state.report != nil {
					c.state.report.SlotDeferred++
				}
			}
			cands = cands[:p.Slots]
		}
		for _, c := range cands {
			s := c.state
			mv := Move{Volume: s.vol.ID, At: at, From: tierName(s.tier), To: tierName(c.to), Pinned: c.pinned,
				Bytes: s.vol.SizeBytes * uint64(s.vol.replicas())}
			if c.iops == c.iops {
				iops := float64(c.iops)
				mv.IOPS = &iops
			}
			if s.replayed {
				mv.Flip, s.flipped = true, true
				mv.SincePrevious = Duration(now - s.lastMove)
			}
			s.replayed = true
			s.tier, s.lastMove, s.hasMoved = c.to, now, true
			if antiFlap {
				s.rec, _, _ = af.Record(s.rec, mv.To, at, false)
				s.cooldown = af.Cooldown(s.rec.Flips).Nanoseconds()
			}
			r.Totals.add(&mv)
			days.add(at, &mv)
			if s.report != nil {
				s.report.add(&mv)
				s.report.FinalTier = mv.To
			}
			if detailed {
				r.Moves = append(r.Moves, mv)
			}
		}
	}
	for j := range states {
		if states[j].replayed {
			r.Totals.VolumesMoved++
		}
		if states[j].flipped {
			r.Totals.VolumesFlipped++
		}
	}
	if detailed {
		r.Volumes = reports
	} else {
		r.Days = nil
	}
	r.Totals.Volumes = len(states)
	r.Totals.RightTier = volumeTime(r.Totals.RightEvaluations, step)
	r.Totals.WrongTier = volumeTime(r.Totals.WrongEvaluations, step)
	r.Totals.Unknown = volumeTime(r.Totals.UnknownEvaluations, step)
	return r, nil
}

// firstRanked moves the n first-ranked candidates, in rank order, to the front of cands. With
// few slots and many candidates (a diurnal load when the slots are busy) a selection is much
// cheaper than a sort.
func firstRanked(cands []candidate, n int) {
	if n > 32 {
		slices.SortFunc(cands, compareCandidates)
		return
	}
	for i := range n {
		best := i
		for j := i + 1; j < len(cands); j++ {
			if compareCandidates(cands[j], cands[best]) < 0 {
				best = j
			}
		}
		cands[i], cands[best] = cands[best], cands[i]
	}
}

// compareCandidates orders the moves of one instant as tiering.PlanPolicy grants them:
// promotions before demotions; pinned first within each; the hottest promotion and the coldest
// demotion first (a pinned volume without data before every measured one); then volume id.
func compareCandidates(a, b candidate) int {
	if a.to != b.to {
		if a.to == tierNVMe {
			return -1
		}
		return 1
	}
	if a.pinned != b.pinned {
		if a.pinned {
			return -1
		}
		return 1
	}
	ai, bi := rankIOPS(a), rankIOPS(b)
	if a.to == tierNVMe {
		ai, bi = bi, ai // hottest first
	}
	return cmp.Or(cmp.Compare(ai, bi), cmp.Compare(a.state.vol.ID, b.state.vol.ID))
}

// rankIOPS puts a candidate without data first in its direction, as the planner's iopsOrInf.
func rankIOPS(c candidate) float64 {
	if c.iops != c.iops {
		if c.to == tierNVMe {
			return math.Inf(1)
		}
		return math.Inf(-1)
	}
	return float64(c.iops)
}
