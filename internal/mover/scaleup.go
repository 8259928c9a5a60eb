package mover

import (
	"context"
	"fmt"
	"github.com/billyronks/couchestor/internal/mayastor"
	"slices"
)

// ---- ScaleUp ----

// ScaleUp adds one replica of the volume on the target tier and records it
// in plan.NewReplica. It cordons the fewest competing nodes the placement
// model (placement.go) says are needed for a target pool to win, none when
// one already does (recording the cordons through j first), for the one
// replica-count increase and releases them at once, verifies where the
// replica landed, and if it is off the target tier takes the count back (the
// unrebuilt replica is removed first) and tries again, up to
// MaxPlacementAttempts misplaced replicas. The whole step holds the
// process's CordonGate.
//
// Re-running it after a crash is safe: recorded cordons are released (those
// whose call may still land stay recorded, see ReleaseCordons), an extra
// replica already on the target tier is adopted instead of adding another,
// and one elsewhere is removed before a new attempt.
func (m *Mover) ScaleUp(ctx context.Context, plan Plan, j Journal) (Plan, error) {
	plan = *plan.DeepCopy()
	t, err := m.tiersOf(plan)
	if err != nil {
		return plan, err
	}
	if plan.Replicas <= 0 || len(plan.BaseReplicaIDs) == 0 {
		return plan, refuse(plan.VolumeID, ReasonPlanInvalid, "plan has no replica count or base replicas; run Analyze first")
	}
	// One cordon window at a time in the process (a cordon steers every
	// move's increase, see CordonGate): the gate is
	// held from before the cluster is read for a cordon plan until the
	// release of the cordons is observed, so no other move's cordons skew
	// this one's placement or prediction, nor this one's theirs.
	if err := m.opts.CordonGate.Lock(ctx); err != nil {
		return plan, fmt.Errorf("scale up volume %s: wait for the cordon gate: %w", plan.VolumeID, err)
	}
	defer m.opts.CordonGate.Unlock()
	if plan, err = m.releaseRecorded(ctx, plan, j); err != nil {
		return plan, err
	}
	n := plan.Replicas
	// Each pass either returns or changes the cluster towards a placement;
	// the bound only stops a control plane that ignores the calls.
	for pass := 0; pass < 2*m.opts.MaxPlacementAttempts+4; pass++ {
		v, err := m.c.GetVolume(ctx, plan.VolumeID)
		if mayastor.IsNotFound(err) {
			return plan, refuse(plan.VolumeID, ReasonVolumeNotFound, "%v", err)
		}
		if err != nil {
			return plan, fmt.Errorf("scale up volume %s: %w", plan.VolumeID, err)
		}
		cl, err := m.loadCluster(ctx)
		if err != nil {
			return plan, fmt.Errorf("scale up volume %s: %w", plan.VolumeID, err)
		}
		if plan.NewReplica != nil {
			if _, ok := v.State.ReplicaTopology[plan.NewReplica.ID]; ok {
				return m.afterIncrease(ctx, plan, v, j)
			}
			return plan, refuse(plan.VolumeID, ReasonNewReplicaLost, "new replica %s is no longer part of the volume", plan.NewReplica.ID)
		}
		if extra, ok := m.extraReplica(v, plan); ok && int(v.Spec.NumReplicas) <= n && len(v.State.ReplicaTopology) > int(v.Spec.NumReplicas) {
			// More replicas than the count: an increase created this one and could not attach
			// it (max_rebuilds, core/nexus/operations_helper.rs:26-46 and
			// core/controller/registry.rs:478-496, or an add-child error). It is not a self-heal
			// replacement, and not ours to adopt as a base replica.
			return plan, refuse(plan.VolumeID, ReasonUnusedReplica,
				"replica %s on pool %s exists beyond num_replicas %d (%d replicas): an increase created it but could not attach it (e.g. max_rebuilds reached); the control plane removes such a replica only for self_heal volumes",
				extra.ID, extra.Pool, v.Spec.NumReplicas, len(v.State.ReplicaTopology))
		}
		if _, ok := m.extraReplica(v, plan); ok && int(v.Spec.NumReplicas) <= n {
			// The control plane replaced a replica by itself (self-heal):
			// not ours. Re-derive the layout and go on from there.
			if plan, err = m.refreshLayout(ctx, plan, v, cl, t, j); err != nil {
				return plan, err
			}
			continue
		}
		// An extra replica left by an earlier run (crash after the increase,
		// or an increase that took effect after its call failed).
		if extra, ok := m.extraReplica(v, plan); ok {
			plan.Increases++
			if m.onTarget(t, cl.pools[extra.Pool]) {
				plan.NewReplica = &extra
				if err := record(ctx, j, plan); err != nil {
					return plan, err
				}
				return m.afterIncrease(ctx, plan, v, j)
			}
			plan.PlacementAttempts++ // a replica really landed off the target tier
			if plan, err = m.takeBack(ctx, plan, v, extra, j); err != nil {
				return plan, err
			}
			continue
		}
		if int(v.Spec.NumReplicas) > n {
			// Count raised but no replica added (creation failed): restore it.
			if err := record(ctx, j, plan); err != nil {
				return plan, err
			}
			if _, err := m.c.SetReplicaCount(ctx, plan.VolumeID, n); err != nil {
				return plan, fmt.Errorf("scale up volume %s: restore replica count: %w", plan.VolumeID, err)
			}
			continue
		}
		if plan.PlacementAttempts >= m.opts.MaxPlacementAttempts {
			return plan, refuse(plan.VolumeID, ReasonPlacementFailed,
				"the new replica landed off the target tier in %d attempts (target pools %v)", plan.PlacementAttempts, plan.TargetPools)
		}
		if reason, detail := healthProblem(v, n); reason != "" {
			return plan, refuse(plan.VolumeID, reason, "before scale up: %s", detail)
		}
		if v.State.Target == nil {
			return plan, refuse(plan.VolumeID, ReasonUnpublished, "volume has no target; a new replica could not be rebuilt")
		}
		targets, err := m.chooseTargetPools(v, cl, t)
		if err != nil {
			return plan, err
		}
		plan.TargetPools = nil
		for _, p := range targets {
			plan.TargetPools = append(plan.TargetPools, p.ID)
		}
		plan.NexusNode = nexusNode(v)
		plan.BaseReplicaIDs = replicaIDs(v)
		in, err := m.placementInput(ctx, v, cl, m.c.CountReplicasByPool)
		if err != nil {
			return plan, fmt.Errorf("scale up volume %s: %w", plan.VolumeID, err)
		}
		apply, steer, _ := cordonPlan(in, targets, plan.PlacementAttempts)
		// Cordons of earlier attempts that may still land stay recorded.
		plan.Cordons = withCordons(plan.Cordons, apply, plan.CordonLabel)
		// Intent first: the cordons and the base replica set are durable
		// before any of them is acted on.
		if err := record(ctx, j, plan); err != nil {
			return plan, err
		}
		// Placeholders that make a target pool beat a pool on its own node, created before
		// the cordons (their node stays open) and deleted once the increase is over: the new
		// replica, the map's last entry, then takes one's slot, still behind every source.
		var steered []string
		for _, poolID := range steer {
			var id string
			if plan, id, err = m.addPlaceholderOn(ctx, plan, j, cl.pools[poolID]); err != nil {
				return plan, err
			}
			steered = append(steered, id)
		}
		plan, err = m.increaseCordoned(ctx, plan, apply, n, j)
		if err != nil {
			return plan, err
		}
		if len(steered) > 0 {
			if plan, err = m.deletePlaceholdersOf(ctx, plan, steered); err != nil {
				return plan, err
			}
			if err := record(ctx, j, plan); err != nil {
				return plan, err
			}
		}
		v, err = m.c.GetVolume(ctx, plan.VolumeID)
		if err != nil {
			return plan, fmt.Errorf("scale up volume %s: verify placement: %w", plan.VolumeID, err)
		}
		extra, ok := m.extraReplica(v, plan)
		if !ok {
			return plan, fmt.Errorf("scale up volume %s: replica count raised to %d but no new replica is visible", plan.VolumeID, n+1)
		}
		plan.Increases++
		if m.onTarget(t, cl.pools[extra.Pool]) {
			plan.NewReplica = &extra
			if err := record(ctx, j, plan); err != nil {
				return plan, err
			}
			return m.afterIncrease(ctx, plan, v, j)
		}
		// Only a replica that really landed off the target tier counts as a
		// placement attempt: not a transient error, not an increase that
		// created nothing: those say nothing about where the scheduler places.
		plan.PlacementAttempts++
		if plan, err = m.takeBack(ctx, plan, v, extra, j); err != nil {
			return plan, err
		}
	}
	return plan, fmt.Errorf("scale up volume %s: the control plane did not settle after %d passes", plan.VolumeID, 2*m.opts.MaxPlacementAttempts+4)
}

