package v1

import (
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MigrationPhase is where a TierMigration stands in the 4-phase move.
// +kubebuilder:validation:Enum=WaitingApproval;Pending;Analyzing;ScalingUp;WaitingSync;ScalingDown;RollingBack;Completed;Failed
type MigrationPhase string

const (
	// PhaseWaitingApproval: the migration waits for a person to approve it (annotation
	// storage.billyronks.io/approved="true") or reject it; it holds no slot and writes nothing.
	// It expires at status.approvalExpires.
	PhaseWaitingApproval MigrationPhase = "WaitingApproval"
	// PhasePending: accepted, waiting for a free migration slot.
	PhasePending MigrationPhase = "Pending"
	// PhaseAnalyzing: checking the volume is healthy and choosing a target pool.
	PhaseAnalyzing MigrationPhase = "Analyzing"
	// PhaseScalingUp: adding a replica on a pool of the target tier.
	PhaseScalingUp MigrationPhase = "ScalingUp"
	// PhaseWaitingSync: waiting until the new replica is a healthy, fully rebuilt child.
	PhaseWaitingSync MigrationPhase = "WaitingSync"
	// PhaseScalingDown: retiring the source replica (skipped in preservation mode).
	PhaseScalingDown MigrationPhase = "ScalingDown"
	// PhaseRollingBack: removing the replica this migration added, source untouched.
	PhaseRollingBack MigrationPhase = "RollingBack"
	// PhaseCompleted: the volume is on the target tier (or, in dry-run, would have been moved).
	PhaseCompleted MigrationPhase = "Completed"
	// PhaseFailed: the migration stopped; status.error says why. The source replica is intact.
	PhaseFailed MigrationPhase = "Failed"
)

// IsTerminal reports whether nothing more will happen to a migration in this phase.
func (p MigrationPhase) IsTerminal() bool { return p == PhaseCompleted || p == PhaseFailed }

// IsInFlight reports whether a migration in this phase holds a migration slot: it has left
// Pending and has not yet ended (Analyzing through RollingBack).
func (p MigrationPhase) IsInFlight() bool {
	switch p {
	case PhaseAnalyzing, PhaseScalingUp, PhaseWaitingSync, PhaseScalingDown, PhaseRollingBack:
		return true
	}
	return false
}

// Labels and finalizer CoucheStor puts on TierMigrations.
const (
	// LabelPolicy names the StoragePolicy a TierMigration belongs to (spec.policyName), so a
	// policy's migrations can be listed and counted by label.
	LabelPolicy = "storage.billyronks.io/policy"
	// LabelVolume is the Mayastor volume uuid a TierMigration moves (spec.volumeID).
	LabelVolume = "storage.billyronks.io/volume"
	// FinalizerMigrationCleanup holds a deleted TierMigration until the migration controller has
	// unwound what it started: cordons lifted, an unrebuilt extra replica removed.
	FinalizerMigrationCleanup = "storage.billyronks.io/migration-cleanup"
)

// TierMigrationName is the name of a TierMigration moving a volume to a tier, started at the
// given time: <tier>-<volume uuid>-<unix minute>. The policy controller and kubectl couchestor
// move both name theirs so; two starts of the same move within a minute collide on purpose.
func TierMigrationName(to Tier, volumeID string, at time.Time) string {
	return fmt.Sprintf("%s-%s-%d", strings.ToLower(string(to)), volumeID, at.Unix()/60)
}

// TierMigration condition types.
const (
	// MigrationConditionProgressing is True while the migration is acting (reason: the phase, or
	// Retrying after a transient storage error), False while it waits for a slot or once it ended.
	MigrationConditionProgressing = "Progressing"
	// MigrationConditionSucceeded is Unknown while the migration runs, True once it Completed and
	// False once it Failed; its reason says why (e.g. VolumeUnpublished, Timeout, VolumeBusy).
	MigrationConditionSucceeded = "Succeeded"
)

// MigrationReason records why a migration was asked for.
type MigrationReason struct {
	// Description is a human sentence: "mean IOPS 7200 over 1h above high watermark 5000".
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Description string `json:"description,omitempty"`
	// ObservedIOPS is the mean IOPS over the sampling window when the move was decided.
	// +optional
	ObservedIOPS *int64 `json:"observedIOPS,omitempty"`
	// HighWatermarkIOPS is the policy's high watermark at that time.
	// +optional
	HighWatermarkIOPS *int64 `json:"highWatermarkIOPS,omitempty"`
	// LowWatermarkIOPS is the policy's low watermark at that time.
	// +optional
	LowWatermarkIOPS *int64 `json:"lowWatermarkIOPS,omitempty"`
}

// TierMigrationSpec asks for one volume to be moved to one tier. It cannot be changed once made:
// delete the TierMigration and create another.
//
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable: delete the TierMigration and create a new one"
// +kubebuilder:validation:XValidation:rule="has(self.targetPoolSelector) || has(self.policyName)",message="either targetPoolSelector or policyName must be set, to know which pools make the target tier"
type TierMigrationSpec struct {
	// VolumeID is the Mayastor volume uuid (the PV's spec.csi.volumeHandle).
	// +kubebuilder:validation:Pattern=`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`
	VolumeID string `json:"volumeID"`

	// PersistentVolumeName names the volume's PV, for Events and people.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	PersistentVolumeName string `json:"persistentVolumeName,omitempty"`

	// TargetTier is the tier the volume moves to.
	TargetTier Tier `json:"targetTier"`

	// TargetPoolSelector selects the pools of the target tier. When empty, the named policy's
	// selector for targetTier is used.
	// +optional
	TargetPoolSelector *metav1.LabelSelector `json:"targetPoolSelector,omitempty"`

	// SourcePoolSelector selects the pools whose replica is retired. When empty, the named
	// policy's selector for the other tier is used; with neither, any pool not matched by
	// targetPoolSelector is a source.
	// +optional
	SourcePoolSelector *metav1.LabelSelector `json:"sourcePoolSelector,omitempty"`

	// PolicyName names the StoragePolicy that asked for the move, if any.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	PolicyName string `json:"policyName,omitempty"`

	// Reason records why the move was asked for.
	// +optional
	Reason MigrationReason `json:"reason,omitempty"`

	// DryRun walks the decision path and records what would happen, with no write to Mayastor.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`

	// PreservationMode keeps the source replica once the new one is in sync.
	// +optional
	PreservationMode bool `json:"preservationMode,omitempty"`

	// AllowRepublish lets the migration move the volume's nexus when the replica to retire is
	// local to it (a brief I/O pause for the application).
	// +optional
	AllowRepublish bool `json:"allowRepublish,omitempty"`

	// Timeout bounds each round of the migration (scale-up, rebuild, scale-down), as a Go
	// duration: the first round's deadline is the start plus the timeout, a later round's grows
	// with the rebuild rate observed (see status.deadline). Past it, a round that has not yet
	// rebuilt its new replica is rolled back.
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`
	// When empty, the named policy's migrationTimeout applies, else the operator's
	// --migration-timeout-minutes (30m by default). The effective deadline is status.deadline.
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="must be a positive duration such as 30m or 1h"
	// +optional
	Timeout string `json:"timeout,omitempty"`

	// ApprovalRequired: the migration starts in phase WaitingApproval and goes on only once
	// annotated storage.billyronks.io/approved="true" (a policy with approval Manual sets it).
	// +optional
	ApprovalRequired bool `json:"approvalRequired,omitempty"`

	// ApprovalTimeout is how long the migration waits for approval before it fails with reason
	// ApprovalExpired, as a Go duration; 24h when empty.
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="must be a positive duration such as 30m or 24h"
	// +optional
	ApprovalTimeout string `json:"approvalTimeout,omitempty"`
}

// MigrationStep records one phase of a migration as it happened.
type MigrationStep struct {
	// Phase is the phase this step ran.
	Phase MigrationPhase `json:"phase"`
	// StartTime is when the phase began.
	StartTime metav1.Time `json:"startTime"`
	// CompletionTime is when the phase ended; empty while it runs.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
	// Message says what the phase did or is waiting for.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Message string `json:"message,omitempty"`
}

// NodeCordon is a cordon a migration placed on a Mayastor node to steer replica placement. It is
// recorded here before the cordon call, so a restarted operator always lifts it.
type NodeCordon struct {
	// Node is the Mayastor node id.
	Node string `json:"node"`
	// Label is the cordon label, unique to this migration.
	Label string `json:"label"`
	// Answered: the call that puts the cordon is over (it answered, or the label was seen on
	// the node), so a label absent now will not appear later. Never persisted: a cordon read
	// back from the API server "may land late" and stays recorded until its removal is seen.
	Answered bool `json:"-"`
}

// ReplicaRef names a Mayastor replica and where it lives.
type ReplicaRef struct {
	// ID is the replica uuid.
	ID string `json:"id"`
	// Node is the Mayastor node holding it.
	// +optional
	Node string `json:"node,omitempty"`
	// Pool is the Mayastor pool holding it.
	// +optional
	Pool string `json:"pool,omitempty"`
}

// KeptReplica is a replica a migration left in place beyond the volume's original count.
type KeptReplica struct {
	// ID is the replica uuid.
	ID string `json:"id"`
	// Node is the Mayastor node holding it.
	// +optional
	Node string `json:"node,omitempty"`
	// Pool is the Mayastor pool holding it.
	// +optional
	Pool string `json:"pool,omitempty"`
	// Reason says why it was kept (CamelCase): PreservationMode, AbortWouldRiskSourceReplica,
	// RollbackIncomplete, ReplicaCountChangedOutside, or the refusal that stopped the move.
	Reason string `json:"reason"`
}

// MigrationCheckpoint is the migrator's durable plan — the very type the Mover works on
// (internal/mover.Plan is an alias of it): written before every cordon and replica-count
// change, so that a restarted operator resumes every step from it. Users read the summary fields
// of the status; this is for the operator and for debugging.
type MigrationCheckpoint struct {
	// MigrationID identifies the move; its cordon label derives from it.
	MigrationID string `json:"migrationID"`
	// VolumeID is the Mayastor volume uuid.
	VolumeID string `json:"volumeID"`
	// TargetSelector selects the target tier's pools (label selector string form).
	TargetSelector string `json:"targetSelector"`
	// SourceSelector selects the source tier's pools; empty means any pool outside the target tier.
	// +optional
	SourceSelector string `json:"sourceSelector,omitempty"`
	// Replicas is the replica count every step returns the volume to (one more is added while
	// a new replica is built).
	Replicas int `json:"replicas"`
	// VolumeSize in bytes.
	// +optional
	VolumeSize int64 `json:"volumeSize,omitempty"`
	// BaseReplicaIDs are the volume's replicas before the pending increase: any other replica is
	// one the migration added.
	// +listType=atomic
	// +optional
	BaseReplicaIDs []string `json:"baseReplicaIDs,omitempty"`
	// SourceReplicas are the replicas still to move off the source tier.
	// +listType=atomic
	// +optional
	SourceReplicas []ReplicaRef `json:"sourceReplicas,omitempty"`
	// RemovedSourceReplicas were removed after their data was rebuilt on MovedReplicas.
	// +listType=atomic
	// +optional
	RemovedSourceReplicas []ReplicaRef `json:"removedSourceReplicas,omitempty"`
	// MovedReplicas are the replicas the migration added on the target tier and kept.
	// +listType=atomic
	// +optional
	MovedReplicas []ReplicaRef `json:"movedReplicas,omitempty"`
	// PreservedSourceReplicas were kept on purpose (preservation mode).
	// +listType=atomic
	// +optional
	PreservedSourceReplicas []ReplicaRef `json:"preservedSourceReplicas,omitempty"`
	// NewReplica is the replica added by the current round, until it is kept or taken back.
	// +optional
	NewReplica *ReplicaRef `json:"newReplica,omitempty"`
	// TargetPools are the eligible target pools found at the last check.
	// +listType=atomic
	// +optional
	TargetPools []string `json:"targetPools,omitempty"`
	// NexusNode is the node of the volume's target at the last check.
	// +optional
	NexusNode string `json:"nexusNode,omitempty"`
	// CordonLabel is the label this migration cordons nodes with.
	// +optional
	CordonLabel string `json:"cordonLabel,omitempty"`
	// Cordons are recorded before they are applied: whatever is listed may be on a node and is
	// released first by a restarted operator.
	// +listType=atomic
	// +optional
	Cordons []NodeCordon `json:"cordons,omitempty"`
	// PlacementAttempts counts replica-count increases of the current round that landed off
	// the target tier.
	// +optional
	PlacementAttempts int `json:"placementAttempts,omitempty"`
	// RemovalAttempts counts decreases that removed a replica other than a source (a wasted
	// rebuild each; only when the replica map order changed between the read and the write).
	// +optional
	RemovalAttempts int `json:"removalAttempts,omitempty"`
	// Increases counts the replica-count increases of this migration that added a replica
	// (status.attempts shows it).
	// +optional
	Increases int `json:"increases,omitempty"`
	// Forecast is the plan of the rounds found at Analyze and refreshed before every decrease,
	// e.g. "round 1 removes a; round 2 republishes onto new-1's node, then removes b".
	// +kubebuilder:validation:MaxLength=2048
	// +optional
	Forecast string `json:"forecast,omitempty"`
	// ExpectedRemoval is the replica the last decrease was predicted to remove.
	// +optional
	ExpectedRemoval string `json:"expectedRemoval,omitempty"`
	// Placeholders are the placeholder replicas of this migration: small thin replicas that
	// belong to no volume, created on a pool so that the core agent's replica map keeps the
	// moved replicas behind the remaining sources. Each is recorded here before it is created
	// and deleted when the migration ends, whatever the outcome.
	// +kubebuilder:validation:MaxItems=64
	// +listType=atomic
	// +optional
	Placeholders []ReplicaRef `json:"placeholders,omitempty"`
	// PlaceholdersCreated counts the placeholder replicas this migration has recorded so far;
	// the next one's id derives from it.
	// +optional
	PlaceholdersCreated int `json:"placeholdersCreated,omitempty"`
}

// HoldsResources reports whether the checkpoint records node cordons or placeholder replicas
// that must be released when the migration ends.
func (c *MigrationCheckpoint) HoldsResources() bool {
	return c != nil && (len(c.Cordons) > 0 || len(c.Placeholders) > 0)
}

// Complete reports whether no source replica is left to move and no new replica is pending.
func (c MigrationCheckpoint) Complete() bool {
	return len(c.SourceReplicas) == 0 && c.NewReplica == nil
}

// TierMigrationStatus is how far a migration got, step by step.
type TierMigrationStatus struct {
	// ObservedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Phase is the current phase.
	// +optional
	Phase MigrationPhase `json:"phase,omitempty"`
	// SourceTier is the tier the volume was on when the migration was analysed.
	// +optional
	SourceTier Tier `json:"sourceTier,omitempty"`
	// SourceReplicas are the replica uuids to retire.
	// +listType=atomic
	// +optional
	SourceReplicas []string `json:"sourceReplicas,omitempty"`
	// OriginalReplicaCount is the volume's replica count before the migration.
	// +optional
	OriginalReplicaCount int32 `json:"originalReplicaCount,omitempty"`
	// TargetPool is the pool chosen for the new replica.
	// +optional
	TargetPool string `json:"targetPool,omitempty"`
	// NewReplica is the uuid of the replica the migration added.
	// +optional
	NewReplica string `json:"newReplica,omitempty"`
	// SyncProgress is the rebuild progress of the new replica, in percent.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	SyncProgress int32 `json:"syncProgress,omitempty"`
	// Cordons are node cordons this migration placed and has not yet lifted.
	// +listType=atomic
	// +optional
	Cordons []NodeCordon `json:"cordons,omitempty"`
	// Steps records each phase with its timestamps and message.
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	// +optional
	Steps []MigrationStep `json:"steps,omitempty"`
	// Attempts counts the replica-count increases that added a replica so far: one per round,
	// more when a new replica landed off the target tier and was taken back.
	// +optional
	Attempts int32 `json:"attempts,omitempty"`
	// Rounds counts completed scale-up, sync, scale-down rounds (one per source replica moved,
	// more when a decrease removed another replica than the source).
	// +optional
	Rounds int32 `json:"rounds,omitempty"`
	// DryRun is the effective dry-run mode (spec, policy or operator flag), fixed at start.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`
	// PreservationMode is the effective preservation mode (spec, policy or operator flag), fixed
	// at start.
	// +optional
	PreservationMode bool `json:"preservationMode,omitempty"`
	// Deadline is the current round's deadline. The first round's is startTime plus the
	// effective timeout; each later round's is set when it starts: its start plus the larger of
	// the timeout and twice the volume size over the rebuild rate observed so far in this
	// migration (see docs/tiermigration.md). Past it, ScalingUp and WaitingSync roll back;
	// ScalingDown and RollingBack end within their settle window.
	// +optional
	Deadline *metav1.Time `json:"deadline,omitempty"`
	// Timeout is the effective timeout (spec, policy or operator flag), fixed at start.
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
	// RebuiltBytes and RebuildSeconds add up the rebuilds this migration waited for (volume
	// size, and time from the scale-up to a rebuilt replica): their ratio is the observed
	// rebuild rate that later rounds' deadlines are derived from.
	// +optional
	RebuiltBytes int64 `json:"rebuiltBytes,omitempty"`
	// +optional
	RebuildSeconds int64 `json:"rebuildSeconds,omitempty"`
	// KeptReplicas are replicas the migration leaves in place beyond the volume's original
	// replica count (preservation mode, a roll-back that could not lower the count, a refusal
	// once the new replica was rebuilt, a count changed by another actor). Each one costs a
	// replica's worth of capacity until someone lowers the count.
	// +listType=atomic
	// +optional
	KeptReplicas []KeptReplica `json:"keptReplicas,omitempty"`
	// Checkpoint is the migrator's durable plan; see MigrationCheckpoint.
	// +optional
	Checkpoint *MigrationCheckpoint `json:"checkpoint,omitempty"`
	// ApprovalExpires is when a migration waiting for approval expires.
	// +optional
	ApprovalExpires *metav1.Time `json:"approvalExpires,omitempty"`
	// StartTime is when the migration left Pending.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// CompletionTime is when it reached Completed or Failed.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
	// Error says why the migration failed or was rolled back.
	// +kubebuilder:validation:MaxLength=2048
	// +optional
	Error string `json:"error,omitempty"`
	// Conditions of the migration.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// TierMigration is one move of one Mayastor volume to one tier, carried out by the 4-phase
// migrator. Its status is the durable state a restarted operator resumes from.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=tm;tmig,categories=couchestor
// +kubebuilder:printcolumn:name="Volume",type=string,JSONPath=`.spec.volumeID`
// +kubebuilder:printcolumn:name="From",type=string,JSONPath=`.status.sourceTier`
// +kubebuilder:printcolumn:name="To",type=string,JSONPath=`.spec.targetTier`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Progress",type=integer,JSONPath=`.status.syncProgress`
// +kubebuilder:printcolumn:name="Pool",type=string,JSONPath=`.status.targetPool`,priority=1
// +kubebuilder:printcolumn:name="Dry-Run",type=boolean,JSONPath=`.status.dryRun`,priority=1
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Succeeded")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type TierMigration struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   TierMigrationSpec   `json:"spec"`
	Status TierMigrationStatus `json:"status,omitempty"`
}

// TierMigrationList is a list of TierMigration.
//
// +kubebuilder:object:root=true
type TierMigrationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []TierMigration `json:"items"`
}

func init() {
	SchemeBuilder.Register(&TierMigration{}, &TierMigrationList{})
}
