package tiering

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/mayastor"
)

// Move is one migration to start.
type Move struct {
	VolumeID string
	PVName   string
	// Claim is the bound PVC, "namespace/name" ("" when unbound): Events go on it too.
	Claim    string
	From, To storagev1.Tier
	// KnownIOPS and IOPS are the measurement behind the move (absent for a pinned volume
	// without data).
	KnownIOPS bool
	IOPS      float64
	// Reason is a sentence for the TierMigration and the Event.
	Reason string
	// Pinned: the move follows a pin annotation, not the watermarks.
	Pinned bool
}

// Action is what a plan does with one volume this cycle.
type Action string

const (
	// ActionMove: a migration of the volume starts now (it is in PolicyPlan.Moves).
	ActionMove Action = "Move"
	// ActionWait: the volume would move but waits for a migration window, a migration slot or
	// room on its target tier (counted in PolicyCounts.Planned).
	ActionWait Action = "Wait"
	// ActionStay: the volume stays where it is.
	ActionStay Action = "Stay"
)

// VolumeDecision is what the plan does with one selected volume, and why.
type VolumeDecision struct {
	VolumeID, PVName, Claim string
	// Placement is where its replicas are ("" when not known: the volume is not in Mayastor,
	// or the policy is not active).
	Placement Placement
	Action    Action
	// To is the tier the volume goes to (ActionMove) or would go to (ActionWait).
	To storagev1.Tier
	// Reason is an api/v1 Reason* constant; Message says it in a sentence.
	Reason  string
	Message string
}

// PolicyCounts are the figures of a policy's status.
type PolicyCounts struct {
	// Watched: selected volumes. NVMe, SATA: those whose replicas are all on one tier.
	// Unknown: those without IOPS data covering the window (all of them when the metrics are
	// unavailable). Planned: volumes waiting for a slot or room. Active: the policy's
	// migrations in flight that hold a slot. WaitingApproval: selected volumes whose
	// migration waits for a person's approval.
	Watched, NVMe, SATA, Unknown, Planned, Active, WaitingApproval int
}

// Condition is the value of one of the policy's conditions.
type Condition struct {
	Status  metav1.ConditionStatus
	Reason  string
	Message string
}

// As returns the condition with its type and the generation it describes, ready for
// meta.SetStatusCondition.
func (c Condition) As(conditionType string, generation int64) metav1.Condition {
	return metav1.Condition{Type: conditionType, Status: c.Status, Reason: c.Reason, Message: c.Message, ObservedGeneration: generation}
}

// PolicyPlan is what one policy does with one snapshot.
type PolicyPlan struct {
	// Moves are the migrations to start now, in order: pinned first, then the hottest
	// promotions, then the coldest demotions.
	Moves []Move
	// Volumes holds every selected volume's decision, by volume id.
	Volumes []VolumeDecision
	Counts  PolicyCounts
	// Storage, Metrics and Ready are the StorageAvailable, MetricsAvailable and Ready
	// conditions.
	Storage, Metrics, Ready Condition
	// Overlaps maps the uuid of each selected volume another enabled policy of the same
	// StorageClass also selects to those policies' names, sorted.
	Overlaps map[string][]string
	// DryRun and PreservationMode are the effective modes: the policy's or the operator's.
	DryRun, PreservationMode bool
	// Window says whether a migration window is open now (always, for a policy without
	// windows) and when it closes or the next one opens.
	Window WindowState
	// Manual: Moves are to be created waiting for approval, for ApprovalTimeout.
	Manual          bool
	ApprovalTimeout time.Duration
	// AntiFlap is the policy's anti-flap rule: the reconciler records each real move with it.
	AntiFlap AntiFlap
}

