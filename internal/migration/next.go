package migration

import (
	"errors"
	"fmt"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/mover"
)

// What a step of an in-flight migration does next is decided here, from the status and what
// the storage answered so far, without any I/O: Machine.next is a pure function of its inputs.
// Step performs what it returns (ask the storage, read the volume, write the status) and calls
// it again until the answer is a status change.

// doKind is what an action does.
type doKind int

const (
	// doAsk: call the storage for the phase (Machine.ask), then decide again.
	doAsk doKind = iota
	// doInspect: read the volume (action.inspect) for the final message, then decide again.
	doInspect
	// doEnter: move to the in-flight phase action.phase.
	doEnter
	// doRollBack: move to RollingBack for action.reason.
	doRollBack
	// doEnd: move to the terminal phase action.phase.
	doEnd
	// doRetry: keep the phase, say the storage error action.err, back off.
	doRetry
	// doWait: keep the phase, update its message, look again after a poll interval.
	doWait
	// doFail: the status could not be written; return action.err to the caller.
	doFail
)

// action is one decision of a step.
type action struct {
	do      doKind
	phase   storagev1.MigrationPhase // doEnter, doEnd
	reason  string                   // doRollBack, doEnd
	msg     string                   // the step's message (doRollBack: the detail)
	outcome string                   // doEnd: storagev1.Outcome*
	err     error                    // doRetry, doFail
	// checkpoint, when set, is recorded before anything else (applyCheckpoint), and rounds
	// counts one more finished round.
	checkpoint *mover.Plan
	rounds     bool
	// keep: doEnd records kept as status.keptReplicas (with a Warning Event when any).
	keep bool
	kept []storagev1.KeptReplica
	// update sets the other status fields the decision changes.
	update func(st *storagev1.TierMigrationStatus)
	// poll: doEnter waits a poll interval before the next phase runs.
	poll bool
	// progressing, for doWait: the reason and message of the Progressing condition.
	progressing string
	// inspect is the plan whose volume doInspect reads.
	inspect mover.Plan
}

// answer is what the storage said in this step.
type answer struct {
	asked bool
	// before is the plan the step started from; plan the one the storage returned.
	before, plan mover.Plan
	sync         mover.SyncState
	down         mover.ScaleDownResult
	err          error
	kind         errorKind
	refusal      *mover.RefusalError
	// report is the volume as read for the final message (doInspect); nil until read.
	report *report
}

type report struct {
	rep mover.VolumeReport
	err error
}

func enter(phase storagev1.MigrationPhase, msg string) action {
	return action{do: doEnter, phase: phase, msg: msg}
}

func end(phase storagev1.MigrationPhase, reason, msg, outcome string) action {
	return action{do: doEnd, phase: phase, reason: reason, msg: msg, outcome: outcome}
}

func rollBack(reason, detail string) action {
	return action{do: doRollBack, reason: reason, msg: detail}
}

func retry(err error) action { return action{do: doRetry, err: err} }

// failed is the action for a storage error that is not a refusal: a failed journal write
// stops the step, anything else is retried.
func failed(a *answer) action {
	if a.kind == errPersist {
		return action{do: doFail, err: a.err}
	}
	return retry(a.err)
}

// next decides what the step of the in-flight migration tm does next, given what the storage
// answered so far (a), at now.
func (m *Machine) next(tm *storagev1.TierMigration, in StepInput, a *answer, now time.Time) action {
	switch tm.Status.Phase {
	case storagev1.PhaseAnalyzing:
		return m.nextAnalyzing(tm, in, a, now)
	case storagev1.PhaseScalingUp:
		return m.nextScalingUp(tm, a, now)
	case storagev1.PhaseWaitingSync:
		return m.nextWaitingSync(tm, a, now)
	case storagev1.PhaseScalingDown:
		if tm.Status.PreservationMode {
			return m.nextPreserving(tm, a, now)
		}
		return m.nextScalingDown(tm, a, now)
	case storagev1.PhaseRollingBack:
		return m.nextRollingBack(tm, a, now)
	}
	return action{do: doFail, err: fmt.Errorf("TierMigration %s: phase %q is not in flight", tm.Name, tm.Status.Phase)}
}

