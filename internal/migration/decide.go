package migration

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/mover"
)

// Limits bound how many migrations act at once.
type Limits struct {
	// Global is --max-concurrent-migrations (0: no limit).
	Global int
	// Policy is the migration's StoragePolicy's spec.maxConcurrentMigrations (0: no limit).
	Policy int
}

// Admission says whether a Pending migration may start now.
type Admission struct {
	// Start: the migration takes a slot and moves to Analyzing.
	Start bool
	// Busy: another migration of the same volume owns it; this one fails with VolumeBusy.
	Busy bool
	// Reason and Message explain a wait or a refusal.
	Reason  string
	Message string
}

// Admit decides whether tm, Pending, may start, given every other TierMigration. One
// non-terminal migration per volume may act: the one in flight, else the oldest; others fail
// with VolumeBusy. Migrations waiting for approval neither hold nor queue for a slot. A
// migration waits while the in-flight migrations and the older Pending ones
// fill the global slots, or its policy's slots. A dry run needs no slot (it never writes).
func Admit(tm *storagev1.TierMigration, others []storagev1.TierMigration, dryRun bool, lim Limits) Admission {
	var global, policy, olderGlobal, olderPolicy int
	for i := range others {
		o := &others[i]
		if o.UID == tm.UID || o.Status.Phase.IsTerminal() {
			continue
		}
		samePolicy := tm.Spec.PolicyName != "" && o.Spec.PolicyName == tm.Spec.PolicyName
		inFlight := o.Status.Phase.IsInFlight()
		if o.Spec.VolumeID == tm.Spec.VolumeID && (inFlight || older(o, tm)) {
			what := "is pending"
			if inFlight {
				what = "is in phase " + string(o.Status.Phase)
			}
			return Admission{Busy: true, Reason: storagev1.ReasonVolumeBusy,
				Message: fmt.Sprintf("TierMigration %s of the same volume %s; only one migration of a volume may act at a time", o.Name, what)}
		}
		switch {
		case inFlight && (o.Spec.DryRun || o.Status.DryRun):
			// A dry run writes nothing to Mayastor: it holds no slot.
		case inFlight:
			global++
			if samePolicy {
				policy++
			}
		case o.Status.Phase == storagev1.PhaseWaitingApproval || o.Status.Phase == "" && o.Spec.ApprovalRequired:
			// Waiting for approval holds no slot and is not in the queue for one.
		case older(o, tm) && !o.Spec.DryRun:
			olderGlobal++
			if samePolicy {
				olderPolicy++
			}
		}
	}
	if dryRun {
		return Admission{Start: true}
	}
	if lim.Global > 0 && global+olderGlobal >= lim.Global {
		return Admission{Reason: storagev1.ReasonWaitingForSlot, Message: fmt.Sprintf(
			"%d migrations in flight and %d older ones waiting, --max-concurrent-migrations is %d", global, olderGlobal, lim.Global)}
	}
	if lim.Policy > 0 && policy+olderPolicy >= lim.Policy {
		return Admission{Reason: storagev1.ReasonWaitingForSlot, Message: fmt.Sprintf(
			"%d migrations of policy %s in flight and %d older ones waiting, its maxConcurrentMigrations is %d",
			policy, tm.Spec.PolicyName, olderPolicy, lim.Policy)}
	}
	return Admission{Start: true}
}

// older orders Pending migrations first come, first served.
func older(a, b *storagev1.TierMigration) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}

// InFlight counts the migrations holding a slot.
func InFlight(tms []storagev1.TierMigration) int {
	n := 0
	for i := range tms {
		if tms[i].Status.Phase.IsInFlight() {
			n++
		}
	}
	return n
}

// pastDeadline: the migration's time is up.
func pastDeadline(st *storagev1.TierMigrationStatus, now time.Time) bool {
	return st.Deadline != nil && !now.Before(st.Deadline.Time)
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

// otherTier is the tier a volume leaves when it moves to t.
func otherTier(t storagev1.Tier) storagev1.Tier {
	if t == storagev1.TierNVMe {
		return storagev1.TierSATA
	}
	return storagev1.TierNVMe
}

func refIDs(rs []storagev1.ReplicaRef) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func refPools(rs []storagev1.ReplicaRef) []string {
	var out []string
	for _, r := range rs {
		if !slices.Contains(out, r.Pool) {
			out = append(out, r.Pool)
		}
	}
	return out
}
