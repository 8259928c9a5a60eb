package integration

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/mover"
	"github.com/billyronks/couchestor/internal/sim"
)

// Adversarial scenarios: the real API server, the simulator with upstream's tie
// order and faults, and the migration controller in an in-process manager (migrationWorld), each
// watched by the sampler (sampler_test.go). Each asserts what the user sees (phase, reason,
// message, volume layout) on top of the sampler's invariants.
//
// The operator binary killed with SIGKILL against cmd/mayastor-sim is in binary_kill_test.go;
// TestAdversarialCrashInCordonWindow plays the kill in-process instead (the call in
// flight takes effect, every later call of the dead operator is lost, a fresh manager resumes
// from the API server), which keeps the fake clock and the per-request sampling.

// advScenario: single-tier nodes, 10GiB volumes rebuilding in ~100 s of simulated time.
var advScenario = sim.PureTiersScenario("adversarial", 11, "100MiB", `
  - uuid: 0c4f3a52-7d1e-4b6a-9a0e-0000000000a1
    size: 10GiB
    replicas: [pool-sata-a, pool-sata-c]
    published: true
    nexus_node: app-1
    inclusion: {openebs.io/created-by: operator-diskpool}
  - uuid: 0c4f3a52-7d1e-4b6a-9a0e-0000000000a2
    size: 10GiB
    replicas: [pool-sata-a, pool-sata-b, pool-sata-c]
    published: true
    nexus_node: sata-b
    inclusion: {openebs.io/created-by: operator-diskpool}
  - uuid: 0c4f3a52-7d1e-4b6a-9a0e-0000000000a3
    size: 10GiB
    replicas: [pool-sata-a]
    published: true
    inclusion: {openebs.io/created-by: operator-diskpool}
  - uuid: 0c4f3a52-7d1e-4b6a-9a0e-0000000000a4
    size: 10GiB
    replicas: [pool-sata-b, pool-sata-c]
    published: true
    nexus_node: app-1
    affinity_group: ag-two
    inclusion: {openebs.io/created-by: operator-diskpool}
  - uuid: 0c4f3a52-7d1e-4b6a-9a0e-0000000000a5
    size: 10GiB
    replicas: [pool-sata-c]
    published: true
    affinity_group: ag-one
    inclusion: {openebs.io/created-by: operator-diskpool}
  - uuid: 0c4f3a52-7d1e-4b6a-9a0e-0000000000a6
    size: 10GiB
    replicas: [pool-sata-a, pool-sata-b]
    published: true
    nexus_node: app-1
    self_heal: false
    inclusion: {openebs.io/created-by: operator-diskpool}
`)

const (
	advTwo      = "0c4f3a52-7d1e-4b6a-9a0e-0000000000a1" // 2 replicas (sata-a, sata-c), nexus on app-1
	advThree    = "0c4f3a52-7d1e-4b6a-9a0e-0000000000a2" // 3 replicas, nexus on sata-b
	advOne      = "0c4f3a52-7d1e-4b6a-9a0e-0000000000a3" // 1 replica on sata-a, target pinned to it
	advAGTwo    = "0c4f3a52-7d1e-4b6a-9a0e-0000000000a4" // 2 replicas in affinity group ag-two
	advAGOne    = "0c4f3a52-7d1e-4b6a-9a0e-0000000000a5" // 1 replica in affinity group ag-one
	advNoHealTw = "0c4f3a52-7d1e-4b6a-9a0e-0000000000a6" // 2 replicas, self_heal false
)

// advWorld starts a world on scenario with a sampler watching volumes; the clock runs 1 s of
// simulated time every 5 ms, the operator is not started.
func advWorld(t *testing.T, scenario string, volumes []string, options ...worldOption) (*migrationWorld, *sampler) {
	t.Helper()
	// The operator's cordon sweeper, every 30 s of simulated time (--cordon-sweep-interval's
	// default): its ticker comes from the world's fake clock, so a loaded machine delays the
	// sweeps and the clock alike and the 60 s a cordon may outlive its migration hold.
	options = append([]worldOption{func(w *migrationWorld) { w.sweepEvery = 30 * time.Second }}, options...)
	w := newMigrationWorld(t, scenario, options...)
	s := newSampler(w)
	for _, v := range volumes {
		w.watch(v)
		s.watch(v)
	}
	s.run()
	return w, s
}

