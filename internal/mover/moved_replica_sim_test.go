package mover_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/billyronks/couchestor/internal/mover"
	"github.com/billyronks/couchestor/internal/sim"
)

// Two 2-replica volumes behind remote targets; the core agent's replica map
// starts Ya Yb Xa Xb (scenario order).
var twoMovesTiers = sim.PureTiersScenario("two-moves", 1, "1GiB", `
  - uuid: 0c4f3a52-7d1e-4b6a-9a0e-0000000000b1
    size: 10GiB
    replicas: [pool-sata-a, pool-sata-b]
    published: true
    nexus_node: app-1
    inclusion: {openebs.io/created-by: operator-diskpool}
  - uuid: 0c4f3a52-7d1e-4b6a-9a0e-0000000000b2
    size: 10GiB
    replicas: [pool-sata-b, pool-sata-c]
    published: true
    nexus_node: app-1
    inclusion: {openebs.io/created-by: operator-diskpool}
`)

const (
	volMoveY = "0c4f3a52-7d1e-4b6a-9a0e-0000000000b1"
	volMoveX = "0c4f3a52-7d1e-4b6a-9a0e-0000000000b2"
)

// A round's replica does not stop needing its place in the replica map at its
// decrease: the decrease's swap_remove moves the placeholder behind it into the
// source's slot, so the moved replica is the map's last entry until the next
// round appends behind it, and it must stay behind the move's remaining sources
// until the move ends. Here move X's first decrease leaves its moved replica last
// in the map; move Y, whose increase came before it, then decreases: its
// swap_remove must not move X's replica into Y's source's slot at the front of
// the map, ahead of X's last source (X's target is remote and it may not
// republish, so it could then never remove that source: refused, or a wasted
// rebuild). Both moves must complete with every decrease removing a source.
func TestMoverSimDecreaseKeepsAnotherMovesMovedReplicaBehindItsSources(t *testing.T) {
	ctx := context.Background()
	h, mx, my, x, y := twoMovesScaledUp(t, twoMovesTiers, 1)
	var err error
	h.waitSync(ctx, x)
	h.waitSync(ctx, y)
	var res mover.ScaleDownResult
	if x, res, err = mx.ScaleDown(ctx, x, h.record); err != nil || !res.SourceRemoved || res.Complete {
		t.Fatalf("X's first decrease: %+v, %v", res, err)
	}
	moved := x.MovedReplicas[0].ID
	order := h.sim.ReplicaOrder()
	// The moved replica is the map's last entry, or right ahead of the
	// placeholder X created behind it after the decrease (ForecastStep.GuardAfter).
	if last := order[len(order)-1]; last != moved && (order[len(order)-2] != moved || !slices.ContainsFunc(x.Placeholders, func(r mover.ReplicaRef) bool { return r.ID == last })) {
		t.Fatalf("setup: X's moved replica %s is not at the map's end: %v", moved, order)
	}
	if y, res, err = my.ScaleDown(ctx, y, h.record); err != nil || !res.SourceRemoved || res.Unpredicted {
		t.Fatalf("Y's first decrease: %+v, %v", res, err)
	}
	order = h.sim.ReplicaOrder()
	if i, j := slices.Index(order, moved), slices.Index(order, x.SourceReplicas[0].ID); i < j {
		t.Errorf("Y's decrease moved X's replica %s to slot %d, ahead of X's last source %s at slot %d", moved, i, x.SourceReplicas[0].ID, j)
	}
	// X's second round.
	if x, err = mx.ScaleUp(ctx, x, h.record); err != nil {
		t.Fatal(err)
	}
	h.waitSync(ctx, x)
	x, res, err = mx.ScaleDown(ctx, x, h.record)
	if err != nil || !res.SourceRemoved || res.Unpredicted || !res.Complete {
		t.Fatalf("X's last round: %+v, %v", res, err)
	}
	// Y's second round.
	if y, err = my.ScaleUp(ctx, y, h.record); err != nil {
		t.Fatal(err)
	}
	h.waitSync(ctx, y)
	if y, res, err = my.ScaleDown(ctx, y, h.record); err != nil || !res.SourceRemoved || res.Unpredicted || !res.Complete {
		t.Fatalf("Y's last round: %+v, %v", res, err)
	}
	for _, p := range []struct {
		m    *mover.Mover
		plan mover.Plan
	}{{mx, x}, {my, y}} {
		if p.plan, err = p.m.ReleaseAtEnd(ctx, p.plan); err != nil || len(p.plan.Placeholders) != 0 {
			t.Fatalf("release at the end of %s: %v, left %v", p.plan.MigrationID, err, p.plan.Placeholders)
		}
	}
	if left := h.placeholdersInMap(); len(left) != 0 {
		t.Errorf("placeholders left: %v", left)
	}
	h.checkInvariant()
}

