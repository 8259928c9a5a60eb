package mayastor

import (
	"context"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/labels"
)

// Defaults of MoverOptions.
const (
	DefaultMaxPlacementAttempts = 3
	DefaultMaxRemovalAttempts   = 1
)

// MoverOptions tune a Mover.
type MoverOptions struct {
	// AllowRepublish lets ScaleDown move the volume target (nexus) off a
	// node holding a source replica, onto the new replica's node. The
	// control plane never removes the nexus-local replica on a decrease, so
	// without it such volumes are refused. A republish pauses the
	// application's I/O briefly.
	AllowRepublish bool
	// IncludeUnpublished lets the Mover move unpublished volumes by
	// publishing them for the duration of the move (a new replica is only
	// rebuilt through a target) and unpublishing them at the end. Off by
	// default: such volumes are refused with ErrUnpublished.
	IncludeUnpublished bool
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
	// DisableCordon stops ScaleUp from cordoning competing nodes for the
	// duration of the increase; placement then relies on the scheduler's
	// choice plus verification and retry.
	DisableCordon bool
	// PoolLabels returns the labels that tier selectors match for a pool
	// (default: the pool's spec labels). Use it to merge the DiskPool
	// resource's own metadata labels.
	PoolLabels func(Pool) labels.Set
	// PublishProtocol is used when publishing an unpublished volume
	// (default nvmf).
	PublishProtocol VolumeShareProtocol
	// CordonGate serialises the cordon windows of concurrent moves; share
	// one per process (nil: the process-wide default gate).
	CordonGate *CordonGate
}

// Mover moves replicas of a volume from source-tier pools to target-tier
// pools with the calls Mayastor offers (replica count, node cordon,
// republish), one idempotent step at a time. Every step reads the live state
// first and takes everything else from a Plan the caller persists, so any
// step may be re-run after a crash.
type Mover struct {
	c    *Client
	opts MoverOptions
}

// NewMover returns a Mover using c.
func NewMover(c *Client, opts MoverOptions) *Mover {
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
		opts.PoolLabels = func(p Pool) labels.Set {
			if p.Spec == nil {
				return labels.Set{}
			}
			return labels.Set(p.Spec.Labels)
		}
	}
	if opts.PublishProtocol == "" {
		opts.PublishProtocol = VolumeShareProtocolNvmf
	}
	if opts.CordonGate == nil {
		opts.CordonGate = processCordonGate
	}
	return &Mover{c: c, opts: opts}
}

// ReplicaRef names a replica and where it lives.
type ReplicaRef struct {
	ID   string `json:"id"`
	Node string `json:"node"`
	Pool string `json:"pool"`
}

// Cordon is a cordon label the Mover put (or is about to put) on a node.
type Cordon struct {
	Node  string `json:"node"`
	Label string `json:"label"`
	// Answered: the call that puts the cordon is over (it answered, or the
	// label was seen on the node), so a label absent now will not appear
	// later. False for a call in flight, one that timed out or failed with a
	// 5xx, and for any cordon read back from storage: such a cordon "may land
	// late" and stays recorded until the end of the migration
	// (ReleaseCordons). Not persisted on purpose: unknown is the safe value.
	Answered bool `json:"answered,omitempty"`
}

