package migration

import (
	"context"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/billyronks/couchestor/internal/mover"
)

// Storage is what the state machine needs from the storage system: the Mover's crash-safe steps.
// *mover.Mover satisfies it. Every method that changes the cluster calls the journal with the
// plan it is about to act on, and stops if the journal fails.
type Storage interface {
	// Analyze checks the volume can be moved and returns the plan; it changes nothing. A
	// *mover.RefusalError says why not.
	Analyze(ctx context.Context, migrationID, volumeID string, targetPools, sourcePools labels.Selector) (mover.Plan, error)
	// ScaleUp adds one replica on the target tier and records it in plan.NewReplica.
	ScaleUp(ctx context.Context, plan mover.Plan, j mover.Journal) (mover.Plan, error)
	// SyncRound reports how far the round's new replica is from a healthy, fully rebuilt
	// child; a replica count other than plan.Replicas+1 is a *mover.RefusalError
	// (ReasonReplicaCountChanged).
	SyncRound(ctx context.Context, plan mover.Plan) (mover.SyncState, error)
	// KeepTail keeps GuardDepth entries behind the round's new replica in the control plane's
	// replica map while it rebuilds (every removal elsewhere takes one); called at every poll
	// of the rebuild. It changes nothing when none is needed.
	KeepTail(ctx context.Context, plan mover.Plan, j mover.Journal) (mover.Plan, error)
	// Inspect reads the volume (no write), for final messages and kept replicas.
	Inspect(ctx context.Context, plan mover.Plan) (mover.VolumeReport, error)
	// ScaleDown removes one replica once the new one is rebuilt, and says which went.
	ScaleDown(ctx context.Context, plan mover.Plan, j mover.Journal) (mover.Plan, mover.ScaleDownResult, error)
	// Preserve keeps the rebuilt new replica next to the sources (preservation mode).
	Preserve(ctx context.Context, plan mover.Plan, j mover.Journal) (mover.Plan, error)
	// Abort takes back the unrebuilt extra replica and lifts recorded cordons; sources untouched.
	Abort(ctx context.Context, plan mover.Plan, j mover.Journal) (mover.Plan, error)
	// ReleaseCordons lifts every cordon recorded in the plan and returns the plan without them.
	ReleaseCordons(ctx context.Context, plan mover.Plan) (mover.Plan, error)
	// ReleaseAtEnd releases what a migration that has ended still holds: its cordons (one
	// absent now is dropped even if its call may still land; the cordon sweeper removes it then)
	// and its placeholder replicas.
	ReleaseAtEnd(ctx context.Context, plan mover.Plan) (mover.Plan, error)
}

var _ Storage = (*mover.Mover)(nil)
