package clitest

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

// approve sets the approval annotation on a migration waiting for approval; reject sets the
// rejection one; a migration not waiting is refused; bad usage exits 2 with one line.
func TestApproveAndReject(t *testing.T) {
	requireAPIServer(t)
	waiting := newMigration(t, "cli-approve-1", "0c4f3a52-7d1e-4b6a-9a0e-0000000000e1", "pvc-e1", storagev1.TierNVMe)
	waiting.Status.Phase = storagev1.PhaseWaitingApproval
	setStatus(t, waiting)
	other := newMigration(t, "cli-approve-2", "0c4f3a52-7d1e-4b6a-9a0e-0000000000e2", "pvc-e2", storagev1.TierSATA)
	other.Status.Phase = storagev1.PhaseWaitingApproval
	setStatus(t, other)
	running := newMigration(t, "cli-approve-3", "0c4f3a52-7d1e-4b6a-9a0e-0000000000e3", "pvc-e3", storagev1.TierSATA)
	running.Status.Phase = storagev1.PhaseScalingUp
	setStatus(t, running)

	if r := kc(t, time.Time{}, "approve", "cli-approve-1"); r.code != 0 || !strings.Contains(r.out, "cli-approve-1 approved") {
		t.Fatalf("approve: %+v", r)
	}
	if r := kc(t, time.Time{}, "reject", "cli-approve-2"); r.code != 0 || !strings.Contains(r.out, "cli-approve-2 rejected") {
		t.Fatalf("reject: %+v", r)
	}
	for name, key := range map[string]string{"cli-approve-1": storagev1.AnnotationApproved, "cli-approve-2": storagev1.AnnotationRejected} {
		got := &storagev1.TierMigration{}
		if err := k8sClient.Get(ctx(t), types.NamespacedName{Name: name}, got); err != nil {
			t.Fatal(err)
		}
		if got.Annotations[key] != "true" {
			t.Errorf("%s: annotations %v, want %s=true", name, got.Annotations, key)
		}
	}
	if r := kc(t, time.Time{}, "approve", "cli-approve-3"); r.code != 1 {
		t.Errorf("approving a migration in ScalingUp: %+v, want exit 1", r)
	}
	oneErrorLine(t, kc(t, time.Time{}, "approve"), 2, "--policy")
	oneErrorLine(t, kc(t, time.Time{}, "approve", "x", "--policy", "p"), 2, "--policy")
	oneErrorLine(t, kc(t, time.Time{}, "approve", "no-such-migration"), 1, "not found")
	oneErrorLine(t, kc(t, time.Time{}, "backtest"), 2, "--policy")
	oneErrorLine(t, kc(t, time.Time{}, "backtest", "--policy", "p", "--from", "yesterday"), 2, "--from")
	oneErrorLine(t, kc(t, time.Time{}, "backtest", "--policy", "p", "--grid-low", "1,2"), 2, "--grid-high")
}