// afterIncrease runs once the round's new replica is on the target tier,
// with the gate held: the replica is registered as fresh (no other move's
// removal may pull it forward in the replica map), GuardDepth map entries
// are put behind it when a removal elsewhere pulling it to the front would
// break the move (keepGuard), and a placeholder right behind it when the
// forecast's round needs one at its decrease. A forecast that finds no way
// on is left to ScaleDown, which refuses before any decrease.
func (m *Mover) afterIncrease(ctx context.Context, plan Plan, v *mayastor.Volume, j Journal) (Plan, error) {
	m.opts.CordonGate.fresh.protect(plan.MigrationID, plan.NewReplica.ID)
	order, err := m.c.GetReplicaOrder(ctx, plan.VolumeID)
	if err != nil {
		return plan, fmt.Errorf("volume %s: read the replica map order: %w", plan.VolumeID, err)
	}
	return m.guardRound(ctx, plan, v, order, j)
}

// guardRound keeps the round's new replica guarded (keepGuard) and, when it
// is still the map's last entry and the forecast's round needs a
// placeholder at its decrease, creates that one. Call it with the gate held.
func (m *Mover) guardRound(ctx context.Context, plan Plan, v *mayastor.Volume, order mayastor.ReplicaOrder, j Journal) (Plan, error) {
	plan, order, err := m.keepGuard(ctx, plan, v, order, plan.SourceReplicas, plan.NewReplica.ID, j)
	if err != nil {
		return plan, err
	}
	in := forecastInputOf(v, order, plan.SourceReplicas, plan.NewReplica.ID, m.canRepublish(), plan.Placeholders, m.opts.GuardDepth)
	f, ok := PlanMove(in)
	if !ok {
		return plan, nil
	}
	plan.Forecast = f.String()
	if f.Steps[0].Placeholder && order.Tail == plan.NewReplica.ID {
		return m.addPlaceholder(ctx, plan, j)
	}
	return plan, nil
}

