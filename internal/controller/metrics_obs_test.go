package controller

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

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

func TestRecordMigrations(t *testing.T) {
	now := time.Now()
	ended := metav1.NewTime(now.Add(-2 * time.Hour))
	RecordMigrations([]storagev1.TierMigration{
		{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Spec: storagev1.TierMigrationSpec{VolumeID: "1", TargetTier: storagev1.TierNVMe},
			Status: storagev1.TierMigrationStatus{Phase: storagev1.PhaseScalingUp, Deadline: &metav1.Time{Time: now}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "b"}, Spec: storagev1.TierMigrationSpec{VolumeID: "2"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Spec: storagev1.TierMigrationSpec{VolumeID: "3"},
			Status: storagev1.TierMigrationStatus{Phase: storagev1.PhaseCompleted, CompletionTime: &ended}},
	}, now)
	defer RecordMigrations(nil, now)
	for phase, want := range map[string]float64{"ScalingUp": 1, "Pending": 1, "Completed": 1, "Failed": 0} {
		if v := testutil.ToFloat64(TierMigrationsByPhase.WithLabelValues(phase)); v != want {
			t.Errorf("phase %s: %v, want %v", phase, v, want)
		}
	}
	if n := testutil.CollectAndCount(TierMigrationInfo); n != 2 {
		t.Errorf("%d info series, want 2 (c ended two hours ago)", n)
	}
	if v := testutil.ToFloat64(TierMigrationInfo.WithLabelValues("a", "", "pvc-1", "nvme", "ScalingUp")); v != 1 {
		t.Errorf("info of a: %v", v)
	}
	if n := testutil.CollectAndCount(TierMigrationDeadline); n != 1 {
		t.Errorf("%d deadline series, want 1", n)
	}
}
