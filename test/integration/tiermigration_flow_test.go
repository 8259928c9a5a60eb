package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/controller"
	"github.com/billyronks/couchestor/internal/mover"
	"github.com/billyronks/couchestor/internal/sim"
)

// outcomes is storage_operator_migrations_total{status}, summed over its policy and
// target_tier labels.
func outcomes(status string) float64 {
	ch := make(chan prometheus.Metric, 256)
	go func() { controller.MigrationsTotal.Collect(ch); close(ch) }()
	sum := 0.0
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			continue
		}
		for _, l := range d.GetLabel() {
			if l.GetName() == "status" && l.GetValue() == status {
				sum += d.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// awaitOutcomes waits until migrations_total{status} has grown by want since before (the
// counter moves right after the status write the test observes), and checks it stays there.
func awaitOutcomes(t *testing.T, status string, before, want float64) {
	t.Helper()
	_ = wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		return outcomes(status)-before >= want, nil
	}) // a timeout is reported below, with the count
	time.Sleep(100 * time.Millisecond) // a fixed wait: checks that it stays there
	if got := outcomes(status) - before; got != want {
		t.Fatalf("migrations_total{status=%s} grew by %v, want %v", status, got, want)
	}
}

// metricValue reads a counter or gauge.
func metricValue(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		return -1
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

// scrapedGauge scrapes the operator's registry and returns the value of an unlabelled gauge, -1
// when it is not exported.
func scrapedGauge(t *testing.T, name string) float64 {
	t.Helper()
	fams, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return -1
}

func succeededReason(tm *storagev1.TierMigration) (metav1.ConditionStatus, string, string) {
	c := meta.FindStatusCondition(tm.Status.Conditions, storagev1.MigrationConditionSucceeded)
	if c == nil {
		return "", "", ""
	}
	return c.Status, c.Reason, c.Message
}

// createPV makes the volume's PersistentVolume bound to a claim, so Events reach the PVC.
func createPV(t *testing.T, volumeID, claim string) {
	t.Helper()
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pvc-" + volumeID},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:    corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("20Gi")},
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
				Driver: storagev1.MayastorCSIDriver, VolumeHandle: volumeID}},
			ClaimRef:         &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: "default", Name: claim, UID: "claim-uid-1"},
			StorageClassName: "mayastor",
		},
	}
	c := context.Background()
	if err := k8sClient.Create(c, pv); err != nil && !isAlreadyExists(err) {
		t.Fatal(err)
	}
	t.Cleanup(func() { deletePV(pv.Name) })
}

// deletePV deletes a PersistentVolume for good: envtest runs no controller to lift the
// kubernetes.io/pv-protection finalizer, and a PV left terminating would keep its name taken
// from the tests that come after.
func deletePV(name string) {
	c := context.Background()
	pv := &corev1.PersistentVolume{}
	if err := k8sClient.Get(c, client.ObjectKey{Name: name}, pv); err != nil {
		return
	}
	_ = k8sClient.Delete(c, pv)
	if err := k8sClient.Get(c, client.ObjectKey{Name: name}, pv); err == nil && len(pv.Finalizers) > 0 {
		pv.Finalizers = nil
		_ = k8sClient.Update(c, pv)
	}
}

// eventReasons lists the reasons of events.k8s.io Events regarding the named object.
func eventReasons(t *testing.T, kind, name string) []string {
	t.Helper()
	var list eventsv1.EventList
	if err := k8sClient.List(context.Background(), &list, client.InNamespace("default")); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Kind == kind && e.Regarding.Name == name {
			out = append(out, e.Reason)
		}
	}
	return out
}