// keepGuard keeps GuardDepth replica map entries behind the move's
// last-in-map kept replica (the round's new replica while pending is set,
// else the replica just moved) when a removal elsewhere pulling it to the
// front would break the rest of the move (GuardNeeded, GuardNeededFor).
// Every removal anywhere takes one entry from behind it, and it moves only
// when nothing is behind it; so GuardDepth removals between two calls are
// harmless. Each step is the forecast's (NextGuardAction): while the kept
// replica is the map's last entry, a placeholder of the move behind every
// source is deleted (the replica takes its slot, the entries in between are
// then behind it); otherwise a placeholder is created. Call it with the
// gate held. It returns the plan and the replica map order last read.
func (m *Mover) keepGuard(ctx context.Context, plan Plan, v *mayastor.Volume, order mayastor.ReplicaOrder, sources []ReplicaRef, pending string, j Journal) (Plan, mayastor.ReplicaOrder, error) {
	// Placeholders other moves wait to delete (freshReplicas.reclaim) are kept in addition.
	depth := m.guardTarget(plan)
	in := forecastInputOf(v, order, sources, pending, m.canRepublish(), plan.Placeholders, depth)
	if d := GuardDepthOf(in); d < 0 || d >= depth {
		return plan, order, nil
	}
	kept, _, _ := NextGuardAction(in)
	need := pending != "" && GuardNeeded(in) || pending == "" && GuardNeededFor(in, kept)
	m.opts.CordonGate.fresh.setGuarded(plan.MigrationID, need)
	if !need {
		return plan, order, nil
	}
	for range 2*depth + 2 {
		_, reel, create := NextGuardAction(in)
		if reel >= 0 {
			// Deleting one takes an entry from behind every other move's fresh replica too.
			if _, others, err := m.readMap(ctx, plan); err != nil {
				return plan, order, fmt.Errorf("volume %s: read the replica map order: %w", plan.VolumeID, err)
			} else if others >= 0 && others <= m.opts.GuardDepth {
				reel, create = -1, true
			}
		}
		var err error
		switch {
		case reel >= 0:
			var id string
			for _, p := range plan.Placeholders {
				if i, ok := order.Unowned[p.ID]; ok && i == reel {
					id = p.ID
				}
			}
			if plan, err = m.deletePlaceholdersOf(ctx, plan, []string{id}); err != nil {
				return plan, order, err
			}
			if err = record(ctx, j, plan); err != nil {
				return plan, order, err
			}
		case create:
			if plan, err = m.addPlaceholder(ctx, plan, j); err != nil {
				return plan, order, err
			}
		default:
			return plan, order, nil
		}
		if order, err = m.c.GetReplicaOrder(ctx, plan.VolumeID); err != nil {
			return plan, order, fmt.Errorf("volume %s: read the replica map order: %w", plan.VolumeID, err)
		}
		in = forecastInputOf(v, order, sources, pending, m.canRepublish(), plan.Placeholders, depth)
	}
	return plan, order, nil
}

