package migration

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

func testPolicy() *storagev1.StoragePolicy {
	return &storagev1.StoragePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "gold"},
		Spec: storagev1.StoragePolicySpec{
			NVMePoolSelector: metav1.LabelSelector{MatchLabels: map[string]string{"tier": "hot"}},
			SATAPoolSelector: metav1.LabelSelector{MatchLabels: map[string]string{"tier": "cold"}},
			MigrationTimeout: "45m",
		},
	}
}

func TestPoolsResolution(t *testing.T) {
	own := &metav1.LabelSelector{MatchLabels: map[string]string{"media": "nvme"}}
	cases := []struct {
		name           string
		spec           storagev1.TierMigrationSpec
		policy         *storagev1.StoragePolicy
		target, source string
		reason         string
	}{
		{"policy selectors, to NVMe", storagev1.TierMigrationSpec{TargetTier: storagev1.TierNVMe, PolicyName: "gold"}, testPolicy(), "tier=hot", "tier=cold", ""},
		{"policy selectors, to SATA", storagev1.TierMigrationSpec{TargetTier: storagev1.TierSATA, PolicyName: "gold"}, testPolicy(), "tier=cold", "tier=hot", ""},
		{"spec selector wins", storagev1.TierMigrationSpec{TargetTier: storagev1.TierNVMe, PolicyName: "gold", TargetPoolSelector: own}, testPolicy(), "media=nvme", "tier=cold", ""},
		{"spec selector without policy: any other pool is a source", storagev1.TierMigrationSpec{TargetTier: storagev1.TierNVMe, TargetPoolSelector: own}, nil, "media=nvme", "", ""},
		{"missing policy", storagev1.TierMigrationSpec{TargetTier: storagev1.TierNVMe, PolicyName: "gone"}, nil, "", "", storagev1.ReasonPolicyNotFound},
		{"empty target selector", storagev1.TierMigrationSpec{TargetTier: storagev1.TierNVMe, TargetPoolSelector: &metav1.LabelSelector{}}, nil, "", "", storagev1.ReasonInvalidSpec},
		{"bad selector", storagev1.TierMigrationSpec{TargetTier: storagev1.TierNVMe, TargetPoolSelector: &metav1.LabelSelector{
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: "Near"}}}}, nil, "", "", storagev1.ReasonInvalidSpec},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tm := &storagev1.TierMigration{Spec: tc.spec}
			p := ResolvePools(tm, tc.policy)
			target, source, reason, msg := p.Target, p.Source, p.Reason, p.Message
			if reason != tc.reason {
				t.Fatalf("reason %q (%s), want %q", reason, msg, tc.reason)
			}
			if reason != "" {
				if msg == "" {
					t.Fatal("a refusal must say why")
				}
				return
			}
			if target.String() != tc.target {
				t.Fatalf("target %q, want %q", target, tc.target)
			}
			got := ""
			if source != nil {
				got = source.String()
			}
			if got != tc.source {
				t.Fatalf("source %q, want %q", got, tc.source)
			}
		})
	}
}

func TestTimeoutResolution(t *testing.T) {
	cases := []struct {
		name    string
		spec    string
		policy  *storagev1.StoragePolicy
		flag    time.Duration
		want    time.Duration
		wantErr bool
	}{
		{"spec wins", "2h", testPolicy(), 20 * time.Minute, 2 * time.Hour, false},
		{"policy next", "", testPolicy(), 20 * time.Minute, 45 * time.Minute, false},
		{"operator flag without a policy", "", nil, 20 * time.Minute, 20 * time.Minute, false},
		{"30m when nothing says", "", nil, 0, 30 * time.Minute, false},
		{"invalid", "-1m", nil, 0, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ResolveTimeout(&storagev1.TierMigration{Spec: storagev1.TierMigrationSpec{Timeout: tc.spec}}, tc.policy, tc.flag)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("got %v, %v; want %v (error %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// A TierMigration is labelled with its volume and policy; a policy name too long for a label
// value goes without the label rather than fail the update.
func TestLabels(t *testing.T) {
	tm := &storagev1.TierMigration{Spec: storagev1.TierMigrationSpec{VolumeID: "v1", PolicyName: "gold"}}
	if got := Labels(tm); len(got) != 2 || got[storagev1.LabelVolume] != "v1" || got[storagev1.LabelPolicy] != "gold" {
		t.Fatalf("labels %v", got)
	}
	tm.Spec.PolicyName = strings.Repeat("p", 64)
	if got := Labels(tm); len(got) != 1 || got[storagev1.LabelVolume] != "v1" {
		t.Fatalf("labels with a 64-character policy name: %v", got)
	}
	tm.Spec.PolicyName = ""
	if _, ok := Labels(tm)[storagev1.LabelPolicy]; ok {
		t.Fatal("a migration without a policy got a policy label")
	}
}
