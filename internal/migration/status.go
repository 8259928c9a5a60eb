package migration

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

// maxSteps is the API's bound on status.steps; the oldest steps give way.
const maxSteps = 32

// maxMessage is the API's bound on a step message (status.error allows more).
const maxMessage = 1024

// Truncate cuts s to at most n bytes, ending in "..." when it was longer.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// enterPhase closes the running step and opens one for phase.
func enterPhase(st *storagev1.TierMigrationStatus, phase storagev1.MigrationPhase, msg string, now time.Time) {
	closeStep(st, now)
	st.Phase = phase
	st.Steps = append(st.Steps, storagev1.MigrationStep{Phase: phase, StartTime: metav1.NewTime(now), Message: Truncate(msg, maxMessage)})
	if n := len(st.Steps); n > maxSteps {
		st.Steps = append(st.Steps[:0:0], st.Steps[n-maxSteps:]...)
	}
}

func closeStep(st *storagev1.TierMigrationStatus, now time.Time) {
	if n := len(st.Steps); n > 0 && st.Steps[n-1].CompletionTime == nil {
		st.Steps[n-1].CompletionTime = ptr.To(metav1.NewTime(now))
	}
}

// setStepMessage updates the running step's message; it reports whether anything changed.
func setStepMessage(st *storagev1.TierMigrationStatus, msg string) bool {
	n := len(st.Steps)
	msg = Truncate(msg, maxMessage)
	if n == 0 || st.Steps[n-1].Message == msg {
		return false
	}
	st.Steps[n-1].Message = msg
	return true
}

func setCondition(tm *storagev1.TierMigration, typ string, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&tm.Status.Conditions, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: Truncate(msg, 32768), ObservedGeneration: tm.Generation,
	})
}

// progressing marks the migration as acting in its current phase.
func progressing(tm *storagev1.TierMigration, reason, msg string) {
	setCondition(tm, storagev1.MigrationConditionProgressing, metav1.ConditionTrue, reason, msg)
	if c := meta.FindStatusCondition(tm.Status.Conditions, storagev1.MigrationConditionSucceeded); c == nil || tm.Status.Phase != storagev1.PhaseRollingBack {
		setCondition(tm, storagev1.MigrationConditionSucceeded, metav1.ConditionUnknown, storagev1.ReasonInProgress, "the migration has not ended")
	}
}

// finish ends the migration in Completed or Failed.
func finish(tm *storagev1.TierMigration, phase storagev1.MigrationPhase, reason, msg string, now time.Time) {
	st := &tm.Status
	enterPhase(st, phase, msg, now)
	closeStep(st, now)
	st.CompletionTime = ptr.To(metav1.NewTime(now))
	if st.StartTime == nil {
		st.StartTime = ptr.To(metav1.NewTime(now))
	}
	setCondition(tm, storagev1.MigrationConditionProgressing, metav1.ConditionFalse, string(phase), "the migration ended")
	if phase == storagev1.PhaseCompleted {
		st.Error = ""
		setCondition(tm, storagev1.MigrationConditionSucceeded, metav1.ConditionTrue, reason, msg)
		return
	}
	if st.Error == "" {
		st.Error = Truncate(msg, 2048)
	}
	// A roll-back keeps the reason it was started for; its outcome is in the message.
	if c := meta.FindStatusCondition(st.Conditions, storagev1.MigrationConditionSucceeded); c != nil &&
		c.Status == metav1.ConditionFalse && reason == storagev1.ReasonRolledBack {
		reason = c.Reason
	}
	setCondition(tm, storagev1.MigrationConditionSucceeded, metav1.ConditionFalse, reason, msg)
}