// A move holds every replica it added in place in the replica map (the gate's
// HoldsFresh) from its increase until its last source is removed, and lets go of
// them whenever it ends: completed, preserved, aborted, or released at the end
// whatever it holds. A replica held for a move that ended would make every other
// move's decrease add a placeholder while it is the map's last entry, and every
// placeholder delete wait for as long as it is.
func TestMoverSimMovedReplicasHeldUntilTheMoveEnds(t *testing.T) {
	ctx := context.Background()
	start := func(t *testing.T) (*simHarness, *mover.Mover, *mover.CordonGate, mover.Plan) {
		h := newSimHarness(t, twoMovesTiers, mover.MoverOptions{})
		gate := mover.NewCordonGate()
		m := mover.NewMover(h.c, mover.MoverOptions{CordonGate: gate})
		plan, err := m.Analyze(ctx, "tm-held", volMoveX, hot, cold)
		if err != nil {
			t.Fatal(err)
		}
		if plan, err = m.ScaleUp(ctx, plan, h.record); err != nil {
			t.Fatal(err)
		}
		if !gate.HoldsFresh(plan.NewReplica.ID) {
			t.Fatalf("the new replica %s is not held in place after the increase", plan.NewReplica.ID)
		}
		return h, m, gate, plan
	}
	t.Run("completed", func(t *testing.T) {
		h, m, gate, plan := start(t)
		h.waitSync(ctx, plan)
		plan, res, err := m.ScaleDown(ctx, plan, h.record)
		if err != nil || !res.SourceRemoved || res.Complete {
			t.Fatalf("first round: %+v, %v", res, err)
		}
		moved := plan.MovedReplicas[0].ID
		if !gate.HoldsFresh(moved) {
			t.Errorf("the moved replica %s is no longer held in place after the first of two rounds", moved)
		}
		if plan, err = m.ScaleUp(ctx, plan, h.record); err != nil {
			t.Fatal(err)
		}
		h.waitSync(ctx, plan)
		if plan, res, err = m.ScaleDown(ctx, plan, h.record); err != nil || !res.Complete {
			t.Fatalf("last round: %+v, %v", res, err)
		}
		for _, r := range plan.MovedReplicas {
			if gate.HoldsFresh(r.ID) {
				t.Errorf("replica %s is still held in place after the move completed", r.ID)
			}
		}
	})
	t.Run("preserved", func(t *testing.T) {
		h, m, gate, plan := start(t)
		h.waitSync(ctx, plan)
		kept := plan.NewReplica.ID
		if _, err := m.Preserve(ctx, plan, h.record); err != nil {
			t.Fatal(err)
		}
		if gate.HoldsFresh(kept) {
			t.Errorf("replica %s is still held in place after the move was preserved", kept)
		}
	})
	t.Run("aborted keeping the rebuilt replica", func(t *testing.T) {
		h, m, gate, plan := start(t)
		h.waitSync(ctx, plan)
		kept := plan.NewReplica.ID
		if _, err := m.Abort(ctx, plan, h.record); !errors.Is(err, mover.ErrAbortUnsafe) {
			t.Fatalf("want ErrAbortUnsafe, got %v", err)
		}
		if gate.HoldsFresh(kept) {
			t.Errorf("replica %s is still held in place after the move was aborted", kept)
		}
	})
	t.Run("released at the end", func(t *testing.T) {
		_, m, gate, plan := start(t)
		plan.Placeholders = nil // an end that holds no placeholder
		id := plan.NewReplica.ID
		if _, err := m.ReleaseAtEnd(ctx, plan); err != nil {
			t.Fatal(err)
		}
		if gate.HoldsFresh(id) {
			t.Errorf("replica %s is still held in place after the move released what it held", id)
		}
	})
}

// twoMovesScaledUp starts moves X (volMoveX, watched) and Y (volMoveY) on scenario, two Movers
// sharing one gate, and scales up Y then X: X's new replica is appended after Y's.
//
// guardDepth is the Movers' GuardDepth: 1 leaves a single placeholder behind each
// new replica, so that the rules about the map's very last entries (another move's
// fresh replica at the tail, or its one guard placeholder) are what keeps it there.
func twoMovesScaledUp(t *testing.T, scenario string, guardDepth int) (h *simHarness, mx, my *mover.Mover, x, y mover.Plan) {
	t.Helper()
	ctx := context.Background()
	h = newSimHarness(t, scenario, mover.MoverOptions{})
	h.checkJournalOrder = false // two moves journal into one harness
	gate := mover.NewCordonGate()
	mx = mover.NewMover(h.c, mover.MoverOptions{CordonGate: gate, GuardDepth: guardDepth})
	my = mover.NewMover(h.c, mover.MoverOptions{CordonGate: gate, GuardDepth: guardDepth})
	var err error
	if x, err = mx.Analyze(ctx, "tm-x", volMoveX, hot, cold); err != nil {
		t.Fatal(err)
	}
	if y, err = my.Analyze(ctx, "tm-y", volMoveY, hot, cold); err != nil {
		t.Fatal(err)
	}
	h.watchVolume(volMoveX)
	if y, err = my.ScaleUp(ctx, y, h.record); err != nil {
		t.Fatal(err)
	}
	if x, err = mx.ScaleUp(ctx, x, h.record); err != nil {
		t.Fatal(err)
	}
	return h, mx, my, x, y
}
