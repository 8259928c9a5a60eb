package mover

import (
	"slices"

	"github.com/billyronks/couchestor/internal/mayastor"
	"k8s.io/apimachinery/pkg/labels"
)

// A pure model of the core agent's pool choice for one replica-count
// increase, over the REST wire types. It predicts which pool a
// PUT /v0/volumes/{id}/replica_count/{n+1} creates the new replica on, so
// that ScaleUp cordons only the nodes it must.
//
// The rules and weights below are those of upstream
// openebs/mayastor-control-plane at c02e0cb; core/ stands for
// control-plane/agents/src/bin/core/ and the scheduler's files are under
// core/controller/scheduling/. internal/sim/scheduler.go implements the same rules
// for the simulator; this file does not import it (the Mover never depends on
// the simulator) and works on what the REST API returns.

// Upstream defaults of the thin-provisioning checks: the 16 MiB watermark
// (volume_policy/pool.rs:12-15, 44-49), --pool-commitment 250 % and
// --volume-commitment 40 % (core/main.rs:141-164), applied in
// volume_policy/simple.rs:163-198, 220-222.
const (
	modelThinFreeWatermark   = 16 << 20 // a thin replica needs more than 16 MiB free on the pool
	modelPoolCommitPercent   = 250      // a pool may be committed below 250 % of its capacity
	modelVolumeCommitPercent = 40       // free space must exceed allocated + 40 % of the size
)

// PlacementInput is the cluster as the core agent's scheduler sees it for one
// increase of Volume's replica count.
type PlacementInput struct {
	Volume *mayastor.Volume
	Pools  []mayastor.Pool
	Nodes  []mayastor.Node
	// PoolReplicas is the number of replicas (of every volume) on each pool,
	// by pool id: the "replica count" term of the score.
	PoolReplicas map[string]int
	// Cordoned are nodes to treat as cordoned on top of their own cordon
	// labels: the what-if of a cordon plan.
	Cordoned map[string]bool
}

// PlacementCandidates returns the pools the core agent may create the new
// replica on, in the order it tries them (the first one that creates wins,
// core/volume/operations_helper.rs:477-498).
//
// Exact score ties keep upstream's input order (a stable sort_by,
// scheduling/mod.rs:84-91), which is the iteration order of the registry's
// node HashMap (resources/mod.rs:62-71, core/node/registry.rs:10-13,
// core/controller/registry.rs:57), which no client can know; here they keep the order of
// in.Pools. Use PlacementSettled to know whether the prediction is safe.
func PlacementCandidates(in PlacementInput) []*mayastor.Pool {
	out := placementEligible(in)
	slices.SortStableFunc(out, func(a, b *mayastor.Pool) int {
		return comparePoolsForPlacement(in.Volume.Spec.Thin, a, b, in.PoolReplicas)
	})
	return out
}

