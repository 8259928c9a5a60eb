package migration

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/mover"
)

// Persister writes a TierMigration's status to the API server. On success tm holds the stored
// object (its new resourceVersion); on failure nothing may be assumed written.
type Persister func(ctx context.Context, tm *storagev1.TierMigration) error

// Machine carries out TierMigrations one phase at a time.
type Machine struct {
	Clock   clock.PassiveClock
	Persist Persister
	// PollInterval is how long WaitingSync waits between two looks at the rebuild, and how
	// long a Pending migration waits before it asks for a slot again.
	PollInterval time.Duration
	// SettleWindow bounds ScalingDown (beyond the round deadline) and RollingBack: see
	// phaseDeadline. DefaultSettleWindow when zero.
	SettleWindow time.Duration
}

// Event is something worth a Kubernetes Event on the TierMigration (and its PVC).
type Event struct {
	Type    string // corev1.EventTypeNormal or EventTypeWarning
	Reason  string // CamelCase
	Action  string // what the operator was doing
	Message string
}

// Ending is a migration that reached Completed or Failed in this step.
type Ending struct {
	Outcome  string // storagev1.OutcomeSucceeded, storagev1.OutcomeFailed, storagev1.OutcomeRolledBack, storagev1.OutcomeDryRun
	Duration time.Duration
}

// Result says what a step did and when to run the next one.
type Result struct {
	Events []Event
	// Ended is set when the migration reached a terminal phase in this step.
	Ended *Ending
	// Continue: the next phase can run at once.
	Continue bool
	// RequeueAfter: look again after this long (WaitingSync, Pending, ExcessReplicaPending).
	RequeueAfter time.Duration
	// Transient is a storage error the step will retry: the caller backs off, but no longer
	// than RequeueAfter when that is set (the phase's deadline is near).
	Transient error
}

// StepInput is what the caller resolved for this step.
type StepInput struct {
	// Storage carries out the step (a Mover with the migration's options).
	Storage Storage
	// TargetPools and SourcePools select the tiers' pools (Analyzing only); SourcePools may be
	// nil: any pool outside the target tier.
	TargetPools, SourcePools labels.Selector
	// PoolsReason and PoolsMessage, when set, say why the pools could not be resolved
	// (PolicyNotFound, InvalidSpec): an Analyzing migration fails with them.
	PoolsReason, PoolsMessage string
}

func (r *Result) event(typ, reason, action, format string, args ...any) {
	r.Events = append(r.Events, Event{Type: typ, Reason: reason, Action: action, Message: fmt.Sprintf(format, args...)})
}

// write persists tm's status, restoring prev in memory when the write fails.
func (m *Machine) write(ctx context.Context, tm *storagev1.TierMigration, prev *storagev1.TierMigrationStatus) error {
	if err := m.Persist(ctx, tm); err != nil {
		tm.Status = *prev
		return err
	}
	return nil
}

// journal is the Mover's Journal: the plan goes to status.checkpoint on the API server before
// the Mover acts on it.
func (m *Machine) journal(tm *storagev1.TierMigration) mover.Journal {
	return func(ctx context.Context, plan mover.Plan) error {
		prev := tm.Status.DeepCopy()
		applyCheckpoint(&tm.Status, CheckpointFromPlan(plan))
		if err := m.write(ctx, tm, prev); err != nil {
			return &persistError{err: err}
		}
		return nil
	}
}

// Accept records a new TierMigration as Pending, or as WaitingApproval when it needs approval.
func (m *Machine) Accept(ctx context.Context, tm *storagev1.TierMigration) (Result, error) {
	if tm.Spec.ApprovalRequired {
		return m.awaitApproval(ctx, tm)
	}
	prev := tm.Status.DeepCopy()
	now := m.Clock.Now()
	tm.Status.ObservedGeneration = tm.Generation
	enterPhase(&tm.Status, storagev1.PhasePending, "accepted; waiting for a migration slot", now)
	progressing(tm, storagev1.ReasonAccepted, "waiting for a migration slot")
	var res Result
	if err := m.write(ctx, tm, prev); err != nil {
		return res, err
	}
	res.Continue = true
	res.event(corev1.EventTypeNormal, storagev1.ReasonAccepted, "Accept", "Move of volume %s to %s accepted", tm.Spec.VolumeID, tm.Spec.TargetTier)
	return res, nil
}

