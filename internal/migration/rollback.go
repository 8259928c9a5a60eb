package migration

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/mover"
)

// rollBack starts undoing the migration: it moves to RollingBack with the reason recorded.
func (m *Machine) rollBack(ctx context.Context, tm *storagev1.TierMigration, reason, detail string) (Result, error) {
	prev := tm.Status.DeepCopy()
	tm.Status.Error = Truncate(reason+": "+detail, 2048)
	enterPhase(&tm.Status, storagev1.PhaseRollingBack, "rolling back after "+reason+": "+detail, m.Clock.Now())
	setCondition(tm, storagev1.MigrationConditionSucceeded, metav1.ConditionFalse, reason, detail)
	progressing(tm, string(storagev1.PhaseRollingBack), "removing the replica this migration added; the source replicas are untouched")
	var res Result
	if err := m.write(ctx, tm, prev); err != nil {
		return res, err
	}
	res.Continue = true
	res.event(corev1.EventTypeWarning, reason, string(storagev1.PhaseRollingBack), "Rolling back the move of volume %s: %s", tm.Spec.VolumeID, detail)
	return res, nil
}

// abort runs the roll-back. It retries what a fault may clear (transient errors, a 503 while the
// target is away, an Abort that would risk a source while the extra replica cannot be told from
// the sources, an excess replica the control plane has yet to remove) until the roll-back's
// deadline (phaseDeadline: SettleWindow after it began), then ends Failed saying what was left.
// An answer retrying cannot change ends it at once. When the extra replica is rebuilt and every
// replica healthy, lowering the count could remove a source: it is kept and recorded, not
// retried (nothing would change).
func (m *Machine) abort(ctx context.Context, tm *storagev1.TierMigration, s Storage) (Result, error) {
	now := m.Clock.Now()
	before := PlanFromCheckpoint(tm.Status.Checkpoint)
	after, err := s.Abort(ctx, before, m.journal(tm))
	kind, refusal := classify(tm.Spec.VolumeID, err)
	cause := tm.Status.Error
	if kind == errNone {
		return m.rolledBack(ctx, tm, s, before, after, cause)
	}
	if kind == errPersist {
		return Result{}, err
	}
	if kind == errRefusal && refusal.Reason == mover.ReasonAbortUnsafe {
		rep, repErr := inspect(ctx, s, before)
		if repErr == nil && before.NewReplica != nil && rep.IsHealthy(before.NewReplica.ID) && len(rep.Healthy) == len(rep.Replicas) {
			kept := keptOf(before, rep, nil, string(mover.ReasonAbortUnsafe))
			return m.endKeeping(ctx, tm, storagev1.PhaseFailed, storagev1.ReasonRolledBack, fmt.Sprintf(
				"stopped after %s without lowering the count: %s; %s; %s%s", cause, refusal.Detail,
				earlierRounds(tm.Status.Checkpoint), volumeLine(rep, nil), keptLine(kept, rep, nil)), storagev1.OutcomeRolledBack, kept)
		}
	}
	retryable := kind == errTransient || kind == errRefusal &&
		(refusal.Reason == mover.ReasonAbortUnsafe || refusal.Reason == mover.ReasonExcessReplicaPending)
	if !retryable {
		return m.rollbackStopped(ctx, tm, s, before, string(refusal.Reason), fmt.Sprintf("roll-back after %s stopped: %s", cause, refusal.Error()))
	}
	if m.pastPhaseDeadline(&tm.Status, now) {
		return m.rollbackStopped(ctx, tm, s, before, storagev1.ReasonRollbackIncomplete, fmt.Sprintf(
			"roll-back after %s did not finish by %s: %v", cause, m.phaseDeadline(&tm.Status).UTC().Format(time.RFC3339), err))
	}
	if kind == errTransient {
		return m.storageError(ctx, tm, kind, err)
	}
	prev := tm.Status.DeepCopy()
	res := Result{RequeueAfter: m.waitFor(&tm.Status, now, m.PollInterval)}
	what := "waiting for the control plane to remove the excess replica: " + refusal.Detail
	if refusal.Reason == mover.ReasonAbortUnsafe {
		what = "waiting until lowering the count cannot remove a source: " + refusal.Detail
	}
	if setStepMessage(&tm.Status, fmt.Sprintf("%s (gives up at %s)", what, m.phaseDeadline(&tm.Status).UTC().Format(time.RFC3339))) {
		if err := m.write(ctx, tm, prev); err != nil {
			return Result{}, err
		}
	}
	return res, nil
}

// rollbackStopped ends a roll-back that could not bring the count back, saying what is left.
func (m *Machine) rollbackStopped(ctx context.Context, tm *storagev1.TierMigration, s Storage, plan mover.Plan, reason, detail string) (Result, error) {
	rep, repErr := inspect(ctx, s, plan)
	kept := keptOf(plan, rep, repErr, reason)
	return m.endKeeping(ctx, tm, storagev1.PhaseFailed, reason, fmt.Sprintf("%s; %s; %s%s",
		detail, earlierRounds(tm.Status.Checkpoint), volumeLine(rep, repErr), keptLine(kept, rep, repErr)), storagev1.OutcomeRolledBack, kept)
}

// rolledBack ends a roll-back whose Abort succeeded, saying which replica the decrease removed
// (not necessarily the one added: an unhealthy replica ranks first for removal) and what the
// volume holds.
func (m *Machine) rolledBack(ctx context.Context, tm *storagev1.TierMigration, s Storage, before, after mover.Plan, cause string) (Result, error) {
	var this string
	switch {
	case before.NewReplica == nil:
		this = "this round had added no replica"
	default:
		var removed []string
		for _, id := range append(slices.Clone(before.BaseReplicaIDs), before.NewReplica.ID) {
			if !slices.Contains(after.BaseReplicaIDs, id) {
				removed = append(removed, id)
			}
		}
		switch {
		case len(removed) == 1 && removed[0] == before.NewReplica.ID:
			this = fmt.Sprintf("replica %s, the one this round added, was removed; the remaining source replicas are untouched", before.NewReplica.ID)
		case len(removed) == 0:
			this = fmt.Sprintf("the count is back at %d; replica %s this round added was not found", before.Replicas, before.NewReplica.ID)
		default:
			this = fmt.Sprintf("the decrease removed replica(s) %v, not replica %s this round added, which stays in its place; the remaining source replicas are untouched",
				removed, before.NewReplica.ID)
		}
	}
	prev := tm.Status.DeepCopy()
	applyCheckpoint(&tm.Status, CheckpointFromPlan(after))
	rep, repErr := inspect(ctx, s, after)
	res, err := m.end(ctx, tm, storagev1.PhaseFailed, storagev1.ReasonRolledBack, fmt.Sprintf("rolled back after %s: %s; %s; %s",
		cause, this, earlierRounds(tm.Status.Checkpoint), volumeLine(rep, repErr)), storagev1.OutcomeRolledBack)
	if err != nil {
		tm.Status = *prev
	}
	return res, err
}
