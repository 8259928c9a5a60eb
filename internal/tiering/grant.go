package tiering

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

// grant gives the ranked moves slots and room; the rest wait. promote and demote index cases.
func (plan *PolicyPlan) grant(s *Snapshot, pc *planContext, f Flags, policy string, classes PoolClassification, cases []volumeCase, promote, demote []int) {
	// Hottest promoted first, coldest demoted first; pinned moves before measured ones, since a
	// person asked for them. Ties by volume id, so a plan is repeatable.
	slices.SortFunc(promote, func(a, b int) int {
		x, y := &cases[a], &cases[b]
		return cmp.Or(pinnedFirst(x, y), cmp.Compare(iopsOrInf(y, +1), iopsOrInf(x, +1)), cmp.Compare(x.pv.VolumeID, y.pv.VolumeID))
	})
	slices.SortFunc(demote, func(a, b int) int {
		x, y := &cases[a], &cases[b]
		return cmp.Or(pinnedFirst(x, y), cmp.Compare(iopsOrInf(x, -1), iopsOrInf(y, -1)), cmp.Compare(x.pv.VolumeID, y.pv.VolumeID))
	})
	policyFree := int(pc.spec.MaxConcurrentMigrations) - s.InFlight.ByPolicy[policy]
	globalFree := f.MaxConcurrentMigrations - s.InFlight.Global
	slots := max(0, min(policyFree, globalFree))
	plan.Slots = Slots{PolicyMax: int(pc.spec.MaxConcurrentMigrations), PolicyInFlight: s.InFlight.ByPolicy[policy],
		OperatorMax: f.MaxConcurrentMigrations, OperatorInFlight: s.InFlight.Global, Free: slots}
	room := newTierRoom(s.Pools, classes, int(pc.spec.CapacityHeadroomPercent))
	for _, i := range slices.Concat(promote, demote) {
		v, d := &cases[i], &plan.Volumes[i]
		replicas := max(len(v.vol.ReplicaPools), 1)
		d.Action = ActionWait
		switch {
		case !pc.window.Open:
			d.Reason = storagev1.ReasonOutsideMigrationWindow
			d.Message = fmt.Sprintf("would move to %s (%s); outside every migration window: the next opens at %s",
				v.to, v.why, pc.window.NextOpens.UTC().Format(time.RFC3339))
		case slots <= 0 && !pc.manual:
			d.Reason = storagev1.ReasonConcurrencyLimit
			d.Message = fmt.Sprintf("would move to %s (%s); waiting for a migration slot (policy: %d of %d in flight; operator: %d of %d)",
				v.to, v.why, s.InFlight.ByPolicy[policy], pc.spec.MaxConcurrentMigrations, s.InFlight.Global, f.MaxConcurrentMigrations)
		case !room.take(v.to, replicas, v.vol.SizeBytes):
			d.Reason = storagev1.ReasonInsufficientCapacity
			d.Message = fmt.Sprintf("would move to %s (%s); needs room for %d replica(s) of %s on distinct Online %s pools with %d%% of each kept free",
				v.to, v.why, replicas, resource.NewQuantity(int64(min(v.vol.SizeBytes, math.MaxInt64)), resource.BinarySI), v.to, pc.spec.CapacityHeadroomPercent)
		default:
			slots-- // in Manual mode the move is a request for approval, which holds no slot: slots are not checked
			d.Action = ActionMove
			plan.Moves = append(plan.Moves, Move{
				VolumeID: v.pv.VolumeID, PVName: v.pv.Name, Claim: v.pv.Claim, From: storagev1.Tier(v.placement), To: v.to,
				KnownIOPS: v.iops.Known, IOPS: v.iops.IOPS, Reason: v.why, Pinned: v.pv.Pin != "",
			})
			continue
		}
		plan.Counts.Planned++
	}
}

// tierRoom tracks the room left on each target pool while moves are granted.
type tierRoom struct {
	pools    map[storagev1.Tier][]poolRoom
	headroom int
	// chosen marks the pools already holding one of the current volume's new replicas.
	chosen []bool
}

type poolRoom struct {
	capacity, used uint64
}

func newTierRoom(pools []PoolObservation, classes PoolClassification, headroom int) *tierRoom {
	r := &tierRoom{pools: map[storagev1.Tier][]poolRoom{}, headroom: headroom}
	for i := range pools {
		p := &pools[i]
		if tier, ok := classes.Tiers[p.ID]; ok && p.Online { // a pool not Online takes no new replica
			r.pools[tier] = append(r.pools[tier], poolRoom{capacity: p.CapacityBytes, used: p.UsedBytes})
		}
	}
	return r
}

// take finds a distinct pool of the tier with room for each of the volume's replicas, the pool
// with the most free space first (as the Mover and the scheduler prefer), and takes the room;
// it takes nothing when some replica has no pool.
func (r *tierRoom) take(tier storagev1.Tier, replicas int, size uint64) bool {
	pools := r.pools[tier]
	r.chosen = slices.Grow(r.chosen[:0], len(pools))[:len(pools)]
	clear(r.chosen)
	for range replicas {
		best := -1
		for i := range pools {
			p := &pools[i]
			if r.chosen[i] || !HasRoom(p.capacity, p.used, size, r.headroom) {
				continue
			}
			if best < 0 || p.capacity-p.used > pools[best].capacity-pools[best].used {
				best = i
			}
		}
		if best < 0 {
			return false
		}
		r.chosen[best] = true
	}
	for i, c := range r.chosen {
		if c {
			pools[i].used += size
		}
	}
	return true
}

func pinnedFirst(a, b *volumeCase) int {
	switch ap, bp := a.pv.Pin != "", b.pv.Pin != ""; {
	case ap == bp:
		return 0
	case ap:
		return -1
	default:
		return 1
	}
}

// iopsOrInf orders pinned volumes without data past every measured one in direction sign.
func iopsOrInf(v *volumeCase, sign float64) float64 {
	if !v.iops.Known {
		return sign * math.Inf(1)
	}
	return v.iops.IOPS
}
