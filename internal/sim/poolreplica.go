package sim

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// Replicas created directly on a pool: PUT and DELETE
// /v0/pools/{pool_id}/replicas/{replica_id} and
// /v0/nodes/{node_id}/pools/{pool_id}/replicas/{replica_id}.
//
// Upstream (control plane read at c02e0cb; io-engine, openebs/mayastor, read
// at 86f3f5a3 of the same day):
//
//   - The REST body becomes a CreateReplica with managed: false and no owners
//     (control-plane/rest/src/versions/v0.rs:119-137). The pool endpoint takes
//     the node from the pool (control-plane/rest/service/src/v0/replicas.rs:16-41:
//     an unknown pool is 404 PoolNotFound); the node endpoint takes the node
//     from the path.
//   - The core agent refuses a cordoned node first, CordonedNode
//     (core/pool/replica_operations.rs:37-41), FailedPrecondition 412
//     (control-plane/agents/src/common/errors.rs:601-606), then an unknown
//     node, NodeNotFound 404 (core/node/registry.rs:26-41). An existing spec
//     is AlreadyExists (core/controller/resources/operations_helper.rs:696-700),
//     HTTP 422 (control-plane/stor-port/src/types/mod.rs:45-48), or Deleting
//     (702) 409 (mod.rs:109-112) while it awaits garbage collection.
//   - Otherwise the spec is appended to the global replica map before the node
//     is called (get_or_create_replica, core/pool/specs.rs:323-333, from
//     replica_operations.rs:45-48). If the node then fails the create, the
//     spec is deleted at once for InvalidArgument or NotFound and left
//     Deleting otherwise (OnCreateFail::eeinval_delete,
//     operations_helper.rs:66-78, 248-260): a node that is not online
//     (NodeNotOnline 412, core/node/wrapper.rs:1220-1225) or a pool without
//     room leaves a Deleting spec in the map until the garbage collector
//     removes it (a swap_remove like any other).
//   - io-engine refuses a replica larger than the pool's capacity
//     (CapacityOverflow, io-engine/src/lvs/lvs_store.rs:916-922) as
//     InvalidArgument, HTTP 400, and maps an ENOSPC of the lvol create to
//     ResourceExhausted (io-engine/src/grpc/v0/mayastor_grpc.rs:228-236),
//     HTTP 507. That SPDK's blobstore answers ENOSPC for a thick lvol larger
//     than the pool's free space was not read; the simulator refuses a thick
//     replica larger than the free space so. A thin one is created whatever
//     the free space (it allocates nothing yet).
//   - DELETE through the pool endpoint finds the replica on the pool first
//     (replicas.rs:44-80; an unknown pool, or one whose node is down and
//     reports nothing, is 404 PoolNotFound, a replica not on it 404
//     ReplicaNotFound), then destroys it with the replica's node. The destroy
//     refuses a spec that still has owners, InUse 409 (operations_helper.rs:318-363,
//     types/mod.rs:129-132): a volume's replica is never deleted this way.
//     Otherwise the spec turns Deleting and the node is called
//     (replica_operations.rs:78-97): when it succeeds, or answers that the
//     replica is not there, the spec goes (swap_remove); any other error
//     leaves it Deleting for the garbage collector. The node's answers
//     (core/node/wrapper.rs:1336-1401; io-engine/src/grpc/v1/replica.rs:404-440):
//     node not online 412 NodeNotOnline; pool not on that node 412
//     PoolNotLoaded; replica not on that node 404 ReplicaNotFound, which
//     removes the spec although the replica lives on elsewhere (the node
//     endpoint naming the wrong node: the replica stays on its pool, listed,
//     counted, without a spec); replica on another pool of the node 503
//     Aborted (verify_pool, replica.rs:346-360).
//   - Nothing else removes such a replica: the orphan collector destroys only
//     managed replicas (core/controller/reconciler/replica/mod.rs:143-158),
//     the ENOSPC reconciler moves only children (the simulator's victims are
//     volume children; core/controller/reconciler/pool/capacity.rs:86-90 skips
//     unmanaged replicas outside volumes), and hot spare and the removal
//     ranking see only the replicas a volume owns (core/volume/specs.rs:565-574).
//     It counts on its pool for capacity and for the scheduler's replica count
//     (core/controller/scheduling/resources/mod.rs:43-45), and its spec is
//     stored, so a core-agent restart keeps it (store-key order, order.go).
//
// The garbage collector (destroy_deleting_replica, replica/mod.rs:160-170)
// runs every 5th poll of the reconcile loop (PollTimer::from(5), 24). The
// simulator runs it at every multiple of 5 × reconcile_interval since its
// start (the loop's phase and its busy/idle periods are not modelled); a
// spec whose node is down waits for the node.
//
// Not modelled: a create on a pool io-engine reports Faulted; the node
// endpoint naming a pool the simulator does not know at all (refused 404
// before any spec is appended); re-creating the uuid of a replica left
// without a spec on another pool or node (refused 422; upstream the node
// would adopt or duplicate it); NQN validation of allowed-hosts; the size
// rounding to the pool's cluster size; operations in progress.

