package tiering

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

// now is the clock of every plan test; gib a volume size.
var now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

const gib = 1 << 30

var hourKey = IOPSKey{Window: time.Hour}

// testPolicy is the sample policy's figures: 5000/500 IOPS, 1h window, 24h cooldown, 2 slots, 10%
// headroom, pools labelled tier=nvme and tier=sata.
func testPolicy(name string) *storagev1.StoragePolicy {
	return &storagev1.StoragePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: storagev1.StoragePolicySpec{
			HighWatermarkIOPS: 5000, LowWatermarkIOPS: 500, SamplingWindow: "1h", CooldownPeriod: "24h",
			StorageClassName: "mayastor", MaxConcurrentMigrations: 2, CapacityHeadroomPercent: 10,
			NVMePoolSelector: metav1.LabelSelector{MatchLabels: map[string]string{"tier": "nvme"}},
			SATAPoolSelector: metav1.LabelSelector{MatchLabels: map[string]string{"tier": "sata"}},
		},
	}
}

// testSnapshot has two NVMe pools (n1 on node a, n2 on b), two SATA pools (s1 on a, s2 on b),
// 1000 GiB each and empty, and the given volumes with their PVs and IOPS.
func testSnapshot(vols ...testVolume) *Snapshot {
	s := &Snapshot{
		Taken:      now.Add(-10 * time.Second),
		Volumes:    map[string]*VolumeObservation{},
		PVs:        map[string]*PVObservation{},
		Migrations: map[string]MigrationObservation{},
		InFlight:   InFlight{ByPolicy: map[string]int{}},
		IOPS:       map[IOPSKey]*IOPSObservation{hourKey: {Volumes: map[string]VolumeIOPS{}}},
	}
	for _, p := range []struct{ id, node, tier string }{{"n1", "a", "nvme"}, {"n2", "b", "nvme"}, {"s1", "a", "sata"}, {"s2", "b", "sata"}} {
		s.Pools = append(s.Pools, PoolObservation{ID: p.id, Node: p.node, Labels: map[string]string{"tier": p.tier}, Online: true, CapacityBytes: 1000 * gib})
	}
	for _, v := range vols {
		s.add(v)
	}
	return s
}

// testVolume is a healthy, published volume of 10 GiB with a PV "pv-<id>" bound to claim
// "apps/<id>", of StorageClass mayastor, labelled app=db.
type testVolume struct {
	id    string
	pools []string
	iops  float64
}

func (s *Snapshot) add(v testVolume) {
	s.Volumes[v.id] = &VolumeObservation{ID: v.id, SizeBytes: 10 * gib, NumReplicas: len(v.pools), ReplicaPools: v.pools, Published: true, Healthy: true}
	s.PVs["pv-"+v.id] = &PVObservation{Name: "pv-" + v.id, VolumeID: v.id, StorageClass: "mayastor", Labels: map[string]string{"app": "db"}, Claim: "apps/" + v.id}
	s.IOPS[hourKey].Volumes[v.id] = VolumeIOPS{Known: true, IOPS: v.iops}
}

func decisionOf(plan PolicyPlan, id string) *VolumeDecision {
	for i := range plan.Volumes {
		if plan.Volumes[i].VolumeID == id {
			return &plan.Volumes[i]
		}
	}
	return nil
}

var testFlags = Flags{MaxConcurrentMigrations: 10}

