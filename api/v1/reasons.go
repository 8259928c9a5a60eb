package v1

// Reasons, in CamelCase fit for a condition's reason, an Event's reason and a log key: why a
// StoragePolicy moves a volume, leaves it where it is or makes it wait, and what its conditions
// say. The planner (internal/tiering) decides with them; the reconciler reports them. They are
// API: tools and alerts match on them, so a value never changes once released.

// Why a volume moves.
const (
	// ReasonAboveHighWatermark: mean IOPS above highWatermarkIOPS, the volume goes to NVMe.
	ReasonAboveHighWatermark = "AboveHighWatermark"
	// ReasonBelowLowWatermark: mean IOPS below lowWatermarkIOPS, the volume goes to SATA.
	ReasonBelowLowWatermark = "BelowLowWatermark"
	// ReasonPinned: a person pinned the volume to a tier (the tier annotation).
	ReasonPinned = "Pinned"
)

// Why a volume stays where it is this cycle.
const (
	// ReasonExcluded: the tiering annotation says "disabled" on the PV or its PVC.
	ReasonExcluded = "Excluded"
	// ReasonInvalidPin: the tier annotation on the PV or its PVC names no tier (NVMe or SATA,
	// in any case); the volume stays where it is until the annotation is fixed or removed. Also
	// the reason of the Warning Event on the PVC.
	ReasonInvalidPin = "InvalidPin"
	// ReasonOverlappingPolicies: another enabled policy selects the volume too; no policy moves
	// it until only one selects it.
	ReasonOverlappingPolicies = "OverlappingPolicies"
	// ReasonVolumeNotFound: the PV names a volume Mayastor does not list.
	ReasonVolumeNotFound = "VolumeNotFound"
	// ReasonMigrationInProgress: a TierMigration of the volume has not ended.
	ReasonMigrationInProgress = "MigrationInProgress"
	// ReasonMixedPlacement: replicas on both tiers (a preserved source replica, or a move that
	// did not finish): left for a person to settle.
	ReasonMixedPlacement = "MixedPlacement"
	// ReasonOutsideTiers: a replica is on a pool neither pool selector matches, or no replica
	// is known.
	ReasonOutsideTiers = "OutsideTiers"
	// ReasonUnknownIOPS: no IOPS data covering the sampling window. Never read as zero.
	ReasonUnknownIOPS = "UnknownIOPS"
	// ReasonBetweenWatermarks: mean IOPS between the watermarks (hysteresis).
	ReasonBetweenWatermarks = "BetweenWatermarks"
	// ReasonAlreadyOnTarget: every replica is already on the tier the volume should be on.
	ReasonAlreadyOnTarget = "AlreadyOnTarget"
	// ReasonVolumeNotHealthy: the volume is not Online.
	ReasonVolumeNotHealthy = "VolumeNotHealthy"
	// ReasonUnpublished: the volume has no target (nexus), so a new replica could not be
	// rebuilt.
	ReasonUnpublished = "Unpublished"
	// ReasonVolumeHasSnapshots: the volume has snapshots; the Mover refuses such volumes (a
	// rebuilt replica does not carry replica snapshots). The Mover's refusal has the same reason.
	ReasonVolumeHasSnapshots = "VolumeHasSnapshots"
	// ReasonAffinityGroupMinimum: the volume is in an affinity group with one replica; the
	// control plane never lowers such a volume below 2 replicas, so the Mover refuses it. The
	// Mover's refusal has the same reason.
	ReasonAffinityGroupMinimum = "AffinityGroupReplicaMinimum"
	// ReasonWaitingApproval: a TierMigration of the volume waits for a person's approval.
	ReasonWaitingApproval = "WaitingApproval"
	// ReasonCoolingDown: the volume moved less than cooldownPeriod ago.
	ReasonCoolingDown = "CoolingDown"
	// ReasonAntiFlapCooldown: the volume flipped between the tiers (moved back within
	// antiFlap.windowCooldowns cooldowns) and its cooldown is lengthened (cooldownPeriod ×
	// 2^flips, at most antiFlap.maxCooldown); it moved less than that ago. Also the reason of
	// the Event on the PVC when a flip is recorded.
	ReasonAntiFlapCooldown = "AntiFlapCooldown"
	// ReasonPolicyNotActive: the policy is disabled or invalid, or its storage or metrics are
	// unavailable (the policy's conditions say which): no volume of it moves.
	ReasonPolicyNotActive = "PolicyNotActive"
)

