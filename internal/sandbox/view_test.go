package sandbox

import (
	"bytes"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/promwatch"
	"github.com/billyronks/couchestor/internal/tiering"
)

func TestGaugeKeepsTheValueOnItsSideOfTheWatermarks(t *testing.T) {
	for _, tc := range []struct {
		iops float64
		want string // where * must be relative to L and H
	}{
		{0, "*L"}, {1.5, "*L"}, {499, "*L"}, {500, "L*H"}, {501, "L*H"}, {2000, "L*H"},
		{4999, "L*H"}, {5000, "L*H"}, {5001, "H*"}, {5500, "H*"}, {1e6, "H*"},
	} {
		g := Gauge(tc.iops, 500, 5000, gaugeWidth)
		if len(g) != gaugeWidth || strings.Count(g, "*") != 1 || strings.Count(g, "L") != 1 || strings.Count(g, "H") != 1 {
			t.Fatalf("Gauge(%v) = %q: want one each of *, L, H in %d cells", tc.iops, g, gaugeWidth)
		}
		order := strings.Map(func(r rune) rune {
			if r == '.' {
				return -1
			}
			return r
		}, g)
		if !strings.Contains(order, tc.want) {
			t.Errorf("Gauge(%v) = %q: want %s in that order", tc.iops, g, tc.want)
		}
	}
	// Watermarks in one cell still draw apart.
	if g := Gauge(1000, 999, 1000, gaugeWidth); strings.Count(g, "L") != 1 || strings.Count(g, "H") != 1 {
		t.Errorf("close watermarks: %q", g)
	}
}

func sampleView() View {
	p := SamplePolicy("1m")
	p.Status = storagev1.StoragePolicyStatus{VolumesWatched: 3, NVMeVolumes: 1, SATAVolumes: 1, UnknownVolumes: 1, ActiveMigrations: 1,
		Conditions: []metav1.Condition{{Type: storagev1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Evaluated", Message: "3 volumes watched"}}}
	done := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.Local))
	completed := &storagev1.TierMigration{Spec: storagev1.TierMigrationSpec{VolumeID: "5a4d0b0c-1e55-4c0a-8d1e-000000000001", TargetTier: storagev1.TierNVMe},
		Status: storagev1.TierMigrationStatus{Phase: storagev1.PhaseCompleted, CompletionTime: &done}}
	syncing := &storagev1.TierMigration{Spec: storagev1.TierMigrationSpec{VolumeID: "5a4d0b0c-1e55-4c0a-8d1e-000000000005", TargetTier: storagev1.TierSATA},
		Status: storagev1.TierMigrationStatus{Phase: storagev1.PhaseWaitingSync, SyncProgress: 42, OriginalReplicaCount: 2, Rounds: 1}}
	return View{
		Policy: p,
		Tally:  Tally{Promoted: 1, InFlight: 1},
		Volumes: []VolumeRow{
			{ID: completed.Spec.VolumeID, Pools: []string{"pool-nvme-2"}, Tier: tiering.PlacementNVMe, Published: true,
				IOPS: promwatch.VolumeIOPS{Known: true, IOPS: 5503.2}, Migration: completed},
			{ID: syncing.Spec.VolumeID, Pools: []string{"pool-nvme-1", "pool-sata-3"}, Tier: tiering.PlacementMixed, Published: true,
				IOPS: promwatch.VolumeIOPS{Known: true, IOPS: 1.5}, Migration: syncing},
			{ID: "5a4d0b0c-1e55-4c0a-8d1e-000000000010", Pools: []string{"pool-sata-3"}, Tier: tiering.PlacementSATA,
				IOPS: promwatch.VolumeIOPS{Reason: promwatch.NoSeries}},
		},
	}
}

func TestRenderShowsPolicyThenEachVolume(t *testing.T) {
	out := Render(sampleView())
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[0], "StoragePolicy example (moves): promote above 5000 IOPS, demote below 500, mean over 1m") {
		t.Errorf("policy summary first, got %q", lines[0])
	}
	for _, want := range []string{
		"watched 3: 1 NVMe, 1 SATA, 1 Unknown, 1 migrating; Ready=True Evaluated",
		"migrations: 1 promoted, 0 demoted, 0 failed, 1 in flight",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	row := func(id string) string {
		for _, l := range lines {
			if strings.HasPrefix(l, id) {
				return strings.Join(strings.Fields(l), " ")
			}
		}
		t.Fatalf("no row for %s in\n%s", id, out)
		return ""
	}
	for id, want := range map[string][]string{
		"5a4d0b0c..0001": {"NVMe pool-nvme-2 5503", "H*", "above high", "-> NVMe Completed at 03:04:05"},
		"5a4d0b0c..0005": {"Mixed pool-nvme-1,pool-sata-3 1.5", "*", "below low", "-> SATA WaitingSync sync 42%, round 2/2"},
		"5a4d0b0c..0010": {"SATA pool-sata-3 ?", "unknown: unpublished", " -"},
	} {
		r := row(id)
		for _, w := range want {
			if !strings.Contains(r, w) {
				t.Errorf("row %s = %q: want %q", id, r, w)
			}
		}
	}
}

func TestScreenRedrawsOnATerminalAndAppendsOtherwise(t *testing.T) {
	v := sampleView()
	var tty bytes.Buffer
	s := NewScreen(&tty, true, "BANNER\n")
	s.Show("head 1", Render(v), v.Key())
	s.Show("head 2", Render(v), v.Key())
	if got := strings.Count(tty.String(), clearHome); got != 2 {
		t.Errorf("terminal: want each frame to clear and home, got %d clears", got)
	}
	if got := strings.Count(tty.String(), "BANNER"); got != 2 {
		t.Errorf("terminal: want the banner in each frame, got %d", got)
	}

	var plain bytes.Buffer
	s = NewScreen(&plain, false, "BANNER\n")
	s.Show("head 1", Render(v), v.Key())
	jitter := sampleView()
	jitter.Volumes[0].IOPS.IOPS = 5511 // still above high: the same frame
	if s.Show("head 2", Render(jitter), jitter.Key()) {
		t.Error("plain: a frame differing only in IOPS figures was appended")
	}
	moved := sampleView()
	moved.Volumes[1].Migration.Status.SyncProgress = 80
	if !s.Show("head 3", Render(moved), moved.Key()) {
		t.Error("plain: a frame with new sync progress was not appended")
	}
	out := plain.String()
	if strings.Contains(out, "\x1b") {
		t.Errorf("plain output holds an escape sequence: %q", out)
	}
	if strings.Count(out, "BANNER") != 1 || !strings.Contains(out, "head 1") || strings.Contains(out, "head 2") || !strings.Contains(out, "head 3") {
		t.Errorf("plain: want the banner once, then frames 1 and 3:\n%s", out)
	}
}
