package sim

import (
	"net/http"
	"testing"

	"github.com/billyronks/couchestor/internal/mayastor"
)

const fourNodes = `
rebuild_bandwidth: 100MiB
nodes: [{id: n1}, {id: n2}, {id: n3}, {id: n4}]
pools:
  - {id: p1, node: n1, capacity: 100GiB}
  - {id: p2, node: n2, capacity: 100GiB}
  - {id: p3, node: n3, capacity: 100GiB}
  - {id: p4, node: n4, capacity: 100GiB}
`

// wantUnusedReplica checks the state an attach refused after the create
// leaves: one more replica in the topology, not a nexus child,
// num_replicas and the children unchanged.
func wantUnusedReplica(t *testing.T, before, after mayastor.Volume) {
	t.Helper()
	if got, want := len(after.State.ReplicaTopology), len(before.State.ReplicaTopology)+1; got != want {
		t.Fatalf("replicas after the refused attach: %d, want %d (the created replica stays owned by the volume)", got, want)
	}
	if after.Spec.NumReplicas != before.Spec.NumReplicas {
		t.Fatalf("num_replicas %d after the refused attach, want %d unchanged", after.Spec.NumReplicas, before.Spec.NumReplicas)
	}
	if len(after.State.Target.Children) != len(before.State.Target.Children) {
		t.Fatalf("children %d after the refused attach, want %d", len(after.State.Target.Children), len(before.State.Target.Children))
	}
	added := newPools(before, after)
	if len(added) != 1 {
		t.Fatalf("new replica pools %v, want one", added)
	}
	if rt := after.State.ReplicaTopology[replicaOnPool(after, added[0])]; rt.ChildStatus != "" {
		t.Fatalf("the new replica is a child (%s), want not a child", rt.ChildStatus)
	}
}

// core/volume/operations_helper.rs:175-204 (create, then attach),
// core/nexus/operations_helper.rs:26-46 (attach asks rebuild_allowed),
// core/controller/registry.rs:480-495 (MaxRebuilds while max_rebuilds run):
// the increase answers 507 and leaves an unused replica, count unchanged.
func TestMaxRebuildsRefusesAttachAfterCreateLeavingAnUnusedReplica(t *testing.T) {
	s, _ := newTestSim(t, fourNodes+`
max_rebuilds: 1
volumes:
  - {uuid: `+vol1+`, size: 10GiB, replicas: [p1, p2], published: true, nexus_node: n1}
  - {uuid: `+vol2+`, size: 10GiB, replicas: [p3], published: true, nexus_node: n3}
`)
	mustSetCount(t, s, vol2, 2) // one rebuild running: the limit
	before := getVolume(t, s, vol1)
	_, err := s.SetReplicaCount(vol1, 3)
	ae := wantAPIError(t, err, http.StatusInsufficientStorage, mayastor.ErrorKindResourceExhausted)
	if ae.Message == "" || ae.Message[:len("MaxRebuilds")] != "MaxRebuilds" {
		t.Fatalf("message %q, want MaxRebuilds", ae.Message)
	}
	wantUnusedReplica(t, before, getVolume(t, s, vol1))
}

// With max_rebuilds absent there is no limit (registry.rs:483-497, None => Ok).
func TestNoMaxRebuildsMeansNoLimit(t *testing.T) {
	s, _ := newTestSim(t, fourNodes+`
volumes:
  - {uuid: `+vol1+`, size: 10GiB, replicas: [p1, p2], published: true, nexus_node: n1}
  - {uuid: `+vol2+`, size: 10GiB, replicas: [p3], published: true, nexus_node: n3}
`)
	mustSetCount(t, s, vol2, 2)
	mustSetCount(t, s, vol1, 3)
}

// The injected attach failure (admin endpoint) behaves as the max_rebuilds
// refusal of core/nexus/operations_helper.rs:26-46, once.
func TestFailNextAttachLeavesAnUnusedReplicaOnce(t *testing.T) {
	s, _ := newTestSim(t, fourNodes+`
volumes:
  - {uuid: `+vol1+`, size: 10GiB, replicas: [p1, p2], published: true, nexus_node: n1, self_heal: false}
`)
	ts := serve(t, s)
	ts.must("POST", "/admin/volumes/"+vol1+"/fail-next-attach", "", http.StatusNoContent)
	before := getVolume(t, s, vol1)
	code, body, err := ts.do("PUT", "/v0/volumes/"+vol1+"/replica_count/3", "")
	if err != nil || code != http.StatusInsufficientStorage {
		t.Fatalf("increase: %d %s %v, want 507", code, body, err)
	}
	wantUnusedReplica(t, before, getVolume(t, s, vol1))
	// Only the next attach fails: the next increase creates another replica
	// and attaches it.
	v := mustSetCount(t, s, vol1, 3)
	if len(v.State.Target.Children) != 3 {
		t.Fatalf("children after the second increase: %d, want 3", len(v.State.Target.Children))
	}
}