// PlanPolicy decides, for every volume a policy selects, whether it moves now, waits or stays,
// from one snapshot, the operator's flags and the clock. It reads the snapshot and changes
// nothing; the same inputs give the same plan.
//
//   - The policy is not active (no volume moves, the conditions say why) when its spec is
//     invalid, it is disabled, Mayastor could not be read, its pool selectors do not give two
//     tiers, or its IOPS evaluation failed or is not in the snapshot yet.
//   - Otherwise each volume goes through stayRules, in order; the first rule that holds keeps it
//     where it is. A volume goes to NVMe above the high watermark, to SATA below the low one, or
//     to the tier a person pinned it to; missing IOPS data is never read as zero.
//   - The volumes that should move are ranked (pinned first, hottest promotions, coldest
//     demotions, then volume id) and given slots — the policy's maxConcurrentMigrations and the
//     operator's limit, less the migrations in flight — and room: each replica needs a distinct
//     Online pool of the target tier with room for it and the headroom kept (mayastor.HasRoom,
//     the Mover's rule), counting the room taken by the moves granted before it. The others
//     wait.
//   - Outside every migration window of the policy, every volume that would move waits
//     (OutsideMigrationWindow); migrations already running are not the planner's to stop.
//   - In Manual approval mode the moves are requests for approval: they hold no slot, so slots
//     are not checked (the migration controller admits them once approved); room still is.
//     A volume whose migration waits for approval stays (WaitingApproval).
func PlanPolicy(s *Snapshot, p *storagev1.StoragePolicy, f Flags, now time.Time) PolicyPlan {
	spec := &p.Spec
	plan := PolicyPlan{Counts: PolicyCounts{Active: s.InFlight.ByPolicy[p.Name]}}
	plan.DryRun, plan.PreservationMode = EffectiveModes(spec, f)

	c, err := CompilePolicy(spec)
	if err != nil {
		msg := err.Error()
		plan.Storage = Condition{metav1.ConditionUnknown, storagev1.ReasonInvalidSpec, msg}
		plan.Metrics = plan.Storage
		plan.Ready = Condition{metav1.ConditionFalse, storagev1.ReasonInvalidSpec, msg}
		return plan
	}
	idx := s.index()
	selected := idx.selectedFor(p, &c)
	plan.Counts.Watched = len(selected)
	plan.Overlaps = idx.overlapsOf(p.Name, selected)
	cases := make([]volumeCase, len(selected))
	for i, pv := range selected {
		cases[i] = volumeCase{pv: pv, vol: s.Volumes[pv.VolumeID], migration: s.Migrations[pv.VolumeID], overlaps: plan.Overlaps[pv.VolumeID]}
	}

	if !p.IsEnabled() {
		const msg = "spec.enabled is false: the policy starts no migration"
		plan.Storage = Condition{metav1.ConditionUnknown, storagev1.ReasonDisabled, msg}
		plan.Metrics = plan.Storage
		plan.Ready = Condition{metav1.ConditionFalse, storagev1.ReasonDisabled, msg}
		plan.Volumes = stayAll(cases, msg)
		return plan
	}

	var classes PoolClassification
	plan.Storage, classes = storageCondition(s, &c, cases)
	iops := s.IOPS[c.IOPS]
	plan.Metrics = metricsCondition(iops, spec, cases)
	for i := range cases {
		v := &cases[i]
		switch v.placement {
		case PlacementNVMe:
			plan.Counts.NVMe++
		case PlacementSATA:
			plan.Counts.SATA++
		}
		if iops != nil && iops.Problem == nil {
			v.iops = iops.Volumes[v.pv.VolumeID]
		}
		if !v.iops.Known {
			plan.Counts.Unknown++
		}
	}
	switch {
	case plan.Storage.Status != metav1.ConditionTrue:
		plan.Ready = Condition{metav1.ConditionFalse, plan.Storage.Reason, plan.Storage.Message}
		plan.Volumes = stayAll(cases, "StorageAvailable is not True ("+plan.Storage.Reason+"): "+plan.Storage.Message)
		return plan
	case plan.Metrics.Status != metav1.ConditionTrue:
		// Without trustworthy IOPS nothing moves: silence is not a cold volume.
		msg := "no migration is started: " + plan.Metrics.Message
		plan.Ready = Condition{metav1.ConditionFalse, plan.Metrics.Reason, msg}
		plan.Volumes = stayAll(cases, "MetricsAvailable is not True ("+plan.Metrics.Reason+"): "+plan.Metrics.Message)
		return plan
	}

	plan.Window = c.Windows.At(now)
	plan.Manual, plan.ApprovalTimeout, plan.AntiFlap = c.Manual, c.ApprovalTimeout, c.AntiFlap
	pc := &planContext{spec: spec, cooldown: c.Cooldown, antiFlap: c.AntiFlap, dryRun: plan.DryRun, now: now, window: plan.Window, manual: c.Manual}
	plan.Volumes = make([]VolumeDecision, len(cases))
	var promote, demote []int // indexes in cases of the volumes that should move
	for i := range cases {
		v := &cases[i]
		v.wantTier(spec)
		d := &plan.Volumes[i]
		*d = VolumeDecision{VolumeID: v.pv.VolumeID, PVName: v.pv.Name, Claim: v.pv.Claim, Placement: v.placement, Action: ActionStay}
		if reason, msg, stay := firstStayRule(v, pc); stay {
			d.Reason, d.Message = reason, msg
			if reason == storagev1.ReasonWaitingApproval {
				plan.Counts.WaitingApproval++
			}
			continue
		}
		d.To, d.Reason, d.Message = v.to, v.reason, v.why
		if v.to == storagev1.TierNVMe {
			promote = append(promote, i)
		} else {
			demote = append(demote, i)
		}
	}
	plan.grant(s, pc, f, p.Name, classes, cases, promote, demote)

	overlapNote := ""
	if len(plan.Overlaps) > 0 {
		// Reported, never fought over: such volumes stay until one policy selects them.
		first := ""
		for id := range plan.Overlaps {
			if first == "" || id < first {
				first = id
			}
		}
		overlapNote = fmt.Sprintf("; %d volumes are also selected by another policy and are left alone (e.g. %s: %v)",
			len(plan.Overlaps), first, plan.Overlaps[first])
	}
	windowNote := ""
	if w := plan.Window; w.Configured && !w.Open {
		windowNote = "; outside every migration window until " + w.NextOpens.UTC().Format(time.RFC3339)
	}
	approvalNote := ""
	if plan.Counts.WaitingApproval > 0 || plan.Manual {
		approvalNote = fmt.Sprintf("; %d waiting for approval", plan.Counts.WaitingApproval)
	}
	plan.Ready = Condition{metav1.ConditionTrue, storagev1.ReasonEvaluated,
		fmt.Sprintf("%d volumes watched: %d on NVMe, %d on SATA, %d without IOPS data; %d migrations to start, %d waiting%s%s%s",
			plan.Counts.Watched, plan.Counts.NVMe, plan.Counts.SATA, plan.Counts.Unknown, len(plan.Moves), plan.Counts.Planned,
			approvalNote, windowNote, overlapNote)}
	return plan
}

