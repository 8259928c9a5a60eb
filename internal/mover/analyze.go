package mover

import (
	"context"
	"fmt"

	"github.com/billyronks/couchestor/internal/mayastor"
	"k8s.io/apimachinery/pkg/labels"
)

// ---- Analyze ----

// Analyze checks that the volume can be moved to pools matching targetPools
// and returns the plan of the move. sourcePools selects the replicas to move
// (nil or empty: every replica outside the target tier). It changes nothing.
//
// Refusals (*RefusalError): volume missing, not Online, a child not Online or
// rebuilding; unpublished; nothing to do (already
// on the target tier); no source replica; no eligible target pool, every
// target pool on a node already holding a replica, target pools lacking the
// volume's inclusion labels, no room; a nexus-local source replica without
// AllowRepublish.
func (m *Mover) Analyze(ctx context.Context, migrationID, volumeID string, targetPools, sourcePools labels.Selector) (Plan, error) {
	if migrationID == "" {
		return Plan{}, refuse(volumeID, ReasonPlanInvalid, "migration id is required (cordon labels derive from it)")
	}
	if targetPools == nil || targetPools.Empty() {
		return Plan{}, refuse(volumeID, ReasonPlanInvalid, "target pool selector must not be empty")
	}
	plan := Plan{
		MigrationID:    migrationID,
		VolumeID:       volumeID,
		TargetSelector: targetPools.String(),
		CordonLabel:    CordonLabelFor(migrationID),
	}
	if sourcePools != nil && !sourcePools.Empty() {
		plan.SourceSelector = sourcePools.String()
	}
	t, err := m.tiersOf(plan)
	if err != nil {
		return Plan{}, err
	}
	v, err := m.c.GetVolume(ctx, volumeID)
	if mayastor.IsNotFound(err) {
		return Plan{}, refuse(volumeID, ReasonVolumeNotFound, "%v", err)
	}
	if err != nil {
		return Plan{}, fmt.Errorf("analyze volume %s: %w", volumeID, err)
	}
	if reason, detail := healthProblem(v, int(v.Spec.NumReplicas)); reason != "" {
		return Plan{}, refuse(volumeID, reason, "%s", detail)
	}
	if v.State.Target == nil {
		return Plan{}, refuse(volumeID, ReasonUnpublished,
			"volume has no target, so a new replica could not be rebuilt; unpublished volumes are skipped")
	}
	cl, err := m.loadCluster(ctx)
	if err != nil {
		return Plan{}, fmt.Errorf("analyze volume %s: %w", volumeID, err)
	}
	var sources []ReplicaRef
	onTarget := 0
	for _, id := range replicaIDs(v) {
		r := v.State.ReplicaTopology[id]
		p := cl.pools[r.Pool]
		switch {
		case m.onTarget(t, p):
			onTarget++
		case m.onSource(t, p):
			sources = append(sources, refOf(id, r))
		}
	}
	if len(sources) == 0 {
		if onTarget == len(v.State.ReplicaTopology) {
			return Plan{}, refuse(volumeID, ReasonAlreadyOnTarget, "all %d replicas are on pools matching %q", onTarget, plan.TargetSelector)
		}
		return Plan{}, refuse(volumeID, ReasonNoSourceReplica, "no replica is on a pool matching %q", plan.SourceSelector)
	}
	if v.Spec.NumSnapshots > 0 {
		return Plan{}, refuse(volumeID, ReasonVolumeHasSnapshots,
			"the volume has %d snapshot(s); a rebuilt replica does not carry replica snapshots, so restores and clones would keep depending on the source pools (and the control plane refuses an increase on nodes without the rebuild-ancestry fix): not moved until that is verified",
			v.Spec.NumSnapshots)
	}
	if v.Spec.AffinityGroup != nil && v.Spec.NumReplicas < 2 {
		return Plan{}, refuse(volumeID, ReasonAffinityGroupMinimum,
			"the volume is in affinity group %q with %d replica: the control plane never lowers an affinity-group volume below 2 replicas (RestrictedReplicaCount), so the replica added by a move could never be taken back",
			v.Spec.AffinityGroup.ID, v.Spec.NumReplicas)
	}
	targets, err := m.chooseTargetPools(v, cl, t)
	if err != nil {
		return Plan{}, err
	}
	// The placement model (placement.go) with cordons and placeholders on competing
	// pools: when nothing makes a target pool the scheduler's sure pick, refuse now
	// rather than add replicas that land elsewhere.
	in, err := m.placementInput(ctx, v, cl, m.c.SharedReplicaCounts)
	if err != nil {
		return Plan{}, fmt.Errorf("analyze volume %s: %w", volumeID, err)
	}
	if _, _, predicted := cordonPlan(in, targets, 0); !predicted {
		return Plan{}, refuse(volumeID, ReasonPlacementFailed,
			"no target pool can be made the control plane's pick for a new replica: every target pool shares its node with a pool the scheduler prefers by more than %d placeholder replicas can overturn (free space weighs 60 against the replica count's 40 for thick volumes), and a cordon acts on the whole node (target pools %v)",
			maxPlacementPlaceholders, poolIDs(targets))
	}
	order, err := m.c.SharedReplicaOrder(ctx, volumeID)
	if err != nil {
		return Plan{}, fmt.Errorf("analyze volume %s: read the replica map order: %w", volumeID, err)
	}
	forecast, err := m.forecast(v, order, sources, "", nil)
	if err != nil {
		return Plan{}, err
	}
	plan.Forecast = forecast.String()
	plan.Replicas = int(v.Spec.NumReplicas)
	plan.VolumeSize = int64(v.Spec.Size)
	plan.BaseReplicaIDs = replicaIDs(v)
	plan.SourceReplicas = sources
	plan.NexusNode = nexusNode(v)
	for _, p := range targets {
		plan.TargetPools = append(plan.TargetPools, p.ID)
	}
	return plan, nil
}

func poolIDs(ps []*mayastor.Pool) []string {
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	return ids
}
