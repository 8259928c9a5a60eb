package sim

import (
	"net/http"
	"strings"
	"testing"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// core/volume/specs.rs:1087-1089 (→ volume/registry.rs:362-372,
// node/specs.rs:132-139): an increase of a volume with snapshots needs the
// NexusRebuildReplicaAncestry fix on the replica nodes, else
// UpgradeRequiredToRebuild (412). A decrease is not affected. The wire spec
// carries num_snapshots.
func TestIncreaseOfVolumeWithSnapshotsNeedsTheAncestryFix(t *testing.T) {
	vols := `
volumes:
  - {uuid: ` + vol1 + `, size: 1GiB, replicas: [p1, p2], published: true, nexus_node: n1, num_snapshots: 2}
`
	s, _ := newTestSim(t, fourNodes+vols)
	if v := getVolume(t, s, vol1); v.Spec.NumSnapshots != 2 {
		t.Fatalf("spec.num_snapshots %d, want 2", v.Spec.NumSnapshots)
	}
	_, err := s.SetReplicaCount(vol1, 3)
	ae := wantAPIError(t, err, http.StatusPreconditionFailed, mayastor.ErrorKindFailedPrecondition)
	if !strings.HasPrefix(ae.Message, "UpgradeRequiredToRebuild") {
		t.Fatalf("message %q, want UpgradeRequiredToRebuild", ae.Message)
	}
	if n := len(getVolume(t, s, vol1).State.ReplicaTopology); n != 2 {
		t.Fatalf("%d replicas after the refusal, want 2 (nothing created)", n)
	}
	mustSetCount(t, s, vol1, 1)

	s, _ = newTestSim(t, "rebuild_ancestry_fix: true\n"+fourNodes+vols)
	mustSetCount(t, s, vol1, 3)
}