// ---- the skip rules ----

// planContext is what the rules read besides the volume.
type planContext struct {
	spec     *storagev1.StoragePolicySpec
	cooldown time.Duration
	antiFlap AntiFlap
	dryRun   bool
	now      time.Time
	window   WindowState
	manual   bool
}

// volumeCase is one selected volume and what is known of it.
type volumeCase struct {
	pv *PVObservation
	// vol is nil when Mayastor does not list the volume.
	vol       *VolumeObservation
	placement Placement
	iops      VolumeIOPS
	migration MigrationObservation
	overlaps  []string
	// to is the tier the volume should be on ("" when its IOPS say stay or are unknown); why
	// says so in a sentence, reason as an api/v1 reason.
	to          storagev1.Tier
	why, reason string
}

// wantTier sets the tier the volume should be on: the pinned one, else the one its IOPS call
// for.
func (v *volumeCase) wantTier(spec *storagev1.StoragePolicySpec) {
	switch {
	case v.pv.Pin != "":
		v.to, v.reason, v.why = v.pv.Pin, storagev1.ReasonPinned, fmt.Sprintf("pinned to %s by annotation", v.pv.Pin)
	case !v.iops.Known:
	case v.iops.IOPS > float64(spec.HighWatermarkIOPS):
		v.to, v.reason, v.why = storagev1.TierNVMe, storagev1.ReasonAboveHighWatermark,
			fmt.Sprintf("mean IOPS %.0f above high watermark %d", v.iops.IOPS, spec.HighWatermarkIOPS)
	case v.iops.IOPS < float64(spec.LowWatermarkIOPS):
		v.to, v.reason, v.why = storagev1.TierSATA, storagev1.ReasonBelowLowWatermark,
			fmt.Sprintf("mean IOPS %.0f below low watermark %d", v.iops.IOPS, spec.LowWatermarkIOPS)
	}
}

// stayRule says whether a volume stays where it is, with an api/v1 reason and a sentence.
type stayRule func(v *volumeCase, pc *planContext) (stay bool, reason, message string)

// stayRules are checked in this order; the first that holds is the volume's reason to stay.
// A volume no rule keeps moves, if a slot and room are free.
var stayRules = []stayRule{
	excludedByAnnotation,
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
	why := cmp.Or(v.iops.Reason, "NoSeries")
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
	return true, storagev1.ReasonAlreadyOnTarget, fmt.Sprintf("already on %s (%s)", v.to, v.why)
}