// Wait keeps a Pending migration waiting for a slot, saying why.
func (m *Machine) Wait(ctx context.Context, tm *storagev1.TierMigration, a Admission) (Result, error) {
	prev := tm.Status.DeepCopy()
	res := Result{RequeueAfter: m.PollInterval}
	changed := setStepMessage(&tm.Status, a.Message)
	setCondition(tm, storagev1.MigrationConditionProgressing, metav1.ConditionFalse, a.Reason, a.Message)
	if !changed {
		return res, nil
	}
	if err := m.write(ctx, tm, prev); err != nil {
		return Result{}, err
	}
	res.event(corev1.EventTypeNormal, a.Reason, "Admit", "%s", a.Message)
	return res, nil
}

// StartParams are fixed when a migration leaves Pending.
type StartParams struct {
	Timeout          time.Duration
	DryRun           bool
	PreservationMode bool
}

// Start moves a Pending migration to Analyzing: it takes a slot, and its clock starts.
func (m *Machine) Start(ctx context.Context, tm *storagev1.TierMigration, p StartParams) (Result, error) {
	prev := tm.Status.DeepCopy()
	now := m.Clock.Now()
	st := &tm.Status
	st.StartTime = ptr.To(metav1.NewTime(now))
	st.Timeout = &metav1.Duration{Duration: p.Timeout}
	st.Deadline = ptr.To(metav1.NewTime(RoundDeadline(now, p.Timeout, 0, 0, 0)))
	st.DryRun, st.PreservationMode = p.DryRun, p.PreservationMode
	mode := ""
	if p.DryRun {
		mode = " (dry run: no change to Mayastor)"
	} else if p.PreservationMode {
		mode = " (preservation mode: the source replicas are kept)"
	}
	msg := fmt.Sprintf("checking volume %s and choosing a %s pool%s; deadline %s", tm.Spec.VolumeID, tm.Spec.TargetTier, mode, st.Deadline.UTC().Format(time.RFC3339))
	enterPhase(st, storagev1.PhaseAnalyzing, msg, now)
	progressing(tm, string(storagev1.PhaseAnalyzing), msg)
	var res Result
	if err := m.write(ctx, tm, prev); err != nil {
		return res, err
	}
	res.Continue = true
	res.event(corev1.EventTypeNormal, storagev1.ReasonStarted, "Analyze", "Migration of volume %s to %s started%s", tm.Spec.VolumeID, tm.Spec.TargetTier, mode)
	return res, nil
}

// Refuse ends a migration that never started (VolumeBusy, PolicyNotFound, InvalidSpec).
func (m *Machine) Refuse(ctx context.Context, tm *storagev1.TierMigration, reason, msg string) (Result, error) {
	return m.end(ctx, tm, storagev1.PhaseFailed, reason, msg, storagev1.OutcomeFailed)
}

// transition moves tm to the next in-flight phase.
func (m *Machine) transition(ctx context.Context, tm *storagev1.TierMigration, to storagev1.MigrationPhase, msg string) (Result, error) {
	prev := tm.Status.DeepCopy()
	enterPhase(&tm.Status, to, msg, m.Clock.Now())
	progressing(tm, string(to), msg)
	var res Result
	if err := m.write(ctx, tm, prev); err != nil {
		return res, err
	}
	res.Continue = true
	res.event(corev1.EventTypeNormal, string(to), string(to), "%s", msg)
	return res, nil
}

// retry records a transient storage error in the running step and asks for a backoff.
func (m *Machine) retry(ctx context.Context, tm *storagev1.TierMigration, err error) (Result, error) {
	res := Result{Transient: err, RequeueAfter: m.waitFor(&tm.Status, m.Clock.Now(), 2*time.Minute)}
	if isCancelled(ctx, err) {
		return res, nil
	}
	prev := tm.Status.DeepCopy()
	msg := "retrying after a storage error: " + err.Error()
	if !setStepMessage(&tm.Status, msg) {
		return res, nil
	}
	progressing(tm, storagev1.ReasonRetrying, msg)
	if werr := m.write(ctx, tm, prev); werr != nil {
		return Result{}, werr
	}
	res.event(corev1.EventTypeWarning, storagev1.ReasonStorageUnavailable, string(tm.Status.Phase), "%s", msg)
	return res, nil
}

// storageError handles an error of a storage step that is not a refusal.
func (m *Machine) storageError(ctx context.Context, tm *storagev1.TierMigration, kind errorKind, err error) (Result, error) {
	if kind == errPersist {
		return Result{}, err
	}
	return m.retry(ctx, tm, err)
}

