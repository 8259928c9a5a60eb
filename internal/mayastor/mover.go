package mayastor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
)

// Defaults of MoverOptions.
const (
	DefaultMaxPlacementAttempts = 3
	DefaultMaxRemovalAttempts   = 10
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
	// MaxRemovalAttempts bounds how many decreases in a row may remove a
	// replica other than a source before ScaleDown gives up. Remote healthy
	// replicas tie in the control plane's removal ranking, so for the last
	// source of a k-replica volume each round succeeds with chance 1/k; every
	// wasted round costs one rebuild, never data.
	MaxRemovalAttempts int
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
	// RemovalAttempts counts decreases in a row that removed something other
	// than a source.
	RemovalAttempts int `json:"removalAttempts,omitempty"`
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
	// Republished: the target was moved to the new replica's node first.
	Republished bool `json:"republished,omitempty"`
	// Complete: no source replica is left; the move is finished.
	Complete bool `json:"complete"`
}

// ---- helpers over live state ----

func (m *Mover) poolLabels(p Pool) labels.Set { return m.opts.PoolLabels(p) }

func parseSelector(s string) (labels.Selector, error) {
	if s == "" {
		return labels.Everything(), nil
	}
	return labels.Parse(s)
}

// tiers classifies pools by the plan's selectors.
type tiers struct {
	target, source labels.Selector
	sourceAny      bool
}

func (m *Mover) tiersOf(p Plan) (tiers, error) {
	t, err := parseSelector(p.TargetSelector)
	if err != nil {
		return tiers{}, refuse(p.VolumeID, ReasonPlanInvalid, "target selector %q: %v", p.TargetSelector, err)
	}
	s, err := parseSelector(p.SourceSelector)
	if err != nil {
		return tiers{}, refuse(p.VolumeID, ReasonPlanInvalid, "source selector %q: %v", p.SourceSelector, err)
	}
	return tiers{target: t, source: s, sourceAny: p.SourceSelector == ""}, nil
}

func (m *Mover) onTarget(t tiers, pool *Pool) bool {
	return pool != nil && !t.target.Empty() && t.target.Matches(m.poolLabels(*pool))
}

