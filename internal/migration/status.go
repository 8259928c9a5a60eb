package migration

import (
	"context"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/mover"
)

// perform writes what next decided to the status (one write; on failure the status is as it
// was) and says what the step did: its Events, its ending, when to run again.
func (m *Machine) perform(ctx context.Context, tm *storagev1.TierMigration, act action) (Result, error) {
	if act.do == doFail {
		return Result{}, act.err
	}
	st := &tm.Status
	now := m.Clock.Now()
	prev := st.DeepCopy()
	if act.checkpoint != nil {
		applyCheckpoint(st, CheckpointFromPlan(*act.checkpoint))
	}
	if act.rounds {
		st.Rounds++
	}
	if act.update != nil {
		act.update(st)
	}
	var res Result
	switch act.do {
	case doEnter:
		enterPhase(st, act.phase, act.msg, now)
		progressing(tm, string(act.phase), act.msg)
		res.Continue = true
		if act.poll {
			res.Continue, res.RequeueAfter = false, m.PollInterval
		}
		res.event(corev1.EventTypeNormal, string(act.phase), string(act.phase), "%s", act.msg)
	case doRollBack:
		st.Error = Truncate(act.reason+": "+act.msg, 2048)
		enterPhase(st, storagev1.PhaseRollingBack, "rolling back after "+act.reason+": "+act.msg, now)
		setCondition(tm, storagev1.MigrationConditionSucceeded, metav1.ConditionFalse, act.reason, act.msg)
		progressing(tm, string(storagev1.PhaseRollingBack), "removing the replica this migration added; the source replicas are untouched")
		res.Continue = true
		res.event(corev1.EventTypeWarning, act.reason, string(storagev1.PhaseRollingBack), "Rolling back the move of volume %s: %s", tm.Spec.VolumeID, act.msg)
	case doEnd:
		if act.keep {
			st.KeptReplicas = act.kept
		}
		finish(tm, act.phase, act.reason, act.msg, now)
		typ, reason := corev1.EventTypeNormal, act.reason
		if act.phase == storagev1.PhaseFailed {
			typ = corev1.EventTypeWarning
			if act.outcome == storagev1.OutcomeRolledBack {
				reason = storagev1.ReasonRolledBack
			}
		}
		res.event(typ, reason, string(act.phase), "%s", act.msg)
		if len(act.kept) > 0 {
			res.event(corev1.EventTypeWarning, storagev1.ReasonExtraReplicaKept, string(act.phase),
				"Volume %s keeps %d replica(s) beyond its original %d: %v (%s)", tm.Spec.VolumeID, len(act.kept),
				st.OriginalReplicaCount, keptIDs(act.kept), act.kept[0].Reason)
		}
		res.Ended = &Ending{Outcome: act.outcome, Duration: now.Sub(st.StartTime.Time)}
	case doRetry:
		res = Result{Transient: act.err, RequeueAfter: m.waitFor(st, now, 2*time.Minute)}
		msg := "retrying after a storage error: " + act.err.Error()
		if isCancelled(ctx, act.err) || !setStepMessage(st, msg) {
			*st = *prev
			return res, nil
		}
		progressing(tm, storagev1.ReasonRetrying, msg)
		res.event(corev1.EventTypeWarning, storagev1.ReasonStorageUnavailable, string(st.Phase), "%s", msg)
	case doWait:
		setStepMessage(st, act.msg)
		if act.progressing != "" {
			progressing(tm, string(st.Phase), act.progressing)
		}
		res.RequeueAfter = m.waitFor(st, now, m.PollInterval)
		if equality.Semantic.DeepEqual(prev, st) {
			return res, nil
		}
	}
	if err := m.write(ctx, tm, prev); err != nil {
		return Result{}, err
	}
	return res, nil
}

// write persists tm's status, restoring prev in memory when the write fails.
func (m *Machine) write(ctx context.Context, tm *storagev1.TierMigration, prev *storagev1.TierMigrationStatus) error {
	if err := m.Persist(ctx, tm); err != nil {
		tm.Status = *prev
		return err
	}
	return nil
}

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

// CheckpointFromPlan is the status form of a Mover plan: the same type
// (mover.Plan is an alias of storagev1.MigrationCheckpoint), deep-copied so
// the status never shares memory with the plan a step goes on working on. A
// cordon's Answered flag is not persisted (json "-"): read back, every
// recorded cordon "may land late".
func CheckpointFromPlan(p mover.Plan) *storagev1.MigrationCheckpoint {
	cp := p.DeepCopy()
	for i := range cp.Cordons {
		cp.Cordons[i].Answered = false
	}
	return cp
}

// PlanFromCheckpoint is the Mover plan a checkpoint holds (a deep copy).
func PlanFromCheckpoint(cp *storagev1.MigrationCheckpoint) mover.Plan {
	if cp == nil {
		return mover.Plan{}
	}
	return *cp.DeepCopy()
}

// applyCheckpoint stores cp in the status and refreshes the summary fields people read.
func applyCheckpoint(st *storagev1.TierMigrationStatus, cp *storagev1.MigrationCheckpoint) {
	st.Checkpoint = cp
	if cp == nil {
		return
	}
	st.Attempts = int32(cp.Increases)
	var sources []string
	for _, group := range [][]storagev1.ReplicaRef{cp.RemovedSourceReplicas, cp.SourceReplicas, cp.PreservedSourceReplicas} {
		for _, r := range group {
			if !slices.Contains(sources, r.ID) {
				sources = append(sources, r.ID)
			}
		}
	}
	st.SourceReplicas = sources
	switch {
	case cp.NewReplica != nil:
		st.NewReplica, st.TargetPool = cp.NewReplica.ID, cp.NewReplica.Pool
	case len(cp.MovedReplicas) > 0:
		last := cp.MovedReplicas[len(cp.MovedReplicas)-1]
		st.NewReplica, st.TargetPool = last.ID, last.Pool
	default:
		st.NewReplica = ""
	}
	st.Cordons = slices.Clone(cp.Cordons)
}

// KeptExtraReplicaVolumes counts the volumes left above their original replica count by
// CoucheStor: for each volume, its latest ended TierMigration (by completion time) records kept
// replicas. A later migration of the volume that ends without any supersedes the record.
// Derived from the objects, so it survives operator restarts.
func KeptExtraReplicaVolumes(tms []storagev1.TierMigration) int {
	latest := map[string]*storagev1.TierMigration{}
	for i := range tms {
		tm := &tms[i]
		if !tm.Status.Phase.IsTerminal() || tm.Status.CompletionTime == nil {
			continue
		}
		cur, ok := latest[tm.Spec.VolumeID]
		if !ok || cur.Status.CompletionTime.Before(tm.Status.CompletionTime) ||
			cur.Status.CompletionTime.Equal(tm.Status.CompletionTime) && cur.Name < tm.Name {
			latest[tm.Spec.VolumeID] = tm
		}
	}
	n := 0
	for _, tm := range latest {
		if len(tm.Status.KeptReplicas) > 0 {
			n++
		}
	}
	return n
}
