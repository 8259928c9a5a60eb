package migration

import (
	"context"

	corev1 "k8s.io/api/core/v1"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/mover"
)

// Unwind undoes an in-flight migration whose TierMigration is being deleted: cordons lifted, an
// unrebuilt extra replica taken back. done reports that the finalizer may go.
func (m *Machine) Unwind(ctx context.Context, tm *storagev1.TierMigration, s Storage) (done bool, res Result, err error) {
	cp := tm.Status.Checkpoint
	if cp == nil {
		return true, res, nil
	}
	plan := PlanFromCheckpoint(cp)
	if tm.Status.Phase.IsTerminal() || tm.Status.Phase == storagev1.PhaseAnalyzing || tm.Status.Phase == storagev1.PhasePending {
		if !cp.HoldsResources() {
			return true, res, nil
		}
		released, err := s.ReleaseAtEnd(ctx, plan)
		if jerr := m.journal(tm)(context.WithoutCancel(ctx), released); jerr != nil {
			return false, res, jerr
		}
		if err != nil {
			return false, Result{Transient: err}, nil
		}
		return true, res, nil
	}
	aborted, err := s.Abort(ctx, plan, m.journal(tm))
	if err == nil && len(aborted.Placeholders) > 0 {
		// The rolled-back move's placeholder replicas go before the finalizer does.
		released, rerr := s.ReleaseAtEnd(ctx, aborted)
		if jerr := m.journal(tm)(context.WithoutCancel(ctx), released); jerr != nil {
			return false, res, jerr
		}
		if rerr != nil {
			return false, Result{Transient: rerr}, nil
		}
	}
	kind, refusal := classify(tm.Spec.VolumeID, err)
	switch {
	case kind == errNone:
		res.event(corev1.EventTypeNormal, storagev1.ReasonDeleted, "Unwind", "TierMigration deleted in phase %s: rolled back, the source replicas are untouched", tm.Status.Phase)
		return true, res, nil
	case kind == errRefusal && refusal.Reason == mover.ReasonExcessReplicaPending:
		return false, Result{RequeueAfter: m.PollInterval}, nil
	case kind == errRefusal:
		// AbortUnsafe (the extra replica is rebuilt and healthy) and the like: nothing
		// half-built is left, and lowering the count could take a source.
		res.event(corev1.EventTypeWarning, storagev1.ReasonExtraReplicaKept, "Unwind", "TierMigration deleted in phase %s: %s", tm.Status.Phase, refusal.Error())
		return true, res, nil
	case kind == errPersist:
		return false, res, err
	}
	return false, Result{Transient: err}, nil
}

// SettleEnd releases, once a migration has ended, the cordons its checkpoint still records
// (a cordon whose call may have landed late stays recorded until then) and deletes its
// placeholder replicas, and records what is left. It reports whether none is left.
func (m *Machine) SettleEnd(ctx context.Context, tm *storagev1.TierMigration, s Storage) (bool, error) {
	cp := tm.Status.Checkpoint
	if !cp.HoldsResources() {
		return true, nil
	}
	prev := tm.Status.DeepCopy()
	plan, err := s.ReleaseAtEnd(ctx, PlanFromCheckpoint(cp))
	applyCheckpoint(&tm.Status, CheckpointFromPlan(plan))
	if werr := m.write(ctx, tm, prev); werr != nil {
		return false, werr
	}
	return len(plan.Cordons) == 0 && len(plan.Placeholders) == 0, err
}
