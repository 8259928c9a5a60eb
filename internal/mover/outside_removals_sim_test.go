package mover_test

import (
	"context"
	"slices"
	"testing"

	"github.com/billyronks/couchestor/internal/mover"
	"github.com/billyronks/couchestor/internal/sim"
)

// Removals made by other actors than the Mover — another volume deleted (each of
// its replicas a swap_remove), hot spare trimming a count — move the replica map's
// last entry like a decrease does, at any moment and without the gate. A move
// keeps a placeholder behind its round's new replica (KeepTail, at every rebuild
// poll) so that such a removal moves the placeholder instead. These tests show the
// moments that guard does not cover; each ends with the move refused before a
// decrease (SourceRemovalNotSteerable), a completed move is what the product
// promises.

// bystanderFirst: a 3-replica bystander volume whose replicas are the map's first
// entries (its count lowered by hand plays hot spare trimming, or the deletion of a
// volume), then the volumes of twoMovesTiers: the map starts B1 B2 B3 Ya Yb Xa Xb.
var bystanderFirst = sim.PureTiersScenario("bystander-first", 1, "1GiB", `
  - uuid: 0c4f3a52-7d1e-4b6a-9a0e-0000000000bb
    size: 1GiB
    replicas: [pool-sata-a, pool-sata-b, pool-sata-c]
    published: true
    nexus_node: app-1
    inclusion: {openebs.io/created-by: operator-diskpool}
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

const volBystander = "0c4f3a52-7d1e-4b6a-9a0e-0000000000bb"

// trimBystander lowers the bystander's count by one: the core agent removes its
// first replica in map order, at the front of the map.
func trimBystander(t *testing.T, h *simHarness) {
	t.Helper()
	v := h.volume(volBystander)
	if _, err := h.sim.SetReplicaCount(volBystander, int(v.Spec.NumReplicas)-1); err != nil {
		t.Fatal(err)
	}
}

// poll is one WaitingSync poll of the migration machine: KeepTail, then SyncRound.
func poll(ctx context.Context, t *testing.T, h *simHarness, m *mover.Mover, plan mover.Plan) mover.Plan {
	t.Helper()
	plan, err := m.KeepTail(ctx, plan, h.record)
	if err != nil {
		t.Fatalf("KeepTail: %v", err)
	}
	if _, err := m.SyncRound(ctx, plan); err != nil {
		t.Fatalf("SyncRound: %v", err)
	}
	return plan
}

// finish runs the move's remaining rounds (KeepTail at every poll) and fails the
// test unless every decrease removes a source and the move completes.
func finish(ctx context.Context, t *testing.T, h *simHarness, m *mover.Mover, plan mover.Plan) mover.Plan {
	t.Helper()
	for round := 0; round < 5; round++ {
		if plan.NewReplica == nil {
			var err error
			if plan, err = m.ScaleUp(ctx, plan, h.record); err != nil {
				t.Fatalf("ScaleUp: %v", err)
			}
		}
		h.waitSync(ctx, poll(ctx, t, h, m, plan))
		plan = poll(ctx, t, h, m, plan)
		var res mover.ScaleDownResult
		var err error
		if plan, res, err = m.ScaleDown(ctx, plan, h.record); err != nil || !res.SourceRemoved || res.Unpredicted {
			t.Fatalf("%s: decrease: %+v, %v (replica map %v)", plan.MigrationID, res, err, h.sim.ReplicaOrder())
		}
		if res.Complete {
			if plan, err = m.ReleaseAtEnd(ctx, plan); err != nil {
				t.Fatalf("release at the end: %v", err)
			}
			return plan
		}
	}
	t.Fatal("the move did not end in 5 rounds")
	return plan
}

func ahead(order []string, a, b string) bool {
	i, j := slices.Index(order, a), slices.Index(order, b)
	return i >= 0 && j >= 0 && i < j
}

// Another move's decrease removes a source while the map's last entry is this
// move's guard placeholder: were the placeholder to take that source's slot,
// this move's new replica would be the map's last entry, unguarded until this
// move's next rebuild poll, and one outside removal in between would pull it to
// the front. The other move appends its own placeholder first.
func TestMoverSimOutsideRemovalAfterAnotherMoveTookTheGuard(t *testing.T) {
	ctx := context.Background()
	h, mx, my, x, y := twoMovesScaledUp(t, bystanderFirst)
	var err error
	order := h.sim.ReplicaOrder()
	if len(x.Placeholders) != 1 || order[len(order)-1] != x.Placeholders[0].ID || order[len(order)-2] != x.NewReplica.ID {
		t.Fatalf("setup: X's new replica %s is not guarded by a placeholder at the map's end: %v", x.NewReplica.ID, order)
	}
	h.waitSync(ctx, y)
	h.waitSync(ctx, x)
	var res mover.ScaleDownResult
	if y, res, err = my.ScaleDown(ctx, y, h.record); err != nil || !res.SourceRemoved {
		t.Fatalf("Y's decrease: %+v, %v", res, err)
	}
	if order = h.sim.ReplicaOrder(); order[len(order)-1] == x.NewReplica.ID {
		t.Errorf("Y's decrease took X's guard placeholder: X's new replica %s is the map's last entry: %v", x.NewReplica.ID, order)
	}
	trimBystander(t, h) // before X's next poll
	if order = h.sim.ReplicaOrder(); ahead(order, x.NewReplica.ID, x.SourceReplicas[0].ID) {
		t.Errorf("an outside removal right after Y's decrease pulled X's new replica %s ahead of its sources: %v", x.NewReplica.ID, order)
	}
	finish(ctx, t, h, mx, x)
	h.checkInvariant()
}

// Between a round's decrease and the next round's increase the moved replica is
// the map's last entry (the decrease moved the placeholder behind it into the
// source's slot): unguarded, one outside removal would pull it ahead of the
// move's last source, so the decrease creates a placeholder behind it
// (ForecastStep.GuardAfter).
func TestMoverSimOutsideRemovalBetweenRounds(t *testing.T) {
	ctx := context.Background()
	h := newSimHarness(t, bystanderFirst, mover.MoverOptions{})
	h.watchVolume(volMoveX)
	x, err := h.mover.Analyze(ctx, "tm-x", volMoveX, hot, cold)
	if err != nil {
		t.Fatal(err)
	}
	if x, err = h.mover.ScaleUp(ctx, x, h.record); err != nil {
		t.Fatal(err)
	}
	h.waitSync(ctx, x)
	var res mover.ScaleDownResult
	if x, res, err = h.mover.ScaleDown(ctx, x, h.record); err != nil || !res.SourceRemoved || res.Complete {
		t.Fatalf("first round: %+v, %v", res, err)
	}
	moved := x.MovedReplicas[0].ID
	if order := h.sim.ReplicaOrder(); order[len(order)-2] != moved || !slices.ContainsFunc(x.Placeholders, func(r mover.ReplicaRef) bool { return r.ID == order[len(order)-1] }) {
		t.Errorf("the decrease left the moved replica %s without a placeholder behind it: %v", moved, order)
	}
	trimBystander(t, h) // before the next ScaleUp
	if order := h.sim.ReplicaOrder(); ahead(order, moved, x.SourceReplicas[0].ID) {
		t.Errorf("an outside removal between the rounds pulled the moved replica %s ahead of the last source: %v", moved, order)
	}
	finish(ctx, t, h, h.mover, x)
	h.checkInvariant()
}

// A deleted 2-replica volume is two removals at once: the first takes the guard
// placeholder, the second the new replica it guarded, before any poll.
func TestMoverSimTwoOutsideRemovalsWithinOnePoll(t *testing.T) {
	ctx := context.Background()
	h := newSimHarness(t, bystanderFirst, mover.MoverOptions{})
	h.watchVolume(volMoveX)
	x, err := h.mover.Analyze(ctx, "tm-x", volMoveX, hot, cold)
	if err != nil {
		t.Fatal(err)
	}
	if x, err = h.mover.ScaleUp(ctx, x, h.record); err != nil {
		t.Fatal(err)
	}
	if len(x.Placeholders) == 0 {
		t.Fatalf("setup: no guard placeholder behind the new replica: %+v", x.Placeholders)
	}
	trimBystander(t, h)
	trimBystander(t, h)
	if order := h.sim.ReplicaOrder(); ahead(order, x.NewReplica.ID, x.SourceReplicas[0].ID) {
		t.Errorf("two outside removals pulled the new replica %s ahead of the sources: %v", x.NewReplica.ID, order)
	}
	finish(ctx, t, h, h.mover, x)
	h.checkInvariant()
}
