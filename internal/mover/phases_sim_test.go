package mover_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/billyronks/couchestor/internal/mover"
)

// Rules of the migration phases checked against the simulator.

// An outside actor changes the replica count during WaitingSync (the count is set on the
// simulator directly). SyncRound must not say
// Done (it used to, and ScaleDown then refused NotSynced on every poll, for ever): it refuses
// with ReplicaCountChangedOutside naming the count seen and the one expected, and so does
// ScaleDown. The count rule is CoucheStor's own (no upstream rule); the 412 ReplicaChangeCount
// that makes "set it back" impossible in one call is upstream core/volume/specs.rs:1071-1072
// (control-plane/agents/src/bin/core/, at c02e0cb).
func TestPhasesSimOutsideCountChangeEndsTheMove(t *testing.T) {
	ctx := context.Background()
	h := newSimHarness(t, pureTiers, mover.MoverOptions{AllowRepublish: true})
	plan, err := h.mover.Analyze(ctx, "tm-count", volTwo, hot, cold)
	if err != nil {
		t.Fatal(err)
	}
	if plan, err = h.mover.ScaleUp(ctx, plan, h.record); err != nil {
		t.Fatal(err)
	}
	// Control: the move's own count (n+1) is not refused, and the rebuild gets done.
	h.waitSync(ctx, plan)

	// Another actor raises the count to n+2 while the migration is in WaitingSync.
	if _, err := h.sim.SetReplicaCount(volTwo, plan.Replicas+2); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ { // whatever the new replica's rebuild does meanwhile
		st, err := h.mover.SyncRound(ctx, plan)
		if !errors.Is(err, mover.ErrReplicaCountChanged) {
			t.Fatalf("SyncRound with num_replicas %d: want ErrReplicaCountChanged, got %+v, %v", plan.Replicas+2, st, err)
		}
		if !strings.Contains(err.Error(), "num_replicas is 4, this move expects 3") {
			t.Fatalf("the refusal must name the count seen and the one expected: %v", err)
		}
		h.clk.Step(2 * time.Second)
	}
	_, _, err = h.mover.ScaleDown(ctx, plan, h.record)
	if !errors.Is(err, mover.ErrReplicaCountChanged) || !strings.Contains(err.Error(), "expects 2 or 3") {
		t.Fatalf("ScaleDown with num_replicas 4: want ErrReplicaCountChanged naming 2 or 3, got %v", err)
	}
	if v := h.volume(volTwo); v.Spec.NumReplicas != 4 {
		t.Fatalf("the move changed the count after the outside change: %d", v.Spec.NumReplicas)
	}
}

// The nexus node goes down during WaitingSync. The simulator keeps spec.target while no nexus
// serves (state.target absent); that upstream does the same was not read upstream.
// SyncRound must report a wait ("target unavailable"), not "volume is unpublished", and the
// rebuild completes once the node is back.
func TestPhasesSimNexusNodeDownIsAnOutageToWaitOut(t *testing.T) {
	ctx := context.Background()
	h := newSimHarness(t, pureTiers, mover.MoverOptions{AllowRepublish: true})
	h.watchVolume(volTwo)
	plan, err := h.mover.Analyze(ctx, "tm-outage", volTwo, hot, cold)
	if err != nil {
		t.Fatal(err)
	}
	if plan, err = h.mover.ScaleUp(ctx, plan, h.record); err != nil {
		t.Fatal(err)
	}
	h.clk.Step(2 * time.Second) // the rebuild is under way
	h.sim.SetHAEnabled(false)   // no failover: the target stays down with its node
	nexus := h.volume(volTwo).State.Target.Node
	if err := h.sim.SetNodeOnline(nexus, false); err != nil {
		t.Fatal(err)
	}
	v := h.volume(volTwo)
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
	h.waitSync(ctx, plan)
	if _, _, err := h.mover.ScaleDown(ctx, plan, h.record); err != nil {
		t.Fatalf("scale down after the outage: %v", err)
	}
}

// A volume really unpublished (no spec.target) during the move still fails the round: nothing
// would rebuild the new replica (rebuilds run through the volume's nexus, and a nexus created
// with no NexusInfo deems every replica healthy: core/controller/scheduling/mod.rs:241-246).
func TestPhasesSimUnpublishedDuringSyncFails(t *testing.T) {
	ctx := context.Background()
	h := newSimHarness(t, pureTiers, mover.MoverOptions{AllowRepublish: true})
	plan, err := h.mover.Analyze(ctx, "tm-unpub", volTwo, hot, cold)
	if err != nil {
		t.Fatal(err)
	}
	if plan, err = h.mover.ScaleUp(ctx, plan, h.record); err != nil {
		t.Fatal(err)
	}
	if _, err := h.sim.Unpublish(volTwo, false); err != nil {
		t.Fatal(err)
	}
	st, err := h.mover.SyncRound(ctx, plan)
	if err != nil || !strings.Contains(st.Failed, "unpublished") {
		t.Fatalf("unpublished volume: want Failed, got %+v, %v", st, err)
	}
}

// With HA on, the nexus node going down during WaitingSync is followed by a failover
// (the target moves to another node and, after an unclean shutdown, the re-created nexus
// opens one healthy child and the others rebuild: core/volume/scheduling.rs:65-79). The round must wait it out, never fail for it, and finish.
func TestPhasesSimHAFailoverDuringSyncIsWaitedOut(t *testing.T) {
	ctx := context.Background()
	h := newSimHarness(t, pureTiers, mover.MoverOptions{AllowRepublish: true})
	h.watchVolume(volTwo)
	plan, err := h.mover.Analyze(ctx, "tm-failover", volTwo, hot, cold)
	if err != nil {
		t.Fatal(err)
	}
	if plan, err = h.mover.ScaleUp(ctx, plan, h.record); err != nil {
		t.Fatal(err)
	}
	h.clk.Step(2 * time.Second)
	nexus := h.volume(volTwo).State.Target.Node
	if err := h.sim.SetNodeOnline(nexus, false); err != nil {
		t.Fatal(err)
	}
	moved := false
	for i := 0; i < 200; i++ {
		st, err := h.mover.SyncRound(ctx, plan)
		if err != nil {
			t.Fatal(err)
		}
		if st.Failed != "" {
			t.Fatalf("failover: want a wait, got a failure %q", st.Failed)
		}
		if v := h.volume(volTwo); v.State.Target != nil && v.State.Target.Node != nexus {
			moved = true
		}
		if st.Done {
			break
		}
		h.clk.Step(5 * time.Second)
	}
	if !moved {
		t.Fatal("the target never failed over to another node")
	}
	h.waitSync(ctx, plan)
	// The node loss itself (not the move) dropped redundancy while the re-created nexus
	// rebuilt its other children, so the move-invariant does not apply here; once the round
	// is in sync every replica, the new one included, is a healthy child again.
	if n := h.healthyReplicas(h.volume(volTwo)); n != plan.Replicas+1 {
		t.Fatalf("%d healthy replicas after the failover and the rebuilds, want %d", n, plan.Replicas+1)
	}
}
