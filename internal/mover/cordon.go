package mover

import (
	"context"
	"errors"
	"fmt"
	"github.com/billyronks/couchestor/internal/mayastor"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// ---- the cordon gate ----

// CordonGate serialises the cordon windows of every Mover that shares it: a
// cordon put for one move steers every other move's increase too (a node
// cordoned is excluded from all placements, core/controller/scheduling/
// volume_policy/node.rs:33-41), so two windows that overlap can defeat each
// other. ScaleUp holds the gate
// from before it reads the cluster for its cordon plan until the release of
// its cordons has been observed. One gate per process: share it through
// MoverOptions.CordonGate, or leave that nil to use the process-wide
// default.
type CordonGate struct {
	ch chan struct{}
	// fresh are the replicas moves in flight keep in place in the replica map.
	fresh freshReplicas
}

// NewCordonGate returns an open gate.
func NewCordonGate() *CordonGate { return &CordonGate{ch: make(chan struct{}, 1)} }

// processCordonGate is the gate of Movers built without one.
var processCordonGate = NewCordonGate()

// Lock takes the gate, or returns ctx's error if ctx ends first.
func (g *CordonGate) Lock(ctx context.Context) error {
	select {
	case g.ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Unlock gives the gate back.
func (g *CordonGate) Unlock() { <-g.ch }

// ---- which nodes to cordon ----

// maxPlacementPlaceholders bounds the placeholders one increase adds to pools
// competing with a target pool on its node.
const maxPlacementPlaceholders = 8

// placementPlaceholders returns the pools to add placeholder replicas to, one
// entry per placeholder, fewest first, so that the model's scheduler surely
// picks a wanted pool: each round adds one to the best-ranked pool that is not
// wanted. ok is false when limit placeholders do not suffice (or a competitor
// is on a node that cannot take one).
func placementPlaceholders(in PlacementInput, want func(*mayastor.Pool) bool, limit int) (pools []string, ok bool) {
	in.PoolReplicas = maps.Clone(in.PoolReplicas)
	if in.PoolReplicas == nil {
		in.PoolReplicas = map[string]int{}
	}
	for range limit + 1 {
		if PlacementSettled(in, want) {
			return pools, true
		}
		var top *mayastor.Pool
		for _, p := range PlacementCandidates(in) {
			if !want(p) {
				top = p
				break
			}
		}
		if top == nil || top.State == nil || top.State.Status != mayastor.PoolStatusOnline ||
			top.State.Capacity <= top.State.Used || top.State.Capacity-top.State.Used <= PlaceholderSize {
			return nil, false
		}
		in.PoolReplicas[top.ID]++
		pools = append(pools, top.ID)
	}
	return nil, false
}

// cordonPlan chooses the fewest nodes to cordon so that the core agent's
// scheduler, as modelled in placement.go, is predicted to create the new
// replica on one of targets (a cordoned node takes no new replica,
// volume_policy/node.rs:33-41; a cordon blocks every volume's placement on
// that node, so the fewer the better). It returns nil
// when a target pool already wins. predicted is false when no set of
// cordons makes a target the sure pick (a target pool shares its node with a
// pool the scheduler prefers): then every node with a candidate pool except
// one target node is cordoned, a different target node each attempt, and the
// pool score decides on that node; verification catches a miss.
func cordonPlan(in PlacementInput, targets []*mayastor.Pool, attempt int) (nodes, placeholders []string, predicted bool) {
	wanted := map[string]bool{}
	for _, p := range targets {
		wanted[p.ID] = true
	}
	want := func(p *mayastor.Pool) bool { return wanted[p.ID] }
	if PlacementSettled(in, want) {
		return nil, nil, true
	}
	cands := placementEligible(in)
	var keepers []*mayastor.Pool
	for _, p := range cands {
		if want(p) {
			keepers = append(keepers, p)
		}
	}
	if len(keepers) == 0 {
		return nil, nil, false // nothing to steer towards: the increase is left to the scheduler
	}
	// Try each target pool as the one left to win; keep the smallest plan.
	// Equal plans: the attempt number rotates the choice, so that a retry
	// after a miss (the model was wrong) tries another pool.
	var best []string
	found := false
	for i := range keepers {
		keeper := keepers[(i+attempt)%len(keepers)]
		plan, ok := cordonsKeeping(in, keeper, want)
		if ok && (!found || len(plan) < len(best)) {
			best, found = plan, true
		}
	}
	if found {
		return best, nil, true
	}
	// A target pool shares its node with a pool the scheduler prefers: cordon
	// every other candidate node, and on the node left open add placeholder
	// replicas to the competing pools until the target wins (each counts as a
	// replica on its pool in the score). The fewest placeholders over the
	// target nodes; the attempt number rotates the choice among equals.
	var bestPH []string
	bestNodes, foundPH := []string(nil), false
	for i := range keepers {
		keep := poolNode(keepers[(i+attempt)%len(keepers)])
		set := map[string]bool{}
		for _, p := range cands {
			if node := poolNode(p); node != keep {
				set[node] = true
			}
		}
		what := in
		what.Cordoned = maps.Clone(set)
		for node := range in.Cordoned {
			what.Cordoned[node] = true
		}
		ph, ok := placementPlaceholders(what, want, maxPlacementPlaceholders)
		if ok && (!foundPH || len(ph) < len(bestPH)) {
			bestPH, bestNodes, foundPH = ph, sortedKeys(set), true
		}
	}
	if foundPH {
		return bestNodes, bestPH, true
	}
	keep := poolNode(keepers[attempt%len(keepers)])
	set := map[string]bool{}
	for _, p := range cands {
		if node := poolNode(p); node != keep {
			set[node] = true
		}
	}
	return sortedKeys(set), nil, false
}

// cordonsKeeping finds nodes whose cordon makes every remaining wanted pool
// strictly preferred to every remaining other candidate, never cordoning
// keeper's own node. ok is false when that cannot be done.
func cordonsKeeping(in PlacementInput, keeper *mayastor.Pool, want func(*mayastor.Pool) bool) ([]string, bool) {
	keepNode := poolNode(keeper)
	cordoned := map[string]bool{}
	for node := range in.Cordoned {
		cordoned[node] = true
	}
	var added []string
	thin := in.Volume.Spec.Thin
	for range len(in.Pools) + 1 {
		what := in
		what.Cordoned = cordoned
		if PlacementSettled(what, want) {
			slices.Sort(added)
			return added, true
		}
		var wanted, others []*mayastor.Pool
		for _, p := range placementEligible(what) {
			if want(p) {
				wanted = append(wanted, p)
			} else {
				others = append(others, p)
			}
		}
		// First the competitors the keeper itself does not beat, then any
		// other wanted pool that does not beat a competitor.
		victim := ""
		for _, o := range others {
			if comparePoolsForPlacement(thin, keeper, o, in.PoolReplicas) >= 0 {
				if poolNode(o) == keepNode {
					return nil, false
				}
				victim = poolNode(o)
				break
			}
		}
		for _, w := range wanted {
			if victim != "" {
				break
			}
			for _, o := range others {
				if comparePoolsForPlacement(thin, w, o, in.PoolReplicas) < 0 {
					continue
				}
				switch {
				case poolNode(o) != keepNode:
					victim = poolNode(o)
				case poolNode(w) != keepNode:
					victim = poolNode(w)
				default:
					return nil, false
				}
				break
			}
		}
		if victim == "" {
			return nil, false
		}
		cordoned[victim] = true
		added = append(added, victim)
	}
	return nil, false
}

func sortedKeys(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k, ok := range set {
		if ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// CordonLabelFor derives the cordon label of a migration: unique per move,
// recognisable as CoucheStor's, safe as a URL path segment.
func CordonLabelFor(migrationID string) string {
	var b strings.Builder
	b.WriteString(CordonLabelPrefix)
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

// CordonLabelPrefix starts every cordon label CoucheStor puts on a node.
const CordonLabelPrefix = "couchestor-migration-"

// ---- cordons ----

// ReleaseCordons lifts every cordon recorded in plan that is on its node, even
// when ctx is already cancelled (a cordon must not outlive the step), and
// returns the plan without the cordons whose removal it observed.
//
// A cordon leaves the plan only when a GET of its node shows the label absent
// and the call that put it is known to be over: it answered, or its label was
// seen on the node. The control plane runs a replica-count change in a
// spawned task that outlives the client's timeout (core/volume/service.rs:152-163);
// whether a cordon (core/node/service.rs:375-382, not spawned) can land after
// the client gave up was not read upstream, and is assumed, so a cordon whose
// call timed out, failed with a 5xx or was cut by a restart "may land late":
// it stays recorded, without an error, and every later call re-checks it.
// ReleaseAtEnd is the last check, when the migration ends.
func (m *Mover) ReleaseCordons(ctx context.Context, plan Plan) (Plan, error) {
	return m.settleCordons(ctx, plan, false)
}

// ReleaseAtEnd releases what an ending migration still holds. Its cordons as
// ReleaseCordons does, except that a cordon that may still land but is absent
// now is dropped from the plan too,
// because from then on the cordon sweeper (internal/controller) removes any
// cordon of a finished migration. Cordons seen on their node are lifted as
// always and stay recorded until their removal is observed.
//
// It also deletes the migration's placeholder replicas (placeholder.go),
// holding the gate: a placeholder's removal moves the replica map's last
// entry, like a decrease. A placeholder whose delete fails stays recorded.
func (m *Mover) ReleaseAtEnd(ctx context.Context, plan Plan) (Plan, error) {
	plan, err := m.settleCordons(ctx, plan, true)
	m.opts.CordonGate.fresh.release(plan.MigrationID)
	if len(plan.Placeholders) == 0 {
		return plan, err
	}
	ctx = context.WithoutCancel(ctx)
	if lerr := m.opts.CordonGate.Lock(ctx); lerr != nil {
		return plan, errors.Join(err, lerr)
	}
	defer m.opts.CordonGate.Unlock()
	plan, perr := m.deletePlaceholders(ctx, plan)
	return plan, errors.Join(err, perr)
}

func (m *Mover) settleCordons(ctx context.Context, plan Plan, end bool) (Plan, error) {
	plan = *plan.DeepCopy()
	ctx = context.WithoutCancel(ctx)
	type outcome struct {
		keep bool
		c    Cordon
		err  error
	}
	outs := make([]outcome, len(plan.Cordons))
	var wg sync.WaitGroup
	for i, c := range plan.Cordons {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keep, c, err := m.settleCordon(ctx, c, end)
			outs[i] = outcome{keep, c, err}
		}()
	}
	wg.Wait()
	var errs []error
	var left []Cordon
	for _, o := range outs {
		if o.keep {
			left = append(left, o.c)
		}
		if o.err != nil {
			errs = append(errs, o.err)
		}
	}
	plan.Cordons = left
	return plan, errors.Join(errs...)
}

// settleCordon checks one recorded cordon, lifts it if it is on the node, and
// says whether it must stay recorded.
func (m *Mover) settleCordon(ctx context.Context, c Cordon, end bool) (keep bool, _ Cordon, _ error) {
	n, err := m.c.GetNode(ctx, c.Node)
	if mayastor.IsNotFound(err) {
		return false, c, nil // the node is gone, and its cordons with it
	}
	if err != nil {
		return true, c, fmt.Errorf("release cordon %s on node %s: %w", c.Label, c.Node, err)
	}
	if slices.Contains(n.CordonLabels(), c.Label) {
		// The label is there: whatever call put it is over.
		c.Answered = true
		if _, err := m.c.UncordonNode(ctx, c.Node, c.Label); err != nil && !mayastor.IsNotFound(err) {
			return true, c, fmt.Errorf("release cordon %s on node %s: %w", c.Label, c.Node, err)
		}
		// Observe the removal: the uncordon itself may take effect late.
		if n, err = m.c.GetNode(ctx, c.Node); mayastor.IsNotFound(err) {
			return false, c, nil
		} else if err != nil {
			return true, c, fmt.Errorf("release cordon %s on node %s: check the removal: %w", c.Label, c.Node, err)
		}
		if slices.Contains(n.CordonLabels(), c.Label) {
			return true, c, fmt.Errorf("release cordon %s on node %s: the label is still on the node after the uncordon", c.Label, c.Node)
		}
		return false, c, nil
	}
	if c.Answered || end {
		return false, c, nil
	}
	return true, c, nil // absent, but the call that puts it may still land
}

// callAnswered reports whether a call that returned err is over for good: it
// succeeded or the control plane answered it with a 4xx. A 5xx (a gateway
// timeout above all), a timeout or a cut connection leaves the operation
// possibly running in the control plane (core/volume/service.rs:152-163 for
// replica-count changes; for the other calls, not read upstream).
func callAnswered(err error) bool {
	if err == nil {
		return true
	}
	ae, ok := mayastor.AsAPIError(err)
	return ok && ae.StatusCode < http.StatusInternalServerError
}

// releaseRecorded releases recorded cordons and records the result when it
// changed.
func (m *Mover) releaseRecorded(ctx context.Context, plan Plan, j Journal) (Plan, error) {
	if len(plan.Cordons) == 0 {
		return plan, nil
	}
	before := slices.Clone(plan.Cordons)
	plan, err := m.ReleaseCordons(ctx, plan)
	if !slices.Equal(before, plan.Cordons) {
		if rerr := record(context.WithoutCancel(ctx), j, plan); err == nil {
			err = rerr
		}
	}
	return plan, err
}

// increaseCordoned cordons the nodes in apply (recorded in plan.Cordons
// beforehand), all at once, raises the count to n+1 if every cordon call
// succeeded, and releases the recorded cordons whatever happened. Each cordon
// call's outcome is kept in the plan: an answered cordon leaves the plan once
// its removal is seen, one that may land late stays recorded.
func (m *Mover) increaseCordoned(ctx context.Context, plan Plan, apply []string, n int, j Journal) (Plan, error) {
	errs := make([]error, len(plan.Cordons))
	var wg sync.WaitGroup
	for i := range plan.Cordons {
		c := &plan.Cordons[i]
		if !slices.Contains(apply, c.Node) {
			continue // a cordon of an earlier attempt that may still land
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := m.c.CordonNode(ctx, c.Node, c.Label)
			c.Answered = callAnswered(err)
			errs[i] = err
		}()
	}
	wg.Wait()
	var cordonErr error
	if err := errors.Join(errs...); err != nil {
		cordonErr = fmt.Errorf("scale up volume %s: %w", plan.VolumeID, err)
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

// withCordons adds a cordon with label on every node in apply to recorded,
// which still holds the cordons of earlier attempts that may land late; a
// node already listed gets a fresh, unanswered call.
func withCordons(recorded []Cordon, apply []string, label string) []Cordon {
	out := slices.Clone(recorded)
	for _, node := range apply {
		i := slices.IndexFunc(out, func(c Cordon) bool { return c.Node == node && c.Label == label })
		if i >= 0 {
			out[i].Answered = false
			continue
		}
		out = append(out, Cordon{Node: node, Label: label})
	}
	return out
}

// placementInput gathers what the placement model needs for an increase of v. count reads
// the replicas on each pool as io-engine reports them (GET /v0/replicas: the replica count the
// scheduler's score weighs): CountReplicasByPool for a step that acts, SharedReplicaCounts for
// a prediction (a count another prediction is reading serves).
func (m *Mover) placementInput(ctx context.Context, v *mayastor.Volume, cl *cluster, count func(context.Context) (map[string]int, error)) (PlacementInput, error) {
	in := PlacementInput{Volume: v}
	for _, id := range cl.order {
		in.Pools = append(in.Pools, *cl.pools[id])
	}
	nodeIDs := make([]string, 0, len(cl.nodes))
	for id := range cl.nodes {
		nodeIDs = append(nodeIDs, id)
	}
	slices.Sort(nodeIDs)
	for _, id := range nodeIDs {
		in.Nodes = append(in.Nodes, *cl.nodes[id])
	}
	counts, err := count(ctx)
	if err != nil {
		return in, fmt.Errorf("count replicas per pool: %w", err)
	}
	in.PoolReplicas = counts
	return in, nil
}