func (m *Mover) onSource(t tiers, pool *Pool) bool {
	if pool == nil || m.onTarget(t, pool) {
		return false
	}
	return t.sourceAny || t.source.Matches(m.poolLabels(*pool))
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

func poolNode(p *Pool) string {
	if p.State != nil && p.State.Node != "" {
		return p.State.Node
	}
	if p.Spec != nil {
		return p.Spec.Node
	}
	return ""
}

func replicaIDs(v *Volume) []string {
	ids := slices.Collect(maps.Keys(v.State.ReplicaTopology))
	slices.Sort(ids)
	return ids
}

func refOf(id string, r ReplicaTopology) ReplicaRef {
	return ReplicaRef{ID: id, Node: r.Node, Pool: r.Pool}
}

func nexusNode(v *Volume) string {
	if v.State.Target == nil {
		return ""
	}
	return v.State.Target.Node
}

// healthProblem returns why v is not a settled, healthy volume, or "".
// wantReplicas is the replica count the volume must show.
func healthProblem(v *Volume, wantReplicas int) (Reason, string) {
	if v.State.Status != VolumeStatusOnline {
		return ReasonVolumeNotHealthy, fmt.Sprintf("status %s, want Online", v.State.Status)
	}
	if int(v.Spec.NumReplicas) != wantReplicas || len(v.State.ReplicaTopology) != wantReplicas {
		return ReasonVolumeNotHealthy, fmt.Sprintf("%d replicas (num_replicas %d), want %d",
			len(v.State.ReplicaTopology), v.Spec.NumReplicas, wantReplicas)
	}
	for _, id := range replicaIDs(v) {
		r := v.State.ReplicaTopology[id]
		if r.RebuildProgress != nil {
			return ReasonRebuildInProgress, fmt.Sprintf("replica %s rebuilding (%d%%)", id, *r.RebuildProgress)
		}
		if r.State != ReplicaStateOnline {
			return ReasonVolumeNotHealthy, fmt.Sprintf("replica %s is %s", id, r.State)
		}
		if v.State.Target != nil && r.ChildStatus != ChildStateOnline {
			return ReasonVolumeNotHealthy, fmt.Sprintf("replica %s child status %q, want Online", id, r.ChildStatus)
		}
	}
	if t := v.State.Target; t != nil {
		for _, ch := range t.Children {
			if ch.RebuildProgress != nil {
				return ReasonRebuildInProgress, fmt.Sprintf("child %s rebuilding (%d%%)", ch.URI, *ch.RebuildProgress)
			}
			if ch.State != ChildStateOnline {
				return ReasonVolumeNotHealthy, fmt.Sprintf("child %s is %s", ch.URI, ch.State)
			}
		}
		if len(t.Children) != wantReplicas {
			return ReasonVolumeNotHealthy, fmt.Sprintf("target has %d children, want %d", len(t.Children), wantReplicas)
		}
	}
	return "", ""
}

// inclusionOf returns the volume's pool inclusion labels.
func inclusionOf(v *Volume) map[string]string {
	t := v.Spec.Topology
	if t == nil || t.PoolTopology == nil || t.PoolTopology.Labelled == nil {
		return nil
	}
	return t.PoolTopology.Labelled.Inclusion
}

// hasInclusion: the pool carries every inclusion key, with the value when one is given.
func hasInclusion(poolLabels labels.Set, inclusion map[string]string) bool {
	for k, want := range inclusion {
		got, ok := poolLabels[k]
		if !ok || want != "" && got != want {
			return false
		}
	}
	return true
}

// nodeAllowed applies the volume's node topology, as the scheduler does.
func nodeAllowed(v *Volume, n *Node) bool {
	t := v.Spec.Topology
	if t == nil || t.NodeTopology == nil {
		return true
	}
	if e := t.NodeTopology.Explicit; e != nil && len(e.AllowedNodes) > 0 && !slices.Contains(e.AllowedNodes, n.ID) {
		return false
	}
	if l := t.NodeTopology.Labelled; l != nil {
		var nl labels.Set
		if n.Spec != nil {
			nl = n.Spec.Labels
		}
		if !hasInclusion(nl, l.Inclusion) {
			return false
		}
	}
	return true
}

func nodeUsable(n *Node) bool {
	return n != nil && n.State != nil && n.State.Status == NodeStatusOnline && !n.Cordoned()
}

func poolSchedulable(p *Pool) bool {
	return p.State != nil && (p.State.Status == PoolStatusOnline || p.State.Status == PoolStatusDegraded)
}

// hasRoom: free space above the volume size, and capacity headroom kept.
func (m *Mover) hasRoom(p *Pool, size uint64) bool {
	s := p.State
	if s == nil || s.Used > s.Capacity || s.Capacity-s.Used <= size {
		return false
	}
	limit := s.Capacity / 100 * uint64(100-m.opts.HeadroomPercent)
	return s.Used+size <= limit
}

func replicaNodes(v *Volume) map[string]bool {
	nodes := map[string]bool{}
	for _, r := range v.State.ReplicaTopology {
		if r.Node != "" {
			nodes[r.Node] = true
		}
	}
	return nodes
}

// chooseTargetPools returns the target pools a replica-count increase could
// land on, best first, or a refusal saying why there is none.
func (m *Mover) chooseTargetPools(v *Volume, cl *cluster, t tiers) ([]*Pool, error) {
	id := v.Spec.UUID
	var inTier []*Pool
	for _, pid := range cl.order {
		if p := cl.pools[pid]; m.onTarget(t, p) {
			inTier = append(inTier, p)
		}
	}
	if len(inTier) == 0 {
		return nil, refuse(id, ReasonNoTargetPool, "no pool matches the target selector %q", t.target.String())
	}
	inclusion := inclusionOf(v)
	var labelled, lacking []*Pool
	for _, p := range inTier {
		if hasInclusion(m.poolLabels(*p), inclusion) {
			labelled = append(labelled, p)
		} else {
			lacking = append(lacking, p)
		}
	}
	if len(labelled) == 0 {
		return nil, refuse(id, ReasonPoolsLackInclusionLabels, "target pools %s lack the volume's pool inclusion labels %v",
			poolNames(lacking), inclusion)
	}
	held := replicaNodes(v)
	var freeNode []*Pool
	for _, p := range labelled {
		if !held[poolNode(p)] {
			freeNode = append(freeNode, p)
		}
	}
	if len(freeNode) == 0 {
		return nil, refuse(id, ReasonTargetNodeHoldsReplica,
			"every target pool (%s) is on a node already holding a replica of the volume; the control plane never places two replicas of a volume on one node",
			poolNames(labelled))
	}
	var usable []*Pool
	var why []string
	for _, p := range freeNode {
		n := cl.nodes[poolNode(p)]
		switch {
		case p.State == nil || p.State.Status != PoolStatusOnline:
			why = append(why, p.ID+" not Online")
		case !nodeUsable(n):
			why = append(why, p.ID+" on an offline or cordoned node")
		case !nodeAllowed(v, n):
			why = append(why, p.ID+" on a node outside the volume's node topology")
		default:
			usable = append(usable, p)
		}
	}
	if len(usable) == 0 {
		return nil, refuse(id, ReasonNoTargetPool, "no usable target pool: %s", strings.Join(why, ", "))
	}
	var roomy []*Pool
	for _, p := range usable {
		if m.hasRoom(p, v.Spec.Size) {
			roomy = append(roomy, p)
		}
	}
	if len(roomy) == 0 {
		return nil, refuse(id, ReasonInsufficientCapacity, "no target pool among %s has %d bytes free with %d%% headroom",
			poolNames(usable), v.Spec.Size, m.opts.HeadroomPercent)
	}
	// Most free space first, as the scheduler's score prefers.
	slices.SortStableFunc(roomy, func(a, b *Pool) int {
		fa, fb := a.State.Capacity-a.State.Used, b.State.Capacity-b.State.Used
		switch {
		case fa > fb:
			return -1
		case fa < fb:
			return 1
		}
		return strings.Compare(a.ID, b.ID)
	})
	return roomy, nil
}

func poolNames(ps []*Pool) string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.ID
	}
	return strings.Join(names, ", ")
}

// cordonPlan chooses the nodes to cordon for one increase so that the
// scheduler can only pick a target pool. A node hosting a target pool and no
// other pool the scheduler could take ("pure") is left open; every other node
// with a pool that could take the replica is cordoned. When every target pool
// shares its node with such a competing pool, one target node is left open
// (a different one each attempt) and the scheduler's pool score decides
// between the pools on it; verification catches a miss.
func (m *Mover) cordonPlan(v *Volume, cl *cluster, t tiers, targets []*Pool, attempt int) []string {
	held := replicaNodes(v)
	inclusion := inclusionOf(v)
	targetNodes := map[string]bool{}
	for _, p := range targets {
		targetNodes[poolNode(p)] = true
	}
	// Nodes with a pool outside the target tier that could take the replica.
	competing := map[string]bool{}
	for _, pid := range cl.order {
		p := cl.pools[pid]
		node := poolNode(p)
		if held[node] || m.onTarget(t, p) || !poolSchedulable(p) {
			continue
		}
		n := cl.nodes[node]
		if !nodeUsable(n) || !nodeAllowed(v, n) || !hasInclusion(m.poolLabels(*p), inclusion) ||
			p.State.Capacity-min(p.State.Used, p.State.Capacity) <= v.Spec.Size {
			continue
		}
		competing[node] = true
	}
	open := map[string]bool{}
	for node := range targetNodes {
		if !competing[node] {
			open[node] = true
		}
	}
	cordon := map[string]bool{}
	if len(open) > 0 {
		for node := range competing {
			cordon[node] = true
		}
	} else {
		keep := poolNode(targets[attempt%len(targets)])
		for node := range competing {
			cordon[node] = node != keep
		}
		for node := range targetNodes {
			cordon[node] = node != keep
		}
	}
	var out []string
	for node, c := range cordon {
		if c {
			out = append(out, node)
		}
	}
	slices.Sort(out)
	return out
}

