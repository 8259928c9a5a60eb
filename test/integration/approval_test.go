package integration

import (
	"context"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/approval"
	"github.com/billyronks/couchestor/internal/migration"
)

// waitingSpec asks for volumeID to move to NVMe once approved.
func waitingSpec(volumeID, timeout string) storagev1.TierMigrationSpec {
	s := promote(volumeID)
	s.ApprovalRequired, s.ApprovalTimeout = true, timeout
	return s
}

// A migration that needs approval waits in WaitingApproval with no Mayastor write and no slot
// (another migration takes the only slot meanwhile); approved through internal/approval, it goes
// through Pending and completes.
func TestApprovalApprove(t *testing.T) {
	w := newMigrationWorld(t, "small")
	w.opts.MaxConcurrentMigrations = 1
	w.watch(smallVolSATA1)
	w.watch(smallVolNVMe1)
	createPV(t, smallVolSATA1, "db-data")
	w.startOperator()

	w.create("approve-db", waitingSpec(smallVolSATA1, "10h"))
	tm := awaitPhase(t, "approve-db", 20*time.Second, storagev1.PhaseWaitingApproval)
	if tm.Status.ApprovalExpires == nil || tm.Status.StartTime != nil {
		t.Fatalf("approvalExpires %v, startTime %v: want an expiry and no start", tm.Status.ApprovalExpires, tm.Status.StartTime)
	}
	if s, reason, _ := succeededReason(tm); s != metav1.ConditionUnknown || reason != storagev1.ReasonApprovalRequired {
		t.Fatalf("Succeeded %s/%s, want Unknown/ApprovalRequired", s, reason)
	}
	time.Sleep(300 * time.Millisecond) // a fixed wait: checks that no write happens meanwhile
	if n := w.writeCount(); n != 0 {
		t.Fatalf("%d Mayastor writes while waiting for approval", n)
	}

	// The only slot is free: a migration without approval takes it.
	demote := storagev1.TierMigrationSpec{VolumeID: smallVolNVMe1, TargetTier: storagev1.TierSATA, TargetPoolSelector: coldPools,
		SourcePoolSelector: hotPools, AllowRepublish: true, Timeout: "10h"}
	w.create("demote-other", demote)
	w.runClock(time.Second, 5*time.Millisecond)
	awaitPhase(t, "demote-other", 60*time.Second, storagev1.PhaseCompleted)
	if got := getTM(t, "approve-db").Status.Phase; got != storagev1.PhaseWaitingApproval {
		t.Fatalf("unapproved migration in phase %s", got)
	}

	if err := approval.ApproveByName(context.Background(), k8sClient, "approve-db"); err != nil {
		t.Fatal(err)
	}
	tm = awaitPhase(t, "approve-db", 60*time.Second, storagev1.PhaseCompleted)
	if got, want := phasesOf(tm)[:3], []storagev1.MigrationPhase{"WaitingApproval", "Pending", "Analyzing"}; !slices.Equal(got, want) {
		t.Fatalf("phases %v, want to start %v%s", phasesOf(tm), want, stepsOf(tm))
	}
	if s, reason, _ := succeededReason(tm); s != metav1.ConditionTrue || reason != "Moved" {
		t.Fatalf("Succeeded %s/%s", s, reason)
	}
	w.assertSettled(smallVolSATA1, 1, "pool-nvme-")
	w.checkInvariant()
	reasons := eventReasons(t, "TierMigration", "approve-db")
	for _, want := range []string{storagev1.ReasonApprovalRequired, storagev1.ReasonApproved} {
		if !slices.Contains(reasons, want) {
			t.Errorf("no %s Event on the TierMigration: %v", want, reasons)
		}
	}
	if err := approval.ApproveByName(context.Background(), k8sClient, "approve-db"); err == nil {
		t.Fatal("approving a completed migration succeeded")
	}
}

// A rejected migration ends Failed (Rejected) without a Mayastor write or a counted outcome.
func TestApprovalReject(t *testing.T) {
	w := newMigrationWorld(t, "small")
	w.watch(smallVolSATA1)
	w.startOperator()
	failed := outcomes("failed")

	w.create("reject-db", waitingSpec(smallVolSATA1, "10h"))
	awaitPhase(t, "reject-db", 20*time.Second, storagev1.PhaseWaitingApproval)
	if err := approval.Reject(context.Background(), k8sClient, "reject-db"); err != nil {
		t.Fatal(err)
	}
	tm := awaitPhase(t, "reject-db", 20*time.Second, storagev1.PhaseFailed)
	if s, reason, _ := succeededReason(tm); s != metav1.ConditionFalse || reason != storagev1.ReasonRejected {
		t.Fatalf("Succeeded %s/%s, want False/Rejected%s", s, reason, stepsOf(tm))
	}
	if migration.ApprovalExpired(tm) {
		t.Fatal("a rejection read as an expiry (it must start a cooldown)")
	}
	time.Sleep(200 * time.Millisecond) // a fixed wait: checks that no write happens meanwhile
	if n := w.writeCount(); n != 0 {
		t.Fatalf("%d Mayastor writes for a rejected migration", n)
	}
	if got := outcomes("failed") - failed; got != 0 {
		t.Fatalf("a rejection counted as %v failed migrations", got)
	}
	if len(getTM(t, "reject-db").Finalizers) != 0 {
		t.Fatal("the finalizer stays on an ended migration")
	}
}

// Unapproved past its approval timeout (the operator's clock moved on), a migration ends Failed
// (ApprovalExpired), which starts no cooldown.
func TestApprovalExpires(t *testing.T) {
	w := newMigrationWorld(t, "small")
	w.watch(smallVolSATA1)
	w.startOperator()

	w.create("expire-db", waitingSpec(smallVolSATA1, "1h"))
	tm := awaitPhase(t, "expire-db", 20*time.Second, storagev1.PhaseWaitingApproval)
	if want := w.clk.Now().Add(time.Hour); tm.Status.ApprovalExpires.Sub(want).Abs() > time.Second {
		t.Fatalf("approvalExpires %s, want about %s", tm.Status.ApprovalExpires, want)
	}
	w.clk.Step(59 * time.Minute)
	time.Sleep(2 * time.Second) // a fixed wait, 30 polls of 50ms: the migration looked again and did not expire
	if got := getTM(t, "expire-db").Status.Phase; got != storagev1.PhaseWaitingApproval {
		t.Fatalf("expired early: phase %s", got)
	}
	w.clk.Step(2 * time.Minute)
	tm = awaitPhase(t, "expire-db", 20*time.Second, storagev1.PhaseFailed)
	if s, reason, _ := succeededReason(tm); s != metav1.ConditionFalse || reason != storagev1.ReasonApprovalExpired {
		t.Fatalf("Succeeded %s/%s, want False/ApprovalExpired%s", s, reason, stepsOf(tm))
	}
	if !migration.ApprovalExpired(tm) {
		t.Fatal("migration.ApprovalExpired does not recognise it")
	}
	if n := w.writeCount(); n != 0 {
		t.Fatalf("%d Mayastor writes for an expired migration", n)
	}
	if err := approval.ApproveByName(context.Background(), k8sClient, "expire-db"); err == nil {
		t.Fatal("approving an expired migration succeeded")
	}
}
