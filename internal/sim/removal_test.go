package sim

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// Which replica a decrease removes (core/controller/scheduling/volume.rs:384-439,
// core/controller/scheduling/mod.rs:157-236).

const threeNodes = `
rebuild_bandwidth: 100MiB
nodes: [{id: n1}, {id: n2}, {id: n3}, {id: n4}]
pools:
  - {id: p1, node: n1, capacity: 100GiB}
  - {id: p2, node: n2, capacity: 100GiB}
  - {id: p3, node: n3, capacity: 100GiB}
  - {id: p4, node: n4, capacity: 100GiB, status: Faulted}
`

// The hard case of a migration: scale up onto the target pool, then scale
// down before the new replica is rebuilt. The decrease removes the new
// replica, not the source.
func TestDecreaseRemovesTheNotYetRebuiltReplicaFirst(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		s, clk := newTestSim(t, threeNodes+`
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [p1, p2], published: true}
`, WithSeed(seed))
		v := mustSetCount(t, s, vol1, 3)
		added := replicaOnPool(v, "p3")
		clk.Step(5 * time.Second) // half-way through the 10.24s rebuild
		v = getVolume(t, s, vol1)
		if p := v.State.ReplicaTopology[added].RebuildProgress; p == nil || *p < 40 || *p > 60 {
			t.Fatalf("seed %d: rebuild progress %v at 5s of 10.24s, want about 50", seed, p)
		}
		v = mustSetCount(t, s, vol1, 2)
		if got := poolsOf(v); !slices.Equal(got, []string{"p1", "p2"}) {
			t.Fatalf("seed %d: after the decrease replicas are on %v, want [p1 p2]: the unrebuilt replica goes first", seed, got)
		}
		if v.State.Status != mayastor.VolumeStatusOnline {
			t.Fatalf("seed %d: status %s, want Online", seed, v.State.Status)
		}
	}
}

// Once rebuilt, the new replica and the remote source are equals for the
// ranking. The tie is NOT random upstream: the ranking is a stable sort
// (core/controller/scheduling/mod.rs:79-82) over the core agent's replica map
// order (core/volume/specs.rs:565-574, resource_map.rs:12-60), where the new
// replica was appended last (core/pool/specs.rs:323-333), and the first of the
// sorted list goes (core/controller/scheduling/volume.rs:392-439). So the
// older remote replica (p2) is removed, for every seed; never the
// nexus-local one. Only WithRandomRemovalTies (kinder than upstream) makes
// the new replica go for some seeds.
func TestDecreaseTieBetweenRemoteReplicasFollowsTheReplicaMapOrder(t *testing.T) {
	run := func(seed uint64, opts ...Option) string {
		s, clk := newTestSim(t, threeNodes+`
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [p1, p2], published: true, nexus_node: n1}
`, append([]Option{WithSeed(seed)}, opts...)...)
		mustSetCount(t, s, vol1, 3)
		clk.Step(time.Minute)
		if st := getVolume(t, s, vol1).State.Status; st != mayastor.VolumeStatusOnline {
			t.Fatalf("status %s after the rebuild, want Online", st)
		}
		v := mustSetCount(t, s, vol1, 2)
		for _, p := range []string{"p1", "p2", "p3"} {
			if !slices.Contains(poolsOf(v), p) {
				return p
			}
		}
		t.Fatal("nothing removed")
		return ""
	}
	for seed := uint64(1); seed <= 30; seed++ {
		if got := run(seed); got != "p2" {
			t.Fatalf("seed %d: removed %s, want p2: the remote replica first in the replica map", seed, got)
		}
	}
	random := map[string]int{}
	for seed := uint64(1); seed <= 30; seed++ {
		random[run(seed, WithRandomRemovalTies())]++
	}
	if random["p1"] > 0 || random["p2"] == 0 || random["p3"] == 0 {
		t.Fatalf("WithRandomRemovalTies removals %v: want both remote replicas for some seeds, never the local one", random)
	}
}

