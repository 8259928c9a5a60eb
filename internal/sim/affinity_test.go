package sim

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// core/volume/specs.rs:1081-1086: an affinity-group volume's count cannot go
// below 2 (RestrictedReplicaCount, 412); 3 → 2 is fine; a volume outside any
// group can go to 1. The spec on the wire carries affinity_group.
func TestAffinityGroupVolumeNeverBelowTwoReplicas(t *testing.T) {
	s, _ := newTestSim(t, fourNodes+`
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [p1, p2, p3], published: true, nexus_node: n1, affinity_group: sts-db}
  - {uuid: `+vol2+`, size: 1GiB, replicas: [p1, p2], published: true, nexus_node: n1}
`)
	mustSetCount(t, s, vol1, 2)
	_, err := s.SetReplicaCount(vol1, 1)
	ae := wantAPIError(t, err, http.StatusPreconditionFailed, mayastor.ErrorKindFailedPrecondition)
	if !strings.HasPrefix(ae.Message, "RestrictedReplicaCount") {
		t.Fatalf("message %q, want RestrictedReplicaCount", ae.Message)
	}
	if v := getVolume(t, s, vol1); v.Spec.NumReplicas != 2 || len(v.State.ReplicaTopology) != 2 {
		t.Fatalf("after the refusal: num_replicas %d, %d replicas; want 2, 2", v.Spec.NumReplicas, len(v.State.ReplicaTopology))
	}
	mustSetCount(t, s, vol2, 1)

	ts := serve(t, s)
	var raw map[string]map[string]json.RawMessage
	if err := json.Unmarshal(ts.must("GET", "/v0/volumes/"+vol1, "", http.StatusOK), &raw); err != nil {
		t.Fatal(err)
	}
	if got := string(raw["spec"]["affinity_group"]); got != `{"id":"sts-db"}` {
		t.Fatalf("spec.affinity_group %s, want {\"id\":\"sts-db\"}", got)
	}
	if v := getVolume(t, s, vol2); v.Spec.AffinityGroup != nil {
		t.Fatalf("vol2 affinity group %+v, want none", v.Spec.AffinityGroup)
	}
}
