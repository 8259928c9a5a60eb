package sim

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// Replicas created directly on a pool (poolreplica.go).

const (
	phA = "00000000-0000-4000-8000-0000000000a1"
	phB = "00000000-0000-4000-8000-0000000000a2"
	phC = "00000000-0000-4000-8000-0000000000a3"
)

// Four nodes with a pool each and an application node without one.
const fourPools = `
rebuild_bandwidth: 100MiB
nodes: [{id: n1}, {id: n2}, {id: n3}, {id: n4}, {id: app}]
pools:
  - {id: p1, node: n1, capacity: 100GiB}
  - {id: p2, node: n2, capacity: 100GiB}
  - {id: p3, node: n3, capacity: 100GiB}
  - {id: p4, node: n4, capacity: 100GiB}
`

func mustCreatePoolReplica(t testing.TB, s *Sim, pool, id string, req CreateReplicaRequest) mayastor.Replica {
	t.Helper()
	r, err := s.CreatePoolReplica(pool, id, req)
	if err != nil {
		t.Fatalf("create replica %s on %s: %v", id, pool, err)
	}
	return r
}

func specOf(t testing.TB, s *Sim, id string) (mayastor.ReplicaSpec, bool) {
	t.Helper()
	for _, r := range s.Specs().Replicas {
		if r.UUID == id {
			return r, true
		}
	}
	return mayastor.ReplicaSpec{}, false
}

func poolState(t testing.TB, s *Sim, id string) mayastor.PoolState {
	t.Helper()
	p, err := s.Pool(id)
	if err != nil || p.State == nil {
		t.Fatalf("pool %s: %v (state %v)", id, err, p.State)
	}
	return *p.State
}

// The REST body becomes a request with managed: false and no owners
// (control-plane/rest/src/versions/v0.rs:119-137), whose spec is appended to
// the core agent's global replica map (core/pool/specs.rs:323-333, via
// core/pool/replica_operations.rs:45-48): last in GET /v0/specs, listed by
// GET /v0/replicas and /v0/replicas/{id}.
func TestPoolReplicaIsUnmanagedAndAppendedToTheReplicaMap(t *testing.T) {
	s, _ := newTestSim(t, fourPools+`
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [p1, p2], published: true, nexus_node: app}
`)
	before := s.ReplicaOrder()
	got := mustCreatePoolReplica(t, s, "p3", phA, CreateReplicaRequest{Size: 8 << 20, Share: mayastor.ProtocolNvmf,
		AllowedHosts: []string{"nqn.2014-08.org.nvmexpress:uuid:1"}})
	if got.UUID != phA || got.Pool != "p3" || got.Node != "n3" || got.State != mayastor.ReplicaStateOnline ||
		got.Share != mayastor.ProtocolNvmf || got.Size != 8<<20 || !slices.Equal(got.AllowedHosts, []string{"nqn.2014-08.org.nvmexpress:uuid:1"}) {
		t.Fatalf("created replica %+v", got)
	}
	if want := append(before, phA); !slices.Equal(s.ReplicaOrder(), want) {
		t.Fatalf("replica map %v, want %v (appended)", s.ReplicaOrder(), want)
	}
	specs := s.Specs().Replicas
	last := specs[len(specs)-1]
	if last.UUID != phA || last.Managed || last.Owners.Volume != "" || len(last.Owners.Nexuses) != 0 ||
		last.Status != mayastor.SpecStatusCreated || last.Pool != "p3" || last.Share != mayastor.ProtocolNvmf {
		t.Fatalf("last spec %+v, want the new replica, unmanaged, without owners", last)
	}
	if r, err := s.Replica(phA); err != nil || r.Pool != "p3" {
		t.Fatalf("GET /v0/replicas/%s: %+v, %v", phA, r, err)
	}
	if !slices.ContainsFunc(s.Replicas(), func(r mayastor.Replica) bool { return r.UUID == phA }) {
		t.Fatal("GET /v0/replicas does not list it")
	}
	if v := getVolume(t, s, vol1); len(v.State.ReplicaTopology) != 2 {
		t.Fatalf("the volume adopted it: %v", poolsOf(v))
	}
}