// TestPlanPolicyRules has one row per rule: a snapshot holding volume "v" (on SATA pool s1 at
// 7000 IOPS unless a row changes it) and what the plan does with it.
func TestPlanPolicyRules(t *testing.T) {
	type edit func(s *Snapshot, p *storagev1.StoragePolicy, f *Flags)
	iops := func(x float64) edit {
		return func(s *Snapshot, _ *storagev1.StoragePolicy, _ *Flags) {
			s.IOPS[hourKey].Volumes["v"] = VolumeIOPS{Known: true, IOPS: x}
		}
	}
	onNVMe := func(s *Snapshot, _ *storagev1.StoragePolicy, _ *Flags) { s.Volumes["v"].ReplicaPools = []string{"n1"} }
	vol := func(f func(*VolumeObservation)) edit {
		return func(s *Snapshot, _ *storagev1.StoragePolicy, _ *Flags) { f(s.Volumes["v"]) }
	}
	pv := func(f func(*PVObservation)) edit {
		return func(s *Snapshot, _ *storagev1.StoragePolicy, _ *Flags) { f(s.PVs["pv-v"]) }
	}
	spec := func(f func(*storagev1.StoragePolicySpec)) edit {
		return func(_ *Snapshot, p *storagev1.StoragePolicy, _ *Flags) { f(&p.Spec) }
	}
	migration := func(m MigrationObservation) edit {
		return func(s *Snapshot, _ *storagev1.StoragePolicy, _ *Flags) { s.Migrations["v"] = m }
	}
	alsoSelectedBy := func(f func(*storagev1.StoragePolicy)) edit {
		return func(s *Snapshot, _ *storagev1.StoragePolicy, _ *Flags) {
			o := testPolicy("other")
			f(o)
			s.Policies = append(s.Policies, o)
		}
	}
	poolsUsed := func(used uint64, ids ...string) edit {
		return func(s *Snapshot, _ *storagev1.StoragePolicy, _ *Flags) {
			for i := range s.Pools {
				for _, id := range ids {
					if s.Pools[i].ID == id {
						s.Pools[i].UsedBytes = used
					}
				}
			}
		}
	}
	moved := func(flips int, to storagev1.Tier, ago time.Duration) edit {
		return pv(func(p *PVObservation) { p.Moves = MoveRecord{Flips: flips, To: to, At: now.Add(-ago)} })
	}
	maxCooldown := func(d string) edit {
		return spec(func(s *storagev1.StoragePolicySpec) { s.AntiFlap.MaxCooldown = d })
	}
	windowCooldowns := func(n int32) edit {
		return spec(func(s *storagev1.StoragePolicySpec) { s.AntiFlap.WindowCooldowns = &n })
	}
	all := func(edits ...edit) edit {
		return func(s *Snapshot, p *storagev1.StoragePolicy, f *Flags) {
			for _, e := range edits {
				e(s, p, f)
			}
		}
	}
	none := func(*Snapshot, *storagev1.StoragePolicy, *Flags) {}
	const (
		move, wait, stay = ActionMove, ActionWait, ActionStay
		nvme, sata       = storagev1.TierNVMe, storagev1.TierSATA
	)

	for _, tc := range []struct {
		name   string
		edit   edit
		action Action // "": the policy does not select v
		to     storagev1.Tier
		reason string
		ready  string // the Ready reason; "" means Evaluated
	}{
		// Watermarks (hysteresis).
		{"hot on SATA is promoted", none, move, nvme, storagev1.ReasonAboveHighWatermark, ""},
		{"cold on NVMe is demoted", all(onNVMe, iops(10)), move, sata, storagev1.ReasonBelowLowWatermark, ""},
		{"zero IOPS measured is cold", all(onNVMe, iops(0)), move, sata, storagev1.ReasonBelowLowWatermark, ""},
		{"exactly at the high watermark stays", iops(5000), stay, "", storagev1.ReasonBetweenWatermarks, ""},
		{"exactly at the low watermark stays", all(onNVMe, iops(500)), stay, "", storagev1.ReasonBetweenWatermarks, ""},
		{"between the watermarks stays", iops(2000), stay, "", storagev1.ReasonBetweenWatermarks, ""},
		{"hot on NVMe stays", onNVMe, stay, "", storagev1.ReasonAlreadyOnTargetTier, ""},
		{"cold on SATA stays", iops(1), stay, "", storagev1.ReasonAlreadyOnTargetTier, ""},
		// Unknown IOPS is never zero.
		// A policy none of whose volumes has IOPS data is not Ready; one with some is.
		{"IOPS unknown stays", func(s *Snapshot, _ *storagev1.StoragePolicy, _ *Flags) {
			s.IOPS[hourKey].Volumes["v"] = VolumeIOPS{Reason: "PartialHistory"}
		}, stay, "", storagev1.ReasonUnknownIOPS, storagev1.ReasonAllVolumesUnknown},
		{"no series at all stays", func(s *Snapshot, _ *storagev1.StoragePolicy, _ *Flags) { delete(s.IOPS[hourKey].Volumes, "v") },
			stay, "", storagev1.ReasonUnknownIOPS, storagev1.ReasonAllVolumesUnknown},
		// Annotations (already resolved PVC over PV in the snapshot).
		{"excluded", pv(func(p *PVObservation) { p.Excluded = true }), stay, "", storagev1.ReasonExcluded, ""},
		{"pinned to NVMe though cold", all(iops(1), pv(func(p *PVObservation) { p.Pin = nvme })), move, nvme, storagev1.ReasonPinned, ""},
		{"pinned without data still moves", all(onNVMe, pv(func(p *PVObservation) { p.Pin = sata }),
			func(s *Snapshot, _ *storagev1.StoragePolicy, _ *Flags) { delete(s.IOPS[hourKey].Volumes, "v") }), move, sata, storagev1.ReasonPinned, storagev1.ReasonAllVolumesUnknown},
		{"pinned where it is stays", all(onNVMe, iops(1), pv(func(p *PVObservation) { p.Pin = nvme })), stay, "", storagev1.ReasonAlreadyOnTargetTier, ""},
		{"a pin naming no tier stays, though hot", pv(func(p *PVObservation) { p.BadPin = "fast" }), stay, "", storagev1.ReasonInvalidPin, ""},
		{"a pin naming no tier stays, though cold", all(onNVMe, iops(1), pv(func(p *PVObservation) { p.BadPin = "ssd" })), stay, "", storagev1.ReasonInvalidPin, ""},
		{"excluded wins over a pin naming no tier", pv(func(p *PVObservation) { p.BadPin, p.Excluded = "fast", true }), stay, "", storagev1.ReasonExcluded, ""},
		{"pin respects cooldown", all(iops(1), pv(func(p *PVObservation) { p.Pin = nvme }), migration(MigrationObservation{LastAny: now.Add(-time.Minute), LastReal: now.Add(-time.Minute)})),
			stay, "", storagev1.ReasonCoolingDown, ""},
		// Overlapping policies: only enabled, valid policies of the same StorageClass count.
		{"selected by another enabled policy", alsoSelectedBy(func(*storagev1.StoragePolicy) {}), stay, "", storagev1.ReasonOverlappingPolicies, ""},
		{"selected by a disabled policy too", alsoSelectedBy(func(o *storagev1.StoragePolicy) { o.Spec.Enabled = new(bool) }), move, nvme, storagev1.ReasonAboveHighWatermark, ""},
		{"another class's policy", alsoSelectedBy(func(o *storagev1.StoragePolicy) { o.Spec.StorageClassName = "other" }), move, nvme, storagev1.ReasonAboveHighWatermark, ""},
		{"an invalid policy selects nothing", alsoSelectedBy(func(o *storagev1.StoragePolicy) { o.Spec.SATAPoolSelector = metav1.LabelSelector{} }), move, nvme, storagev1.ReasonAboveHighWatermark, ""},
		{"another policy's volumeSelector misses it", alsoSelectedBy(func(o *storagev1.StoragePolicy) {
			o.Spec.VolumeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
		}), move, nvme, storagev1.ReasonAboveHighWatermark, ""},
		{"the policy itself in the list is no overlap", func(s *Snapshot, p *storagev1.StoragePolicy, _ *Flags) { s.Policies = append(s.Policies, p) },
			move, nvme, storagev1.ReasonAboveHighWatermark, ""},
		// Mayastor's view of the volume.
		{"not listed by Mayastor", func(s *Snapshot, _ *storagev1.StoragePolicy, _ *Flags) { delete(s.Volumes, "v") }, stay, "", storagev1.ReasonVolumeNotFound, ""},
		{"migration in flight", migration(MigrationObservation{InFlight: true, LastAny: now}), stay, "", storagev1.ReasonMigrationInProgress, ""},
		{"replicas on both tiers", vol(func(v *VolumeObservation) { v.ReplicaPools, v.NumReplicas = []string{"n1", "s2"}, 2 }), stay, "", storagev1.ReasonMixedPlacement, ""},
		{"a replica outside both tiers", vol(func(v *VolumeObservation) { v.ReplicaPools = []string{"elsewhere"} }), stay, "", storagev1.ReasonOutsideTiers, ""},
		{"no replica known", vol(func(v *VolumeObservation) { v.ReplicaPools = nil }), stay, "", storagev1.ReasonOutsideTiers, ""},
		{"not Online", vol(func(v *VolumeObservation) { v.Healthy = false }), stay, "", storagev1.ReasonVolumeNotHealthy, ""},
		{"unpublished", vol(func(v *VolumeObservation) { v.Published = false }), stay, "", storagev1.ReasonVolumeUnpublished, ""},
		{"has snapshots", vol(func(v *VolumeObservation) { v.Snapshots = 1 }), stay, "", storagev1.ReasonVolumeHasSnapshots, ""},
		{"1-replica affinity group", vol(func(v *VolumeObservation) { v.AffinityGroup = "g" }), stay, "", storagev1.ReasonAffinityGroupMinimum, ""},
		{"2-replica affinity group moves", vol(func(v *VolumeObservation) {
			v.AffinityGroup, v.ReplicaPools, v.NumReplicas = "g", []string{"s1", "s2"}, 2
		}),
			move, nvme, storagev1.ReasonAboveHighWatermark, ""},
		// Cooldown: real moves count from real moves only; dry runs from any move.
		{"cooling down", migration(MigrationObservation{LastAny: now.Add(-time.Hour), LastReal: now.Add(-time.Hour)}), stay, "", storagev1.ReasonCoolingDown, ""},
		{"cooldown over", migration(MigrationObservation{LastAny: now.Add(-25 * time.Hour), LastReal: now.Add(-25 * time.Hour)}), move, nvme, storagev1.ReasonAboveHighWatermark, ""},
		{"a dry run starts no cooldown for a real move", migration(MigrationObservation{LastAny: now.Add(-time.Hour)}), move, nvme, storagev1.ReasonAboveHighWatermark, ""},
		{"a dry-run policy cools down from dry runs", all(spec(func(s *storagev1.StoragePolicySpec) { s.DryRun = true }), migration(MigrationObservation{LastAny: now.Add(-time.Hour)})),
			stay, "", storagev1.ReasonCoolingDown, ""},
		{"the dry-run flag cools down from dry runs", all(func(_ *Snapshot, _ *storagev1.StoragePolicy, f *Flags) { f.DryRun = true }, migration(MigrationObservation{LastAny: now.Add(-time.Hour)})),
			stay, "", storagev1.ReasonCoolingDown, ""},
		// Anti-flap: the PV's moves record outlives the TierMigrations; flips lengthen the
		// cooldown (24h base; the rows set maxCooldown 96h).
		{"the moves record alone starts the cooldown", moved(0, sata, 2*time.Hour), stay, "", storagev1.ReasonCoolingDown, ""},
		{"the moves record's cooldown over", moved(0, sata, 25*time.Hour), move, nvme, storagev1.ReasonAboveHighWatermark, ""},
		{"one flip: 48h cooldown", all(maxCooldown("96h"), moved(1, sata, 30*time.Hour)), stay, "", storagev1.ReasonAntiFlapCooldown, ""},
		{"one flip: 48h over", all(maxCooldown("96h"), moved(1, sata, 49*time.Hour)), move, nvme, storagev1.ReasonAboveHighWatermark, ""},
		{"three flips capped at 96h", all(maxCooldown("96h"), moved(3, sata, 95*time.Hour)), stay, "", storagev1.ReasonAntiFlapCooldown, ""},
		{"three flips: the cap is over", all(maxCooldown("96h"), moved(3, sata, 97*time.Hour)), move, nvme, storagev1.ReasonAboveHighWatermark, ""},
		{"anti-flap disabled keeps the plain cooldown", all(maxCooldown("96h"), windowCooldowns(0), moved(2, sata, 30*time.Hour)),
			move, nvme, storagev1.ReasonAboveHighWatermark, ""},
		{"a cap below the base keeps the base", all(maxCooldown("1h"), moved(2, sata, 23*time.Hour)), stay, "", storagev1.ReasonCoolingDown, ""},
		// Slots: the policy's and the operator's.
		{"policy slots taken", func(s *Snapshot, _ *storagev1.StoragePolicy, _ *Flags) {
			s.InFlight = InFlight{Global: 2, ByPolicy: map[string]int{"p": 2}}
		},
			wait, nvme, storagev1.ReasonConcurrencyLimit, ""},
		{"operator slots taken", func(s *Snapshot, _ *storagev1.StoragePolicy, _ *Flags) {
			s.InFlight = InFlight{Global: 10, ByPolicy: map[string]int{"x": 10}}
		},
			wait, nvme, storagev1.ReasonConcurrencyLimit, ""},
		{"another policy's migrations take no slot of this one", func(s *Snapshot, _ *storagev1.StoragePolicy, _ *Flags) {
			s.InFlight = InFlight{Global: 2, ByPolicy: map[string]int{"x": 2}}
		}, move, nvme, storagev1.ReasonAboveHighWatermark, ""},
		{"operator limit of 1 already used", func(s *Snapshot, _ *storagev1.StoragePolicy, f *Flags) {
			f.MaxConcurrentMigrations, s.InFlight = 1, InFlight{Global: 1, ByPolicy: map[string]int{"x": 1}}
		}, wait, nvme, storagev1.ReasonConcurrencyLimit, ""},
		// Room on the target tier, headroom kept (HasRoom).
		{"target pools full", poolsUsed(995*gib, "n1", "n2"), wait, nvme, storagev1.ReasonInsufficientCapacity, ""},
		{"room only by eating the headroom", poolsUsed(895*gib, "n1", "n2"), wait, nvme, storagev1.ReasonInsufficientCapacity, ""},
		{"the same room without headroom", all(poolsUsed(895*gib, "n1", "n2"), spec(func(s *storagev1.StoragePolicySpec) { s.CapacityHeadroomPercent = 0 })),
			move, nvme, storagev1.ReasonAboveHighWatermark, ""},
		{"one target pool full, the other has room", poolsUsed(995*gib, "n1"), move, nvme, storagev1.ReasonAboveHighWatermark, ""},
		{"target pools not Online", func(s *Snapshot, _ *storagev1.StoragePolicy, _ *Flags) {
			s.Pools[0].Online, s.Pools[1].Online = false, false
		},
			wait, nvme, storagev1.ReasonInsufficientCapacity, ""},
		{"2 replicas need 2 target pools with room", all(vol(func(v *VolumeObservation) { v.ReplicaPools, v.NumReplicas = []string{"s1", "s2"}, 2 }), poolsUsed(995*gib, "n2")),
			wait, nvme, storagev1.ReasonInsufficientCapacity, ""},
		{"the source tier's room does not matter", all(onNVMe, iops(1), poolsUsed(995*gib, "n1", "n2")), move, sata, storagev1.ReasonBelowLowWatermark, ""},
		// Migration windows (now is Thursday 12:00 UTC) and approvals.
		{"outside every window waits", spec(func(s *storagev1.StoragePolicySpec) {
			s.MigrationWindows = []storagev1.MigrationWindow{{Days: []storagev1.Weekday{"Mon"}, Start: "22:00", Duration: "2h"}}
		}), wait, nvme, storagev1.ReasonOutsideMigrationWindow, ""},
		{"inside a window moves", spec(func(s *storagev1.StoragePolicySpec) {
			s.MigrationWindows = []storagev1.MigrationWindow{{Days: []storagev1.Weekday{"Mon"}, Start: "22:00", Duration: "2h"},
				{Days: []storagev1.Weekday{"Thu"}, Start: "12:30", Duration: "3h", TimeZone: "Europe/Berlin"}}
		}), move, nvme, storagev1.ReasonAboveHighWatermark, ""},
		{"a window the volume does not need changes nothing", all(iops(2000), spec(func(s *storagev1.StoragePolicySpec) {
			s.MigrationWindows = []storagev1.MigrationWindow{{Days: []storagev1.Weekday{"Mon"}, Start: "22:00", Duration: "2h"}}
		})), stay, "", storagev1.ReasonBetweenWatermarks, ""},
		{"unknown time zone", spec(func(s *storagev1.StoragePolicySpec) {
			s.MigrationWindows = []storagev1.MigrationWindow{{Days: []storagev1.Weekday{"Mon"}, Start: "22:00", Duration: "2h", TimeZone: "Mars/Olympus_Mons"}}
		}), "", "", "", storagev1.ReasonInvalidSpec},
		{"waiting for approval stays", migration(MigrationObservation{InFlight: true, LastAny: now, WaitingApproval: "nvme-v-1"}), stay, "", storagev1.ReasonWaitingApproval, ""},
		{"manual approval needs no slot", all(spec(func(s *storagev1.StoragePolicySpec) { s.Approval = storagev1.ApprovalManual }),
			func(s *Snapshot, _ *storagev1.StoragePolicy, _ *Flags) {
				s.InFlight = InFlight{Global: 10, ByPolicy: map[string]int{"p": 2}}
			}),
			move, nvme, storagev1.ReasonAboveHighWatermark, ""},
		{"manual approval still needs room", all(spec(func(s *storagev1.StoragePolicySpec) { s.Approval = storagev1.ApprovalManual }), poolsUsed(995*gib, "n1", "n2")),
			wait, nvme, storagev1.ReasonInsufficientCapacity, ""},
		{"manual approval waits for a window too", spec(func(s *storagev1.StoragePolicySpec) {
			s.Approval = storagev1.ApprovalManual
			s.MigrationWindows = []storagev1.MigrationWindow{{Days: []storagev1.Weekday{"Sat", "Sun"}, Start: "00:00", Duration: "48h"}}
		}), wait, nvme, storagev1.ReasonOutsideMigrationWindow, ""},
		{"bad approval timeout", spec(func(s *storagev1.StoragePolicySpec) { s.Approval, s.ApprovalTimeout = storagev1.ApprovalManual, "soon" }),
			"", "", "", storagev1.ReasonInvalidSpec},
		// Selection.
		// A policy selecting no volume is not Ready.
		{"another StorageClass", pv(func(p *PVObservation) { p.StorageClass = "other" }), "", "", "", storagev1.ReasonNoVolumesSelected},
		{"volumeSelector does not match", spec(func(s *storagev1.StoragePolicySpec) {
			s.VolumeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
		}), "", "", "", storagev1.ReasonNoVolumesSelected},
		{"volumeSelector matches", spec(func(s *storagev1.StoragePolicySpec) {
			s.VolumeSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"db", "cache"}}}}
		}), move, nvme, storagev1.ReasonAboveHighWatermark, ""},
		// The policy not active: nothing moves, the conditions say why.
		{"policy disabled", spec(func(s *storagev1.StoragePolicySpec) { s.Enabled = new(bool) }), stay, "", storagev1.ReasonPolicyNotActive, storagev1.ReasonDisabled},
		{"empty pool selector", spec(func(s *storagev1.StoragePolicySpec) { s.NVMePoolSelector = metav1.LabelSelector{} }), "", "", "", storagev1.ReasonInvalidSpec},
		{"bad selector operator", spec(func(s *storagev1.StoragePolicySpec) {
			s.VolumeSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Near"}}}
		}), "", "", "", storagev1.ReasonInvalidSpec},
		{"bad duration", spec(func(s *storagev1.StoragePolicySpec) { s.CooldownPeriod = "a day" }), "", "", "", storagev1.ReasonInvalidSpec},
		{"Mayastor unreadable", func(s *Snapshot, _ *storagev1.StoragePolicy, _ *Flags) {
			s.MayastorProblem, s.Volumes, s.Pools = &Problem{Reason: storagev1.ReasonMayastorUnavailable, Message: "connection refused"}, nil, nil
		}, stay, "", storagev1.ReasonPolicyNotActive, storagev1.ReasonMayastorUnavailable},
		{"no SATA pool", func(s *Snapshot, _ *storagev1.StoragePolicy, _ *Flags) { s.Pools = s.Pools[:2] }, stay, "", storagev1.ReasonPolicyNotActive, storagev1.ReasonNoSATAPools},
		{"ambiguous pools", spec(func(s *storagev1.StoragePolicySpec) {
			s.SATAPoolSelector = metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpExists}}}
		}), stay, "", storagev1.ReasonPolicyNotActive, storagev1.ReasonAmbiguousPools},
		{"Prometheus unreachable", func(s *Snapshot, _ *storagev1.StoragePolicy, _ *Flags) {
			s.IOPS[hourKey] = &IOPSObservation{Problem: &Problem{Reason: "PrometheusUnreachable", Message: "dial tcp: refused"}}
		}, stay, "", storagev1.ReasonPolicyNotActive, "PrometheusUnreachable"},
		{"IOPS over the policy's window not observed yet", spec(func(s *storagev1.StoragePolicySpec) { s.SamplingWindow = "2h" }),
			stay, "", storagev1.ReasonPolicyNotActive, storagev1.ReasonIOPSNotObserved},
		{"the policy's own query is its own evaluation", spec(func(s *storagev1.StoragePolicySpec) { s.IOPSQuery = "sum(rate(x[$window]))" }),
			stay, "", storagev1.ReasonPolicyNotActive, storagev1.ReasonIOPSNotObserved},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, p, f := testSnapshot(testVolume{"v", []string{"s1"}, 7000}), testPolicy("p"), testFlags
			tc.edit(s, p, &f)
			plan := PlanPolicy(s, p, f, now)
			if want := cmpOr(tc.ready, storagev1.ReasonEvaluated); plan.Ready.Reason != want {
				t.Fatalf("Ready reason %q (%s), want %q", plan.Ready.Reason, plan.Ready.Message, want)
			}
			d := decisionOf(plan, "v")
			if tc.action == "" {
				if d != nil || plan.Counts.Watched != 0 || len(plan.Moves) != 0 {
					t.Fatalf("want v not selected, got %+v (watched %d)", d, plan.Counts.Watched)
				}
				return
			}
			if d == nil || plan.Counts.Watched != 1 {
				t.Fatalf("v not selected: %+v", plan)
			}
			if d.Action != tc.action || d.To != tc.to || d.Reason != tc.reason || d.Message == "" {
				t.Fatalf("got %s to %q reason %s (%q), want %s to %q reason %s", d.Action, d.To, d.Reason, d.Message, tc.action, tc.to, tc.reason)
			}
			switch tc.action {
			case ActionMove:
				if len(plan.Moves) != 1 || plan.Moves[0].To != tc.to || plan.Moves[0].From == tc.to || plan.Moves[0].Reason == "" ||
					plan.Moves[0].Claim != "apps/v" || plan.Moves[0].PVName != "pv-v" || plan.Counts.Planned != 0 {
					t.Fatalf("want one move of v to %s, got %+v", tc.to, plan.Moves)
				}
			case ActionWait:
				if len(plan.Moves) != 0 || plan.Counts.Planned != 1 {
					t.Fatalf("want v waiting, got moves %+v, planned %d", plan.Moves, plan.Counts.Planned)
				}
			default:
				if len(plan.Moves) != 0 || plan.Counts.Planned != 0 {
					t.Fatalf("want no move, got %+v, planned %d", plan.Moves, plan.Counts.Planned)
				}
			}
			if tc.ready != "" && plan.Ready.Status != metav1.ConditionFalse {
				t.Fatalf("an inactive policy must not be Ready: %+v", plan.Ready)
			}
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestPlanPolicyConditionsAndCounts(t *testing.T) {
	s := testSnapshot(
		testVolume{"hot", []string{"s1"}, 9000},
		testVolume{"cold", []string{"n1"}, 1},
		testVolume{"mixed", []string{"n1", "s2"}, 3000},
		testVolume{"unknown", []string{"s2"}, 0},
		testVolume{"gone", []string{"s1"}, 100},
	)
	s.IOPS[hourKey].Volumes["unknown"] = VolumeIOPS{Reason: "NoRate"}
	delete(s.Volumes, "gone")
	plan := PlanPolicy(s, testPolicy("p"), testFlags, now)
	want := PolicyCounts{Watched: 5, NVMe: 1, SATA: 2, Unknown: 1}
	if plan.Counts != want {
		t.Fatalf("counts %+v, want %+v", plan.Counts, want)
	}
	if plan.Storage.Status != metav1.ConditionTrue || plan.Storage.Reason != storagev1.ReasonPoolsFound ||
		!strings.Contains(plan.Storage.Message, "2 NVMe and 2 SATA pools; 4 of 5 watched volumes found") {
		t.Fatalf("storage %+v", plan.Storage)
	}
	if plan.Metrics.Status != metav1.ConditionTrue || !strings.Contains(plan.Metrics.Message, "known for 4 of 5 volumes") {
		t.Fatalf("metrics %+v", plan.Metrics)
	}
	if plan.Ready.Status != metav1.ConditionTrue || !strings.Contains(plan.Ready.Message, "2 migrations to start, 0 waiting") {
		t.Fatalf("ready %+v", plan.Ready)
	}
	if c := plan.Ready.As(storagev1.ConditionReady, 7); c.Type != storagev1.ConditionReady || c.ObservedGeneration != 7 || c.Reason != storagev1.ReasonEvaluated {
		t.Fatalf("As: %+v", c)
	}
	var ids []string
	for _, d := range plan.Volumes {
		ids = append(ids, d.VolumeID)
	}
	if got := strings.Join(ids, ","); got != "cold,gone,hot,mixed,unknown" {
		t.Fatalf("decisions by volume id, got %s", got)
	}

	// Prometheus down: every volume counts as unknown, none moves.
	s.IOPS[hourKey] = &IOPSObservation{Problem: &Problem{Reason: "PrometheusTimeout", Message: "timed out"}}
	plan = PlanPolicy(s, testPolicy("p"), testFlags, now)
	if plan.Counts.Unknown != 5 || plan.Metrics.Status != metav1.ConditionFalse || plan.Metrics.Reason != "PrometheusTimeout" ||
		len(plan.Moves) != 0 || !strings.HasPrefix(plan.Ready.Message, "no migration is started") {
		t.Fatalf("metrics down: %+v %+v %+v", plan.Counts, plan.Metrics, plan.Ready)
	}
	// Disabled: watched and active are reported, nothing else.
	p := testPolicy("p")
	p.Spec.Enabled = new(bool)
	s.InFlight.ByPolicy["p"] = 1
	plan = PlanPolicy(s, p, testFlags, now)
	if plan.Counts != (PolicyCounts{Watched: 5, Active: 1}) || plan.Storage.Status != metav1.ConditionUnknown || len(plan.Volumes) != 5 {
		t.Fatalf("disabled: %+v %+v", plan.Counts, plan.Storage)
	}
}

