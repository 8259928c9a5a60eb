package controller

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/migration"
	"github.com/billyronks/couchestor/internal/tiering"
)

func stay(id, reason string) tiering.VolumeDecision {
	return tiering.VolumeDecision{VolumeID: id, PVName: "pvc-" + id, Claim: "default/claim-" + id, Action: tiering.ActionStay, Reason: reason, Message: "because " + reason}
}

func moving(id string, action tiering.Action, to storagev1.Tier, reason string) tiering.VolumeDecision {
	d := stay(id, reason)
	d.Action, d.To = action, to
	return d
}

func said(changes []decisionChange) []string {
	var out []string
	for _, c := range changes {
		out = append(out, c.volumeID+": "+c.from.String()+" → "+c.to.String())
	}
	return out
}

// A decision change is said once, when it happens; the first decision seen, an unchanged one
// and a changed sentence alone are not; a second change within the interval waits for the
// interval's end and is said then if it still holds; a flap back within it is never said.
func TestDecisionChangesAreSaidOnceAndRateLimited(t *testing.T) {
	tr := &DecisionTracker{Every: 10 * time.Minute}
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	step := func(at time.Duration, ds ...tiering.VolumeDecision) string {
		return strings.Join(said(tr.update("gold", ds, t0.Add(at))), "; ")
	}
	cases := []struct {
		at   time.Duration
		ds   []tiering.VolumeDecision
		want string
	}{
		{0, []tiering.VolumeDecision{stay("a", storagev1.ReasonBetweenWatermarks), stay("b", storagev1.ReasonAlreadyOnTargetTier)}, ""},
		{time.Minute, []tiering.VolumeDecision{stay("a", storagev1.ReasonBetweenWatermarks), stay("b", storagev1.ReasonAlreadyOnTargetTier)}, ""},
		// The sentence alone changed: no Event.
		{2 * time.Minute, []tiering.VolumeDecision{func() tiering.VolumeDecision {
			d := stay("a", storagev1.ReasonBetweenWatermarks)
			d.Message = "other"
			return d
		}(),
			stay("b", storagev1.ReasonAlreadyOnTargetTier)}, ""},
		{3 * time.Minute, []tiering.VolumeDecision{moving("a", tiering.ActionWait, storagev1.TierSATA, storagev1.ReasonConcurrencyLimit), stay("b", storagev1.ReasonAlreadyOnTargetTier)},
			"a: Stay (BetweenWatermarks) → Wait to SATA (ConcurrencyLimit)"},
		// Within ten minutes of a's Event: a's next change waits; b's is said.
		{5 * time.Minute, []tiering.VolumeDecision{stay("a", storagev1.ReasonCoolingDown), stay("b", storagev1.ReasonUnknownIOPS)},
			"b: Stay (AlreadyOnTargetTier) → Stay (UnknownIOPS)"},
		{12 * time.Minute, []tiering.VolumeDecision{stay("a", storagev1.ReasonCoolingDown), stay("b", storagev1.ReasonUnknownIOPS)}, ""},
		// Ten minutes after a's Event, its change still holds: said, from what was said last.
		{13 * time.Minute, []tiering.VolumeDecision{stay("a", storagev1.ReasonCoolingDown), stay("b", storagev1.ReasonUnknownIOPS)},
			"a: Wait to SATA (ConcurrencyLimit) → Stay (CoolingDown)"},
		// b flaps and comes back within its interval: never said.
		{14 * time.Minute, []tiering.VolumeDecision{stay("a", storagev1.ReasonCoolingDown), stay("b", storagev1.ReasonAlreadyOnTargetTier)}, ""},
		{15 * time.Minute, []tiering.VolumeDecision{stay("a", storagev1.ReasonCoolingDown), stay("b", storagev1.ReasonUnknownIOPS)}, ""},
		{30 * time.Minute, []tiering.VolumeDecision{stay("a", storagev1.ReasonCoolingDown), stay("b", storagev1.ReasonUnknownIOPS)}, ""},
	}
	for _, c := range cases {
		if got := step(c.at, c.ds...); got != c.want {
			t.Errorf("at +%v: said %q, want %q", c.at, got, c.want)
		}
	}
}

