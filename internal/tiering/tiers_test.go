package tiering

import (
	"testing"

	"k8s.io/apimachinery/pkg/labels"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/mayastor"
)

func pool(id string, lbl map[string]string) mayastor.Pool {
	return mayastor.Pool{ID: id, Spec: &mayastor.PoolSpec{ID: id, Labels: lbl}}
}

func TestClassifyPools(t *testing.T) {
	hot := labels.SelectorFromSet(labels.Set{"tier": "hot"})
	cold, _ := labels.Parse("tier in (cold,archive)")
	pools := []mayastor.Pool{
		pool("n1", map[string]string{"tier": "hot"}),
		pool("s1", map[string]string{"tier": "cold"}),
		pool("s2", map[string]string{"tier": "archive"}),
		pool("x", map[string]string{"tier": "other"}),
		{ID: "nolabels"},
	}
	c := ClassifyPools(pools, hot, cold)
	if c.NVMe != 1 || c.SATA != 2 || c.Tiers["n1"] != storagev1.TierNVMe || c.Tiers["s2"] != storagev1.TierSATA {
		t.Fatalf("classification: %+v", c)
	}
	if _, ok := c.Tiers["x"]; ok {
		t.Fatal("a pool matching no selector got a tier")
	}
	if r, _ := c.StorageProblem(); r != "" {
		t.Fatalf("unexpected problem %s", r)
	}

	// One selector matching everything makes pools ambiguous, not double-counted.
	c = ClassifyPools(pools, hot, labels.Everything())
	if len(c.Ambiguous) != 1 || c.Ambiguous[0] != "n1" || c.NVMe != 0 {
		t.Fatalf("ambiguous: %+v", c)
	}
	if r, _ := c.StorageProblem(); r != "AmbiguousPools" {
		t.Fatalf("want AmbiguousPools, got %q", r)
	}
	if r, _ := ClassifyPools(pools[:1], hot, cold).StorageProblem(); r != "NoSATAPools" {
		t.Fatalf("want NoSATAPools, got %q", r)
	}
	if r, _ := ClassifyPools(nil, hot, cold).StorageProblem(); r != "NoPools" {
		t.Fatalf("want NoPools, got %q", r)
	}
}

func TestVolumePlacement(t *testing.T) {
	tiers := PoolTiers{"n1": storagev1.TierNVMe, "n2": storagev1.TierNVMe, "s1": storagev1.TierSATA}
	vol := func(pools ...string) *mayastor.Volume {
		v := &mayastor.Volume{State: mayastor.VolumeState{ReplicaTopology: map[string]mayastor.ReplicaTopology{}}}
		for i, p := range pools {
			v.State.ReplicaTopology[string(rune('a'+i))] = mayastor.ReplicaTopology{Pool: p}
		}
		return v
	}
	for _, tc := range []struct {
		pools []string
		want  Placement
	}{
		{[]string{"n1"}, PlacementNVMe},
		{[]string{"n1", "n2"}, PlacementNVMe},
		{[]string{"s1"}, PlacementSATA},
		{[]string{"n1", "s1"}, PlacementMixed},
		{[]string{"n1", "elsewhere"}, PlacementOther},
		{nil, PlacementOther},
	} {
		if got := VolumePlacement(vol(tc.pools...), tiers); got != tc.want {
			t.Errorf("%v: got %s, want %s", tc.pools, got, tc.want)
		}
	}
}