func (m *Machine) nextAnalyzing(tm *storagev1.TierMigration, in StepInput, a *answer, now time.Time) action {
	st := &tm.Status
	switch {
	case in.PoolsReason != "":
		return end(storagev1.PhaseFailed, in.PoolsReason, in.PoolsMessage, storagev1.OutcomeFailed)
	case !a.asked:
		return action{do: doAsk}
	case a.kind == errRefusal && a.refusal.Reason == mover.ReasonAlreadyOnTarget:
		return end(storagev1.PhaseCompleted, storagev1.ReasonAlreadyOnTargetTier,
			fmt.Sprintf("nothing to do: volume %s is already on %s (%s)", tm.Spec.VolumeID, tm.Spec.TargetTier, a.refusal.Detail), storagev1.OutcomeSucceeded)
	case a.kind == errRefusal:
		outcome := storagev1.OutcomeFailed
		if st.DryRun {
			outcome = storagev1.OutcomeDryRun
		}
		return end(storagev1.PhaseFailed, string(a.refusal.Reason), a.refusal.Error(), outcome)
	case a.kind != errNone && pastDeadline(st, now):
		return end(storagev1.PhaseFailed, storagev1.ReasonTimeout,
			fmt.Sprintf("the volume could not be analysed before the deadline: %v", a.err), storagev1.OutcomeFailed)
	case a.kind != errNone:
		return failed(a)
	}
	p := a.plan
	what := fmt.Sprintf("move %d replica(s) %v of volume %s from pools %v to %s, onto one of pools %v (%d replicas kept throughout)",
		len(p.SourceReplicas), refIDs(p.SourceReplicas), tm.Spec.VolumeID, refPools(p.SourceReplicas), tm.Spec.TargetTier, p.TargetPools, p.Replicas)
	if st.PreservationMode {
		what += ", keeping the source replicas (preservation mode)"
	}
	act := enter(storagev1.PhaseScalingUp, "will "+what)
	if st.DryRun {
		act = end(storagev1.PhaseCompleted, storagev1.ReasonDryRun, "dry run: would "+what+"; nothing was changed", storagev1.OutcomeDryRun)
	}
	act.checkpoint = &a.plan
	source, replicas := otherTier(tm.Spec.TargetTier), int32(p.Replicas)
	act.update = func(st *storagev1.TierMigrationStatus) { st.SourceTier, st.OriginalReplicaCount = source, replicas }
	return act
}

func (m *Machine) nextScalingUp(tm *storagev1.TierMigration, a *answer, now time.Time) action {
	st := &tm.Status
	switch {
	case !a.asked && pastDeadline(st, now):
		return rollBack(storagev1.ReasonTimeout, fmt.Sprintf("the deadline %s passed before the new replica was in sync", st.Deadline.UTC().Format(time.RFC3339)))
	case !a.asked:
		return action{do: doAsk}
	case a.kind == errRefusal:
		return rollBack(string(a.refusal.Reason), a.refusal.Error())
	case a.kind != errNone:
		return failed(a)
	case a.plan.NewReplica == nil:
		return retry(errors.New("scale up returned without a new replica"))
	}
	nr := a.plan.NewReplica
	act := enter(storagev1.PhaseWaitingSync, fmt.Sprintf("new replica %s on pool %s (node %s); waiting for its rebuild", nr.ID, nr.Pool, nr.Node))
	act.checkpoint = &a.plan
	act.update = func(st *storagev1.TierMigrationStatus) { st.SyncProgress = 0 }
	return act
}