func TestPlanPolicyEffectiveModes(t *testing.T) {
	s := testSnapshot(testVolume{"v", []string{"s1"}, 7000})
	for _, tc := range []struct {
		specDry, specKeep, flagDry, flagKeep bool
	}{{false, false, false, false}, {true, false, false, false}, {false, false, true, false}, {false, true, false, false}, {false, false, false, true}, {true, true, true, true}} {
		p := testPolicy("p")
		p.Spec.DryRun, p.Spec.PreservationMode = tc.specDry, tc.specKeep
		plan := PlanPolicy(s, p, Flags{MaxConcurrentMigrations: 1, DryRun: tc.flagDry, PreservationMode: tc.flagKeep}, now)
		if plan.DryRun != (tc.specDry || tc.flagDry) || plan.PreservationMode != (tc.specKeep || tc.flagKeep) {
			t.Errorf("%+v: dry-run %v, preservation %v", tc, plan.DryRun, plan.PreservationMode)
		}
	}
}

func TestPlanPolicyRanksWhenSlotsBind(t *testing.T) {
	s := testSnapshot(
		testVolume{"warm", []string{"s1"}, 6000},
		testVolume{"hottest", []string{"s1"}, 20000},
		testVolume{"hot", []string{"s2"}, 9000},
		testVolume{"cool", []string{"n1"}, 400},
		testVolume{"coldest", []string{"n2"}, 1},
	)
	p := testPolicy("p")
	p.Spec.MaxConcurrentMigrations = 3
	moved := func(plan PolicyPlan) string {
		var ids []string
		for _, m := range plan.Moves {
			ids = append(ids, m.VolumeID)
		}
		return strings.Join(ids, ",")
	}
	plan := PlanPolicy(s, p, testFlags, now)
	if got := moved(plan); got != "hottest,hot,warm" || plan.Counts.Planned != 2 {
		t.Fatalf("promotions first, hottest first: %s (planned %d)", got, plan.Counts.Planned)
	}
	if d := decisionOf(plan, "coldest"); d.Action != ActionWait || d.Reason != storagev1.ReasonConcurrencyLimit || d.To != storagev1.TierSATA {
		t.Fatalf("coldest waits for a slot: %+v", d)
	}
	p.Spec.MaxConcurrentMigrations = 4
	if got := moved(PlanPolicy(s, p, testFlags, now)); got != "hottest,hot,warm,coldest" {
		t.Fatalf("coldest demoted first: %s", got)
	}
	// A pinned volume goes before every measured one.
	s.PVs["pv-cool"].Pin = storagev1.TierNVMe
	s.Volumes["cool"].ReplicaPools = []string{"s2"}
	if got := moved(PlanPolicy(s, p, testFlags, now)); got != "cool,hottest,hot,warm" {
		t.Fatalf("pinned first: %s", got)
	}
	// The operator's limit binds before the policy's.
	if got := moved(PlanPolicy(s, p, Flags{MaxConcurrentMigrations: 3}, now)); got != "cool,hottest,hot" {
		t.Fatalf("operator limit: %s", got)
	}
}