// It counts on its pool: a thick replica's size is used and committed, a
// thin one's only committed (io-engine reports the pool's lvols, whatever
// owns them).
func TestPoolReplicaCountsInThePoolsCapacity(t *testing.T) {
	s, _ := newTestSim(t, fourPools)
	mustCreatePoolReplica(t, s, "p1", phA, CreateReplicaRequest{Size: 10 << 30})
	mustCreatePoolReplica(t, s, "p1", phB, CreateReplicaRequest{Size: 5 << 30, Thin: true})
	st := poolState(t, s, "p1")
	if st.Used != 10<<30 || st.Committed == nil || *st.Committed != 15<<30 {
		t.Fatalf("pool used %d committed %v, want 10GiB and 15GiB", st.Used, st.Committed)
	}
	if err := s.DeletePoolReplica("p1", phA); err != nil {
		t.Fatal(err)
	}
	st = poolState(t, s, "p1")
	if st.Used != 0 || *st.Committed != 5<<30 {
		t.Fatalf("after the delete: used %d committed %d, want 0 and 5GiB", st.Used, *st.Committed)
	}
}

// The scheduler counts every replica on a pool (PoolItem::len,
// core/controller/scheduling/resources/mod.rs:43-45) in its weighted sort
// (replica count 40, free space 60 for thick volumes,
// core/controller/scheduling/volume_policy/thick.rs:12-13): a tiny replica on
// p1 outweighs p1's 10% free-space advantage over p2, so the new replica of
// the volume goes to p2, for every seed.
func TestPoolReplicaCountsForPlacementScoring(t *testing.T) {
	for seed := uint64(1); seed <= 10; seed++ {
		s, _ := newTestSim(t, `
nodes: [{id: n0}, {id: n1}, {id: n2}]
pools:
  - {id: p0, node: n0, capacity: 100GiB}
  - {id: p1, node: n1, capacity: 100GiB}
  - {id: p2, node: n2, capacity: 100GiB, filler: 10GiB}
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [p0], published: true}
`, WithSeed(seed))
		mustCreatePoolReplica(t, s, "p1", phA, CreateReplicaRequest{Size: 4 << 20})
		v := mustSetCount(t, s, vol1, 2)
		if got := poolsOf(v); !slices.Equal(got, []string{"p0", "p2"}) {
			t.Fatalf("seed %d: replicas on %v, want [p0 p2]: p1 holds a replica", seed, got)
		}
	}
}

// Creation is refused on a cordoned node, before any spec is appended
// (core/pool/replica_operations.rs:37-41): CordonedNode is
// FailedPrecondition, 412 (control-plane/agents/src/common/errors.rs:601-606).
func TestPoolReplicaRefusedOnACordonedNode(t *testing.T) {
	s, _ := newTestSim(t, fourPools)
	if _, err := s.Cordon("n2", "keep-out"); err != nil {
		t.Fatal(err)
	}
	before := s.ReplicaOrder()
	_, err := s.CreatePoolReplica("p2", phA, CreateReplicaRequest{Size: 4 << 20})
	wantAPIError(t, err, http.StatusPreconditionFailed, mayastor.ErrorKindFailedPrecondition)
	_, err = s.CreateNodePoolReplica("n2", "p2", phA, CreateReplicaRequest{Size: 4 << 20})
	wantAPIError(t, err, http.StatusPreconditionFailed, mayastor.ErrorKindFailedPrecondition)
	if !slices.Equal(s.ReplicaOrder(), before) {
		t.Fatal("a refused create changed the replica map")
	}
	if _, err := s.Uncordon("n2", "keep-out"); err != nil {
		t.Fatal(err)
	}
	mustCreatePoolReplica(t, s, "p2", phA, CreateReplicaRequest{Size: 4 << 20})
}