// Changes other Events already say (a move: MigrationPlanned; a bad pin: InvalidPin) are not
// said twice, but count as said; a policy that is not active says nothing per volume and
// keeps its volumes' last decision, so its return to the same decisions is silent too.
func TestDecisionChangesSaidElsewhereOrPolicyWideAreNotSaid(t *testing.T) {
	tr := &DecisionTracker{Every: time.Minute}
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(m int, ds ...tiering.VolumeDecision) []string {
		return said(tr.update("gold", ds, t0.Add(time.Duration(m)*time.Hour)))
	}
	at(0, stay("a", storagev1.ReasonBetweenWatermarks), stay("b", storagev1.ReasonBetweenWatermarks))
	if got := at(1, moving("a", tiering.ActionMove, storagev1.TierSATA, storagev1.ReasonBelowLowWatermark), stay("b", storagev1.ReasonInvalidPin)); got != nil {
		t.Errorf("a move and a bad pin were said again: %q", got)
	}
	if got := at(2, stay("a", storagev1.ReasonMigrationInProgress), stay("b", storagev1.ReasonInvalidPin)); len(got) != 1 ||
		got[0] != "a: Move to SATA (BelowLowWatermark) → Stay (MigrationInProgress)" {
		t.Errorf("after the move: %q", got)
	}
	if got := at(3, stay("a", storagev1.ReasonPolicyNotActive), stay("b", storagev1.ReasonPolicyNotActive)); got != nil {
		t.Errorf("an inactive policy said per volume: %q", got)
	}
	if got := at(4, stay("a", storagev1.ReasonMigrationInProgress), stay("b", storagev1.ReasonInvalidPin)); got != nil {
		t.Errorf("back to the decisions before the policy stopped: %q", got)
	}
	// A volume first seen while its policy is not active: its first active decision is
	// taken as it is.
	at(5, stay("a", storagev1.ReasonMigrationInProgress), stay("b", storagev1.ReasonInvalidPin), stay("c", storagev1.ReasonPolicyNotActive))
	if got := at(6, stay("a", storagev1.ReasonMigrationInProgress), stay("b", storagev1.ReasonInvalidPin), stay("c", storagev1.ReasonAlreadyOnTargetTier)); got != nil {
		t.Errorf("c's first active decision was said: %q", got)
	}
}

// The tracker holds one entry per selected volume (10,000 volumes: 10,000 entries), drops a
// volume its policy no longer selects and a deleted policy's volumes, and keeps another
// policy's.
func TestDecisionTrackerIsBoundedByTheSelectedVolumes(t *testing.T) {
	tr := &DecisionTracker{Every: time.Minute}
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var gold, silver []tiering.VolumeDecision
	for i := range 10_000 {
		gold = append(gold, stay(fmt.Sprintf("g%05d", i), storagev1.ReasonBetweenWatermarks))
	}
	for i := range 5 {
		silver = append(silver, stay(fmt.Sprintf("s%d", i), storagev1.ReasonBetweenWatermarks))
	}
	for range 3 {
		tr.update("gold", gold, now)
		tr.update("silver", silver, now)
	}
	if n := tr.len(); n != 10_005 {
		t.Fatalf("%d entries for 10,005 volumes", n)
	}
	tr.update("gold", gold[:100], now)
	if n := tr.len(); n != 105 {
		t.Fatalf("%d entries after gold dropped 9,900 volumes, want 105", n)
	}
	tr.forget("gold")
	if n := tr.len(); n != 5 {
		t.Fatalf("%d entries after gold was deleted, want silver's 5", n)
	}
}

