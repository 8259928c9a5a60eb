package v1

// Reasons, in CamelCase fit for a condition's reason, an Event's reason and a log key: why a
// StoragePolicy moves a volume, leaves it where it is or makes it wait, what its conditions say,
// how a TierMigration goes and why the Mover refuses a step; and the outcome labels of the
// migration metrics. Every reason of the operator is declared here and nowhere else (packages
// that need a typed or local name refer to these constants), and no two reasons share a value.
// They are API: tools and alerts match on them, so a value never changes once released.

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
	// ReasonVolumeNotFound: the PV names a volume Mayastor does not list (the Mover's refusal
	// when the volume does not exist).
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
	// ReasonVolumeNotHealthy: the volume is not Online. The Mover's refusal also covers a
	// replica or child not Online, or a replica count changing.
	ReasonVolumeNotHealthy = "VolumeNotHealthy"
	// ReasonVolumeUnpublished: the volume has no target (nexus), so a new replica could not be
	// rebuilt. The Mover's refusal has the same reason.
	ReasonVolumeUnpublished = "VolumeUnpublished"
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
	// the capacity headroom kept (the Mover's refusal when no target pool has room for the
	// replica).
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
// ConditionMetricsAvailable and ConditionStorageAvailable). Prometheus failures have their own
// block below (PrometheusUnreachable, BadQuery, ...).
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
	// ReasonInvalidSpec: something the schema cannot check is wrong (a selector, a duration);
	// a TierMigration fails with it too (an invalid or empty pool selector, an unreadable
	// timeout).
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

// Why a volume's IOPS are Unknown (internal/promwatch judges; the UnknownIOPS message and the
// AllVolumesUnknown condition carry them). Never read as zero IOPS.
const (
	// ReasonNoSeries: Prometheus holds no sample for the volume's pv_name in the window.
	ReasonNoSeries = "NoSeries"
	// ReasonPartialHistory: samples cover less than the required part of the window (new
	// volume, scrape gap, exporter down for part of the window).
	ReasonPartialHistory = "PartialHistory"
	// ReasonNoRate: the volume was present for the window but the IOPS query gave no value for
	// it (e.g. only one of the read/write series exists).
	ReasonNoRate = "NoRate"
	// ReasonInvalidValue: the IOPS query gave NaN, ±Inf or a negative number.
	ReasonInvalidValue = "InvalidValue"
)

// Why Prometheus could not be read (the MetricsAvailable condition's reason when it is False);
// internal/promwatch gives one per kind of failure.
const (
	// ReasonPrometheusUnreachable: no HTTP answer (connection refused, DNS, TLS, or a 502/503/504
	// from a proxy in front of Prometheus).
	ReasonPrometheusUnreachable = "PrometheusUnreachable"
	// ReasonPrometheusTimeout: no complete answer in time, or Prometheus gave up evaluating.
	ReasonPrometheusTimeout = "PrometheusTimeout"
	// ReasonPrometheusUnauthorized: 401 or 403, or the token or password file cannot be read.
	ReasonPrometheusUnauthorized = "PrometheusUnauthorized"
	// ReasonBadQuery: Prometheus refused the query (syntax error, unknown function...).
	ReasonBadQuery = "BadQuery"
	// ReasonResponseTooLarge: the answer exceeded the byte or series limit.
	ReasonResponseTooLarge = "ResponseTooLarge"
	// ReasonInvalidQueryResult: the result is not one IOPS sample per pv_name.
	ReasonInvalidQueryResult = "InvalidQueryResult"
	// ReasonInvalidQuery: the query template itself is unusable (empty, no {{window}}).
	ReasonInvalidQuery = "InvalidQuery"
	// ReasonPrometheusError: any other failure reported by Prometheus.
	ReasonPrometheusError = "PrometheusError"
)

