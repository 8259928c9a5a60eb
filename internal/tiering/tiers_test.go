package tiering

import (
	"testing"

	"k8s.io/apimachinery/pkg/labels"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

func pool(id string, lbl map[string]string) PoolObservation {
	return PoolObservation{ID: id, Labels: lbl, Online: true}
}

func TestClassify(t *testing.T) {
	hot := labels.SelectorFromSet(labels.Set{"tier": "hot"})
	cold, _ := labels.Parse("tier in (cold,archive)")
	pools := []PoolObservation{
		pool("n1", map[string]string{"tier": "hot"}),
		pool("s1", map[string]string{"tier": "cold"}),
		pool("s2", map[string]string{"tier": "archive"}),
		pool("x", map[string]string{"tier": "other"}),
		{ID: "nolabels"},
	}
	c := Classify(pools, hot, cold)
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
	c = Classify(pools, hot, labels.Everything())
	if len(c.Ambiguous) != 1 || c.Ambiguous[0] != "n1" || c.NVMe != 0 {
		t.Fatalf("ambiguous: %+v", c)
	}
	if r, _ := c.StorageProblem(); r != "AmbiguousPools" {
		t.Fatalf("want AmbiguousPools, got %q", r)
	}
	if r, _ := Classify(pools[:1], hot, cold).StorageProblem(); r != "NoSATAPools" {
		t.Fatalf("want NoSATAPools, got %q", r)
	}
	if r, _ := Classify(nil, hot, cold).StorageProblem(); r != "NoPools" {
		t.Fatalf("want NoPools, got %q", r)
	}
}

func TestVolumePlacement(t *testing.T) {
	tiers := PoolTiers{"n1": storagev1.TierNVMe, "n2": storagev1.TierNVMe, "s1": storagev1.TierSATA}
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
		if got := tiers.Placement(tc.pools); got != tc.want {
			t.Errorf("%v: got %s, want %s", tc.pools, got, tc.want)
		}
	}
}

// The tier annotation is read in any case; a value naming no tier is bad, an empty one pins
// nothing.
func TestParsePin(t *testing.T) {
	for _, tc := range []struct {
		value string
		pin   storagev1.Tier
		bad   string
	}{
		{"NVMe", storagev1.TierNVMe, ""},
		{"nvme", storagev1.TierNVMe, ""},
		{"NVME", storagev1.TierNVMe, ""},
		{"Nvme", storagev1.TierNVMe, ""},
		{" nvme ", storagev1.TierNVMe, ""},
		{"SATA", storagev1.TierSATA, ""},
		{"sata", storagev1.TierSATA, ""},
		{"Sata", storagev1.TierSATA, ""},
		{"", "", ""},
		{"  ", "", ""},
		{"fast", "", "fast"},
		{"ssd", "", "ssd"},
		{"nvme1", "", "nvme1"},
		{"NVMe,SATA", "", "NVMe,SATA"},
	} {
		pin, bad := ParsePin(tc.value)
		if pin != tc.pin || bad != tc.bad {
			t.Errorf("ParsePin(%q) = %q, %q; want %q, %q", tc.value, pin, bad, tc.pin, tc.bad)
		}
	}
}
