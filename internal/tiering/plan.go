package tiering

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	storagev1 "github.com/billyronks/couchestor/api/v1"
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
	// Moves are the migrations to start now, in order: promotions, then demotions; within
	// each, pinned first, then the hottest promotion or the coldest demotion, then volume id.
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
	// Slots are the migration slots the moves were given from (zero when the policy is not
	// active).
	Slots Slots
}

// Slots are the migration slots of one decision: the policy's maxConcurrentMigrations and the
// operator's --max-concurrent-migrations, each less its migrations in flight.
type Slots struct {
	PolicyMax, PolicyInFlight     int
	OperatorMax, OperatorInFlight int
	// Free is how many migrations could start before this decision's moves took any.
	Free int
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
//   - The volumes that should move are ranked (promotions before demotions; within each,
//     pinned first, then the hottest promotion or the coldest demotion, then volume id) and
//     given slots — the policy's maxConcurrentMigrations and the operator's limit, less the
//     migrations in flight — and room: each replica needs a distinct
//     Online pool of the target tier with room for it and the headroom kept (HasRoom,
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

	idx := s.index()
	c, selected, overlaps, err := idx.compiledFor(p)
	if err != nil {
		msg := err.Error()
		plan.Storage = Condition{metav1.ConditionUnknown, storagev1.ReasonInvalidSpec, msg}
		plan.Metrics = plan.Storage
		plan.Ready = Condition{metav1.ConditionFalse, storagev1.ReasonInvalidSpec, msg}
		return plan
	}
	plan.Counts.Watched = len(selected)
	plan.Overlaps = overlaps
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
	if idle, ok := idleCondition(spec, cases); ok {
		plan.Ready = idle
		return plan
	}
	plan.Ready = Condition{metav1.ConditionTrue, storagev1.ReasonEvaluated,
		fmt.Sprintf("%d volumes watched: %d on NVMe, %d on SATA, %d without IOPS data; %d migrations to start, %d waiting%s%s%s",
			plan.Counts.Watched, plan.Counts.NVMe, plan.Counts.SATA, plan.Counts.Unknown, len(plan.Moves), plan.Counts.Planned,
			approvalNote, windowNote, overlapNote)}
	return plan
}

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