// Why a volume that would move waits.
const (
	// ReasonConcurrencyLimit: no migration slot is free (the policy's maxConcurrentMigrations
	// or the operator's --max-concurrent-migrations).
	ReasonConcurrencyLimit = "ConcurrencyLimit"
	// ReasonInsufficientCapacity: the target tier has no room for the volume's replicas with
	// the capacity headroom kept.
	ReasonInsufficientCapacity = "InsufficientCapacity"
	// ReasonOutsideMigrationWindow: no migration window of the policy is open; the message
	// says when the next one opens.
	ReasonOutsideMigrationWindow = "OutsideMigrationWindow"
)

// TierMigration reasons of the approval flow (the Succeeded condition's and Events').
const (
	// ReasonApprovalRequired: the migration waits for a person's approval.
	ReasonApprovalRequired = "ApprovalRequired"
	// ReasonApproved: the approved annotation let the migration go on to Pending.
	ReasonApproved = "Approved"
	// ReasonRejected: the rejected annotation ended the migration (phase Failed).
	ReasonRejected = "Rejected"
	// ReasonApprovalExpired: nobody approved the migration within its approval timeout (phase
	// Failed); its volume is decided afresh, with no cooldown from it.
	ReasonApprovalExpired = "ApprovalExpired"
)

// StoragePolicy condition reasons (the condition types are ConditionReady,
// ConditionMetricsAvailable and ConditionStorageAvailable). Prometheus failures take their
// reason from internal/promwatch (PrometheusUnreachable, BadQuery, ...).
const (
	// ReasonEvaluated (Ready True): the policy was decided from the latest observation.
	ReasonEvaluated = "Evaluated"
	// ReasonPoolsFound (StorageAvailable True): Mayastor answered and both tiers have pools.
	ReasonPoolsFound = "PoolsFound"
	// ReasonQuerySucceeded (MetricsAvailable True): Prometheus answered the IOPS query.
	ReasonQuerySucceeded = "QuerySucceeded"
	// ReasonNoVolumesSelected (Ready False): the policy selects no volume: no PersistentVolume of
	// the Mayastor CSI driver has its storageClassName (and matches its volumeSelector).
	ReasonNoVolumesSelected = "NoVolumesSelected"
	// ReasonAllVolumesUnknown (Ready False): none of the volumes the policy selects has IOPS data
	// covering its sampling window (Mayastor older than 2.6, the exporter not scraped, volumes
	// unpublished, or history shorter than the window): no volume moves on IOPS.
	ReasonAllVolumesUnknown = "AllVolumesUnknown"
	// ReasonInvalidSpec: something the schema cannot check is wrong (a selector, a duration).
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonDisabled: spec.enabled is false.
	ReasonDisabled = "Disabled"
	// ReasonMayastorUnavailable: Mayastor could not be read.
	ReasonMayastorUnavailable = "MayastorUnavailable"
	// ReasonNoPools: no pool matches either pool selector.
	ReasonNoPools = "NoPools"
	// ReasonNoNVMePools: no pool matches nvmePoolSelector.
	ReasonNoNVMePools = "NoNVMePools"
	// ReasonNoSATAPools: no pool matches sataPoolSelector.
	ReasonNoSATAPools = "NoSATAPools"
	// ReasonAmbiguousPools: some pools match both selectors.
	ReasonAmbiguousPools = "AmbiguousPools"
	// ReasonIOPSNotObserved (MetricsAvailable Unknown): the latest observation holds no IOPS
	// evaluation for the policy's (samplingWindow, iopsQuery) yet, e.g. a policy created or
	// changed since; the next observation has one.
	ReasonIOPSNotObserved = "IOPSNotObserved"
)

// StoragePolicy Event reasons.
const (
	// ReasonMigrationPlanned: the policy created a TierMigration.
	ReasonMigrationPlanned = "MigrationPlanned"
	// ReasonDecisionChanged: the decision about a volume (Move, Wait or Stay, and its reason)
	// changed; said on its PVC at most once per --decision-event-interval.
	ReasonDecisionChanged = "DecisionChanged"
)
