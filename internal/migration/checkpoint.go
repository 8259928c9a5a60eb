package migration

import (
	"slices"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/mayastor"
)

// CheckpointFromPlan is the status form of a Mover plan.
func CheckpointFromPlan(p mayastor.Plan) *storagev1.MigrationCheckpoint {
	cp := &storagev1.MigrationCheckpoint{
		MigrationID:             p.MigrationID,
		VolumeID:                p.VolumeID,
		TargetSelector:          p.TargetSelector,
		SourceSelector:          p.SourceSelector,
		Replicas:                int32(p.Replicas),
		VolumeSize:              int64(p.VolumeSize),
		BaseReplicaIDs:          slices.Clone(p.BaseReplicaIDs),
		SourceReplicas:          refsToAPI(p.SourceReplicas),
		RemovedSourceReplicas:   refsToAPI(p.RemovedSourceReplicas),
		MovedReplicas:           refsToAPI(p.MovedReplicas),
		PreservedSourceReplicas: refsToAPI(p.PreservedSourceReplicas),
		TargetPools:             slices.Clone(p.TargetPools),
		NexusNode:               p.NexusNode,
		CordonLabel:             p.CordonLabel,
		PublishedByMover:        p.PublishedByMover,
		PlacementAttempts:       int32(p.PlacementAttempts),
		RemovalAttempts:         int32(p.RemovalAttempts),
	}
	if p.NewReplica != nil {
		r := storagev1.ReplicaRef(*p.NewReplica)
		cp.NewReplica = &r
	}
	for _, c := range p.Cordons {
		cp.Cordons = append(cp.Cordons, storagev1.NodeCordon{Node: c.Node, Label: c.Label})
	}
	return cp
}

// PlanFromCheckpoint is the Mover plan a checkpoint holds.
func PlanFromCheckpoint(cp *storagev1.MigrationCheckpoint) mayastor.Plan {
	if cp == nil {
		return mayastor.Plan{}
	}
	p := mayastor.Plan{
		MigrationID:             cp.MigrationID,
		VolumeID:                cp.VolumeID,
		TargetSelector:          cp.TargetSelector,
		SourceSelector:          cp.SourceSelector,
		Replicas:                int(cp.Replicas),
		VolumeSize:              uint64(max(cp.VolumeSize, 0)),
		BaseReplicaIDs:          slices.Clone(cp.BaseReplicaIDs),
		SourceReplicas:          refsFromAPI(cp.SourceReplicas),
		RemovedSourceReplicas:   refsFromAPI(cp.RemovedSourceReplicas),
		MovedReplicas:           refsFromAPI(cp.MovedReplicas),
		PreservedSourceReplicas: refsFromAPI(cp.PreservedSourceReplicas),
		TargetPools:             slices.Clone(cp.TargetPools),
		NexusNode:               cp.NexusNode,
		CordonLabel:             cp.CordonLabel,
		PublishedByMover:        cp.PublishedByMover,
		PlacementAttempts:       int(cp.PlacementAttempts),
		RemovalAttempts:         int(cp.RemovalAttempts),
	}
	if cp.NewReplica != nil {
		r := mayastor.ReplicaRef(*cp.NewReplica)
		p.NewReplica = &r
	}
	for _, c := range cp.Cordons {
		p.Cordons = append(p.Cordons, mayastor.Cordon{Node: c.Node, Label: c.Label})
	}
	return p
}

func refsToAPI(rs []mayastor.ReplicaRef) []storagev1.ReplicaRef {
	if rs == nil {
		return nil
	}
	out := make([]storagev1.ReplicaRef, len(rs))
	for i, r := range rs {
		out[i] = storagev1.ReplicaRef(r)
	}
	return out
}

func refsFromAPI(rs []storagev1.ReplicaRef) []mayastor.ReplicaRef {
	if rs == nil {
		return nil
	}
	out := make([]mayastor.ReplicaRef, len(rs))
	for i, r := range rs {
		out[i] = mayastor.ReplicaRef(r)
	}
	return out
}

// applyCheckpoint stores cp in the status and refreshes the summary fields people read.
func applyCheckpoint(st *storagev1.TierMigrationStatus, cp *storagev1.MigrationCheckpoint) {
	prev := st.Checkpoint
	st.Checkpoint = cp
	if cp == nil {
		return
	}
	if prev != nil && cp.PlacementAttempts > prev.PlacementAttempts {
		st.Attempts += cp.PlacementAttempts - prev.PlacementAttempts
	}
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