func TestPlanPolicyRoomIsConsumedByGrantedMoves(t *testing.T) {
	s := testSnapshot(testVolume{"a", []string{"s1"}, 9000}, testVolume{"b", []string{"s1"}, 8000}, testVolume{"c", []string{"s2"}, 7000})
	for _, id := range []string{"a", "b", "c"} {
		s.Volumes[id].SizeBytes = 400 * gib
	}
	// 900 GiB usable per NVMe pool with 10% headroom, 300 GiB used: one 400 GiB replica each.
	s.Pools[0].UsedBytes, s.Pools[1].UsedBytes = 300*gib, 300*gib
	p := testPolicy("p")
	p.Spec.MaxConcurrentMigrations = 10
	plan := PlanPolicy(s, p, testFlags, now)
	if len(plan.Moves) != 2 || plan.Moves[0].VolumeID != "a" || plan.Moves[1].VolumeID != "b" {
		t.Fatalf("two moves fit, one per pool: %+v", plan.Moves)
	}
	if d := decisionOf(plan, "c"); d.Action != ActionWait || d.Reason != storagev1.ReasonInsufficientCapacity {
		t.Fatalf("the third waits for room: %+v", d)
	}
	// A big volume that does not fit does not stop a smaller one behind it.
	s.Volumes["a"].SizeBytes = 2000 * gib
	plan = PlanPolicy(s, p, testFlags, now)
	if len(plan.Moves) != 2 || plan.Moves[0].VolumeID != "b" || plan.Moves[1].VolumeID != "c" {
		t.Fatalf("the volumes that fit move: %+v", plan.Moves)
	}
	// The snapshot is not changed by planning: the same plan twice.
	if again := PlanPolicy(s, p, testFlags, now); fmt.Sprint(again.Moves) != fmt.Sprint(plan.Moves) || s.Pools[0].UsedBytes != 300*gib {
		t.Fatal("planning changed the snapshot")
	}
}