// CordonLabelFor derives the cordon label of a migration: unique per move,
// recognisable as CoucheStor's, safe as a URL path segment.
func CordonLabelFor(migrationID string) string {
	var b strings.Builder
	b.WriteString("couchestor-migration-")
	for _, r := range strings.ToLower(migrationID) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	s := b.String()
	if len(s) > 63 {
		s = s[:63]
	}
	return s
}

// ---- Analyze ----

// Analyze checks that the volume can be moved to pools matching targetPools
// and returns the plan of the move. sourcePools selects the replicas to move
// (nil or empty: every replica outside the target tier). It changes nothing.
//
// Refusals (*RefusalError): volume missing, not Online, a child not Online or
// rebuilding; unpublished (unless IncludeUnpublished); nothing to do (already
// on the target tier); no source replica; no eligible target pool, every
// target pool on a node already holding a replica, target pools lacking the
// volume's inclusion labels, no room; a nexus-local source replica without
// AllowRepublish.
func (m *Mover) Analyze(ctx context.Context, migrationID, volumeID string, targetPools, sourcePools labels.Selector) (Plan, error) {
	if migrationID == "" {
		return Plan{}, refuse(volumeID, ReasonPlanInvalid, "migration id is required (cordon labels derive from it)")
	}
	if targetPools == nil || targetPools.Empty() {
		return Plan{}, refuse(volumeID, ReasonPlanInvalid, "target pool selector must not be empty")
	}
	plan := Plan{
		MigrationID:    migrationID,
		VolumeID:       volumeID,
		TargetSelector: targetPools.String(),
		CordonLabel:    CordonLabelFor(migrationID),
	}
	if sourcePools != nil && !sourcePools.Empty() {
		plan.SourceSelector = sourcePools.String()
	}
	t, err := m.tiersOf(plan)
	if err != nil {
		return Plan{}, err
	}
	v, err := m.c.GetVolume(ctx, volumeID)
	if IsNotFound(err) {
		return Plan{}, refuse(volumeID, ReasonVolumeNotFound, "%v", err)
	}
	if err != nil {
		return Plan{}, fmt.Errorf("analyze volume %s: %w", volumeID, err)
	}
	if reason, detail := healthProblem(v, int(v.Spec.NumReplicas)); reason != "" {
		return Plan{}, refuse(volumeID, reason, "%s", detail)
	}
	if v.State.Target == nil && !m.opts.IncludeUnpublished {
		return Plan{}, refuse(volumeID, ReasonUnpublished,
			"volume has no target, so a new replica could not be rebuilt; unpublished volumes are skipped")
	}
	cl, err := m.loadCluster(ctx)
	if err != nil {
		return Plan{}, fmt.Errorf("analyze volume %s: %w", volumeID, err)
	}
	var sources []ReplicaRef
	onTarget := 0
	for _, id := range replicaIDs(v) {
		r := v.State.ReplicaTopology[id]
		p := cl.pools[r.Pool]
		switch {
		case m.onTarget(t, p):
			onTarget++
		case m.onSource(t, p):
			sources = append(sources, refOf(id, r))
		}
	}
	if len(sources) == 0 {
		if onTarget == len(v.State.ReplicaTopology) {
			return Plan{}, refuse(volumeID, ReasonAlreadyOnTarget, "all %d replicas are on pools matching %q", onTarget, plan.TargetSelector)
		}
		return Plan{}, refuse(volumeID, ReasonNoSourceReplica, "no replica is on a pool matching %q", plan.SourceSelector)
	}
	if nn := nexusNode(v); nn != "" && !m.opts.AllowRepublish {
		for _, s := range sources {
			if s.Node == nn {
				return Plan{}, refuse(volumeID, ReasonNexusLocalSource,
					"source replica %s is local to the volume target on node %s, and a replica-count decrease never removes it; moving it needs a republish (brief I/O pause), which is not allowed", s.ID, nn)
			}
		}
	}
	targets, err := m.chooseTargetPools(v, cl, t)
	if err != nil {
		return Plan{}, err
	}
	plan.Replicas = int(v.Spec.NumReplicas)
	plan.VolumeSize = v.Spec.Size
	plan.BaseReplicaIDs = replicaIDs(v)
	plan.SourceReplicas = sources
	plan.NexusNode = nexusNode(v)
	for _, p := range targets {
		plan.TargetPools = append(plan.TargetPools, p.ID)
	}
	return plan, nil
}

// ---- cordons ----

// ReleaseCordon removes label from node if it is there. It is idempotent: a
// missing node or label is not an error. Use it to clean up cordons recorded
// in a Plan after a restart.
func (m *Mover) ReleaseCordon(ctx context.Context, node, label string) error {
	n, err := m.c.GetNode(ctx, node)
	if IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("release cordon %s on node %s: %w", label, node, err)
	}
	if !slices.Contains(n.CordonLabels(), label) {
		return nil
	}
	if _, err := m.c.UncordonNode(ctx, node, label); err != nil && !IsNotFound(err) {
		return fmt.Errorf("release cordon %s on node %s: %w", label, node, err)
	}
	return nil
}

