package mover

import (
	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/mayastor"

	"context"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/labels"
)

// Defaults of MoverOptions.
const (
	DefaultMaxPlacementAttempts = 3
	DefaultMaxRemovalAttempts   = 1
	DefaultGuardDepth           = 3
)

// MoverOptions tune a Mover.
type MoverOptions struct {
	// AllowRepublish lets ScaleDown move the volume target (nexus) off a
	// node holding a source replica, onto the new replica's node. The
	// control plane never removes the nexus-local replica on a decrease, so
	// without it such volumes are refused. A republish pauses the
	// application's I/O briefly.
	AllowRepublish bool
	// MaxPlacementAttempts bounds how often one ScaleUp raises the count and
	// takes it back because the new replica landed off the target tier.
	MaxPlacementAttempts int
	// MaxRemovalAttempts bounds how many decreases of one migration may
	// remove a replica other than a source before ScaleDown gives up. The
	// decrease is sent only when the core agent's replica map order
	// (GET /v0/specs) predicts a source goes, so this happens only when
	// another actor changed the order between the read and the write; each
	// costs one rebuild, never data. Default 1: the first ends the move.
	MaxRemovalAttempts int
	// HADisabled says the control plane runs with HA disabled, so it refuses
	// every republish (412): moves whose plan needs one are refused at
	// Analyze.
	HADisabled bool
	// HeadroomPercent of a target pool's capacity must stay free after the
	// new replica is placed (0..99).
	HeadroomPercent int
	// PoolLabels returns the labels that tier selectors match for a pool
	// (default: the pool's spec labels). Use it to merge the DiskPool
	// resource's own metadata labels.
	PoolLabels func(mayastor.Pool) labels.Set
	// PublishProtocol is used when republishing a volume whose spec names
	// no target protocol (default nvmf).
	PublishProtocol mayastor.VolumeShareProtocol
	// CordonGate serialises the cordon windows of concurrent moves; share
	// one per process (nil: the process-wide default gate).
	CordonGate *CordonGate
	// GuardDepth is how many replica map entries the Mover keeps behind a
	// move's freshly added replica while a removal elsewhere pulling it to
	// the front would break the move (ForecastInput.GuardDepth): removals
	// by other actors between two rebuild polls up to this many are
	// harmless. Default DefaultGuardDepth, one deleted 3-replica volume.
	GuardDepth int
}

// Mover moves replicas of a volume from source-tier pools to target-tier
// pools with the calls Mayastor offers (replica count, node cordon,
// republish), one idempotent step at a time. Every step reads the live state
// first and takes everything else from a Plan the caller persists, so any
// step may be re-run after a crash.
type Mover struct {
	c    *mayastor.Client
	opts MoverOptions
}

// NewMover returns a Mover using c.
func NewMover(c *mayastor.Client, opts MoverOptions) *Mover {
	if opts.MaxPlacementAttempts <= 0 {
		opts.MaxPlacementAttempts = DefaultMaxPlacementAttempts
	}
	if opts.MaxRemovalAttempts <= 0 {
		opts.MaxRemovalAttempts = DefaultMaxRemovalAttempts
	}
	if opts.HeadroomPercent < 0 {
		opts.HeadroomPercent = 0
	}
	if opts.HeadroomPercent > 99 {
		opts.HeadroomPercent = 99
	}
	if opts.PoolLabels == nil {
		opts.PoolLabels = func(p mayastor.Pool) labels.Set {
			if p.Spec == nil {
				return labels.Set{}
			}
			return labels.Set(p.Spec.Labels)
		}
	}
	if opts.PublishProtocol == "" {
		opts.PublishProtocol = mayastor.VolumeShareProtocolNvmf
	}
	if opts.CordonGate == nil {
		opts.CordonGate = processCordonGate
	}
	if opts.GuardDepth <= 0 {
		opts.GuardDepth = DefaultGuardDepth
	}
	return &Mover{c: c, opts: opts}
}

// ReplicaRef names a replica and where it lives.
type ReplicaRef = storagev1.ReplicaRef

// Cordon is a cordon label the Mover put (or is about to put) on a node.
// Its Answered field says the call that puts it is over (it answered, or
// the label was seen on the node), so a label absent now will not appear
// later. It is false for a call in flight, one that timed out or failed with
// a 5xx, and for any cordon read back from storage: such a cordon "may land
// late" and stays recorded until the end of the migration (ReleaseCordons).
// It is never persisted on purpose: unknown is the safe value.
type Cordon = storagev1.NodeCordon

// Plan is the state of one move, written by every step and persisted by the
// caller between steps (a TierMigration's status.checkpoint is this very
// type). Steps take it by value, work on a deep copy and return the updated
// copy, so a plan the caller stored is never changed behind its back.
type Plan = storagev1.MigrationCheckpoint

// Journal persists a plan durably (e.g. writes a TierMigration status)
// before the Mover acts on it. Steps call it before every cordon and every
// replica-count change; an error stops the step before the action. A nil
// Journal persists nothing: a crash may then leave a node cordoned until
// the cordon sweeper (internal/controller) lifts it.
type Journal func(ctx context.Context, plan Plan) error

// SyncState is how far the new replica is from being a healthy, fully
// rebuilt child of the volume's target.
type SyncState struct {
	// Done: the replica is healthy and fully rebuilt; ScaleDown may proceed.
	Done bool `json:"done"`
	// Progress is the rebuild progress in percent (100 when Done).
	Progress int `json:"progress"`
	// Failed is non-empty when the replica can no longer become healthy
	// (gone, faulted, rebuild failed, volume unpublished): abort the move.
	Failed string `json:"failed,omitempty"`
	// Waiting says what Done still waits for.
	Waiting string `json:"waiting,omitempty"`
}

// ScaleDownResult says what one ScaleDown did.
type ScaleDownResult struct {
	// Removed is the replica the control plane removed.
	Removed ReplicaRef `json:"removed"`
	// SourceRemoved: Removed was a source replica (the round made progress).
	SourceRemoved bool `json:"sourceRemoved"`
	// Republished: the target was moved first (onto RepublishedTo's node).
	Republished   bool   `json:"republished,omitempty"`
	RepublishedTo string `json:"republishedTo,omitempty"`
	// Complete: no source replica is left; the move is finished.
	Complete bool `json:"complete"`
	// Unpredicted: the control plane removed another replica than the one
	// predicted (the replica map order changed between the read and the write).
	Unpredicted bool `json:"unpredicted,omitempty"`
}

type cluster struct {
	pools map[string]*mayastor.Pool
	nodes map[string]*mayastor.Node
	order []string // pool ids, sorted
}

func (m *Mover) loadCluster(ctx context.Context) (*cluster, error) {
	pools, err := m.c.ListPools(ctx)
	if err != nil {
		return nil, err
	}
	nodes, err := m.c.ListNodes(ctx)
	if err != nil {
		return nil, err
	}
	cl := &cluster{pools: map[string]*mayastor.Pool{}, nodes: map[string]*mayastor.Node{}}
	for i := range pools {
		cl.pools[pools[i].ID] = &pools[i]
		cl.order = append(cl.order, pools[i].ID)
	}
	slices.Sort(cl.order)
	for i := range nodes {
		cl.nodes[nodes[i].ID] = &nodes[i]
	}
	return cl, nil
}

func record(ctx context.Context, j Journal, plan Plan) error {
	if j == nil {
		return nil
	}
	if err := j(ctx, plan); err != nil {
		return fmt.Errorf("record plan of volume %s: %w", plan.VolumeID, err)
	}
	return nil
}
