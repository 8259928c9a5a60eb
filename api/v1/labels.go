package v1

// Labels CoucheStor puts on TierMigration objects, so the migrations of one policy or one volume
// are found with a label selector.
const (
	// LabelPolicy names the StoragePolicy that created a TierMigration.
	LabelPolicy = "storage.billyronks.io/policy"
	// LabelVolume is the Mayastor volume uuid a TierMigration moves.
	LabelVolume = "storage.billyronks.io/volume"
)

// Annotations a person puts on a PersistentVolume or its PersistentVolumeClaim to steer tiering
// of that one volume. The PVC's annotation wins over the PV's.
const (
	// AnnotationTier pins a volume to a tier, "NVMe" or "SATA", whatever its IOPS.
	AnnotationTier = "storage.billyronks.io/tier"
	// AnnotationTiering set to "disabled" excludes a volume from tiering.
	AnnotationTiering = "storage.billyronks.io/tiering"
)
