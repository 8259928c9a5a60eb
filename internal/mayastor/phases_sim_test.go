package mayastor_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// Rules of task MACHINE (issue 7 items 3 and 4) checked against the simulator.

// An outside actor changes the replica count during WaitingSync (review S2c, reproduction E3:
// there the count was set on the simulator directly; the same here). SyncRound must not say
// Done (it used to, and ScaleDown then refused NotSynced on every poll, for ever): it refuses
// with ReplicaCountChangedOutside naming the count seen and the one expected, and so does
// ScaleDown. The count rule is CoucheStor's own (no upstream rule); the 412 ReplicaChangeCount
// that makes "set it back" impossible in one call is upstream core/volume/specs.rs:970-985,
// 1060-1094 (per the review; upstream code not read here).
func TestPhasesSimOutsideCountChangeEndsTheMove(t *testing.T) {
	ctx := context.Background()
	h := newSimHarness(t, pureTiers, mayastor.MoverOptions{AllowRepublish: true})
	plan, err := h.mover.Analyze(ctx, "tm-count", volThree, hot, cold)
	if err != nil {
		t.Fatal(err)
	}
	if plan, err = h.mover.ScaleUp(ctx, plan, h.record); err != nil {
		t.Fatal(err)
	}
	// Control: the move's own count (n+1) is not refused, and the rebuild gets done.
	h.waitSyncRound(ctx, plan)

	// Another actor raises the count to n+2 while the migration is in WaitingSync.
	if _, err := h.sim.SetReplicaCount(volThree, plan.Replicas+2); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ { // whatever the new replica's rebuild does meanwhile
		st, err := h.mover.SyncRound(ctx, plan)
		if !errors.Is(err, mayastor.ErrReplicaCountChanged) {
			t.Fatalf("SyncRound with num_replicas %d: want ErrReplicaCountChanged, got %+v, %v", plan.Replicas+2, st, err)
		}
		if !strings.Contains(err.Error(), "num_replicas is 5, this move expects 4") {
			t.Fatalf("the refusal must name the count seen and the one expected: %v", err)
		}
		h.clk.Step(2 * time.Second)
	}
	_, _, err = h.mover.ScaleDown(ctx, plan, h.record)
	if !errors.Is(err, mayastor.ErrReplicaCountChanged) || !strings.Contains(err.Error(), "expects 3 or 4") {
		t.Fatalf("ScaleDown with num_replicas 5: want ErrReplicaCountChanged naming 3 or 4, got %v", err)
	}
	if v := h.volume(volThree); v.Spec.NumReplicas != 5 {
		t.Fatalf("the move changed the count after the outside change: %d", v.Spec.NumReplicas)
	}
}

// The nexus node goes down during WaitingSync (issue 7, first bug; review F16). The simulator,
// like upstream per the review, keeps spec.target while no nexus serves (state.target absent).
// SyncRound must report a wait ("target unavailable"), not "volume is unpublished", and the
// rebuild completes once the node is back.
func TestPhasesSimNexusNodeDownIsAnOutageToWaitOut(t *testing.T) {
	ctx := context.Background()
	h := newSimHarness(t, pureTiers, mayastor.MoverOptions{AllowRepublish: true})
	h.watchVolume(volThree)
	plan, err := h.mover.Analyze(ctx, "tm-outage", volThree, hot, cold)
	if err != nil {
		t.Fatal(err)
	}
	if plan, err = h.mover.ScaleUp(ctx, plan, h.record); err != nil {
		t.Fatal(err)
	}
	h.clk.Step(2 * time.Second) // the rebuild is under way
	nexus := h.volume(volThree).State.Target.Node
	if err := h.sim.SetNodeOnline(nexus, false); err != nil {
		t.Fatal(err)
	}
	v := h.volume(volThree)
	if v.State.Target != nil || v.Spec.Target == nil {
		t.Fatalf("precondition: want spec.target set and no serving target, got spec %+v state %+v", v.Spec.Target, v.State.Target)
	}
	for i := 0; i < 30; i++ {
		st, err := h.mover.SyncRound(ctx, plan)
		if err != nil {
			t.Fatal(err)
		}
		if st.Failed != "" || st.Done {
			t.Fatalf("nexus node %s down: want a wait, got %+v", nexus, st)
		}
		if !strings.Contains(st.Waiting, "target unavailable") || !strings.Contains(st.Waiting, nexus) {
			t.Fatalf("the wait must say the target on %s is unavailable: %q", nexus, st.Waiting)
		}
		h.clk.Step(10 * time.Second)
	}
	if err := h.sim.SetNodeOnline(nexus, true); err != nil {
		t.Fatal(err)
	}
	h.waitSyncRound(ctx, plan)
	if _, _, err := h.mover.ScaleDown(ctx, plan, h.record); err != nil {
		t.Fatalf("scale down after the outage: %v", err)
	}
}

// A volume really unpublished (no spec.target) during the move still fails the round: nothing
// would rebuild the new replica (placement.md §4).
func TestPhasesSimUnpublishedDuringSyncFails(t *testing.T) {
	ctx := context.Background()
	h := newSimHarness(t, pureTiers, mayastor.MoverOptions{AllowRepublish: true})
	plan, err := h.mover.Analyze(ctx, "tm-unpub", volThree, hot, cold)
	if err != nil {
		t.Fatal(err)
	}
	if plan, err = h.mover.ScaleUp(ctx, plan, h.record); err != nil {
		t.Fatal(err)
	}
	if _, err := h.sim.Unpublish(volThree, false); err != nil {
		t.Fatal(err)
	}
	st, err := h.mover.SyncRound(ctx, plan)
	if err != nil || !strings.Contains(st.Failed, "unpublished") {
		t.Fatalf("unpublished volume: want Failed, got %+v, %v", st, err)
	}
}

// waitSyncRound polls SyncRound until the new replica is rebuilt.
func (h *simHarness) waitSyncRound(ctx context.Context, plan mayastor.Plan) {
	h.t.Helper()
	for i := 0; i < 500; i++ {
		st, err := h.mover.SyncRound(ctx, plan)
		if err != nil {
			h.t.Fatalf("sync round: %v", err)
		}
		if st.Failed != "" {
			h.t.Fatalf("sync failed: %s", st.Failed)
		}
		if st.Done {
			return
		}
		h.clk.Step(2 * time.Second)
	}
	h.t.Fatal("new replica never synced")
}
