package sim

import "github.com/billyronks/couchestor/internal/mayastor"

// Affinity groups, only the replica-count rule.
//
// Upstream (read at c02e0cb): a volume in an affinity group cannot have its
// replica count lowered below 2: RestrictedReplicaCount
// (core/volume/specs.rs:1081-1086), FailedPrecondition 412
// (control-plane/agents/src/common/errors.rs:288-293, 982-987). It is
// checked after the ±1, LastReplica and ReplicaIncrease checks. The
// affinity-group-aware placement and removal tie-breaks are not modelled.

func (s *Sim) affinityGroupRule(v *simVolume, n int) *APIError {
	if v.affinityGroup != "" && n < 2 {
		return errPrecondition("RestrictedReplicaCount", "Replica Count of %d is not attainable for AffinityGroup", n)
	}
	return nil
}

// wireSpecExtras fills the spec fields of the rules in this package's
// extras: affinity_group and num_snapshots.
func wireSpecExtras(spec *mayastor.VolumeSpec, v *simVolume) {
	if v.affinityGroup != "" {
		spec.AffinityGroup = &mayastor.AffinityGroup{ID: v.affinityGroup}
	}
	spec.NumSnapshots = uint32(v.numSnapshots)
}