func TestPlanPolicyIsRepeatable(t *testing.T) {
	s := testSnapshot()
	for i := range 50 {
		s.add(testVolume{fmt.Sprintf("v%02d", i), []string{"s1"}, 9000})
	}
	first := PlanPolicy(s, testPolicy("p"), testFlags, now)
	for range 20 { // map iteration order changes from call to call
		if got := PlanPolicy(s, testPolicy("p"), testFlags, now); fmt.Sprint(got.Moves) != fmt.Sprint(first.Moves) || fmt.Sprint(got.Volumes) != fmt.Sprint(first.Volumes) {
			t.Fatalf("plans differ:\n%v\n%v", got.Moves, first.Moves)
		}
	}
	if first.Moves[0].VolumeID != "v00" || first.Moves[1].VolumeID != "v01" {
		t.Fatalf("ties broken by volume id: %+v", first.Moves)
	}
}

// TestThreeOverlappingPolicies plans three policies from one snapshot: each reports the
// volumes another selects too, and none moves them.
func TestThreeOverlappingPolicies(t *testing.T) {
	s := testSnapshot()
	for i, app := range []string{"a", "a", "b", "b", "c", "shared"} {
		id := fmt.Sprintf("v%d", i)
		s.add(testVolume{id, []string{"s1"}, 9000})
		s.PVs["pv-"+id].Labels = map[string]string{"app": app}
	}
	pol := func(name string, apps ...string) *storagev1.StoragePolicy {
		p := testPolicy(name)
		p.Spec.MaxConcurrentMigrations = 10
		p.Spec.VolumeSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: apps}}}
		return p
	}
	// pa and pb both take "b"; all three take "shared".
	s.Policies = []*storagev1.StoragePolicy{pol("pa", "a", "b", "shared"), pol("pb", "b", "shared"), pol("pc", "c", "shared")}
	want := map[string]struct {
		moves    string
		overlaps map[string]string
	}{
		"pa": {"v0,v1", map[string]string{"v2": "pb", "v3": "pb", "v5": "pb,pc"}},
		"pb": {"", map[string]string{"v2": "pa", "v3": "pa", "v5": "pa,pc"}},
		"pc": {"v4", map[string]string{"v5": "pa,pb"}},
	}
	for _, p := range s.Policies {
		plan := PlanPolicy(s, p, Flags{MaxConcurrentMigrations: 100}, now)
		var moves []string
		for _, m := range plan.Moves {
			moves = append(moves, m.VolumeID)
		}
		if got := strings.Join(moves, ","); got != want[p.Name].moves {
			t.Errorf("%s moves %q, want %q", p.Name, got, want[p.Name].moves)
		}
		if len(plan.Overlaps) != len(want[p.Name].overlaps) {
			t.Errorf("%s overlaps %v, want %v", p.Name, plan.Overlaps, want[p.Name].overlaps)
		}
		for id, others := range want[p.Name].overlaps {
			if got := strings.Join(plan.Overlaps[id], ","); got != others {
				t.Errorf("%s: %s also selected by %q, want %q", p.Name, id, got, others)
			}
			if d := decisionOf(plan, id); d.Action != ActionStay || d.Reason != storagev1.ReasonOverlappingPolicies {
				t.Errorf("%s: overlapping %s decided %+v", p.Name, id, d)
			}
		}
		if len(plan.Overlaps) > 0 && !strings.Contains(plan.Ready.Message, "also selected by another policy") {
			t.Errorf("%s: Ready does not mention the overlap: %s", p.Name, plan.Ready.Message)
		}
	}
}

