package cli

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/tiering"
)

// claimWorld: volume v (10 GiB, one replica on SATA pool cold-1, 7000 IOPS over 1h) bound to
// shop/db in StorageClass sc, moved to SATA 2h ago after one flip; policies p1 (selects it,
// enabled), p2 (another StorageClass), p3 (selects it, disabled); one migration of p1 in flight.
func claimWorld() (*tiering.Snapshot, time.Time) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	policy := func(name, sc string, enabled bool) *storagev1.StoragePolicy {
		return &storagev1.StoragePolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: storagev1.StoragePolicySpec{
			HighWatermarkIOPS: 5000, LowWatermarkIOPS: 500, SamplingWindow: "1h", CooldownPeriod: "24h", StorageClassName: sc,
			MaxConcurrentMigrations: 2, Enabled: &enabled,
			NVMePoolSelector: metav1.LabelSelector{MatchLabels: map[string]string{"tier": "hot"}},
			SATAPoolSelector: metav1.LabelSelector{MatchLabels: map[string]string{"tier": "cold"}},
		}}
	}
	s := &tiering.Snapshot{
		Taken: now,
		Pools: []tiering.PoolObservation{
			{ID: "hot-1", Node: "a", Labels: map[string]string{"tier": "hot"}, Online: true, CapacityBytes: 1 << 40},
			{ID: "cold-1", Node: "b", Labels: map[string]string{"tier": "cold"}, Online: true, CapacityBytes: 1 << 40},
		},
		Volumes: map[string]*tiering.VolumeObservation{"v": {ID: "v", SizeBytes: 10 << 30, NumReplicas: 1, ReplicaPools: []string{"cold-1"}, Published: true, Healthy: true}},
		PVs: map[string]*tiering.PVObservation{"pvc-v": {Name: "pvc-v", VolumeID: "v", StorageClass: "sc", Claim: "shop/db",
			Moves: tiering.MoveRecord{At: now.Add(-2 * time.Hour), To: storagev1.TierSATA, Flips: 1}}},
		Migrations: map[string]tiering.MigrationObservation{},
		InFlight:   tiering.InFlight{Global: 1, ByPolicy: map[string]int{"p1": 1}},
		IOPS:       map[tiering.IOPSKey]*tiering.IOPSObservation{{Window: time.Hour}: {Volumes: map[string]tiering.VolumeIOPS{"v": {Known: true, IOPS: 7000}}}},
		Policies:   []*storagev1.StoragePolicy{policy("p3", "sc", false), policy("p2", "other", true), policy("p1", "sc", true)},
	}
	return s, now
}

// plan pvc/…: the policies that select the volume, in name order; for the active one its
// decision and reason, IOPS against the watermarks, the cooldown left (lengthened by the flip),
// the window and the slots; the disabled one says it is not active.
func TestClaimPlan(t *testing.T) {
	s, now := claimWorld()
	r, err := claimPlan(s, "pvc-v", "", tiering.Flags{MaxConcurrentMigrations: 10}, now)
	if err != nil {
		t.Fatal(err)
	}
	if r.PVC != "shop/db" || r.VolumeID != "v" || r.StorageClass != "sc" || len(r.Policies) != 2 || r.Policies[0].Policy != "p1" || r.Policies[1].Policy != "p3" {
		t.Fatalf("report: %+v", r)
	}
	p1 := r.Policies[0]
	if v := p1.Volume; v.Action != "Stay" || v.Reason != storagev1.ReasonAntiFlapCooldown || v.IOPS == nil || *v.IOPS != 7000 || v.Placement != "SATA" {
		t.Errorf("p1's decision: %+v", v)
	}
	if p1.HighWatermarkIOPS != 5000 || p1.LowWatermarkIOPS != 500 || p1.Samples != "1h" {
		t.Errorf("p1's watermarks: %+v", p1)
	}
	if c := p1.Cooldown; c == nil || c.Cooldown != "48h0m0s" || c.Left != "46h0m0s" || c.Flips != 1 || c.LastMove == nil || !c.LastMove.Equal(now.Add(-2*time.Hour)) {
		t.Errorf("p1's cooldown: %+v", c)
	}
	if w := p1.Window; w == nil || w.Configured || !w.Open {
		t.Errorf("p1's window: %+v", w)
	}
	if sl := p1.Slots; sl == nil || *sl != (SlotsReport{Free: 1, PolicyInFlight: 1, PolicyMax: 2, OperatorInFlight: 1, OperatorMax: 10}) {
		t.Errorf("p1's slots: %+v", sl)
	}
	if p3 := r.Policies[1]; p3.Volume.Reason != storagev1.ReasonPolicyNotActive || p3.Cooldown != nil || p3.Slots != nil || p3.Ready == nil || p3.Ready.Reason != storagev1.ReasonDisabled {
		t.Errorf("p3 (disabled): %+v", p3)
	}

	var out strings.Builder
	printClaimPlan(&out, r)
	for _, want := range []string{"PersistentVolumeClaim shop/db: PersistentVolume pvc-v", "StoragePolicy p1: Ready=True (Evaluated)",
		"decision:  Stay, on SATA", "reason:    AntiFlapCooldown", "IOPS:      7000.0 over 1h; low watermark 500, high watermark 5000",
		"cooldown:  46h0m0s left", "anti-flap: 1 flip(s)", "window:    none configured", "slots:     1 free (policy: 1 of 2 in flight; operator: 1 of 10)",
		"StoragePolicy p3: Ready=False (Disabled)", "the policy is not active"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}

	// --policy keeps one; a volume no policy selects says so.
	if r, _ := claimPlan(s, "pvc-v", "p3", tiering.Flags{MaxConcurrentMigrations: 10}, now); len(r.Policies) != 1 || r.Policies[0].Policy != "p3" {
		t.Errorf("--policy p3: %+v", r.Policies)
	}
	s, _ = claimWorld() // a snapshot indexes its selections once
	s.PVs["pvc-v"].StorageClass = "elsewhere"
	r, _ = claimPlan(s, "pvc-v", "", tiering.Flags{MaxConcurrentMigrations: 10}, now)
	out.Reset()
	printClaimPlan(&out, r)
	if len(r.Policies) != 0 || !strings.Contains(out.String(), "No StoragePolicy selects it") {
		t.Errorf("a volume no policy selects: %+v\n%s", r.Policies, out.String())
	}
	if _, err := claimPlan(s, "pvc-none", "", tiering.Flags{MaxConcurrentMigrations: 10}, now); err == nil {
		t.Error("a PV not in the snapshot gave no error")
	}
}
