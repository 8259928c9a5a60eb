package migration

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

// DefaultApprovalTimeout is how long a migration waits for approval when spec.approvalTimeout
// is empty.
const DefaultApprovalTimeout = 24 * time.Hour

// OutcomeNotStarted is the outcome of a migration rejected or expired while waiting for
// approval (storagev1.OutcomeNotStarted): it is counted in no storage_operator_migrations_total
// status.
const OutcomeNotStarted = storagev1.OutcomeNotStarted

// Approved reports whether tm carries the approved annotation (and not the rejected one, which
// wins).
func Approved(tm *storagev1.TierMigration) bool {
	return tm.Annotations[storagev1.AnnotationApproved] == "true" && !Rejected(tm)
}

// Rejected reports whether tm carries the rejected annotation.
func Rejected(tm *storagev1.TierMigration) bool {
	return tm.Annotations[storagev1.AnnotationRejected] == "true"
}

// ApprovalExpired reports whether tm ended because nobody approved it in time: such a
// migration moved nothing and starts no cooldown.
func ApprovalExpired(tm *storagev1.TierMigration) bool {
	if tm.Status.Phase != storagev1.PhaseFailed {
		return false
	}
	c := meta.FindStatusCondition(tm.Status.Conditions, storagev1.MigrationConditionSucceeded)
	return c != nil && c.Reason == storagev1.ReasonApprovalExpired
}

// approvalTimeout is spec.approvalTimeout, else DefaultApprovalTimeout.
func approvalTimeout(tm *storagev1.TierMigration) (time.Duration, error) {
	if tm.Spec.ApprovalTimeout == "" {
		return DefaultApprovalTimeout, nil
	}
	d, err := time.ParseDuration(tm.Spec.ApprovalTimeout)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("spec.approvalTimeout %q: want a positive duration such as 24h", tm.Spec.ApprovalTimeout)
	}
	return d, nil
}

// awaitApproval records a new TierMigration that needs approval as WaitingApproval, with the
// instant it expires. It holds no slot and writes nothing to Mayastor.
func (m *Machine) awaitApproval(ctx context.Context, tm *storagev1.TierMigration) (Result, error) {
	timeout, err := approvalTimeout(tm)
	if err != nil {
		return m.Refuse(ctx, tm, storagev1.ReasonInvalidSpec, err.Error())
	}
	prev := tm.Status.DeepCopy()
	now := m.Clock.Now()
	st := &tm.Status
	st.ObservedGeneration = tm.Generation
	st.ApprovalExpires = ptr.To(metav1.NewTime(now.Add(timeout)))
	msg := fmt.Sprintf("waiting for approval: annotate %s=\"true\" to let it start, %s=\"true\" to drop it; expires at %s",
		storagev1.AnnotationApproved, storagev1.AnnotationRejected, st.ApprovalExpires.UTC().Format(time.RFC3339))
	enterPhase(st, storagev1.PhaseWaitingApproval, msg, now)
	setCondition(tm, storagev1.MigrationConditionProgressing, metav1.ConditionFalse, storagev1.ReasonApprovalRequired, msg)
	setCondition(tm, storagev1.MigrationConditionSucceeded, metav1.ConditionUnknown, storagev1.ReasonApprovalRequired, "the migration has not started")
	if err := m.write(ctx, tm, prev); err != nil {
		return Result{}, err
	}
	res := Result{RequeueAfter: min(timeout, approvalPolls*m.PollInterval)}
	res.event(corev1.EventTypeNormal, storagev1.ReasonApprovalRequired, "Accept", "Move of volume %s to %s waits for approval until %s",
		tm.Spec.VolumeID, tm.Spec.TargetTier, st.ApprovalExpires.UTC().Format(time.RFC3339))
	return res, nil
}

// Approval decides a WaitingApproval migration from its annotations and the clock: rejected
// ends it Failed (Rejected); approved sends it to Pending, where it waits for a slot like any
// other; past status.approvalExpires it ends Failed (ApprovalExpired); otherwise it waits until
// then (a change of its annotations wakes it sooner).
func (m *Machine) Approval(ctx context.Context, tm *storagev1.TierMigration) (Result, error) {
	now := m.Clock.Now()
	switch {
	case Rejected(tm):
		return m.end(ctx, tm, storagev1.PhaseFailed, storagev1.ReasonRejected,
			fmt.Sprintf("rejected by annotation %s=\"true\": nothing was moved", storagev1.AnnotationRejected), OutcomeNotStarted)
	case Approved(tm):
		prev := tm.Status.DeepCopy()
		enterPhase(&tm.Status, storagev1.PhasePending, "approved; waiting for a migration slot", now)
		tm.Status.ApprovalExpires = nil
		progressing(tm, storagev1.ReasonApproved, "approved; waiting for a migration slot")
		if err := m.write(ctx, tm, prev); err != nil {
			return Result{}, err
		}
		res := Result{Continue: true}
		res.event(corev1.EventTypeNormal, storagev1.ReasonApproved, "Approve", "Move of volume %s to %s approved", tm.Spec.VolumeID, tm.Spec.TargetTier)
		return res, nil
	}
	exp := tm.Status.ApprovalExpires
	if exp == nil {
		// Written by an operator that did not record the expiry: count from the phase's start.
		timeout, err := approvalTimeout(tm)
		if err != nil {
			return m.Refuse(ctx, tm, storagev1.ReasonInvalidSpec, err.Error())
		}
		start := now
		if n := len(tm.Status.Steps); n > 0 {
			start = tm.Status.Steps[n-1].StartTime.Time
		}
		exp = ptr.To(metav1.NewTime(start.Add(timeout)))
	}
	if !now.Before(exp.Time) {
		return m.end(ctx, tm, storagev1.PhaseFailed, storagev1.ReasonApprovalExpired,
			fmt.Sprintf("nobody approved the move by %s: nothing was moved, and the volume is decided afresh", exp.UTC().Format(time.RFC3339)), OutcomeNotStarted)
	}
	// Woken by an annotation change, else at the expiry; looked at every 30 polls meanwhile,
	// so a clock that jumps (a test's) is followed too.
	return Result{RequeueAfter: min(exp.Sub(now), approvalPolls*m.PollInterval)}, nil
}

// approvalPolls is how many poll intervals a WaitingApproval migration sleeps at most.
const approvalPolls = 30
