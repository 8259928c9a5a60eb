package mover

import (
	"fmt"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

// Reason says, in CamelCase fit for a status condition or an Event, why the
// Mover refused or stopped a step.
type Reason string

// The reasons of a RefusalError, under the names the Mover's steps use; the values and their
// meanings are api/v1's (reasons.go).
const (
	ReasonVolumeNotFound           = Reason(storagev1.ReasonVolumeNotFound)
	ReasonVolumeNotHealthy         = Reason(storagev1.ReasonVolumeNotHealthy)
	ReasonRebuildInProgress        = Reason(storagev1.ReasonRebuildInProgress)
	ReasonUnpublished              = Reason(storagev1.ReasonVolumeUnpublished)
	ReasonAlreadyOnTarget          = Reason(storagev1.ReasonAlreadyOnTargetTier)
	ReasonNoSourceReplica          = Reason(storagev1.ReasonNoSourceReplica)
	ReasonNoTargetPool             = Reason(storagev1.ReasonNoEligibleTargetPool)
	ReasonPoolsLackInclusionLabels = Reason(storagev1.ReasonTargetPoolsLackInclusionLabels)
	ReasonTargetNodeHoldsReplica   = Reason(storagev1.ReasonTargetNodeHoldsReplica)
	ReasonInsufficientCapacity     = Reason(storagev1.ReasonInsufficientCapacity)
	ReasonNexusLocalSource         = Reason(storagev1.ReasonNexusLocalSourceReplica)
	ReasonPlacementFailed          = Reason(storagev1.ReasonPlacementNotOnTargetTier)
	ReasonNotSynced                = Reason(storagev1.ReasonNewReplicaNotSynced)
	ReasonNewReplicaLost           = Reason(storagev1.ReasonNewReplicaLost)
	ReasonRemovalNotSteerable      = Reason(storagev1.ReasonSourceRemovalNotSteerable)
	ReasonAbortUnsafe              = Reason(storagev1.ReasonAbortWouldRiskSourceReplica)
	ReasonExcessReplicaPending     = Reason(storagev1.ReasonExcessReplicaPending)
	ReasonSourceReplicaGone        = Reason(storagev1.ReasonSourceReplicaRemovedDuringAbort)
	ReasonPlanInvalid              = Reason(storagev1.ReasonPlanInvalid)
	ReasonLayoutNotMovable         = Reason(storagev1.ReasonLayoutNotMovable)
	ReasonVolumeHasSnapshots       = Reason(storagev1.ReasonVolumeHasSnapshots)
	ReasonAffinityGroupMinimum     = Reason(storagev1.ReasonAffinityGroupMinimum)
	ReasonUnusedReplica            = Reason(storagev1.ReasonUnusedReplica)
	ReasonRepublishRefused         = Reason(storagev1.ReasonRepublishRefused)
	ReasonReplicaCountChanged      = Reason(storagev1.ReasonReplicaCountChangedOutside)
	ReasonPlaceholderFailed        = Reason(storagev1.ReasonPlaceholderNotCreated)
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
	ErrNoTargetPool             = &RefusalError{Reason: ReasonNoTargetPool}
	ErrPoolsLackInclusionLabels = &RefusalError{Reason: ReasonPoolsLackInclusionLabels}
	ErrTargetNodeHoldsReplica   = &RefusalError{Reason: ReasonTargetNodeHoldsReplica}
	ErrInsufficientCapacity     = &RefusalError{Reason: ReasonInsufficientCapacity}
	ErrNexusLocalSource         = &RefusalError{Reason: ReasonNexusLocalSource}
	ErrPlacementFailed          = &RefusalError{Reason: ReasonPlacementFailed}
	ErrNotSynced                = &RefusalError{Reason: ReasonNotSynced}
	ErrRemovalNotSteerable      = &RefusalError{Reason: ReasonRemovalNotSteerable}
	ErrAbortUnsafe              = &RefusalError{Reason: ReasonAbortUnsafe}
	ErrLayoutNotMovable         = &RefusalError{Reason: ReasonLayoutNotMovable}
	ErrVolumeHasSnapshots       = &RefusalError{Reason: ReasonVolumeHasSnapshots}
	ErrAffinityGroupMinimum     = &RefusalError{Reason: ReasonAffinityGroupMinimum}
	ErrReplicaCountChanged      = &RefusalError{Reason: ReasonReplicaCountChanged}
)