// guardTarget is the number of map entries keepGuard keeps behind the move's
// kept replica: GuardDepth, plus the placeholders other moves wait to delete.
func (m *Mover) guardTarget(plan Plan) int {
	return m.opts.GuardDepth + m.opts.CordonGate.fresh.reclaimOfOthers(plan.MigrationID)
}

// keptDepth is the number of replica map entries behind the volume's
// last-in-map replica that is not a source (-1 when there is none), read
// from the order alone.
func keptDepth(order mayastor.ReplicaOrder, sources []ReplicaRef) int {
	at := -1
	for id, i := range order.Index {
		if !slices.ContainsFunc(sources, func(s ReplicaRef) bool { return s.ID == id }) {
			at = max(at, i)
		}
	}
	if at < 0 {
		return -1
	}
	return order.Len - 1 - at
}

// KeepTail keeps GuardDepth replica map entries behind the round's new
// replica while it rebuilds (keepGuard): a removal anywhere in the cluster
// (another volume deleted, hot spare trimming, another move's decrease or
// placeholder delete) takes one. Call it at every poll of the rebuild; it
// changes nothing in a quiet cluster.
func (m *Mover) KeepTail(ctx context.Context, plan Plan, j Journal) (Plan, error) {
	if plan.NewReplica == nil || len(plan.SourceReplicas) == 0 {
		return plan, nil
	}
	plan = *plan.DeepCopy()
	if err := m.opts.CordonGate.Lock(ctx); err != nil {
		return plan, err
	}
	defer m.opts.CordonGate.Unlock()
	m.opts.CordonGate.fresh.protect(plan.MigrationID, plan.NewReplica.ID)
	// The usual poll ends here, on one read of the replica specs: enough is still behind the
	// new replica. The volume is read only when it is not.
	order, err := m.c.GetReplicaOrder(ctx, plan.VolumeID)
	if err != nil {
		return plan, fmt.Errorf("keep placeholders behind volume %s's new replica: read the replica map order: %w", plan.VolumeID, err)
	}
	if d := keptDepth(order, plan.SourceReplicas); d >= m.guardTarget(plan) {
		return plan, nil
	}
	v, err := m.c.GetVolume(ctx, plan.VolumeID)
	if err != nil {
		return plan, fmt.Errorf("keep placeholders behind volume %s's new replica: %w", plan.VolumeID, err)
	}
	if _, ok := v.State.ReplicaTopology[plan.NewReplica.ID]; !ok {
		return plan, nil // SyncRound reports it
	}
	return m.guardRound(ctx, plan, v, order, j)
}

