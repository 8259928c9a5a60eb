package mover

import (
	"context"
	"fmt"
	"github.com/billyronks/couchestor/internal/mayastor"
	"slices"
	"strings"
)

// ---- SyncRound ----

// SyncRound reports whether the new replica of plan's current round is a
// healthy, fully rebuilt child: volume Online, its replica_topology entry
// Online with child-status Online and no rebuild-progress, every target child
// Online with no rebuildProgress, and, where the rebuild history is
// available, its latest record for the child Completed. Done only when
// num_replicas is exactly plan.Replicas+1 (the count ScaleUp set) and the
// volume shows that many healthy replicas. Any other num_replicas is another
// actor's change, answered with a *RefusalError ReasonReplicaCountChanged
// naming the count seen and the one expected; the move must stop, not wait
// (ScaleDown would refuse the same volume as not in sync, and the two phases
// would bounce for ever).
func (m *Mover) SyncRound(ctx context.Context, plan Plan) (SyncState, error) {
	if plan.NewReplica == nil {
		return SyncState{}, refuse(plan.VolumeID, ReasonPlanInvalid, "no new replica to wait for; run ScaleUp first")
	}
	volumeID, newReplicaID, want := plan.VolumeID, plan.NewReplica.ID, plan.Replicas+1
	v, err := m.c.GetVolume(ctx, volumeID)
	if mayastor.IsNotFound(err) {
		return SyncState{Failed: "volume no longer exists"}, nil
	}
	if err != nil {
		return SyncState{}, fmt.Errorf("sync status of replica %s of volume %s: %w", newReplicaID, volumeID, err)
	}
	if err := countChanged(v, want, want); err != nil {
		return SyncState{}, err
	}
	st := syncAgainst(v, newReplicaID, want)
	if !st.Done || st.Failed != "" {
		return st, nil
	}
	h, err := m.c.GetRebuildHistory(ctx, volumeID)
	if err != nil {
		// The history is a confirmation where available; the live state
		// above is authoritative.
		return st, nil
	}
	var last *mayastor.RebuildRecord
	for i := range h.Records {
		r := &h.Records[i]
		if strings.Contains(r.ChildURI, newReplicaID) && (last == nil || !r.StartTime.Before(last.StartTime)) {
			last = r
		}
	}
	if last != nil && last.RebuildJobState != mayastor.RebuildJobStateCompleted {
		st.Done = false
		st.Progress = min(st.Progress, 99)
		st.Waiting = fmt.Sprintf("rebuild history shows %s for the new child", last.RebuildJobState)
	}
	return st, nil
}

// countChanged refuses with ReasonReplicaCountChanged when v's num_replicas is
// outside [lo, hi]: a count this move did not set. During WaitingSync only
// n+1 is the move's; in ScaleDown n+1 (before the decrease) and n (after it,
// or when its answer was lost) are.
func countChanged(v *mayastor.Volume, lo, hi int) error {
	got := int(v.Spec.NumReplicas)
	if got >= lo && got <= hi {
		return nil
	}
	want := fmt.Sprint(hi)
	if lo != hi {
		want = fmt.Sprintf("%d or %d", lo, hi)
	}
	return refuse(v.Spec.UUID, ReasonReplicaCountChanged,
		"num_replicas is %d, this move expects %s: another actor changed the replica count during the move (%d replicas present)",
		got, want, len(v.State.ReplicaTopology))
}

// scaleDownCountCheck is ScaleDown's guard against an outside count change:
// before and after its own decrease num_replicas is plan.Replicas+1 or
// plan.Replicas; anything else is someone else's.
func scaleDownCountCheck(v *mayastor.Volume, plan Plan) error {
	return countChanged(v, plan.Replicas, plan.Replicas+1)
}

// syncFromVolume judges the new replica against the volume's own num_replicas.
func syncFromVolume(v *mayastor.Volume, id string) SyncState {
	return syncAgainst(v, id, int(v.Spec.NumReplicas))
}

