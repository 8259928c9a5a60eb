package mayastor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

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
