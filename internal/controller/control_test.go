package controller

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"

	storagev1 "github.com/billyronks/couchestor/api/v1"
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
