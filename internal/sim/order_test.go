package sim

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// Tests of the core agent's global replica map order (order.go).

// poolOfReplica is the pool holding replica id.
func poolOfReplica(t testing.TB, s *Sim, id string) string {
	t.Helper()
	r, err := s.Replica(id)
	if err != nil {
		t.Fatalf("replica %s: %v", id, err)
	}
	return r.Pool
}

// orderedPools lists the pools of vol's replicas in the replica map order.
func orderedPools(t testing.TB, s *Sim, vol string) []string {
	t.Helper()
	var out []string
	for _, id := range s.ReplicaOrder() {
		r, _ := s.Replica(id)
		if s.replicaVolume(id) == vol {
			out = append(out, r.Pool)
		}
	}
	return out
}

func (s *Sim) replicaVolume(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.replicas[id]; ok {
		return r.volume.uuid
	}
	return ""
}

// Scenario loading creates replicas volume by volume in file order, each
// volume's in its list order, so the map order is known and repeatable.
func TestScenarioLoadingCreatesReplicasInFileOrder(t *testing.T) {
	sc := threeNodes + `
volumes:
  - {uuid: ` + vol2 + `, size: 1GiB, replicas: [p3, p1]}
  - {uuid: ` + vol1 + `, size: 1GiB, replicas: [p2, p3, p1]}
`
	a, _ := newTestSim(t, sc, WithSeed(1))
	b, _ := newTestSim(t, sc, WithSeed(1))
	var pools []string
	for _, id := range a.ReplicaOrder() {
		pools = append(pools, poolOfReplica(t, a, id))
	}
	if want := []string{"p3", "p1", "p2", "p3", "p1"}; !slices.Equal(pools, want) {
		t.Fatalf("map order by pool %v, want %v (file order)", pools, want)
	}
	if !slices.Equal(a.ReplicaOrder(), b.ReplicaOrder()) {
		t.Fatal("the same scenario and seed gave two replica orders")
	}
}

// IndexMap::remove in indexmap 2.0.2 is swap_remove (core/pool/specs.rs:397-400,
// control-plane/agents/Cargo.toml:51): the LAST entry of the whole map, here
// another volume's replica, moves into the freed slot.
func TestDestroySwapRemovesTheLastReplicaOfTheWholeMapIntoTheSlot(t *testing.T) {
	s, _ := newTestSim(t, threeNodes+`
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [p1, p2]}
  - {uuid: `+vol2+`, size: 1GiB, replicas: [p3]}
`)
	before := s.ReplicaOrder() // vol1@p1, vol1@p2, vol2@p3
	// Unpublished, never published: every replica healthy, all unshared, so
	// the decrease removes the first in map order, vol1@p1.
	v := mustSetCount(t, s, vol1, 1)
	if got := poolsOf(v); !slices.Equal(got, []string{"p2"}) {
		t.Fatalf("vol1 left on %v, want [p2] (the first replica in map order removed)", got)
	}
	if after, want := s.ReplicaOrder(), []string{before[2], before[1]}; !slices.Equal(after, want) {
		t.Fatalf("map order after removing slot 0: %v, want %v (the last entry moved into slot 0)", after, want)
	}
}

// A consequence of the map order: a 2-replica volume
// with both replicas remote to the nexus. Round 1 appends N1 and removes S1;
// swap_remove puts N1 into S1's slot, ahead of S2. Round 2 appends N2 and the
// decrease removes N1, the replica moved the round before (core/pool/specs.rs:
// 323-333 append, 397-400 swap_remove; scheduling/mod.rs:79-82 stable sort;
// volume.rs:392-439 first removed).
func TestRemoteSourcesDoNotConvergeUnderMapOrder(t *testing.T) {
	for seed := uint64(1); seed <= 10; seed++ {
		s, clk := newTestSim(t, `
rebuild_bandwidth: 100MiB
nodes: [{id: app}, {id: s1}, {id: s2}, {id: f1}, {id: f2}]
pools:
  - {id: ps1, node: s1, capacity: 100GiB}
  - {id: ps2, node: s2, capacity: 100GiB}
  - {id: pf1, node: f1, capacity: 100GiB}
  - {id: pf2, node: f2, capacity: 100GiB}
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [ps1, ps2], published: true, nexus_node: app}
`, WithSeed(seed))
		v := mustSetCount(t, s, vol1, 3)
		var n1 []string
		for _, p := range poolsOf(v) {
			if p != "ps1" && p != "ps2" {
				n1 = append(n1, p)
			}
		}
		clk.Step(time.Minute)
		v = mustSetCount(t, s, vol1, 2)
		if slices.Contains(poolsOf(v), "ps1") {
			t.Fatalf("seed %d: round 1 kept ps1: %v", seed, poolsOf(v))
		}
		if got, want := orderedPools(t, s, vol1), []string{n1[0], "ps2"}; !slices.Equal(got, want) {
			t.Fatalf("seed %d: map order after round 1 %v, want %v (N1 swapped into S1's slot)", seed, got, want)
		}
		mustSetCount(t, s, vol1, 3)
		clk.Step(time.Minute)
		v = mustSetCount(t, s, vol1, 2)
		if slices.Contains(poolsOf(v), n1[0]) || !slices.Contains(poolsOf(v), "ps2") {
			t.Fatalf("seed %d: round 2 left %v, want N1 (%s) removed again and ps2 kept", seed, poolsOf(v), n1[0])
		}
	}
}