// ReleaseCordons releases every cordon recorded in plan, even when ctx is
// already cancelled (a cordon must not outlive the step), and returns the
// plan without the released ones.
func (m *Mover) ReleaseCordons(ctx context.Context, plan Plan) (Plan, error) {
	plan = plan.DeepCopy()
	ctx = context.WithoutCancel(ctx)
	var errs []error
	var left []Cordon
	for _, c := range plan.Cordons {
		if err := m.ReleaseCordon(ctx, c.Node, c.Label); err != nil {
			errs = append(errs, err)
			left = append(left, c)
		}
	}
	plan.Cordons = left
	return plan, errors.Join(errs...)
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

// releaseRecorded releases recorded cordons and records the result.
func (m *Mover) releaseRecorded(ctx context.Context, plan Plan, j Journal) (Plan, error) {
	if len(plan.Cordons) == 0 {
		return plan, nil
	}
	plan, err := m.ReleaseCordons(ctx, plan)
	if rerr := record(context.WithoutCancel(ctx), j, plan); err == nil {
		err = rerr
	}
	return plan, err
}

// ---- ScaleUp ----

// ScaleUp adds one replica of the volume on the target tier and records it
// in plan.NewReplica. It cordons competing nodes (recording the cordons
// through j first) for the one replica-count increase and releases them at
// once, verifies where the replica landed, and if it is off the target tier
// takes the count back (the unrebuilt replica is removed first) and tries
// again, up to MaxPlacementAttempts.
//
// Re-running it after a crash is safe: recorded cordons are released, an
// extra replica already on the target tier is adopted instead of adding
// another, and one elsewhere is removed before a new attempt.
func (m *Mover) ScaleUp(ctx context.Context, plan Plan, j Journal) (Plan, error) {
	plan = plan.DeepCopy()
	t, err := m.tiersOf(plan)
	if err != nil {
		return plan, err
	}
	if plan.Replicas <= 0 || len(plan.BaseReplicaIDs) == 0 {
		return plan, refuse(plan.VolumeID, ReasonPlanInvalid, "plan has no replica count or base replicas; run Analyze first")
	}
	if plan, err = m.releaseRecorded(ctx, plan, j); err != nil {
		return plan, err
	}
	n := plan.Replicas
	// Each pass either returns or changes the cluster towards a placement;
	// the bound only stops a control plane that ignores the calls.
	for pass := 0; pass < 2*m.opts.MaxPlacementAttempts+4; pass++ {
		v, err := m.c.GetVolume(ctx, plan.VolumeID)
		if IsNotFound(err) {
			return plan, refuse(plan.VolumeID, ReasonVolumeNotFound, "%v", err)
		}
		if err != nil {
			return plan, fmt.Errorf("scale up volume %s: %w", plan.VolumeID, err)
		}
		cl, err := m.loadCluster(ctx)
		if err != nil {
			return plan, fmt.Errorf("scale up volume %s: %w", plan.VolumeID, err)
		}
		if plan.NewReplica != nil {
			if _, ok := v.State.ReplicaTopology[plan.NewReplica.ID]; ok {
				return plan, nil
			}
			return plan, refuse(plan.VolumeID, ReasonNewReplicaLost, "new replica %s is no longer part of the volume", plan.NewReplica.ID)
		}
		if _, ok := m.extraReplica(v, plan); ok && int(v.Spec.NumReplicas) <= n {
			// The control plane replaced a replica by itself (self-heal):
			// not ours. Re-derive the layout and go on from there.
			if plan, err = m.refreshLayout(ctx, plan, v, cl, t, j); err != nil {
				return plan, err
			}
			continue
		}
		// An extra replica left by an earlier run (crash after the increase).
		if extra, ok := m.extraReplica(v, plan); ok {
			if m.onTarget(t, cl.pools[extra.Pool]) {
				plan.NewReplica = &extra
				return plan, record(ctx, j, plan)
			}
			if plan, err = m.takeBack(ctx, plan, v, extra, j); err != nil {
				return plan, err
			}
			continue
		}
		if int(v.Spec.NumReplicas) > n {
			// Count raised but no replica added (creation failed): restore it.
			if err := record(ctx, j, plan); err != nil {
				return plan, err
			}
			if _, err := m.c.SetReplicaCount(ctx, plan.VolumeID, n); err != nil {
				return plan, fmt.Errorf("scale up volume %s: restore replica count: %w", plan.VolumeID, err)
			}
			continue
		}
		if plan.PlacementAttempts >= m.opts.MaxPlacementAttempts {
			return plan, refuse(plan.VolumeID, ReasonPlacementFailed,
				"the new replica landed off the target tier in %d attempts (target pools %v)", plan.PlacementAttempts, plan.TargetPools)
		}
		if reason, detail := healthProblem(v, n); reason != "" {
			return plan, refuse(plan.VolumeID, reason, "before scale up: %s", detail)
		}
		if v.State.Target == nil {
			if plan.PublishedByMover && pass > 0 {
				return plan, fmt.Errorf("scale up volume %s: published for the move but no target is visible", plan.VolumeID)
			}
			if !m.opts.IncludeUnpublished {
				return plan, refuse(plan.VolumeID, ReasonUnpublished, "volume has no target; a new replica could not be rebuilt")
			}
			if plan, err = m.publishForMove(ctx, plan, v, cl, t, j); err != nil {
				return plan, err
			}
			continue
		}
		targets, err := m.chooseTargetPools(v, cl, t)
		if err != nil {
			return plan, err
		}
		plan.TargetPools = nil
		for _, p := range targets {
			plan.TargetPools = append(plan.TargetPools, p.ID)
		}
		plan.NexusNode = nexusNode(v)
		plan.BaseReplicaIDs = replicaIDs(v)
		plan.Cordons = nil
		if !m.opts.DisableCordon {
			for _, node := range m.cordonPlan(v, cl, t, targets, plan.PlacementAttempts) {
				plan.Cordons = append(plan.Cordons, Cordon{Node: node, Label: plan.CordonLabel})
			}
		}
		plan.PlacementAttempts++
		// Intent first: the cordons and the base replica set are durable
		// before any of them is acted on.
		if err := record(ctx, j, plan); err != nil {
			return plan, err
		}
		plan, err = m.increaseCordoned(ctx, plan, n, j)
		if err != nil {
			return plan, err
		}
		v, err = m.c.GetVolume(ctx, plan.VolumeID)
		if err != nil {
			return plan, fmt.Errorf("scale up volume %s: verify placement: %w", plan.VolumeID, err)
		}
		extra, ok := m.extraReplica(v, plan)
		if !ok {
			return plan, fmt.Errorf("scale up volume %s: replica count raised to %d but no new replica is visible", plan.VolumeID, n+1)
		}
		if m.onTarget(t, cl.pools[extra.Pool]) {
			plan.NewReplica = &extra
			return plan, record(ctx, j, plan)
		}
		if plan, err = m.takeBack(ctx, plan, v, extra, j); err != nil {
			return plan, err
		}
	}
	return plan, fmt.Errorf("scale up volume %s: the control plane did not settle after %d passes", plan.VolumeID, 2*m.opts.MaxPlacementAttempts+4)
}

// increaseCordoned applies the recorded cordons, raises the count to n+1 and
// releases the cordons whatever happened.
func (m *Mover) increaseCordoned(ctx context.Context, plan Plan, n int, j Journal) (Plan, error) {
	var cordonErr error
	for _, c := range plan.Cordons {
		if _, err := m.c.CordonNode(ctx, c.Node, c.Label); err != nil {
			cordonErr = fmt.Errorf("scale up volume %s: %w", plan.VolumeID, err)
			break
		}
	}
	var incErr error
	if cordonErr == nil {
		_, incErr = m.c.SetReplicaCount(ctx, plan.VolumeID, n+1)
	}
	plan, relErr := m.releaseRecorded(ctx, plan, j)
	switch {
	case cordonErr != nil:
		return plan, errors.Join(cordonErr, relErr)
	case incErr != nil:
		return plan, errors.Join(fmt.Errorf("scale up volume %s: %w", plan.VolumeID, incErr), relErr)
	}
	return plan, relErr
}

// extraReplica finds a replica not in the plan's base set.
func (m *Mover) extraReplica(v *Volume, plan Plan) (ReplicaRef, bool) {
	for _, id := range replicaIDs(v) {
		if !slices.Contains(plan.BaseReplicaIDs, id) {
			return refOf(id, v.State.ReplicaTopology[id]), true
		}
	}
	return ReplicaRef{}, false
}

// takeBack lowers the count to plan.Replicas after an increase landed off the
// target tier. While the extra replica is unrebuilt it ranks first for
// removal; if the control plane removed another replica instead, n replicas
// still hold the data, and the plan is refreshed from the live layout.
func (m *Mover) takeBack(ctx context.Context, plan Plan, v *Volume, extra ReplicaRef, j Journal) (Plan, error) {
	if err := record(ctx, j, plan); err != nil {
		return plan, err
	}
	if _, err := m.c.SetReplicaCount(ctx, plan.VolumeID, plan.Replicas); err != nil {
		return plan, fmt.Errorf("scale up volume %s: take back replica %s placed on pool %s off the target tier: %w",
			plan.VolumeID, extra.ID, extra.Pool, err)
	}
	after, err := m.c.GetVolume(ctx, plan.VolumeID)
	if err != nil {
		return plan, fmt.Errorf("scale up volume %s: verify take back: %w", plan.VolumeID, err)
	}
	if _, still := after.State.ReplicaTopology[extra.ID]; still {
		// Another replica went. Nothing is lost (n replicas remain, the
		// removed one was healthy only if all were), but the layout moved:
		// re-derive the sources from what is there now.
		t, err := m.tiersOf(plan)
		if err != nil {
			return plan, err
		}
		cl, err := m.loadCluster(ctx)
		if err != nil {
			return plan, fmt.Errorf("scale up volume %s: %w", plan.VolumeID, err)
		}
		return m.refreshLayout(ctx, plan, after, cl, t, j)
	}
	plan.BaseReplicaIDs = replicaIDs(after)
	return plan, record(ctx, j, plan)
}

// refreshLayout re-derives the base replica set and the sources still to move
// from the live volume, after the control plane changed the replica set by
// itself, and records the plan.
func (m *Mover) refreshLayout(ctx context.Context, plan Plan, v *Volume, cl *cluster, t tiers, j Journal) (Plan, error) {
	var sources []ReplicaRef
	for _, id := range replicaIDs(v) {
		r := v.State.ReplicaTopology[id]
		if m.onSource(t, cl.pools[r.Pool]) {
			sources = append(sources, refOf(id, r))
		}
	}
	plan.SourceReplicas = sources
	plan.MovedReplicas = slices.DeleteFunc(plan.MovedReplicas, func(r ReplicaRef) bool {
		_, ok := v.State.ReplicaTopology[r.ID]
		return !ok
	})
	plan.BaseReplicaIDs = replicaIDs(v)
	return plan, record(ctx, j, plan)
}

// publishForMove publishes an unpublished volume so a new replica can be
// rebuilt, on the node of the best target pool (its replica is then
// nexus-local and the sources remote), recording the intent first.
func (m *Mover) publishForMove(ctx context.Context, plan Plan, v *Volume, cl *cluster, t tiers, j Journal) (Plan, error) {
	targets, err := m.chooseTargetPools(v, cl, t)
	if err != nil {
		return plan, err
	}
	plan.PublishedByMover = true
	if err := record(ctx, j, plan); err != nil {
		return plan, err
	}
	node := poolNode(targets[0])
	_, err = m.c.PublishVolume(ctx, plan.VolumeID, PublishVolumeBody{
		PublishContext: map[string]string{},
		Node:           node,
		Protocol:       m.opts.PublishProtocol,
	})
	if err != nil && !IsKind(err, ErrorKindAlreadyPublished) {
		return plan, fmt.Errorf("scale up volume %s: publish for the move: %w", plan.VolumeID, err)
	}
	return plan, nil
}

// ---- SyncStatus ----

// SyncStatus reports whether the new replica is a healthy, fully rebuilt
// child: volume Online, its replica_topology entry Online with child-status
// Online and no rebuild-progress, every target child Online with no
// rebuildProgress, and, where the rebuild history is available, its latest
// record for the child Completed.
func (m *Mover) SyncStatus(ctx context.Context, volumeID, newReplicaID string) (SyncState, error) {
	v, err := m.c.GetVolume(ctx, volumeID)
	if IsNotFound(err) {
		return SyncState{Failed: "volume no longer exists"}, nil
	}
	if err != nil {
		return SyncState{}, fmt.Errorf("sync status of replica %s of volume %s: %w", newReplicaID, volumeID, err)
	}
	st := syncFromVolume(v, newReplicaID)
	if !st.Done || st.Failed != "" {
		return st, nil
	}
	h, err := m.c.GetRebuildHistory(ctx, volumeID)
	if err != nil {
		// The history is a confirmation where available; the live state
		// above is authoritative.
		return st, nil
	}
	var last *RebuildRecord
	for i := range h.Records {
		r := &h.Records[i]
		if strings.Contains(r.ChildURI, newReplicaID) && (last == nil || !r.StartTime.Before(last.StartTime)) {
			last = r
		}
	}
	if last != nil && last.RebuildJobState != RebuildJobStateCompleted {
		st.Done = false
		st.Progress = min(st.Progress, 99)
		st.Waiting = fmt.Sprintf("rebuild history shows %s for the new child", last.RebuildJobState)
	}
	return st, nil
}

func syncFromVolume(v *Volume, id string) SyncState {
	r, ok := v.State.ReplicaTopology[id]
	if !ok {
		return SyncState{Failed: fmt.Sprintf("replica %s is no longer part of the volume", id)}
	}
	if r.State == ReplicaStateFaulted || r.ChildStatus == ChildStateFaulted {
		return SyncState{Failed: fmt.Sprintf("replica %s is faulted (state %s, child status %s)", id, r.State, r.ChildStatus)}
	}
	if v.State.Target == nil {
		return SyncState{Failed: "volume is unpublished: nothing rebuilds the new replica"}
	}
	st := SyncState{}
	switch {
	case r.RebuildProgress != nil:
		st.Progress = *r.RebuildProgress
		st.Waiting = fmt.Sprintf("rebuilding, %d%%", *r.RebuildProgress)
		return st
	case r.ChildStatus != ChildStateOnline:
		st.Waiting = fmt.Sprintf("child status %q", r.ChildStatus)
		return st
	case r.State != ReplicaStateOnline:
		st.Waiting = fmt.Sprintf("replica state %s", r.State)
		return st
	}
	// The new replica is rebuilt; the volume as a whole must also be what ScaleDown will
	// demand (healthProblem), or the two would disagree and bounce a migration between them.
	if reason, detail := healthProblem(v, int(v.Spec.NumReplicas)); reason != "" {
		st.Progress = 99
		st.Waiting = detail
		return st
	}
	st.Progress = 100
	st.Done = true
	return st
}

// ---- ScaleDown ----

// ScaleDown removes a source replica once plan.NewReplica is healthy and
// fully rebuilt. If a source replica is local to the target and
// AllowRepublish is set, the target is first republished to the new
// replica's node. It then lowers the count to plan.Replicas and checks which
// replica the control plane removed: a source (progress), or another one (no
// data lost: plan.Replicas healthy replicas remain). The caller repeats
// ScaleUp → WaitSync → ScaleDown while !result.Complete; after
// MaxRemovalAttempts decreases that spared the source it refuses with
// ErrRemovalNotSteerable. Re-running it after a crash works out what an
// earlier run already did.
func (m *Mover) ScaleDown(ctx context.Context, plan Plan, j Journal) (Plan, ScaleDownResult, error) {
	plan = plan.DeepCopy()
	var res ScaleDownResult
	if plan.NewReplica == nil {
		if len(plan.SourceReplicas) == 0 {
			res.Complete = true
			plan, err := m.unpublishIfOurs(ctx, plan, j)
			return plan, res, err
		}
		return plan, res, refuse(plan.VolumeID, ReasonPlanInvalid, "no new replica to keep; run ScaleUp first")
	}
	n := plan.Replicas
	newID := plan.NewReplica.ID
	v, err := m.c.GetVolume(ctx, plan.VolumeID)
	if IsNotFound(err) {
		return plan, res, refuse(plan.VolumeID, ReasonVolumeNotFound, "%v", err)
	}
	if err != nil {
		return plan, res, fmt.Errorf("scale down volume %s: %w", plan.VolumeID, err)
	}
	before := append(slices.Clone(plan.BaseReplicaIDs), newID)
	if int(v.Spec.NumReplicas) > n {
		if _, ok := v.State.ReplicaTopology[newID]; !ok {
			return plan, res, refuse(plan.VolumeID, ReasonNewReplicaLost, "new replica %s is no longer part of the volume", newID)
		}
		st := syncFromVolume(v, newID)
		if st.Failed != "" {
			return plan, res, refuse(plan.VolumeID, ReasonNewReplicaLost, "%s", st.Failed)
		}
		if !st.Done {
			return plan, res, refuse(plan.VolumeID, ReasonNotSynced, "%s", st.Waiting)
		}
		if v, res.Republished, err = m.republishIfNexusLocal(ctx, plan, v); err != nil {
			return plan, res, err
		}
		// Every replica, the new one included, must be healthy now: then
		// whichever one the decrease removes, n healthy replicas remain.
		if reason, detail := healthProblem(v, n+1); reason != "" {
			return plan, res, refuse(plan.VolumeID, ReasonNotSynced, "before scale down: %s", detail)
		}
		if err := record(ctx, j, plan); err != nil {
			return plan, res, err
		}
		if _, err := m.c.SetReplicaCount(ctx, plan.VolumeID, n); err != nil {
			return plan, res, fmt.Errorf("scale down volume %s: %w", plan.VolumeID, err)
		}
		if v, err = m.c.GetVolume(ctx, plan.VolumeID); err != nil {
			return plan, res, fmt.Errorf("scale down volume %s: verify removal: %w", plan.VolumeID, err)
		}
	}
	// The count is back at n: find out which replica went.
	var removed []string
	for _, id := range before {
		if _, ok := v.State.ReplicaTopology[id]; !ok {
			removed = append(removed, id)
		}
	}
	if len(removed) == 0 {
		return plan, res, fmt.Errorf("scale down volume %s: replica count is %d but no replica was removed yet", plan.VolumeID, v.Spec.NumReplicas)
	}
	if len(removed) > 1 {
		return plan, res, refuse(plan.VolumeID, ReasonVolumeNotHealthy, "replicas %v disappeared during scale down", removed)
	}
	gone := removed[0]
	newRef := *plan.NewReplica
	plan.NewReplica = nil
	switch idx := slices.IndexFunc(plan.SourceReplicas, func(r ReplicaRef) bool { return r.ID == gone }); {
	case idx >= 0:
		res.Removed = plan.SourceReplicas[idx]
		res.SourceRemoved = true
		plan.RemovedSourceReplicas = append(plan.RemovedSourceReplicas, plan.SourceReplicas[idx])
		plan.SourceReplicas = slices.Delete(plan.SourceReplicas, idx, idx+1)
		plan.MovedReplicas = append(plan.MovedReplicas, newRef)
		plan.RemovalAttempts = 0
	case gone == newID:
		res.Removed = newRef
		plan.RemovalAttempts++
	default:
		res.Removed = ReplicaRef{ID: gone}
		plan.MovedReplicas = slices.DeleteFunc(plan.MovedReplicas, func(r ReplicaRef) bool { return r.ID == gone })
		plan.MovedReplicas = append(plan.MovedReplicas, newRef)
		plan.RemovalAttempts++
	}
	// A new round starts: its ScaleUp gets a fresh placement budget; rounds
	// are bounded by RemovalAttempts and the number of sources.
	plan.PlacementAttempts = 0
	plan.BaseReplicaIDs = replicaIDs(v)
	plan.NexusNode = nexusNode(v)
	res.Complete = len(plan.SourceReplicas) == 0
	if res.Complete {
		plan, err = m.unpublishIfOurs(ctx, plan, j)
	}
	if rerr := record(ctx, j, plan); err == nil {
		err = rerr
	}
	if err != nil {
		return plan, res, err
	}
	if !res.Complete && plan.RemovalAttempts >= m.opts.MaxRemovalAttempts {
		return plan, res, refuse(plan.VolumeID, ReasonRemovalNotSteerable,
			"%d replica-count decreases in a row removed a replica other than a source; %d healthy replicas remain, sources %v still in place",
			plan.RemovalAttempts, n, refIDs(plan.SourceReplicas))
	}
	return plan, res, nil
}

func refIDs(rs []ReplicaRef) []string {
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	return ids
}

// republishIfNexusLocal moves the target to the new replica's node when a
// remaining source replica is local to it (a decrease never removes the
// nexus-local replica).
func (m *Mover) republishIfNexusLocal(ctx context.Context, plan Plan, v *Volume) (*Volume, bool, error) {
	nn := nexusNode(v)
	if nn == "" {
		return v, false, nil
	}
	local := false
	for _, s := range plan.SourceReplicas {
		if r, ok := v.State.ReplicaTopology[s.ID]; ok && r.Node == nn {
			local = true
		}
	}
	if !local {
		return v, false, nil
	}
	if !m.opts.AllowRepublish {
		return v, false, refuse(plan.VolumeID, ReasonNexusLocalSource,
			"a source replica is local to the volume target on node %s; republishing is not allowed", nn)
	}
	body := PublishVolumeBody{
		PublishContext: map[string]string{},
		Node:           plan.NewReplica.Node,
		Protocol:       m.opts.PublishProtocol,
		Republish:      ptr(true),
		ReuseExisting:  ptr(false),
	}
	if tg := v.Spec.Target; tg != nil {
		if tg.Protocol != "" {
			body.Protocol = tg.Protocol
		}
		if len(tg.FrontendNodes) > 0 {
			body.FrontendNode = tg.FrontendNodes[0].Name
		}
	}
	if _, err := m.c.PublishVolume(ctx, plan.VolumeID, body); err != nil {
		return v, false, fmt.Errorf("scale down volume %s: %w", plan.VolumeID, err)
	}
	after, err := m.c.GetVolume(ctx, plan.VolumeID)
	if err != nil {
		return v, true, fmt.Errorf("scale down volume %s: verify republish: %w", plan.VolumeID, err)
	}
	if got := nexusNode(after); got != plan.NewReplica.Node {
		return after, true, refuse(plan.VolumeID, ReasonNexusLocalSource, "republished target is on node %q, want %s", got, plan.NewReplica.Node)
	}
	return after, true, nil
}

func (m *Mover) unpublishIfOurs(ctx context.Context, plan Plan, j Journal) (Plan, error) {
	if !plan.PublishedByMover {
		return plan, nil
	}
	if _, err := m.c.UnpublishVolume(ctx, plan.VolumeID, false); err != nil &&
		!IsNotFound(err) && !IsKind(err, ErrorKindNotPublished) {
		return plan, fmt.Errorf("unpublish volume %s published for the move: %w", plan.VolumeID, err)
	}
	plan.PublishedByMover = false
	return plan, record(ctx, j, plan)
}

func ptr[T any](v T) *T { return &v }

// ---- Preserve ----

// Preserve ends a move in preservation mode: once the new replica is healthy
// and fully rebuilt it is kept next to the source replicas, which are not
// removed. The volume keeps one replica more than before (plan.Replicas
// becomes n+1) and the plan is Complete. A volume published for the move is
// unpublished.
func (m *Mover) Preserve(ctx context.Context, plan Plan, j Journal) (Plan, error) {
	plan = plan.DeepCopy()
	if plan.NewReplica == nil {
		return m.unpublishIfOurs(ctx, plan, j)
	}
	st, err := m.SyncStatus(ctx, plan.VolumeID, plan.NewReplica.ID)
	if err != nil {
		return plan, err
	}
	if st.Failed != "" {
		return plan, refuse(plan.VolumeID, ReasonNewReplicaLost, "%s", st.Failed)
	}
	if !st.Done {
		return plan, refuse(plan.VolumeID, ReasonNotSynced, "%s", st.Waiting)
	}
	plan.MovedReplicas = append(plan.MovedReplicas, *plan.NewReplica)
	plan.BaseReplicaIDs = append(plan.BaseReplicaIDs, plan.NewReplica.ID)
	slices.Sort(plan.BaseReplicaIDs)
	plan.PreservedSourceReplicas = append(plan.PreservedSourceReplicas, plan.SourceReplicas...)
	plan.SourceReplicas = nil
	plan.NewReplica = nil
	plan.Replicas++
	if err := record(ctx, j, plan); err != nil {
		return plan, err
	}
	return m.unpublishIfOurs(ctx, plan, j)
}

// ---- Abort ----

// Abort undoes the current round's ScaleUp: it releases recorded cordons and
// lowers the replica count back to plan.Replicas when that can only remove a
// replica the Mover added (the unrebuilt new replica ranks first for
// removal). It never removes a source replica: if the new replica is already
// rebuilt, the control plane could pick a source, so Abort refuses with
// ErrAbortUnsafe and leaves the extra, healthy replica in place (finish with
// ScaleDown instead). A volume published for the move is unpublished.
func (m *Mover) Abort(ctx context.Context, plan Plan, j Journal) (Plan, error) {
	plan = plan.DeepCopy()
	plan, err := m.releaseRecorded(ctx, plan, j)
	if err != nil {
		return plan, err
	}
	v, err := m.c.GetVolume(ctx, plan.VolumeID)
	if IsNotFound(err) {
		plan.NewReplica = nil
		plan.PublishedByMover = false
		return plan, record(ctx, j, plan)
	}
	if err != nil {
		return plan, fmt.Errorf("abort move of volume %s: %w", plan.VolumeID, err)
	}
	n := plan.Replicas
	if int(v.Spec.NumReplicas) > n {
		extra := ""
		if plan.NewReplica != nil {
			if _, ok := v.State.ReplicaTopology[plan.NewReplica.ID]; ok {
				extra = plan.NewReplica.ID
			}
		}
		if extra == "" {
			if r, ok := m.extraReplica(v, plan); ok {
				extra = r.ID
			}
		}
		// With no replica beyond the original n (the count was raised but no replica created),
		// lowering the count removes nothing: a decrease never leaves fewer healthy replicas
		// than the new count.
		noExtra := len(v.State.ReplicaTopology) <= n
		cands := removalCandidates(v)
		for _, c := range cands {
			if !noExtra && slices.ContainsFunc(plan.SourceReplicas, func(s ReplicaRef) bool { return s.ID == c }) {
				return plan, refuse(plan.VolumeID, ReasonAbortUnsafe,
					"lowering the count could remove source replica %s (removal candidates %v): the extra replica %s is already healthy; %d healthy replicas kept, finish with ScaleDown or lower the count by hand",
					c, cands, extra, n+1)
			}
		}
		if err := record(ctx, j, plan); err != nil {
			return plan, err
		}
		if _, err := m.c.SetReplicaCount(ctx, plan.VolumeID, n); err != nil {
			return plan, fmt.Errorf("abort move of volume %s: %w", plan.VolumeID, err)
		}
		if v, err = m.c.GetVolume(ctx, plan.VolumeID); err != nil {
			return plan, fmt.Errorf("abort move of volume %s: verify: %w", plan.VolumeID, err)
		}
	}
	// Never report a roll-back with the sources untouched unless they are: a source may have
	// gone in a decrease above, or in an earlier attempt whose answer was lost.
	for _, s := range plan.SourceReplicas {
		if _, ok := v.State.ReplicaTopology[s.ID]; !ok {
			return plan, refuse(plan.VolumeID, ReasonSourceReplicaGone,
				"source replica %s on pool %s is gone (%d replicas remain, as many as before the move): the move was neither finished nor undone",
				s.ID, s.Pool, len(v.State.ReplicaTopology))
		}
	}
	if len(v.State.ReplicaTopology) > n {
		// The count is back at n but a replica too many remains (self-heal
		// replaced the faulted new replica meanwhile): the control plane
		// removes the excess itself. Keep the plan as it is and run Abort
		// again later.
		var excess []string
		for _, id := range replicaIDs(v) {
			if !slices.Contains(plan.BaseReplicaIDs, id) {
				excess = append(excess, id)
			}
		}
		return plan, refuse(plan.VolumeID, ReasonExcessReplicaPending,
			"replica count is back at %d but %d replicas remain (extra %v); the control plane removes the excess, run Abort again",
			n, len(v.State.ReplicaTopology), excess)
	}
	plan.NewReplica = nil
	plan.BaseReplicaIDs = replicaIDs(v)
	return m.unpublishIfOurs(ctx, plan, j)
}

// removalCandidates are the replicas a decrease may remove, as far as the
// REST state shows the core agent's ranking: unhealthy first, then by child
// state (Faulted, Unknown, Degraded, Online), then remote before the
// nexus-local replica; ties are unpredictable, so all tied replicas are
// candidates.
func removalCandidates(v *Volume) []string {
	type key struct{ healthy, child, local int }
	childRank := map[ChildState]int{ChildStateFaulted: 0, ChildStateUnknown: 1, ChildStateDegraded: 2, ChildStateOnline: 3}
	nn := nexusNode(v)
	published := v.State.Target != nil
	rank := func(r ReplicaTopology) key {
		k := key{healthy: 1, child: 3}
		if r.State != ReplicaStateOnline || r.RebuildProgress != nil || published && r.ChildStatus != ChildStateOnline {
			k.healthy = 0
		}
		if published {
			c, ok := childRank[r.ChildStatus]
			if !ok {
				c = 1
			}
			k.child = c
		}
		if nn != "" && r.Node == nn {
			k.local = 1
		}
		return k
	}
	less := func(a, b key) bool {
		if a.healthy != b.healthy {
			return a.healthy < b.healthy
		}
		if a.child != b.child {
			return a.child < b.child
		}
		return a.local < b.local
	}
	var best *key
	var out []string
	for _, id := range replicaIDs(v) {
		k := rank(v.State.ReplicaTopology[id])
		switch {
		case best == nil || less(k, *best):
			best, out = &k, []string{id}
		case !less(*best, k):
			out = append(out, id)
		}
	}
	return out
}
