package migration

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/mayastor"
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

// end moves tm to a terminal phase and reports the ending once the status is written.
func (m *Machine) end(ctx context.Context, tm *storagev1.TierMigration, phase storagev1.MigrationPhase, reason, msg, outcome string) (Result, error) {
	return m.perform(ctx, tm, end(phase, reason, msg, outcome))
}

// Step runs the current phase of an in-flight migration (Analyzing through RollingBack): next
// decides, from the status and what the storage answered so far, and Step performs what it
// decides (ask the storage, read the volume) until the decision is a change of status.
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
			return m.perform(ctx, tm, retry(fmt.Errorf("release cordons left by an interrupted step: %w", err)))
		}
		if n := len(plan.Cordons) - len(released.Cordons); n > 0 {
			res := Result{Continue: true}
			res.event(corev1.EventTypeNormal, storagev1.ReasonCordonsReleased, "Resume", "Released %d node cordon(s) left by an interrupted step", n)
			return res, nil
		}
		// Nothing released: what is left is absent and may land late; the phase goes on.
	}
	a := answer{before: PlanFromCheckpoint(st.Checkpoint)}
	for {
		act := m.next(tm, in, &a, m.Clock.Now())
		switch act.do {
		case doAsk:
			m.ask(ctx, tm, in, &a)
		case doInspect:
			rep, err := in.Storage.Inspect(context.WithoutCancel(ctx), act.inspect)
			a.report = &report{rep: rep, err: err}
		default:
			return m.perform(ctx, tm, act)
		}
	}
}

// ask calls the storage for the current phase and records its answer in a.
func (m *Machine) ask(ctx context.Context, tm *storagev1.TierMigration, in StepInput, a *answer) {
	s, j := in.Storage, m.journal(tm)
	a.asked = true
	switch tm.Status.Phase {
	case storagev1.PhaseAnalyzing:
		a.plan, a.err = s.Analyze(ctx, MigrationIDFor(tm), tm.Spec.VolumeID, in.TargetPools, in.SourcePools)
	case storagev1.PhaseScalingUp:
		a.plan, a.err = s.ScaleUp(ctx, a.before, j)
	case storagev1.PhaseWaitingSync:
		// Only a failed journal write stops the step. Otherwise the rebuild goes on and the
		// next poll tries again; the decrease checks the replica map before it acts and
		// refuses rather than remove anything but a source.
		if _, err := s.KeepTail(ctx, a.before, j); err != nil {
			if kind, _ := classify(tm.Spec.VolumeID, err); kind == errPersist {
				a.kind, a.err = errPersist, err
				return
			}
		}
		a.plan = PlanFromCheckpoint(tm.Status.Checkpoint)
		a.sync, a.err = s.SyncRound(ctx, a.plan)
	case storagev1.PhaseScalingDown:
		if tm.Status.PreservationMode {
			a.plan, a.err = s.Preserve(ctx, a.before, j)
		} else {
			a.plan, a.down, a.err = s.ScaleDown(ctx, a.before, j)
		}
	case storagev1.PhaseRollingBack:
		a.plan, a.err = s.Abort(ctx, a.before, j)
	}
	a.kind, a.refusal = classify(tm.Spec.VolumeID, a.err)
}

// errorKind sorts what a storage step returned.
type errorKind int

const (
	errNone errorKind = iota
	// errRefusal: the storage declined the step for a reason the user must see.
	errRefusal
	// errTransient: the storage could not be reached or answered an error; retry later.
	errTransient
	// errPersist: the status could not be written: stop and let the caller retry from the
	// API server's copy.
	errPersist
)

// persistError marks a failed status write inside a journal call.
type persistError struct{ err error }

func (e *persistError) Error() string { return "write TierMigration status: " + e.err.Error() }
func (e *persistError) Unwrap() error { return e.err }

// classify sorts a storage step's error. A Mover refusal is a refusal. So is a Mayastor answer
// that retrying cannot change: a 4xx other than 408 (timeout), 409 (the volume's operation guard
// is held after a few tries: upstream control-plane/agents/src/bin/core/controller/resources/
// operations_helper.rs:826-870, control-plane/stor-port/src/types/mod.rs:85-88) and 429. That
// covers 412 FailedPrecondition with its kinds (RestrictedReplicaCount,
// SwitchoverNotAllowedWhenHAisDisabled, ReplicaChangeCount...: control-plane/agents/src/common/
// errors.rs:982-987, 1072-1077; control-plane/stor-port/src/types/mod.rs:57-60, 117-120), 400 and
// 404. It becomes a RefusalError with reason storagev1.ReasonStorageRejected and the upstream answer as its
// detail, so the step ends instead of retrying for ever (an affinity-group volume below 2
// replicas, or a republish with HA off, is refused the same way every time). 5xx (503 NotReady
// while a target is being replaced, 507...), transport errors and anything else are transient.
func classify(volumeID string, err error) (errorKind, *mover.RefusalError) {
	if err == nil {
		return errNone, nil
	}
	var pe *persistError
	if errors.As(err, &pe) {
		return errPersist, nil
	}
	var re *mover.RefusalError
	if errors.As(err, &re) {
		return errRefusal, re
	}
	if ae, ok := mayastor.AsAPIError(err); ok && permanentStatus(ae.StatusCode) {
		return errRefusal, &mover.RefusalError{Reason: storagev1.ReasonStorageRejected, VolumeID: volumeID, Detail: err.Error()}
	}
	return errTransient, nil
}

// permanentStatus: an HTTP status the same request would get again.
func permanentStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusConflict, http.StatusTooManyRequests:
		return false
	}
	return code >= 400 && code < 500
}

// isCancelled: the operator is shutting down; nothing to report.
func isCancelled(ctx context.Context, err error) bool {
	return ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
}

// MigrationIDFor is the id a migration's plan and cordon label derive from: the object's name
// when it fits a readable cordon label, else its uid.
func MigrationIDFor(tm *storagev1.TierMigration) string {
	if len(tm.Name) <= 42 {
		return tm.Name
	}
	return string(tm.UID)
}
