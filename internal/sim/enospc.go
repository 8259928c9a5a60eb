package sim

import "github.com/billyronks/couchestor/internal/mayastor"

// Thin replicas on a pool out of space (ENOSPC), moved by the control plane.
//
// Upstream (read at c02e0cb): the pool capacity reconciler
// (core/controller/reconciler/pool/capacity.rs:24-99) looks at pools whose
// thin replicas' nexus children failed with ENOSPC, takes the one with the
// largest allocation on each such pool, and moves it: a new replica is
// created on another pool and attached to the nexus (a full rebuild), and
// the old child and replica are removed (move_replica with delete,
// core/volume/operations.rs:640-672). It does so only if the volume keeps
// enough healthy replicas to rebuild from.
//
// The simulator has no writes to run out of space with, so it takes a pool
// as exhausted when it has no free space left (a FillPool fault), and a thin
// replica on it as hitting ENOSPC when it is a child of a live target and not
// fully allocated (it still needs to grow). The move happens at the next
// reconcile tick, one replica per pool per tick, only when another Online
// child remains to rebuild from; the child is not shown Faulted in between.

// checkENOSPC queues a capacity reconciler pass at the next reconcile tick
// when some exhausted pool holds a thin replica that hits ENOSPC.
func (s *Sim) checkENOSPC() {
	for _, id := range s.poolOrder {
		if s.enospcVictim(s.pools[id]) != nil {
			at := s.alignDown(s.cur).Add(s.reconcileInterval)
			s.schedule(&event{at: at, apply: s.moveENOSPC})
			return
		}
	}
}

// enospcVictim is the replica the capacity reconciler moves off pool p, or nil.
func (s *Sim) enospcVictim(p *simPool) *simReplica {
	if !p.node.online || p.free() > 0 {
		return nil
	}
	var best *simReplica
	for _, r := range s.replicasOn(func(r *simReplica) bool { return r.pool == p }) {
		v := r.volume
		nx := v.servingNexus()
		if !r.thin || r.allocated >= r.size || nx == nil || nx.child(r) == nil {
			continue
		}
		others := 0
		for _, c := range nx.children {
			if c.replica != r && childState(c) == mayastor.ChildStateOnline {
				others++
			}
		}
		if others == 0 {
			continue // no healthy copy to rebuild from
		}
		if best == nil || r.allocated > best.allocated {
			best = r
		}
	}
	return best
}

// moveENOSPC is one pass of the capacity reconciler.
func (s *Sim) moveENOSPC() {
	moved := false
	for _, id := range s.poolOrder {
		r := s.enospcVictim(s.pools[id])
		if r == nil {
			continue
		}
		v := r.volume
		pools := s.poolCandidates(v)
		if len(pools) == 0 {
			continue
		}
		nr := s.createReplica(v, pools[0])
		if err := s.attachChecked(v, nr); err != nil {
			continue // the new replica stays unused, as after a failed attach
		}
		s.destroyReplica(r)
		s.markDirty(v)
		moved = true
	}
	if moved {
		s.opDone()
		s.checkENOSPC()
	}
}