// A volume two policies select (an overlap) belongs to the one that decided it last: the
// other dropping it keeps it, and it goes when the last one drops it too. Each update sweeps
// only its own policy's volumes.
func TestDecisionTrackerOverlappingPolicies(t *testing.T) {
	tr := &DecisionTracker{Every: time.Minute}
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	shared := []tiering.VolumeDecision{stay("v1", storagev1.ReasonOverlappingPolicies)}
	for range 3 {
		tr.update("a", shared, now)
		tr.update("b", shared, now)
	}
	tr.update("a", nil, now)
	if n := tr.len(); n != 1 {
		t.Fatalf("%d entries after a dropped the volume b decided last, want 1", n)
	}
	tr.update("a", shared, now)
	tr.update("b", nil, now)
	if n := tr.len(); n != 1 {
		t.Fatalf("%d entries after b dropped the volume a decided last, want 1", n)
	}
	tr.update("a", nil, now)
	if n, p := tr.len(), len(tr.decided); n != 0 || p != 0 {
		t.Fatalf("%d entries and %d policies indexed after both dropped the volume, want none", n, p)
	}
}

// Past maxDecisionEventsPerReconcile changes in one reconcile, the rest are said in one Event
// on the policy, not on each PVC.
func TestManyDecisionChangesAreSummedUpOnThePolicy(t *testing.T) {
	scheme := testScheme(t)
	policy := enabledPolicy("gold", "10m")
	var objs []client.Object
	var before, after []tiering.VolumeDecision
	for i := range maxDecisionEventsPerReconcile + 5 {
		id := fmt.Sprintf("v%02d", i)
		objs = append(objs, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "claim-" + id}})
		before = append(before, stay(id, storagev1.ReasonBetweenWatermarks))
		after = append(after, stay(id, storagev1.ReasonUnknownIOPS))
	}
	kube := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()
	ev := &eventLog{}
	r := &StoragePolicyReconciler{Client: kube, Recorder: ev, DecisionEventInterval: time.Minute}
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	r.sayDecisionChanges(context.Background(), policy, before, now)
	r.sayDecisionChanges(context.Background(), policy, after, now.Add(time.Hour))
	onPVCs := ev.on("PersistentVolumeClaim", storagev1.ReasonDecisionChanged)
	if len(onPVCs) != maxDecisionEventsPerReconcile {
		t.Fatalf("%d DecisionChanged Events on PVCs, want %d: %+v", len(onPVCs), maxDecisionEventsPerReconcile, onPVCs)
	}
	if e := onPVCs[0]; e.name != "claim-v00" || e.note != "StoragePolicy gold: Stay (BetweenWatermarks) → Stay (UnknownIOPS): because UnknownIOPS" {
		t.Errorf("first Event: %+v", e)
	}
	onPolicy := ev.on("StoragePolicy", storagev1.ReasonDecisionChanged)
	if len(onPolicy) != 1 || !strings.HasPrefix(onPolicy[0].note, "5 more volumes changed decision") || !strings.Contains(onPolicy[0].note, "default/claim-v10") {
		t.Fatalf("Events on the policy: %+v", onPolicy)
	}
	// All fifteen were said: nothing more at the next reconcile.
	r.sayDecisionChanges(context.Background(), policy, after, now.Add(2*time.Hour))
	if n := len(ev.on("PersistentVolumeClaim", storagev1.ReasonDecisionChanged)) + len(ev.on("StoragePolicy", storagev1.ReasonDecisionChanged)); n != maxDecisionEventsPerReconcile+1 {
		t.Errorf("%d Events after an unchanged reconcile, want %d", n, maxDecisionEventsPerReconcile+1)
	}
}