// Step runs the current phase of an in-flight migration (Analyzing through RollingBack).
func (m *Machine) Step(ctx context.Context, tm *storagev1.TierMigration, in StepInput) (Result, error) {
	st := &tm.Status
	// Cordons recorded in the status were left by a step that did not finish (the operator
	// stopped in its middle), or their call may still land (the Mover keeps those recorded
	// until the end): lift them before anything else, and check again at every step.
	if cp := st.Checkpoint; cp != nil && len(cp.Cordons) > 0 {
		plan := PlanFromCheckpoint(cp)
		released, err := in.Storage.ReleaseCordons(ctx, plan)
		if len(released.Cordons) != len(plan.Cordons) || err != nil {
			if jerr := m.journal(tm)(context.WithoutCancel(ctx), released); jerr != nil {
				return Result{}, jerr
			}
		}
		if err != nil {
			return m.retry(ctx, tm, fmt.Errorf("release cordons left by an interrupted step: %w", err))
		}
		if n := len(plan.Cordons) - len(released.Cordons); n > 0 {
			res := Result{Continue: true}
			res.event(corev1.EventTypeNormal, storagev1.ReasonCordonsReleased, "Resume", "Released %d node cordon(s) left by an interrupted step", n)
			return res, nil
		}
		// Nothing released: what is left is absent and may land late; the phase goes on.
	}
	switch st.Phase {
	case storagev1.PhaseAnalyzing:
		return m.analyze(ctx, tm, in)
	case storagev1.PhaseScalingUp:
		return m.scaleUp(ctx, tm, in.Storage)
	case storagev1.PhaseWaitingSync:
		return m.waitSync(ctx, tm, in.Storage)
	case storagev1.PhaseScalingDown:
		return m.scaleDown(ctx, tm, in.Storage)
	case storagev1.PhaseRollingBack:
		return m.abort(ctx, tm, in.Storage)
	}
	return Result{}, fmt.Errorf("TierMigration %s: phase %q is not in flight", tm.Name, st.Phase)
}

func (m *Machine) analyze(ctx context.Context, tm *storagev1.TierMigration, in StepInput) (Result, error) {
	if in.PoolsReason != "" {
		return m.end(ctx, tm, storagev1.PhaseFailed, in.PoolsReason, in.PoolsMessage, storagev1.OutcomeFailed)
	}
	plan, err := in.Storage.Analyze(ctx, MigrationIDFor(tm), tm.Spec.VolumeID, in.TargetPools, in.SourcePools)
	kind, refusal := classify(tm.Spec.VolumeID, err)
	switch kind {
	case errRefusal:
		if refusal.Reason == mover.ReasonAlreadyOnTarget {
			return m.end(ctx, tm, storagev1.PhaseCompleted, storagev1.ReasonAlreadyOnTargetTier,
				fmt.Sprintf("nothing to do: volume %s is already on %s (%s)", tm.Spec.VolumeID, tm.Spec.TargetTier, refusal.Detail), storagev1.OutcomeSucceeded)
		}
		outcome := storagev1.OutcomeFailed
		if tm.Status.DryRun {
			outcome = storagev1.OutcomeDryRun
		}
		return m.end(ctx, tm, storagev1.PhaseFailed, string(refusal.Reason), refusal.Error(), outcome)
	case errPersist, errTransient:
		if pastDeadline(&tm.Status, m.Clock.Now()) {
			return m.end(ctx, tm, storagev1.PhaseFailed, storagev1.ReasonTimeout,
				fmt.Sprintf("the volume could not be analysed before the deadline: %v", err), storagev1.OutcomeFailed)
		}
		return m.storageError(ctx, tm, kind, err)
	}
	prev := tm.Status.DeepCopy()
	cp := CheckpointFromPlan(plan)
	applyCheckpoint(&tm.Status, cp)
	tm.Status.SourceTier = otherTier(tm.Spec.TargetTier)
	tm.Status.OriginalReplicaCount = int32(cp.Replicas)
	what := fmt.Sprintf("move %d replica(s) %v of volume %s from pools %v to %s, onto one of pools %v (%d replicas kept throughout)",
		len(cp.SourceReplicas), refIDs(cp.SourceReplicas), tm.Spec.VolumeID, refPools(cp.SourceReplicas), tm.Spec.TargetTier, cp.TargetPools, cp.Replicas)
	if tm.Status.PreservationMode {
		what += ", keeping the source replicas (preservation mode)"
	}
	if tm.Status.DryRun {
		res, err := m.end(ctx, tm, storagev1.PhaseCompleted, storagev1.ReasonDryRun, "dry run: would "+what+"; nothing was changed", storagev1.OutcomeDryRun)
		if err != nil {
			tm.Status = *prev
		}
		return res, err
	}
	return m.transition(ctx, tm, storagev1.PhaseScalingUp, "will "+what)
}

