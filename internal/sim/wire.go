package sim

import (
	"maps"
	"slices"

	"k8s.io/utils/ptr"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// Conversion of the model into the spec's JSON shapes (internal/mayastor types).

const rebuildBlockSize = 512

func (s *Sim) wireVolume(v *simVolume) mayastor.Volume {
	spec := s.wireVolumeSpec(v)
	state := mayastor.VolumeState{
		Size:            uint64(v.size),
		Status:          v.status(),
		UUID:            v.uuid,
		ReplicaTopology: make(map[string]mayastor.ReplicaTopology, len(v.replicas)),
	}
	nx := v.servingNexus()
	for _, r := range v.replicas {
		rt := mayastor.ReplicaTopology{
			Node:  r.node().id,
			Pool:  r.pool.id,
			State: r.state(),
			Usage: &mayastor.ReplicaUsage{Capacity: uint64(r.size), Allocated: uint64(r.allocated)},
		}
		if nx != nil {
			if c := nx.child(r); c != nil {
				rt.ChildStatus = childState(c)
				if c.rebuild != nil && rt.ChildStatus != mayastor.ChildStateFaulted {
					rt.RebuildProgress = ptr.To(c.rebuild.progress(s.cur))
				}
			}
		}
		state.ReplicaTopology[r.uuid] = rt
	}
	if nx != nil {
		state.Target = ptr.To(s.wireNexus(v, nx))
	}
	var largest, total uint64
	for _, r := range v.replicas {
		total += uint64(r.allocated)
		if v.healthy(r) && uint64(r.allocated) > largest {
			largest = uint64(r.allocated)
		}
	}
	state.Usage = &mayastor.VolumeUsage{
		Capacity: uint64(v.size), Allocated: largest, AllocatedReplica: largest,
		TotalAllocated: total, TotalAllocatedReplicas: total,
	}
	return mayastor.Volume{Spec: spec, State: state}
}

// wireVolumeSpec is the volume's spec, as GET /v0/volumes and GET /v0/specs give it.
func (s *Sim) wireVolumeSpec(v *simVolume) mayastor.VolumeSpec {
	spec := mayastor.VolumeSpec{
		NumReplicas: uint8(v.numReplicas),
		Size:        uint64(v.size),
		Status:      mayastor.SpecStatusCreated,
		UUID:        v.uuid,
		Policy:      mayastor.VolumePolicy{SelfHeal: v.selfHeal},
		Thin:        v.thin,
	}
	wireSpecExtras(&spec, v) // affinity.go
	if len(v.inclusion) > 0 {
		spec.Topology = &mayastor.Topology{PoolTopology: &mayastor.PoolTopology{
			Labelled: &mayastor.LabelledTopology{Inclusion: maps.Clone(v.inclusion)},
		}}
	}
	if v.target != nil {
		spec.Target = &mayastor.VolumeTarget{Node: v.target.node.id, Protocol: mayastor.VolumeShareProtocolNvmf}
	}
	return spec
}

func (s *Sim) wireNexus(v *simVolume, nx *simNexus) mayastor.Nexus {
	out := mayastor.Nexus{
		Children:  make([]mayastor.Child, 0, len(nx.children)),
		DeviceURI: "nvmf://" + nx.node.ip() + ":8420/nqn.2019-05.io.openebs:nexus-" + nx.uuid,
		Node:      nx.node.id,
		Protocol:  mayastor.ProtocolNvmf,
		Size:      uint64(v.size),
		State:     nexusState(nx),
		UUID:      nx.uuid,
	}
	for _, c := range nx.children {
		ch := mayastor.Child{State: childState(c), URI: c.replica.uri(nx.node)}
		if c.rebuild != nil && ch.State != mayastor.ChildStateFaulted {
			ch.RebuildProgress = ptr.To(c.rebuild.progress(s.cur))
			out.Rebuilds++
		}
		out.Children = append(out.Children, ch)
	}
	return out
}

func (s *Sim) wirePool(p *simPool) mayastor.Pool {
	out := mayastor.Pool{
		ID: p.id,
		Spec: &mayastor.PoolSpec{
			Disks: slices.Clone(p.disks), ID: p.id, Labels: maps.Clone(p.labels),
			Node: p.node.id, Status: mayastor.SpecStatusCreated,
		},
	}
	if p.reported() {
		out.State = &mayastor.PoolState{
			Capacity: uint64(p.capacity), Disks: slices.Clone(p.disks), ID: p.id, Node: p.node.id,
			Status: p.status, Used: uint64(p.used()), Committed: ptr.To(uint64(p.committed)),
		}
	}
	return out
}

func (s *Sim) wireNode(n *simNode) mayastor.Node {
	spec := &mayastor.NodeSpec{
		GRPCEndpoint: n.endpoint(), ID: n.id, Labels: maps.Clone(n.labels),
		NodeNQN: "nqn.2019-05.io.openebs:node-name:" + n.id, Version: n.version,
	}
	if len(n.cordons) > 0 {
		spec.CordonDrainState = &mayastor.CordonDrainState{
			CordonedState: &mayastor.CordonedState{CordonLabels: slices.Clone(n.cordons)},
		}
	}
	status := mayastor.NodeStatusOnline
	if !n.online {
		status = mayastor.NodeStatusOffline
	}
	return mayastor.Node{
		ID:    n.id,
		Spec:  spec,
		State: &mayastor.NodeState{GRPCEndpoint: n.endpoint(), ID: n.id, Status: status, NodeNQN: spec.NodeNQN, Version: n.version},
	}
}

func (s *Sim) wireReplica(r *simReplica) mayastor.Replica {
	// The share and URI are the replica spec's: nvmf once a nexus on another
	// node shared it, a loopback bdev while unshared (see simReplica.share).
	share := r.share
	if share == "" {
		share = mayastor.ProtocolNone
	}
	var target *simNode
	if share == mayastor.ProtocolNone {
		target = r.node()
	}
	const cluster = 4 << 20
	return mayastor.Replica{
		Node: r.node().id, Pool: r.pool.id, PoolUUID: r.pool.uuid, Share: share, Size: uint64(r.size),
		Space: &mayastor.ReplicaSpaceUsage{
			CapacityBytes: uint64(r.size), AllocatedBytes: uint64(r.allocated),
			ClusterSize: cluster, Clusters: uint64(r.size) / cluster, AllocatedClusters: uint64(r.allocated) / cluster,
		},
		State: r.state(), Thin: r.thin, URI: r.uri(target), UUID: r.uuid, Kind: mayastor.ReplicaKindRegular,
		AllowedHosts: slices.Clone(r.allowedHosts),
	}
}

func wireHistory(nx *simNexus) mayastor.RebuildHistory {
	h := mayastor.RebuildHistory{TargetUUID: nx.uuid, Records: make([]mayastor.RebuildRecord, 0, len(nx.history))}
	for _, r := range nx.history {
		total := uint64(r.bytesTotal) / rebuildBlockSize
		done := uint64(r.bytesDone) / rebuildBlockSize
		h.Records = append(h.Records, mayastor.RebuildRecord{
			ChildURI: r.childURI, SrcURI: r.srcURI, RebuildJobState: r.state,
			BlocksTotal: total, BlocksRecovered: done, BlocksTransferred: done, BlocksRemaining: total - done,
			BlockSize: rebuildBlockSize, IsPartial: r.partial, StartTime: r.start.UTC(), EndTime: r.end.UTC(),
		})
	}
	return h
}

// ---- read operations ----

// ListVolumes is GET /v0/volumes. maxEntries 0 returns every volume.
func (s *Sim) ListVolumes(maxEntries, startingToken int) mayastor.Volumes {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sync()
	if startingToken < 0 {
		startingToken = 0
	}
	end := len(s.volOrder)
	if maxEntries > 0 && startingToken+maxEntries < end {
		end = startingToken + maxEntries
	}
	var out mayastor.Volumes
	out.Entries = []mayastor.Volume{}
	for i := startingToken; i < end; i++ {
		out.Entries = append(out.Entries, s.viewVolume(s.volumes[s.volOrder[i]]))
	}
	if maxEntries > 0 && end < len(s.volOrder) {
		out.NextToken = ptr.To(uint64(end))
	}
	return out
}

// Volume is GET /v0/volumes/{id}.
func (s *Sim) Volume(id string) (mayastor.Volume, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sync()
	v, ok := s.volumes[id]
	if !ok {
		return mayastor.Volume{}, errVolumeNotFound(id)
	}
	return s.viewVolume(v), nil
}

// RebuildHistory is GET /v0/volumes/{id}/rebuild-history: the records of the
// volume's current target.
func (s *Sim) RebuildHistory(id string) (mayastor.RebuildHistory, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sync()
	v, ok := s.volumes[id]
	if !ok {
		return mayastor.RebuildHistory{}, errVolumeNotFound(id)
	}
	nx := v.servingNexus()
	if nx == nil {
		return mayastor.RebuildHistory{}, &APIError{Status: 412, Kind: mayastor.ErrorKindFailedPrecondition,
			Message: "volume target not available", Details: ""}
	}
	return wireHistory(nx), nil
}

// Pools is GET /v0/pools (only those on node when node is not "").
func (s *Sim) Pools(node string) ([]mayastor.Pool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sync()
	if node != "" {
		if _, ok := s.nodes[node]; !ok {
			return nil, errNodeNotFound(node)
		}
	}
	out := []mayastor.Pool{}
	for _, id := range s.poolOrder {
		p := s.pools[id]
		if node == "" || p.node.id == node {
			out = append(out, s.viewPool(p))
		}
	}
	return out, nil
}

// Pool is GET /v0/pools/{id}.
func (s *Sim) Pool(id string) (mayastor.Pool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sync()
	p, ok := s.pools[id]
	if !ok {
		return mayastor.Pool{}, errPoolNotFound(id)
	}
	return s.viewPool(p), nil
}

// Nodes is GET /v0/nodes.
func (s *Sim) Nodes() []mayastor.Node {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sync()
	out := []mayastor.Node{}
	for _, id := range s.nodeOrder {
		out = append(out, s.viewNode(s.nodes[id]))
	}
	return out
}

// Node is GET /v0/nodes/{id}.
func (s *Sim) Node(id string) (mayastor.Node, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sync()
	n, ok := s.nodes[id]
	if !ok {
		return mayastor.Node{}, errNodeNotFound(id)
	}
	return s.viewNode(n), nil
}

// Replicas is GET /v0/replicas, ordered by uuid.
func (s *Sim) Replicas() []mayastor.Replica {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sync()
	ids := slices.Sorted(maps.Keys(s.replicas))
	out := make([]mayastor.Replica, 0, len(ids))
	for _, id := range ids {
		if r := s.replicas[id]; !r.specOnly {
			out = append(out, s.wireReplica(r))
		}
	}
	return out
}

// Replica is GET /v0/replicas/{id}.
func (s *Sim) Replica(id string) (mayastor.Replica, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sync()
	r, ok := s.replicas[id]
	if !ok || r.specOnly {
		return mayastor.Replica{}, errReplicaNotFound(id)
	}
	return s.wireReplica(r), nil
}

// VolumeCount is the number of volumes.
func (s *Sim) VolumeCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.volumes)
}

