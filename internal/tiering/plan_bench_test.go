package tiering

import (
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

// benchSnapshot is the scale scenario's shape: 10,000 volumes of 1 or 2 replicas, half on each
// tier, IOPS spread over 0..12,000 (a few percent unknown), their PVs labelled group=g00..g99,
// 24 pools, and policies policies (see benchPolicies).
func benchSnapshot(policies []*storagev1.StoragePolicy) *Snapshot {
	s := testSnapshot()
	s.Pools = nil
	for i := range 12 {
		for _, tier := range []string{"nvme", "sata"} {
			s.Pools = append(s.Pools, PoolObservation{ID: fmt.Sprintf("%s-%02d", tier, i), Node: fmt.Sprintf("node-%02d", i),
				Labels: map[string]string{"tier": tier}, Online: true, CapacityBytes: 100 << 40, UsedBytes: 40 << 40})
		}
	}
	for i := range 10000 {
		id := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		tier := "nvme"
		if i%2 == 1 {
			tier = "sata"
		}
		pools := []string{fmt.Sprintf("%s-%02d", tier, i%12)}
		if i%3 == 0 {
			pools = append(pools, fmt.Sprintf("%s-%02d", tier, (i+1)%12))
		}
		s.add(testVolume{id, pools, float64((i * 7919) % 12000)})
		pv := s.PVs["pv-"+id]
		pv.Labels = map[string]string{"group": fmt.Sprintf("g%02d", i%100), "app": "bench"}
		if i%50 == 0 {
			s.IOPS[hourKey].Volumes[id] = VolumeIOPS{Reason: "PartialHistory"}
		}
	}
	s.Policies = policies
	return s
}

// benchPolicies: "all" selects every volume; "group-NN" the 100 volumes labelled group=gNN.
// The groups are disjoint and "all" is disabled in the 100-policy case, so no volume overlaps.
func benchPolicies(groups int, withAll bool) []*storagev1.StoragePolicy {
	var out []*storagev1.StoragePolicy
	if withAll {
		out = append(out, testPolicy("all"))
	}
	for g := range groups {
		p := testPolicy(fmt.Sprintf("group-%02d", g))
		p.Spec.VolumeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"group": fmt.Sprintf("g%02d", g)}}
		out = append(out, p)
	}
	return out
}

// BenchmarkPlanPolicy plans one policy over 10,000 volumes: (a) the policy selects them all;
// (b) it is one of 100 policies that each select 100. The snapshot's selection index is
// already built (once per snapshot, shared by every policy; BenchmarkPlanCycle includes it).
func BenchmarkPlanPolicy(b *testing.B) {
	b.Run("one-policy-selecting-10000", func(b *testing.B) {
		policies := benchPolicies(0, true)
		s := benchSnapshot(policies)
		s.index() // built once per snapshot for every policy: BenchmarkPlanCycle counts it
		b.ReportAllocs()
		for b.Loop() {
			if plan := PlanPolicy(s, policies[0], testFlags, now); len(plan.Moves) != 2 || plan.Counts.Watched != 10000 {
				b.Fatalf("moves %d, watched %d", len(plan.Moves), plan.Counts.Watched)
			}
		}
	})
	b.Run("one-of-100-policies-selecting-100", func(b *testing.B) {
		policies := benchPolicies(100, false)
		s := benchSnapshot(policies)
		s.index() // built once per snapshot for every policy: BenchmarkPlanCycle counts it
		b.ReportAllocs()
		for b.Loop() {
			if plan := PlanPolicy(s, policies[42], testFlags, now); len(plan.Moves) != 2 || plan.Counts.Watched != 100 || len(plan.Overlaps) != 0 {
				b.Fatalf("moves %d, watched %d, overlaps %d", len(plan.Moves), plan.Counts.Watched, len(plan.Overlaps))
			}
		}
	})
}

// BenchmarkPlanCycle plans every policy of the scale scenario (b) from a new snapshot (its
// selection index built from scratch): 100 policies selecting 100 volumes each, plus one
// selecting all 10,000 (so every volume overlaps).
//
// "shared index" is the steady state: no PV, PVC or policy changed since the previous cycle, so
// the new snapshot shares its selection index (ShareIndex), as the observer's snapshots do.
func BenchmarkPlanCycle(b *testing.B) {
	policies := benchPolicies(100, true)
	base := benchSnapshot(policies)
	for _, shared := range []bool{false, true} {
		name := map[bool]string{false: "new index", true: "shared index"}[shared]
		b.Run(name, func(b *testing.B) {
			prev := base.Refreshed(base.PVs, base.Migrations, base.InFlight, base.Policies)
			b.ReportAllocs()
			for b.Loop() {
				s := base.Refreshed(base.PVs, base.Migrations, base.InFlight, base.Policies)
				if shared {
					s.ShareIndex(prev)
				}
				for _, p := range policies {
					if plan := PlanPolicy(s, p, testFlags, now); len(plan.Moves) != 0 || len(plan.Overlaps) != len(plan.Volumes) {
						b.Fatalf("%s: %d moves, %d of %d volumes overlapping; want none and all", p.Name, len(plan.Moves), len(plan.Overlaps), len(plan.Volumes))
					}
				}
				prev = s
			}
		})
	}
}

// A snapshot sharing its selection index with the previous one (no PV, PVC or policy changed)
// gives each policy the overlaps worked out for that index, not new ones; a changed spec gets
// its own.
func TestOverlapsWorkedOutOncePerIndex(t *testing.T) {
	policies := benchPolicies(4, true)
	first := benchSnapshot(policies)
	next := first.Refreshed(first.PVs, first.Migrations, first.InFlight, first.Policies)
	next.ShareIndex(first)
	all := policies[len(policies)-1]
	a, b := PlanPolicy(first, all, testFlags, now), PlanPolicy(next, all, testFlags, now)
	if len(a.Overlaps) == 0 || len(a.Overlaps) != len(b.Overlaps) {
		t.Fatalf("overlaps: %d and %d, want the same, more than none", len(a.Overlaps), len(b.Overlaps))
	}
	if !sameMap(a.Overlaps, b.Overlaps) {
		t.Error("the shared index's overlaps were worked out again")
	}
	changed := all.DeepCopy()
	changed.Spec.HighWatermarkIOPS++
	if c := PlanPolicy(next, changed, testFlags, now); sameMap(c.Overlaps, a.Overlaps) || len(c.Overlaps) != len(a.Overlaps) {
		t.Errorf("a changed spec got the indexed overlaps (or other ones: %d, want %d)", len(c.Overlaps), len(a.Overlaps))
	}
}