func TestCompilePolicy(t *testing.T) {
	p := testPolicy("p")
	p.Spec.IOPSQuery = "q"
	c, err := CompilePolicy(&p.Spec)
	if err != nil || c.Window != time.Hour || c.Cooldown != 24*time.Hour || c.IOPS != (IOPSKey{Window: time.Hour, Query: "q"}) || c.Volumes != nil {
		t.Fatalf("%+v %v", c, err)
	}
	if k, err := IOPSKeyOf(&p.Spec); err != nil || k != c.IOPS {
		t.Fatalf("IOPSKeyOf %+v %v", k, err)
	}
	for field, f := range map[string]func(*storagev1.StoragePolicySpec){
		"spec.nvmePoolSelector": func(s *storagev1.StoragePolicySpec) { s.NVMePoolSelector = metav1.LabelSelector{} },
		"spec.sataPoolSelector": func(s *storagev1.StoragePolicySpec) {
			s.SATAPoolSelector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn}}
		},
		"spec.volumeSelector": func(s *storagev1.StoragePolicySpec) {
			s.VolumeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"bad key!": "x"}}
		},
		"spec.samplingWindow":       func(s *storagev1.StoragePolicySpec) { s.SamplingWindow = "0s" },
		"spec.cooldownPeriod":       func(s *storagev1.StoragePolicySpec) { s.CooldownPeriod = "" },
		"spec.antiFlap.maxCooldown": func(s *storagev1.StoragePolicySpec) { s.AntiFlap.MaxCooldown = "-1h" },
		"spec.antiFlap.windowCooldowns": func(s *storagev1.StoragePolicySpec) {
			s.AntiFlap.WindowCooldowns = new(int32(-1))
		},
	} {
		p := testPolicy("p")
		f(&p.Spec)
		if _, err := CompilePolicy(&p.Spec); err == nil || !strings.HasPrefix(err.Error(), field) {
			t.Errorf("%s: error %v does not name the field", field, err)
		}
	}
}

