package v1

// Annotations a person puts on a PersistentVolume or its PersistentVolumeClaim to steer tiering
// of that one volume. The PVC's annotation wins over the PV's.
const (
	// AnnotationTier pins a volume to a tier, "NVMe" or "SATA" in any case, whatever its IOPS.
	// A value naming no tier keeps the volume where it is (ReasonInvalidPin).
	AnnotationTier = "storage.billyronks.io/tier"
	// AnnotationTiering set to "disabled" excludes a volume from tiering.
	AnnotationTiering = "storage.billyronks.io/tiering"
)

// MayastorCSIDriver is the CSI driver name of Mayastor persistent volumes.
const MayastorCSIDriver = "io.openebs.csi-mayastor"

// LeaderElectionID names the operator's leader-election Lease (coordination.k8s.io), in the
// namespace of --leader-election-namespace.
const LeaderElectionID = "couchestor.storage.billyronks.io"
