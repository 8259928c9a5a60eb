package tiering

import (
	"strings"
	"sync/atomic"
	"time"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

// Snapshot is everything the policies decide from, observed once per cycle and shared by every
// policy: Mayastor's volumes (only the fields a decision reads), pools and nodes; the Mayastor
// PersistentVolumes with their claims' annotations; what the TierMigrations say per volume; and
// one IOPS evaluation per distinct (window, query) among the enabled policies. It is read-only
// once built: planners never change it.
type Snapshot struct {
	// Taken is when the Mayastor walk started.
	Taken time.Time
	// Volumes are Mayastor's volumes by uuid.
	Volumes map[string]*VolumeObservation
	// Pools are Mayastor's pools.
	Pools []PoolObservation
	// MayastorProblem is set when Mayastor could not be read this cycle; Volumes and Pools are
	// then empty and no policy moves anything.
	MayastorProblem *Problem
	// PVs are the Mayastor PersistentVolumes (CSI driver io.openebs.csi-mayastor), by PV name.
	PVs map[string]*PVObservation
	// Migrations sums up the TierMigrations of each volume, by volume uuid.
	Migrations map[string]MigrationObservation
	// InFlight counts the migrations in flight that hold a slot (dry runs do not): Global for
	// the operator, ByPolicy per StoragePolicy name.
	InFlight InFlight
	// IOPS holds one evaluation per distinct (window, query).
	IOPS map[IOPSKey]*IOPSObservation
	// Policies are every StoragePolicy, for overlap detection (a volume two enabled policies
	// select is moved by neither).
	Policies []*storagev1.StoragePolicy

	// derived holds what the planner derives once per snapshot (which policy selects which
	// PV), or once for several snapshots of the same PVs and policies (ShareIndex). It is why
	// a Snapshot must not be copied or changed once planned from: build a new one (Refreshed).
	derived atomic.Pointer[snapshotIndex]
}

// VolumeObservation is what a decision reads of one Mayastor volume.
type VolumeObservation struct {
	ID        string
	SizeBytes uint64
	// NumReplicas is spec.num_replicas; ReplicaPools the pool of each replica in the topology.
	NumReplicas  int
	ReplicaPools []string
	// Published: the volume has a target (nexus); only published volumes can be rebuilt.
	Published bool
	// Healthy: state.status is Online.
	Healthy bool
	// Snapshots is spec.num_snapshots; AffinityGroup is spec.affinity_group's id.
	Snapshots     int
	AffinityGroup string
}

// PoolObservation is what a decision reads of one Mayastor pool.
type PoolObservation struct {
	ID   string
	Node string
	// Labels are the pool's spec labels (the tier selectors match them).
	Labels map[string]string
	// Online: state.status is Online (a Degraded, Faulted or Unknown pool takes no new replica).
	Online        bool
	CapacityBytes uint64
	UsedBytes     uint64
}

// PVObservation is a Mayastor PersistentVolume, reduced to what a decision reads.
type PVObservation struct {
	Name         string
	VolumeID     string
	StorageClass string
	Labels       map[string]string
	// Claim is the bound PVC ("namespace/name"), empty when unbound.
	Claim string
	// Pin and Excluded come from the storage.billyronks.io annotations, the PVC's over the PV's.
	// BadPin is the tier annotation's value when it names no tier (Pin is then empty).
	Pin      storagev1.Tier
	BadPin   string
	Excluded bool
	// Moves is the volume's anti-flap record, from the PV's storage.billyronks.io/moves
	// annotation (zero when absent or unreadable).
	Moves MoveRecord
}

// MigrationObservation sums up one volume's TierMigrations.
type MigrationObservation struct {
	// LastAny is when the latest migration ended (or began, if it has not ended); LastReal the
	// same over migrations that were not dry runs. Cooldown counts from LastReal for real
	// moves, from LastAny for dry runs.
	LastAny, LastReal time.Time
	// InFlight: a migration of the volume has not ended.
	InFlight bool
	// WaitingApproval names the volume's migration waiting for approval ("" when none).
	WaitingApproval string
}

// InFlight counts slot-holding migrations in flight (a migration waiting for approval holds
// none).
type InFlight struct {
	Global   int
	ByPolicy map[string]int
}

// IOPSKey names one IOPS evaluation: a sampling window and a query template ("" means the
// operator's).
type IOPSKey struct {
	Window time.Duration
	Query  string
}

// IOPSObservation is one IOPS evaluation over every volume.
type IOPSObservation struct {
	// Volumes holds the answer by volume uuid; a volume absent here is Unknown.
	Volumes map[string]VolumeIOPS
	// Problem is set when the evaluation failed (Prometheus unreachable, bad query...): no
	// volume's IOPS is known, and no policy using this key moves anything.
	Problem *Problem
}

// VolumeIOPS is one volume's mean IOPS over the window, or why it is unknown.
type VolumeIOPS struct {
	Known  bool
	IOPS   float64
	Reason string
}

// Problem is why an observation failed: a CamelCase reason for a condition and a sentence.
type Problem struct {
	Reason  string
	Message string
}

// Flags are the operator-wide settings a decision depends on.
type Flags struct {
	DryRun                  bool
	PreservationMode        bool
	MaxConcurrentMigrations int
}

// ParsePin reads the tier annotation's value: the tier it pins to, in any case; or, when it
// names no tier, the value as bad. An empty value pins nothing.
func ParsePin(value string) (pin storagev1.Tier, bad string) {
	if strings.TrimSpace(value) == "" {
		return "", ""
	}
	if t, ok := storagev1.ParseTier(value); ok {
		return t, ""
	}
	return "", value
}
