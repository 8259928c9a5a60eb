package sim

import (
	"fmt"
	"time"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// The in-memory model. Every field is guarded by Sim.mu.

type simNode struct {
	id      string
	index   int // position in the scenario; gives the node its IP address
	labels  map[string]string
	cordons []string
	online  bool
	nexuses int    // targets hosted, for nexus placement
	version string // what its io-engine reports
}

func (n *simNode) ip() string { return fmt.Sprintf("10.1.%d.%d", n.index/250, n.index%250+1) }

func (n *simNode) endpoint() string { return n.ip() + ":10124" }

type simPool struct {
	id       string
	uuid     string
	node     *simNode
	disks    []string
	labels   map[string]string
	capacity int64
	// status is the status io-engine would report while the node is up.
	status mayastor.PoolStatus
	// filler is space consumed outside replicas (the FillPool fault).
	filler    int64
	allocated int64 // sum of the replicas' allocated bytes
	committed int64 // sum of the replicas' sizes
	replicas  int
}

func (p *simPool) used() int64 {
	u := p.allocated + p.filler
	if u > p.capacity {
		return p.capacity
	}
	return u
}

func (p *simPool) free() int64 { return p.capacity - p.used() }

// reported says whether io-engine reports the pool at all (its node is up).
func (p *simPool) reported() bool { return p.node.online }

// effectiveStatus is the status the scheduler and the API see.
func (p *simPool) effectiveStatus() mayastor.PoolStatus {
	if !p.node.online {
		return mayastor.PoolStatusUnknown
	}
	return p.status
}

type simReplica struct {
	uuid      string
	volume    *simVolume
	pool      *simPool
	size      int64
	thin      bool
	allocated int64
	faulted   bool
	// share is the replica spec's share protocol: ProtocolNone when the
	// replica is not shared (created so, or unshared because a nexus on its
	// own node opened it through the loopback bdev), ProtocolNvmf once a
	// nexus on another node made it a child. The removal ranking calls an
	// unshared replica "local" (upstream core/controller/scheduling/mod.rs:166-167;
	// share/unshare in core/nexus/operations_helper.rs:131-171, read upstream).
	share mayastor.Protocol
	// slot is the replica's index in Sim.order, the core agent's global
	// replica map (see Sim.order); -1 once its spec is gone.
	slot int
	// The fields below serve replicas created directly on a pool
	// (poolreplica.go), which have no volume: volume is nil.
	//
	// specOnly: the core agent holds a spec but io-engine has no replica (a
	// create the node refused after the spec was appended).
	specOnly bool
	// deleting: the spec's status is Deleting; the replica garbage collector
	// destroys it.
	deleting     bool
	allowedHosts []string
}

// hasSpec says whether the core agent's replica map holds r's spec.
func (r *simReplica) hasSpec() bool { return r.slot >= 0 }

func (r *simReplica) node() *simNode { return r.pool.node }

// state is the replica state as io-engine reports it.
func (r *simReplica) state() mayastor.ReplicaState {
	switch {
	case !r.pool.node.online:
		return mayastor.ReplicaStateUnknown
	case r.faulted:
		return mayastor.ReplicaStateFaulted
	}
	switch r.pool.status {
	case mayastor.PoolStatusFaulted:
		return mayastor.ReplicaStateFaulted
	case mayastor.PoolStatusUnknown:
		return mayastor.ReplicaStateUnknown
	}
	return mayastor.ReplicaStateOnline
}

func (r *simReplica) nqn() string { return "nqn.2019-05.io.openebs:" + r.uuid }

// uri is how a nexus on node target reaches the replica: a local bdev or an
// NVMe-oF share.
func (r *simReplica) uri(target *simNode) string {
	if target != nil && target == r.pool.node {
		return "bdev:///" + r.uuid + "?uuid=" + r.uuid
	}
	return "nvmf://" + r.pool.node.ip() + ":8420/" + r.nqn() + "?uuid=" + r.uuid
}

func (r *simReplica) setAllocated(b int64) {
	r.pool.allocated += b - r.allocated
	r.allocated = b
}

type rebuildJob struct {
	start, end time.Time
	srcURI     string
	// partial says the job replays the child's I/O log (a faulted child back
	// within faulted_child_wait_period) instead of copying the whole volume.
	partial bool
	// bytes is what the job copies (the volume size for a full rebuild).
	bytes int64
	// faultAt, when set, is when an injected fault fails the job.
	faultAt time.Time
}

func (j *rebuildJob) progress(now time.Time) int {
	total := j.end.Sub(j.start)
	if total <= 0 {
		return 100
	}
	p := int(now.Sub(j.start) * 100 / total)
	switch {
	case p < 0:
		return 0
	case p > 99:
		return 99 // 100 only once completed, when the job is gone
	}
	return p
}

type simChild struct {
	replica *simReplica
	// state is the child state the nexus holds while the replica is reachable.
	state   mayastor.ChildState
	rebuild *rebuildJob
	// faultedAt is when the child faulted; ioLog says the nexus kept an I/O
	// log for it (it was an in-sync Online child when it faulted), which makes
	// a partial rebuild possible if its replica comes back within
	// faulted_child_wait_period (core/controller/reconciler/nexus/mod.rs:166-224).
	faultedAt time.Time
	ioLog     bool
}

type simNexus struct {
	uuid     string
	node     *simNode
	children []*simChild
	context  map[string]string
	// history is the nexus's rebuild records (io-engine keeps them per nexus).
	history []rebuildRecord
	// shutdown: a republish shut this target down and then failed to create
	// the new one; the volume's spec still points here (ha.go).
	shutdown bool
}

func (n *simNexus) child(r *simReplica) *simChild {
	for _, c := range n.children {
		if c.replica == r {
			return c
		}
	}
	return nil
}

func (n *simNexus) removeChild(r *simReplica) {
	for i, c := range n.children {
		if c.replica == r {
			n.children = append(n.children[:i], n.children[i+1:]...)
			return
		}
	}
}

// childState is what the nexus reports for c: an unreachable or faulted
// replica is a Faulted child.
func childState(c *simChild) mayastor.ChildState {
	if c.replica.state() != mayastor.ReplicaStateOnline {
		return mayastor.ChildStateFaulted
	}
	return c.state
}

type rebuildRecord struct {
	childURI, srcURI string
	state            mayastor.RebuildJobState
	partial          bool
	bytesTotal       int64
	bytesDone        int64
	start, end       time.Time
}

type simVolume struct {
	uuid        string
	size        int64
	thin        bool
	numReplicas int
	inclusion   map[string]string
	selfHeal    bool
	replicas    []*simReplica
	target      *simNexus
	// nexusInfo is the persisted NexusInfo of the volume's last nexus
	// (VolumeSpec.health_info_id is the last nexus id, upstream
	// control-plane/stor-port/src/types/v0/store/volume.rs:432-437): replica
	// uuid → healthy. Every new nexus (publish, republish, re-creation)
	// starts its own, holding only the children it opened, so a replica left
	// out has no entry and counts as unhealthy. nil until the volume is
	// first published: then every replica counts as healthy
	// (core/controller/scheduling/volume.rs:425-431).
	nexusInfo map[string]bool
	// faultNextRebuild, when >= 0, fails the next rebuild of this volume at
	// that fraction of its duration.
	faultNextRebuild float64
	io               ioCounters
	volExtras        // affinity group, snapshots, injected attach/republish failures (extras.go)
}

func (v *simVolume) pvName() string { return "pvc-" + v.uuid }

// servingNexus is the target if its node is up (the nexus is reachable).
func (v *simVolume) servingNexus() *simNexus {
	if v.target != nil && v.target.node.online && !v.target.shutdown {
		return v.target
	}
	return nil
}

func (v *simVolume) removeReplica(r *simReplica) {
	for i, x := range v.replicas {
		if x == r {
			v.replicas = append(v.replicas[:i], v.replicas[i+1:]...)
			break
		}
	}
	r.pool.replicas--
	r.pool.committed -= r.size
	r.pool.allocated -= r.allocated
	delete(v.nexusInfo, r.uuid)
}

// status is the volume status the control plane reports
// (core/volume/registry.rs:108-140, read upstream).
func (v *simVolume) status() mayastor.VolumeStatus {
	if v.target != nil {
		nx := v.servingNexus()
		if nx == nil {
			return mayastor.VolumeStatusUnknown
		}
		return nexusVolumeStatus(nx, v.numReplicas)
	}
	// Unpublished: upstream counts replica *specs*, not online replicas
	// (core/volume/registry.rs:129-137).
	switch {
	case len(v.replicas) >= v.numReplicas:
		return mayastor.VolumeStatusOnline
	case len(v.replicas) == 0:
		return mayastor.VolumeStatusFaulted
	}
	return mayastor.VolumeStatusDegraded
}

// nexusVolumeStatus is the status of a published volume: the nexus's, except
// that an Online nexus whose child count differs from num_replicas, in either
// direction, makes the volume Degraded (core/volume/registry.rs:115-122).
func nexusVolumeStatus(nx *simNexus, want int) mayastor.VolumeStatus {
	switch nexusState(nx) {
	case mayastor.NexusStateFaulted:
		return mayastor.VolumeStatusFaulted
	case mayastor.NexusStateDegraded:
		return mayastor.VolumeStatusDegraded
	}
	if len(nx.children) != want {
		return mayastor.VolumeStatusDegraded
	}
	return mayastor.VolumeStatusOnline
}

func nexusState(nx *simNexus) mayastor.NexusState {
	online := 0
	for _, c := range nx.children {
		if childState(c) == mayastor.ChildStateOnline {
			online++
		}
	}
	switch {
	case online == 0:
		return mayastor.NexusStateFaulted
	case online < len(nx.children):
		return mayastor.NexusStateDegraded
	}
	return mayastor.NexusStateOnline
}

// healthy is the persisted NexusInfo verdict on replica r.
func (v *simVolume) healthy(r *simReplica) bool {
	if v.nexusInfo == nil {
		return true
	}
	return v.nexusInfo[r.uuid]
}