func promote(volumeID string) storagev1.TierMigrationSpec {
	return storagev1.TierMigrationSpec{
		VolumeID: volumeID, TargetTier: storagev1.TierNVMe, TargetPoolSelector: hotPools, SourcePoolSelector: coldPools,
		AllowRepublish: true, Timeout: "10h",
	}
}

// writesMatching counts the Mayastor writes (method and path) containing sub.
func (w *migrationWorld) writesMatching(sub string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, x := range w.writes {
		if strings.Contains(x, sub) {
			n++
		}
	}
	return n
}

// finish stops the sampler and reports its violations, the world's own invariant too.
func finish(w *migrationWorld, s *sampler) {
	w.t.Helper()
	s.stop()
	s.check()
	w.checkInvariant()
}

// awaitSim waits (wall time) until simulated time has advanced by d.
func (w *migrationWorld) awaitSim(d time.Duration) {
	w.t.Helper()
	until := w.clk.Now().Add(d)
	eventually(w.t, 60*time.Second, 5*time.Millisecond, fmt.Sprintf("simulated time advanced by %s", d), func() (bool, string) {
		now := w.clk.Now()
		return !now.Before(until), fmt.Sprintf("simulated time %s short of %s", until.Sub(now), until)
	})
}

// assertNoCordonsAfterEnd lets 70 s of simulated time pass (late calls landing, the sweeper) and
// checks no CoucheStor cordon is left and no late call is pending.
// awaitNoPlaceholders fails unless the simulator holds no CoucheStor placeholder replica within d
// (an ended migration deletes its own in the reconcile after its end).
func (w *migrationWorld) awaitNoPlaceholders(d time.Duration) {
	w.t.Helper()
	eventually(w.t, d, 50*time.Millisecond, "no placeholder replica left after the migrations ended", func() (bool, string) {
		var left []string
		for _, r := range w.sim.Specs().Replicas {
			if mover.IsPlaceholderID(r.UUID) {
				left = append(left, r.UUID)
			}
		}
		return len(left) == 0, fmt.Sprintf("placeholder replicas left: %v", left)
	})
}

func (w *migrationWorld) assertNoCordonsAfterEnd() {
	w.t.Helper()
	w.awaitSim(70 * time.Second)
	if c := w.cordonedNodes(); len(c) > 0 {
		w.t.Errorf("cordons left 70 s after the migration ended: %v", c)
	}
}

// a. Upstream tie order (a stable sort over the replica map's order, append on create and
// swap_remove on destroy: upstream control-plane/agents/src/bin/core/controller/scheduling/
// mod.rs:79-82, core/volume/specs.rs:565-574, core/pool/specs.rs:323-333 and 397-400; the
// simulator's default): a
// 2-replica volume whose target is on an application node moves in 2 rounds with zero wasted
// rebuilds (2 increases, 2 decreases, no unpredicted removal); a 3-replica volume moves too,
// before the first write.
func TestAdversarialUpstreamTieOrder(t *testing.T) {
	w, s := advWorld(t, advScenario, []string{advTwo, advThree})
	sources := replicaIDsOf(w.volume(advTwo))
	w.runClock(time.Second, 5*time.Millisecond)
	w.startOperator()

	// A 3-replica volume moves too, its map order steered by placeholder replicas: 3 rounds, no
	// wasted rebuild, no placeholder left after the end.
	w.create("adv-tie-three", promote(advThree))
	three := awaitPhase(t, "adv-tie-three", 120*time.Second, storagev1.PhaseCompleted, storagev1.PhaseFailed)
	if three.Status.Phase != storagev1.PhaseCompleted || three.Status.Rounds != 3 || three.Status.Checkpoint.RemovalAttempts != 0 {
		_, reason, msg := succeededReason(three)
		t.Fatalf("3-replica volume: %s after %d rounds (%d wasted): %s %s%s", three.Status.Phase, three.Status.Rounds, three.Status.Checkpoint.RemovalAttempts, reason, msg, stepsOf(three))
	}
	w.awaitNoPlaceholders(30 * time.Second)

	w.create("adv-tie-two", promote(advTwo))
	tm := awaitPhase(t, "adv-tie-two", 120*time.Second, storagev1.PhaseCompleted, storagev1.PhaseFailed)
	if _, reason, msg := succeededReason(tm); tm.Status.Phase != storagev1.PhaseCompleted || reason != "Moved" {
		t.Fatalf("2-replica volume: %s %s: %s%s", tm.Status.Phase, reason, msg, stepsOf(tm))
	}
	w.assertSettled(advTwo, 2, "pool-nvme-")
	up := w.writesMatching("/v0/volumes/" + advTwo + "/replica_count/3")
	down := w.writesMatching("/v0/volumes/" + advTwo + "/replica_count/2")
	cp := tm.Status.Checkpoint
	if up != 2 || down != 2 || tm.Status.Rounds != 2 || cp == nil || cp.RemovalAttempts != 0 || len(cp.RemovedSourceReplicas) != 2 {
		t.Fatalf("want 2 rounds, 2 increases, 2 decreases, no wasted rebuild: rounds %d, increases %d, decreases %d, checkpoint %+v",
			tm.Status.Rounds, up, down, cp)
	}
	var removed []string
	for _, r := range cp.RemovedSourceReplicas {
		removed = append(removed, r.ID)
	}
	slices.Sort(removed)
	if !slices.Equal(removed, sources) {
		t.Fatalf("removed %v, want the sources %v", removed, sources)
	}
	w.assertNoCordonsAfterEnd()
	finish(w, s)
}

