package sim

import (
	"sort"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// The core agent's self-heal reconcilers.

// reconcile is one pass of the core agent's volume reconcilers over the
// volumes that need attention. It reports whether anything changed.
func (s *Sim) reconcile() bool {
	changed := false
	vols := make([]*simVolume, 0, len(s.dirty))
	for v := range s.dirty {
		vols = append(vols, v)
	}
	sort.Slice(vols, func(i, j int) bool { return vols[i].uuid < vols[j].uuid })
	for _, v := range vols {
		c, done := s.reconcileVolume(v)
		changed = changed || c
		if done {
			delete(s.dirty, v)
		}
	}
	return changed
}

// reconcileVolume is one pass of the hot spare reconciler over v
// (core/controller/reconciler/volume/hot_spare.rs:43-99, read upstream):
//
//   - only for self_heal volumes (hot_spare.rs:53-55). The nexus
//     reconciler skips volume-owned nexuses (nexus/mod.rs:79-86, read
//     upstream), so a volume without self_heal is never healed: faulted
//     children stay, excess replicas stay, nothing is added;
//   - an Online volume (or an unpublished one) only gets its replica count
//     fixed (volume_replica_count_reconciler, 247-341): missing replicas
//     created, unused replicas in excess removed by the ranking;
//   - a Degraded or Unknown published volume also gets its faulted children
//     handled (handle_faulted_children, nexus/mod.rs:146-225), then the count
//     fix, then the nexus child count fixed (nexus_replica_count_reconciler,
//     149-231): replicas attached, or excess children removed BY THE RANKING
//     (remove_excess_replicas_from_nexus, core/volume/operations_helper.rs:416-470),
//     the replica of a removed child going at a later pass as unused;
//   - a Faulted volume is left alone;
//   - a volume whose operation guard another operation holds (a late
//     operation, late.go) is skipped and looked at again at the next tick
//     (hot_spare_reconcile takes volume_spec.operation_guard() and returns
//     Busy on failure; read upstream at a later commit than c02e0cb).
func (s *Sim) reconcileVolume(v *simVolume) (changed, done bool) {
	if !v.selfHeal {
		return false, true
	}
	if s.guard(volumeKey(v.uuid)) != nil {
		return false, false
	}
	if v.target != nil && v.servingNexus() == nil {
		// The target's node is down: nothing to heal through.
		return false, true
	}
	switch v.status() {
	case mayastor.VolumeStatusFaulted:
		// No healthy child left to serve or rebuild from: nothing to heal with.
		return false, v.target == nil
	case mayastor.VolumeStatusOnline:
		changed = s.fixReplicaCount(v)
	default:
		nx := v.target
		if nx == nil {
			changed = s.fixReplicaCount(v)
			break
		}
		c1, waiting := s.handleFaultedChildren(v)
		c2 := s.fixReplicaCount(v)
		c3 := s.fixNexusChildCount(v)
		changed = c1 || c2 || c3
		if waiting {
			return changed, false
		}
	}
	done = len(v.replicas) == v.numReplicas
	if nx := v.target; nx != nil {
		done = done && len(nx.children) == v.numReplicas
		for _, c := range nx.children {
			if childState(c) == mayastor.ChildStateFaulted {
				done = false
			}
		}
	}
	if !changed {
		// Nothing this reconciler can do now (no pool, no candidate the
		// ranking allows): wait for a change elsewhere to mark v again.
		done = true
	}
	return changed, done
}

// handleFaultedChildren is handle_faulted_children and handle_faulted_child
// (core/controller/reconciler/nexus/mod.rs:146-225, read upstream), run while
// the nexus is Degraded with more than one child: a faulted child without an
// I/O log is removed at once; one with an I/O log whose replica is online
// again is onlined and partially rebuilt; one whose replica stays away past
// faulted_child_wait_period (rebuild_policies.rs:20,46-59) is removed. A
// removed child's replica is then removed from the volume
// (remove_vol_child_by_uri, core/nexus/operations_helper.rs:76-94), and
// self-heal replaces it with a full rebuild. waiting reports a child still
// inside its wait.
//
// Partial rebuild model (ours; io-engine's I/O log is not modelled): the
// child copies size × min(1, away ÷ faulted_child_wait_period) bytes, i.e.
// the longer the replica was away, the more of the volume is rebuilt.
func (s *Sim) handleFaultedChildren(v *simVolume) (changed, waiting bool) {
	nx := v.target
	if nexusState(nx) != mayastor.NexusStateDegraded || len(nx.children) <= 1 {
		return false, false
	}
	for _, c := range append([]*simChild(nil), nx.children...) {
		if childState(c) != mayastor.ChildStateFaulted && c.state != mayastor.ChildStateFaulted {
			continue
		}
		away := s.cur.Sub(c.faultedAt)
		switch {
		case !c.ioLog:
			s.removeFaultedChild(v, c)
			changed = true
		case c.replica.state() == mayastor.ReplicaStateOnline:
			bytes := v.size
			if s.faultedChildWait > 0 && away < s.faultedChildWait {
				bytes = int64(float64(v.size) * float64(away) / float64(s.faultedChildWait))
			}
			s.startRebuild(v, c, bytes, true)
			changed = true
		case away >= s.faultedChildWait:
			s.removeFaultedChild(v, c)
			changed = true
		default:
			waiting = true
		}
	}
	return changed, waiting
}

// removeFaultedChild takes c out of the nexus and its replica out of the
// volume (remove_unused_volume_replica: refused for the last replica or the
// last healthy one, core/volume/specs.rs:1095-1141, read upstream). The
// replica is disowned before its node is called, so it leaves the volume even
// when the node is down.
func (s *Sim) removeFaultedChild(v *simVolume, c *simChild) {
	s.stopRebuild(v, c, mayastor.RebuildJobStateFailed)
	v.target.removeChild(c.replica)
	if s.canRemoveUnused(v, c.replica) {
		s.destroyReplica(c.replica)
	}
}

// canRemoveUnused applies remove_unused_volume_replica's checks
// (core/volume/specs.rs:1095-1141): never the volume's last replica, never
// the only replica NexusInfo holds healthy.
func (s *Sim) canRemoveUnused(v *simVolume, r *simReplica) bool {
	if len(v.replicas) <= 1 {
		return false
	}
	if v.nexusInfo != nil && v.nexusInfo[r.uuid] {
		for id, ok := range v.nexusInfo {
			if id != r.uuid && ok {
				return true
			}
		}
		return false
	}
	return true
}

// fixReplicaCount is volume_replica_count_reconciler
// (core/controller/reconciler/volume/hot_spare.rs:247-341, read upstream):
// fewer replica specs than num_replicas → create the missing ones; more →
// remove unused ones (remove_unused_volume_replicas,
// core/volume/operations_helper.rs:251-289), candidates in ranking order,
// a child refused as InUse.
func (s *Sim) fixReplicaCount(v *simVolume) bool {
	changed := false
	for len(v.replicas) < v.numReplicas {
		pools := s.poolCandidates(v)
		if len(pools) == 0 {
			break
		}
		s.createReplica(v, pools[0])
		changed = true
	}
	if excess := len(v.replicas) - v.numReplicas; excess > 0 {
		cands := s.rankForRemoval(v, nil)
		for excess > 0 {
			r := cands.next()
			if r == nil {
				break
			}
			if v.target != nil && v.target.child(r) != nil {
				continue // InUse
			}
			if !s.canRemoveUnused(v, r) {
				continue
			}
			s.destroyReplica(r)
			excess--
			changed = true
		}
	}
	return changed
}

// fixNexusChildCount is nexus_replica_count_reconciler
// (hot_spare.rs:149-231): fewer children than num_replicas → attach unused
// online replicas (attach_replicas_to_nexus,
// core/volume/operations_helper.rs:336-412); more → remove excess children
// by the ranking, restricted to the nexus's children
// (remove_excess_replicas_from_nexus, 416-470, with
// nexus_child_remove_candidates, core/volume/scheduling.rs:46-62).
func (s *Sim) fixNexusChildCount(v *simVolume) bool {
	nx := v.target
	changed := false
	if len(nx.children) < v.numReplicas {
		for _, r := range s.volumeReplicas(v) {
			if len(nx.children) >= v.numReplicas {
				break
			}
			// An attach needs rebuild_allowed (max_rebuilds, attach.go).
			if nx.child(r) == nil && r.state() == mayastor.ReplicaStateOnline && s.rebuildAllowed() == nil {
				s.attach(v, r)
				changed = true
			}
		}
	}
	if len(nx.children) > v.numReplicas {
		cands := s.rankForRemoval(v, func(r *simReplica) bool { return nx.child(r) != nil })
		for len(nx.children) > v.numReplicas {
			r := cands.next()
			if r == nil {
				break
			}
			c := nx.child(r)
			s.stopRebuild(v, c, mayastor.RebuildJobStateStopped)
			nx.removeChild(r)
			// io-engine persists the nexus's remaining children as its
			// NexusInfo, so the removed child has no entry any more and
			// counts as unhealthy: the unused-replica removal takes it next
			// (our model of io-engine's persistence; io-engine code not read).
			delete(v.nexusInfo, r.uuid)
			changed = true
		}
	}
	return changed
}
