package integration

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/operator"
	"github.com/billyronks/couchestor/internal/sandbox"
)

// startWorld starts the Mayastor simulator (scenario "small", a PV per volume of StorageClass
// storageClass) and a real Prometheus scraping it every second, against the test API server.
func startWorld(t *testing.T, storageClass string) *sandbox.Stack {
	t.Helper()
	requireAPIServer(t)
	if _, err := sandbox.PrometheusBinary(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	st, err := sandbox.Start(ctx(t), sandbox.Options{
		RESTConfig: restCfg, RepoRoot: repoRoot, WorkDir: t.TempDir(), Scenario: "small",
		ScrapeInterval: time.Second, StorageClassName: storageClass, RebuildBandwidth: 4 << 30,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Stop)
	return st
}

// runOperator runs the whole operator in this process until the test ends.
func runOperator(t *testing.T, st *sandbox.Stack, extraArgs ...string) {
	t.Helper()
	args := append([]string{
		"--prometheus-url=" + st.PrometheusURL, "--mayastor-url=" + st.SimURL,
		"--metrics-bind-address=0", "--health-probe-bind-address=" + freeAddr(t),
		"--sync-poll-interval-seconds=1",
	}, extraArgs...)
	cfg, err := operator.Parse("couchestor", args)
	if err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- operator.Run(c, cfg, restCfg) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("operator: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("operator did not stop within 30s")
		}
	})
}

func policyFor(name, storageClass string, dryRun bool, window string) *storagev1.StoragePolicy {
	enabled := true
	return &storagev1.StoragePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: storagev1.StoragePolicySpec{
			HighWatermarkIOPS: 5000, LowWatermarkIOPS: 500, SamplingWindow: window, CooldownPeriod: "24h",
			StorageClassName:        storageClass,
			NVMePoolSelector:        metav1.LabelSelector{MatchLabels: map[string]string{"tier": "hot"}},
			SATAPoolSelector:        metav1.LabelSelector{MatchLabels: map[string]string{"tier": "cold"}},
			MaxConcurrentMigrations: 10, MigrationTimeout: "10m", Enabled: &enabled, DryRun: dryRun,
		},
	}
}

func vol(n string) string { return "0c4f3a52-7d1e-4b6a-9a0e-0000000000" + n }

func migrationsOf(t *testing.T, policy string) map[string]storagev1.TierMigration {
	t.Helper()
	var list storagev1.TierMigrationList
	if err := k8sClient.List(context.Background(), &list, client.MatchingLabels{storagev1.LabelPolicy: policy}); err != nil {
		t.Fatal(err)
	}
	byVolume := map[string]storagev1.TierMigration{}
	for _, tm := range list.Items {
		if _, dup := byVolume[tm.Spec.VolumeID]; dup {
			t.Errorf("two TierMigrations for volume %s", tm.Spec.VolumeID)
		}
		byVolume[tm.Spec.VolumeID] = tm
	}
	return byVolume
}

// The policy reads real IOPS from a real Prometheus scraping the simulator, and starts exactly
// the moves the watermarks call for: hot volumes on SATA up, cold volumes on NVMe down, nothing
// for volumes already in place, between the watermarks, or without data. In dry-run, Mayastor
// is not touched.
func TestPolicyStartsTheRightMigrations(t *testing.T) {
	const sc = "e2e-decide"
	st := startWorld(t, sc)
	runOperator(t, st, "--max-concurrent-migrations=10")
	c := ctx(t)
	policy := policyFor("e2e-decide", sc, true, "15s")
	if err := k8sClient.Create(c, policy); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), policy) })

	// Before the window is covered, every volume is Unknown and nothing moves.
	eventually(t, 30*time.Second, 500*time.Millisecond, "policy evaluated", func() (bool, string) {
		var p storagev1.StoragePolicy
		_ = k8sClient.Get(c, types.NamespacedName{Name: policy.Name}, &p)
		return p.Status.VolumesWatched == 14, statusLine(&p)
	})

	want := map[string]storagev1.Tier{
		vol("01"): storagev1.TierNVMe, // 5500 IOPS on SATA
		vol("05"): storagev1.TierSATA, // 1.5 IOPS on NVMe
		vol("06"): storagev1.TierSATA, // 11 IOPS on NVMe, 2 replicas
		vol("07"): storagev1.TierSATA, // 2 IOPS on NVMe, 3 replicas
	}
	stay := []string{vol("04"), vol("08"), vol("09"), vol("10"), vol("11"), vol("12"), vol("13"), vol("14")}
	eventually(t, 90*time.Second, 500*time.Millisecond, "migrations started", func() (bool, string) {
		got := migrationsOf(t, policy.Name)
		for v := range want {
			if _, ok := got[v]; !ok {
				return false, "missing " + v
			}
		}
		return true, ""
	})
	got := migrationsOf(t, policy.Name)
	for v, tier := range want {
		tm := got[v]
		if tm.Spec.TargetTier != tier || !tm.Spec.DryRun || tm.Spec.PolicyName != policy.Name || tm.Spec.Reason.Description == "" {
			t.Errorf("volume %s: want a dry-run move to %s with a reason, got %+v", v, tier, tm.Spec)
		}
		if tier == storagev1.TierNVMe && (tm.Spec.Reason.ObservedIOPS == nil || *tm.Spec.Reason.ObservedIOPS < 5000) {
			t.Errorf("volume %s: observed IOPS %v should be above the high watermark", v, tm.Spec.Reason.ObservedIOPS)
		}
	}
	for _, v := range stay {
		if tm, ok := got[v]; ok {
			t.Errorf("volume %s should stay where it is, got a move to %s (%s)", v, tm.Spec.TargetTier, tm.Spec.Reason.Description)
		}
	}

	var p storagev1.StoragePolicy
	if err := k8sClient.Get(c, types.NamespacedName{Name: policy.Name}, &p); err != nil {
		t.Fatal(err)
	}
	if !meta.IsStatusConditionTrue(p.Status.Conditions, storagev1.ConditionMetricsAvailable) ||
		!meta.IsStatusConditionTrue(p.Status.Conditions, storagev1.ConditionStorageAvailable) {
		t.Fatalf("conditions: %s", statusLine(&p))
	}
	// Only the unpublished volume has no exporter series.
	if p.Status.UnknownVolumes != 1 {
		t.Errorf("unknown volumes: want 1 (the unpublished one), got %d", p.Status.UnknownVolumes)
	}
	// Dry-run: the simulated control plane saw no write.
	v1, err := st.Sim.Volume(vol("01"))
	if err != nil {
		t.Fatal(err)
	}
	if v1.Spec.NumReplicas != 1 || len(v1.State.ReplicaTopology) != 1 {
		t.Errorf("dry-run changed volume 01: %d replicas", v1.Spec.NumReplicas)
	}
}