// A 1-replica volume moves SATA → NVMe end to end; the status tells the story, Events reach
// the TierMigration and the PVC, the metric counts it once, and no node stays cordoned.
func TestTierMigrationMovesOneReplicaVolume(t *testing.T) {
	w := newMigrationWorld(t, "small")
	w.watch(smallVolSATA1)
	createPV(t, smallVolSATA1, "db-data")
	source := replicaIDsOf(w.volume(smallVolSATA1))
	succeeded := outcomes("succeeded")
	w.runClock(time.Second, 5*time.Millisecond)
	w.startOperator()

	w.create("promote-db", storagev1.TierMigrationSpec{
		VolumeID: smallVolSATA1, TargetTier: storagev1.TierNVMe, TargetPoolSelector: hotPools, SourcePoolSelector: coldPools,
		AllowRepublish: true, Timeout: "10h",
		Reason: storagev1.MigrationReason{Description: "hot volume on SATA"},
	})
	tm := awaitPhase(t, "promote-db", 60*time.Second, storagev1.PhaseCompleted)

	v := w.assertSettled(smallVolSATA1, 1, "pool-nvme-")
	w.checkInvariant()
	if slices.Equal(replicaIDsOf(v), source) {
		t.Fatal("the source replica is still there")
	}
	st := tm.Status
	if st.SourceTier != storagev1.TierSATA || !slices.Equal(st.SourceReplicas, source) || st.OriginalReplicaCount != 1 ||
		st.NewReplica != replicaIDsOf(v)[0] || !strings.HasPrefix(st.TargetPool, "pool-nvme-") || st.SyncProgress != 100 ||
		st.StartTime == nil || st.CompletionTime == nil || st.Deadline == nil || st.Rounds != 1 || st.Attempts < 1 || len(st.Cordons) != 0 {
		t.Fatalf("status does not tell what happened: %+v", st)
	}
	var phases []storagev1.MigrationPhase
	for _, s := range st.Steps {
		phases = append(phases, s.Phase)
		if s.CompletionTime == nil || s.Message == "" {
			t.Errorf("step %s lacks its completion time or message: %+v", s.Phase, s)
		}
	}
	if want := []storagev1.MigrationPhase{"Pending", "Analyzing", "ScalingUp", "WaitingSync", "ScalingDown", "Completed"}; !slices.Equal(phases, want) {
		t.Fatalf("steps %v, want %v%s", phases, want, stepsOf(tm))
	}
	if s, reason, _ := succeededReason(tm); s != metav1.ConditionTrue || reason != "Moved" {
		t.Fatalf("Succeeded condition %s/%s", s, reason)
	}
	_ = wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		tm = getTM(t, "promote-db")
		return !slices.Contains(tm.Finalizers, storagev1.FinalizerMigrationCleanup), nil
	}) // a finalizer left is reported below
	if tm.Labels[storagev1.LabelVolume] != smallVolSATA1 || slices.Contains(tm.Finalizers, storagev1.FinalizerMigrationCleanup) {
		t.Fatalf("labels %v, finalizers %v: want the volume label, and no finalizer once ended", tm.Labels, tm.Finalizers)
	}
	awaitOutcomes(t, "succeeded", succeeded, 1)

	want := []string{"Started", "ScalingUp", "WaitingSync", "ScalingDown", "Moved"}
	eventually(t, 10*time.Second, 100*time.Millisecond, fmt.Sprintf("each of the events %v on the TierMigration and on the PVC", want), func() (bool, string) {
		onTM, onPVC := eventReasons(t, "TierMigration", "promote-db"), eventReasons(t, "PersistentVolumeClaim", "db-data")
		return containsAll(onTM, want) && containsAll(onPVC, want), fmt.Sprintf("events on the TierMigration %v, on the PVC %v", onTM, onPVC)
	})
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// A 2-replica volume (target on an application node) moves SATA → NVMe through its policy's
// pool selectors in two rounds, the second after a republish onto the first moved replica's node,
// never below 2 healthy replicas; a 3-replica volume is refused before the first write.
func TestTierMigrationMovesTwoReplicaVolume(t *testing.T) {
	w := newMigrationWorld(t, pureTiersScenario)
	w.watch(pureVolTwoSAT)
	c := context.Background()
	policy := &storagev1.StoragePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "tm-two-replicas"},
		Spec: storagev1.StoragePolicySpec{
			HighWatermarkIOPS: 5000, LowWatermarkIOPS: 500,
			NVMePoolSelector: *hotPools, SATAPoolSelector: *coldPools,
		},
	}
	if err := k8sClient.Create(c, policy); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(c, policy) })
	w.runClock(time.Second, 5*time.Millisecond)
	w.startOperator()

	// A 3-replica volume: placeholder replicas keep each moved replica behind the remaining
	// sources in the core agent's replica map, so every decrease removes a source.
	w.create("promote-three", storagev1.TierMigrationSpec{
		VolumeID: pureVolThreeSAT, TargetTier: storagev1.TierNVMe, PolicyName: policy.Name, AllowRepublish: true, Timeout: "10h",
	})
	three := awaitPhase(t, "promote-three", 120*time.Second, storagev1.PhaseCompleted, storagev1.PhaseFailed)
	if three.Status.Phase != storagev1.PhaseCompleted || three.Status.Rounds != 3 || three.Status.Checkpoint.RemovalAttempts != 0 {
		_, reason, msg := succeededReason(three)
		t.Fatalf("3-replica move: %s after %d rounds: %s %s", three.Status.Phase, three.Status.Rounds, reason, msg)
	}
	w.assertSettled(pureVolThreeSAT, 3, "pool-nvme-")
	w.awaitNoPlaceholders(30 * time.Second)

	w.create("promote-two", storagev1.TierMigrationSpec{
		VolumeID: pureVolTwoSAT, TargetTier: storagev1.TierNVMe, PolicyName: policy.Name, AllowRepublish: true, Timeout: "10h",
	})
	tm := awaitPhase(t, "promote-two", 120*time.Second, storagev1.PhaseCompleted)
	w.assertSettled(pureVolTwoSAT, 2, "pool-nvme-")
	w.checkInvariant()
	cp := tm.Status.Checkpoint
	if cp == nil || len(cp.RemovedSourceReplicas) != 2 || len(cp.MovedReplicas) != 2 || len(tm.Status.SourceReplicas) != 2 || tm.Status.Rounds != 2 {
		t.Fatalf("status after a 2-replica move (2 rounds, no wasted rebuild): rounds %d, checkpoint %+v", tm.Status.Rounds, cp)
	}
	if tm.Labels[storagev1.LabelPolicy] != policy.Name {
		t.Fatalf("labels %v", tm.Labels)
	}
	t.Logf("2-replica move took %d rounds, %d replica-count increases", tm.Status.Rounds, tm.Status.Attempts)
}