func (m *Machine) scaleUp(ctx context.Context, tm *storagev1.TierMigration, s Storage) (Result, error) {
	if pastDeadline(&tm.Status, m.Clock.Now()) {
		return m.rollBack(ctx, tm, storagev1.ReasonTimeout, fmt.Sprintf("the deadline %s passed before the new replica was in sync", tm.Status.Deadline.UTC().Format(time.RFC3339)))
	}
	plan, err := s.ScaleUp(ctx, PlanFromCheckpoint(tm.Status.Checkpoint), m.journal(tm))
	kind, refusal := classify(tm.Spec.VolumeID, err)
	switch kind {
	case errRefusal:
		return m.rollBack(ctx, tm, string(refusal.Reason), refusal.Error())
	case errPersist, errTransient:
		return m.storageError(ctx, tm, kind, err)
	}
	prev := tm.Status.DeepCopy()
	applyCheckpoint(&tm.Status, CheckpointFromPlan(plan))
	tm.Status.SyncProgress = 0
	nr := plan.NewReplica
	if nr == nil {
		tm.Status = *prev
		return m.retry(ctx, tm, errors.New("scale up returned without a new replica"))
	}
	return m.transition(ctx, tm, storagev1.PhaseWaitingSync,
		fmt.Sprintf("new replica %s on pool %s (node %s); waiting for its rebuild", nr.ID, nr.Pool, nr.Node))
}

func (m *Machine) waitSync(ctx context.Context, tm *storagev1.TierMigration, s Storage) (Result, error) {
	now := m.Clock.Now()
	cp := tm.Status.Checkpoint
	if cp == nil || cp.NewReplica == nil {
		return m.transition(ctx, tm, storagev1.PhaseScalingUp, "no new replica recorded; scaling up again")
	}
	plan := PlanFromCheckpoint(cp)
	if _, err := s.KeepTail(ctx, plan, m.journal(tm)); err != nil {
		// Only a failed journal write stops the step. Otherwise the rebuild goes on and the
		// next poll tries again; the decrease checks the replica map before it acts and
		// refuses rather than remove anything but a source.
		if kind, _ := classify(tm.Spec.VolumeID, err); kind == errPersist {
			return Result{}, err
		}
	}
	cp = tm.Status.Checkpoint
	plan = PlanFromCheckpoint(cp)
	sync, err := s.SyncRound(ctx, plan)
	kind, refusal := classify(tm.Spec.VolumeID, err)
	switch {
	case kind == errRefusal && refusal.Reason == mover.ReasonReplicaCountChanged:
		// Someone else set the count: lowering it again could fight them, and waiting
		// would bounce between phases for ever. Stop, keep what is there.
		return m.stop(ctx, tm, s, string(refusal.Reason), refusal.Error())
	case kind == errRefusal:
		return m.rollBack(ctx, tm, string(refusal.Reason), refusal.Error())
	case kind != errNone:
		if m.pastPhaseDeadline(&tm.Status, now) {
			return m.rollBack(ctx, tm, storagev1.ReasonTimeout, fmt.Sprintf("the deadline passed while the rebuild could not be observed: %v", err))
		}
		return m.storageError(ctx, tm, kind, err)
	}
	switch {
	case sync.Failed != "":
		return m.rollBack(ctx, tm, storagev1.ReasonSyncFailed, sync.Failed)
	case sync.Done:
		// A rebuilt replica goes on to ScalingDown even at the deadline: finishing the round
		// is one decrease, and ScalingDown has its own deadline (phaseDeadline).
		prev := tm.Status.DeepCopy()
		tm.Status.SyncProgress = 100
		// The observed rebuild rate: the volume size over the time since the scale-up. Only a
		// WaitingSync entered from ScalingUp counts (not one re-entered from ScalingDown).
		if n := len(tm.Status.Steps); n >= 2 && tm.Status.Steps[n-2].Phase == storagev1.PhaseScalingUp {
			tm.Status.RebuiltBytes += cp.VolumeSize
			tm.Status.RebuildSeconds += max(int64(now.Sub(phaseStart(&tm.Status)).Seconds()), 1)
		}
		next, msg := storagev1.PhaseScalingDown, fmt.Sprintf("replica %s is rebuilt and healthy; removing a source replica", cp.NewReplica.ID)
		if tm.Status.PreservationMode {
			msg = fmt.Sprintf("replica %s is rebuilt and healthy; keeping the source replicas (preservation mode)", cp.NewReplica.ID)
		}
		res, err := m.transition(ctx, tm, next, msg)
		if err != nil {
			tm.Status = *prev
		}
		return res, err
	case m.pastPhaseDeadline(&tm.Status, now):
		return m.rollBack(ctx, tm, storagev1.ReasonTimeout, fmt.Sprintf("the new replica %s was not in sync by the deadline %s (%d%%: %s)",
			cp.NewReplica.ID, tm.Status.Deadline.UTC().Format(time.RFC3339), sync.Progress, sync.Waiting))
	}
	prev := tm.Status.DeepCopy()
	tm.Status.SyncProgress = int32(min(max(sync.Progress, 0), 100))
	setStepMessage(&tm.Status, fmt.Sprintf("replica %s: %s", cp.NewReplica.ID, sync.Waiting))
	progressing(tm, string(storagev1.PhaseWaitingSync), "waiting for the rebuild of the new replica")
	res := Result{RequeueAfter: m.waitFor(&tm.Status, now, m.PollInterval)}
	if !equality.Semantic.DeepEqual(prev, &tm.Status) {
		if err := m.write(ctx, tm, prev); err != nil {
			return Result{}, err
		}
	}
	return res, nil
}