// Among unhealthy replicas the worse child state goes first:
// Faulted before Degraded (rebuilding).
func TestDecreaseRanksFaultedChildBeforeRebuildingChild(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		s, _ := newTestSim(t, `
rebuild_bandwidth: 100MiB
nodes: [{id: n1}, {id: n2}, {id: n3}, {id: n4}]
pools:
  - {id: p1, node: n1, capacity: 100GiB}
  - {id: p2, node: n2, capacity: 100GiB}
  - {id: p3, node: n3, capacity: 100GiB}
  - {id: p4, node: n4, capacity: 100GiB}
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [p1, p2, p3], published: true, nexus_node: n1}
`, WithSeed(seed))
		v := mustSetCount(t, s, vol1, 4) // p4 rebuilding: Degraded child
		if err := s.FaultReplica(replicaOnPool(v, "p2")); err != nil {
			t.Fatal(err)
		}
		v = getVolume(t, s, vol1)
		if cs := v.State.ReplicaTopology[replicaOnPool(v, "p2")].ChildStatus; cs != mayastor.ChildStateFaulted {
			t.Fatalf("faulted replica's child status %s", cs)
		}
		v = mustSetCount(t, s, vol1, 3)
		if got := poolsOf(v); !slices.Equal(got, []string{"p1", "p3", "p4"}) {
			t.Fatalf("seed %d: replicas on %v after the decrease, want [p1 p3 p4]: the Faulted child goes first", seed, got)
		}
	}
}

// A decrease never removes a healthy replica if that would leave fewer
// healthy (online) replicas than the new count: upstream then treats the count
// as met and removes nothing.
func TestDecreaseKeepsEnoughHealthyReplicas(t *testing.T) {
	s, _ := newTestSim(t, threeNodes+`
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [p1, p2, p3], published: true}
`)
	if _, err := s.Unpublish(vol1, false); err != nil {
		t.Fatal(err)
	}
	// NexusInfo still says all three are healthy, but n3 is unreachable.
	if err := s.SetNodeOnline("n3", false); err != nil {
		t.Fatal(err)
	}
	v := mustSetCount(t, s, vol1, 2)
	if got := poolsOf(v); !slices.Equal(got, []string{"p1", "p2", "p3"}) {
		t.Fatalf("replicas on %v, want all three kept: removing a reachable one would leave 1 healthy < 2", got)
	}
	if v.Spec.NumReplicas != 2 {
		t.Fatalf("num_replicas %d, want 2 (the count is recorded as met)", v.Spec.NumReplicas)
	}
}

// 1-replica volumes: the target is pinned to the replica's node, so after a
// remote replica is added and rebuilt, a decrease removes the new one.
func TestOneReplicaVolumeTargetPinnedAndLocalReplicaProtected(t *testing.T) {
	for seed := uint64(1); seed <= 10; seed++ {
		s, clk := newTestSim(t, `
rebuild_bandwidth: 100MiB
nodes: [{id: n1}, {id: n2}, {id: n3}]
pools:
  - {id: p1, node: n1, capacity: 100GiB}
  - {id: p2, node: n2, capacity: 100GiB}
  - {id: p3, node: n3, capacity: 100GiB}
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [p2]}
  # n2 already hosts two targets: without the pin a new target would go elsewhere
  - {uuid: `+vol2+`, size: 1GiB, replicas: [p2], published: true}
  - {uuid: `+vol3+`, size: 1GiB, replicas: [p2], published: true}
`, WithSeed(seed))
		v, err := s.Publish(vol1, PublishRequest{Protocol: "nvmf"})
		if err != nil {
			t.Fatal(err)
		}
		if v.State.Target.Node != "n2" {
			t.Fatalf("seed %d: 1-replica target on %s, want n2 (its replica's node)", seed, v.State.Target.Node)
		}
		mustSetCount(t, s, vol1, 2)
		clk.Step(time.Minute)
		v = mustSetCount(t, s, vol1, 1)
		if got := poolsOf(v); !slices.Equal(got, []string{"p2"}) {
			t.Fatalf("seed %d: replica left on %v, want [p2]: the nexus-local replica is protected", seed, got)
		}
	}
}