// Dry-run (here the operator's --dry-run): the analysis is reported, Mayastor is not written to.
func TestTierMigrationDryRunChangesNothing(t *testing.T) {
	w := newMigrationWorld(t, "small")
	w.opts.DryRun = true
	before := w.volume(smallVolSATA1)
	dry := outcomes("dry_run")
	w.startOperator()
	w.create("dry-promote", storagev1.TierMigrationSpec{
		VolumeID: smallVolSATA1, TargetTier: storagev1.TierNVMe, TargetPoolSelector: hotPools, AllowRepublish: true,
	})
	tm := awaitPhase(t, "dry-promote", 30*time.Second, storagev1.PhaseCompleted)
	if n := w.writeCount(); n != 0 {
		t.Fatalf("dry run wrote to Mayastor %d times: %v", n, w.writes)
	}
	after := w.volume(smallVolSATA1)
	if !slices.Equal(replicaIDsOf(before), replicaIDsOf(after)) || after.Spec.NumReplicas != before.Spec.NumReplicas {
		t.Fatalf("volume changed: %v → %v", poolsOfVolume(before), poolsOfVolume(after))
	}
	_, reason, msg := succeededReason(tm)
	if reason != "DryRun" || !strings.Contains(msg, "would move 1 replica(s)") || !strings.Contains(msg, "pool-sata-1") || !tm.Status.DryRun {
		t.Fatalf("dry-run result %s: %q (status.dryRun %v)", reason, msg, tm.Status.DryRun)
	}
	awaitOutcomes(t, "dry_run", dry, 1)
}

