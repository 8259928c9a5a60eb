package mover_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/billyronks/couchestor/internal/mover"
	"github.com/billyronks/couchestor/internal/sim"
)

// Removals made by other actors than the Mover — another volume deleted (each of
// its replicas a swap_remove), hot spare trimming a count — take one entry from
// behind every replica of the replica map, at any moment and without the gate, and
// move the map's last entry. A move keeps GuardDepth entries behind its last kept
// replica (KeepTail at every rebuild poll, right after each increase and decrease),
// so that up to that many such removals between two polls move placeholders
// instead. These tests make the removals at the moments that matter and require
// the move to complete; more removals than the depth are refused before the
// decrease.

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
	plan = finishRounds(ctx, t, h, m, plan)
	plan, err := m.ReleaseAtEnd(ctx, plan)
	if err != nil {
		t.Fatalf("release at the end: %v", err)
	}
	return plan
}

// finishRounds is finish without the release at the end.
func finishRounds(ctx context.Context, t *testing.T, h *simHarness, m *mover.Mover, plan mover.Plan) mover.Plan {
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

// With GuardDepth 1: another move's decrease removes a source while the map's last
// entry is this move's only guard placeholder: were the placeholder to take that source's slot,
// this move's new replica would be the map's last entry, unguarded until this
// move's next rebuild poll, and one outside removal in between would pull it to
// the front. The other move appends its own placeholder first.
func TestMoverSimOutsideRemovalAfterAnotherMoveTookTheGuard(t *testing.T) {
	ctx := context.Background()
	h, mx, my, x, y := twoMovesScaledUp(t, bystanderFirst, 1)
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
	x = finishRounds(ctx, t, h, mx, x)
	// X's placeholders are behind Y's moved replica: deleting them waits until Y keeps
	// that many more behind it (its next round's increase), then Y finishes too.
	if x2, err := mx.ReleaseAtEnd(ctx, x); err == nil || len(x2.Placeholders) == 0 {
		t.Errorf("X's release at the end did not wait for Y's moved replica (%v, left %v)", err, x2.Placeholders)
	} else {
		x = x2
	}
	if y, err = my.ScaleUp(ctx, y, h.record); err != nil {
		t.Fatal(err)
	}
	if x, err = mx.ReleaseAtEnd(ctx, x); err != nil || len(x.Placeholders) != 0 {
		t.Fatalf("X's release at the end after Y's increase: %v, left %v", err, x.Placeholders)
	}
	finish(ctx, t, h, my, y)
	if left := h.placeholdersInMap(); len(left) != 0 {
		t.Errorf("placeholders left: %v", left)
	}
	h.checkInvariant()
}

// Between a round's decrease and the next round's increase the moved replica is
// the move's last replica in the map, and the decrease took one of the entries
// behind it (it moved the map's last entry into the source's slot): unguarded, one
// outside removal would pull it ahead of the move's last source, so the decrease
// is followed by placeholders that bring the entries behind it back to GuardDepth
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
	if order := h.sim.ReplicaOrder(); len(order)-1-slices.Index(order, moved) < mover.DefaultGuardDepth {
		t.Errorf("the decrease left fewer than %d entries behind the moved replica %s: %v", mover.DefaultGuardDepth, moved, order)
	}
	trimBystander(t, h) // before the next ScaleUp
	if order := h.sim.ReplicaOrder(); ahead(order, moved, x.SourceReplicas[0].ID) {
		t.Errorf("an outside removal between the rounds pulled the moved replica %s ahead of the last source: %v", moved, order)
	}
	finish(ctx, t, h, h.mover, x)
	h.checkInvariant()
}

// A deleted 2-replica volume is two removals at once, before any poll: with one
// placeholder behind the new replica the first would take it and the second the
// new replica; GuardDepth (3) entries behind it take both.
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

// threeRemovalsAtTheFront removes three replicas ahead of move X's sources, within
// one rebuild poll: the bystander's count lowered twice and move Y's volume's once
// (each removes its first replica in map order, all ahead of X's).
func threeRemovalsAtTheFront(t *testing.T, h *simHarness) {
	t.Helper()
	trimBystander(t, h)
	trimBystander(t, h)
	if _, err := h.sim.SetReplicaCount(volMoveY, 1); err != nil {
		t.Fatal(err)
	}
}

// A deleted 3-replica volume within one poll: GuardDepth 3 covers it, the move completes.
func TestMoverSimThreeOutsideRemovalsWithinOnePoll(t *testing.T) {
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
	threeRemovalsAtTheFront(t, h)
	if order := h.sim.ReplicaOrder(); ahead(order, x.NewReplica.ID, x.SourceReplicas[0].ID) {
		t.Errorf("three outside removals pulled the new replica %s ahead of the sources: %v", x.NewReplica.ID, order)
	}
	finish(ctx, t, h, h.mover, x)
	h.checkInvariant()
}

// More removals within one poll than GuardDepth (here 2) is the bound: the third
// pulls the new replica ahead of the sources. The move then ends safely: ScaleDown
// refuses before any decrease (no source removed, no wasted rebuild, the volume
// never below its healthy replicas), and the end of the migration deletes every
// placeholder it created.
func TestMoverSimMoreOutsideRemovalsThanGuardDepthRefusedBeforeTheDecrease(t *testing.T) {
	ctx := context.Background()
	h := newSimHarness(t, bystanderFirst, mover.MoverOptions{GuardDepth: 2})
	h.watchVolume(volMoveX)
	x, err := h.mover.Analyze(ctx, "tm-x", volMoveX, hot, cold)
	if err != nil {
		t.Fatal(err)
	}
	if x, err = h.mover.ScaleUp(ctx, x, h.record); err != nil {
		t.Fatal(err)
	}
	if len(x.Placeholders) != 2 {
		t.Fatalf("setup: %d placeholders behind the new replica, want GuardDepth 2", len(x.Placeholders))
	}
	threeRemovalsAtTheFront(t, h)
	if order := h.sim.ReplicaOrder(); !ahead(order, x.NewReplica.ID, x.SourceReplicas[0].ID) {
		t.Fatalf("setup: three removals did not pull the new replica %s ahead of the sources: %v", x.NewReplica.ID, order)
	}
	h.waitSync(ctx, x)
	x, res, err := h.mover.ScaleDown(ctx, x, h.record)
	if !errors.Is(err, mover.ErrRemovalNotSteerable) {
		t.Fatalf("ScaleDown: %+v, %v; want %v before the decrease", res, err, mover.ErrRemovalNotSteerable)
	}
	v := h.volume(volMoveX)
	for _, s := range x.SourceReplicas {
		if _, ok := v.State.ReplicaTopology[s.ID]; !ok {
			t.Errorf("source %s was removed", s.ID)
		}
	}
	if v.Spec.NumReplicas != 3 {
		t.Errorf("num_replicas %d after the refusal, want 3 (no decrease)", v.Spec.NumReplicas)
	}
	if x, err = h.mover.ReleaseAtEnd(ctx, x); err != nil || len(x.Placeholders) != 0 {
		t.Fatalf("release at the end: %v, left %v", err, x.Placeholders)
	}
	if left := h.placeholdersInMap(); len(left) != 0 {
		t.Errorf("placeholders left: %v", left)
	}
	h.checkInvariant()
}
