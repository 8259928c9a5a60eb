package mover_test

import (
	"context"
	"fmt"
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
			if plan, err = m.ReleaseCordonsAtEnd(ctx, plan); err != nil {
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
// move's guard placeholder: the placeholder takes that source's slot and this
// move's new replica is the map's last entry, unguarded until this move's next
// rebuild poll. One outside removal in between pulls it to the front.
func TestMoverSimOutsideRemovalAfterAnotherMoveTookTheGuard(t *testing.T) {
	ctx := context.Background()
	h := newSimHarness(t, bystanderFirst, mover.MoverOptions{})
	h.checkJournalOrder = false // two moves journal into one harness
	gate := mover.NewCordonGate()
	mx := mover.NewMover(h.c, mover.MoverOptions{CordonGate: gate})
	my := mover.NewMover(h.c, mover.MoverOptions{CordonGate: gate})
	x, err := mx.Analyze(ctx, "tm-x", volMoveX, hot, cold)
	if err != nil {
		t.Fatal(err)
	}
	y, err := my.Analyze(ctx, "tm-y", volMoveY, hot, cold)
	if err != nil {
		t.Fatal(err)
	}
	h.watchVolume(volMoveX)
	if y, err = my.ScaleUp(ctx, y, h.record); err != nil {
		t.Fatal(err)
	}
	if x, err = mx.ScaleUp(ctx, x, h.record); err != nil {
		t.Fatal(err)
	}
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
	if order = h.sim.ReplicaOrder(); order[len(order)-1] != x.NewReplica.ID {
		t.Fatalf("setup: Y's decrease did not take X's guard: %v", order)
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
// source's slot) and nothing guards it: one outside removal then pulls it ahead of
// the move's last source.
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
	if order := h.sim.ReplicaOrder(); order[len(order)-1] != moved {
		t.Fatalf("setup: the moved replica %s is not the map's last entry: %v", moved, order)
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
	if len(x.Placeholders) != 1 {
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

// TestMoverSimConcurrentMovesWithOutsideRemovals is the concurrency test as the
// product states it: the twelve moves of TestMoverSimConcurrentMovesNeverStopEachOther
// while, at random moments between steps, bystander volumes are trimmed, unowned
// replicas deleted (one at a time, or two or three in a row as a deleted volume's
// replicas are) and created.
func TestMoverSimConcurrentMovesWithOutsideRemovals(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprintf("seed-%d", seed), func(t *testing.T) {
			runConcurrent(t, concRun{seed: seed, outsideRate: 0.1, burst: 3})
		})
	}
}
