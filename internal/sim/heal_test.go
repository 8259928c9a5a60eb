package sim

import (
	"slices"
	"testing"
	"time"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// Tests of the ranking inputs and the hot spare / faulted-child reconcilers.

// lowerSpecCount stands in for a decrease that found no candidate: upstream
// then only commits the new count (core/volume/operations_helper.rs:223-226),
// leaving the nexus with more children than num_replicas.
func lowerSpecCount(s *Sim, id string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sync()
	s.volumes[id].numReplicas = n
	s.markDirty(s.volumes[id])
}

// "Local" is the replica spec not being shared (scheduling/mod.rs:166-167),
// not the replica's node. After an unpublish the specs keep their share
// (the nexus-local replica unshared, the other shared over nvmf), so a
// decrease of the unpublished volume protects the unshared replica although
// no nexus exists and it comes first in the map. Ranking by node would see a
// tie and remove the first in map order, p1.
func TestRankingCallsTheUnsharedReplicaLocal(t *testing.T) {
	s, _ := newTestSim(t, threeNodes+`
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [p1, p2], published: true, nexus_node: n1}
`)
	if _, err := s.Unpublish(vol1, false); err != nil {
		t.Fatal(err)
	}
	v := getVolume(t, s, vol1)
	for pool, want := range map[string]mayastor.Protocol{"p1": mayastor.ProtocolNone, "p2": mayastor.ProtocolNvmf} {
		r, err := s.Replica(replicaOnPool(v, pool))
		if err != nil || r.Share != want {
			t.Fatalf("replica on %s: share %v (%v), want %s", pool, r.Share, err, want)
		}
	}
	v = mustSetCount(t, s, vol1, 1)
	if got := poolsOf(v); !slices.Equal(got, []string{"p1"}) {
		t.Fatalf("left %v, want [p1]: the shared replica goes before the unshared one", got)
	}
}

// A replica is created unshared (pool/specs.rs create; make_replica_accessible
// shares it only when a nexus on another node opens it,
// core/nexus/operations_helper.rs:131-171), and is unshared when a nexus
// opens it on its own node.
func TestReplicaShareFollowsTheNexusThatOpenedIt(t *testing.T) {
	s, clk := newTestSim(t, threeNodes+`
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [p1]}
`)
	share := func(pool string) mayastor.Protocol {
		r, err := s.Replica(replicaOnPool(getVolume(t, s, vol1), pool))
		if err != nil {
			t.Fatal(err)
		}
		return r.Share
	}
	mustSetCount(t, s, vol1, 2) // unpublished: the new replica is never opened
	if share("p1") != mayastor.ProtocolNone || share(poolsOf(getVolume(t, s, vol1))[1]) != mayastor.ProtocolNone {
		t.Fatal("replicas of a never-published volume are shared")
	}
	other := poolsOf(getVolume(t, s, vol1))[1]
	if _, err := s.Publish(vol1, PublishRequest{Protocol: "nvmf", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	if share("p1") != mayastor.ProtocolNone || share(other) != mayastor.ProtocolNvmf {
		t.Fatalf("published on n1: p1 %s, %s %s; want none, nvmf", share("p1"), other, share(other))
	}
	clk.Step(time.Minute)
	node := map[string]string{"p2": "n2", "p3": "n3"}[other]
	if _, err := s.Publish(vol1, PublishRequest{Protocol: "nvmf", Node: node, Republish: true}); err != nil {
		t.Fatal(err)
	}
	if share("p1") != mayastor.ProtocolNvmf || share(other) != mayastor.ProtocolNone {
		t.Fatalf("republished on %s: p1 %s, %s %s; want nvmf, none", node, share("p1"), other, share(other))
	}
}

// NexusInfo is per nexus: the volume's health_info_id is its last nexus
// (stor-port/src/types/v0/store/volume.rs:432-437), and a replica without an
// entry is unhealthy once a NexusInfo exists
// (core/controller/scheduling/volume.rs:422-437). n3 is down while the
// volume is unpublished, so the new nexus leaves p3 out; back online, p3 is
// the first to go, although the old nexus's info trusted it.
func TestReplicaLeftOutOfANewNexusCountsAsUnhealthy(t *testing.T) {
	s, _ := newTestSim(t, threeNodes+`
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [p1, p2, p3], published: true, nexus_node: n1, self_heal: false}
`)
	if _, err := s.Unpublish(vol1, false); err != nil {
		t.Fatal(err)
	}
	if err := s.SetNodeOnline("n3", false); err != nil {
		t.Fatal(err)
	}
	v, err := s.Publish(vol1, PublishRequest{Protocol: "nvmf", Node: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(v.State.Target.Children) != 2 {
		t.Fatalf("new nexus has %d children, want 2 (p3 unreachable)", len(v.State.Target.Children))
	}
	if err := s.SetNodeOnline("n3", true); err != nil {
		t.Fatal(err)
	}
	v = mustSetCount(t, s, vol1, 2)
	if got := poolsOf(v); !slices.Equal(got, []string{"p1", "p2"}) {
		t.Fatalf("left %v, want [p1 p2]: p3 has no entry in the new nexus's info", got)
	}
}

// A published volume is Degraded when its nexus's child count differs from
// num_replicas in either direction (core/volume/registry.rs:115-122).
func TestExcessChildrenMakeThePublishedVolumeDegraded(t *testing.T) {
	s, clk := newTestSim(t, threeNodes+`
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [p1, p2, p3], published: true, nexus_node: n1, self_heal: false}
`)
	lowerSpecCount(s, vol1, 2)
	clk.Step(time.Minute)
	v := getVolume(t, s, vol1)
	if v.State.Status != mayastor.VolumeStatusDegraded || len(v.State.Target.Children) != 3 {
		t.Fatalf("3 children, num_replicas 2: %s with %d children, want Degraded", v.State.Status, len(v.State.Target.Children))
	}
}

// Hot spare removes excess nexus children BY THE RANKING
// (hot_spare.rs:152-235 nexus_replica_count_reconciler →
// remove_excess_replicas_from_nexus, core/volume/operations_helper.rs:416-470)
// and then the replica left unused (volume_replica_count_reconciler,
// hot_spare.rs:247-341). The ranking keeps the unshared p1 and takes the
// first shared replica in map order.
func TestHotSpareRemovesTheExcessChildChosenByTheRanking(t *testing.T) {
	for seed := uint64(1); seed <= 10; seed++ {
		s, clk := newTestSim(t, threeNodes+`
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [p1, p2, p3], published: true, nexus_node: n1}
`, WithSeed(seed))
		s.RestartCoreAgent() // a seed-dependent order between p2 and p3
		var want string
		for _, id := range s.ReplicaOrder() {
			if p := poolOfReplica(t, s, id); p != "p1" {
				want = p
				break
			}
		}
		lowerSpecCount(s, vol1, 2)
		clk.Step(30 * time.Second)
		v := getVolume(t, s, vol1)
		got := poolsOf(v)
		if v.State.Status != mayastor.VolumeStatusOnline || len(v.State.Target.Children) != 2 || len(got) != 2 ||
			slices.Contains(got, want) || !slices.Contains(got, "p1") {
			t.Fatalf("seed %d: %s, %d children, replicas %v; want Online on 2 with %s (first shared in map order) removed",
				seed, v.State.Status, len(v.State.Target.Children), got, want)
		}
	}
}

// Hot spare and faulted-child handling run only for self_heal volumes
// (hot_spare.rs:53-55): without it the excess child and a faulted child
// stay, long past faulted_child_wait_period.
func TestNoSelfHealWithoutTheSelfHealPolicy(t *testing.T) {
	s, clk := newTestSim(t, threeNodes+`
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [p1, p2, p3], published: true, nexus_node: n1, self_heal: false}
`)
	if err := s.FaultReplica(replicaOnPool(getVolume(t, s, vol1), "p3")); err != nil {
		t.Fatal(err)
	}
	lowerSpecCount(s, vol1, 2)
	clk.Step(30 * time.Minute)
	v := getVolume(t, s, vol1)
	if len(v.State.Target.Children) != 3 || len(poolsOf(v)) != 3 {
		t.Fatalf("self_heal false: %d children, replicas %v; want all 3 kept", len(v.State.Target.Children), poolsOf(v))
	}
}

const fourNodesHeal = `
rebuild_bandwidth: 100MiB
nodes: [{id: n1}, {id: n2}, {id: n3}, {id: n4}]
pools:
  - {id: p1, node: n1, capacity: 100GiB}
  - {id: p2, node: n2, capacity: 100GiB}
  - {id: p3, node: n3, capacity: 100GiB}
  - {id: p4, node: n4, capacity: 100GiB}
`

// A child that faults while in sync keeps an I/O log and stays in the nexus
// as Faulted; if its replica comes back within faulted_child_wait_period
// (600s, rebuild_policies.rs:20,46-59) it is onlined and PARTIALLY rebuilt
// (core/controller/reconciler/nexus/mod.rs:166-224). Our model: the
// partial rebuild copies size × away ÷ wait.
func TestFaultedChildComingBackWithinTheWaitIsPartiallyRebuilt(t *testing.T) {
	s, clk := newTestSim(t, fourNodesHeal+`
volumes:
  - {uuid: `+vol1+`, size: 10GiB, replicas: [p1, p2, p3], published: true, nexus_node: n1}
`)
	p3 := replicaOnPool(getVolume(t, s, vol1), "p3")
	if err := s.SetNodeOnline("n3", false); err != nil {
		t.Fatal(err)
	}
	clk.Step(2 * time.Minute)
	v := getVolume(t, s, vol1)
	if rt := v.State.ReplicaTopology[p3]; rt.ChildStatus != mayastor.ChildStateFaulted || len(poolsOf(v)) != 3 {
		t.Fatalf("2 minutes away: p3 child %s, replicas %v; want it kept Faulted, nothing replaced", rt.ChildStatus, poolsOf(v))
	}
	if err := s.SetNodeOnline("n3", true); err != nil {
		t.Fatal(err)
	}
	clk.Step(10 * time.Second)
	v = getVolume(t, s, vol1)
	if rt := v.State.ReplicaTopology[p3]; rt.ChildStatus != mayastor.ChildStateDegraded || rt.RebuildProgress == nil {
		t.Fatalf("back within the wait: p3 %+v, want a rebuilding child", rt)
	}
	// 120-130s away of 600s: about a fifth of the 102.4s full rebuild.
	clk.Step(25 * time.Second)
	v = getVolume(t, s, vol1)
	if v.State.Status != mayastor.VolumeStatusOnline || slices.Contains(poolsOf(v), "p4") {
		t.Fatalf("after the partial rebuild: %s on %v, want Online on p1-p3", v.State.Status, poolsOf(v))
	}
	h, _ := s.RebuildHistory(vol1)
	if len(h.Records) != 1 || !h.Records[0].IsPartial || h.Records[0].RebuildJobState != mayastor.RebuildJobStateCompleted ||
		h.Records[0].BlocksTotal*rebuildBlockSize >= 10<<30/4 {
		t.Fatalf("history %+v, want one completed partial rebuild of under a quarter of the volume", h.Records)
	}
}

// Past the wait, the faulted child and its replica are removed and self-heal
// places a new replica with a full rebuild (nexus/mod.rs:214-222). The
// wait is scenario-configurable.
func TestFaultedChildPastTheWaitIsReplacedWithAFullRebuild(t *testing.T) {
	s, clk := newTestSim(t, fourNodesHeal+`
faulted_child_wait_period: 5m
volumes:
  - {uuid: `+vol1+`, size: 10GiB, replicas: [p1, p2, p3], published: true, nexus_node: n1}
`)
	if err := s.SetNodeOnline("n3", false); err != nil {
		t.Fatal(err)
	}
	clk.Step(4*time.Minute + 50*time.Second)
	if got := poolsOf(getVolume(t, s, vol1)); slices.Contains(got, "p4") {
		t.Fatalf("replaced inside the 5m wait: %v", got)
	}
	clk.Step(20 * time.Second)
	v := getVolume(t, s, vol1)
	if got := poolsOf(v); !slices.Equal(got, []string{"p1", "p2", "p4"}) || v.State.Target.Rebuilds != 1 {
		t.Fatalf("past the wait: replicas %v, %d rebuilds; want p3 replaced by p4, rebuilding", got, v.State.Target.Rebuilds)
	}
	clk.Step(2 * time.Minute)
	h, _ := s.RebuildHistory(vol1)
	if st := getVolume(t, s, vol1).State.Status; st != mayastor.VolumeStatusOnline || len(h.Records) != 1 || h.Records[0].IsPartial {
		t.Fatalf("after the rebuild: %s, history %+v; want Online after one full rebuild", st, h.Records)
	}
}

// An unpublished volume's status counts replica SPECS against num_replicas
// (core/volume/registry.rs:129-137): a replica on a down node still
// counts, so the volume is Online and an increase is allowed.
func TestUnpublishedStatusCountsReplicaSpecs(t *testing.T) {
	s, _ := newTestSim(t, fourNodesHeal+`
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [p1, p2]}
`)
	if err := s.SetNodeOnline("n2", false); err != nil {
		t.Fatal(err)
	}
	if st := getVolume(t, s, vol1).State.Status; st != mayastor.VolumeStatusOnline {
		t.Fatalf("unpublished volume with a replica on a down node: %s, want Online", st)
	}
	if v := mustSetCount(t, s, vol1, 3); len(poolsOf(v)) != 3 {
		t.Fatalf("increase: replicas %v", poolsOf(v))
	}
}

// An unpublished self_heal volume is reconciled too: Online with more replica
// specs than num_replicas, volume_replica_count_reconciler removes the unused
// excess by the ranking (hot_spare.rs:61-62, 247-341): never published, all
// replicas are healthy and unshared, so the first in map order (p1) goes.
func TestHotSpareTrimsAnUnpublishedVolumesExcessReplicas(t *testing.T) {
	s, clk := newTestSim(t, fourNodesHeal+`
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [p1, p2, p3]}
`)
	lowerSpecCount(s, vol1, 2)
	clk.Step(30 * time.Second)
	if got := poolsOf(getVolume(t, s, vol1)); !slices.Equal(got, []string{"p2", "p3"}) {
		t.Fatalf("replicas %v, want [p2 p3]", got)
	}
}