func (m *Machine) nextWaitingSync(tm *storagev1.TierMigration, a *answer, now time.Time) action {
	st := &tm.Status
	cp := st.Checkpoint
	if cp == nil || cp.NewReplica == nil {
		return enter(storagev1.PhaseScalingUp, "no new replica recorded; scaling up again")
	}
	sync := a.sync
	switch {
	case !a.asked:
		return action{do: doAsk}
	case a.kind == errRefusal && a.refusal.Reason == mover.ReasonReplicaCountChanged:
		// Someone else set the count: lowering it again could fight them, and waiting
		// would bounce between phases for ever. Stop, keep what is there.
		return m.stop(tm, a, string(a.refusal.Reason), a.refusal.Error())
	case a.kind == errRefusal:
		return rollBack(string(a.refusal.Reason), a.refusal.Error())
	case a.kind != errNone && m.pastPhaseDeadline(st, now):
		return rollBack(storagev1.ReasonTimeout, fmt.Sprintf("the deadline passed while the rebuild could not be observed: %v", a.err))
	case a.kind != errNone:
		return failed(a)
	case sync.Failed != "":
		return rollBack(storagev1.ReasonSyncFailed, sync.Failed)
	case sync.Done:
		// A rebuilt replica goes on to ScalingDown even at the deadline: finishing the round
		// is one decrease, and ScalingDown has its own deadline (phaseDeadline).
		msg := fmt.Sprintf("replica %s is rebuilt and healthy; removing a source replica", cp.NewReplica.ID)
		if st.PreservationMode {
			msg = fmt.Sprintf("replica %s is rebuilt and healthy; keeping the source replicas (preservation mode)", cp.NewReplica.ID)
		}
		act := enter(storagev1.PhaseScalingDown, msg)
		// The observed rebuild rate: the volume size over the time since the scale-up. Only a
		// WaitingSync entered from ScalingUp counts (not one re-entered from ScalingDown).
		var bytes, secs int64
		if n := len(st.Steps); n >= 2 && st.Steps[n-2].Phase == storagev1.PhaseScalingUp {
			bytes, secs = cp.VolumeSize, max(int64(now.Sub(phaseStart(st)).Seconds()), 1)
		}
		act.update = func(st *storagev1.TierMigrationStatus) {
			st.SyncProgress = 100
			st.RebuiltBytes += bytes
			st.RebuildSeconds += secs
		}
		return act
	case m.pastPhaseDeadline(st, now):
		return rollBack(storagev1.ReasonTimeout, fmt.Sprintf("the new replica %s was not in sync by the deadline %s (%d%%: %s)",
			cp.NewReplica.ID, st.Deadline.UTC().Format(time.RFC3339), sync.Progress, sync.Waiting))
	}
	progress := int32(min(max(sync.Progress, 0), 100))
	return action{do: doWait, msg: fmt.Sprintf("replica %s: %s", cp.NewReplica.ID, sync.Waiting),
		progressing: "waiting for the rebuild of the new replica",
		update:      func(st *storagev1.TierMigrationStatus) { st.SyncProgress = progress }}
}

func (m *Machine) nextPreserving(tm *storagev1.TierMigration, a *answer, now time.Time) action {
	st := &tm.Status
	switch {
	case !a.asked:
		return action{do: doAsk}
	case a.kind == errRefusal && a.refusal.Reason == mover.ReasonNotSynced:
		return backToWaitSync(a.refusal.Detail)
	case a.kind == errRefusal && a.refusal.Reason == mover.ReasonReplicaCountChanged:
		return m.stop(tm, a, string(a.refusal.Reason), a.refusal.Error())
	case a.kind == errRefusal:
		return rollBack(string(a.refusal.Reason), a.refusal.Error())
	case a.kind == errTransient && m.pastPhaseDeadline(st, now):
		return m.stop(tm, a, storagev1.ReasonTimeout, fmt.Sprintf("the new replica could not be kept before the deadline %s: %v",
			m.phaseDeadline(st).UTC().Format(time.RFC3339), a.err))
	case a.kind != errNone:
		return failed(a)
	}
	p := a.plan
	act := end(storagev1.PhaseCompleted, storagev1.ReasonPreserved, fmt.Sprintf(
		"volume %s has replica(s) %v on %s and keeps source replica(s) %v (preservation mode): %d replicas",
		tm.Spec.VolumeID, refIDs(p.MovedReplicas), tm.Spec.TargetTier, refIDs(p.PreservedSourceReplicas), p.Replicas), storagev1.OutcomeSucceeded)
	act.checkpoint, act.rounds, act.keep = &a.plan, true, true
	if n := len(p.MovedReplicas); n > 0 {
		r := p.MovedReplicas[n-1]
		act.kept = []storagev1.KeptReplica{{ID: r.ID, Node: r.Node, Pool: r.Pool, Reason: storagev1.ReasonPreservationMode}}
	}
	return act
}

