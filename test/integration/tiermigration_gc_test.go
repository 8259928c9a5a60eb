package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/controller"
)

// The collector of finished TierMigrations against the real API server: with a
// TTL of 7 days, no per-volume count and a policy whose cooldown is 30 days, it deletes what
// has expired and keeps what is unfinished, held by a finalizer, young, a cooldown source or in
// the policy's history; it runs at start-up; a second pass deletes nothing more.
func TestTierMigrationGCOnTheAPIServer(t *testing.T) {
	requireAPIServer(t)
	c := ctx(t)
	now := time.Now()
	const policy = "gc-policy"
	u := samplePolicy(t, policy)
	u.Object["spec"].(map[string]any)["cooldownPeriod"] = "720h"
	if err := k8sClient.Create(c, u); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), u) })

	type tmCase struct {
		name  string
		vol   byte // volume uuid ends in this digit
		phase storagev1.MigrationPhase
		ended time.Duration // before now; 0: no completion time
		edit  func(*storagev1.TierMigration)
		keep  bool
	}
	dry := func(tm *storagev1.TierMigration) { tm.Spec.DryRun = true }
	cases := []tmCase{
		{"gc-a-50d", 'a', storagev1.PhaseCompleted, 50 * 24 * time.Hour, nil, false},
		{"gc-a-40d", 'a', storagev1.PhaseFailed, 40 * 24 * time.Hour, nil, false},
		{"gc-a-20d", 'a', storagev1.PhaseCompleted, 20 * 24 * time.Hour, nil, true}, // cooldown source (30d)
		{"gc-b-12d", 'b', storagev1.PhaseCompleted, 12 * 24 * time.Hour, nil, false},
		{"gc-b-10d", 'b', storagev1.PhaseCompleted, 10 * 24 * time.Hour, nil, true},   // newest real: cooldown of real moves
		{"gc-b-8d-dry", 'b', storagev1.PhaseCompleted, 8 * 24 * time.Hour, dry, true}, // newest: cooldown of dry runs
		{"gc-c-45d", 'c', storagev1.PhaseFailed, 45 * 24 * time.Hour, nil, false},     // newest, but past every cooldown
		{"gc-d-held", 'd', storagev1.PhaseCompleted, 50 * 24 * time.Hour, func(tm *storagev1.TierMigration) {
			tm.Finalizers = []string{"example.com/hold"}
		}, true},
		{"gc-e-running", 'e', storagev1.PhaseScalingUp, 0, nil, true},
		{"gc-f-3d", 'f', storagev1.PhaseCompleted, 3 * 24 * time.Hour, nil, true}, // younger than the TTL
		{"gc-g-history", '9', storagev1.PhaseCompleted, 50 * 24 * time.Hour, func(tm *storagev1.TierMigration) {
			tm.Spec.TargetPoolSelector = nil
			tm.Spec.PolicyName = policy
			tm.Labels = map[string]string{storagev1.LabelPolicy: policy}
		}, true},
	}
	for _, tc := range cases {
		tm := &storagev1.TierMigration{
			ObjectMeta: metav1.ObjectMeta{Name: tc.name},
			Spec: storagev1.TierMigrationSpec{
				VolumeID:           fmt.Sprintf("0d4c7f4e-6a0b-4b8e-9f53-3c1f7a1e2d1%c", tc.vol),
				TargetTier:         storagev1.TierSATA,
				TargetPoolSelector: hotPools,
			},
		}
		if tc.edit != nil {
			tc.edit(tm)
		}
		if err := k8sClient.Create(c, tm); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		t.Cleanup(func() {
			bg := context.Background()
			var got storagev1.TierMigration
			if k8sClient.Get(bg, types.NamespacedName{Name: tc.name}, &got) == nil && len(got.Finalizers) > 0 {
				got.Finalizers = nil
				_ = k8sClient.Update(bg, &got)
			}
			_ = k8sClient.Delete(bg, &storagev1.TierMigration{ObjectMeta: metav1.ObjectMeta{Name: tc.name}})
		})
		tm.Status.Phase = tc.phase
		start := metav1.NewTime(now.Add(-tc.ended - time.Hour))
		tm.Status.StartTime = &start
		if tc.ended > 0 {
			end := metav1.NewTime(now.Add(-tc.ended))
			tm.Status.CompletionTime = &end
		}
		if err := k8sClient.Status().Update(c, tm); err != nil {
			t.Fatalf("%s status: %v", tc.name, err)
		}
	}

	ours := func() []string {
		var list storagev1.TierMigrationList
		if err := k8sClient.List(c, &list); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tm := range list.Items {
			if strings.HasPrefix(tm.Name, "gc-") {
				names = append(names, tm.Name)
			}
		}
		slices.Sort(names)
		return names
	}
	var want, gone []string
	for _, tc := range cases {
		if tc.keep {
			want = append(want, tc.name)
		} else {
			gone = append(gone, tc.name)
		}
	}
	slices.Sort(want)

	// As a manager Runnable: the first pass runs at start-up.
	before := testutil.ToFloat64(controller.TierMigrationsDeletedTotal)
	gc := &controller.TierMigrationGC{Client: k8sClient, TTL: 7 * 24 * time.Hour, PerVolume: 0, Interval: time.Hour}
	if !gc.NeedLeaderElection() {
		t.Fatal("the collector must run on the leader only")
	}
	runCtx, stop := context.WithCancel(c)
	done := make(chan error, 1)
	go func() { done <- gc.Start(runCtx) }()
	err := wait.PollUntilContextTimeout(c, 50*time.Millisecond, 20*time.Second, true, func(context.Context) (bool, error) {
		return slices.Equal(ours(), want), nil
	})
	if err != nil {
		stop()
		t.Fatalf("after the start-up pass: left %v, want %v", ours(), want)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Start returned %v", err)
	}
	if got := testutil.ToFloat64(controller.TierMigrationsDeletedTotal) - before; got < float64(len(gone)) {
		t.Fatalf("storage_operator_tiermigrations_deleted_total grew by %v, want at least %d (%v)", got, len(gone), gone)
	}

	// A second pass finds nothing more of ours to delete.
	res, err := gc.Collect(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range res.Deleted {
		if strings.HasPrefix(n, "gc-") {
			t.Fatalf("the second pass deleted %s", n)
		}
	}
	if got := ours(); !slices.Equal(got, want) {
		t.Fatalf("after the second pass: left %v, want %v", got, want)
	}

	// Once the policy is gone, its history and its cooldown no longer hold anything back.
	if err := k8sClient.Delete(c, u); err != nil {
		t.Fatal(err)
	}
	if _, err := gc.Collect(c); err != nil {
		t.Fatal(err)
	}
	left := ours()
	for _, n := range []string{"gc-g-history", "gc-a-20d", "gc-b-10d", "gc-b-8d-dry"} {
		if slices.Contains(left, n) {
			t.Errorf("%s should go once no policy needs it; left %v", n, left)
		}
	}
	for _, n := range []string{"gc-d-held", "gc-e-running", "gc-f-3d"} {
		if !slices.Contains(left, n) {
			t.Errorf("%s should stay (held, running, young); left %v", n, left)
		}
	}
}