// b. A cordon applied late (upstream core/volume/service.rs:152-163 runs a replica-count change
// in a spawned task; that a cordon can land late was not read upstream and is assumed, see
// internal/sim/late.go): the first cordon call answers 504 and
// lands 90 s later. The move still ends, and no cordon is left 60 s after it ended, including
// the one that landed late; a second move is not blocked by it.
func TestAdversarialLateCordon(t *testing.T) {
	w, s := advWorld(t, advScenario, []string{advTwo, advOne})
	if err := w.sim.InjectFault(sim.Fault{Operation: "put_node_cordon", Mode: sim.FaultLate, Count: 1, Delay: sim.Duration{Duration: 90 * time.Second}}); err != nil {
		t.Fatal(err)
	}
	w.runClock(time.Second, 5*time.Millisecond)
	w.startOperator()
	w.create("adv-late-cordon", promote(advTwo))
	tm := awaitPhase(t, "adv-late-cordon", 120*time.Second, storagev1.PhaseCompleted, storagev1.PhaseFailed)
	if w.writesMatching("/cordon/") == 0 {
		t.Fatal("no cordon was asked for: the test does not exercise a late cordon")
	}
	if _, reason, msg := succeededReason(tm); tm.Status.Phase != storagev1.PhaseCompleted || reason != "Moved" {
		t.Fatalf("%s %s: %s%s", tm.Status.Phase, reason, msg, stepsOf(tm))
	}
	// The layout is final; a cordon may still be on a node for up to 60 s (the sampler's rule).
	if v := w.volume(advTwo); len(v.State.ReplicaTopology) != 2 || !strings.HasPrefix(strings.Join(poolsOfVolume(v), ","), "pool-nvme-") ||
		strings.Contains(strings.Join(poolsOfVolume(v), ","), "sata") {
		t.Fatalf("after the move: %v", poolsOfVolume(v))
	}
	t.Logf("at the end: cordons on nodes %v, recorded %v", w.cordonedNodes(), tm.Status.Cordons)
	w.awaitSim(90 * time.Second) // the late cordon has landed by now, wherever the move stood
	if p := w.sim.PendingLate(); len(p) > 0 {
		t.Fatalf("late calls still pending: %v", p)
	}
	w.assertNoCordonsAfterEnd()

	// A later move is not blocked by a leftover cordon.
	w.create("adv-late-cordon-next", promote(advOne))
	next := awaitPhase(t, "adv-late-cordon-next", 120*time.Second, storagev1.PhaseCompleted, storagev1.PhaseFailed)
	if _, reason, msg := succeededReason(next); next.Status.Phase != storagev1.PhaseCompleted {
		t.Fatalf("the next move: %s %s: %s%s", next.Status.Phase, reason, msg, stepsOf(next))
	}
	w.assertNoCordonsAfterEnd()
	finish(w, s)
}