// Specs is GET /v0/specs: the core agent's specs. Replicas come in the order
// of its global replica map (order.go; core/registry/service.rs:52-61 →
// core/pool/specs.rs:266-271 walk the IndexMap's values, read upstream); the
// order decides removal ties. Volumes and pools come in
// the simulator's listing order, nexuses in their volume's order (those maps
// are not modelled as IndexMaps). Replica owners name the volume only (nexus
// owners are not modelled); no operation is ever in progress.
func (s *Sim) Specs() mayastor.Specs {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sync()
	out := mayastor.Specs{
		Nexuses:  []mayastor.NexusSpec{},
		Pools:    make([]mayastor.PoolSpec, 0, len(s.poolOrder)),
		Replicas: make([]mayastor.ReplicaSpec, 0, len(s.order)),
		Volumes:  make([]mayastor.VolumeSpec, 0, len(s.volOrder)),
	}
	for _, id := range s.volOrder {
		v := s.volumes[id]
		out.Volumes = append(out.Volumes, s.wireVolumeSpec(v))
		if nx := v.target; nx != nil {
			ns := mayastor.NexusSpec{
				Children: make([]string, 0, len(nx.children)),
				Managed:  true, Node: nx.node.id, Owner: v.uuid, Share: mayastor.ProtocolNvmf,
				Size: uint64(v.size), Status: mayastor.SpecStatusCreated, UUID: nx.uuid,
			}
			for _, c := range nx.children {
				ns.Children = append(ns.Children, c.replica.uri(nx.node))
			}
			out.Nexuses = append(out.Nexuses, ns)
		}
	}
	for _, id := range s.poolOrder {
		out.Pools = append(out.Pools, *s.wirePool(s.pools[id]).Spec)
	}
	for _, r := range s.order {
		share := r.share
		if share == "" {
			share = mayastor.ProtocolNone
		}
		rs := mayastor.ReplicaSpec{
			Pool: r.pool.id, PoolUUID: r.pool.uuid, Share: share, Size: uint64(r.size),
			Status: mayastor.SpecStatusCreated, Thin: r.thin, UUID: r.uuid, Kind: mayastor.ReplicaKindRegular,
		}
		if r.volume != nil {
			rs.Managed, rs.Owners.Volume = true, r.volume.uuid
		} // else created on a pool: managed false, no owners (poolreplica.go)
		if r.deleting {
			rs.Status = mayastor.SpecStatusDeleting
		}
		out.Replicas = append(out.Replicas, rs)
	}
	return out
}
