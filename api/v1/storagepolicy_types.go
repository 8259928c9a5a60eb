package v1

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Tier names one of the two storage tiers CoucheStor moves volumes between.
// +kubebuilder:validation:Enum=NVMe;SATA
type Tier string

const (
	// TierNVMe is the fast tier: pools matched by a policy's nvmePoolSelector.
	TierNVMe Tier = "NVMe"
	// TierSATA is the cheap tier: pools matched by a policy's sataPoolSelector.
	TierSATA Tier = "SATA"
)

// ParseTier reads a tier name in any case ("nvme", "NVMe", "SATA", "sata"), around spaces;
// false when it names no tier.
func ParseTier(s string) (Tier, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "nvme":
		return TierNVMe, true
	case "sata":
		return TierSATA, true
	}
	return "", false
}

// StoragePolicySpec says which volumes are tiered, on which pools each tier lives, and the IOPS
// thresholds that move a volume from one tier to the other. Every field beyond those of the sample
// policy (config/samples) is optional, so the sample stays valid unchanged.
//
// +kubebuilder:validation:XValidation:rule="self.lowWatermarkIOPS < self.highWatermarkIOPS",message="lowWatermarkIOPS must be below highWatermarkIOPS",fieldPath=".lowWatermarkIOPS"
type StoragePolicySpec struct {
	// HighWatermarkIOPS: a volume whose mean IOPS over samplingWindow is above this moves to NVMe.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:default=5000
	// +optional
	HighWatermarkIOPS int64 `json:"highWatermarkIOPS,omitempty"`

	// LowWatermarkIOPS: a volume whose mean IOPS over samplingWindow is below this moves to SATA.
	// Must be below highWatermarkIOPS; volumes in between stay where they are.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:default=500
	// +optional
	LowWatermarkIOPS int64 `json:"lowWatermarkIOPS,omitempty"`

	// SamplingWindow is the window IOPS are averaged over, as a Go duration ("1h", "90m").
	// A volume with less history than this is Unknown and is never moved.
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="must be a positive duration such as 30m or 1h"
	// +kubebuilder:default="1h"
	// +optional
	SamplingWindow string `json:"samplingWindow,omitempty"`

	// CooldownPeriod is the minimum time between two migrations of one volume, as a Go duration.
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="must be a positive duration such as 30m or 1h"
	// +kubebuilder:default="24h"
	// +optional
	CooldownPeriod string `json:"cooldownPeriod,omitempty"`

	// StorageClassName limits the policy to persistent volumes of this StorageClass.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:default="mayastor"
	// +optional
	StorageClassName string `json:"storageClassName,omitempty"`

	// NVMePoolSelector selects the Mayastor pools of the hot tier, by the Mayastor pool's labels
	// (spec.labels, set from the DiskPool's spec.topology.labelled; the DiskPool object's own
	// metadata labels are not read).
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn', 'Exists', 'DoesNotExist'])",message="matchExpressions: operator must be In, NotIn, Exists or DoesNotExist",fieldPath=".matchExpressions"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, !(e.operator in ['In', 'NotIn']) || (has(e.values) && size(e.values) > 0))",message="matchExpressions: values must not be empty when the operator is In or NotIn",fieldPath=".matchExpressions"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, !(e.operator in ['Exists', 'DoesNotExist']) || !has(e.values) || size(e.values) == 0)",message="matchExpressions: values must be empty when the operator is Exists or DoesNotExist",fieldPath=".matchExpressions"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.key.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$'))",message="matchExpressions: key must be a valid label key: an optional DNS subdomain prefix and '/', then a name of at most 63 alphanumerics, '-', '_' or '.', beginning and ending with an alphanumeric",fieldPath=".matchExpressions"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, !has(e.values) || e.values.all(v, v.matches('^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$')))",message="matchExpressions: values must be valid label values: at most 63 alphanumerics, '-', '_' or '.', beginning and ending with an alphanumeric, or empty",fieldPath=".matchExpressions"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchLabels) || self.matchLabels.all(k, k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$'))",message="matchLabels: keys must be valid label keys: an optional DNS subdomain prefix and '/', then a name of at most 63 alphanumerics, '-', '_' or '.', beginning and ending with an alphanumeric",fieldPath=".matchLabels"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchLabels) || self.matchLabels.all(k, self.matchLabels[k].matches('^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$'))",message="matchLabels: values must be valid label values: at most 63 alphanumerics, '-', '_' or '.', beginning and ending with an alphanumeric, or empty",fieldPath=".matchLabels"
	// +kubebuilder:validation:XValidation:rule="(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && size(self.matchExpressions) > 0)",message="must not be empty: an empty selector would put every pool in the NVMe tier"
	NVMePoolSelector metav1.LabelSelector `json:"nvmePoolSelector"`

	// SATAPoolSelector selects the Mayastor pools of the cold tier, like nvmePoolSelector.
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn', 'Exists', 'DoesNotExist'])",message="matchExpressions: operator must be In, NotIn, Exists or DoesNotExist",fieldPath=".matchExpressions"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, !(e.operator in ['In', 'NotIn']) || (has(e.values) && size(e.values) > 0))",message="matchExpressions: values must not be empty when the operator is In or NotIn",fieldPath=".matchExpressions"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, !(e.operator in ['Exists', 'DoesNotExist']) || !has(e.values) || size(e.values) == 0)",message="matchExpressions: values must be empty when the operator is Exists or DoesNotExist",fieldPath=".matchExpressions"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.key.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$'))",message="matchExpressions: key must be a valid label key: an optional DNS subdomain prefix and '/', then a name of at most 63 alphanumerics, '-', '_' or '.', beginning and ending with an alphanumeric",fieldPath=".matchExpressions"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, !has(e.values) || e.values.all(v, v.matches('^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$')))",message="matchExpressions: values must be valid label values: at most 63 alphanumerics, '-', '_' or '.', beginning and ending with an alphanumeric, or empty",fieldPath=".matchExpressions"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchLabels) || self.matchLabels.all(k, k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$'))",message="matchLabels: keys must be valid label keys: an optional DNS subdomain prefix and '/', then a name of at most 63 alphanumerics, '-', '_' or '.', beginning and ending with an alphanumeric",fieldPath=".matchLabels"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchLabels) || self.matchLabels.all(k, self.matchLabels[k].matches('^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$'))",message="matchLabels: values must be valid label values: at most 63 alphanumerics, '-', '_' or '.', beginning and ending with an alphanumeric, or empty",fieldPath=".matchLabels"
	// +kubebuilder:validation:XValidation:rule="(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && size(self.matchExpressions) > 0)",message="must not be empty: an empty selector would put every pool in the SATA tier"
	SATAPoolSelector metav1.LabelSelector `json:"sataPoolSelector"`

	// MaxConcurrentMigrations bounds how many of this policy's migrations run at once; the
	// operator's --max-concurrent-migrations bounds all policies together.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +kubebuilder:default=2
	// +optional
	MaxConcurrentMigrations int32 `json:"maxConcurrentMigrations,omitempty"`

	// MigrationTimeout bounds one migration, rebuild included, as a Go duration. A migration that
	// times out before its source replica is removed is rolled back: no data is lost.
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="must be a positive duration such as 30m or 1h"
	// +kubebuilder:default="30m"
	// +optional
	MigrationTimeout string `json:"migrationTimeout,omitempty"`

	// Enabled turns the policy on or off; a disabled policy watches nothing and starts nothing.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// DryRun runs the whole decision path (status, Events, TierMigration records) with no write
	// to Mayastor.
	// +kubebuilder:default=false
	// +optional
	DryRun bool `json:"dryRun,omitempty"`

	// VolumeSelector further limits the policy to persistent volumes with these labels.
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn', 'Exists', 'DoesNotExist'])",message="matchExpressions: operator must be In, NotIn, Exists or DoesNotExist",fieldPath=".matchExpressions"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, !(e.operator in ['In', 'NotIn']) || (has(e.values) && size(e.values) > 0))",message="matchExpressions: values must not be empty when the operator is In or NotIn",fieldPath=".matchExpressions"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, !(e.operator in ['Exists', 'DoesNotExist']) || !has(e.values) || size(e.values) == 0)",message="matchExpressions: values must be empty when the operator is Exists or DoesNotExist",fieldPath=".matchExpressions"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.key.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$'))",message="matchExpressions: key must be a valid label key: an optional DNS subdomain prefix and '/', then a name of at most 63 alphanumerics, '-', '_' or '.', beginning and ending with an alphanumeric",fieldPath=".matchExpressions"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, !has(e.values) || e.values.all(v, v.matches('^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$')))",message="matchExpressions: values must be valid label values: at most 63 alphanumerics, '-', '_' or '.', beginning and ending with an alphanumeric, or empty",fieldPath=".matchExpressions"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchLabels) || self.matchLabels.all(k, k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$'))",message="matchLabels: keys must be valid label keys: an optional DNS subdomain prefix and '/', then a name of at most 63 alphanumerics, '-', '_' or '.', beginning and ending with an alphanumeric",fieldPath=".matchLabels"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchLabels) || self.matchLabels.all(k, self.matchLabels[k].matches('^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$'))",message="matchLabels: values must be valid label values: at most 63 alphanumerics, '-', '_' or '.', beginning and ending with an alphanumeric, or empty",fieldPath=".matchLabels"
	// +optional
	VolumeSelector *metav1.LabelSelector `json:"volumeSelector,omitempty"`

	// PreservationMode keeps the source replica after a migration (the volume then has one
	// replica more); the operator's --preservation-mode turns it on for every policy.
	// +kubebuilder:default=false
	// +optional
	PreservationMode bool `json:"preservationMode,omitempty"`

	// AllowRepublish lets a migration move a volume's nexus (a brief I/O pause for the
	// application) when the replica to retire is local to the nexus. Off by default: such volumes
	// are reported and left alone.
	// +kubebuilder:default=false
	// +optional
	AllowRepublish bool `json:"allowRepublish,omitempty"`

	// CapacityHeadroomPercent is the share of a target pool's capacity that is kept free: a
	// migration never fills a pool past 100 minus this percent.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=90
	// +kubebuilder:default=10
	// +optional
	CapacityHeadroomPercent int32 `json:"capacityHeadroomPercent,omitempty"`

	// MigrationWindows are weekly windows in which the policy may start new migrations; outside
	// every window the moves it decides wait (reason OutsideMigrationWindow) and
	// status.nextWindowOpens says when they may start. A migration already running finishes.
	// Empty: migrations may start at any time.
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	// +optional
	MigrationWindows []MigrationWindow `json:"migrationWindows,omitempty"`

	// Approval is Automatic (migrations start on their own) or Manual: each migration the
	// policy decides is created in phase WaitingApproval, holding no slot and writing nothing
	// to Mayastor, until a person approves it (annotation storage.billyronks.io/approved="true")
	// or rejects it (storage.billyronks.io/rejected="true"), or it expires after
	// approvalTimeout.
	// +kubebuilder:default=Automatic
	// +optional
	Approval ApprovalMode `json:"approval,omitempty"`

	// ApprovalTimeout is how long a migration waits for approval before it expires (phase
	// Failed, reason ApprovalExpired) and its volume is decided afresh, as a Go duration.
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="must be a positive duration such as 30m or 24h"
	// +kubebuilder:default="24h"
	// +optional
	ApprovalTimeout string `json:"approvalTimeout,omitempty"`

	// AntiFlap lengthens the cooldown of a volume that keeps moving back and forth: a volume
	// moved back (to the tier it left) within antiFlap.windowCooldowns cooldowns of its previous
	// move waits cooldownPeriod × 2^flips before its next move, at most antiFlap.maxCooldown.
	// +kubebuilder:default={}
	// +optional
	AntiFlap AntiFlap `json:"antiFlap,omitempty"`

	// IOPSQuery overrides the PromQL query that gives each volume's mean IOPS. "{{window}}" is
	// replaced by samplingWindow. The result must hold one sample per pv_name label.
	// +kubebuilder:validation:MaxLength=4096
	// +optional
	IOPSQuery string `json:"iopsQuery,omitempty"`
}