// c. The operator dies inside the cordon window and stays down for minutes of simulated time
// (killed while its cordon call is still in flight). The
// restarted operator completes the move, and no cordon is left 60 s after the end: neither the
// one that landed before the crash nor one whose call was still in flight (landing 3 min later,
// after the restart).
func TestAdversarialCrashInCordonWindow(t *testing.T) {
	for _, tc := range []struct {
		name string
		late time.Duration // the cordon call lands this long after it was made (0: at once)
	}{
		{"cordon landed, operator down 5 min", 0},
		{"cordon in flight, lands after the restart", 3 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, s := advWorld(t, advScenario, []string{advTwo})
			if tc.late > 0 {
				if err := w.sim.InjectFault(sim.Fault{Operation: "put_node_cordon", Mode: sim.FaultLate, Count: 1, Delay: sim.Duration{Duration: tc.late}}); err != nil {
					t.Fatal(err)
				}
			}
			w.crashOn(isCordonPut)
			w.runClock(time.Second, 5*time.Millisecond)
			w.startOperator()
			name := "adv-crash-" + fmt.Sprint(int(tc.late.Seconds()))
			w.create(name, promote(advTwo))
			w.awaitCrash(60 * time.Second)
			crashed := getTM(t, name)
			if len(crashed.Status.Cordons) == 0 {
				t.Fatalf("after the crash: phase %s, no cordon recorded", crashed.Status.Phase)
			}
			if tc.late == 0 && len(w.cordonedNodes()) == 0 {
				t.Fatal("the crash left no node cordoned: the test does not exercise the restart path")
			}
			w.awaitSim(2 * time.Minute)
			if tc.late == 0 {
				w.awaitSim(3 * time.Minute)
			}
			w.recover()
			w.startOperator()
			tm := awaitPhase(t, name, 120*time.Second, storagev1.PhaseCompleted, storagev1.PhaseFailed)
			if _, reason, msg := succeededReason(tm); tm.Status.Phase != storagev1.PhaseCompleted || reason != "Moved" {
				t.Fatalf("%s %s: %s%s", tm.Status.Phase, reason, msg, stepsOf(tm))
			}
			w.assertSettled(advTwo, 2, "pool-nvme-")
			if tc.late > 0 {
				w.awaitSim(tc.late) // the in-flight call has landed by now
				if p := w.sim.PendingLate(); len(p) > 0 {
					t.Fatalf("late calls still pending: %v", p)
				}
			}
			w.assertNoCordonsAfterEnd()
			finish(w, s)
		})
	}
}

// d. Another actor raises the replica count during WaitingSync. The move is
// ended with a message naming the change (no WaitingSync ↔ ScalingDown bounce), and never below
// the volume's healthy replicas.
func TestAdversarialOutsideCountChange(t *testing.T) {
	w, s := advWorld(t, advScenario, []string{advTwo})
	w.runClock(time.Second, 5*time.Millisecond)
	w.startOperator()
	w.create("adv-outside", promote(advTwo))
	awaitPhase(t, "adv-outside", 60*time.Second, storagev1.PhaseWaitingSync)
	// Upstream raises a count only on an Online volume (control-plane/agents/src/bin/core/
	// volume/specs.rs:1073-1080): the other actor's increase comes once the rebuild is done, while the
	// migration is still in WaitingSync (the operator is between two polls: stopped here).
	w.stopOperator()
	eventually(t, 30*time.Second, 5*time.Millisecond, "the rebuild finished (volume Online)", func() (bool, string) {
		st := w.volume(advTwo).State.Status
		return st == mayastor.VolumeStatusOnline, fmt.Sprintf("volume %s", st)
	})
	if _, err := w.sim.SetReplicaCount(advTwo, 4); err != nil {
		t.Fatal(err)
	}
	w.startOperator()
	tm := awaitPhase(t, "adv-outside", 120*time.Second, storagev1.PhaseFailed, storagev1.PhaseCompleted)
	_, reason, msg := succeededReason(tm)
	if tm.Status.Phase != storagev1.PhaseFailed || reason != "ReplicaCountChangedOutside" || !strings.Contains(msg, "another actor changed the replica count") {
		t.Fatalf("want Failed ReplicaCountChangedOutside naming the change; got %s %s: %s%s", tm.Status.Phase, reason, msg, stepsOf(tm))
	}
	downs := 0
	for _, st := range tm.Status.Steps {
		if st.Phase == storagev1.PhaseScalingDown {
			downs++
		}
	}
	if downs > 1 {
		t.Fatalf("WaitingSync and ScalingDown bounced:%s", stepsOf(tm))
	}
	if n := w.writesMatching("/v0/volumes/" + advTwo + "/replica_count/"); n != 1 {
		t.Fatalf("the operator changed the count again after another actor did: %d count writes", n)
	}
	w.assertNoCordonsAfterEnd()
	finish(w, s)
}