func (m *Machine) nextScalingDown(tm *storagev1.TierMigration, a *answer, now time.Time) action {
	st := &tm.Status
	if !a.asked && a.before.NewReplica == nil && len(a.before.SourceReplicas) > 0 {
		// The last round's decrease was recorded, but not the move to the next round: the
		// operator stopped between the two status writes. Start the next round.
		return m.nextRound(st, st.Checkpoint, now, fmt.Sprintf(
			"round %d was finished before a restart; %d source replica(s) left to move", st.Rounds, len(a.before.SourceReplicas)))
	}
	switch {
	case !a.asked:
		return action{do: doAsk}
	case a.kind == errRefusal && a.refusal.Reason == mover.ReasonNotSynced && m.pastPhaseDeadline(st, now):
		return m.stop(tm, a, storagev1.ReasonTimeout, fmt.Sprintf("the volume was not ready for the decrease by %s: %s",
			m.phaseDeadline(st).UTC().Format(time.RFC3339), a.refusal.Detail))
	case a.kind == errRefusal && a.refusal.Reason == mover.ReasonNotSynced:
		return backToWaitSync(a.refusal.Detail)
	case a.kind == errRefusal && a.refusal.Reason == mover.ReasonNewReplicaLost:
		return rollBack(string(a.refusal.Reason), a.refusal.Error())
	case a.kind == errRefusal:
		// The new replica is rebuilt: undoing the scale-up could remove a source, so the
		// migration stops with every replica healthy and says what it keeps
		// (RemovalNotSteerable, NexusLocalSource, ReplicaCountChanged, StorageRejected...).
		return m.stop(tm, a, string(a.refusal.Reason), a.refusal.Error())
	case a.kind == errTransient && m.pastPhaseDeadline(st, now):
		return m.stop(tm, a, storagev1.ReasonTimeout, fmt.Sprintf("the decrease did not go through before %s: %v",
			m.phaseDeadline(st).UTC().Format(time.RFC3339), a.err))
	case a.kind != errNone:
		return failed(a)
	}
	p, sd := a.plan, a.down
	var act action
	if sd.Complete {
		if a.report == nil {
			return action{do: doInspect, inspect: p}
		}
		act = end(storagev1.PhaseCompleted, storagev1.ReasonMoved, fmt.Sprintf("volume %s moved to %s: replica(s) %v replaced %v; %s",
			tm.Spec.VolumeID, tm.Spec.TargetTier, refIDs(p.MovedReplicas), refIDs(p.RemovedSourceReplicas), volumeLine(a.report)), storagev1.OutcomeSucceeded)
	} else {
		what := fmt.Sprintf("removed source replica %s", sd.Removed.ID)
		if !sd.SourceRemoved {
			what = fmt.Sprintf("the control plane removed replica %s, not a source (no data lost)", sd.Removed.ID)
		}
		act = m.nextRound(st, &p, now, fmt.Sprintf("round %d: %s; %d source replica(s) left to move", st.Rounds+1, what, len(p.SourceReplicas)))
	}
	act.checkpoint, act.rounds = &a.plan, true
	return act
}

// nextRound starts a new round in ScalingUp with its own deadline (RoundDeadline); cp is the
// checkpoint the round starts from.
func (m *Machine) nextRound(st *storagev1.TierMigrationStatus, cp *storagev1.MigrationCheckpoint, now time.Time, msg string) action {
	var size int64
	if cp != nil {
		size = cp.VolumeSize
	}
	deadline := RoundDeadline(now, timeoutOf(st), size, st.RebuiltBytes, st.RebuildSeconds)
	act := enter(storagev1.PhaseScalingUp, fmt.Sprintf("%s; round deadline %s", msg, deadline.UTC().Format(time.RFC3339)))
	act.update = func(st *storagev1.TierMigrationStatus) { st.Deadline = ptr.To(metav1.NewTime(deadline)) }
	return act
}

// backToWaitSync returns to WaitingSync when ScaleDown finds the new replica not (or no longer)
// in sync, and looks again only after a poll interval: WaitingSync and ScaleDown judge sync from
// slightly different reads, and bouncing between them at once would spin.
func backToWaitSync(detail string) action {
	act := enter(storagev1.PhaseWaitingSync, "the new replica is not in sync any more: "+detail)
	act.poll = true
	return act
}

