package migration

import (
	"fmt"

	storagev1 "github.com/billyronks/couchestor/api/v1"
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
