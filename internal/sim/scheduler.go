package sim

import (
	"sort"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// Replica placement and removal, reproducing the core agent's scheduler
// (upstream control-plane/agents/src/bin/core/controller/scheduling). The weights and thresholds are upstream's defaults.
const (
	thinFreeSpaceWatermark = 16 << 20 // bytes a pool must keep free to take a thin replica
	poolCommitmentPercent  = 250      // thin: pool may be committed up to 250% of its capacity
	volumeCommitPercent    = 40       // thin: free space needed is allocated + 40% of the size
)

// poolCandidates returns the pools that may take a new replica of v, best first.
func (s *Sim) poolCandidates(v *simVolume) []*simPool {
	used := make(map[*simNode]bool, len(v.replicas))
	var allocated int64
	for _, r := range v.replicas {
		used[r.pool.node] = true
		if r.allocated > allocated {
			allocated = r.allocated
		}
	}
	var out []*simPool
	for _, id := range s.poolOrder {
		p := s.pools[id]
		if !s.poolEligible(v, p, used, allocated) {
			continue
		}
		out = append(out, p)
	}
	// Upstream sorts a list built from in-memory maps; shuffle first so that
	// exact ties do not follow scenario order.
	s.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	sort.SliceStable(out, func(i, j int) bool { return comparePools(v.thin, out[i], out[j]) < 0 })
	return out
}

// poolEligible applies the node and pool filters (node.rs, pool.rs, thick.rs, simple.rs).
func (s *Sim) poolEligible(v *simVolume, p *simPool, usedNodes map[*simNode]bool, allocated int64) bool {
	n := p.node
	if len(n.cordons) > 0 || !n.online || usedNodes[n] {
		return false // cordoned, offline, or already holding a replica of v
	}
	if st := p.effectiveStatus(); st == mayastor.PoolStatusFaulted || st == mayastor.PoolStatusUnknown {
		return false
	}
	if p.capacity <= v.size {
		return false
	}
	free := p.free()
	if v.thin {
		if free <= thinFreeSpaceWatermark {
			return false
		}
		need := allocated + volumeCommitPercent*v.size/100
		if need > v.size {
			need = v.size
		}
		if free <= need {
			return false
		}
		if (v.size+p.committed)*100 >= poolCommitmentPercent*p.capacity {
			return false
		}
	} else if free <= v.size {
		return false // a thick replica needs free space larger than the volume
	}
	return labelsInclude(p.labels, v.inclusion)
}

// labelsInclude says whether labels carry every inclusion key, and its value
// when the value is not empty.
func labelsInclude(labels, inclusion map[string]string) bool {
	for k, want := range inclusion {
		got, ok := labels[k]
		if !ok || (want != "" && got != want) {
			return false
		}
	}
	return true
}

// poolStatusRank orders pool statuses as upstream's PartialOrd does
// (Unknown/Faulted < Degraded < Online). Upstream sorts ascending on it, so a
// Degraded pool is tried before an Online one; only these two pass the filters.
func poolStatusRank(st mayastor.PoolStatus) int {
	switch st {
	case mayastor.PoolStatusOnline:
		return 2
	case mayastor.PoolStatusDegraded:
		return 1
	}
	return 0
}

// comparePools is upstream's pairwise weighted comparison: pool status first,
// then fewer replicas on the pool and more free space (and, for thin volumes,
// less over-commitment) by weight. Negative means a is preferred.
func comparePools(thin bool, a, b *simPool) int {
	ra, rb := poolStatusRank(a.effectiveStatus()), poolStatusRank(b.effectiveStatus())
	if ra != rb {
		return ra - rb
	}
	var sa, sb uint64
	weigh := func(weight uint64, higherIsBetter bool, va, vb uint64) {
		total := va + vb
		ga, gb := uint64(50), uint64(50)
		if total > 0 {
			if higherIsBetter {
				ga, gb = va*100/total, vb*100/total
			} else {
				ga, gb = (total-va)*100/total, (total-vb)*100/total
			}
		}
		sa += weight * ga
		sb += weight * gb
	}
	if thin {
		weigh(25, false, uint64(a.replicas), uint64(b.replicas))
		weigh(40, true, uint64(a.free()), uint64(b.free()))
		weigh(35, false, uint64(overCommitment(a)), uint64(overCommitment(b)))
	} else {
		weigh(40, false, uint64(a.replicas), uint64(b.replicas))
		weigh(60, true, uint64(a.free()), uint64(b.free()))
	}
	sa, sb = sa/100, sb/100
	switch {
	case sa > sb:
		return -1
	case sa < sb:
		return 1
	}
	return 0
}

func overCommitment(p *simPool) int64 {
	if p.committed > p.capacity {
		return p.committed - p.capacity
	}
	return 0
}

// removalCandidate picks the replica a decrease to v.numReplicas removes, or
// nil when no replica may go: the first candidate of the ranking
// (volume_replica_remove_candidate, core/volume/operations_helper.rs:208-246).
func (s *Sim) removalCandidate(v *simVolume) *simReplica {
	return s.rankForRemoval(v, nil).next()
}

// removalCandidates is upstream's ReplicaRemovalCandidates
// (core/controller/scheduling/volume.rs:384-439, read upstream): the ranked
// replicas split into unhealthy and healthy, each least preferred first.
type removalCandidates struct {
	want               int
	unhealthy, healthy []*simReplica
}

// next is ReplicaRemovalCandidates::next (volume.rs:394-420): any unhealthy
// replica first; a healthy one only while more healthy online replicas remain
// in the list than num_replicas. Each call consumes the candidate it returns,
// so the healthy guard is re-evaluated over a shrinking list, as upstream.
func (c *removalCandidates) next() *simReplica {
	if len(c.unhealthy) > 0 {
		r := c.unhealthy[0]
		c.unhealthy = c.unhealthy[1:]
		return r
	}
	online := 0
	for _, r := range c.healthy {
		if r.state() == mayastor.ReplicaStateOnline {
			online++
		}
	}
	if online > c.want && len(c.healthy) > 0 {
		r := c.healthy[0]
		c.healthy = c.healthy[1:]
		return r
	}
	return nil
}

// rankForRemoval ranks v's replicas for removal (DecreaseVolumeReplica with
// ChildSorters::sort, core/controller/scheduling/mod.rs:157-236, read
// upstream), keeping only those keep accepts when keep is not nil (the
// nexus_child_remove_candidates filter, core/volume/scheduling.rs:46-62).
//
// The input is specs().volume_replicas(v): the replicas the volume owns, in
// the core agent's global replica map order (order.go); replicas created
// directly on a pool belong to no volume and are never candidates
// (core/volume/specs.rs:565-574). The sort is stable (Rust's sort_by,
// scheduling/mod.rs:79-82), so replicas the comparator cannot tell apart keep
// that order, and the first of them is removed first. With
// WithRandomRemovalTies the input is shuffled instead (kinder than upstream).
func (s *Sim) rankForRemoval(v *simVolume, keep func(*simReplica) bool) *removalCandidates {
	items := s.volumeReplicas(v)
	if s.randomTies {
		s.rng.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
	}
	ag := s.agReplicasOnPools(v)
	sort.SliceStable(items, func(i, j int) bool { return compareRemoval(v, ag, items[i], items[j]) < 0 })
	out := &removalCandidates{want: v.numReplicas}
	for _, r := range items {
		if keep != nil && !keep(r) {
			continue
		}
		// Healthy when NexusInfo says so; a replica without an entry is
		// unhealthy once a NexusInfo exists, healthy while none does
		// (ReplicaRemovalCandidates::new, volume.rs:422-437).
		if v.healthy(r) {
			out.healthy = append(out.healthy, r)
		} else {
			out.unhealthy = append(out.unhealthy, r)
		}
	}
	return out
}

// agReplicasOnPools is get_pool_ag_replica_count
// (core/controller/scheduling/affinity_group.rs:44-61, read upstream), which
// DecreaseVolumeReplica::builder computes when the volume is in an affinity
// group (volume.rs:352-358): for every pool, how many replicas the group's
// volumes (v included) own on it. nil when v is in no group.
func (s *Sim) agReplicasOnPools(v *simVolume) map[*simPool]int {
	if v.affinityGroup == "" {
		return nil
	}
	out := map[*simPool]int{}
	for _, id := range s.volOrder {
		if w := s.volumes[id]; w.affinityGroup == v.affinityGroup {
			for _, r := range w.replicas {
				out[r.pool]++
			}
		}
	}
	return out
}

// childStateRank orders child states least preferred first, as ChildState's
// PartialOrd does (control-plane/stor-port/src/types/v0/transport/child.rs:100-129,
// read upstream): Faulted < Unknown < Degraded < Online.
func childStateRank(st mayastor.ChildState) int {
	switch st {
	case mayastor.ChildStateFaulted:
		return 0
	case mayastor.ChildStateUnknown:
		return 1
	case mayastor.ChildStateDegraded:
		return 2
	}
	return 3
}

// healthRank is sort_by_health (scheduling/mod.rs:187-205): unhealthy before
// healthy.
//
// Upstream's comparator is not symmetric: a replica without a NexusInfo entry
// compares Less than a healthy one, but a healthy one compares Equal to a
// replica without an entry, leaving it to the later keys. For the lists a
// volume has (at most 20 replicas, where Rust 1.72's stable sort is an
// insertion sort: nix/lib/rust.nix pins 1.72.1) that only changes where
// healthy replicas land relative to unhealthy ones, never the order within
// the healthy and within the unhealthy replicas, which is all that
// ReplicaRemovalCandidates keeps (volume.rs:422-437): an unhealthy replica
// moves left past every healthy one, and the later keys are a consistent
// order. So this consistent rank gives upstream's removals. (Upstream
// compares a replica without an entry as Equal to an unhealthy one; both
// rank 0 here.)
func healthRank(v *simVolume, r *simReplica) int {
	if v.healthy(r) {
		return 1
	}
	return 0
}

// childOf is the replica's child in the volume's nexus SPEC (child_spec,
// volume.rs:326-336, matched by replica uuid): the simulator's nexus children
// are the spec's children.
func childOf(v *simVolume, r *simReplica) *simChild {
	if v.target == nil {
		return nil
	}
	return v.target.child(r)
}

// childStateOf is the child's state in the nexus STATE (child_state,
// volume.rs:314-325): found through the replica's state, so a replica whose
// node is offline has none (the core agent clears an offline node's states,
// core/node/wrapper.rs:459-471, read upstream), nor has any child while the
// nexus's node is offline (no nexus state). ok is false then.
func childStateOf(v *simVolume, c *simChild) (st mayastor.ChildState, ok bool) {
	if c == nil || !v.target.node.online || v.target.shutdown || !c.replica.node().online {
		return "", false
	}
	return childState(c), true
}

// compareRemoval is ChildSorters::sort (scheduling/mod.rs:157-185), negative
// when a goes before b (is removed first):
//  1. health: unhealthy first (sort_by_health);
//  2. sort_by_child (206-236): a child of the nexus spec before a replica
//     that is not one; between children, one with a state in the nexus state
//     before one without, then by child state Faulted < Unknown < Degraded <
//     Online;
//  3. a shared replica before an unshared one: "local" is the replica spec
//     not being shared (166-167), not the replica's node, whether or not
//     the volume is published;
//  4. the replica on the pool holding more of the affinity group's replicas
//     first (168-173; ag is nil, all counts 0, outside a group);
//
// anything else is a tie, left to the input order.
func compareRemoval(v *simVolume, ag map[*simPool]int, a, b *simReplica) int {
	if d := healthRank(v, a) - healthRank(v, b); d != 0 {
		return d
	}
	ca, cb := childOf(v, a), childOf(v, b)
	switch {
	case ca == nil && cb != nil:
		return 1
	case ca != nil && cb == nil:
		return -1
	case ca != nil && cb != nil:
		sa, oka := childStateOf(v, ca)
		sb, okb := childStateOf(v, cb)
		switch {
		case oka && !okb:
			return -1
		case !oka && okb:
			return 1
		case oka && okb:
			if d := childStateRank(sa) - childStateRank(sb); d != 0 {
				return d
			}
		}
	}
	la, lb := a.share == mayastor.ProtocolNone, b.share == mayastor.ProtocolNone
	switch {
	case la && !lb:
		return 1
	case !la && lb:
		return -1
	}
	return ag[b.pool] - ag[a.pool]
}
