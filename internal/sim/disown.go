package sim

import "github.com/billyronks/couchestor/internal/mayastor"

// A decrease whose replica is on an offline node.
//
// Upstream (read at c02e0cb): the decrease removes the chosen replica from
// the nexus, then destroys it (core/volume/operations_helper.rs:208-246).
// The destroy disowns the replica from the volume before calling its node
// (start_destroy_by, core/controller/resources/operations_helper.rs:318-363;
// core/pool/replica_operations.rs:78-97); the node call on an offline node
// fails with NodeNotOnline (core/node/wrapper.rs:1220-1225), FailedPrecondition
// 412 (control-plane/agents/src/common/errors.rs:581-586). complete_update
// then does not commit the new count. So the call errors, the replica is gone
// from the volume's topology, num_replicas is unchanged, and the volume, one
// replica short, is healed by self-heal with a replacement anywhere.
//
// The disowned replica keeps its space on its pool until its node returns;
// then it is destroyed. (Upstream retries the destroy of a replica spec left
// Deleting from a reconciler; that retry loop was not read, the simulator
// destroys it as soon as the node is back.)

// destroyVolumeReplica is the destroy step of a decrease.
func (s *Sim) destroyVolumeReplica(r *simReplica) *APIError {
	if r.node().online {
		s.destroyReplica(r)
		return nil
	}
	v := r.volume
	if v.target != nil {
		if c := v.target.child(r); c != nil {
			s.stopRebuild(v, c, mayastor.RebuildJobStateStopped)
			v.target.removeChild(r)
		}
	}
	for i, x := range v.replicas {
		if x == r {
			v.replicas = append(v.replicas[:i], v.replicas[i+1:]...)
			break
		}
	}
	delete(v.nexusInfo, r.uuid)
	s.disowned = append(s.disowned, r)
	s.markDirty(v)
	return errPrecondition("NodeNotOnline", "Node '%s' is not online", r.node().id)
}

// destroyDisowned destroys the disowned replicas on node n, back online.
func (s *Sim) destroyDisowned(n *simNode) {
	kept := s.disowned[:0]
	for _, r := range s.disowned {
		if r.node() != n {
			kept = append(kept, r)
			continue
		}
		// Hand it back to the ordinary destroy, which also does the pool's
		// accounting (and the replica map's removal).
		r.volume.replicas = append(r.volume.replicas, r)
		s.destroyReplica(r)
	}
	s.disowned = kept
}
