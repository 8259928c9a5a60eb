package approval

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/operator"
)

func tm(name, policy string, phase storagev1.MigrationPhase) *storagev1.TierMigration {
	return &storagev1.TierMigration{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{storagev1.LabelPolicy: policy}},
		Spec:       storagev1.TierMigrationSpec{PolicyName: policy, ApprovalRequired: true, TargetTier: storagev1.TierNVMe},
		Status:     storagev1.TierMigrationStatus{Phase: phase},
	}
}

func annotations(t *testing.T, c client.Client, name string) map[string]string {
	t.Helper()
	var got storagev1.TierMigration
	if err := c.Get(context.Background(), client.ObjectKey{Name: name}, &got); err != nil {
		t.Fatal(err)
	}
	return got.Annotations
}

func TestApproveRejectAndPolicy(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientBuilder().WithScheme(operator.NewScheme()).WithObjects(
		tm("a", "p", storagev1.PhaseWaitingApproval), tm("b", "p", ""), tm("c", "p", storagev1.PhasePending),
		tm("d", "q", storagev1.PhaseWaitingApproval), tm("e", "p", storagev1.PhaseWaitingApproval),
	).Build()

	if err := Reject(ctx, c, "e"); err != nil {
		t.Fatal(err)
	}
	if a := annotations(t, c, "e"); a[storagev1.AnnotationRejected] != "true" || a[storagev1.AnnotationApproved] != "" {
		t.Fatalf("rejected: %v", a)
	}
	names, err := ApprovePolicy(ctx, c, "p")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != "a,b" {
		t.Fatalf("approved %v, want a, b (c is Pending, d another policy's, e rejected)", names)
	}
	for _, n := range []string{"a", "b"} {
		if annotations(t, c, n)[storagev1.AnnotationApproved] != "true" {
			t.Fatalf("%s not approved", n)
		}
	}
	if annotations(t, c, "d")[storagev1.AnnotationApproved] != "" {
		t.Fatal("another policy's migration approved")
	}
	if err := ApproveByName(ctx, c, "c"); err == nil || !strings.Contains(err.Error(), "not waiting for approval: its phase is Pending") {
		t.Fatalf("approving a Pending migration: %v", err)
	}
	if err := ApproveByName(ctx, c, "zz"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("approving a missing migration: %v", err)
	}
	if err := ApproveByName(ctx, c, "d"); err != nil {
		t.Fatal(err)
	}
}
