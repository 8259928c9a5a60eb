package mayastor

import (
	"context"
	"fmt"
	"slices"
)

// ---- ScaleDown ----

// ScaleDown removes a source replica once plan.NewReplica is healthy and
// fully rebuilt. If a source replica is local to the target and
// AllowRepublish is set, the target is first republished to the new
// replica's node. It then lowers the count to plan.Replicas and checks which
// replica the control plane removed: a source (progress), or another one (no
// data lost: plan.Replicas healthy replicas remain). The caller repeats
// ScaleUp → WaitSync → ScaleDown while !result.Complete; after
// MaxRemovalAttempts decreases that spared the source it refuses with
// ErrRemovalNotSteerable. Re-running it after a crash works out what an
// earlier run already did.
func (m *Mover) ScaleDown(ctx context.Context, plan Plan, j Journal) (Plan, ScaleDownResult, error) {
	plan = plan.DeepCopy()
	var res ScaleDownResult
	if plan.NewReplica == nil {
		if len(plan.SourceReplicas) == 0 {
			res.Complete = true
			plan, err := m.unpublishIfOurs(ctx, plan, j)
			return plan, res, err
		}
		return plan, res, refuse(plan.VolumeID, ReasonPlanInvalid, "no new replica to keep; run ScaleUp first")
	}
	n := plan.Replicas
	newID := plan.NewReplica.ID
	v, err := m.c.GetVolume(ctx, plan.VolumeID)
	if IsNotFound(err) {
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
		if v, res.Republished, err = m.republishIfNexusLocal(ctx, plan, v); err != nil {
			return plan, res, err
		}
		// Every replica, the new one included, must be healthy now: then
		// whichever one the decrease removes, n healthy replicas remain.
		if reason, detail := healthProblem(v, n+1); reason != "" {
			return plan, res, refuse(plan.VolumeID, ReasonNotSynced, "before scale down: %s", detail)
		}
		if err := record(ctx, j, plan); err != nil {
			return plan, res, err
		}
		if _, err := m.c.SetReplicaCount(ctx, plan.VolumeID, n); err != nil {
			return plan, res, fmt.Errorf("scale down volume %s: %w", plan.VolumeID, err)
		}
		if v, err = m.c.GetVolume(ctx, plan.VolumeID); err != nil {
			return plan, res, fmt.Errorf("scale down volume %s: verify removal: %w", plan.VolumeID, err)
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
	switch idx := slices.IndexFunc(plan.SourceReplicas, func(r ReplicaRef) bool { return r.ID == gone }); {
	case idx >= 0:
		res.Removed = plan.SourceReplicas[idx]
		res.SourceRemoved = true
		plan.RemovedSourceReplicas = append(plan.RemovedSourceReplicas, plan.SourceReplicas[idx])
		plan.SourceReplicas = slices.Delete(plan.SourceReplicas, idx, idx+1)
		plan.MovedReplicas = append(plan.MovedReplicas, newRef)
		plan.RemovalAttempts = 0
	case gone == newID:
		res.Removed = newRef
		plan.RemovalAttempts++
	default:
		res.Removed = ReplicaRef{ID: gone}
		plan.MovedReplicas = slices.DeleteFunc(plan.MovedReplicas, func(r ReplicaRef) bool { return r.ID == gone })
		plan.MovedReplicas = append(plan.MovedReplicas, newRef)
		plan.RemovalAttempts++
	}
	// A new round starts: its ScaleUp gets a fresh placement budget; rounds
	// are bounded by RemovalAttempts and the number of sources.
	plan.PlacementAttempts = 0
	plan.BaseReplicaIDs = replicaIDs(v)
	plan.NexusNode = nexusNode(v)
	res.Complete = len(plan.SourceReplicas) == 0
	if res.Complete {
		plan, err = m.unpublishIfOurs(ctx, plan, j)
	}
	if rerr := record(ctx, j, plan); err == nil {
		err = rerr
	}
	if err != nil {
		return plan, res, err
	}
	if !res.Complete && plan.RemovalAttempts >= m.opts.MaxRemovalAttempts {
		return plan, res, refuse(plan.VolumeID, ReasonRemovalNotSteerable,
			"%d replica-count decreases in a row removed a replica other than a source; %d healthy replicas remain, sources %v still in place",
			plan.RemovalAttempts, n, refIDs(plan.SourceReplicas))
	}
	return plan, res, nil
}

func refIDs(rs []ReplicaRef) []string {
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	return ids
}

// republishIfNexusLocal moves the target to the new replica's node when a
// remaining source replica is local to it (a decrease never removes the
// nexus-local replica).
func (m *Mover) republishIfNexusLocal(ctx context.Context, plan Plan, v *Volume) (*Volume, bool, error) {
	nn := nexusNode(v)
	if nn == "" {
		return v, false, nil
	}
	local := false
	for _, s := range plan.SourceReplicas {
		if r, ok := v.State.ReplicaTopology[s.ID]; ok && r.Node == nn {
			local = true
		}
	}
	if !local {
		return v, false, nil
	}
	if !m.opts.AllowRepublish {
		return v, false, refuse(plan.VolumeID, ReasonNexusLocalSource,
			"a source replica is local to the volume target on node %s; republishing is not allowed", nn)
	}
	body := PublishVolumeBody{
		PublishContext: map[string]string{},
		Node:           plan.NewReplica.Node,
		Protocol:       m.opts.PublishProtocol,
		Republish:      ptr(true),
		ReuseExisting:  ptr(false),
	}
	if tg := v.Spec.Target; tg != nil {
		if tg.Protocol != "" {
			body.Protocol = tg.Protocol
		}
		if len(tg.FrontendNodes) > 0 {
			body.FrontendNode = tg.FrontendNodes[0].Name
		}
	}
	if _, err := m.c.PublishVolume(ctx, plan.VolumeID, body); err != nil {
		return v, false, fmt.Errorf("scale down volume %s: %w", plan.VolumeID, err)
	}
	after, err := m.c.GetVolume(ctx, plan.VolumeID)
	if err != nil {
		return v, true, fmt.Errorf("scale down volume %s: verify republish: %w", plan.VolumeID, err)
	}
	if got := nexusNode(after); got != plan.NewReplica.Node {
		return after, true, refuse(plan.VolumeID, ReasonNexusLocalSource, "republished target is on node %q, want %s", got, plan.NewReplica.Node)
	}
	return after, true, nil
}

func (m *Mover) unpublishIfOurs(ctx context.Context, plan Plan, j Journal) (Plan, error) {
	if !plan.PublishedByMover {
		return plan, nil
	}
	if _, err := m.c.UnpublishVolume(ctx, plan.VolumeID, false); err != nil &&
		!IsNotFound(err) && !IsKind(err, ErrorKindNotPublished) {
		return plan, fmt.Errorf("unpublish volume %s published for the move: %w", plan.VolumeID, err)
	}
	plan.PublishedByMover = false
	return plan, record(ctx, j, plan)
}

func ptr[T any](v T) *T { return &v }