// An existing spec is AlreadyExists (core/controller/resources/operations_helper.rs:696-700),
// HTTP 422 (control-plane/stor-port/src/types/mod.rs:45-48), a volume's
// replica as well; an unknown pool is 404; a replica larger than the pool is
// io-engine's CapacityOverflow, InvalidArgument 400, and its spec is deleted
// at once (OnCreateFail::eeinval_delete, operations_helper.rs:66-78).
func TestPoolReplicaCreateErrors(t *testing.T) {
	s, _ := newTestSim(t, fourPools+`
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [p1]}
`)
	mustCreatePoolReplica(t, s, "p2", phA, CreateReplicaRequest{Size: 4 << 20})
	before := s.ReplicaOrder()
	_, err := s.CreatePoolReplica("p2", phA, CreateReplicaRequest{Size: 4 << 20})
	wantAPIError(t, err, http.StatusUnprocessableEntity, mayastor.ErrorKindAlreadyExists)
	_, err = s.CreatePoolReplica("p3", replicaOnPool(getVolume(t, s, vol1), "p1"), CreateReplicaRequest{Size: 4 << 20})
	wantAPIError(t, err, http.StatusUnprocessableEntity, mayastor.ErrorKindAlreadyExists)
	_, err = s.CreatePoolReplica("nope", phB, CreateReplicaRequest{Size: 4 << 20})
	wantAPIError(t, err, http.StatusNotFound, mayastor.ErrorKindNotFound)
	_, err = s.CreatePoolReplica("p3", phB, CreateReplicaRequest{Size: 101 << 30, Thin: true})
	wantAPIError(t, err, http.StatusBadRequest, mayastor.ErrorKindInvalidArgument)
	if !slices.Equal(s.ReplicaOrder(), before) {
		t.Fatalf("replica map %v after refused creates, want %v", s.ReplicaOrder(), before)
	}
}

// A thick replica larger than the pool's free space: io-engine's ENOSPC is
// ResourceExhausted (io-engine/src/grpc/v0/mayastor_grpc.rs:228-236), 507.
// The spec, appended before the node was called, is left Deleting
// (operations_helper.rs:248-260): shown in GET /v0/specs, not in GET
// /v0/replicas; the same uuid meanwhile answers 409 Deleting (702;
// types/mod.rs:109-112). The garbage collector removes it at its next poll,
// every 5th reconcile tick (core/controller/reconciler/replica/mod.rs:24,
// 160-170), with a swap_remove: the map's last entry takes its slot.
func TestPoolReplicaWithoutRoomLeavesADeletingSpecUntilCollected(t *testing.T) {
	s, clk := newTestSim(t, fourPools) // reconcile_interval 10s: collected at 50s
	if err := s.FillPool("p1", 95<<30); err != nil {
		t.Fatal(err)
	}
	_, err := s.CreatePoolReplica("p1", phA, CreateReplicaRequest{Size: 10 << 30})
	wantAPIError(t, err, http.StatusInsufficientStorage, mayastor.ErrorKindResourceExhausted)
	mustCreatePoolReplica(t, s, "p2", phB, CreateReplicaRequest{Size: 4 << 20})
	if got := s.ReplicaOrder(); !slices.Equal(got, []string{phA, phB}) {
		t.Fatalf("replica map %v, want [%s %s]", got, phA, phB)
	}
	if sp, ok := specOf(t, s, phA); !ok || sp.Status != mayastor.SpecStatusDeleting || sp.Managed {
		t.Fatalf("spec %+v (found %v), want Deleting", sp, ok)
	}
	if _, err := s.Replica(phA); err == nil {
		t.Fatal("GET /v0/replicas/{id} finds a replica io-engine never created")
	}
	if st := poolState(t, s, "p1"); *st.Committed != 0 {
		t.Fatalf("pool committed %d, want 0", *st.Committed)
	}
	_, err = s.CreatePoolReplica("p2", phA, CreateReplicaRequest{Size: 4 << 20})
	wantAPIError(t, err, http.StatusConflict, mayastor.ErrorKindDeleting)

	clk.Step(49 * time.Second)
	if got := s.ReplicaOrder(); len(got) != 2 {
		t.Fatalf("collected before the garbage collector's poll: %v", got)
	}
	clk.Step(time.Second)
	if got := s.ReplicaOrder(); !slices.Equal(got, []string{phB}) {
		t.Fatalf("replica map %v after the collection, want [%s]", got, phB)
	}
	mustCreatePoolReplica(t, s, "p2", phA, CreateReplicaRequest{Size: 4 << 20})
}

