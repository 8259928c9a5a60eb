package controller

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

func TestRecordAndForgetPolicy(t *testing.T) {
	p := &storagev1.StoragePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "rec"},
		Spec:       storagev1.StoragePolicySpec{HighWatermarkIOPS: 5000, LowWatermarkIOPS: 500, Enabled: ptr.To(false)},
		Status: storagev1.StoragePolicyStatus{VolumesWatched: 5, NVMeVolumes: 2, SATAVolumes: 2, UnknownVolumes: 3, PlannedMigrations: 1,
			Conditions: []metav1.Condition{{Type: storagev1.ConditionReady, Status: metav1.ConditionFalse, Reason: storagev1.ReasonDisabled}}},
	}
	RecordPolicy(p)
	if v := testutil.ToFloat64(PolicyVolumes.WithLabelValues("rec", TierLabelOther)); v != 1 {
		t.Errorf("other tier %v, want 1", v)
	}
	if v := testutil.ToFloat64(PolicyUnknownVolumes.WithLabelValues("rec")); v != 3 {
		t.Errorf("unknown %v", v)
	}
	if v := testutil.ToFloat64(PolicyEnabled.WithLabelValues("rec")); v != 0 {
		t.Errorf("enabled %v", v)
	}
	// A new reason replaces the old series.
	p.Status.Conditions[0] = metav1.Condition{Type: storagev1.ConditionReady, Status: metav1.ConditionTrue, Reason: storagev1.ReasonEvaluated}
	RecordPolicy(p)
	if n := testutil.CollectAndCount(PolicyCondition, "storage_operator_policy_condition"); n < 3 {
		t.Fatalf("%d condition series", n)
	}
	m, err := PolicyCondition.GetMetricWith(prometheus.Labels{"policy": "rec", "condition": "Ready", "reason": "Evaluated"})
	if err != nil || testutil.ToFloat64(m) != 1 {
		t.Errorf("Ready Evaluated: %v", err)
	}
	if PolicyCondition.Delete(prometheus.Labels{"policy": "rec", "condition": "Ready", "reason": "Disabled"}) {
		t.Error("the Disabled series survived the reason change")
	}
	ForgetPolicy("rec")
	for _, c := range []prometheus.Collector{PolicyVolumes, PolicyUnknownVolumes, PolicyCondition, PolicyEnabled, PolicyHighWatermark} {
		if n := testutil.CollectAndCount(c); n != 0 {
			t.Errorf("%d series left after ForgetPolicy", n)
		}
	}
}