// TierMigration reasons while things go as planned (the Progressing and Succeeded conditions,
// Events on the TierMigration and its PVC, status.keptReplicas). The phases are reasons of the
// Progressing condition too.
const (
	// ReasonAccepted: the migration was accepted and waits in Pending.
	ReasonAccepted = "Accepted"
	// ReasonWaitingForSlot: Pending while the global or the policy's limit is reached.
	ReasonWaitingForSlot = "WaitingForSlot"
	// ReasonStarted (Event): the migration left Pending for Analyzing.
	ReasonStarted = "Started"
	// ReasonInProgress (Succeeded Unknown): the migration has not ended.
	ReasonInProgress = "InProgress"
	// ReasonRetrying: a transient Mayastor error; the step is retried until the phase's deadline.
	ReasonRetrying = "Retrying"
	// ReasonStorageUnavailable (Warning Event): what the transient Mayastor error was.
	ReasonStorageUnavailable = "StorageUnavailable"
	// ReasonMoved (Completed): every source replica was replaced on the target tier.
	ReasonMoved = "Moved"
	// ReasonPreserved (Completed): preservation mode; the new replica is on the target tier and
	// the sources are kept.
	ReasonPreserved = "Preserved"
	// ReasonDryRun (Completed): the analysis ran and nothing was written.
	ReasonDryRun = "DryRun"
	// ReasonAlreadyOnTargetTier: every replica is already on the target tier. A TierMigration
	// ends Completed with it (the Mover's analysis refuses with it); the planner gives it to a
	// volume that stays.
	ReasonAlreadyOnTargetTier = "AlreadyOnTargetTier"
	// ReasonRolledBack (Failed): the move was undone; the message gives the cause.
	ReasonRolledBack = "RolledBack"
	// ReasonCordonsReleased: a restarted operator lifted node cordons an interrupted step left.
	ReasonCordonsReleased = "CordonsReleased"
	// ReasonDeleted: the TierMigration was deleted in flight and unwound.
	ReasonDeleted = "Deleted"
	// ReasonExtraReplicaKept (Warning): the migration ended with one replica more than the
	// volume had (status.keptReplicas).
	ReasonExtraReplicaKept = "ExtraReplicaKept"
	// ReasonPreservationMode: the status.keptReplicas reason of the replica a
	// preservation-mode migration keeps on purpose.
	ReasonPreservationMode = "PreservationMode"
)

// TierMigration failures the state machine gives itself (Succeeded False).
const (
	// ReasonVolumeBusy: another migration of the same volume acts; only one may.
	ReasonVolumeBusy = "VolumeBusy"
	// ReasonPolicyNotFound: spec.policyName names no StoragePolicy and no pool selector is given.
	ReasonPolicyNotFound = "PolicyNotFound"
	// ReasonTimeout: the round's deadline passed.
	ReasonTimeout = "Timeout"
	// ReasonSyncFailed: the new replica stopped rebuilding (it faulted or left the volume, or
	// the volume was unpublished or deleted).
	ReasonSyncFailed = "SyncFailed"
	// ReasonStorageRejected: Mayastor answered a step with an error retrying cannot fix (a 4xx
	// other than 408, 409, 429); the detail is its answer.
	ReasonStorageRejected = "StorageRejected"
	// ReasonRollbackIncomplete: the roll-back could not bring the replica count back before
	// its deadline; the message says what was left.
	ReasonRollbackIncomplete = "RollbackIncomplete"
)