func notHealthy(v *volumeCase, _ *planContext) (bool, string, string) {
	return !v.vol.Healthy, storagev1.ReasonVolumeNotHealthy, "volume is not Online"
}

func notPublished(v *volumeCase, _ *planContext) (bool, string, string) {
	return !v.vol.Published, storagev1.ReasonUnpublished, "volume is not published: a new replica could not be rebuilt"
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
	last := v.migration.LastReal
	if pc.dryRun {
		last = v.migration.LastAny
	}
	rec := v.pv.Moves
	if rec.At.After(last) {
		last = rec.At
	}
	cooldown := pc.antiFlap.Cooldown(rec.Flips)
	if last.IsZero() || pc.now.Sub(last) >= cooldown {
		return false, "", ""
	}
	ago := pc.now.Sub(last)
	if cooldown > pc.cooldown {
		return true, storagev1.ReasonAntiFlapCooldown,
			fmt.Sprintf("moved %s ago; flip %d: cooldown extended to %s (cooldownPeriod %s × 2^%d, at most %s); ends in %s",
				ago.Round(time.Second), rec.Flips, cooldown, pc.cooldown, rec.Flips, pc.antiFlap.Max, (cooldown - ago).Round(time.Second))
	}
	return true, storagev1.ReasonCoolingDown,
		fmt.Sprintf("moved %s ago; cooldown ends in %s", ago.Round(time.Second), (cooldown - ago).Round(time.Second))
}

// ---- slots and room ----

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
			if r.chosen[i] || !mayastor.HasRoom(p.capacity, p.used, size, r.headroom) {
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

// ---- selection and the policy's conditions ----

// storageCondition says whether Mayastor answered and the policy's pools make two tiers, and
// places each selected volume Mayastor lists.
func storageCondition(s *Snapshot, c *CompiledPolicy, cases []volumeCase) (Condition, PoolClassification) {
	if pr := s.MayastorProblem; pr != nil {
		return Condition{metav1.ConditionFalse, cmp.Or(pr.Reason, storagev1.ReasonMayastorUnavailable), pr.Message}, PoolClassification{}
	}
	classes := Classify(s.Pools, c.NVMe, c.SATA)
	found := 0
	for i := range cases {
		if v := &cases[i]; v.vol != nil {
			v.placement = classes.Tiers.Placement(v.vol.ReplicaPools)
			found++
		}
	}
	if reason, msg := classes.StorageProblem(); reason != "" {
		return Condition{metav1.ConditionFalse, reason, msg}, classes
	}
	return Condition{metav1.ConditionTrue, storagev1.ReasonPoolsFound,
		fmt.Sprintf("%d NVMe and %d SATA pools; %d of %d watched volumes found in Mayastor", classes.NVMe, classes.SATA, found, len(cases))}, classes
}

// metricsCondition says whether the policy's IOPS evaluation is in the snapshot and succeeded.
func metricsCondition(iops *IOPSObservation, spec *storagev1.StoragePolicySpec, cases []volumeCase) Condition {
	switch {
	case iops == nil:
		return Condition{metav1.ConditionUnknown, storagev1.ReasonIOPSNotObserved,
			fmt.Sprintf("the latest observation has no IOPS evaluation over %s for this policy's query yet", spec.SamplingWindow)}
	case iops.Problem != nil:
		return Condition{metav1.ConditionFalse, iops.Problem.Reason, iops.Problem.Message}
	}
	known := 0
	for i := range cases {
		if iops.Volumes[cases[i].pv.VolumeID].Known {
			known++
		}
	}
	return Condition{metav1.ConditionTrue, storagev1.ReasonQuerySucceeded,
		fmt.Sprintf("IOPS over %s known for %d of %d volumes", spec.SamplingWindow, known, len(cases))}
}

// stayAll keeps every volume where it is, for a policy that is not active.
func stayAll(cases []volumeCase, message string) []VolumeDecision {
	out := make([]VolumeDecision, len(cases))
	for i := range cases {
		v := &cases[i]
		out[i] = VolumeDecision{VolumeID: v.pv.VolumeID, PVName: v.pv.Name, Claim: v.pv.Claim, Placement: v.placement,
			Action: ActionStay, Reason: storagev1.ReasonPolicyNotActive, Message: message}
	}
	return out
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