// Prometheus going away stops every move, and the policy says why.
func TestPolicyWithoutPrometheusMovesNothing(t *testing.T) {
	const sc = "e2e-noprom"
	st := startWorld(t, sc)
	st.StopPrometheus()
	runOperator(t, st, "--max-concurrent-migrations=10", "--prometheus-timeout=2s")
	c := ctx(t)
	policy := policyFor("e2e-noprom", sc, false, "15s")
	if err := k8sClient.Create(c, policy); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), policy) })
	eventually(t, 30*time.Second, 500*time.Millisecond, "MetricsAvailable=False", func() (bool, string) {
		var p storagev1.StoragePolicy
		_ = k8sClient.Get(c, types.NamespacedName{Name: policy.Name}, &p)
		m := meta.FindStatusCondition(p.Status.Conditions, storagev1.ConditionMetricsAvailable)
		r := meta.FindStatusCondition(p.Status.Conditions, storagev1.ConditionReady)
		return m != nil && m.Status == metav1.ConditionFalse && m.Reason == "PrometheusUnreachable" &&
			r != nil && r.Status == metav1.ConditionFalse && strings.Contains(r.Message, "no migration is started"), statusLine(&p)
	})
	if got := migrationsOf(t, policy.Name); len(got) != 0 {
		t.Fatalf("migrations started without IOPS data: %d", len(got))
	}
}

func statusLine(p *storagev1.StoragePolicy) string {
	var b strings.Builder
	b.WriteString(p.Name)
	for _, c := range p.Status.Conditions {
		b.WriteString(" " + c.Type + "=" + string(c.Status) + "(" + c.Reason + ": " + c.Message + ")")
	}
	return b.String()
}

// Two policies selecting the same volumes are reported, and neither moves them.
func TestOverlappingPoliciesAreReportedNotFoughtOver(t *testing.T) {
	const sc = "e2e-overlap"
	st := startWorld(t, sc)
	runOperator(t, st, "--max-concurrent-migrations=10")
	c := ctx(t)
	for _, name := range []string{"e2e-overlap-a", "e2e-overlap-b"} {
		p := policyFor(name, sc, true, "15s")
		if err := k8sClient.Create(c, p); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), p) })
	}
	// Wait until IOPS are known (only the unpublished volume stays Unknown), so hot and cold
	// volumes would move were they not selected twice.
	eventually(t, 90*time.Second, 500*time.Millisecond, "overlap reported with IOPS known", func() (bool, string) {
		var p storagev1.StoragePolicy
		_ = k8sClient.Get(c, types.NamespacedName{Name: "e2e-overlap-a"}, &p)
		r := meta.FindStatusCondition(p.Status.Conditions, storagev1.ConditionReady)
		return r != nil && p.Status.UnknownVolumes == 1 &&
			strings.Contains(r.Message, "14 volumes are also selected by another policy"), statusLine(&p)
	})
	for _, name := range []string{"e2e-overlap-a", "e2e-overlap-b"} {
		if got := migrationsOf(t, name); len(got) != 0 {
			t.Fatalf("policy %s started %d migrations on volumes another policy also selects", name, len(got))
		}
	}
}