// Republishing onto the node of the new replica stops protecting the old
// one: the decrease then removes the source.
func TestRepublishMovesTheTargetAndTheProtection(t *testing.T) {
	for seed := uint64(1); seed <= 10; seed++ {
		s, clk := newTestSim(t, `
rebuild_bandwidth: 100MiB
nodes: [{id: n1}, {id: n2}, {id: n3}]
pools:
  - {id: src, node: n1, capacity: 100GiB}
  - {id: dst, node: n2, capacity: 100GiB, labels: {tier: hot}}
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [src], published: true}
`, WithSeed(seed))
		old := getVolume(t, s, vol1).State.Target.UUID
		mustSetCount(t, s, vol1, 2)
		clk.Step(time.Minute)

		_, err := s.Publish(vol1, PublishRequest{Protocol: "nvmf", Node: "n2"})
		wantAPIError(t, err, http.StatusPreconditionFailed, mayastor.ErrorKindAlreadyPublished)

		v, err := s.Publish(vol1, PublishRequest{Protocol: "nvmf", Node: "n2", Republish: true})
		if err != nil {
			t.Fatal(err)
		}
		if v.State.Target.Node != "n2" || v.State.Target.UUID == old || v.Spec.Target.Node != "n2" {
			t.Fatalf("seed %d: target %+v after republish, want a new nexus on n2", seed, v.State.Target)
		}
		if v.State.Status != mayastor.VolumeStatusOnline || len(v.State.Target.Children) != 2 {
			t.Fatalf("seed %d: republished volume %s with %d children, want Online with 2", seed, v.State.Status, len(v.State.Target.Children))
		}
		v = mustSetCount(t, s, vol1, 1)
		if got := poolsOf(v); !slices.Equal(got, []string{"dst"}) {
			t.Fatalf("seed %d: replica left on %v, want [dst]", seed, got)
		}
	}
}

func TestRepublishWithoutNodeLeavesTheCurrentNode(t *testing.T) {
	s, _ := newTestSim(t, threeNodes+`
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [p1, p2], published: true, nexus_node: n1}
`)
	if _, err := s.Cordon("n2", "x"); err != nil {
		t.Fatal(err)
	}
	v, err := s.Publish(vol1, PublishRequest{Protocol: "nvmf", Republish: true})
	if err != nil {
		t.Fatal(err)
	}
	// n1 is the current target, n2 cordoned: n3 or n4 (online, uncordoned).
	if n := v.State.Target.Node; n != "n3" && n != "n4" {
		t.Fatalf("republished to %s, want n3 or n4", n)
	}
}

// Unhealthy first: a replica the persisted NexusInfo does not know (added
// while the volume was unpublished) counts as unhealthy once a NexusInfo
// exists (core/controller/scheduling/volume.rs:422-437) and is removed before
// the trusted ones.
func TestDecreaseRemovesTheReplicaNexusInfoDoesNotTrust(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		s, _ := newTestSim(t, threeNodes+`
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [p1, p2], published: true}
`, WithSeed(seed))
		if _, err := s.Unpublish(vol1, false); err != nil {
			t.Fatal(err)
		}
		mustSetCount(t, s, vol1, 3)
		v := mustSetCount(t, s, vol1, 2)
		if got := poolsOf(v); !slices.Equal(got, []string{"p1", "p2"}) {
			t.Fatalf("seed %d: replicas on %v, want [p1 p2]: the untrusted new replica goes first", seed, got)
		}
	}
}

