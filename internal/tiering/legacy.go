package tiering

// This file is the decision path of the reconciler before PlanPolicy: the policy reconciler
// still calls it until it is rebuilt on the observer's Snapshot (issue 8). Delete this file and
// legacy_test.go together with that reconciler code; nothing else uses them.

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/mayastor"
)

// ClassifyPools is Classify over Mayastor's wire pools.
//
// Deprecated: the reconciler's old path; use Classify over Snapshot.Pools.
func ClassifyPools(pools []mayastor.Pool, nvme, sata labels.Selector) PoolClassification {
	obs := make([]PoolObservation, len(pools))
	for i := range pools {
		obs[i] = ObservePool(&pools[i])
	}
	return Classify(obs, nvme, sata)
}

// VolumePlacement is PoolTiers.Placement over a Mayastor wire volume.
//
// Deprecated: the reconciler's old path; use PoolTiers.Placement.
func VolumePlacement(v *mayastor.Volume, tiers PoolTiers) Placement {
	pools := make([]string, 0, len(v.State.ReplicaTopology))
	for _, r := range v.State.ReplicaTopology {
		pools = append(pools, r.Pool)
	}
	return tiers.Placement(pools)
}

// SkipReason says why a volume is left where it is. CamelCase, fit for an Event reason.
//
// Deprecated: the reasons are the api/v1 Reason* constants.
type SkipReason string

const (
	SkipExcluded          SkipReason = storagev1.ReasonExcluded
	SkipOverlap           SkipReason = storagev1.ReasonOverlappingPolicies
	SkipInFlight          SkipReason = storagev1.ReasonMigrationInProgress
	SkipUnknownIOPS       SkipReason = storagev1.ReasonUnknownIOPS
	SkipMixed             SkipReason = storagev1.ReasonMixedPlacement
	SkipOutsideTiers      SkipReason = storagev1.ReasonOutsideTiers
	SkipUnpublished       SkipReason = storagev1.ReasonUnpublished
	SkipNotHealthy        SkipReason = storagev1.ReasonVolumeNotHealthy
	SkipCoolingDown       SkipReason = storagev1.ReasonCoolingDown
	SkipNoSlot            SkipReason = storagev1.ReasonConcurrencyLimit
	SkipNoCapacity        SkipReason = storagev1.ReasonInsufficientCapacity
	SkipAlreadyOnTarget   SkipReason = storagev1.ReasonAlreadyOnTarget
	SkipBetweenWatermarks SkipReason = storagev1.ReasonBetweenWatermarks
)

// Candidate is everything the brain needs to know about one volume.
type Candidate struct {
	VolumeID string
	// PVName is the volume's PersistentVolume, for Events and records.
	PVName string
	// Placement is where the replicas are now (VolumePlacement).
	Placement Placement
	// KnownIOPS is false when the volume has no IOPS data covering the sampling window; IOPS is
	// meaningful only when it is true. UnknownReason says why.
	KnownIOPS     bool
	IOPS          float64
	UnknownReason string
	// Published: the volume has a target (nexus); only published volumes can be rebuilt.
	Published bool
	// Healthy: the volume is Online.
	Healthy bool
	// SizeBytes and Replicas size the space a move takes on the target tier.
	SizeBytes uint64
	Replicas  int
	// Pin, when set, is the tier a person pinned the volume to: it goes there whatever its IOPS.
	Pin storagev1.Tier
	// Excluded: a person excluded the volume from tiering.
	Excluded bool
	// LastMigration is when the volume's latest migration ended or, if it has not ended, began;
	// zero if it never moved. Cooldown counts from it.
	LastMigration time.Time
	// InFlight: a migration of this volume has not ended.
	InFlight bool
	// OtherPolicies name other enabled policies that also select this volume.
	OtherPolicies []string
}

// Input is one policy's snapshot.
type Input struct {
	Now               time.Time
	HighWatermarkIOPS int64
	LowWatermarkIOPS  int64
	Cooldown          time.Duration
	// Slots is how many migrations may start now: the smaller of the policy's and the
	// operator's free concurrency.
	Slots int
	// FreeBytes is the room left on each tier, headroom already taken off.
	FreeBytes map[storagev1.Tier]uint64
	Volumes   []Candidate
}

// Skip is a volume left alone, and why.
type Skip struct {
	VolumeID string
	Reason   SkipReason
	Message  string
}

// Decision is what one policy reconcile does.
type Decision struct {
	// Moves start now.
	Moves []Move
	// Deferred would move but wait for a migration slot or for capacity.
	Deferred []Skip
	// Skips are volumes that stay put this round, with the reason.
	Skips []Skip
}