func (m *Machine) scaleDown(ctx context.Context, tm *storagev1.TierMigration, s Storage) (Result, error) {
	plan := PlanFromCheckpoint(tm.Status.Checkpoint)
	now := m.Clock.Now()
	if tm.Status.PreservationMode {
		plan, err := s.Preserve(ctx, plan, m.journal(tm))
		kind, refusal := classify(tm.Spec.VolumeID, err)
		switch {
		case kind == errRefusal && refusal.Reason == mover.ReasonNotSynced:
			return m.backToWaitSync(ctx, tm, refusal.Detail)
		case kind == errRefusal && refusal.Reason == mover.ReasonReplicaCountChanged:
			return m.stop(ctx, tm, s, string(refusal.Reason), refusal.Error())
		case kind == errRefusal:
			return m.rollBack(ctx, tm, string(refusal.Reason), refusal.Error())
		case kind != errNone:
			if kind == errTransient && m.pastPhaseDeadline(&tm.Status, now) {
				return m.stop(ctx, tm, s, storagev1.ReasonTimeout, fmt.Sprintf("the new replica could not be kept before the deadline %s: %v",
					m.phaseDeadline(&tm.Status).UTC().Format(time.RFC3339), err))
			}
			return m.storageError(ctx, tm, kind, err)
		}
		prev := tm.Status.DeepCopy()
		applyCheckpoint(&tm.Status, CheckpointFromPlan(plan))
		tm.Status.Rounds++
		var kept []storagev1.KeptReplica
		if n := len(plan.MovedReplicas); n > 0 {
			r := plan.MovedReplicas[n-1]
			kept = []storagev1.KeptReplica{{ID: r.ID, Node: r.Node, Pool: r.Pool, Reason: storagev1.ReasonPreservationMode}}
		}
		res, err := m.endKeeping(ctx, tm, storagev1.PhaseCompleted, storagev1.ReasonPreserved, fmt.Sprintf(
			"volume %s has replica(s) %v on %s and keeps source replica(s) %v (preservation mode): %d replicas",
			tm.Spec.VolumeID, refIDs(tm.Status.Checkpoint.MovedReplicas), tm.Spec.TargetTier,
			refIDs(tm.Status.Checkpoint.PreservedSourceReplicas), plan.Replicas), storagev1.OutcomeSucceeded, kept)
		if err != nil {
			tm.Status = *prev
		}
		return res, err
	}
	if plan.NewReplica == nil && len(plan.SourceReplicas) > 0 {
		// The last round's decrease was recorded, but not the move to the next round: the
		// operator stopped between the two status writes. Start the next round.
		return m.nextRound(ctx, tm, fmt.Sprintf(
			"round %d was finished before a restart; %d source replica(s) left to move", tm.Status.Rounds, len(plan.SourceReplicas)))
	}
	plan, sd, err := s.ScaleDown(ctx, plan, m.journal(tm))
	kind, refusal := classify(tm.Spec.VolumeID, err)
	if kind == errRefusal {
		switch refusal.Reason {
		case mover.ReasonNotSynced:
			if m.pastPhaseDeadline(&tm.Status, now) {
				return m.stop(ctx, tm, s, storagev1.ReasonTimeout, fmt.Sprintf("the volume was not ready for the decrease by %s: %s",
					m.phaseDeadline(&tm.Status).UTC().Format(time.RFC3339), refusal.Detail))
			}
			return m.backToWaitSync(ctx, tm, refusal.Detail)
		case mover.ReasonNewReplicaLost:
			return m.rollBack(ctx, tm, string(refusal.Reason), refusal.Error())
		}
		// The new replica is rebuilt: undoing the scale-up could remove a source, so the
		// migration stops with every replica healthy and says what it keeps
		// (RemovalNotSteerable, NexusLocalSource, ReplicaCountChanged, StorageRejected...).
		return m.stop(ctx, tm, s, string(refusal.Reason), refusal.Error())
	}
	if kind != errNone {
		if kind == errTransient && m.pastPhaseDeadline(&tm.Status, now) {
			return m.stop(ctx, tm, s, storagev1.ReasonTimeout, fmt.Sprintf("the decrease did not go through before %s: %v",
				m.phaseDeadline(&tm.Status).UTC().Format(time.RFC3339), err))
		}
		return m.storageError(ctx, tm, kind, err)
	}
	prev := tm.Status.DeepCopy()
	applyCheckpoint(&tm.Status, CheckpointFromPlan(plan))
	tm.Status.Rounds++
	var res Result
	if sd.Complete {
		rep, repErr := inspect(ctx, s, plan)
		res, err = m.end(ctx, tm, storagev1.PhaseCompleted, storagev1.ReasonMoved, fmt.Sprintf(
			"volume %s moved to %s: replica(s) %v replaced %v; %s",
			tm.Spec.VolumeID, tm.Spec.TargetTier, refIDs(tm.Status.Checkpoint.MovedReplicas), refIDs(tm.Status.Checkpoint.RemovedSourceReplicas),
			volumeLine(rep, repErr)), storagev1.OutcomeSucceeded)
	} else {
		what := fmt.Sprintf("removed source replica %s", sd.Removed.ID)
		if !sd.SourceRemoved {
			what = fmt.Sprintf("the control plane removed replica %s, not a source (no data lost)", sd.Removed.ID)
		}
		res, err = m.nextRound(ctx, tm, fmt.Sprintf("round %d: %s; %d source replica(s) left to move",
			tm.Status.Rounds, what, len(plan.SourceReplicas)))
	}
	if err != nil {
		tm.Status = *prev
	}
	return res, err
}