func TestSelectionIndex(t *testing.T) {
	s := testSnapshot()
	for i, app := range []string{"db", "web", "cache", "db", "web"} {
		id := fmt.Sprintf("v%d", 4-i) // PVs added out of volume-id order
		s.add(testVolume{id, []string{"s1"}, 100})
		s.PVs["pv-"+id].Labels = map[string]string{"app": app}
	}
	s.PVs["pv-v0"].StorageClass = "other"
	sel := func(reqs ...metav1.LabelSelectorRequirement) *storagev1.StoragePolicy {
		p := testPolicy("p")
		p.Spec.VolumeSelector = &metav1.LabelSelector{MatchExpressions: reqs}
		return p
	}
	ids := func(p *storagev1.StoragePolicy) string {
		var out []string
		for _, d := range PlanPolicy(s, p, testFlags, now).Volumes {
			out = append(out, d.VolumeID)
		}
		return strings.Join(out, ",")
	}
	in := func(vals ...string) metav1.LabelSelectorRequirement {
		return metav1.LabelSelectorRequirement{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: vals}
	}
	for _, tc := range []struct {
		name string
		p    *storagev1.StoragePolicy
		want string
	}{
		{"every volume of the class", testPolicy("p"), "v1,v2,v3,v4"},
		{"In over two values, by volume id", sel(in("web", "db")), "v1,v3,v4"},
		{"In and NotIn", sel(in("web", "db"), metav1.LabelSelectorRequirement{Key: "app", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"db"}}), "v3"},
		{"NotIn alone scans the class", sel(metav1.LabelSelectorRequirement{Key: "app", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"db"}}), "v2,v3"},
		{"DoesNotExist", sel(metav1.LabelSelectorRequirement{Key: "app", Operator: metav1.LabelSelectorOpDoesNotExist}), ""},
		{"a value nobody has", sel(in("nothing")), ""},
	} {
		if got := ids(tc.p); got != tc.want {
			t.Errorf("%s: selected %q, want %q", tc.name, got, tc.want)
		}
	}

	// The snapshot's copy of a policy may be older than the one planned: the planned spec wins.
	s.Policies = []*storagev1.StoragePolicy{sel(in("web"))}
	if got := ids(sel(in("db"))); got != "v1,v4" {
		t.Fatalf("the planned spec decides the selection, got %q", got)
	}
	// A refreshed snapshot sees the new PVs and policies; the old one is unchanged.
	pvs := map[string]*PVObservation{}
	for k, v := range s.PVs {
		pvs[k] = v
	}
	delete(pvs, "pv-v1")
	r := s.Refreshed(pvs, s.Migrations, s.InFlight, []*storagev1.StoragePolicy{testPolicy("p"), testPolicy("q")})
	plan := PlanPolicy(r, testPolicy("p"), testFlags, now)
	if plan.Counts.Watched != 3 || len(plan.Overlaps) != 3 || r.Volumes["v1"] == nil {
		t.Fatalf("refreshed: watched %d, overlaps %v", plan.Counts.Watched, plan.Overlaps)
	}
	if PlanPolicy(s, testPolicy("p"), testFlags, now).Counts.Watched != 4 {
		t.Fatal("the old snapshot changed")
	}
}