// e. HA disabled (upstream control-plane/agents/src/bin/core/volume/operations.rs:453-456:
// republish is refused with 412): configured (--mayastor-ha-enabled=false), a 1-replica volume whose move needs a
// republish is refused at Analyze with no write; not configured, the 412 ends the move cleanly:
// the round is rolled back, the source replica is the volume's only replica again.
func TestAdversarialHADisabled(t *testing.T) {
	t.Run("configured: refused at Analyze", func(t *testing.T) {
		w, s := advWorld(t, advScenario, []string{advOne})
		w.opts.MayastorHADisabled = true // the operator's --mayastor-ha-enabled=false
		w.sim.SetHAEnabled(false)
		w.runClock(time.Second, 5*time.Millisecond)
		w.startOperator()
		w.create("adv-ha-configured", promote(advOne))
		tm := awaitPhase(t, "adv-ha-configured", 60*time.Second, storagev1.PhaseFailed, storagev1.PhaseCompleted)
		if _, reason, msg := succeededReason(tm); tm.Status.Phase != storagev1.PhaseFailed || reason != string(mover.ReasonLayoutNotMovable) {
			t.Fatalf("want Failed %s; got %s %s: %s", mover.ReasonLayoutNotMovable, tm.Status.Phase, reason, msg)
		}
		if n := w.writeCount(); n != 0 {
			t.Fatalf("a move refused at Analyze wrote to Mayastor: %v", w.writes)
		}
		finish(w, s)
	})
	t.Run("not configured: the republish 412 ends the move cleanly", func(t *testing.T) {
		w, s := advWorld(t, advScenario, []string{advOne})
		w.sim.SetHAEnabled(false)
		source := replicaIDsOf(w.volume(advOne))
		w.runClock(time.Second, 5*time.Millisecond)
		w.startOperator()
		w.create("adv-ha-412", promote(advOne))
		tm := awaitPhase(t, "adv-ha-412", 120*time.Second, storagev1.PhaseFailed, storagev1.PhaseCompleted)
		_, reason, msg := succeededReason(tm)
		if tm.Status.Phase != storagev1.PhaseFailed || !strings.Contains(reason+" "+msg+" "+tm.Status.Error, "RepublishRefused") {
			t.Fatalf("want Failed after RepublishRefused; got %s %s: %s%s", tm.Status.Phase, reason, msg, stepsOf(tm))
		}
		t.Logf("ended %s %s: %s%s", tm.Status.Phase, reason, msg, stepsOf(tm))
		w.awaitSim(30 * time.Second)
		// Either the round is rolled back (the source alone again) or the extra replica is kept
		// and recorded (status.keptReplicas).
		v := w.volume(advOne)
		if !slices.Equal(replicaIDsOf(v), source) {
			for _, id := range replicaIDsOf(v) {
				if id != source[0] && !slices.ContainsFunc(tm.Status.KeptReplicas, func(k storagev1.KeptReplica) bool { return k.ID == id }) {
					t.Errorf("the volume keeps replica %s beyond its source, not recorded in status.keptReplicas %+v", id, tm.Status.KeptReplicas)
				}
			}
			if _, ok := v.State.ReplicaTopology[source[0]]; !ok {
				t.Errorf("the source %s is gone: %v", source[0], poolsOfVolume(v))
			}
		}
		w.assertNoCordonsAfterEnd()
		finish(w, s)
	})
}