// StoragePolicy condition types.
const (
	// ConditionReady is True when the last reconcile of the policy succeeded.
	ConditionReady = "Ready"
	// ConditionMetricsAvailable is True when Prometheus answered the policy's IOPS query.
	ConditionMetricsAvailable = "MetricsAvailable"
	// ConditionStorageAvailable is True when Mayastor answered and both tiers have pools.
	ConditionStorageAvailable = "StorageAvailable"
)

// StoragePolicyStatus is what the operator last saw and did for a policy.
type StoragePolicyStatus struct {
	// ObservedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, MetricsAvailable, StorageAvailable.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// VolumesWatched counts the volumes the policy selects.
	// +optional
	VolumesWatched int32 `json:"volumesWatched"`
	// NVMeVolumes counts watched volumes whose replicas are all on the NVMe tier.
	// +optional
	NVMeVolumes int32 `json:"nvmeVolumes"`
	// SATAVolumes counts watched volumes whose replicas are all on the SATA tier.
	// +optional
	SATAVolumes int32 `json:"sataVolumes"`
	// UnknownVolumes counts watched volumes without IOPS data covering the sampling window.
	// +optional
	UnknownVolumes int32 `json:"unknownVolumes"`
	// ActiveMigrations counts this policy's migrations in progress.
	// +optional
	ActiveMigrations int32 `json:"activeMigrations"`
	// PlannedMigrations counts moves decided but waiting for a free migration slot.
	// +optional
	PlannedMigrations int32 `json:"plannedMigrations"`

	// WaitingApproval counts this policy's migrations waiting for a person's approval.
	// +optional
	WaitingApproval int32 `json:"waitingApproval,omitempty"`
	// NextWindowOpens is when the next migration window opens, while none is open; empty when a
	// window is open or the policy has none.
	// +optional
	NextWindowOpens *metav1.Time `json:"nextWindowOpens,omitempty"`
	// WindowCloses is when the migration window open now closes; empty outside windows.
	// +optional
	WindowCloses *metav1.Time `json:"windowCloses,omitempty"`

	// LastReconcileTime is when an evaluation last changed this status. The policy is evaluated
	// every 30 seconds, but an evaluation that changes nothing is not written, to spare the API
	// server one write per policy per resync.
	// +optional
	LastReconcileTime *metav1.Time `json:"lastReconcileTime,omitempty"`

	// RecentMigrations is the audit trail of the policy's latest migrations, newest first.
	// +kubebuilder:validation:MaxItems=20
	// +listType=atomic
	// +optional
	RecentMigrations []MigrationRecord `json:"recentMigrations,omitempty"`
}

