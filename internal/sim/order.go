package sim

import (
	"sort"
)

// The core agent's global replica map.
//
// Upstream keeps every replica spec (of every volume, and those created on a
// pool) in one IndexMap
// (core/controller/resources/resource_map.rs:12-16, read upstream). Its order
// decides the ties of the removal ranking: the ranking is a stable sort
// (scheduling/mod.rs:79-82) over specs().volume_replicas(id), which walks the
// map in order (core/volume/specs.rs:565-574), and the first replica of the
// sorted list is removed (core/controller/scheduling/volume.rs:392-439: the
// list is reversed, then popped). GET /v0/specs lists the replicas in that
// same order (core/registry/service.rs:52-61 → core/pool/specs.rs:266-271,
// the IndexMap's values(); read upstream).
//
//   - A new spec is appended at the end (get_or_create_replica,
//     core/pool/specs.rs:323-333, read upstream): createReplica and
//     createPoolReplica → orderAppend.
//   - A removed spec goes through IndexMap::remove (core/pool/specs.rs:397-400,
//     resource_map.rs:58-60), which in indexmap 2.0.2
//     (control-plane/agents/Cargo.toml:51) is swap_remove: the LAST entry of
//     the whole map moves into the freed slot (indexmap documents remove as
//     equivalent to swap_remove; its source was not read here):
//     destroyReplica and the pool replica deletes → orderSwapRemove.
//   - A core-agent restart refills the map from the store
//     (ResourceBaseMap::populate, resource_map.rs:62-70, called by
//     populate_specs, core/controller/resources/operations_helper.rs:992-1055,
//     both read upstream) in the order the store returns the keys. The store
//     is etcd, read with a prefix range (utils/pstor/src/etcd.rs:265-292, read
//     upstream); etcd returns a range sorted by key bytes, ascending (etcd's
//     documented default, not read in code here), and a ReplicaSpec's key ends
//     with its uuid (control-plane/stor-port/src/types/v0/store/replica.rs:344-346,
//     read upstream) under one common prefix. So after a restart the order is
//     the replica uuids' lexicographic order: RestartCoreAgent.
//
// Scenario loading creates the replicas volume by volume in file order
// (volumes first, then generate), each volume's replicas in the order its
// replicas list gives, so a scenario and seed always produce the same order.

// orderAppend adds r at the end of the global replica map.
func (s *Sim) orderAppend(r *simReplica) {
	r.slot = len(s.order)
	s.order = append(s.order, r)
}

// orderSwapRemove removes r from the global replica map as IndexMap::remove
// (swap_remove) does: the last entry takes r's slot.
func (s *Sim) orderSwapRemove(r *simReplica) {
	i := r.slot
	if i < 0 || i >= len(s.order) || s.order[i] != r {
		return
	}
	last := len(s.order) - 1
	s.order[i] = s.order[last]
	s.order[i].slot = i
	s.order[last] = nil
	s.order = s.order[:last]
	r.slot = -1
}

// volumeReplicas is specs().volume_replicas(v): v's replicas in the global
// map's order.
func (s *Sim) volumeReplicas(v *simVolume) []*simReplica {
	out := append([]*simReplica(nil), v.replicas...)
	sort.Slice(out, func(i, j int) bool { return out[i].slot < out[j].slot })
	return out
}

// RestartCoreAgent simulates a restart of the core agent: its in-memory
// replica map is refilled from the store in store-key order (replica uuid
// order; see the comment at the top of this file). Nothing else changes in
// this model: NexusInfo lives in the store, targets and rebuilds in the data
// plane.
func (s *Sim) RestartCoreAgent() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sync()
	sort.Slice(s.order, func(i, j int) bool { return s.order[i].uuid < s.order[j].uuid })
	for i, r := range s.order {
		r.slot = i
	}
}

// ReplicaOrder lists the uuids of every replica in the core agent's map order
// (the order GET /v0/specs gives).
func (s *Sim) ReplicaOrder() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sync()
	out := make([]string, len(s.order))
	for i, r := range s.order {
		out[i] = r.uuid
	}
	return out
}