// The Mover's refusals (internal/mover's RefusalError): why it declined or stopped a step. The
// Mover also refuses with ReasonVolumeNotFound, ReasonVolumeNotHealthy, ReasonVolumeUnpublished,
// ReasonAlreadyOnTargetTier, ReasonInsufficientCapacity, ReasonVolumeHasSnapshots and
// ReasonAffinityGroupMinimum, declared above.
const (
	// ReasonRebuildInProgress: a child of the volume is rebuilding.
	ReasonRebuildInProgress = "RebuildInProgress"
	// ReasonNoSourceReplica: no replica is on a source pool.
	ReasonNoSourceReplica = "NoSourceReplica"
	// ReasonNoEligibleTargetPool: no pool of the target tier is usable (none matches the
	// selector, or those that do are offline or on unusable nodes).
	ReasonNoEligibleTargetPool = "NoEligibleTargetPool"
	// ReasonTargetPoolsLackInclusionLabels: target pools exist but lack the volume's pool
	// inclusion labels, so the scheduler would never pick them.
	ReasonTargetPoolsLackInclusionLabels = "TargetPoolsLackInclusionLabels"
	// ReasonTargetNodeHoldsReplica: every target pool is on a node that already holds a
	// replica of the volume; the scheduler never places two replicas of a volume on one node.
	ReasonTargetNodeHoldsReplica = "TargetNodeHoldsReplica"
	// ReasonNexusLocalSourceReplica: a source replica is local to the volume's target (nexus),
	// so a replica-count decrease never removes it; moving it needs a republish, which pauses
	// I/O briefly and is opt-in.
	ReasonNexusLocalSourceReplica = "NexusLocalSourceReplica"
	// ReasonPlacementNotOnTargetTier: the new replica did not land on the target tier within
	// the allowed attempts.
	ReasonPlacementNotOnTargetTier = "PlacementNotOnTargetTier"
	// ReasonNewReplicaNotSynced: the new replica is not yet a healthy, fully rebuilt child.
	ReasonNewReplicaNotSynced = "NewReplicaNotSynced"
	// ReasonNewReplicaLost: the new replica disappeared or faulted.
	ReasonNewReplicaLost = "NewReplicaLost"
	// ReasonSourceRemovalNotSteerable: decreases kept removing a replica other than the source
	// within the allowed attempts.
	ReasonSourceRemovalNotSteerable = "SourceRemovalNotSteerable"
	// ReasonAbortWouldRiskSourceReplica: undoing the scale-up could remove a source replica
	// (the new replica is already rebuilt), so the undo left the count as is.
	ReasonAbortWouldRiskSourceReplica = "AbortWouldRiskSourceReplica"
	// ReasonExcessReplicaPending: an undo brought the count back but the control plane has not
	// yet removed a replica in excess; the undo is retried.
	ReasonExcessReplicaPending = "ExcessReplicaPending"
	// ReasonSourceReplicaRemovedDuringAbort: a source replica disappeared while a move was
	// being undone (the new replica finished rebuilding between the check and the decrease, and
	// the control plane removed the source). No data is lost — as many healthy replicas remain
	// — but the move was neither finished nor undone, and is not reported as rolled back.
	ReasonSourceReplicaRemovedDuringAbort = "SourceReplicaRemovedDuringAbort"
	// ReasonPlanInvalid: the plan given to a step is incomplete or stale.
	ReasonPlanInvalid = "PlanInvalid"
	// ReasonLayoutNotMovable: for this layout (replica count, the replica local to the nexus,
	// the core agent's replica map order, whether a republish is allowed) no sequence of rounds
	// removes every source replica without removing a replica already moved, so the move is
	// refused before the first write.
	ReasonLayoutNotMovable = "LayoutNotMovable"
	// ReasonUnusedReplica: the volume has a replica beyond its count that is no nexus child: an
	// increase created it and could not attach it.
	ReasonUnusedReplica = "UnusedReplica"
	// ReasonRepublishRefused: the control plane refused to move the volume target (412, e.g.
	// HA is disabled), which the move's plan needs.
	ReasonRepublishRefused = "RepublishRefused"
	// ReasonReplicaCountChangedOutside: during a move the volume's num_replicas became neither
	// the count the move set nor the one it returns to: another actor changed it. The move
	// stops without touching the count.
	ReasonReplicaCountChangedOutside = "ReplicaCountChangedOutside"
	// ReasonPlaceholderNotCreated: a placeholder replica the move needs could not be created
	// (no pool with room on an uncordoned node, or refused).
	ReasonPlaceholderNotCreated = "PlaceholderNotCreated"
)

// Event reasons of the cordon sweeper (on the TierMigration that left the object behind).
const (
	// ReasonStaleCordonRemoved: the sweeper lifted a node cordon left by a finished or deleted
	// migration.
	ReasonStaleCordonRemoved = "StaleCordonRemoved"
	// ReasonStalePlaceholderRemoved: the sweeper deleted a placeholder replica left by a
	// finished or deleted migration.
	ReasonStalePlaceholderRemoved = "StalePlaceholderRemoved"
)

// Outcomes of a migration: the values of the status label of storage_operator_migrations_total
// and storage_operator_migration_duration_seconds.
const (
	// OutcomeSucceeded: Completed (moved, preserved, or already on the target tier).
	OutcomeSucceeded = "succeeded"
	// OutcomeFailed: Failed without a roll-back.
	OutcomeFailed = "failed"
	// OutcomeRolledBack: Failed after the move was undone.
	OutcomeRolledBack = "rolled_back"
	// OutcomeDryRun: a dry run ended.
	OutcomeDryRun = "dry_run"
	// OutcomeNotStarted: rejected or expired while waiting for approval; nothing was attempted,
	// so no migration is counted.
	OutcomeNotStarted = ""
)
