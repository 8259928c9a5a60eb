package mayastor

import (
	"context"
	"fmt"
	"strings"
)

// ---- SyncStatus ----

// SyncStatus reports whether the new replica is a healthy, fully rebuilt
// child: volume Online, its replica_topology entry Online with child-status
// Online and no rebuild-progress, every target child Online with no
// rebuildProgress, and, where the rebuild history is available, its latest
// record for the child Completed.
func (m *Mover) SyncStatus(ctx context.Context, volumeID, newReplicaID string) (SyncState, error) {
	v, err := m.c.GetVolume(ctx, volumeID)
	if IsNotFound(err) {
		return SyncState{Failed: "volume no longer exists"}, nil
	}
	if err != nil {
		return SyncState{}, fmt.Errorf("sync status of replica %s of volume %s: %w", newReplicaID, volumeID, err)
	}
	st := syncFromVolume(v, newReplicaID)
	if !st.Done || st.Failed != "" {
		return st, nil
	}
	h, err := m.c.GetRebuildHistory(ctx, volumeID)
	if err != nil {
		// The history is a confirmation where available; the live state
		// above is authoritative.
		return st, nil
	}
	var last *RebuildRecord
	for i := range h.Records {
		r := &h.Records[i]
		if strings.Contains(r.ChildURI, newReplicaID) && (last == nil || !r.StartTime.Before(last.StartTime)) {
			last = r
		}
	}
	if last != nil && last.RebuildJobState != RebuildJobStateCompleted {
		st.Done = false
		st.Progress = min(st.Progress, 99)
		st.Waiting = fmt.Sprintf("rebuild history shows %s for the new child", last.RebuildJobState)
	}
	return st, nil
}

func syncFromVolume(v *Volume, id string) SyncState {
	r, ok := v.State.ReplicaTopology[id]
	if !ok {
		return SyncState{Failed: fmt.Sprintf("replica %s is no longer part of the volume", id)}
	}
	if r.State == ReplicaStateFaulted || r.ChildStatus == ChildStateFaulted {
		return SyncState{Failed: fmt.Sprintf("replica %s is faulted (state %s, child status %s)", id, r.State, r.ChildStatus)}
	}
	if v.State.Target == nil {
		return SyncState{Failed: "volume is unpublished: nothing rebuilds the new replica"}
	}
	st := SyncState{}
	switch {
	case r.RebuildProgress != nil:
		st.Progress = *r.RebuildProgress
		st.Waiting = fmt.Sprintf("rebuilding, %d%%", *r.RebuildProgress)
		return st
	case r.ChildStatus != ChildStateOnline:
		st.Waiting = fmt.Sprintf("child status %q", r.ChildStatus)
		return st
	case r.State != ReplicaStateOnline:
		st.Waiting = fmt.Sprintf("replica state %s", r.State)
		return st
	}
	// The new replica is rebuilt; the volume as a whole must also be what ScaleDown will
	// demand (healthProblem), or the two would disagree and bounce a migration between them.
	if reason, detail := healthProblem(v, int(v.Spec.NumReplicas)); reason != "" {
		st.Progress = 99
		st.Waiting = detail
		return st
	}
	st.Progress = 100
	st.Done = true
	return st
}
