package mover

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/tiering"
	"k8s.io/apimachinery/pkg/labels"
)

// ---- helpers over live state ----

func (m *Mover) poolLabels(p mayastor.Pool) labels.Set { return m.opts.PoolLabels(p) }

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

func (m *Mover) onTarget(t tiers, pool *mayastor.Pool) bool {
	return pool != nil && !t.target.Empty() && t.target.Matches(m.poolLabels(*pool))
}

func (m *Mover) onSource(t tiers, pool *mayastor.Pool) bool {
	if pool == nil || m.onTarget(t, pool) {
		return false
	}
	return t.sourceAny || t.source.Matches(m.poolLabels(*pool))
}

func poolNode(p *mayastor.Pool) string {
	if p.State != nil && p.State.Node != "" {
		return p.State.Node
	}
	if p.Spec != nil {
		return p.Spec.Node
	}
	return ""
}

func replicaIDs(v *mayastor.Volume) []string {
	ids := slices.Collect(maps.Keys(v.State.ReplicaTopology))
	slices.Sort(ids)
	return ids
}

func refOf(id string, r mayastor.ReplicaTopology) ReplicaRef {
	return ReplicaRef{ID: id, Node: r.Node, Pool: r.Pool}
}

func nexusNode(v *mayastor.Volume) string {
	if v.State.Target == nil {
		return ""
	}
	return v.State.Target.Node
}

// healthProblem returns why v is not a settled, healthy volume, or "".
// wantReplicas is the replica count the volume must show.
func healthProblem(v *mayastor.Volume, wantReplicas int) (Reason, string) {
	if v.State.Status != mayastor.VolumeStatusOnline {
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
		if r.State != mayastor.ReplicaStateOnline {
			return ReasonVolumeNotHealthy, fmt.Sprintf("replica %s is %s", id, r.State)
		}
		if v.State.Target != nil && r.ChildStatus != mayastor.ChildStateOnline {
			return ReasonVolumeNotHealthy, fmt.Sprintf("replica %s child status %q, want Online", id, r.ChildStatus)
		}
	}
	if t := v.State.Target; t != nil {
		for _, ch := range t.Children {
			if ch.RebuildProgress != nil {
				return ReasonRebuildInProgress, fmt.Sprintf("child %s rebuilding (%d%%)", ch.URI, *ch.RebuildProgress)
			}
			if ch.State != mayastor.ChildStateOnline {
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
func inclusionOf(v *mayastor.Volume) map[string]string {
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
func nodeAllowed(v *mayastor.Volume, n *mayastor.Node) bool {
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

func nodeUsable(n *mayastor.Node) bool {
	return n != nil && n.State != nil && n.State.Status == mayastor.NodeStatusOnline && !n.Cordoned()
}

// hasRoom: free space above the volume size, and capacity headroom kept (tiering.HasRoom).
func (m *Mover) hasRoom(p *mayastor.Pool, size uint64) bool {
	return p.State != nil && tiering.HasRoom(p.State.Capacity, p.State.Used, size, m.opts.HeadroomPercent)
}

func replicaNodes(v *mayastor.Volume) map[string]bool {
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
func (m *Mover) chooseTargetPools(v *mayastor.Volume, cl *cluster, t tiers) ([]*mayastor.Pool, error) {
	id := v.Spec.UUID
	var inTier []*mayastor.Pool
	for _, pid := range cl.order {
		if p := cl.pools[pid]; m.onTarget(t, p) {
			inTier = append(inTier, p)
		}
	}
	if len(inTier) == 0 {
		return nil, refuse(id, ReasonNoTargetPool, "no pool matches the target selector %q", t.target.String())
	}
	inclusion := inclusionOf(v)
	var labelled, lacking []*mayastor.Pool
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
	var freeNode []*mayastor.Pool
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
	var usable []*mayastor.Pool
	var why []string
	for _, p := range freeNode {
		n := cl.nodes[poolNode(p)]
		switch {
		case p.State == nil || p.State.Status != mayastor.PoolStatusOnline:
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
	var roomy []*mayastor.Pool
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
	slices.SortStableFunc(roomy, func(a, b *mayastor.Pool) int {
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

func poolNames(ps []*mayastor.Pool) string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.ID
	}
	return strings.Join(names, ", ")
}
