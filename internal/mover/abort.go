package mover

import (
	"context"
	"fmt"
	"github.com/billyronks/couchestor/internal/mayastor"
	"slices"
	"strings"
)

// ---- Preserve ----

// Preserve ends a move in preservation mode: once the new replica is healthy
// and fully rebuilt it is kept next to the source replicas, which are not
// removed. The volume keeps one replica more than before (plan.Replicas
// becomes n+1) and the plan is Complete.
func (m *Mover) Preserve(ctx context.Context, plan Plan, j Journal) (Plan, error) {
	plan = *plan.DeepCopy()
	m.opts.CordonGate.fresh.release(plan.MigrationID) // the move ends: its replicas need their places no more
	if plan.NewReplica == nil {
		return plan, nil
	}
	st, err := m.SyncRound(ctx, plan)
	if err != nil {
		return plan, err
	}
	if st.Failed != "" {
		return plan, refuse(plan.VolumeID, ReasonNewReplicaLost, "%s", st.Failed)
	}
	if !st.Done {
		return plan, refuse(plan.VolumeID, ReasonNotSynced, "%s", st.Waiting)
	}
	plan.MovedReplicas = append(plan.MovedReplicas, *plan.NewReplica)
	plan.BaseReplicaIDs = append(plan.BaseReplicaIDs, plan.NewReplica.ID)
	slices.Sort(plan.BaseReplicaIDs)
	plan.PreservedSourceReplicas = append(plan.PreservedSourceReplicas, plan.SourceReplicas...)
	plan.SourceReplicas = nil
	plan.NewReplica = nil
	plan.Replicas++
	return plan, record(ctx, j, plan)
}

// ---- Abort ----

