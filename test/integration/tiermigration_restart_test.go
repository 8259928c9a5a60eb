package integration

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

// Kill-and-restart: the operator dies in the middle of a phase (its last Mayastor call takes
// effect but it never sees the answer, and nothing it tries afterwards reaches Mayastor); a
// fresh operator, knowing only what the API server holds, finishes or unwinds the migration.
// No node is left cordoned, no extra replica is left, and the volume never has fewer healthy
// replicas than before.
func TestTierMigrationResumesAfterOperatorRestart(t *testing.T) {
	promote := storagev1.TierMigrationSpec{
		VolumeID: smallVolSATA1, TargetTier: storagev1.TierNVMe, TargetPoolSelector: hotPools, SourcePoolSelector: coldPools,
		AllowRepublish: true, Timeout: "10h",
	}

	t.Run("killed during ScalingUp with a node cordoned", func(t *testing.T) {
		w := newMigrationWorld(t, "small")
		w.watch(smallVolSATA1)
		// The increase lands while the competing nodes are cordoned; the operator dies before it
		// can lift the cordons.
		w.crashOn(isReplicaCount(smallVolSATA1, 2))
		w.startOperator()
		w.create("crash-scaleup", promote)
		w.awaitCrash(30 * time.Second)

		tm := getTM(t, "crash-scaleup")
		if tm.Status.Phase != storagev1.PhaseScalingUp || len(tm.Status.Cordons) == 0 || len(tm.Status.Checkpoint.Cordons) == 0 {
			t.Fatalf("after the crash: phase %s, cordons %v; want ScalingUp with the cordons recorded", tm.Status.Phase, tm.Status.Cordons)
		}
		if len(w.cordonedNodes()) == 0 {
			t.Fatal("the crash left no node cordoned: the test does not exercise the restart path")
		}
		if v := w.volume(smallVolSATA1); v.Spec.NumReplicas != 2 {
			t.Fatalf("the increase should have taken effect: num_replicas %d", v.Spec.NumReplicas)
		}

		w.recover()
		w.runClock(time.Second, 5*time.Millisecond)
		w.startOperator()
		tm = awaitPhase(t, "crash-scaleup", 60*time.Second, storagev1.PhaseCompleted)
		w.assertSettled(smallVolSATA1, 1, "pool-nvme-")
		w.checkInvariant()
		if tm.Status.Attempts != 1 {
			t.Errorf("the restarted operator should adopt the replica added before the crash, not add another: %d increases", tm.Status.Attempts)
		}
		awaitEvent(t, "crash-scaleup", "CordonsReleased")
	})

	t.Run("stopped while WaitingSync, rebuild finishes meanwhile", func(t *testing.T) {
		w := newMigrationWorld(t, "small")
		w.watch(smallVolSATA1)
		w.startOperator()
		w.create("stop-waitsync", promote)
		awaitPhase(t, "stop-waitsync", 30*time.Second, storagev1.PhaseWaitingSync)
		w.stopOperator()
		w.clk.Step(10 * time.Minute)
		w.observe()

		w.startOperator()
		awaitPhase(t, "stop-waitsync", 60*time.Second, storagev1.PhaseCompleted)
		w.assertSettled(smallVolSATA1, 1, "pool-nvme-")
		w.checkInvariant()
	})

	t.Run("killed during ScalingDown after the decrease", func(t *testing.T) {
		w := newMigrationWorld(t, "small")
		w.watch(smallVolSATA1)
		decrease := isReplicaCount(smallVolSATA1, 1)
		w.crashOn(func(r *http.Request) bool {
			return decrease(r) && phaseIs("crash-scaledown", storagev1.PhaseScalingDown)
		})
		w.runClock(time.Second, 5*time.Millisecond)
		w.startOperator()
		w.create("crash-scaledown", promote)
		w.awaitCrash(60 * time.Second)
		if tm := getTM(t, "crash-scaledown"); tm.Status.Phase != storagev1.PhaseScalingDown {
			t.Fatalf("crashed in phase %s, want ScalingDown", tm.Status.Phase)
		}
		if v := w.volume(smallVolSATA1); v.Spec.NumReplicas != 1 {
			t.Fatalf("the decrease should have taken effect: num_replicas %d", v.Spec.NumReplicas)
		}

		w.recover()
		w.startOperator()
		tm := awaitPhase(t, "crash-scaledown", 60*time.Second, storagev1.PhaseCompleted)
		w.assertSettled(smallVolSATA1, 1, "pool-nvme-")
		w.checkInvariant()
		if len(tm.Status.Checkpoint.RemovedSourceReplicas) != 1 || tm.Status.Rounds != 1 {
			t.Fatalf("the restarted operator should work out that the source went: %+v", tm.Status.Checkpoint)
		}
	})

	t.Run("stopped while WaitingSync, deadline passes meanwhile", func(t *testing.T) {
		w := newMigrationWorld(t, "small")
		w.watch(smallVolNVMe1) // 50GiB: the rebuild takes about 8.5 minutes
		source := replicaIDsOf(w.volume(smallVolNVMe1))
		w.startOperator()
		w.create("stop-timeout", storagev1.TierMigrationSpec{
			VolumeID: smallVolNVMe1, TargetTier: storagev1.TierSATA, TargetPoolSelector: coldPools, SourcePoolSelector: hotPools,
			AllowRepublish: true, Timeout: "3m",
		})
		awaitPhase(t, "stop-timeout", 30*time.Second, storagev1.PhaseWaitingSync)
		w.stopOperator()
		w.clk.Step(4 * time.Minute)
		w.observe()
		if v := w.volume(smallVolNVMe1); v.Spec.NumReplicas != 2 {
			t.Fatalf("mid-rebuild the volume should have its extra replica: %v", poolsOfVolume(v))
		}

		w.startOperator()
		tm := awaitPhase(t, "stop-timeout", 60*time.Second, storagev1.PhaseFailed)
		v := w.assertSettled(smallVolNVMe1, 1, "pool-nvme-1")
		if !slices.Equal(replicaIDsOf(v), source) {
			t.Fatalf("replicas %v, want the source %v", replicaIDsOf(v), source)
		}
		w.checkInvariant()
		if _, reason, _ := succeededReason(tm); reason != "Timeout" {
			t.Fatalf("reason %s%s", reason, stepsOf(tm))
		}
	})
}

func awaitEvent(t *testing.T, tmName, reason string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		return slices.Contains(eventReasons(t, "TierMigration", tmName), reason), nil
	})
	if err != nil {
		t.Fatalf("no %s event on TierMigration %s: %v", reason, tmName, eventReasons(t, "TierMigration", tmName))
	}
}