// After a core-agent restart the map is refilled from the store in key order
// (populate, resource_map.rs:62-70; populate_specs,
// core/controller/resources/operations_helper.rs:992-1055; etcd prefix range,
// utils/pstor/src/etcd.rs:265-292; key ends with the uuid,
// stor-port/src/types/v0/store/replica.rs:344-346): uuid order. A tie then
// follows the new order.
func TestCoreAgentRestartRefillsTheMapInStoreKeyOrder(t *testing.T) {
	flipped := 0
	for seed := uint64(1); seed <= 20; seed++ {
		s, clk := newTestSim(t, threeNodes+`
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [p1, p2], published: true, nexus_node: n1}
  - {uuid: `+vol2+`, size: 1GiB, replicas: [p3, p2]}
`, WithSeed(seed))
		v := mustSetCount(t, s, vol1, 3)
		p2, p3 := replicaOnPool(v, "p2"), replicaOnPool(v, "p3")
		clk.Step(time.Minute)
		serve(t, s).must("POST", "/admin/core/restart", "", http.StatusNoContent)
		order := s.ReplicaOrder()
		if !slices.IsSorted(order) || len(order) != 5 {
			t.Fatalf("seed %d: order after restart %v, want every replica in uuid order", seed, order)
		}
		want := "p2"
		if p3 < p2 {
			want = "p3"
			flipped++
		}
		v = mustSetCount(t, s, vol1, 2)
		if slices.Contains(poolsOf(v), want) || !slices.Contains(poolsOf(v), "p1") {
			t.Fatalf("seed %d: left %v, want %s removed (the remote replica first in uuid order)", seed, poolsOf(v), want)
		}
	}
	if flipped == 0 {
		t.Fatal("no seed put the new replica first in uuid order: the test cannot tell a restart from none")
	}
}

// GET /v0/specs lists the replicas in the map order (core/registry/service.rs:52-61
// → core/pool/specs.rs:266-271), with each spec's share.
func TestSpecsListReplicasInMapOrder(t *testing.T) {
	s, clk := newTestSim(t, threeNodes+`
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [p1, p2], published: true, nexus_node: n1}
  - {uuid: `+vol2+`, size: 1GiB, replicas: [p3]}
`)
	mustSetCount(t, s, vol1, 3) // a new replica on p3, appended last
	clk.Step(time.Minute)
	mustSetCount(t, s, vol1, 2) // swap_remove reorders the map
	var specs mayastor.Specs
	if err := json.Unmarshal(serve(t, s).must("GET", "/v0/specs", "", http.StatusOK), &specs); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range specs.Replicas {
		ids = append(ids, r.UUID)
		want := mayastor.ProtocolNvmf
		if r.Pool == "p1" || r.Owners.Volume == vol2 {
			want = mayastor.ProtocolNone // nexus-local, or never opened by a nexus
		}
		if r.Share != want {
			t.Errorf("replica on %s of %s: share %s, want %s", r.Pool, r.Owners.Volume, r.Share, want)
		}
	}
	if order := s.ReplicaOrder(); !slices.Equal(ids, order) {
		t.Fatalf("specs replicas %v, want the map order %v", ids, order)
	}
	if len(specs.Nexuses) != 1 || specs.Nexuses[0].Owner != vol1 || len(specs.Volumes) != 2 || len(specs.Pools) != 4 {
		t.Fatalf("specs: %d nexuses (%+v), %d volumes, %d pools", len(specs.Nexuses), specs.Nexuses, len(specs.Volumes), len(specs.Pools))
	}
}