// MigrationRecord is one line of a policy's migration history.
type MigrationRecord struct {
	// Volume is the Mayastor volume id.
	Volume string `json:"volume"`
	// TierMigration names the TierMigration object that carried the move.
	// +optional
	TierMigration string `json:"tierMigration,omitempty"`
	// From is the tier the volume left.
	// +optional
	From Tier `json:"from,omitempty"`
	// To is the tier the volume moved to.
	To Tier `json:"to"`
	// ObservedIOPS is the mean IOPS that triggered the move.
	// +optional
	ObservedIOPS *int64 `json:"observedIOPS,omitempty"`
	// Phase is the migration's last phase.
	Phase MigrationPhase `json:"phase"`
	// Message says why it ended as it did.
	// +optional
	Message string `json:"message,omitempty"`
	// StartTime is when the migration started.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// CompletionTime is when it ended.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
}

// StoragePolicy moves the volumes it selects between the NVMe and SATA tiers from the IOPS each
// volume does.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=sp;spol,categories=couchestor
// +kubebuilder:printcolumn:name="Enabled",type=boolean,JSONPath=`.spec.enabled`
// +kubebuilder:printcolumn:name="Dry-Run",type=boolean,JSONPath=`.spec.dryRun`
// +kubebuilder:printcolumn:name="High",type=integer,JSONPath=`.spec.highWatermarkIOPS`
// +kubebuilder:printcolumn:name="Low",type=integer,JSONPath=`.spec.lowWatermarkIOPS`
// +kubebuilder:printcolumn:name="NVMe",type=integer,JSONPath=`.status.nvmeVolumes`
// +kubebuilder:printcolumn:name="SATA",type=integer,JSONPath=`.status.sataVolumes`
// +kubebuilder:printcolumn:name="Unknown",type=integer,JSONPath=`.status.unknownVolumes`,priority=1
// +kubebuilder:printcolumn:name="Migrating",type=integer,JSONPath=`.status.activeMigrations`
// +kubebuilder:printcolumn:name="Awaiting-Approval",type=integer,JSONPath=`.status.waitingApproval`,priority=1
// +kubebuilder:printcolumn:name="Next-Window",type=date,JSONPath=`.status.nextWindowOpens`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 63",message="metadata.name must be at most 63 characters: it labels the TierMigrations the policy starts (storage.billyronks.io/policy)"
type StoragePolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   StoragePolicySpec   `json:"spec"`
	Status StoragePolicyStatus `json:"status,omitempty"`
}

// IsEnabled reports whether the policy is active (enabled defaults to true).
func (p *StoragePolicy) IsEnabled() bool { return p.Spec.Enabled == nil || *p.Spec.Enabled }

// StoragePolicyList is a list of StoragePolicy.
//
// +kubebuilder:object:root=true
type StoragePolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []StoragePolicy `json:"items"`
}

func init() {
	SchemeBuilder.Register(&StoragePolicy{}, &StoragePolicyList{})
}