// extraReplica finds a replica not in the plan's base set.
func (m *Mover) extraReplica(v *mayastor.Volume, plan Plan) (ReplicaRef, bool) {
	for _, id := range replicaIDs(v) {
		if !slices.Contains(plan.BaseReplicaIDs, id) {
			return refOf(id, v.State.ReplicaTopology[id]), true
		}
	}
	return ReplicaRef{}, false
}

// takeBack lowers the count to plan.Replicas after an increase landed off the
// target tier. While the extra replica is unrebuilt it ranks first for
// removal; if the control plane removed another replica instead, n replicas
// still hold the data, and the plan is refreshed from the live layout.
func (m *Mover) takeBack(ctx context.Context, plan Plan, v *mayastor.Volume, extra ReplicaRef, j Journal) (Plan, error) {
	if err := record(ctx, j, plan); err != nil {
		return plan, err
	}
	if _, err := m.c.SetReplicaCount(ctx, plan.VolumeID, plan.Replicas); err != nil {
		return plan, fmt.Errorf("scale up volume %s: take back replica %s placed on pool %s off the target tier: %w",
			plan.VolumeID, extra.ID, extra.Pool, err)
	}
	after, err := m.c.GetVolume(ctx, plan.VolumeID)
	if err != nil {
		return plan, fmt.Errorf("scale up volume %s: verify take back: %w", plan.VolumeID, err)
	}
	if _, still := after.State.ReplicaTopology[extra.ID]; still {
		// Another replica went. Nothing is lost (n replicas remain, the
		// removed one was healthy only if all were), but the layout moved:
		// re-derive the sources from what is there now.
		t, err := m.tiersOf(plan)
		if err != nil {
			return plan, err
		}
		cl, err := m.loadCluster(ctx)
		if err != nil {
			return plan, fmt.Errorf("scale up volume %s: %w", plan.VolumeID, err)
		}
		return m.refreshLayout(ctx, plan, after, cl, t, j)
	}
	plan.BaseReplicaIDs = replicaIDs(after)
	return plan, record(ctx, j, plan)
}

// refreshLayout re-derives the base replica set and the sources still to move
// from the live volume, after the control plane changed the replica set by
// itself, and records the plan.
func (m *Mover) refreshLayout(ctx context.Context, plan Plan, v *mayastor.Volume, cl *cluster, t tiers, j Journal) (Plan, error) {
	var sources []ReplicaRef
	for _, id := range replicaIDs(v) {
		r := v.State.ReplicaTopology[id]
		if m.onSource(t, cl.pools[r.Pool]) {
			sources = append(sources, refOf(id, r))
		}
	}
	plan.SourceReplicas = sources
	plan.MovedReplicas = slices.DeleteFunc(plan.MovedReplicas, func(r ReplicaRef) bool {
		_, ok := v.State.ReplicaTopology[r.ID]
		return !ok
	})
	plan.BaseReplicaIDs = replicaIDs(v)
	return plan, record(ctx, j, plan)
}