// nextRollingBack decides the roll-back. It retries what a fault may clear (transient errors,
// a 503 while the target is away, an Abort that would risk a source while the extra replica
// cannot be told from the sources, an excess replica the control plane has yet to remove)
// until the roll-back's deadline (phaseDeadline: SettleWindow after it began), then ends Failed
// saying what was left. An answer retrying cannot change ends it at once. When the extra
// replica is rebuilt and every replica healthy, lowering the count could remove a source: it is
// kept and recorded, not retried (nothing would change).
func (m *Machine) nextRollingBack(tm *storagev1.TierMigration, a *answer, now time.Time) action {
	st := &tm.Status
	cause, before, refusal := st.Error, a.before, a.refusal
	switch {
	case !a.asked:
		return action{do: doAsk}
	case a.kind == errNone:
		return m.rolledBack(tm, a, cause)
	case a.kind == errPersist:
		return failed(a)
	case a.kind == errRefusal && refusal.Reason == mover.ReasonAbortUnsafe && a.report == nil:
		return action{do: doInspect, inspect: before}
	case a.kind == errRefusal && refusal.Reason == mover.ReasonAbortUnsafe && a.report.err == nil && before.NewReplica != nil &&
		a.report.rep.IsHealthy(before.NewReplica.ID) && len(a.report.rep.Healthy) == len(a.report.rep.Replicas):
		kept := keptOf(before, a.report, string(mover.ReasonAbortUnsafe))
		act := end(storagev1.PhaseFailed, storagev1.ReasonRolledBack, fmt.Sprintf(
			"stopped after %s without lowering the count: %s; %s; %s%s", cause, refusal.Detail,
			earlierRounds(st.Checkpoint), volumeLine(a.report), keptLine(kept, a.report)), storagev1.OutcomeRolledBack)
		act.keep, act.kept = true, kept
		return act
	}
	retryable := a.kind == errTransient || a.kind == errRefusal &&
		(refusal.Reason == mover.ReasonAbortUnsafe || refusal.Reason == mover.ReasonExcessReplicaPending)
	switch {
	case !retryable:
		return m.rollbackStopped(tm, a, string(refusal.Reason), fmt.Sprintf("roll-back after %s stopped: %s", cause, refusal.Error()))
	case m.pastPhaseDeadline(st, now):
		return m.rollbackStopped(tm, a, storagev1.ReasonRollbackIncomplete, fmt.Sprintf(
			"roll-back after %s did not finish by %s: %v", cause, m.phaseDeadline(st).UTC().Format(time.RFC3339), a.err))
	case a.kind == errTransient:
		return failed(a)
	}
	what := "waiting for the control plane to remove the excess replica: " + refusal.Detail
	if refusal.Reason == mover.ReasonAbortUnsafe {
		what = "waiting until lowering the count cannot remove a source: " + refusal.Detail
	}
	return action{do: doWait, msg: fmt.Sprintf("%s (gives up at %s)", what, m.phaseDeadline(st).UTC().Format(time.RFC3339))}
}

// rolledBack ends a roll-back whose Abort succeeded, saying which replica the decrease removed
// (not necessarily the one added: an unhealthy replica ranks first for removal) and what the
// volume holds.
func (m *Machine) rolledBack(tm *storagev1.TierMigration, a *answer, cause string) action {
	before, after := a.before, a.plan
	if a.report == nil {
		return action{do: doInspect, inspect: after}
	}
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
	act := end(storagev1.PhaseFailed, storagev1.ReasonRolledBack, fmt.Sprintf("rolled back after %s: %s; %s; %s",
		cause, this, earlierRounds(&after), volumeLine(a.report)), storagev1.OutcomeRolledBack)
	act.checkpoint = &a.plan
	return act
}

// rollbackStopped ends a roll-back that could not bring the count back, saying what is left.
func (m *Machine) rollbackStopped(tm *storagev1.TierMigration, a *answer, reason, detail string) action {
	if a.report == nil {
		return action{do: doInspect, inspect: a.before}
	}
	kept := keptOf(a.before, a.report, reason)
	act := end(storagev1.PhaseFailed, reason, fmt.Sprintf("%s; %s; %s%s",
		detail, earlierRounds(tm.Status.Checkpoint), volumeLine(a.report), keptLine(kept, a.report)), storagev1.OutcomeRolledBack)
	act.keep, act.kept = true, kept
	return act
}

// stop ends an in-flight migration Failed where undoing it is not possible or not safe: the
// volume is read, the message says what earlier rounds did and what the volume holds, and the
// round's new replica, if it is still there beyond the original count, is recorded as kept.
func (m *Machine) stop(tm *storagev1.TierMigration, a *answer, reason, detail string) action {
	plan := PlanFromCheckpoint(tm.Status.Checkpoint)
	if a.report == nil {
		return action{do: doInspect, inspect: plan}
	}
	kept := keptOf(plan, a.report, reason)
	act := end(storagev1.PhaseFailed, reason, fmt.Sprintf("stopped: %s; %s; %s%s", detail, earlierRounds(tm.Status.Checkpoint),
		volumeLine(a.report), keptLine(kept, a.report)), storagev1.OutcomeFailed)
	act.keep, act.kept = true, kept
	return act
}