// A node that is not online fails the create after the spec was appended
// (NodeNotOnline 412, core/node/wrapper.rs:1220-1225): the spec stays
// Deleting until the node is back and the garbage collector polls.
func TestPoolReplicaOnAnOfflineNodeLeavesADeletingSpec(t *testing.T) {
	s, clk := newTestSim(t, fourPools)
	if err := s.SetNodeOnline("n1", false); err != nil {
		t.Fatal(err)
	}
	_, err := s.CreatePoolReplica("p1", phA, CreateReplicaRequest{Size: 4 << 20})
	wantAPIError(t, err, http.StatusPreconditionFailed, mayastor.ErrorKindFailedPrecondition)
	clk.Step(2 * time.Minute)
	if sp, ok := specOf(t, s, phA); !ok || sp.Status != mayastor.SpecStatusDeleting {
		t.Fatalf("spec %+v (found %v) while the node is down, want Deleting", sp, ok)
	}
	if err := s.SetNodeOnline("n1", true); err != nil {
		t.Fatal(err)
	}
	clk.Step(50 * time.Second)
	if _, ok := specOf(t, s, phA); ok {
		t.Fatal("spec not collected once the node returned")
	}
}

// DELETE removes the spec with a swap_remove (core/pool/specs.rs:397-400):
// the map's last entry takes the freed slot. A volume's replica is refused
// InUse 409 (start_destroy_by, core/controller/resources/operations_helper.rs:318-363;
// control-plane/stor-port/src/types/mod.rs:129-132); an unknown pool or
// replica is 404 (control-plane/rest/service/src/v0/replicas.rs:44-80).
func TestPoolReplicaDelete(t *testing.T) {
	s, _ := newTestSim(t, fourPools+`
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [p1]}
`)
	vr := replicaOnPool(getVolume(t, s, vol1), "p1")
	for _, id := range []string{phA, phB, phC} {
		mustCreatePoolReplica(t, s, "p2", id, CreateReplicaRequest{Size: 4 << 20})
	}
	if err := s.DeletePoolReplica("p2", phA); err != nil {
		t.Fatal(err)
	}
	if got, want := s.ReplicaOrder(), []string{vr, phC, phB}; !slices.Equal(got, want) {
		t.Fatalf("replica map %v after deleting %s, want %v (the last entry took its slot)", got, phA, want)
	}
	if _, err := s.Replica(phA); err == nil {
		t.Fatal("deleted replica still listed")
	}
	err := s.DeletePoolReplica("p2", phA)
	wantAPIError(t, err, http.StatusNotFound, mayastor.ErrorKindNotFound)
	err = s.DeletePoolReplica("nope", phB)
	wantAPIError(t, err, http.StatusNotFound, mayastor.ErrorKindNotFound)
	err = s.DeletePoolReplica("p1", phB) // not on p1
	wantAPIError(t, err, http.StatusNotFound, mayastor.ErrorKindNotFound)
	err = s.DeletePoolReplica("p1", vr)
	wantAPIError(t, err, http.StatusConflict, mayastor.ErrorKindInUse)
	if v := getVolume(t, s, vol1); len(v.State.ReplicaTopology) != 1 {
		t.Fatal("the volume lost its replica")
	}
}