// Preservation mode keeps the source replica next to the new one.
func TestTierMigrationPreservationKeepsTheSource(t *testing.T) {
	w := newMigrationWorld(t, "small")
	w.watch(smallVolSATA1)
	source := replicaIDsOf(w.volume(smallVolSATA1))
	w.runClock(time.Second, 5*time.Millisecond)
	w.startOperator()
	w.create("preserve-db", storagev1.TierMigrationSpec{
		VolumeID: smallVolSATA1, TargetTier: storagev1.TierNVMe, TargetPoolSelector: hotPools, SourcePoolSelector: coldPools,
		AllowRepublish: true, PreservationMode: true, Timeout: "10h",
	})
	tm := awaitPhase(t, "preserve-db", 60*time.Second, storagev1.PhaseCompleted)
	v := w.volume(smallVolSATA1)
	pools := poolsOfVolume(v)
	if v.Spec.NumReplicas != 2 || len(pools) != 2 || pools[0] != "pool-nvme-2" && !strings.HasPrefix(pools[0], "pool-nvme-") || pools[1] != "pool-sata-1" {
		t.Fatalf("want the source on pool-sata-1 plus one NVMe replica, have %v (num_replicas %d)", pools, v.Spec.NumReplicas)
	}
	if _, ok := v.State.ReplicaTopology[source[0]]; !ok {
		t.Fatal("the source replica was removed in preservation mode")
	}
	if _, reason, _ := succeededReason(tm); reason != "Preserved" || len(tm.Status.Checkpoint.PreservedSourceReplicas) != 1 {
		t.Fatalf("reason %s, checkpoint %+v", reason, tm.Status.Checkpoint)
	}
	if len(w.cordonedNodes()) > 0 {
		t.Fatalf("cordons left: %v", w.cordonedNodes())
	}
	w.checkInvariant()
}

// The rebuild onto the new replica fails: the migration rolls back, the source is intact.
func TestTierMigrationRebuildFaultRollsBack(t *testing.T) {
	w := newMigrationWorld(t, "small")
	w.watch(smallVolSATA1)
	source := replicaIDsOf(w.volume(smallVolSATA1))
	if err := w.sim.FaultNextRebuild(smallVolSATA1, 50); err != nil {
		t.Fatal(err)
	}
	rolledBack := outcomes("rolled_back")
	w.runClock(time.Second, 5*time.Millisecond)
	w.startOperator()
	w.create("faulty-promote", storagev1.TierMigrationSpec{
		VolumeID: smallVolSATA1, TargetTier: storagev1.TierNVMe, TargetPoolSelector: hotPools, AllowRepublish: true, Timeout: "10h",
	})
	tm := awaitPhase(t, "faulty-promote", 60*time.Second, storagev1.PhaseFailed)
	v := w.assertSettled(smallVolSATA1, 1, "pool-sata-1")
	if !slices.Equal(replicaIDsOf(v), source) {
		t.Fatalf("replicas %v, want the source %v untouched", replicaIDsOf(v), source)
	}
	w.checkInvariant()
	if _, reason, msg := succeededReason(tm); reason != "SyncFailed" && reason != string(mover.ReasonNewReplicaLost) {
		t.Fatalf("reason %s: %s", reason, msg)
	}
	if !slices.Contains(phasesOf(tm), storagev1.PhaseRollingBack) || tm.Status.Error == "" {
		t.Fatalf("no roll-back recorded: %s", stepsOf(tm))
	}
	awaitOutcomes(t, "rolled_back", rolledBack, 1)
}

func phasesOf(tm *storagev1.TierMigration) []storagev1.MigrationPhase {
	var out []storagev1.MigrationPhase
	for _, s := range tm.Status.Steps {
		out = append(out, s.Phase)
	}
	return out
}

// A rebuild slower than spec.timeout: rolled back, the extra replica removed, the source kept.
func TestTierMigrationTimeoutRollsBack(t *testing.T) {
	w := newMigrationWorld(t, "small")
	w.watch(smallVolNVMe1) // 50GiB at 100MiB/s: about 8.5 minutes of rebuild
	source := replicaIDsOf(w.volume(smallVolNVMe1))
	w.runClock(time.Second, 5*time.Millisecond)
	w.startOperator()
	w.create("slow-demote", storagev1.TierMigrationSpec{
		VolumeID: smallVolNVMe1, TargetTier: storagev1.TierSATA, TargetPoolSelector: coldPools, SourcePoolSelector: hotPools,
		AllowRepublish: true, Timeout: "2m",
	})
	tm := awaitPhase(t, "slow-demote", 60*time.Second, storagev1.PhaseFailed)
	v := w.assertSettled(smallVolNVMe1, 1, "pool-nvme-1")
	if !slices.Equal(replicaIDsOf(v), source) {
		t.Fatalf("replicas %v, want the source %v", replicaIDsOf(v), source)
	}
	w.checkInvariant()
	if _, reason, _ := succeededReason(tm); reason != "Timeout" {
		t.Fatalf("reason %s, steps %s", reason, stepsOf(tm))
	}
	if !slices.Contains(phasesOf(tm), storagev1.PhaseWaitingSync) {
		t.Fatalf("the timeout should hit while waiting for the rebuild: %s", stepsOf(tm))
	}
}

