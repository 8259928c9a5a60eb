package mover

import (
	"context"
	"errors"
	"fmt"
	"github.com/billyronks/couchestor/internal/mayastor"
	"slices"
)

// ---- ScaleDown ----

// ScaleDown removes a source replica once plan.NewReplica is healthy and
// fully rebuilt, choosing the decrease so that the control plane removes a
// source. It reads the core agent's replica map order (GET /v0/specs),
// forecasts the rest of the move (forecast.go), republishes the target when
// the forecast needs it (AllowRepublish), predicts which replica the
// decrease removes (ranking.go) and lowers the count to plan.Replicas only
// when that replica is a source. If the forecast finds no way on (the order
// was changed by another actor) it refuses with ErrRemovalNotSteerable
// before the decrease. After the decrease it checks which replica the
// control plane removed: a replica other than the predicted one is a wasted
// rebuild (no data lost: plan.Replicas healthy replicas remain), counted in
// plan.RemovalAttempts and allowed MaxRemovalAttempts times per migration.
// The caller repeats ScaleUp → WaitSync → ScaleDown while !result.Complete.
// Re-running it after a crash works out what an earlier run already did.
func (m *Mover) ScaleDown(ctx context.Context, plan Plan, j Journal) (Plan, ScaleDownResult, error) {
	plan = *plan.DeepCopy()
	var res ScaleDownResult
	if plan.NewReplica == nil {
		if len(plan.SourceReplicas) == 0 {
			res.Complete = true
			return plan, res, nil
		}
		return plan, res, refuse(plan.VolumeID, ReasonPlanInvalid, "no new replica to keep; run ScaleUp first")
	}
	n := plan.Replicas
	newID := plan.NewReplica.ID
	v, err := m.c.GetVolume(ctx, plan.VolumeID)
	if mayastor.IsNotFound(err) {
		return plan, res, refuse(plan.VolumeID, ReasonVolumeNotFound, "%v", err)
	}
	if err != nil {
		return plan, res, fmt.Errorf("scale down volume %s: %w", plan.VolumeID, err)
	}
	// Another actor's count change ends the move (sync.go, scaleDownCountCheck).
	if err := scaleDownCountCheck(v, plan); err != nil {
		return plan, res, err
	}
	before := append(slices.Clone(plan.BaseReplicaIDs), newID)
	if int(v.Spec.NumReplicas) > n {
		if _, ok := v.State.ReplicaTopology[newID]; !ok {
			return plan, res, refuse(plan.VolumeID, ReasonNewReplicaLost, "new replica %s is no longer part of the volume", newID)
		}
		st := syncFromVolume(v, newID)
		if st.Failed != "" {
			return plan, res, refuse(plan.VolumeID, ReasonNewReplicaLost, "%s", st.Failed)
		}
		if !st.Done {
			return plan, res, refuse(plan.VolumeID, ReasonNotSynced, "%s", st.Waiting)
		}
		if v, err = m.republishIfForecast(ctx, &plan, &res, v); err != nil {
			return plan, res, err
		}
		// One process-wide gate around read order -> placeholder -> decrease -> verify: no
		// other move's decrease or increase changes the replica map in between.
		if err := m.opts.CordonGate.Lock(ctx); err != nil {
			return plan, res, fmt.Errorf("scale down volume %s: wait for the gate: %w", plan.VolumeID, err)
		}
		v, err = m.decreaseSteered(ctx, &plan, v, n, j)
		m.opts.CordonGate.Unlock()
		if err != nil {
			return plan, res, err
		}
	}
	// The count is back at n: find out which replica went.
	var removed []string
	for _, id := range before {
		if _, ok := v.State.ReplicaTopology[id]; !ok {
			removed = append(removed, id)
		}
	}
	if len(removed) == 0 {
		return plan, res, fmt.Errorf("scale down volume %s: replica count is %d but no replica was removed yet", plan.VolumeID, v.Spec.NumReplicas)
	}
	if len(removed) > 1 {
		return plan, res, refuse(plan.VolumeID, ReasonVolumeNotHealthy, "replicas %v disappeared during scale down", removed)
	}
	gone := removed[0]
	newRef := *plan.NewReplica
	plan.NewReplica = nil
	res.Unpredicted = plan.ExpectedRemoval != "" && gone != plan.ExpectedRemoval
	plan.ExpectedRemoval = ""
	switch idx := slices.IndexFunc(plan.SourceReplicas, func(r ReplicaRef) bool { return r.ID == gone }); {
	case idx >= 0:
		res.Removed = plan.SourceReplicas[idx]
		res.SourceRemoved = true
		plan.RemovedSourceReplicas = append(plan.RemovedSourceReplicas, plan.SourceReplicas[idx])
		plan.SourceReplicas = slices.Delete(plan.SourceReplicas, idx, idx+1)
		plan.MovedReplicas = append(plan.MovedReplicas, newRef)
	case gone == newID:
		res.Removed = newRef
		plan.RemovalAttempts++
	default:
		res.Removed = ReplicaRef{ID: gone}
		plan.MovedReplicas = slices.DeleteFunc(plan.MovedReplicas, func(r ReplicaRef) bool { return r.ID == gone })
		plan.MovedReplicas = append(plan.MovedReplicas, newRef)
		plan.RemovalAttempts++
	}
	// A new round starts: its ScaleUp gets a fresh placement budget.
	plan.PlacementAttempts = 0
	plan.BaseReplicaIDs = replicaIDs(v)
	plan.NexusNode = nexusNode(v)
	res.Complete = len(plan.SourceReplicas) == 0
	if res.Complete {
		plan.Forecast = ""
	}
	if err := record(ctx, j, plan); err != nil {
		return plan, res, err
	}
	if !res.Complete && !res.SourceRemoved && plan.RemovalAttempts >= m.opts.MaxRemovalAttempts {
		return plan, res, refuse(plan.VolumeID, ReasonRemovalNotSteerable,
			"the control plane removed replica %s, not a source, %d time(s) (a wasted rebuild each): the replica map order changed between the read and the decrease (another actor); %d healthy replicas remain, sources %v still in place",
			gone, plan.RemovalAttempts, n, refIDs(plan.SourceReplicas))
	}
	return plan, res, nil
}