// otherTier is the tier a volume leaves when it moves to t.
func otherTier(t storagev1.Tier) storagev1.Tier {
	if t == storagev1.TierNVMe {
		return storagev1.TierSATA
	}
	return storagev1.TierNVMe
}

// DefaultSettleWindow is Machine.SettleWindow when unset.
const DefaultSettleWindow = 10 * time.Minute

// defaultTimeout is the timeout of a migration whose status predates status.timeout and holds
// no start time to derive it from.
const defaultTimeout = 30 * time.Minute

// RoundDeadline is the deadline of a round that starts at start (per round, and long enough
// for the rebuild the round needs, so a large volume is not rolled back at 99 %):
//
//	start + max(timeout, 2 × size ÷ rate)
//
// where rate = rebuiltBytes ÷ rebuildSeconds is the rebuild rate observed so far in this
// migration (volume size over the time from a scale-up to a rebuilt replica, summed over the
// rounds that got there). With no rebuild observed yet (the first round) it is start + timeout.
// A round whose rebuild is expected to take longer than half the timeout thus gets twice its
// expected rebuild time; a faster one keeps the user's timeout.
func RoundDeadline(start time.Time, timeout time.Duration, size, rebuiltBytes, rebuildSeconds int64) time.Time {
	d := timeout
	if size > 0 && rebuiltBytes > 0 && rebuildSeconds > 0 {
		expected := time.Duration(float64(size) / float64(rebuiltBytes) * float64(rebuildSeconds) * float64(time.Second))
		if expected > 0 && 2*expected > d {
			d = 2 * expected
		}
	}
	return start.Add(d)
}

// timeoutOf is the migration's effective timeout: status.timeout, else what the first deadline
// says (older statuses), else 30 minutes.
func timeoutOf(st *storagev1.TierMigrationStatus) time.Duration {
	switch {
	case st.Timeout != nil && st.Timeout.Duration > 0:
		return st.Timeout.Duration
	case st.Deadline != nil && st.StartTime != nil && st.Deadline.After(st.StartTime.Time):
		return st.Deadline.Sub(st.StartTime.Time)
	}
	return defaultTimeout
}

func (m *Machine) settleWindow() time.Duration {
	if m.SettleWindow > 0 {
		return m.SettleWindow
	}
	return DefaultSettleWindow
}

// phaseStart is when the current phase began (the running step's start).
func phaseStart(st *storagev1.TierMigrationStatus) time.Time {
	if n := len(st.Steps); n > 0 {
		return st.Steps[n-1].StartTime.Time
	}
	if st.StartTime != nil {
		return st.StartTime.Time
	}
	return time.Time{}
}

// phaseDeadline is when the current phase must end:
//   - Analyzing, ScalingUp, WaitingSync: the round deadline (status.deadline);
//   - ScalingDown: the later of the round deadline and SettleWindow after it began (a replica
//     rebuilt just before the deadline still gets its decrease);
//   - RollingBack: SettleWindow after it began (it usually begins because the deadline passed).
//
// The zero time means no deadline.
func (m *Machine) phaseDeadline(st *storagev1.TierMigrationStatus) time.Time {
	var round time.Time
	if st.Deadline != nil {
		round = st.Deadline.Time
	}
	switch st.Phase {
	case storagev1.PhaseScalingDown:
		settle := phaseStart(st).Add(m.settleWindow())
		if settle.After(round) {
			return settle
		}
		return round
	case storagev1.PhaseRollingBack:
		return phaseStart(st).Add(m.settleWindow())
	}
	return round
}

// pastPhaseDeadline: the current phase's time is up.
func (m *Machine) pastPhaseDeadline(st *storagev1.TierMigrationStatus, now time.Time) bool {
	d := m.phaseDeadline(st)
	return !d.IsZero() && !now.Before(d)
}

// waitFor is how long to wait before looking again: want, but never past the phase deadline
// (plus a little), so that a passed deadline is acted on within one poll interval.
func (m *Machine) waitFor(st *storagev1.TierMigrationStatus, now time.Time, want time.Duration) time.Duration {
	d := m.phaseDeadline(st)
	if d.IsZero() {
		return want
	}
	until := d.Sub(now) + time.Second
	if until < time.Second {
		until = time.Second
	}
	return min(want, until)
}

// pastDeadline: the migration's round deadline (status.deadline) has passed.
func pastDeadline(st *storagev1.TierMigrationStatus, now time.Time) bool {
	return st.Deadline != nil && !now.Before(st.Deadline.Time)
}