// Policies are planned concurrently from one snapshot (run with -race).
func TestPlanPolicyConcurrently(t *testing.T) {
	policies := benchPolicies(8, true)
	s := testSnapshot()
	for i := range 80 {
		id := fmt.Sprintf("v%02d", i)
		s.add(testVolume{id, []string{"s1"}, 9000})
		s.PVs["pv-"+id].Labels = map[string]string{"group": fmt.Sprintf("g%02d", i%8)}
	}
	s.Policies = policies
	done := make(chan PolicyPlan)
	for _, p := range policies {
		go func() { done <- PlanPolicy(s, p, testFlags, now) }()
	}
	for range policies {
		if plan := <-done; len(plan.Moves) != 0 || len(plan.Overlaps) == 0 {
			t.Errorf("every volume overlaps with \"all\": %d moves, %d overlaps", len(plan.Moves), len(plan.Overlaps))
		}
	}
}

// A policy is Ready when it selects a volume and some volume it selects has IOPS data; otherwise
// the reason says which, and the message says why the volumes are Unknown.
func TestPolicyReadyNeedsAVolumeWithIOPS(t *testing.T) {
	for _, tc := range []struct {
		name    string
		iops    map[string]VolumeIOPS // by volume; absent: no series
		ready   metav1.ConditionStatus
		reason  string
		message string
	}{
		{"both known", map[string]VolumeIOPS{"a": {Known: true, IOPS: 2000}, "b": {Known: true, IOPS: 3000}}, metav1.ConditionTrue, storagev1.ReasonEvaluated, "2 volumes watched"},
		{"one known, one without series", map[string]VolumeIOPS{"a": {Known: true, IOPS: 2000}}, metav1.ConditionTrue, storagev1.ReasonEvaluated, "1 without IOPS data"},
		{"none known", map[string]VolumeIOPS{"a": {Reason: "PartialHistory"}}, metav1.ConditionFalse, storagev1.ReasonAllVolumesUnknown,
			"none of its 2 volumes has IOPS data covering the sampling window 1h (NoSeries 1, PartialHistory 1)"},
		{"no series at all: Mayastor's version is named", nil, metav1.ConditionFalse, storagev1.ReasonAllVolumesUnknown, "older than 2.6"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testSnapshot(testVolume{"a", []string{"s1"}, 0}, testVolume{"b", []string{"s2"}, 0})
			s.IOPS[hourKey].Volumes = tc.iops
			plan := PlanPolicy(s, testPolicy("p"), testFlags, now)
			if plan.Ready.Status != tc.ready || plan.Ready.Reason != tc.reason || !strings.Contains(plan.Ready.Message, tc.message) {
				t.Errorf("Ready %s %s (%s), want %s %s containing %q", plan.Ready.Status, plan.Ready.Reason, plan.Ready.Message, tc.ready, tc.reason, tc.message)
			}
		})
	}
	s := testSnapshot()
	plan := PlanPolicy(s, testPolicy("p"), testFlags, now)
	if plan.Ready.Status != metav1.ConditionFalse || plan.Ready.Reason != storagev1.ReasonNoVolumesSelected || !strings.Contains(plan.Ready.Message, `StorageClass "mayastor"`) {
		t.Errorf("no volume: Ready %+v", plan.Ready)
	}
}

// VolumeCooldown is the cooldown the planner judges by: from the latest real move (any move for
// a dry run) or the moves record, lengthened by flips.
func TestVolumeCooldown(t *testing.T) {
	af := AntiFlap{WindowCooldowns: 3, Base: 24 * time.Hour, Max: 7 * 24 * time.Hour}
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	for _, tc := range []struct {
		name   string
		m      MigrationObservation
		rec    MoveRecord
		dryRun bool
		length time.Duration
		left   time.Duration
	}{
		{"never moved", MigrationObservation{}, MoveRecord{}, false, 24 * time.Hour, 0},
		{"moved an hour ago", MigrationObservation{LastAny: ago(time.Hour), LastReal: ago(time.Hour)}, MoveRecord{}, false, 24 * time.Hour, 23 * time.Hour},
		{"a dry run starts no cooldown for real moves", MigrationObservation{LastAny: ago(time.Hour)}, MoveRecord{}, false, 24 * time.Hour, 0},
		{"a dry run's cooldown counts from any move", MigrationObservation{LastAny: ago(time.Hour)}, MoveRecord{}, true, 24 * time.Hour, 23 * time.Hour},
		{"the moves record outlives the TierMigrations", MigrationObservation{}, MoveRecord{At: ago(2 * time.Hour), To: storagev1.TierNVMe}, false, 24 * time.Hour, 22 * time.Hour},
		{"one flip doubles it", MigrationObservation{}, MoveRecord{At: ago(2 * time.Hour), Flips: 1}, false, 48 * time.Hour, 46 * time.Hour},
		{"over", MigrationObservation{LastAny: ago(25 * time.Hour), LastReal: ago(25 * time.Hour)}, MoveRecord{}, false, 24 * time.Hour, 0},
	} {
		c := VolumeCooldown(tc.m, tc.rec, af, tc.dryRun, now)
		if c.Length != tc.length || c.Left != tc.left {
			t.Errorf("%s: length %s left %s, want %s and %s", tc.name, c.Length, c.Left, tc.length, tc.left)
		}
	}
}

// The plan says which slots its moves were given from.
func TestPlanSlots(t *testing.T) {
	s := testSnapshot(testVolume{"v", []string{"s1"}, 7000})
	s.InFlight = InFlight{Global: 3, ByPolicy: map[string]int{"p": 1}}
	plan := PlanPolicy(s, testPolicy("p"), Flags{MaxConcurrentMigrations: 10}, now)
	want := Slots{PolicyMax: 2, PolicyInFlight: 1, OperatorMax: 10, OperatorInFlight: 3, Free: 1}
	if plan.Slots != want || len(plan.Moves) != 1 {
		t.Errorf("slots %+v (%d moves), want %+v and one move", plan.Slots, len(plan.Moves), want)
	}
}