// republishIfForecast reads the replica map order, forecasts the rest of
// the move and, when the forecast's round starts with a republish, moves the
// target there first.
func (m *Mover) republishIfForecast(ctx context.Context, plan *Plan, res *ScaleDownResult, v *mayastor.Volume) (*mayastor.Volume, error) {
	order, err := m.c.GetReplicaOrder(ctx, plan.VolumeID)
	if err != nil {
		return v, fmt.Errorf("scale down volume %s: read the replica map order: %w", plan.VolumeID, err)
	}
	f, err := m.forecast(v, order, plan.SourceReplicas, plan.NewReplica.ID, plan.Placeholders)
	if err != nil {
		return v, notSteerable(err, v, order)
	}
	plan.Forecast = f.String()
	to := f.Steps[0].RepublishTo
	if to == "" {
		return v, nil
	}
	r, ok := v.State.ReplicaTopology[to]
	if !ok {
		return v, fmt.Errorf("scale down volume %s: forecast republishes onto replica %s, which is not in the volume", plan.VolumeID, to)
	}
	if v, err = m.republishTo(ctx, *plan, v, r.Node); err != nil {
		return v, err
	}
	res.Republished = true
	res.RepublishedTo = r.Node
	return v, nil
}

// decreaseSteered lowers the count to n so that the control plane removes a
// source, with the gate held. It reads the replica map order (GET /v0/specs),
// simulates the swap_remove on the whole map through the forecast, creates a
// placeholder first when the forecast's round needs one or when the map's
// last entry is another move's fresh replica (the removal would pull it
// forward), predicts the removed replica from the ranking (ranking.go), and
// decreases only when that replica is a source. It returns the volume as read
// after the decrease.
func (m *Mover) decreaseSteered(ctx context.Context, plan *Plan, v *mayastor.Volume, n int, j Journal) (*mayastor.Volume, error) {
	for pass := 0; ; pass++ {
		order, others, err := m.readMap(ctx, *plan)
		if err != nil {
			return v, fmt.Errorf("scale down volume %s: read the replica map order: %w", plan.VolumeID, err)
		}
		f, err := m.forecast(v, order, plan.SourceReplicas, plan.NewReplica.ID, plan.Placeholders)
		if err != nil {
			return v, notSteerable(err, v, order)
		}
		plan.Forecast = f.String()
		step := f.Steps[0]
		if step.RepublishTo != "" {
			return v, refuse(plan.VolumeID, ReasonRemovalNotSteerable, "the forecast asks for a second republish in one round (%s)", f)
		}
		// The decrease takes one entry from behind every other move's fresh replica: one that
		// needs a guard keeps GuardDepth (freshReplicas).
		needPlaceholder := step.Placeholder || m.opts.CordonGate.fresh.protectedFromOthers(plan.MigrationID, order.Tail) ||
			m.guardsOthers(*plan, order) || others >= 0 && others <= m.opts.GuardDepth
		if needPlaceholder {
			if pass >= m.opts.GuardDepth+2 {
				return v, refuse(plan.VolumeID, ReasonRemovalNotSteerable,
					"%d placeholder replicas were created but the replica map's last entry is still %s (another actor keeps appending replicas); nothing was removed", pass, order.Tail)
			}
			p, err := m.addPlaceholder(ctx, *plan, j)
			*plan = p
			if err != nil {
				return v, err
			}
			continue
		}
		predicted := PredictRemoval(v, order, n)
		if predicted != step.Removes || !slices.ContainsFunc(plan.SourceReplicas, func(s ReplicaRef) bool { return s.ID == predicted }) {
			return v, refuse(plan.VolumeID, ReasonRemovalNotSteerable,
				"a decrease would remove replica %q, not source %s as forecast (removal ranking: %s); nothing was removed",
				predicted, step.Removes, describeRanking(v, order))
		}
		// Every replica, the new one included, must be healthy now: then
		// whichever one the decrease removes, n healthy replicas remain.
		if reason, detail := healthProblem(v, n+1); reason != "" {
			return v, refuse(plan.VolumeID, ReasonNotSynced, "before scale down: %s", detail)
		}
		plan.ExpectedRemoval = predicted
		if err := record(ctx, j, *plan); err != nil {
			return v, err
		}
		if _, err := m.c.SetReplicaCount(ctx, plan.VolumeID, n); err != nil {
			return v, fmt.Errorf("scale down volume %s: %w", plan.VolumeID, err)
		}
		if len(plan.SourceReplicas) == 1 {
			// The move's last source goes: its replicas need their places no more.
			m.opts.CordonGate.fresh.release(plan.MigrationID)
		}
		if v, err = m.c.GetVolume(ctx, plan.VolumeID); err != nil {
			return v, fmt.Errorf("scale down volume %s: verify removal: %w", plan.VolumeID, err)
		}
		*plan = m.guardMoved(ctx, *plan, v, predicted, j)
		return v, nil
	}
}