// Affinity groups: among replicas tied on health, child and share, the one on
// the pool holding more of the group's replicas goes first, before the
// replica map order (core/controller/scheduling/mod.rs:168-173; the counts
// from core/controller/scheduling/volume.rs:352-358 and affinity_group.rs:44-61).
// vol1's replicas are all shared Online children of a remote nexus; vol2, in
// the same group, has a replica on p3, so p3 holds two of the group's
// replicas and vol1's replica there goes, although p1's is first in the map.
func TestDecreaseRemovesFromThePoolWithMoreAffinityGroupReplicas(t *testing.T) {
	scenario := func(group string) string {
		return `
nodes: [{id: n1}, {id: n2}, {id: n3}, {id: n4}]
pools:
  - {id: p1, node: n1, capacity: 100GiB}
  - {id: p2, node: n2, capacity: 100GiB}
  - {id: p3, node: n3, capacity: 100GiB}
volumes:
  - {uuid: ` + vol1 + `, size: 1GiB, replicas: [p1, p2, p3], published: true, nexus_node: n4` + group + `}
  - {uuid: ` + vol2 + `, size: 1GiB, replicas: [p3]` + group + `}
`
	}
	s, _ := newTestSim(t, scenario(", affinity_group: ag-1"))
	v := mustSetCount(t, s, vol1, 2)
	if got := poolsOf(v); !slices.Equal(got, []string{"p1", "p2"}) {
		t.Fatalf("replicas on %v after the decrease, want [p1 p2]: p3 holds 2 of the group's replicas", got)
	}
	// Outside a group the same layout falls back to the map order: p1 goes.
	s, _ = newTestSim(t, scenario(""))
	v = mustSetCount(t, s, vol1, 2)
	if got := poolsOf(v); !slices.Equal(got, []string{"p2", "p3"}) {
		t.Fatalf("without a group, replicas on %v after the decrease, want [p2 p3] (map order)", got)
	}
}

// Without any NexusInfo (never published) every replica counts as healthy
// (core/controller/scheduling/volume.rs:422-437), so the decrease removes
// nothing when that would leave fewer healthy online replicas than the new
// count (volume.rs:394-410): here one of two replicas is on an offline node.
func TestDecreaseOfNeverPublishedVolumeTreatsEveryReplicaAsHealthy(t *testing.T) {
	s, _ := newTestSim(t, threeNodes+`
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [p1, p2]}
`)
	if err := s.SetNodeOnline("n2", false); err != nil {
		t.Fatal(err)
	}
	v := mustSetCount(t, s, vol1, 1)
	if got := poolsOf(v); !slices.Equal(got, []string{"p1", "p2"}) {
		t.Fatalf("replicas on %v, want both kept: all count healthy and only one is online", got)
	}
	if v.Spec.NumReplicas != 1 {
		t.Fatalf("num_replicas %d, want 1", v.Spec.NumReplicas)
	}
}

// Child membership comes from the nexus spec, the child's state from the
// nexus state, found through the replica's state
// (core/controller/scheduling/volume.rs:314-336). A child whose replica is on
// an offline node has no state (the core agent clears the node's states), and
// sort_by_child puts a child with a state before one without
// (core/controller/scheduling/mod.rs:228-229): of two unhealthy children, the
// Faulted one goes before the unreachable one, although the unreachable one
// is first in the replica map.
func TestDecreaseRemovesAFaultedChildBeforeAnUnreachableOne(t *testing.T) {
	s, _ := newTestSim(t, threeNodes+`
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [p1, p2, p3], published: true, nexus_node: n1}
`)
	v := getVolume(t, s, vol1)
	if err := s.SetNodeOnline("n2", false); err != nil {
		t.Fatal(err)
	}
	if err := s.FaultReplica(replicaOnPool(v, "p3")); err != nil {
		t.Fatal(err)
	}
	v, err := s.SetReplicaCount(vol1, 2)
	if err != nil {
		t.Fatalf("decrease: %v (the unreachable replica was chosen)", err)
	}
	if got := poolsOf(v); !slices.Equal(got, []string{"p1", "p2"}) {
		t.Fatalf("replicas on %v, want [p1 p2]: the Faulted child with a state goes first", got)
	}
}