// Abort undoes the current round's ScaleUp: it releases recorded cordons and
// lowers the replica count back to plan.Replicas when the replica that
// decrease removes is not a source. The replica is predicted from the core
// agent's ranking and replica map order (GET /v0/specs, ranking.go): an
// unrebuilt new replica ranks first; a rebuilt one still goes first when the
// sources rank after it (a nexus-local source, or sources ahead of it in the
// map). Without the order, every replica tied with the first counts as a
// possible removal. It never removes a source replica: when one could go,
// Abort refuses with ErrAbortUnsafe and leaves the extra replica in place.
func (m *Mover) Abort(ctx context.Context, plan Plan, j Journal) (Plan, error) {
	plan = *plan.DeepCopy()
	m.opts.CordonGate.fresh.release(plan.MigrationID) // the move ends: its replicas need their places no more
	plan, err := m.releaseRecorded(ctx, plan, j)
	if err != nil {
		return plan, err
	}
	v, err := m.c.GetVolume(ctx, plan.VolumeID)
	if mayastor.IsNotFound(err) {
		plan.NewReplica = nil
		return plan, record(ctx, j, plan)
	}
	if err != nil {
		return plan, fmt.Errorf("abort move of volume %s: %w", plan.VolumeID, err)
	}
	n := plan.Replicas
	if int(v.Spec.NumReplicas) > n {
		extra := ""
		if plan.NewReplica != nil {
			if _, ok := v.State.ReplicaTopology[plan.NewReplica.ID]; ok {
				extra = plan.NewReplica.ID
			}
		}
		if extra == "" {
			if r, ok := m.extraReplica(v, plan); ok {
				extra = r.ID
			}
		}
		// With no replica beyond the original n (the count was raised but no replica created),
		// lowering the count removes nothing: a decrease never leaves fewer healthy replicas
		// than the new count.
		noExtra := len(v.State.ReplicaTopology) <= n
		cands := m.possibleRemovals(ctx, v, n)
		for _, c := range cands {
			if !noExtra && slices.ContainsFunc(plan.SourceReplicas, func(s ReplicaRef) bool { return s.ID == c }) {
				// Say what the volume shows, not what it should: the extra replica may be
				// half rebuilt with the target unreachable (every child ties), or healthy.
				rep := reportOf(v)
				what := "is not part of the volume"
				if extra != "" {
					what = "is " + replicaCondition(v, extra)
				}
				return plan, refuse(plan.VolumeID, ReasonAbortUnsafe,
					"lowering the count could remove source replica %s (removal candidates %v): the extra replica %s %s; %d of %d replicas healthy (num_replicas %d); the count was left at %d",
					c, cands, extra, what, len(rep.Healthy), len(rep.Replicas), v.Spec.NumReplicas, v.Spec.NumReplicas)
			}
		}
		if err := record(ctx, j, plan); err != nil {
			return plan, err
		}
		if _, err := m.c.SetReplicaCount(ctx, plan.VolumeID, n); err != nil {
			if !disownedOnOfflineNode(err) {
				return plan, fmt.Errorf("abort move of volume %s: %w", plan.VolumeID, err)
			}
			// The replica to remove was on an offline node: the control plane disowned it
			// (it is gone from the volume) and kept the count
			// (core/controller/resources/operations_helper.rs:318-363). Lower the
			// count again: with the disowned replica gone, it removes nothing healthy.
			if v, err = m.c.GetVolume(ctx, plan.VolumeID); err != nil {
				return plan, fmt.Errorf("abort move of volume %s: %w", plan.VolumeID, err)
			}
			if int(v.Spec.NumReplicas) > n {
				if err := record(ctx, j, plan); err != nil {
					return plan, err
				}
				if _, err := m.c.SetReplicaCount(ctx, plan.VolumeID, n); err != nil {
					return plan, fmt.Errorf("abort move of volume %s: after the control plane disowned a replica on an offline node: %w", plan.VolumeID, err)
				}
			}
		}
		if v, err = m.c.GetVolume(ctx, plan.VolumeID); err != nil {
			return plan, fmt.Errorf("abort move of volume %s: verify: %w", plan.VolumeID, err)
		}
	}
	// Never report a roll-back with the sources untouched unless they are: a source may have
	// gone in a decrease above, or in an earlier attempt whose answer was lost.
	for _, s := range plan.SourceReplicas {
		if _, ok := v.State.ReplicaTopology[s.ID]; !ok {
			return plan, refuse(plan.VolumeID, ReasonSourceReplicaGone,
				"source replica %s on pool %s is gone (%d replicas remain, as many as before the move): the move was neither finished nor undone",
				s.ID, s.Pool, len(v.State.ReplicaTopology))
		}
	}
	if len(v.State.ReplicaTopology) > n {
		// The count is back at n but a replica too many remains (self-heal
		// replaced the faulted new replica meanwhile): the control plane
		// removes the excess itself. Keep the plan as it is and run Abort
		// again later.
		var excess []string
		for _, id := range replicaIDs(v) {
			if !slices.Contains(plan.BaseReplicaIDs, id) {
				excess = append(excess, id)
			}
		}
		return plan, refuse(plan.VolumeID, ReasonExcessReplicaPending,
			"replica count is back at %d but %d replicas remain (extra %v); the control plane removes the excess, run Abort again",
			n, len(v.State.ReplicaTopology), excess)
	}
	plan.NewReplica = nil
	plan.BaseReplicaIDs = replicaIDs(v)
	return plan, nil
}

// replicaCondition describes replica id of v in a few words: healthy, rebuilding
// at some percent, or its replica and child states.
func replicaCondition(v *mayastor.Volume, id string) string {
	r, ok := v.State.ReplicaTopology[id]
	switch {
	case !ok:
		return "gone"
	case r.RebuildProgress != nil:
		return fmt.Sprintf("rebuilding (%d%%)", *r.RebuildProgress)
	case v.State.Target == nil:
		return fmt.Sprintf("%s with the target unavailable (rebuild state unknown)", r.State)
	case r.State == mayastor.ReplicaStateOnline && r.ChildStatus == mayastor.ChildStateOnline:
		return "healthy and rebuilt"
	}
	return fmt.Sprintf("replica %s, child %q", r.State, r.ChildStatus)
}

// possibleRemovals are the replicas a decrease of v to n may remove: the one
// the ranking predicts when the replica map order can be read, else every
// replica tied for first place.
func (m *Mover) possibleRemovals(ctx context.Context, v *mayastor.Volume, n int) []string {
	order, err := m.c.GetReplicaOrder(ctx, v.Spec.UUID)
	if err != nil {
		return removalCandidates(v)
	}
	if id := PredictRemoval(v, order, n); id != "" {
		return []string{id}
	}
	return nil
}

// disownedOnOfflineNode reports the control plane's answer to a decrease whose replica sits on an
// offline node: 412 NodeNotOnline, after it disowned the replica.
func disownedOnOfflineNode(err error) bool {
	return mayastor.IsKind(err, mayastor.ErrorKindFailedPrecondition) && strings.Contains(err.Error(), "NodeNotOnline")
}