// guardMoved runs right after a decrease that removed source removed and left
// sources to move, with the gate held: it keeps GuardDepth map entries behind
// the move's last-in-map replica when a removal elsewhere pulling it to the
// front would break the rest of the move (keepGuard, GuardNeededFor); those
// placeholders stay until the migration ends. Best effort: the decrease is
// done, and a broken order is refused before the next decrease.
func (m *Mover) guardMoved(ctx context.Context, plan Plan, v *mayastor.Volume, removed string, j Journal) Plan {
	if _, ok := v.State.ReplicaTopology[removed]; ok {
		return plan
	}
	if _, ok := v.State.ReplicaTopology[plan.NewReplica.ID]; !ok {
		return plan
	}
	sources := slices.DeleteFunc(slices.Clone(plan.SourceReplicas), func(r ReplicaRef) bool { return r.ID == removed })
	if len(sources) == 0 {
		return plan
	}
	order, err := m.c.GetReplicaOrder(ctx, plan.VolumeID)
	if err != nil {
		return plan
	}
	plan, _, _ = m.keepGuard(ctx, plan, v, order, sources, "", j)
	return plan
}

// guardsOthers: the replica map's last entry is a placeholder right behind
// another move's fresh replica (that move's guard, KeepTail). A removal now
// would move the placeholder into the freed slot and leave the fresh replica
// the map's last entry, unguarded until that move's next poll; the caller
// appends its own placeholder first, which the removal moves instead.
func (m *Mover) guardsOthers(plan Plan, order mayastor.ReplicaOrder) bool {
	if _, ok := order.Unowned[order.Tail]; !ok || slices.ContainsFunc(plan.Placeholders, func(r ReplicaRef) bool { return r.ID == order.Tail }) {
		return false
	}
	return m.opts.CordonGate.fresh.protectedFromOthers(plan.MigrationID, order.BeforeTail)
}

// notSteerable turns a forecast refusal met during a move into
// ReasonRemovalNotSteerable with the live removal ranking.
func notSteerable(err error, v *mayastor.Volume, order mayastor.ReplicaOrder) error {
	var re *RefusalError
	if errors.As(err, &re) {
		re.Reason = ReasonRemovalNotSteerable
		re.Detail += fmt.Sprintf(" (removal ranking now: %s)", describeRanking(v, order))
	}
	return err
}

func refIDs(rs []ReplicaRef) []string {
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	return ids
}