// A refusal of the analysis fails the migration with its reason and writes nothing.
func TestTierMigrationRefusalWritesNothing(t *testing.T) {
	w := newMigrationWorld(t, "small")
	failed := outcomes("failed")
	w.startOperator()
	w.create("nexus-local", storagev1.TierMigrationSpec{
		VolumeID: smallVolSATA1, TargetTier: storagev1.TierNVMe, TargetPoolSelector: hotPools,
	})
	w.create("no-policy", storagev1.TierMigrationSpec{
		VolumeID: smallVolNVMe1, TargetTier: storagev1.TierSATA, PolicyName: "does-not-exist",
	})
	tm := awaitPhase(t, "nexus-local", 30*time.Second, storagev1.PhaseFailed)
	if _, reason, msg := succeededReason(tm); reason != string(mover.ReasonNexusLocalSource) || !strings.Contains(msg, "republish") {
		t.Fatalf("reason %s: %s", reason, msg)
	}
	tm = awaitPhase(t, "no-policy", 30*time.Second, storagev1.PhaseFailed)
	if _, reason, msg := succeededReason(tm); reason != "PolicyNotFound" || !strings.Contains(msg, "does-not-exist") {
		t.Fatalf("reason %s: %s", reason, msg)
	}
	if n := w.writeCount(); n != 0 {
		t.Fatalf("refused migrations wrote to Mayastor: %v", w.writes)
	}
	awaitOutcomes(t, "failed", failed, 2)
}

// The global limit keeps a second migration Pending while the first runs; a second migration of
// a busy volume fails with VolumeBusy; when the first ends, the waiting one runs.
func TestTierMigrationConcurrencyLimitAndBusyVolume(t *testing.T) {
	w := newMigrationWorld(t, "small")
	w.opts.MaxConcurrentMigrations = 1
	w.watch(smallVolSATA1)
	w.watch(smallVolNVMe1)
	w.startOperator()
	w.create("first", storagev1.TierMigrationSpec{
		VolumeID: smallVolSATA1, TargetTier: storagev1.TierNVMe, TargetPoolSelector: hotPools, SourcePoolSelector: coldPools, AllowRepublish: true, Timeout: "10h",
	})
	awaitPhase(t, "first", 30*time.Second, storagev1.PhaseWaitingSync) // the clock is stopped: the rebuild waits
	w.create("second", storagev1.TierMigrationSpec{
		VolumeID: smallVolNVMe1, TargetTier: storagev1.TierSATA, TargetPoolSelector: coldPools, SourcePoolSelector: hotPools, AllowRepublish: true, Timeout: "10h",
	})
	w.create("same-volume", storagev1.TierMigrationSpec{
		VolumeID: smallVolSATA1, TargetTier: storagev1.TierNVMe, TargetPoolSelector: hotPools,
	})
	busy := awaitPhase(t, "same-volume", 30*time.Second, storagev1.PhaseFailed)
	if _, reason, msg := succeededReason(busy); reason != "VolumeBusy" || !strings.Contains(msg, "first") {
		t.Fatalf("reason %s: %s", reason, msg)
	}
	time.Sleep(500 * time.Millisecond) // a fixed wait of ten poll intervals: checks that second does not start
	second := getTM(t, "second")
	c := meta.FindStatusCondition(second.Status.Conditions, storagev1.MigrationConditionProgressing)
	if second.Status.Phase != storagev1.PhasePending || c == nil || c.Reason != "WaitingForSlot" {
		t.Fatalf("second: phase %s, condition %+v; want Pending, WaitingForSlot", second.Status.Phase, c)
	}
	if got := scrapedGauge(t, "storage_operator_active_migrations"); got != 1 {
		t.Fatalf("active migrations gauge %v, want 1", got)
	}
	w.runClock(time.Second, 5*time.Millisecond)
	awaitPhase(t, "first", 60*time.Second, storagev1.PhaseCompleted)
	awaitPhase(t, "second", 60*time.Second, storagev1.PhaseCompleted)
	w.assertSettled(smallVolSATA1, 1, "pool-nvme-")
	w.assertSettled(smallVolNVMe1, 1, "pool-sata-")
	w.checkInvariant()
	eventually(t, 5*time.Second, 50*time.Millisecond, "the active migrations gauge back to 0", func() (bool, string) {
		got := scrapedGauge(t, "storage_operator_active_migrations")
		return got == 0, fmt.Sprintf("active migrations gauge stuck at %v", got)
	})
}

