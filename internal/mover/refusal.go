package mover

import "fmt"

// Reason says, in CamelCase fit for a status condition or an Event, why the
// Mover refused or stopped a step.
type Reason string

// Reasons of a RefusalError.
const (
	// ReasonVolumeNotFound: the volume does not exist.
	ReasonVolumeNotFound Reason = "VolumeNotFound"
	// ReasonVolumeNotHealthy: the volume is not Online, a replica or child is
	// not Online, or its replica count is changing.
	ReasonVolumeNotHealthy Reason = "VolumeNotHealthy"
	// ReasonRebuildInProgress: a child of the volume is rebuilding.
	ReasonRebuildInProgress Reason = "RebuildInProgress"
	// ReasonUnpublished: the volume has no target, so a new replica could not
	// be rebuilt; skipped unless MoverOptions.IncludeUnpublished.
	ReasonUnpublished Reason = "VolumeUnpublished"
	// ReasonAlreadyOnTarget: every replica is already on a target pool.
	ReasonAlreadyOnTarget Reason = "AlreadyOnTargetTier"
	// ReasonNoSourceReplica: no replica is on a source pool.
	ReasonNoSourceReplica Reason = "NoSourceReplica"
	// ReasonNoTargetPool: no pool of the target tier is usable (none matches
	// the selector, or those that do are offline or on unusable nodes).
	ReasonNoTargetPool Reason = "NoEligibleTargetPool"
	// ReasonPoolsLackInclusionLabels: target pools exist but lack the volume's
	// pool inclusion labels, so the scheduler would never pick them.
	ReasonPoolsLackInclusionLabels Reason = "TargetPoolsLackInclusionLabels"
	// ReasonTargetNodeHoldsReplica: every target pool is on a node that
	// already holds a replica of the volume; the scheduler never places two
	// replicas of a volume on one node.
	ReasonTargetNodeHoldsReplica Reason = "TargetNodeHoldsReplica"
	// ReasonInsufficientCapacity: no target pool has room for the replica
	// within the capacity headroom.
	ReasonInsufficientCapacity Reason = "InsufficientCapacity"
	// ReasonNexusLocalSource: a source replica is local to the volume's
	// target (nexus), so a replica-count decrease never removes it; moving
	// it needs a republish, which pauses I/O briefly and is opt-in.
	ReasonNexusLocalSource Reason = "NexusLocalSourceReplica"
	// ReasonPlacementFailed: the new replica did not land on the target tier
	// within the allowed attempts.
	ReasonPlacementFailed Reason = "PlacementNotOnTargetTier"
	// ReasonNotSynced: the new replica is not yet a healthy, fully rebuilt child.
	ReasonNotSynced Reason = "NewReplicaNotSynced"
	// ReasonNewReplicaLost: the new replica disappeared or faulted.
	ReasonNewReplicaLost Reason = "NewReplicaLost"
	// ReasonRemovalNotSteerable: decreases kept removing a replica other than
	// the source within the allowed attempts.
	ReasonRemovalNotSteerable Reason = "SourceRemovalNotSteerable"
	// ReasonAbortUnsafe: undoing the scale-up could remove a source replica
	// (the new replica is already rebuilt), so Abort left the count as is.
	ReasonAbortUnsafe Reason = "AbortWouldRiskSourceReplica"
	// ReasonExcessReplicaPending: Abort brought the count back but the
	// control plane has not yet removed a replica in excess; retry Abort.
	ReasonExcessReplicaPending Reason = "ExcessReplicaPending"
	// ReasonSourceReplicaGone: a source replica disappeared while a move was being undone (the
	// new replica finished rebuilding between the check and the decrease, and the control plane
	// removed the source). No data is lost — as many healthy replicas remain — but the move was
	// neither finished nor undone, and is not reported as rolled back.
	ReasonSourceReplicaGone Reason = "SourceReplicaRemovedDuringAbort"
	// ReasonPlanInvalid: the plan given to a step is incomplete or stale.
	ReasonPlanInvalid Reason = "PlanInvalid"
	// ReasonLayoutNotMovable: for this layout (replica count, the replica
	// local to the nexus, the core agent's replica map order, whether a
	// republish is allowed) no sequence of rounds removes every source
	// replica without removing a replica already moved: the move would waste
	// rebuilds and never finish, so it is refused before the first write.
	ReasonLayoutNotMovable Reason = "LayoutNotMovable"
	// ReasonVolumeHasSnapshots: the volume has snapshots. Rebuilt replicas do
	// not carry replica snapshots, so restores and clones would keep
	// depending on the source pools; refused until that is verified.
	ReasonVolumeHasSnapshots Reason = "VolumeHasSnapshots"
	// ReasonAffinityGroupMinimum: the volume is in an affinity group with one
	// replica; the control plane never lowers such a volume below 2
	// replicas, so a move could add a replica and never take it back.
	ReasonAffinityGroupMinimum Reason = "AffinityGroupReplicaMinimum"
	// ReasonUnusedReplica: the volume has a replica beyond its count that is
	// no nexus child: an increase created it and could not attach it.
	ReasonUnusedReplica Reason = "UnusedReplica"
	// ReasonRepublishRefused: the control plane refused to move the volume
	// target (412, e.g. HA is disabled), which the move's plan needs.
	ReasonRepublishRefused Reason = "RepublishRefused"
	// ReasonReplicaCountChanged: during a move the volume's num_replicas became neither the
	// count the move set (plan.Replicas+1) nor the one it returns to: another actor changed it.
	// The move stops without touching the count (lowering it could fight the other actor).
	ReasonReplicaCountChanged Reason = "ReplicaCountChangedOutside"
	// ReasonPlaceholderFailed: a placeholder replica the move needs could
	// not be created (no pool with room on an uncordoned node, or refused).
	ReasonPlaceholderFailed Reason = "PlaceholderNotCreated"
)