// The node endpoints take the node from the path
// (control-plane/rest/service/src/v0/replicas.rs:16-80). Naming a pool that
// is not on that node fails in io-engine: a create is NotFound and its spec
// deleted at once; a destroy is PoolNotLoaded 412 (core/node/wrapper.rs:1386-1398)
// and leaves the spec Deleting for the garbage collector. Naming another
// node and one of its own pools answers that the replica is not there, which
// the destroy takes as done (core/pool/replica_operations.rs:90-95): the spec
// goes, the replica stays on its pool, listed and counted.
func TestNodePoolReplicaEndpoints(t *testing.T) {
	s, clk := newTestSim(t, fourPools)
	r, err := s.CreateNodePoolReplica("n1", "p1", phA, CreateReplicaRequest{Size: 1 << 30})
	if err != nil || r.Pool != "p1" || r.Node != "n1" {
		t.Fatalf("create through the node endpoint: %+v, %v", r, err)
	}
	before := s.ReplicaOrder()
	_, err = s.CreateNodePoolReplica("n2", "p1", phB, CreateReplicaRequest{Size: 1 << 30})
	wantAPIError(t, err, http.StatusNotFound, mayastor.ErrorKindNotFound)
	_, err = s.CreateNodePoolReplica("nope", "p1", phB, CreateReplicaRequest{Size: 1 << 30})
	wantAPIError(t, err, http.StatusNotFound, mayastor.ErrorKindNotFound)
	if !slices.Equal(s.ReplicaOrder(), before) {
		t.Fatal("a create naming the wrong node left a spec")
	}

	// Pool not on the node: 412 PoolNotLoaded, spec left Deleting, collected.
	err = s.DeleteNodePoolReplica("n2", "p1", phA)
	wantAPIError(t, err, http.StatusPreconditionFailed, mayastor.ErrorKindFailedPrecondition)
	if sp, _ := specOf(t, s, phA); sp.Status != mayastor.SpecStatusDeleting {
		t.Fatalf("spec status %s, want Deleting", sp.Status)
	}
	clk.Step(50 * time.Second)
	if _, ok := specOf(t, s, phA); ok {
		t.Fatal("Deleting spec not collected")
	}
	if st := poolState(t, s, "p1"); st.Used != 0 {
		t.Fatalf("pool p1 used %d after the collection, want 0", st.Used)
	}

	// The right node and pool: 204, gone.
	mustCreatePoolReplica(t, s, "p1", phB, CreateReplicaRequest{Size: 1 << 30})
	if err := s.DeleteNodePoolReplica("n1", "p1", phB); err != nil {
		t.Fatal(err)
	}
	if st := poolState(t, s, "p1"); st.Used != 0 {
		t.Fatalf("pool p1 used %d, want 0", st.Used)
	}

	// Another node and its own pool: the spec goes, the replica stays.
	mustCreatePoolReplica(t, s, "p1", phC, CreateReplicaRequest{Size: 1 << 30})
	if err := s.DeleteNodePoolReplica("n2", "p2", phC); err != nil {
		t.Fatal(err)
	}
	if _, ok := specOf(t, s, phC); ok {
		t.Fatal("spec kept")
	}
	if r, err := s.Replica(phC); err != nil || r.Pool != "p1" {
		t.Fatalf("the replica should live on without a spec: %+v, %v", r, err)
	}
	if st := poolState(t, s, "p1"); st.Used != 1<<30 {
		t.Fatalf("pool p1 used %d, want 1GiB", st.Used)
	}
	// Re-created on another pool: not modelled, refused 422.
	_, err = s.CreatePoolReplica("p2", phC, CreateReplicaRequest{Size: 4 << 20})
	wantAPIError(t, err, http.StatusUnprocessableEntity, mayastor.ErrorKindAlreadyExists)
	// Re-created on its pool, io-engine answers that it exists and the node
	// wrapper returns the replica it finds by uuid (core/node/wrapper.rs:1319-1331):
	// a spec again, appended, for the old replica (1GiB, not the 4MiB asked).
	r, err = s.CreatePoolReplica("p1", phC, CreateReplicaRequest{Size: 4 << 20})
	if err != nil || r.Size != 1<<30 {
		t.Fatalf("re-create: %+v, %v; want the existing 1GiB replica", r, err)
	}
	if order := s.ReplicaOrder(); order[len(order)-1] != phC {
		t.Fatalf("replica map %v, want %s last", order, phC)
	}
	if st := poolState(t, s, "p1"); st.Used != 1<<30 {
		t.Fatalf("pool p1 used %d, want 1GiB (counted once)", st.Used)
	}
	s.RestartCoreAgent() // the adopted spec is a stored spec like any other
	if err := s.DeleteNodePoolReplica("n2", "p2", phC); err != nil {
		t.Fatal(err)
	}
	// Without a spec, the pool endpoint still destroys it.
	if err := s.DeletePoolReplica("p1", phC); err != nil {
		t.Fatal(err)
	}
	if st := poolState(t, s, "p1"); st.Used != 0 {
		t.Fatalf("pool p1 used %d, want 0", st.Used)
	}
}