// storage_operator_policy_decision_volumes counts a policy's volumes by decision and reason;
// a (decision, reason) no volume has any more goes, and a deleted policy's series go.
func TestPolicyDecisionVolumesMetric(t *testing.T) {
	RecordDecisions("metric-test", []tiering.VolumeDecision{
		stay("a", storagev1.ReasonBetweenWatermarks), stay("b", storagev1.ReasonBetweenWatermarks),
		moving("c", tiering.ActionWait, storagev1.TierNVMe, storagev1.ReasonConcurrencyLimit),
	})
	t.Cleanup(func() { ForgetPolicy("metric-test") })
	if v := testutil.ToFloat64(PolicyDecisions.WithLabelValues("metric-test", "Stay", "BetweenWatermarks")); v != 2 {
		t.Errorf("Stay/BetweenWatermarks = %v, want 2", v)
	}
	RecordDecisions("metric-test", []tiering.VolumeDecision{stay("c", storagev1.ReasonMigrationInProgress)})
	if v := testutil.ToFloat64(PolicyDecisions.WithLabelValues("metric-test", "Stay", "MigrationInProgress")); v != 1 {
		t.Errorf("Stay/MigrationInProgress = %v, want 1", v)
	}
	// DeleteLabelValues says whether the series was there.
	for _, gone := range [][]string{{"Stay", "BetweenWatermarks"}, {"Wait", "ConcurrencyLimit"}} {
		if PolicyDecisions.DeleteLabelValues(append([]string{"metric-test"}, gone...)...) {
			t.Errorf("%v is still exported, though no volume has it any more", gone)
		}
	}
	ForgetPolicy("metric-test")
	if PolicyDecisions.DeleteLabelValues("metric-test", "Stay", "MigrationInProgress") {
		t.Error("the deleted policy's series is still exported")
	}
}

// storage_operator_migrations_total counts an ended migration under its policy and target
// tier; a policy's series exist at zero from its first evaluation, so increase() sees the
// first migration that ends.
func TestMigrationsTotalHasPolicyAndTargetTier(t *testing.T) {
	RecordDecisions("counter-test", nil)
	t.Cleanup(func() { ForgetPolicy("counter-test") })
	for _, s := range migrationStatuses {
		for _, tier := range []string{"nvme", "sata"} {
			if !seriesExists(MigrationsTotal, s, "counter-test", tier) {
				t.Errorf("no storage_operator_migrations_total{status=%q,policy=\"counter-test\",target_tier=%q} before any migration ended", s, tier)
			}
		}
	}
	tm := &storagev1.TierMigration{Spec: storagev1.TierMigrationSpec{PolicyName: "counter-test", TargetTier: storagev1.TierSATA}}
	before := testutil.ToFloat64(MigrationsTotal.WithLabelValues(MigrationStatusFailed, "counter-test", "sata"))
	recordEnding(tm, &migration.Ending{Outcome: MigrationStatusFailed, Duration: time.Minute})
	if got := testutil.ToFloat64(MigrationsTotal.WithLabelValues(MigrationStatusFailed, "counter-test", "sata")) - before; got != 1 {
		t.Errorf("failed/counter-test/sata grew by %v, want 1", got)
	}
}

// seriesExists says whether vec has the series with these label values, without creating it.
func seriesExists(vec *prometheus.CounterVec, values ...string) bool {
	ch := make(chan prometheus.Metric, 1024)
	go func() { vec.Collect(ch); close(ch) }()
	found := false
	for m := range ch {
		var d dto.Metric
		_ = m.Write(&d)
		got := map[string]string{}
		for _, l := range d.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		found = found || got["status"] == values[0] && got["policy"] == values[1] && got["target_tier"] == values[2]
	}
	return found
}

// storage_operator_leader is 1 while the leader-election runnable runs, 0 once it stopped.
func TestLeaderGauge(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- leading(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(Leader) != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if v := testutil.ToFloat64(Leader); v != 1 {
		t.Fatalf("while leading: %v", v)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if v := testutil.ToFloat64(Leader); v != 0 {
		t.Fatalf("after leading: %v", v)
	}
}

// BenchmarkDecisionTrackerCycle records one cycle of scenario (b) of the scale harness: 100
// policies deciding 100 volumes each, and one deciding all 10,000 (so every volume is decided
// by two policies).
func BenchmarkDecisionTrackerCycle(b *testing.B) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var all []tiering.VolumeDecision
	groups := make([][]tiering.VolumeDecision, 100)
	for i := range 10_000 {
		d := stay(fmt.Sprintf("v%05d", i), storagev1.ReasonOverlappingPolicies)
		all = append(all, d)
		groups[i%100] = append(groups[i%100], d)
	}
	tr := &DecisionTracker{Every: time.Minute}
	b.ReportAllocs()
	for b.Loop() {
		tr.update("all", all, now)
		for g := range groups {
			tr.update(fmt.Sprintf("g%02d", g), groups[g], now)
		}
	}
}