// f. Affinity groups (upstream control-plane/agents/src/bin/core/volume/specs.rs:1080-1086:
// never below 2 replicas, 412 RestrictedReplicaCount): a 2-replica affinity-group volume moves like any
// 2-replica volume (its count goes 2 → 3 → 2); a 1-replica one is refused before any write.
func TestAdversarialAffinityGroup(t *testing.T) {
	w, s := advWorld(t, advScenario, []string{advAGTwo, advAGOne})
	w.runClock(time.Second, 5*time.Millisecond)
	w.startOperator()
	w.create("adv-ag-one", promote(advAGOne))
	one := awaitPhase(t, "adv-ag-one", 60*time.Second, storagev1.PhaseFailed, storagev1.PhaseCompleted)
	if _, reason, msg := succeededReason(one); one.Status.Phase != storagev1.PhaseFailed || reason != "AffinityGroupReplicaMinimum" {
		t.Fatalf("1-replica affinity-group volume: %s %s: %s", one.Status.Phase, reason, msg)
	}
	if n := w.writeCount(); n != 0 {
		t.Fatalf("the refused move wrote to Mayastor: %v", w.writes)
	}
	w.create("adv-ag-two", promote(advAGTwo))
	tm := awaitPhase(t, "adv-ag-two", 120*time.Second, storagev1.PhaseCompleted, storagev1.PhaseFailed)
	if _, reason, msg := succeededReason(tm); tm.Status.Phase != storagev1.PhaseCompleted || reason != "Moved" {
		t.Fatalf("%s %s: %s%s", tm.Status.Phase, reason, msg, stepsOf(tm))
	}
	w.assertSettled(advAGTwo, 2, "pool-nvme-")
	if n := w.writesMatching("/v0/volumes/" + advAGTwo + "/replica_count/1"); n != 0 {
		t.Fatalf("the operator asked for 1 replica of an affinity-group volume %d times", n)
	}
	w.assertNoCordonsAfterEnd()
	finish(w, s)
}

// g. An attach that fails after the replica was created (max_rebuilds, upstream
// control-plane/agents/src/bin/core/nexus/operations_helper.rs:26-46): the increase answers 507 and leaves an
// unused replica owned by the volume. With self_heal the hot spare removes it: the move
// completes, or fails leaving the sources as they were; without, nothing upstream removes it:
// the migration must still end, and every replica the volume keeps beyond its original count is
// recorded in status.keptReplicas.
func TestAdversarialAttachFailsAfterCreate(t *testing.T) {
	for _, tc := range []struct {
		name, volume string
		selfHeal     bool
	}{
		{"self_heal", advTwo, true},
		{"no self_heal", advNoHealTw, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, s := advWorld(t, advScenario, []string{tc.volume})
			sources := replicaIDsOf(w.volume(tc.volume))
			if err := w.sim.FailNextAttach(tc.volume); err != nil {
				t.Fatal(err)
			}
			w.runClock(time.Second, 5*time.Millisecond)
			w.startOperator()
			name := "adv-attach-" + strings.ReplaceAll(tc.name, "_", "")
			name = strings.ReplaceAll(name, " ", "-")
			w.create(name, promote(tc.volume))
			tm := awaitPhase(t, name, 60*time.Second, storagev1.PhaseCompleted, storagev1.PhaseFailed)
			_, reason, msg := succeededReason(tm)
			t.Logf("ended %s %s: %s%s", tm.Status.Phase, reason, msg, stepsOf(tm))
			w.awaitSim(30 * time.Second)
			v := w.volume(tc.volume)
			switch {
			case tm.Status.Phase == storagev1.PhaseCompleted:
				if reason != "Moved" {
					t.Fatalf("completed with reason %s", reason)
				}
				w.assertSettled(tc.volume, 2, "pool-nvme-")
			case tc.selfHeal:
				// The hot spare removes the unused replica: a failed move leaves the sources
				// alone, as they were.
				if got := replicaIDsOf(v); !slices.Equal(got, sources) || v.Spec.NumReplicas != 2 {
					t.Fatalf("after a failed move with self_heal: replicas %v (num_replicas %d), want the sources %v", got, v.Spec.NumReplicas, sources)
				}
			default:
				// Nothing upstream removes the unused replica: every replica beyond the original
				// two is recorded in status.keptReplicas, and the sources are still there.
				for _, id := range sources {
					if _, ok := v.State.ReplicaTopology[id]; !ok {
						t.Errorf("source %s is gone after a failed move", id)
					}
				}
				w.assertNoCordonsAfterEnd()
				finish(w, s)
				for _, id := range replicaIDsOf(v) {
					if slices.Contains(sources, id) {
						continue
					}
					if !slices.ContainsFunc(tm.Status.KeptReplicas, func(k storagev1.KeptReplica) bool { return k.ID == id }) {
						t.Errorf("the volume keeps replica %s beyond its 2, not recorded in status.keptReplicas %+v", id, tm.Status.KeptReplicas)
					}
				}
				for _, id := range sources {
					if _, ok := v.State.ReplicaTopology[id]; !ok {
						t.Errorf("source %s is gone after a failed move", id)
					}
				}
			}
			w.assertNoCordonsAfterEnd()
			finish(w, s)
		})
	}
}

