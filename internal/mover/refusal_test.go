package mover

import (
	"testing"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

// The planner's stay reasons for what the Mover refuses are the Mover's own reasons.
func TestStayReasonsMatchMoverRefusals(t *testing.T) {
	for planner, moverReason := range map[string]Reason{
		storagev1.ReasonVolumeHasSnapshots:   ReasonVolumeHasSnapshots,
		storagev1.ReasonAffinityGroupMinimum: ReasonAffinityGroupMinimum,
		storagev1.ReasonVolumeNotHealthy:     ReasonVolumeNotHealthy,
		storagev1.ReasonInsufficientCapacity: ReasonInsufficientCapacity,
	} {
		if planner != string(moverReason) {
			t.Errorf("planner reason %q, Mover reason %q", planner, moverReason)
		}
	}
}
