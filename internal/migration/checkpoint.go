package migration

import (
	"slices"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/mover"
)

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