// CreateReplicaRequest is CreateReplicaBody: the size in bytes, thin
// provisioning, the share protocol ("" or nvmf) and the hosts allowed to
// connect to the share.
type CreateReplicaRequest struct {
	Size         uint64
	Thin         bool
	Share        mayastor.Protocol
	AllowedHosts []string
}

// replicaGCPolls is how many reconcile ticks apart the replica garbage
// collector runs (PollTimer::from(5), replica/mod.rs:24).
const replicaGCPolls = 5

// CreatePoolReplica is PUT /v0/pools/{pool_id}/replicas/{replica_id}.
func (s *Sim) CreatePoolReplica(poolID, replicaID string, req CreateReplicaRequest) (mayastor.Replica, error) {
	return s.createReplicaOp("", poolID, replicaID, req)
}

// CreateNodePoolReplica is PUT /v0/nodes/{node_id}/pools/{pool_id}/replicas/{replica_id}.
func (s *Sim) CreateNodePoolReplica(nodeID, poolID, replicaID string, req CreateReplicaRequest) (mayastor.Replica, error) {
	return s.createReplicaOp(nodeID, poolID, replicaID, req)
}

// DeletePoolReplica is DELETE /v0/pools/{pool_id}/replicas/{replica_id}.
func (s *Sim) DeletePoolReplica(poolID, replicaID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sync()
	defer s.opDone()
	p, ok := s.pools[poolID]
	if !ok || !p.reported() {
		return errPoolNotFound(poolID)
	}
	r, ok := s.replicas[replicaID]
	if !ok || r.specOnly || r.pool != p {
		return errReplicaNotFound(replicaID)
	}
	if err := s.deleteReplica(p.node.id, p.id, replicaID); err != nil {
		return err
	}
	return nil
}

// DeleteNodePoolReplica is DELETE /v0/nodes/{node_id}/pools/{pool_id}/replicas/{replica_id}.
func (s *Sim) DeleteNodePoolReplica(nodeID, poolID, replicaID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sync()
	defer s.opDone()
	if err := s.deleteReplica(nodeID, poolID, replicaID); err != nil {
		return err
	}
	return nil
}