// Decide applies the tiering rules to one policy's candidates:
//
//   - hysteresis: a volume goes to NVMe when its mean IOPS is above the high watermark, to SATA
//     when below the low one, and stays otherwise;
//   - missing data is not zero: a volume without IOPS covering the window is never moved
//     (unless a person pinned it);
//   - excluded volumes, volumes selected by several policies, volumes already migrating,
//     unhealthy or unpublished volumes, and volumes with replicas on both tiers or outside them
//     stay where they are;
//   - a volume moves at most once per cooldown period;
//   - when slots or capacity bind, the hottest volumes are promoted first, then the coldest
//     demoted first; a move that does not fit in its target tier's free space waits.
//
// Deprecated: use PlanPolicy.
func Decide(in Input) Decision {
	var d Decision
	var promote, demote []Move
	for i := range in.Volumes {
		v := &in.Volumes[i]
		skip := func(r SkipReason, format string, args ...any) {
			d.Skips = append(d.Skips, Skip{VolumeID: v.VolumeID, Reason: r, Message: fmt.Sprintf(format, args...)})
		}
		switch {
		case v.Excluded:
			skip(SkipExcluded, "excluded from tiering by annotation")
			continue
		case len(v.OtherPolicies) > 0:
			skip(SkipOverlap, "also selected by StoragePolicy %v: no policy moves it until only one selects it", v.OtherPolicies)
			continue
		case v.InFlight:
			skip(SkipInFlight, "a migration of this volume is in progress")
			continue
		}

		var to storagev1.Tier
		var reason string
		switch {
		case v.Pin != "":
			to, reason = v.Pin, fmt.Sprintf("pinned to %s by annotation", v.Pin)
		case !v.KnownIOPS:
			skip(SkipUnknownIOPS, "no IOPS data covering the sampling window (%s): never read as zero", v.UnknownReason)
			continue
		case v.IOPS > float64(in.HighWatermarkIOPS):
			to, reason = storagev1.TierNVMe, fmt.Sprintf("mean IOPS %.0f above high watermark %d", v.IOPS, in.HighWatermarkIOPS)
		case v.IOPS < float64(in.LowWatermarkIOPS):
			to, reason = storagev1.TierSATA, fmt.Sprintf("mean IOPS %.0f below low watermark %d", v.IOPS, in.LowWatermarkIOPS)
		default:
			skip(SkipBetweenWatermarks, "mean IOPS %.0f between the watermarks %d and %d", v.IOPS, in.LowWatermarkIOPS, in.HighWatermarkIOPS)
			continue
		}

		switch v.Placement {
		case Placement(to):
			skip(SkipAlreadyOnTarget, "already on %s (%s)", to, reason)
			continue
		case PlacementMixed:
			skip(SkipMixed, "replicas on both tiers (a preserved source replica, or a migration that did not finish): left for a person to settle")
			continue
		case PlacementOther:
			skip(SkipOutsideTiers, "a replica is on a pool neither pool selector matches")
			continue
		}
		switch {
		case !v.Healthy:
			skip(SkipNotHealthy, "volume is not Online")
			continue
		case !v.Published:
			skip(SkipUnpublished, "volume is not published: a new replica could not be rebuilt")
			continue
		case !v.LastMigration.IsZero() && in.Now.Sub(v.LastMigration) < in.Cooldown:
			left := in.Cooldown - in.Now.Sub(v.LastMigration)
			skip(SkipCoolingDown, "moved %s ago; cooldown ends in %s", in.Now.Sub(v.LastMigration).Round(time.Second), left.Round(time.Second))
			continue
		}
		m := Move{VolumeID: v.VolumeID, PVName: v.PVName, From: other(to), To: to, KnownIOPS: v.KnownIOPS, IOPS: v.IOPS, Reason: reason, Pinned: v.Pin != ""}
		if to == storagev1.TierNVMe {
			promote = append(promote, m)
		} else {
			demote = append(demote, m)
		}
	}

	// Hottest promoted first, coldest demoted first; pinned moves before measured ones, since a
	// person asked for them. Ties by volume id, so a plan is repeatable.
	slices.SortStableFunc(promote, func(a, b Move) int {
		return cmp.Or(legacyPinnedFirst(a, b), cmp.Compare(legacyIOPSOrInf(b, +1), legacyIOPSOrInf(a, +1)), cmp.Compare(a.VolumeID, b.VolumeID))
	})
	slices.SortStableFunc(demote, func(a, b Move) int {
		return cmp.Or(legacyPinnedFirst(a, b), cmp.Compare(legacyIOPSOrInf(a, -1), legacyIOPSOrInf(b, -1)), cmp.Compare(a.VolumeID, b.VolumeID))
	})

	free := map[storagev1.Tier]uint64{}
	for k, v := range in.FreeBytes {
		free[k] = v
	}
	sizes := map[string]uint64{}
	for _, v := range in.Volumes {
		sizes[v.VolumeID] = v.SizeBytes * uint64(max(v.Replicas, 1))
	}
	slots := in.Slots
	for _, m := range append(promote, demote...) {
		need := sizes[m.VolumeID]
		switch {
		case slots <= 0:
			d.Deferred = append(d.Deferred, Skip{VolumeID: m.VolumeID, Reason: SkipNoSlot, Message: fmt.Sprintf("would move to %s (%s); waiting for a migration slot", m.To, m.Reason)})
		case need > free[m.To]:
			d.Deferred = append(d.Deferred, Skip{VolumeID: m.VolumeID, Reason: SkipNoCapacity, Message: fmt.Sprintf("would move to %s (%s); needs %d bytes, %s has %d free after headroom", m.To, m.Reason, need, m.To, free[m.To])})
		default:
			slots--
			free[m.To] -= need
			d.Moves = append(d.Moves, m)
		}
	}
	return d
}

func other(t storagev1.Tier) storagev1.Tier {
	if t == storagev1.TierNVMe {
		return storagev1.TierSATA
	}
	return storagev1.TierNVMe
}

func legacyPinnedFirst(a, b Move) int {
	switch {
	case a.Pinned == b.Pinned:
		return 0
	case a.Pinned:
		return -1
	default:
		return 1
	}
}

func legacyIOPSOrInf(m Move, sign float64) float64 {
	if !m.KnownIOPS {
		return sign * math.Inf(1)
	}
	return m.IOPS
}