// The placeholder device: the removal ranking and hot spare see only the
// replicas a volume owns (core/volume/specs.rs:565-574), so a replica
// created on a pool is never removed by a decrease, but a decrease's
// swap_remove moves it into the freed slot when it is the map's last entry.
// Here the next decrease then removes the older source, not the replica
// rebuilt before the placeholder was made. Self-heal and a core-agent restart
// leave it alone (core/controller/reconciler/replica/mod.rs:143-158 destroys
// only managed orphans).
func TestPoolReplicaTakesTheFreedSlotAndIsNeverACandidate(t *testing.T) {
	s, clk := newTestSim(t, fourPools+`
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [p1, p2], published: true, nexus_node: app}
`)
	v := getVolume(t, s, vol1)
	r1, r2 := replicaOnPool(v, "p1"), replicaOnPool(v, "p2")
	v = mustSetCount(t, s, vol1, 3)
	r3 := v.Spec.UUID // placeholder, replaced below
	for id := range v.State.ReplicaTopology {
		if id != r1 && id != r2 {
			r3 = id
		}
	}
	clk.Step(time.Minute) // rebuilt
	mustCreatePoolReplica(t, s, "p1", phA, CreateReplicaRequest{Size: 4 << 20})
	if got, want := s.ReplicaOrder(), []string{r1, r2, r3, phA}; !slices.Equal(got, want) {
		t.Fatalf("replica map %v, want %v", got, want)
	}
	mustSetCount(t, s, vol1, 2)
	if got, want := s.ReplicaOrder(), []string{phA, r2, r3}; !slices.Equal(got, want) {
		t.Fatalf("replica map %v after the decrease, want %v: r1 removed, the placeholder in its slot", got, want)
	}
	mustSetCount(t, s, vol1, 3)
	clk.Step(time.Minute)
	v = mustSetCount(t, s, vol1, 2)
	if _, ok := v.State.ReplicaTopology[r2]; ok {
		t.Fatalf("r2 kept, replicas %v: the source before the rebuilt r3 goes next", poolsOf(v))
	}
	if _, ok := v.State.ReplicaTopology[r3]; !ok {
		t.Fatal("r3 removed")
	}
	clk.Step(10 * time.Minute) // self-heal and garbage collection ticks
	s.RestartCoreAgent()
	if sp, ok := specOf(t, s, phA); !ok || sp.Status != mayastor.SpecStatusCreated {
		t.Fatalf("placeholder spec %+v (found %v) after self-heal and a restart", sp, ok)
	}
	if _, err := s.Replica(phA); err != nil {
		t.Fatal(err)
	}
}

// A core-agent restart refills the map from the store in key order
// (order.go); the stored spec of a replica created on a pool is part of it.
func TestPoolReplicaKeptAcrossACoreAgentRestart(t *testing.T) {
	s, _ := newTestSim(t, fourPools+`
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [p1, p2]}
`)
	mustCreatePoolReplica(t, s, "p3", phA, CreateReplicaRequest{Size: 4 << 20})
	s.RestartCoreAgent()
	order := s.ReplicaOrder()
	if len(order) != 3 || order[0] != phA || !slices.IsSorted(order) {
		t.Fatalf("replica map %v after the restart, want 3 entries in uuid order, %s first", order, phA)
	}
}

// The ENOSPC reconciler moves a volume's thin child off a pool out of space
// and never the replicas created on it
// (core/controller/reconciler/pool/capacity.rs:86-90).
func TestPoolReplicaNotMovedByTheENOSPCReconciler(t *testing.T) {
	s, clk := newTestSim(t, fourPools+`
volumes:
  - {uuid: `+vol1+`, size: 10GiB, thin: true, allocated: 2GiB, replicas: [p1, p2], published: true, nexus_node: app}
`)
	// A placeholder that takes all the space left on p1.
	mustCreatePoolReplica(t, s, "p1", phA, CreateReplicaRequest{Size: 98 << 30})
	if st := poolState(t, s, "p1"); st.Used != st.Capacity {
		t.Fatalf("p1 used %d of %d, want full", st.Used, st.Capacity)
	}
	clk.Step(time.Minute)
	if v := getVolume(t, s, vol1); slices.Contains(poolsOf(v), "p1") {
		t.Fatalf("the volume's thin replica was not moved off the full pool: %v", poolsOf(v))
	}
	if r, err := s.Replica(phA); err != nil || r.Pool != "p1" {
		t.Fatalf("placeholder %+v, %v: want it kept on p1", r, err)
	}
}

// A fault injected into a replica created on a pool shows in its state; it
// belongs to no volume, so no nexus or self-heal reacts.
func TestFaultOfAPoolReplica(t *testing.T) {
	s, clk := newTestSim(t, fourPools)
	mustCreatePoolReplica(t, s, "p1", phA, CreateReplicaRequest{Size: 4 << 20})
	if err := s.FaultReplica(phA); err != nil {
		t.Fatal(err)
	}
	clk.Step(time.Minute)
	if r, err := s.Replica(phA); err != nil || r.State != mayastor.ReplicaStateFaulted {
		t.Fatalf("replica %+v, %v: want Faulted", r, err)
	}
}
