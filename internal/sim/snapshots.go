package sim

// Volumes with snapshots , only the increase precondition.
//
// Upstream (read at c02e0cb): an increase of a volume that has snapshots
// (VolumeSpec::has_snapshots, control-plane/stor-port/src/types/v0/store/volume.rs:258-281)
// requires every replica node to carry the NexusRebuildReplicaAncestry fix
// (core/volume/specs.rs:1087-1089 → core/volume/registry.rs:362-372 →
// core/node/specs.rs:132-139), else UpgradeRequiredToRebuild,
// FailedPrecondition 412 (control-plane/agents/src/common/errors.rs:204-205,
// 574-579). The scenario's rebuild_ancestry_fix says all nodes carry it.
// That rebuilt replicas do not carry the replica snapshots is not modelled
// (snapshots are a count only).

func (s *Sim) snapshotRule(v *simVolume, n int) *APIError {
	if n > v.numReplicas && v.numSnapshots > 0 && !s.ancestryFix {
		return errPrecondition("UpgradeRequiredToRebuild", "IoEngine upgrade is required to rebuild volume with snapshots")
	}
	return nil
}