// h. The new replica's node is lost mid-rebuild (the rebuilding child faults and is removed,
// internal/sim doc "a child that faults while rebuilding is removed at once"; upstream
// control-plane/agents/src/bin/core/controller/reconciler/nexus/mod.rs:149-242). The migration ends
// (rolled back, or moved with a replacement) with the sources safe, and says what happened.
func TestAdversarialNewReplicaNodeLost(t *testing.T) {
	w, s := advWorld(t, advScenario, []string{advTwo})
	sources := replicaIDsOf(w.volume(advTwo))
	w.runClock(time.Second, 5*time.Millisecond)
	w.startOperator()
	w.create("adv-lost-node", promote(advTwo))
	awaitPhase(t, "adv-lost-node", 60*time.Second, storagev1.PhaseWaitingSync)
	var node string
	eventually(t, 30*time.Second, 5*time.Millisecond, "the rebuild progressing in WaitingSync", func() (bool, string) {
		tm := getTM(t, "adv-lost-node")
		if cp := tm.Status.Checkpoint; cp != nil && cp.NewReplica != nil && tm.Status.SyncProgress > 0 && tm.Status.Phase == storagev1.PhaseWaitingSync {
			node = cp.NewReplica.Node
			return true, ""
		}
		return false, fmt.Sprintf("%s, sync progress %d%s", tm.Status.Phase, tm.Status.SyncProgress, stepsOf(tm))
	})
	if err := w.sim.SetNodeOnline(node, false); err != nil {
		t.Fatal(err)
	}
	tm := awaitPhase(t, "adv-lost-node", 60*time.Second, storagev1.PhaseCompleted, storagev1.PhaseFailed)
	_, reason, msg := succeededReason(tm)
	t.Logf("node %s lost mid-rebuild: %s %s: %s", node, tm.Status.Phase, reason, msg)
	w.awaitSim(60 * time.Second)
	v := w.volume(advTwo)
	switch tm.Status.Phase {
	case storagev1.PhaseFailed:
		for _, id := range sources {
			if _, ok := v.State.ReplicaTopology[id]; !ok {
				t.Errorf("rolled back, yet source %s is gone: %v", id, poolsOfVolume(v))
			}
		}
	case storagev1.PhaseCompleted:
		w.assertSettled(advTwo, 2, "pool-nvme-")
	}
	if int(v.Spec.NumReplicas) != 2 {
		t.Errorf("num_replicas %d after the end, want 2", v.Spec.NumReplicas)
	}
	w.assertNoCordonsAfterEnd()
	finish(w, s)
}

// i. A source node blips during WaitingSync: its child is Faulted and kept up to
// faulted_child_wait_period (600 s), then partially rebuilt when the node returns (upstream
// control-plane/agents/src/bin/core/controller/policies/rebuild_policies.rs:19-21,46-59). The move waits
// for every replica to be healthy, then completes without a wasted rebuild.
func TestAdversarialSourceNodeBlip(t *testing.T) {
	w, s := advWorld(t, advScenario, []string{advTwo})
	w.runClock(time.Second, 5*time.Millisecond)
	w.startOperator()
	w.create("adv-blip", promote(advTwo))
	awaitPhase(t, "adv-blip", 60*time.Second, storagev1.PhaseWaitingSync)
	s.allowLoss(advTwo, 1, "node sata-a is down (the test took it down)")
	w.mu.Lock()
	w.baseline[advTwo]-- // the world's own check too
	w.mu.Unlock()
	if err := w.sim.SetNodeOnline("sata-a", false); err != nil {
		t.Fatal(err)
	}
	w.awaitSim(2 * time.Minute)
	if err := w.sim.SetNodeOnline("sata-a", true); err != nil {
		t.Fatal(err)
	}
	// Once the blipped replica is rebuilt, the floor is back.
	eventually(t, 60*time.Second, 5*time.Millisecond, "the volume's 2 healthy replicas back", func() (bool, string) {
		v := w.volume(advTwo)
		healthy := 0
		for _, r := range v.State.ReplicaTopology {
			if r.ChildStatus == mayastor.ChildStateOnline && r.RebuildProgress == nil && r.State == mayastor.ReplicaStateOnline {
				healthy++
			}
		}
		return healthy >= 2, fmt.Sprintf("replica topology %v", v.State.ReplicaTopology)
	})
	s.allowLoss(advTwo, 0, "node sata-a is back and its replica rebuilt")
	w.mu.Lock()
	w.baseline[advTwo]++
	w.mu.Unlock()
	tm := awaitPhase(t, "adv-blip", 60*time.Second, storagev1.PhaseCompleted, storagev1.PhaseFailed)
	if _, reason, msg := succeededReason(tm); tm.Status.Phase != storagev1.PhaseCompleted || reason != "Moved" {
		t.Fatalf("%s %s: %s%s", tm.Status.Phase, reason, msg, stepsOf(tm))
	}
	w.assertSettled(advTwo, 2, "pool-nvme-")
	if cp := tm.Status.Checkpoint; cp == nil || cp.RemovalAttempts != 0 {
		t.Fatalf("a wasted rebuild: %+v", cp)
	}
	w.assertNoCordonsAfterEnd()
	finish(w, s)
}