// syncAgainst judges whether replica id is a healthy, fully rebuilt child of
// v, and v a settled volume of want replicas.
func syncAgainst(v *mayastor.Volume, id string, want int) SyncState {
	r, ok := v.State.ReplicaTopology[id]
	if !ok {
		return SyncState{Failed: fmt.Sprintf("replica %s is no longer part of the volume", id)}
	}
	if r.State == mayastor.ReplicaStateFaulted || r.ChildStatus == mayastor.ChildStateFaulted {
		return SyncState{Failed: fmt.Sprintf("replica %s is faulted (state %s, child status %s)", id, r.State, r.ChildStatus)}
	}
	if v.State.Target == nil {
		// A volume whose spec still names a target is published: its nexus is not
		// reachable right now (its node is down, or an HA switchover is recreating it
		// elsewhere). That is an outage to wait out within the deadline, not an
		// unpublished volume (that upstream keeps spec.target while the nexus is
		// being replaced was not read upstream).
		if tg := v.Spec.Target; tg != nil {
			p := 0
			if r.RebuildProgress != nil {
				p = *r.RebuildProgress
			}
			return SyncState{Progress: p, Waiting: fmt.Sprintf(
				"target unavailable: the volume's target on node %s is not serving (node down or HA failover in progress); status %s",
				tg.Node, v.State.Status)}
		}
		return SyncState{Failed: "volume is unpublished: nothing rebuilds the new replica"}
	}
	st := SyncState{}
	switch {
	case r.RebuildProgress != nil:
		st.Progress = *r.RebuildProgress
		st.Waiting = fmt.Sprintf("rebuilding, %d%%", *r.RebuildProgress)
		return st
	case r.ChildStatus != mayastor.ChildStateOnline:
		st.Waiting = fmt.Sprintf("child status %q", r.ChildStatus)
		return st
	case r.State != mayastor.ReplicaStateOnline:
		st.Waiting = fmt.Sprintf("replica state %s", r.State)
		return st
	}
	// The new replica is rebuilt; the volume as a whole must also be what ScaleDown will
	// demand (healthProblem), or the two would disagree and bounce a migration between them.
	if reason, detail := healthProblem(v, want); reason != "" {
		st.Progress = 99
		st.Waiting = detail
		return st
	}
	st.Progress = 100
	st.Done = true
	return st
}

// ---- Inspect ----

// VolumeReport is the volume as read at the end of a migration, for a final
// message that tells the truth and for the replicas a migration leaves behind.
type VolumeReport struct {
	// Exists is false when the volume is gone.
	Exists bool `json:"exists"`
	// NumReplicas is spec.num_replicas.
	NumReplicas int `json:"numReplicas"`
	// Replicas are the replicas present, sorted by id.
	Replicas []ReplicaRef `json:"replicas,omitempty"`
	// Healthy are the ids of replicas holding a full copy: Online, no rebuild
	// running and, while published, an Online child.
	Healthy []string `json:"healthy,omitempty"`
	// Published: the volume has a serving target.
	Published bool `json:"published"`
	// Status is the volume's state.status.
	Status mayastor.VolumeStatus `json:"status,omitempty"`
}

// Has reports whether replica id is present.
func (r VolumeReport) Has(id string) bool {
	return slices.ContainsFunc(r.Replicas, func(x ReplicaRef) bool { return x.ID == id })
}

// IsHealthy reports whether replica id is present and healthy.
func (r VolumeReport) IsHealthy(id string) bool { return slices.Contains(r.Healthy, id) }

// Inspect reads the plan's volume (no write).
func (m *Mover) Inspect(ctx context.Context, plan Plan) (VolumeReport, error) {
	v, err := m.c.GetVolume(ctx, plan.VolumeID)
	if mayastor.IsNotFound(err) {
		return VolumeReport{}, nil
	}
	if err != nil {
		return VolumeReport{}, fmt.Errorf("inspect volume %s: %w", plan.VolumeID, err)
	}
	return reportOf(v), nil
}

func reportOf(v *mayastor.Volume) VolumeReport {
	rep := VolumeReport{Exists: true, NumReplicas: int(v.Spec.NumReplicas), Published: v.State.Target != nil, Status: v.State.Status}
	for _, id := range replicaIDs(v) {
		r := v.State.ReplicaTopology[id]
		rep.Replicas = append(rep.Replicas, refOf(id, r))
		if replicaHealthy(v, r) {
			rep.Healthy = append(rep.Healthy, id)
		}
	}
	return rep
}