// placementEligible applies the node and pool filters.
func placementEligible(in PlacementInput) []*mayastor.Pool {
	v := in.Volume
	nodes := make(map[string]*mayastor.Node, len(in.Nodes))
	for i := range in.Nodes {
		nodes[in.Nodes[i].ID] = &in.Nodes[i]
	}
	held := replicaNodes(v)
	allocated, allocatedKnown := volumeAllocated(v)
	var out []*mayastor.Pool
	for i := range in.Pools {
		p := &in.Pools[i]
		node := poolNode(p)
		n := nodes[node]
		// Node filters (volume_policy/node.rs:13-41, 74-112): online, not cordoned, not already holding a replica of the
		// volume, allowed by the volume's node topology.
		if n == nil || !nodeUsable(n) || in.Cordoned[node] || held[node] || !nodeAllowed(v, n) {
			continue
		}
		if !poolFitsVolume(p, v, allocated, allocatedKnown) {
			continue
		}
		// Pool inclusion labels are matched against the pool *spec* labels
		// (volume_policy/pool.rs:78-109).
		var specLabels labels.Set
		if p.Spec != nil {
			specLabels = p.Spec.Labels
		}
		if !hasInclusion(specLabels, inclusionOf(v)) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// poolFitsVolume applies the pool filters on status and space
// (volume_policy/pool.rs:16-76, thick.rs:22-29, simple.rs:39-48, 163-222).
func poolFitsVolume(p *mayastor.Pool, v *mayastor.Volume, allocated uint64, allocatedKnown bool) bool {
	s := p.State
	// Not Faulted or Unknown: only Online and Degraded pools take replicas.
	if s == nil || (s.Status != mayastor.PoolStatusOnline && s.Status != mayastor.PoolStatusDegraded) {
		return false
	}
	size := v.Spec.Size
	if s.Capacity <= size {
		return false
	}
	free := poolFree(p)
	if !v.Spec.Thin {
		return free > size // a thick replica needs more free space than the volume's size
	}
	if free <= modelThinFreeWatermark {
		return false
	}
	// Free space above min(allocated + 40 % of the size, size); with the
	// allocation unknown, the whole size (simple.rs:33, 173-177).
	need := size
	if allocatedKnown {
		need = min(allocated+modelVolumeCommitPercent*size/100, size)
	}
	if free <= need {
		return false
	}
	// Commitment after the new replica below 250 % of the capacity.
	return (size+poolCommitted(p))*100 < modelPoolCommitPercent*s.Capacity
}

// volumeAllocated is the largest allocation among the volume's replicas, and
// whether every replica reported one.
func volumeAllocated(v *mayastor.Volume) (uint64, bool) {
	var most uint64
	known := len(v.State.ReplicaTopology) > 0
	for _, r := range v.State.ReplicaTopology {
		if r.Usage == nil {
			known = false
			continue
		}
		most = max(most, r.Usage.Allocated)
	}
	return most, known
}

func poolFree(p *mayastor.Pool) uint64 {
	if p.State == nil || p.State.Used >= p.State.Capacity {
		return 0
	}
	return p.State.Capacity - p.State.Used
}

// poolCommitted is the pool's committed size; pools that do not report one
// count their used space.
func poolCommitted(p *mayastor.Pool) uint64 {
	if p.State == nil {
		return 0
	}
	if p.State.Committed != nil {
		return *p.State.Committed
	}
	return p.State.Used
}

func poolOverCommitment(p *mayastor.Pool) uint64 {
	if c := poolCommitted(p); p.State != nil && c > p.State.Capacity {
		return c - p.State.Capacity
	}
	return 0
}

// poolStatusOrder sorts as upstream's PoolStatus ordering: Degraded before
// Online (control-plane/stor-port/src/types/v0/transport/pool.rs:121-151).
func poolStatusOrder(st mayastor.PoolStatus) int {
	switch st {
	case mayastor.PoolStatusDegraded:
		return 1
	case mayastor.PoolStatusOnline:
		return 2
	}
	return 0
}

// comparePoolsForPlacement is the scheduler's sort: pool status first, then a
// pairwise weighted score (thick.rs:12-13, 86-111, simple.rs:81-83, 133-159):
// for thick volumes fewer replicas weigh 40 and more free space 60; for thin
// ones 25, 40 and less over-commitment 35. Each term splits its weight between
// the two pools in proportion to their values (an even split when both are
// zero), in whole percent (utils/weighted-scoring/src/value.rs:26-39).
// Negative means a is tried first.
func comparePoolsForPlacement(thin bool, a, b *mayastor.Pool, replicas map[string]int) int {
	if d := poolStatusOrder(a.State.Status) - poolStatusOrder(b.State.Status); d != 0 {
		return d
	}
	var sa, sb uint64
	term := func(weight uint64, higherIsBetter bool, va, vb uint64) {
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
	ra, rb := uint64(max(replicas[a.ID], 0)), uint64(max(replicas[b.ID], 0))
	if thin {
		term(25, false, ra, rb)
		term(40, true, poolFree(a), poolFree(b))
		term(35, false, poolOverCommitment(a), poolOverCommitment(b))
	} else {
		term(40, false, ra, rb)
		term(60, true, poolFree(a), poolFree(b))
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

// PlacementSettled reports whether the increase is predicted to land on a
// pool for which want is true whatever order the core agent meets the
// candidates in: at least one wanted pool is a candidate and every wanted
// candidate is strictly preferred to every other candidate. The pairwise
// score is not transitive and exact ties follow a HashMap's order upstream
// (core/controller/registry.rs:57), so "first after a sort" alone is not a safe prediction.
func PlacementSettled(in PlacementInput, want func(*mayastor.Pool) bool) bool {
	cands := placementEligible(in)
	var wanted, others []*mayastor.Pool
	for _, p := range cands {
		if want(p) {
			wanted = append(wanted, p)
		} else {
			others = append(others, p)
		}
	}
	if len(wanted) == 0 {
		return false
	}
	thin := in.Volume.Spec.Thin
	for _, w := range wanted {
		for _, o := range others {
			if comparePoolsForPlacement(thin, w, o, in.PoolReplicas) >= 0 {
				return false
			}
		}
	}
	return true
}