// Plan is the state of one move, written by every step and meant to be
// persisted by the caller (e.g. in a TierMigration's status) between steps.
// Steps take it by value and return the updated copy.
type Plan struct {
	// MigrationID identifies the move; cordon labels derive from it.
	MigrationID string `json:"migrationID"`
	VolumeID    string `json:"volumeID"`
	// TargetSelector and SourceSelector are label selectors over pool labels
	// (labels.Selector.String() form); an empty SourceSelector means any
	// pool outside the target tier.
	TargetSelector string `json:"targetSelector"`
	SourceSelector string `json:"sourceSelector,omitempty"`
	// Replicas is the volume's replica count before the move; every step
	// ends with the count back at this value or one above it.
	Replicas   int    `json:"replicas"`
	VolumeSize uint64 `json:"volumeSize"`
	// BaseReplicaIDs are the volume's replicas before the pending increase:
	// a replica not listed here is one the Mover added.
	BaseReplicaIDs []string `json:"baseReplicaIDs"`
	// SourceReplicas are the replicas still to be moved off the source tier.
	SourceReplicas []ReplicaRef `json:"sourceReplicas"`
	// RemovedSourceReplicas have been removed after their data was rebuilt
	// on MovedReplicas.
	RemovedSourceReplicas []ReplicaRef `json:"removedSourceReplicas,omitempty"`
	// MovedReplicas are the replicas the Mover added on the target tier and kept.
	MovedReplicas []ReplicaRef `json:"movedReplicas,omitempty"`
	// PreservedSourceReplicas were kept on purpose (preservation mode).
	PreservedSourceReplicas []ReplicaRef `json:"preservedSourceReplicas,omitempty"`
	// NewReplica is the replica added on the target tier by the current
	// round's ScaleUp, until ScaleDown or Abort settles it.
	NewReplica *ReplicaRef `json:"newReplica,omitempty"`
	// TargetPools are the eligible target pools found at the last check.
	TargetPools []string `json:"targetPools,omitempty"`
	// NexusNode is the node of the volume's target at the last check.
	NexusNode string `json:"nexusNode,omitempty"`
	// CordonLabel is the label this move cordons nodes with.
	CordonLabel string `json:"cordonLabel"`
	// Cordons are recorded before they are applied and cleared once
	// released: whatever is listed here may be on a node and must be
	// released (ReleaseCordons) if the operator restarts.
	Cordons []Cordon `json:"cordons,omitempty"`
	// PublishedByMover is set (and recorded) before the Mover publishes an
	// unpublished volume; the volume is unpublished again when the move ends.
	PublishedByMover bool `json:"publishedByMover,omitempty"`
	// PlacementAttempts counts replica-count increases in the current round.
	PlacementAttempts int `json:"placementAttempts,omitempty"`
	// RemovalAttempts counts decreases that removed a replica other than a
	// source (a wasted rebuild each; only when the order changed between the
	// read and the write).
	RemovalAttempts int `json:"removalAttempts,omitempty"`
	// Forecast is the plan of the rounds found at Analyze (and refreshed at
	// every ScaleDown), e.g. "round 1 removes a; round 2 republishes onto
	// new-1's node, then removes b".
	Forecast string `json:"forecast,omitempty"`
	// ExpectedRemoval is the replica the last decrease was predicted to remove.
	ExpectedRemoval string `json:"expectedRemoval,omitempty"`
}

// DeepCopy returns a copy sharing no memory with p. Steps work on a deep
// copy, so a plan the caller stored is never changed behind its back.
func (p Plan) DeepCopy() Plan {
	q := p
	q.BaseReplicaIDs = slices.Clone(p.BaseReplicaIDs)
	q.SourceReplicas = slices.Clone(p.SourceReplicas)
	q.RemovedSourceReplicas = slices.Clone(p.RemovedSourceReplicas)
	q.MovedReplicas = slices.Clone(p.MovedReplicas)
	q.PreservedSourceReplicas = slices.Clone(p.PreservedSourceReplicas)
	q.TargetPools = slices.Clone(p.TargetPools)
	q.Cordons = slices.Clone(p.Cordons)
	if p.NewReplica != nil {
		r := *p.NewReplica
		q.NewReplica = &r
	}
	return q
}

// Complete reports whether no source replica is left to move and no new
// replica is pending.
func (p Plan) Complete() bool { return len(p.SourceReplicas) == 0 && p.NewReplica == nil }

// Journal persists a plan durably (e.g. writes a TierMigration status)
// before the Mover acts on it. Steps call it before every cordon and every
// replica-count change; an error stops the step before the action. A nil
// Journal persists nothing: a crash may then leave a node cordoned until
// ReleaseCordon is called by hand.
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
	pools map[string]*Pool
	nodes map[string]*Node
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
	cl := &cluster{pools: map[string]*Pool{}, nodes: map[string]*Node{}}
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
