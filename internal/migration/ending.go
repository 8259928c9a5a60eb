package migration

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/mover"
)

// What a migration tells at its end is read, not assumed (a roll-back in a later round must not
// claim the sources are untouched, nor that the decrease removed the replica added): the rounds
// come from the checkpoint (RemovedSourceReplicas, MovedReplicas), the replicas from the volume
// as read at the end (Storage.Inspect).

// earlierRounds says which sources earlier rounds removed and which replicas replaced them.
func earlierRounds(cp *storagev1.MigrationCheckpoint) string {
	if cp == nil || len(cp.RemovedSourceReplicas) == 0 {
		return "no source replica was removed"
	}
	return fmt.Sprintf("earlier rounds removed source replica(s) %v, replaced by %v on the target tier",
		refIDs(cp.RemovedSourceReplicas), refIDs(cp.MovedReplicas))
}

// volumeLine says what the volume holds now.
func volumeLine(rep mover.VolumeReport, err error) string {
	switch {
	case err != nil:
		return "the volume could not be read at the end: " + err.Error()
	case !rep.Exists:
		return "the volume no longer exists"
	}
	return fmt.Sprintf("the volume has %d healthy of %d replicas (num_replicas %d)", len(rep.Healthy), len(rep.Replicas), rep.NumReplicas)
}

// inspect reads the volume for a final message; a failed read is said in the message.
func inspect(ctx context.Context, s Storage, plan mover.Plan) (mover.VolumeReport, error) {
	return s.Inspect(context.WithoutCancel(ctx), plan)
}

// keptOf is what the migration leaves beyond the volume's original count: the round's new
// replica while it is present and the volume holds more replicas than plan.Replicas. When the
// volume could not be read, the new replica is assumed kept (the message says it is unverified).
func keptOf(plan mover.Plan, rep mover.VolumeReport, repErr error, reason string) []storagev1.KeptReplica {
	nr := plan.NewReplica
	if repErr != nil {
		// The volume could not be read: the round's new replica is the one to account for.
		if nr == nil {
			return nil
		}
		return []storagev1.KeptReplica{{ID: nr.ID, Node: nr.Node, Pool: nr.Pool, Reason: reason}}
	}
	if !rep.Exists || len(rep.Replicas) <= plan.Replicas {
		return nil
	}
	// Every replica present beyond the ones the round started from: the new replica, or one an
	// increase created and could not attach (it never became plan.NewReplica).
	var kept []storagev1.KeptReplica
	for _, r := range rep.Replicas {
		if !slices.Contains(plan.BaseReplicaIDs, r.ID) {
			kept = append(kept, storagev1.KeptReplica{ID: r.ID, Node: r.Node, Pool: r.Pool, Reason: reason})
		}
	}
	return kept
}

// keptLine describes kept replicas for a message.
func keptLine(kept []storagev1.KeptReplica, rep mover.VolumeReport, repErr error) string {
	if len(kept) == 0 {
		return ""
	}
	var parts []string
	for _, k := range kept {
		state := "unverified: the volume could not be read"
		if repErr == nil {
			state = "not healthy yet"
			if rep.IsHealthy(k.ID) {
				state = "healthy"
			}
		}
		parts = append(parts, fmt.Sprintf("%s on pool %s (%s)", k.ID, k.Pool, state))
	}
	return "; kept beyond the original count: replica " + strings.Join(parts, ", ") + " (status.keptReplicas)"
}

// endKeeping ends the migration like end, recording kept replicas in status.keptReplicas and
// emitting a Warning Event ExtraReplicaKept when there are any.
func (m *Machine) endKeeping(ctx context.Context, tm *storagev1.TierMigration, phase storagev1.MigrationPhase, reason, msg, outcome string, kept []storagev1.KeptReplica) (Result, error) {
	prevKept := tm.Status.KeptReplicas
	tm.Status.KeptReplicas = kept
	res, err := m.end(ctx, tm, phase, reason, msg, outcome)
	if err != nil {
		tm.Status.KeptReplicas = prevKept
		return res, err
	}
	if len(kept) > 0 {
		res.event(corev1.EventTypeWarning, storagev1.ReasonExtraReplicaKept, string(phase),
			"Volume %s keeps %d replica(s) beyond its original %d: %v (%s)", tm.Spec.VolumeID, len(kept),
			tm.Status.OriginalReplicaCount, keptIDs(kept), kept[0].Reason)
	}
	return res, nil
}

// stop ends an in-flight migration Failed where undoing it is not possible or not safe: the
// volume is read, the message says what earlier rounds did and what the volume holds, and the
// round's new replica, if it is still there beyond the original count, is recorded as kept.
func (m *Machine) stop(ctx context.Context, tm *storagev1.TierMigration, s Storage, reason, detail string) (Result, error) {
	plan := PlanFromCheckpoint(tm.Status.Checkpoint)
	rep, repErr := inspect(ctx, s, plan)
	kept := keptOf(plan, rep, repErr, reason)
	msg := fmt.Sprintf("stopped: %s; %s; %s%s", detail, earlierRounds(tm.Status.Checkpoint), volumeLine(rep, repErr), keptLine(kept, rep, repErr))
	return m.endKeeping(ctx, tm, storagev1.PhaseFailed, reason, msg, storagev1.OutcomeFailed, kept)
}

func keptIDs(ks []storagev1.KeptReplica) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.ID
	}
	return out
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

// end moves tm to a terminal phase and reports the ending once the status is written.
func (m *Machine) end(ctx context.Context, tm *storagev1.TierMigration, phase storagev1.MigrationPhase, reason, msg, outcome string) (Result, error) {
	prev := tm.Status.DeepCopy()
	now := m.Clock.Now()
	finish(tm, phase, reason, msg, now)
	var res Result
	if err := m.write(ctx, tm, prev); err != nil {
		return res, err
	}
	typ := corev1.EventTypeNormal
	if phase == storagev1.PhaseFailed {
		typ = corev1.EventTypeWarning
	}
	evReason := reason
	if phase == storagev1.PhaseFailed && outcome == storagev1.OutcomeRolledBack {
		evReason = storagev1.ReasonRolledBack
	}
	res.event(typ, evReason, string(phase), "%s", msg)
	res.Ended = &Ending{Outcome: outcome, Duration: now.Sub(tm.Status.StartTime.Time)}
	return res, nil
}