func (s *Sim) createReplicaOp(nodeID, poolID, replicaID string, req CreateReplicaRequest) (mayastor.Replica, error) {
	if req.Share != "" && req.Share != mayastor.ProtocolNvmf {
		return mayastor.Replica{}, errDeserialize(fmt.Sprintf("Json deserialize error: unknown variant `%s`, expected `nvmf`", req.Share))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sync()
	defer s.opDone()
	r, err := s.createPoolReplica(nodeID, poolID, replicaID, req)
	if err != nil {
		return mayastor.Replica{}, err
	}
	return s.wireReplica(r), nil
}

// createPoolReplica creates an unmanaged replica (nodeID "" for the pool
// endpoint, which takes the pool's node).
func (s *Sim) createPoolReplica(nodeID, poolID, id string, req CreateReplicaRequest) (*simReplica, *APIError) {
	var node *simNode
	p, poolKnown := s.pools[poolID]
	if nodeID == "" {
		if !poolKnown {
			return nil, errPoolNotFound(poolID)
		}
		node = p.node
	} else {
		n, ok := s.nodes[nodeID]
		if !ok {
			return nil, errNodeNotFound(nodeID)
		}
		if !poolKnown {
			return nil, errPoolNotFound(poolID) // not modelled beyond this (see the top of the file)
		}
		node = n
	}
	if len(node.cordons) > 0 {
		return nil, errPrecondition("CordonedNode", "Node %s is cordoned", node.id)
	}
	old := s.replicas[id]
	if old != nil && old.hasSpec() {
		if old.deleting {
			return nil, svcError(http.StatusConflict, mayastor.ErrorKindDeleting, "Deleting",
				"Replica Resource pending deletion - please retry")
		}
		return nil, errAlreadyExists(id)
	}
	if old != nil && old.pool != p {
		return nil, errAlreadyExists(id) // a spec-less replica elsewhere: not modelled
	}
	share := req.Share
	if share == "" {
		share = mayastor.ProtocolNone
	}
	r := &simReplica{uuid: id, pool: p, size: int64(req.Size), thin: req.Thin, share: share,
		allowedHosts: slices.Clone(req.AllowedHosts)}
	s.orderAppend(r) // get_or_create_replica, before the node is called
	refused := func(err *APIError, keepDeleting bool) (*simReplica, *APIError) {
		if keepDeleting {
			r.specOnly, r.deleting = true, true
			s.replicas[id] = r
			s.scheduleReplicaGC()
		} else {
			s.orderSwapRemove(r)
		}
		return nil, err
	}
	switch {
	case !node.online:
		return refused(errPrecondition("NodeNotOnline", "Node '%s' is not online", node.id), true)
	case p.node != node:
		return refused(svcError(http.StatusNotFound, mayastor.ErrorKindNotFound, "SvcError::GrpcRequestError",
			"create_replica::status: NotFound, message: \"pool %s not found on node %s\"", poolID, node.id), false)
	case old != nil:
		// io-engine answers that the replica exists; the node wrapper then
		// returns the replica it finds by uuid (core/node/wrapper.rs:1319-1331).
		r.slot = -1
		old.slot = len(s.order) - 1
		s.order[old.slot] = old
		return old, nil
	case r.size > p.capacity:
		return refused(svcError(http.StatusBadRequest, mayastor.ErrorKindInvalidArgument, "SvcError::GrpcRequestError",
			"create_replica::status: InvalidArgument, message: \"errno: capacity overflow, failed to create lvol %s\"", id), false)
	case !r.thin && r.size > p.free():
		return refused(svcError(http.StatusInsufficientStorage, mayastor.ErrorKindResourceExhausted, "SvcError::GrpcRequestError",
			"create_replica::status: ResourceExhausted, message: \"errno: not enough space, failed to create lvol %s\"", id), true)
	}
	s.replicas[id] = r
	p.replicas++
	p.committed += r.size
	if !r.thin {
		r.setAllocated(r.size)
	}
	// A placeholder may tip a pool into ENOSPC for the thin replicas on it.
	s.checkENOSPC()
	return r, nil
}

// deleteReplica is the core agent's replica destroy with node nodeID and
// pool poolID as given (the pool endpoint passes the replica's own).
func (s *Sim) deleteReplica(nodeID, poolID, id string) *APIError {
	n, ok := s.nodes[nodeID]
	if !ok {
		return errNodeNotFound(nodeID)
	}
	r := s.replicas[id]
	withSpec := r != nil && r.hasSpec()
	if withSpec {
		if r.volume != nil {
			return svcError(http.StatusConflict, mayastor.ErrorKindInUse, "InUse",
				"Replica Resource id %s still in use", id)
		}
		r.deleting = true
	}
	err := s.destroyOnNode(n, poolID, id, r)
	if !withSpec {
		return err
	}
	if err != nil && err.Status != http.StatusNotFound {
		s.scheduleReplicaGC() // left Deleting
		return err
	}
	// Destroyed, or not found on that node: the spec goes.
	s.orderSwapRemove(r)
	r.deleting = false
	if r.specOnly {
		delete(s.replicas, id)
	}
	return nil
}

// destroyOnNode is the node's replica destroy (core/node/wrapper.rs:1336-1401
// over io-engine's destroy_replica).
func (s *Sim) destroyOnNode(n *simNode, poolID, id string, r *simReplica) *APIError {
	p, ok := s.pools[poolID]
	switch {
	case !n.online:
		return errPrecondition("NodeNotOnline", "Node '%s' is not online", n.id)
	case !ok || p.node != n:
		return errPrecondition("PoolNotLoaded", "Pool '%s' not loaded", poolID)
	case r == nil || r.specOnly || r.pool.node != n:
		return errReplicaNotFound(id)
	case r.pool != p:
		return svcError(http.StatusServiceUnavailable, mayastor.ErrorKindAborted, "SvcError::GrpcRequestError",
			"destroy_replica::status: Aborted, message: \"Specified pool: %s does not match the target replica's pool: %s!\"", p.id, r.pool.id)
	}
	s.dropLvol(r)
	return nil
}

// dropLvol removes r from its pool and from io-engine's listing.
func (s *Sim) dropLvol(r *simReplica) {
	p := r.pool
	p.replicas--
	p.committed -= r.size
	p.allocated -= r.allocated
	r.allocated = 0
	delete(s.replicas, r.uuid)
}

// scheduleReplicaGC queues a garbage collector pass at its next poll.
func (s *Sim) scheduleReplicaGC() {
	if s.replicaGCAt.After(s.cur) {
		return // already queued
	}
	period := replicaGCPolls * s.reconcileInterval
	s.replicaGCAt = s.start.Add((s.cur.Sub(s.start)/period + 1) * period)
	s.schedule(&event{at: s.replicaGCAt, apply: s.collectDeletingReplicas})
}

// collectDeletingReplicas is a garbage collector pass: every Deleting spec,
// in map order, whose node is up is destroyed (io-engine's replica too, if it
// has one) and leaves the map.
func (s *Sim) collectDeletingReplicas() {
	changed := false
	for _, r := range slices.Clone(s.order) {
		if !r.deleting || !r.pool.node.online {
			continue
		}
		if !r.specOnly {
			s.dropLvol(r)
		}
		delete(s.replicas, r.uuid)
		s.orderSwapRemove(r)
		r.deleting = false
		changed = true
	}
	if changed {
		s.opDone()
	}
}

// deletingOn says whether a Deleting spec waits for node n.
func (s *Sim) deletingOn(n *simNode) bool {
	for _, r := range s.order {
		if r.deleting && r.pool.node == n {
			return true
		}
	}
	return false
}
