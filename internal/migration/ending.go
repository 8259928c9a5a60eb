package migration

import (
	"fmt"
	"slices"
	"strings"

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
func volumeLine(r *report) string {
	switch {
	case r.err != nil:
		return "the volume could not be read at the end: " + r.err.Error()
	case !r.rep.Exists:
		return "the volume no longer exists"
	}
	return fmt.Sprintf("the volume has %d healthy of %d replicas (num_replicas %d)", len(r.rep.Healthy), len(r.rep.Replicas), r.rep.NumReplicas)
}

// keptOf is what the migration leaves beyond the volume's original count: the round's new
// replica while it is present and the volume holds more replicas than plan.Replicas. When the
// volume could not be read, the new replica is assumed kept (the message says it is unverified).
func keptOf(plan mover.Plan, r *report, reason string) []storagev1.KeptReplica {
	nr := plan.NewReplica
	if r.err != nil {
		// The volume could not be read: the round's new replica is the one to account for.
		if nr == nil {
			return nil
		}
		return []storagev1.KeptReplica{{ID: nr.ID, Node: nr.Node, Pool: nr.Pool, Reason: reason}}
	}
	if !r.rep.Exists || len(r.rep.Replicas) <= plan.Replicas {
		return nil
	}
	// Every replica present beyond the ones the round started from: the new replica, or one an
	// increase created and could not attach (it never became plan.NewReplica).
	var kept []storagev1.KeptReplica
	for _, rr := range r.rep.Replicas {
		if !slices.Contains(plan.BaseReplicaIDs, rr.ID) {
			kept = append(kept, storagev1.KeptReplica{ID: rr.ID, Node: rr.Node, Pool: rr.Pool, Reason: reason})
		}
	}
	return kept
}

// keptLine describes kept replicas for a message.
func keptLine(kept []storagev1.KeptReplica, r *report) string {
	if len(kept) == 0 {
		return ""
	}
	var parts []string
	for _, k := range kept {
		state := "unverified: the volume could not be read"
		if r.err == nil {
			state = "not healthy yet"
			if r.rep.IsHealthy(k.ID) {
				state = "healthy"
			}
		}
		parts = append(parts, fmt.Sprintf("%s on pool %s (%s)", k.ID, k.Pool, state))
	}
	return "; kept beyond the original count: replica " + strings.Join(parts, ", ") + " (status.keptReplicas)"
}

func keptIDs(ks []storagev1.KeptReplica) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.ID
	}
	return out
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