// nextRound starts a new round in ScalingUp with its own deadline (RoundDeadline).
func (m *Machine) nextRound(ctx context.Context, tm *storagev1.TierMigration, msg string) (Result, error) {
	st := &tm.Status
	prevDeadline := st.Deadline
	now := m.Clock.Now()
	var size int64
	if st.Checkpoint != nil {
		size = st.Checkpoint.VolumeSize
	}
	st.Deadline = ptr.To(metav1.NewTime(RoundDeadline(now, timeoutOf(st), size, st.RebuiltBytes, st.RebuildSeconds)))
	res, err := m.transition(ctx, tm, storagev1.PhaseScalingUp, fmt.Sprintf("%s; round deadline %s", msg, st.Deadline.UTC().Format(time.RFC3339)))
	if err != nil {
		st.Deadline = prevDeadline
	}
	return res, err
}

// backToWaitSync returns to WaitingSync when ScaleDown finds the new replica not (or no longer)
// in sync, and looks again only after a poll interval: WaitingSync and ScaleDown judge sync from
// slightly different reads, and bouncing between them at once would spin.
func (m *Machine) backToWaitSync(ctx context.Context, tm *storagev1.TierMigration, detail string) (Result, error) {
	res, err := m.transition(ctx, tm, storagev1.PhaseWaitingSync, "the new replica is not in sync any more: "+detail)
	if err == nil {
		res.Continue, res.RequeueAfter = false, m.PollInterval
	}
	return res, err
}