// RefusalError is a step the Mover declined or could not finish, for a
// reason the caller reports to the user. It is not a transport or API
// failure: retrying the same step immediately gives the same answer unless
// the cluster changes. Match it with errors.Is against the Err* sentinels or
// errors.As to read the detail.
type RefusalError struct {
	Reason   Reason
	VolumeID string
	Detail   string
}

func (e *RefusalError) Error() string {
	s := "mayastor: volume " + e.VolumeID + ": " + string(e.Reason)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Is matches another RefusalError with the same Reason, so that
// errors.Is(err, ErrUnpublished) works whatever the volume and detail.
func (e *RefusalError) Is(target error) bool {
	t, ok := target.(*RefusalError)
	return ok && t.Reason == e.Reason
}

func refuse(volumeID string, reason Reason, format string, args ...any) *RefusalError {
	return &RefusalError{Reason: reason, VolumeID: volumeID, Detail: fmt.Sprintf(format, args...)}
}

// Sentinels for errors.Is.
var (
	ErrVolumeNotFound           = &RefusalError{Reason: ReasonVolumeNotFound}
	ErrVolumeNotHealthy         = &RefusalError{Reason: ReasonVolumeNotHealthy}
	ErrRebuildInProgress        = &RefusalError{Reason: ReasonRebuildInProgress}
	ErrUnpublished              = &RefusalError{Reason: ReasonUnpublished}
	ErrAlreadyOnTarget          = &RefusalError{Reason: ReasonAlreadyOnTarget}
	ErrNoSourceReplica          = &RefusalError{Reason: ReasonNoSourceReplica}
	ErrNoTargetPool             = &RefusalError{Reason: ReasonNoTargetPool}
	ErrPoolsLackInclusionLabels = &RefusalError{Reason: ReasonPoolsLackInclusionLabels}
	ErrTargetNodeHoldsReplica   = &RefusalError{Reason: ReasonTargetNodeHoldsReplica}
	ErrInsufficientCapacity     = &RefusalError{Reason: ReasonInsufficientCapacity}
	ErrNexusLocalSource         = &RefusalError{Reason: ReasonNexusLocalSource}
	ErrPlacementFailed          = &RefusalError{Reason: ReasonPlacementFailed}
	ErrNotSynced                = &RefusalError{Reason: ReasonNotSynced}
	ErrNewReplicaLost           = &RefusalError{Reason: ReasonNewReplicaLost}
	ErrRemovalNotSteerable      = &RefusalError{Reason: ReasonRemovalNotSteerable}
	ErrAbortUnsafe              = &RefusalError{Reason: ReasonAbortUnsafe}
	ErrExcessReplicaPending     = &RefusalError{Reason: ReasonExcessReplicaPending}
	ErrPlanInvalid              = &RefusalError{Reason: ReasonPlanInvalid}
	ErrLayoutNotMovable         = &RefusalError{Reason: ReasonLayoutNotMovable}
	ErrVolumeHasSnapshots       = &RefusalError{Reason: ReasonVolumeHasSnapshots}
	ErrAffinityGroupMinimum     = &RefusalError{Reason: ReasonAffinityGroupMinimum}
	ErrRepublishRefused         = &RefusalError{Reason: ReasonRepublishRefused}
	ErrUnusedReplica            = &RefusalError{Reason: ReasonUnusedReplica}
	ErrReplicaCountChanged      = &RefusalError{Reason: ReasonReplicaCountChanged}
)
