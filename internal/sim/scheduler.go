package sim

import (
	"sort"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// Replica placement and removal, reproducing the core agent's scheduler
// (see placement.md §1 and §2; upstream control-plane/agents/src/bin/core/
// controller/scheduling). The weights and thresholds are upstream's defaults.
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
// nil when no replica may go (scheduling/volume.rs ReplicaRemovalCandidates).
func (s *Sim) removalCandidate(v *simVolume) *simReplica {
	items := append([]*simReplica(nil), v.replicas...)
	// Remaining ties follow an in-memory map order upstream: unpredictable.
	s.rng.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
	sort.SliceStable(items, func(i, j int) bool { return compareRemoval(v, items[i], items[j]) < 0 })

	// Unhealthy replicas (persisted NexusInfo says so, or has no entry) go first.
	for _, r := range items {
		if !v.healthy(r) {
			return r
		}
	}
	// A healthy replica goes only if more healthy online replicas remain than wanted.
	healthyOnline := 0
	for _, r := range items {
		if r.state() == mayastor.ReplicaStateOnline {
			healthyOnline++
		}
	}
	if healthyOnline > v.numReplicas {
		return items[0]
	}
	return nil
}

// childStateRank orders child states least preferred first:
// Faulted < Unknown < Degraded < Online.
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

// compareRemoval orders replicas, the first to remove first: nexus children
// by child state, then a remote replica before the nexus-local one.
// (Upstream also ranks a replica that is not a nexus child after the
// children; kept here.)
func compareRemoval(v *simVolume, a, b *simReplica) int {
	var ca, cb *simChild
	var target *simNode
	if v.target != nil {
		ca, cb = v.target.child(a), v.target.child(b)
		target = v.target.node
	}
	switch {
	case ca == nil && cb != nil:
		return 1
	case ca != nil && cb == nil:
		return -1
	case ca != nil && cb != nil:
		if d := childStateRank(childState(ca)) - childStateRank(childState(cb)); d != 0 {
			return d
		}
	}
	la := target != nil && a.pool.node == target
	lb := target != nil && b.pool.node == target
	switch {
	case la == lb:
		return 0
	case la:
		return 1
	}
	return -1
}