// j. Two concurrent migrations on nodes holding both tiers (small.yaml), with 2 s latency on
// every Mayastor call. Both end; their cordon windows never overlap; each moved
// volume is on its target tier.
func TestAdversarialConcurrentWithLatency(t *testing.T) {
	const latency = 2 * time.Second
	w, s := advWorld(t, "small", []string{smallVolSATA1, smallVolNVMe1}, func(w *migrationWorld) {
		// The latency is simulated time (the clock jumps by it) plus a wall-time share at the
		// clock's rate (1 s per 5 ms), so that concurrent calls do overlap.
		w.simOpts = append(w.simOpts, sim.WithSleep(func(d time.Duration) {
			w.clk.Step(d)
			time.Sleep(d / 200) // paces the simulated call: no condition to wait for
		}))
	})
	if err := w.sim.InjectFault(sim.Fault{Operation: "*", Mode: sim.FaultLatency, Latency: sim.Duration{Duration: latency}}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var overlaps []string
	hook := w.afterObserve.Load()
	both := func() {
		(*hook)()
		labels := map[string]bool{}
		for _, c := range w.cordonedNodes() {
			labels[c[strings.Index(c, "=")+1:]] = true
		}
		if len(labels) > 1 {
			mu.Lock()
			overlaps = append(overlaps, fmt.Sprint(w.cordonedNodes()))
			mu.Unlock()
		}
	}
	w.afterObserve.Store(&both)
	w.runClock(time.Second, 5*time.Millisecond)
	w.startOperator()
	w.create("adv-conc-up", storagev1.TierMigrationSpec{
		VolumeID: smallVolSATA1, TargetTier: storagev1.TierNVMe, TargetPoolSelector: hotPools, SourcePoolSelector: coldPools,
		AllowRepublish: true, Timeout: "10h",
	})
	w.create("adv-conc-down", storagev1.TierMigrationSpec{
		VolumeID: smallVolNVMe1, TargetTier: storagev1.TierSATA, TargetPoolSelector: coldPools, SourcePoolSelector: hotPools,
		AllowRepublish: true, Timeout: "10h",
	})
	up := awaitPhase(t, "adv-conc-up", 60*time.Second, storagev1.PhaseCompleted, storagev1.PhaseFailed)
	down := awaitPhase(t, "adv-conc-down", 60*time.Second, storagev1.PhaseCompleted, storagev1.PhaseFailed)
	for _, tm := range []*storagev1.TierMigration{up, down} {
		if _, reason, msg := succeededReason(tm); tm.Status.Phase != storagev1.PhaseCompleted || reason != "Moved" {
			t.Errorf("%s: %s %s: %s%s", tm.Name, tm.Status.Phase, reason, msg, stepsOf(tm))
		}
	}
	w.ClearLatency()
	if !t.Failed() {
		w.assertSettled(smallVolSATA1, 1, "pool-nvme-")
		w.assertSettled(smallVolNVMe1, 1, "pool-sata-")
	}
	mu.Lock()
	if len(overlaps) > 0 {
		t.Errorf("cordon windows of the two migrations overlapped %d time(s), e.g. %s", len(overlaps), overlaps[0])
	}
	mu.Unlock()
	w.assertNoCordonsAfterEnd()
	finish(w, s)
}

// ClearLatency removes the injected faults so that the end checks do not pay the latency.
func (w *migrationWorld) ClearLatency() { w.sim.ClearFaults() }

// isCordonPut matches PUT /v0/nodes/{id}/cordon/{label}.
func isCordonPut(r *http.Request) bool {
	return r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/v0/nodes/") && strings.Contains(r.URL.Path, "/cordon/")
}