// Deleting an in-flight TierMigration unwinds it first: the half-built replica goes, the source
// stays, no node stays cordoned, and then the object goes.
func TestTierMigrationDeletionUnwinds(t *testing.T) {
	w := newMigrationWorld(t, "small")
	w.watch(smallVolSATA1)
	source := replicaIDsOf(w.volume(smallVolSATA1))
	w.startOperator()
	tm := w.create("deleted-midway", storagev1.TierMigrationSpec{
		VolumeID: smallVolSATA1, TargetTier: storagev1.TierNVMe, TargetPoolSelector: hotPools, AllowRepublish: true, Timeout: "10h",
	})
	awaitPhase(t, "deleted-midway", 30*time.Second, storagev1.PhaseWaitingSync)
	if v := w.volume(smallVolSATA1); v.Spec.NumReplicas != 2 {
		t.Fatalf("mid-migration the volume should have its extra replica: %v", poolsOfVolume(v))
	}
	if err := k8sClient.Delete(context.Background(), tm); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, 20*time.Millisecond, "the deleted TierMigration gone", func() (bool, string) {
		err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(tm), &storagev1.TierMigration{})
		return err != nil, "the deleted TierMigration is still there"
	})
	v := w.assertSettled(smallVolSATA1, 1, "pool-sata-1")
	if !slices.Equal(replicaIDsOf(v), source) {
		t.Fatalf("replicas %v, want the source %v", replicaIDsOf(v), source)
	}
	w.checkInvariant()
}

var _ = sim.FaultDropAfter

// Someone labels and annotates the TierMigration all along: the status writes that conflict
// with those edits are retried on the fresh object, and the move completes.
func TestTierMigrationSurvivesConcurrentMetadataEdits(t *testing.T) {
	w := newMigrationWorld(t, "small")
	w.watch(smallVolSATA1)
	w.runClock(time.Second, 5*time.Millisecond)
	w.startOperator()
	w.create("edited", storagev1.TierMigrationSpec{
		VolumeID: smallVolSATA1, TargetTier: storagev1.TierNVMe, TargetPoolSelector: hotPools, SourcePoolSelector: coldPools,
		AllowRepublish: true, Timeout: "10h",
	})
	stop := make(chan struct{})
	edits := make(chan int)
	go func() {
		n := 0
		defer func() { edits <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			tm := &storagev1.TierMigration{}
			if err := k8sClient.Get(context.Background(), client.ObjectKey{Name: "edited"}, tm); err != nil {
				return
			}
			if tm.Annotations == nil {
				tm.Annotations = map[string]string{}
			}
			tm.Annotations["example.com/touched"] = time.Now().Format(time.RFC3339Nano)
			if k8sClient.Update(context.Background(), tm) == nil {
				n++
			}
			time.Sleep(5 * time.Millisecond) // paces the concurrent editor
		}
	}()
	awaitPhase(t, "edited", 60*time.Second, storagev1.PhaseCompleted)
	close(stop)
	n := <-edits
	w.assertSettled(smallVolSATA1, 1, "pool-nvme-")
	w.checkInvariant()
	if n < 10 {
		t.Fatalf("only %d concurrent edits: the test did not exercise conflicts", n)
	}
	t.Logf("%d metadata edits during the move", n)
}
