package tiering

import (
	"cmp"
	"fmt"
	"strings"
	"time"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

// stayRule says whether a volume stays where it is, with an api/v1 reason and a sentence.
type stayRule func(v *volumeCase, pc *planContext) (stay bool, reason, message string)

// stayRules are checked in this order; the first that holds is the volume's reason to stay.
// A volume no rule keeps moves, if a slot and room are free.
var stayRules = []stayRule{
	excludedByAnnotation,
	invalidPin,
	selectedByAnotherPolicy,
	unknownToMayastor,
	awaitingApproval,
	alreadyMigrating,
	onBothTiers,
	outsideTiers,
	withoutIOPSData,
	betweenWatermarks,
	alreadyOnTarget,
	notHealthy,
	notPublished,
	hasSnapshots,
	oneReplicaInAffinityGroup,
	coolingDown,
}

func firstStayRule(v *volumeCase, pc *planContext) (reason, message string, stay bool) {
	for _, rule := range stayRules {
		if stay, reason, message := rule(v, pc); stay {
			return reason, message, true
		}
	}
	return "", "", false
}

// The rules build their sentence only when they hold: they run for every selected volume.

func excludedByAnnotation(v *volumeCase, _ *planContext) (bool, string, string) {
	return v.pv.Excluded, storagev1.ReasonExcluded, "excluded from tiering by the " + storagev1.AnnotationTiering + " annotation"
}

// invalidPin keeps a volume whose tier annotation names no tier where it is: the person meant
// to pin it somewhere, and its IOPS may send it the other way.
func invalidPin(v *volumeCase, _ *planContext) (bool, string, string) {
	if v.pv.BadPin == "" {
		return false, "", ""
	}
	return true, storagev1.ReasonInvalidPin, fmt.Sprintf("the %s annotation %q names no tier: use NVMe or SATA (any case), or remove it; the volume stays where it is until then",
		storagev1.AnnotationTier, v.pv.BadPin)
}

func selectedByAnotherPolicy(v *volumeCase, _ *planContext) (bool, string, string) {
	if len(v.overlaps) == 0 {
		return false, "", ""
	}
	return true, storagev1.ReasonOverlappingPolicies,
		fmt.Sprintf("also selected by StoragePolicy %s: no policy moves it until only one selects it", strings.Join(v.overlaps, ", "))
}

func unknownToMayastor(v *volumeCase, _ *planContext) (bool, string, string) {
	if v.vol != nil {
		return false, "", ""
	}
	return true, storagev1.ReasonVolumeNotFound, "Mayastor does not list volume " + v.pv.VolumeID
}

func awaitingApproval(v *volumeCase, _ *planContext) (bool, string, string) {
	if v.migration.WaitingApproval == "" {
		return false, "", ""
	}
	return true, storagev1.ReasonWaitingApproval, "TierMigration " + v.migration.WaitingApproval + " waits for approval (annotate it " +
		storagev1.AnnotationApproved + `="true" or ` + storagev1.AnnotationRejected + `="true")`
}

func alreadyMigrating(v *volumeCase, _ *planContext) (bool, string, string) {
	return v.migration.InFlight, storagev1.ReasonMigrationInProgress, "a migration of this volume is in progress"
}

func onBothTiers(v *volumeCase, _ *planContext) (bool, string, string) {
	return v.placement == PlacementMixed, storagev1.ReasonMixedPlacement,
		"replicas on both tiers (a preserved source replica, or a migration that did not finish): left for a person to settle"
}

func outsideTiers(v *volumeCase, _ *planContext) (bool, string, string) {
	return v.placement == PlacementOther, storagev1.ReasonOutsideTiers, "a replica is on a pool neither pool selector matches, or no replica is known"
}

func withoutIOPSData(v *volumeCase, _ *planContext) (bool, string, string) {
	if v.iops.Known || v.pv.Pin != "" {
		return false, "", ""
	}
	why := cmp.Or(v.iops.Reason, storagev1.ReasonNoSeries)
	return true, storagev1.ReasonUnknownIOPS, "no IOPS data covering the sampling window (" + why + "): never read as zero"
}

func betweenWatermarks(v *volumeCase, pc *planContext) (bool, string, string) {
	if v.to != "" {
		return false, "", ""
	}
	return true, storagev1.ReasonBetweenWatermarks,
		fmt.Sprintf("mean IOPS %.0f between the watermarks %d and %d", v.iops.IOPS, pc.spec.LowWatermarkIOPS, pc.spec.HighWatermarkIOPS)
}

func alreadyOnTarget(v *volumeCase, _ *planContext) (bool, string, string) {
	if v.placement != Placement(v.to) {
		return false, "", ""
	}
	return true, storagev1.ReasonAlreadyOnTargetTier, fmt.Sprintf("already on %s (%s)", v.to, v.why)
}

func notHealthy(v *volumeCase, _ *planContext) (bool, string, string) {
	return !v.vol.Healthy, storagev1.ReasonVolumeNotHealthy, "volume is not Online"
}

func notPublished(v *volumeCase, _ *planContext) (bool, string, string) {
	return !v.vol.Published, storagev1.ReasonVolumeUnpublished, "volume is not published: a new replica could not be rebuilt"
}

func hasSnapshots(v *volumeCase, _ *planContext) (bool, string, string) {
	if v.vol.Snapshots == 0 {
		return false, "", ""
	}
	return true, storagev1.ReasonVolumeHasSnapshots,
		fmt.Sprintf("the volume has %d snapshot(s): a rebuilt replica does not carry them, so the Mover refuses such volumes", v.vol.Snapshots)
}

func oneReplicaInAffinityGroup(v *volumeCase, _ *planContext) (bool, string, string) {
	if v.vol.AffinityGroup == "" || v.vol.NumReplicas >= 2 {
		return false, "", ""
	}
	return true, storagev1.ReasonAffinityGroupMinimum,
		fmt.Sprintf("in affinity group %q with %d replica: the control plane never lowers it below 2 replicas, so the Mover refuses it", v.vol.AffinityGroup, v.vol.NumReplicas)
}

// coolingDown counts from the volume's latest real move, or from its latest move of any kind
// for a dry run: a dry run starts no cooldown for real moves, so turning dry-run off acts at
// once. The latest real move is also read from the PV's moves record, which outlives the
// TierMigrations. A volume that flipped cools down longer: cooldownPeriod × 2^flips, at most
// antiFlap.maxCooldown (AntiFlapCooldown).
func coolingDown(v *volumeCase, pc *planContext) (bool, string, string) {
	c := VolumeCooldown(v.migration, v.pv.Moves, pc.antiFlap, pc.dryRun, pc.now)
	if c.Left <= 0 {
		return false, "", ""
	}
	ago := pc.now.Sub(c.Last)
	if c.Length > pc.cooldown {
		return true, storagev1.ReasonAntiFlapCooldown,
			fmt.Sprintf("moved %s ago; flip %d: cooldown extended to %s (cooldownPeriod %s × 2^%d, at most %s); ends in %s",
				ago.Round(time.Second), c.Flips, c.Length, pc.cooldown, c.Flips, pc.antiFlap.Max, c.Left.Round(time.Second))
	}
	return true, storagev1.ReasonCoolingDown,
		fmt.Sprintf("moved %s ago; cooldown ends in %s", ago.Round(time.Second), c.Left.Round(time.Second))
}

// CooldownState is where a volume stands in its cooldown.
type CooldownState struct {
	// Last is the move the cooldown counts from; zero when the volume never moved.
	Last time.Time
	// Length is the volume's cooldown: cooldownPeriod, lengthened for Flips flips (anti-flap).
	Length time.Duration
	Flips  int
	// Left is what remains of it; 0 when it is over.
	Left time.Duration
}

// VolumeCooldown is a volume's cooldown at now, as coolingDown judges it: from its latest real
// move (any move, for a dry run) or its PV's moves record, whichever is later.
func VolumeCooldown(m MigrationObservation, rec MoveRecord, af AntiFlap, dryRun bool, now time.Time) CooldownState {
	last := m.LastReal
	if dryRun {
		last = m.LastAny
	}
	if rec.At.After(last) {
		last = rec.At
	}
	c := CooldownState{Last: last, Length: af.Cooldown(rec.Flips), Flips: rec.Flips}
	if !last.IsZero() && now.Sub(last) < c.Length {
		c.Left = c.Length - now.Sub(last)
	}
	return c
}