// The TierMigration gauges are read from the reader at scrape time: a change in the cache shows
// at the next scrape, with no reconcile in between.
func TestMigrationMetricsReadTheCacheAtScrapeTime(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	ended := metav1.NewTime(clk.Now().Add(-2 * time.Hour))
	kept := metav1.NewTime(clk.Now().Add(-time.Minute))
	kube := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(
		&storagev1.TierMigration{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Spec: storagev1.TierMigrationSpec{VolumeID: "1", TargetTier: storagev1.TierNVMe},
			Status: storagev1.TierMigrationStatus{Phase: storagev1.PhaseScalingUp, Deadline: &metav1.Time{Time: clk.Now()}}},
		&storagev1.TierMigration{ObjectMeta: metav1.ObjectMeta{Name: "b"}, Spec: storagev1.TierMigrationSpec{VolumeID: "2"}},
		&storagev1.TierMigration{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Spec: storagev1.TierMigrationSpec{VolumeID: "3"},
			Status: storagev1.TierMigrationStatus{Phase: storagev1.PhaseCompleted, CompletionTime: &ended}},
		&storagev1.TierMigration{ObjectMeta: metav1.ObjectMeta{Name: "d"}, Spec: storagev1.TierMigrationSpec{VolumeID: "4", PolicyName: "gold", TargetTier: storagev1.TierSATA},
			Status: storagev1.TierMigrationStatus{Phase: storagev1.PhaseFailed, CompletionTime: &kept, KeptReplicas: []storagev1.KeptReplica{{ID: "r"}}}},
	).Build()
	c := &MigrationCollector{}
	c.Use(kube, clk)
	want := `
# HELP storage_operator_active_migrations Migrations in progress.
# TYPE storage_operator_active_migrations gauge
storage_operator_active_migrations 1
# HELP storage_operator_tiermigrations TierMigration objects by phase (WaitingApproval, Pending, Analyzing, ScalingUp, WaitingSync, ScalingDown, RollingBack, Completed, Failed).
# TYPE storage_operator_tiermigrations gauge
storage_operator_tiermigrations{phase="Analyzing"} 0
storage_operator_tiermigrations{phase="Completed"} 1
storage_operator_tiermigrations{phase="Failed"} 1
storage_operator_tiermigrations{phase="Pending"} 1
storage_operator_tiermigrations{phase="RollingBack"} 0
storage_operator_tiermigrations{phase="ScalingDown"} 0
storage_operator_tiermigrations{phase="ScalingUp"} 1
storage_operator_tiermigrations{phase="WaitingApproval"} 0
storage_operator_tiermigrations{phase="WaitingSync"} 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "storage_operator_active_migrations", "storage_operator_tiermigrations"); err != nil {
		t.Fatal(err)
	}
	// c ended two hours ago: no info series; a and b have not ended, d ended a minute ago.
	if n := testutil.CollectAndCount(c, "storage_operator_tiermigration_info"); n != 3 {
		t.Errorf("%d info series, want 3", n)
	}
	if n := testutil.CollectAndCount(c, "storage_operator_tiermigration_deadline_timestamp_seconds"); n != 1 {
		t.Errorf("%d deadline series, want 1 (a)", n)
	}
	if err := testutil.CollectAndCompare(c, strings.NewReader(`
# HELP storage_operator_tiermigration_info Always 1, one series per TierMigration that has not ended or ended less than an hour ago: its policy, volume (pv_name, as Mayastor's exporter labels it), target tier and phase.
# TYPE storage_operator_tiermigration_info gauge
storage_operator_tiermigration_info{phase="Failed",policy="gold",pv_name="pvc-4",target_tier="sata",tiermigration="d"} 1
storage_operator_tiermigration_info{phase="Pending",policy="",pv_name="pvc-2",target_tier="",tiermigration="b"} 1
storage_operator_tiermigration_info{phase="ScalingUp",policy="",pv_name="pvc-1",target_tier="nvme",tiermigration="a"} 1
`), "storage_operator_tiermigration_info"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(onlyFamily(c, "storage_operator_kept_extra_replicas")); n != 1 {
		t.Errorf("kept extra replicas %v, want 1 (d)", n)
	}

	// The next scrape sees the cache as it is then.
	a := &storagev1.TierMigration{}
	if err := kube.Get(context.Background(), client.ObjectKey{Name: "a"}, a); err != nil {
		t.Fatal(err)
	}
	a.Status.Phase, a.Status.CompletionTime = storagev1.PhaseCompleted, &kept
	if err := kube.Update(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(onlyFamily(c, "storage_operator_active_migrations")); n != 0 {
		t.Errorf("active migrations %v after a ended, want 0", n)
	}
	// Turned off, it exports nothing.
	c.Use(nil, nil)
	if n := testutil.CollectAndCount(c); n != 0 {
		t.Errorf("%d series without a reader", n)
	}
}

// onlyFamily is a collector of c's series of one family.
func onlyFamily(c prometheus.Collector, name string) prometheus.Collector {
	return familyFilter{c, name}
}

type familyFilter struct {
	prometheus.Collector
	name string
}

func (f familyFilter) Collect(ch chan<- prometheus.Metric) {
	all := make(chan prometheus.Metric)
	go func() { f.Collector.Collect(all); close(all) }()
	for m := range all {
		if strings.Contains(m.Desc().String(), `fqName: "`+f.name+`"`) {
			ch <- m
		}
	}
}
