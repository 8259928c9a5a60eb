package controller

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/tiering"
)

// A Manual policy creates its TierMigrations needing approval, says so in its Events, and once
// the migration waits, counts it in status.waitingApproval and keeps the volume where it is.
func TestManualPolicyAsksForApproval(t *testing.T) {
	policy := enabledPolicy("gold", "10m")
	t.Cleanup(func() { ForgetPolicy("gold") }) // metrics_obs_test counts the series left
	policy.Spec.Approval, policy.Spec.ApprovalTimeout = storagev1.ApprovalManual, "2h"
	policy.Spec.MaxConcurrentMigrations = 1
	o, _, _, kube, _ := world(t, 3, policy)
	if _, err := o.Observe(context.Background()); err != nil {
		t.Fatal(err)
	}
	r, ev, cr := reconcilerFor(t, o, kube)
	reconcileOnce(t, r, "gold")
	// Requests for approval hold no slot: all three, though maxConcurrentMigrations is 1.
	if len(cr.created) != 3 {
		t.Fatalf("want 3 requests for approval, got %d", len(cr.created))
	}
	for _, tm := range cr.created {
		if !tm.Spec.ApprovalRequired || tm.Spec.ApprovalTimeout != "2h0m0s" {
			t.Fatalf("TierMigration %s: approvalRequired %v, timeout %q", tm.Name, tm.Spec.ApprovalRequired, tm.Spec.ApprovalTimeout)
		}
	}
	if e := ev.on("StoragePolicy", "MigrationPlanned"); len(e) != 3 || !strings.Contains(e[0].note, "Waiting for approval to move") {
		t.Fatalf("policy Events: %+v", e)
	}

	// The migration controller accepted them (the creator stored them): WaitingApproval.
	for _, tm := range cr.created {
		tm.Status.Phase = storagev1.PhaseWaitingApproval
		if err := kube.Status().Update(context.Background(), tm); err != nil {
			t.Fatal(err)
		}
	}
	o.CacheChanged()
	cr.created = nil
	reconcileOnce(t, r, "gold")
	if len(cr.created) != 0 {
		t.Fatalf("asked again for volumes already waiting: %d", len(cr.created))
	}
	var p storagev1.StoragePolicy
	if err := kube.Get(context.Background(), types.NamespacedName{Name: "gold"}, &p); err != nil {
		t.Fatal(err)
	}
	if p.Status.WaitingApproval != 3 || p.Status.ActiveMigrations != 0 {
		t.Fatalf("waitingApproval %d, activeMigrations %d: want 3 and 0", p.Status.WaitingApproval, p.Status.ActiveMigrations)
	}
	if c := meta.FindStatusCondition(p.Status.Conditions, storagev1.ConditionReady); c == nil || !strings.Contains(c.Message, "3 waiting for approval") {
		t.Fatalf("Ready: %+v", c)
	}
}

// Outside its windows a policy starts nothing and its status says when the next window opens;
// inside one it moves and says when the window closes.
func TestPolicyWindowsInStatus(t *testing.T) {
	policy := enabledPolicy("gold", "10m")
	t.Cleanup(func() { ForgetPolicy("gold") })
	// The world's clock is Saturday 2025-03-01 12:00 UTC, 13:00 in Berlin.
	policy.Spec.MigrationWindows = []storagev1.MigrationWindow{{Days: []storagev1.Weekday{"Sat"}, Start: "14:00", Duration: "2h", TimeZone: "Europe/Berlin"}}
	o, _, _, kube, clk := world(t, 1, policy)
	if _, err := o.Observe(context.Background()); err != nil {
		t.Fatal(err)
	}
	r, _, cr := reconcilerFor(t, o, kube)
	r.Clock = clk
	reconcileOnce(t, r, "gold")
	if len(cr.created) != 0 {
		t.Fatal("a migration started outside every window")
	}
	get := func() storagev1.StoragePolicyStatus {
		var p storagev1.StoragePolicy
		if err := kube.Get(context.Background(), types.NamespacedName{Name: "gold"}, &p); err != nil {
			t.Fatal(err)
		}
		return p.Status
	}
	st := get()
	opens := time.Date(2025, 3, 1, 13, 0, 0, 0, time.UTC)
	if st.NextWindowOpens == nil || !st.NextWindowOpens.Time.Equal(opens) || st.WindowCloses != nil || st.PlannedMigrations != 1 {
		t.Fatalf("status outside the window: next %v, closes %v, planned %d", st.NextWindowOpens, st.WindowCloses, st.PlannedMigrations)
	}
	clk.SetTime(opens.Add(time.Minute))
	if _, err := o.Observe(context.Background()); err != nil {
		t.Fatal(err)
	}
	reconcileOnce(t, r, "gold")
	if len(cr.created) != 1 {
		t.Fatal("no migration inside the window")
	}
	st = get()
	if st.NextWindowOpens != nil || st.WindowCloses == nil || !st.WindowCloses.Time.Equal(opens.Add(2*time.Hour)) {
		t.Fatalf("status inside the window: next %v, closes %v", st.NextWindowOpens, st.WindowCloses)
	}
}

// A migration waiting for approval holds no slot; one that expired starts no cooldown; one
// that was rejected does.
func TestMigrationObservationOfApprovals(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	tm := func(name, vol string, phase storagev1.MigrationPhase, reason string) *storagev1.TierMigration {
		m := &storagev1.TierMigration{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{storagev1.LabelPolicy: "gold"}, CreationTimestamp: metav1.NewTime(t0)},
			Spec:       storagev1.TierMigrationSpec{VolumeID: vol, TargetTier: storagev1.TierNVMe, ApprovalRequired: true},
			Status:     storagev1.TierMigrationStatus{Phase: phase},
		}
		if phase.IsTerminal() {
			m.Status.CompletionTime = &metav1.Time{Time: t0.Add(time.Hour)}
			m.Status.Conditions = []metav1.Condition{{Type: storagev1.MigrationConditionSucceeded, Status: metav1.ConditionFalse, Reason: reason}}
		}
		return m
	}
	c := &cacheParts{migrations: map[string]tiering.MigrationObservation{}, inFlight: tiering.InFlight{ByPolicy: map[string]int{}}}
	for _, m := range []*storagev1.TierMigration{
		tm("new", "v1", "", ""),
		tm("waiting", "v2", storagev1.PhaseWaitingApproval, ""),
		tm("expired", "v3", storagev1.PhaseFailed, storagev1.ReasonApprovalExpired),
		tm("rejected", "v4", storagev1.PhaseFailed, storagev1.ReasonRejected),
		tm("approved", "v5", storagev1.PhasePending, ""),
	} {
		addMigration(c, m)
	}
	if c.inFlight.Global != 1 || c.inFlight.ByPolicy["gold"] != 1 {
		t.Errorf("slots %+v: only the approved, Pending one counts", c.inFlight)
	}
	if c.migrations["v1"].WaitingApproval != "new" || c.migrations["v2"].WaitingApproval != "waiting" || c.migrations["v5"].WaitingApproval != "" {
		t.Errorf("waiting: %+v", c.migrations)
	}
	if v3 := c.migrations["v3"]; !v3.LastReal.IsZero() || !v3.LastAny.IsZero() || v3.InFlight {
		t.Errorf("an expired request starts no cooldown: %+v", v3)
	}
	if v4 := c.migrations["v4"]; !v4.LastReal.Equal(t0.Add(time.Hour)) {
		t.Errorf("a rejection starts a cooldown: %+v", v4)
	}
}
