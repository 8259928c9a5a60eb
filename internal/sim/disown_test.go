package sim

import (
	"net/http"
	"testing"
	"time"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// core/controller/resources/operations_helper.rs:318-363 (start_destroy_by
// disowns before the node call) and core/pool/replica_operations.rs:78-97
// (the node call fails on an offline node, core/node/wrapper.rs:1220-1225):
// the decrease answers 412 NodeNotOnline, the replica is gone from the
// volume, num_replicas is unchanged, and self-heal adds a replacement.
func TestDecreaseOfReplicaOnOfflineNodeDisownsItAndErrors(t *testing.T) {
	s, clk := newTestSim(t, fourNodes+`
volumes:
  - {uuid: `+vol1+`, size: 10GiB, replicas: [p1, p2, p3], published: true, nexus_node: n1}
`)
	if err := s.SetNodeOnline("n3", false); err != nil {
		t.Fatal(err)
	}
	_, err := s.SetReplicaCount(vol1, 2)
	ae := wantAPIError(t, err, http.StatusPreconditionFailed, mayastor.ErrorKindFailedPrecondition)
	if ae.Message[:len("NodeNotOnline")] != "NodeNotOnline" {
		t.Fatalf("message %q, want NodeNotOnline", ae.Message)
	}
	v := getVolume(t, s, vol1)
	if got := poolsOf(v); len(got) != 2 || got[0] != "p1" || got[1] != "p2" {
		t.Fatalf("replicas on %v after the failed decrease, want [p1 p2] (the offline one disowned)", got)
	}
	if v.Spec.NumReplicas != 3 {
		t.Fatalf("num_replicas %d, want 3 unchanged", v.Spec.NumReplicas)
	}
	clk.Step(15 * time.Second) // a self-heal pass
	v = getVolume(t, s, vol1)
	if got := poolsOf(v); len(got) != 3 || got[2] != "p4" {
		t.Fatalf("replicas on %v after self-heal, want a replacement on p4", got)
	}
	// The disowned replica keeps its space until its node returns.
	if p, _ := s.Pool("p3"); p.State != nil {
		t.Fatalf("p3 reported while its node is down")
	}
	if err := s.SetNodeOnline("n3", true); err != nil {
		t.Fatal(err)
	}
	p, _ := s.Pool("p3")
	if p.State == nil || *p.State.Committed != 0 || p.State.Used != 0 {
		t.Fatalf("p3 after its node returned: %+v, want the disowned replica destroyed", p.State)
	}
	for _, r := range s.Replicas() {
		if r.Pool == "p3" {
			t.Fatalf("replica %s still on p3 after its node returned", r.UUID)
		}
	}
}
