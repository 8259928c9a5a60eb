package mover

import (
	"cmp"
	"github.com/billyronks/couchestor/internal/mayastor"
	"slices"
)

// This file models, without I/O, which replica the core agent removes when a
// volume's replica count is lowered. Upstream ranks
// the volume's replicas (control-plane/agents/src/bin/core/
// controller/scheduling/volume.rs:392-439 and scheduling/mod.rs:157-236) and
// removes the first of the sorted list:
//
//  1. replicas the persisted NexusInfo does not call healthy (or does not
//     know) first;
//  2. then nexus children before replicas that are not children;
//  3. then by child state: Faulted, Unknown, Degraded, Online;
//  4. then a shared (remote) replica before an unshared (local) one — only
//     the replica local to the nexus is unshared, so it is removed last;
//  5. remaining ties keep the input order, the order of the core agent's
//     global replica map (the sort is stable, mod.rs:79-82; the input is
//     specs().volume_replicas(), volume/specs.rs:565-574), which GET
//     /v0/specs returns (registry/service.rs:52-61, pool/specs.rs:266-271).
//
// A healthy replica is removed only while more healthy, online replicas
// remain than the new count (volume.rs:394-411); otherwise the count changes
// and nothing is removed.
//
// NexusInfo is not on the REST API; a replica counts as healthy here when it
// is Online and, on a published volume, an Online nexus child with no rebuild
// running. That is what io-engine persists for a settled child.

// removalKey is a replica's place in the removal ranking; smaller goes first.
type removalKey struct {
	healthy  int // 0 unhealthy, 1 healthy
	nonChild int // 0 nexus child (or unpublished volume), 1 not a child
	child    int // Faulted 0, Unknown 1, Degraded 2, Online 3
	local    int // 0 shared, 1 unshared (local to the nexus)
	index    int // position in the replica map
}

func compareRemovalKeys(a, b removalKey) int {
	return cmp.Or(
		cmp.Compare(a.healthy, b.healthy),
		cmp.Compare(a.nonChild, b.nonChild),
		cmp.Compare(a.child, b.child),
		cmp.Compare(a.local, b.local),
		cmp.Compare(a.index, b.index),
	)
}

func childStateRank(s mayastor.ChildState) int {
	switch s {
	case mayastor.ChildStateFaulted:
		return 0
	case mayastor.ChildStateDegraded:
		return 2
	case mayastor.ChildStateOnline:
		return 3
	}
	return 1
}

// replicaHealthy is the REST stand-in for "NexusInfo says healthy".
func replicaHealthy(v *mayastor.Volume, r mayastor.ReplicaTopology) bool {
	if r.State != mayastor.ReplicaStateOnline || r.RebuildProgress != nil {
		return false
	}
	return v.State.Target == nil || r.ChildStatus == mayastor.ChildStateOnline
}

// replicaLocal reports whether the replica is unshared (local to the nexus).
func replicaLocal(v *mayastor.Volume, id string, r mayastor.ReplicaTopology, o mayastor.ReplicaOrder) bool {
	if shared, ok := o.Shared[id]; ok && v.State.Target != nil {
		return !shared
	}
	nn := nexusNode(v)
	return nn != "" && r.Node == nn
}

func removalKeyOf(v *mayastor.Volume, id string, o mayastor.ReplicaOrder) removalKey {
	r := v.State.ReplicaTopology[id]
	k := removalKey{child: 3, index: o.Len + 1}
	if i, ok := o.Index[id]; ok {
		k.index = i
	}
	if replicaHealthy(v, r) {
		k.healthy = 1
	}
	if v.State.Target != nil {
		if r.ChildStatus == "" {
			k.nonChild = 1
		} else {
			k.child = childStateRank(r.ChildStatus)
		}
	}
	if replicaLocal(v, id, r, o) {
		k.local = 1
	}
	return k
}

// RemovalRanking returns v's replicas in the order the core agent ranks them
// for removal, the first to go first.
func RemovalRanking(v *mayastor.Volume, o mayastor.ReplicaOrder) []string {
	ids := replicaIDs(v)
	keys := make(map[string]removalKey, len(ids))
	for _, id := range ids {
		keys[id] = removalKeyOf(v, id, o)
	}
	slices.SortStableFunc(ids, func(a, b string) int { return compareRemovalKeys(keys[a], keys[b]) })
	return ids
}

// PredictRemoval returns the replica a decrease of v's count to newCount
// removes, or "" when the control plane would remove none (only the count
// changes, because no replica may go without leaving fewer healthy ones than
// newCount).
func PredictRemoval(v *mayastor.Volume, o mayastor.ReplicaOrder, newCount int) string {
	ranked := RemovalRanking(v, o)
	if len(ranked) == 0 {
		return ""
	}
	first := ranked[0]
	if !replicaHealthy(v, v.State.ReplicaTopology[first]) {
		return first
	}
	healthyOnline := 0
	for _, id := range ranked {
		if r := v.State.ReplicaTopology[id]; replicaHealthy(v, r) {
			healthyOnline++
		}
	}
	if healthyOnline > newCount {
		return first
	}
	return ""
}

// removalCandidates are the replicas a decrease may remove when the map
// order is not known: the best-ranked replicas by health, child state and
// locality, all ties included.
func removalCandidates(v *mayastor.Volume) []string {
	o := mayastor.ReplicaOrder{}
	var out []string
	var best *removalKey
	for _, id := range replicaIDs(v) {
		k := removalKeyOf(v, id, o)
		k.index = 0
		switch {
		case best == nil || compareRemovalKeys(k, *best) < 0:
			best, out = &k, []string{id}
		case compareRemovalKeys(k, *best) == 0:
			out = append(out, id)
		}
	}
	return out
}
