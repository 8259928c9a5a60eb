package sim

import (
	"testing"
	"time"
)

// core/controller/reconciler/pool/capacity.rs:24-99 (and move_replica,
// core/volume/operations.rs:640-672): a thin replica on a pool that ran out
// of space is moved by the control plane to another pool: a new replica is
// attached and rebuilt, the old one removed, at the next reconcile tick.
func TestThinReplicaOnExhaustedPoolIsMovedByTheControlPlane(t *testing.T) {
	s, clk := newTestSim(t, `
rebuild_bandwidth: 100MiB
nodes: [{id: n1}, {id: n2}, {id: n3}]
pools:
  - {id: p1, node: n1, capacity: 100GiB}
  - {id: p2, node: n2, capacity: 100GiB}
  - {id: p3, node: n3, capacity: 100GiB}
volumes:
  - {uuid: `+vol1+`, size: 10GiB, thin: true, allocated: 5GiB, replicas: [p1, p2], published: true, nexus_node: n1}
`)
	if err := s.FillPool("p2", 95<<30); err != nil { // 5GiB of replica + 95GiB: no space left
		t.Fatal(err)
	}
	if got := poolsOf(getVolume(t, s, vol1)); len(got) != 2 || got[1] != "p2" {
		t.Fatalf("replicas on %v right after the fill, want [p1 p2] until the reconciler runs", got)
	}
	clk.Step(10 * time.Second)
	v := getVolume(t, s, vol1)
	if got := poolsOf(v); len(got) != 2 || got[0] != "p1" || got[1] != "p3" {
		t.Fatalf("replicas on %v after a reconcile tick, want [p1 p3]: moved off the exhausted p2", got)
	}
	if rt := v.State.ReplicaTopology[replicaOnPool(v, "p3")]; rt.RebuildProgress == nil {
		t.Fatalf("the replacement on p3 is not rebuilding: %+v", rt)
	}
	if v.Spec.NumReplicas != 2 {
		t.Fatalf("num_replicas %d, want 2", v.Spec.NumReplicas)
	}
}

// A full pool holding only fully allocated (thick) replicas needs no move.
func TestThickReplicaOnFullPoolStays(t *testing.T) {
	s, clk := newTestSim(t, `
nodes: [{id: n1}, {id: n2}, {id: n3}]
pools:
  - {id: p1, node: n1, capacity: 100GiB}
  - {id: p2, node: n2, capacity: 100GiB}
  - {id: p3, node: n3, capacity: 100GiB}
volumes:
  - {uuid: `+vol1+`, size: 10GiB, replicas: [p1, p2], published: true, nexus_node: n1}
`)
	if err := s.FillPool("p2", 90<<30); err != nil {
		t.Fatal(err)
	}
	clk.Step(time.Minute)
	if got := poolsOf(getVolume(t, s, vol1)); len(got) != 2 || got[1] != "p2" {
		t.Fatalf("replicas on %v, want [p1 p2]", got)
	}
}
