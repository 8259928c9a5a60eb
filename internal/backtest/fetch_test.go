package backtest

import (
	"context"
	"math"
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/promwatch"
	"github.com/billyronks/couchestor/internal/tiering"
)

func livePolicy() *storagev1.StoragePolicy {
	return &storagev1.StoragePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "hot-cold"},
		Spec: storagev1.StoragePolicySpec{
			HighWatermarkIOPS: 1000, LowWatermarkIOPS: 100, SamplingWindow: "1h", CooldownPeriod: "24h",
			MaxConcurrentMigrations: 1,
		},
	}
}

func liveConfig(u string) Config {
	return Config{
		Policy: livePolicy(), Volumes: liveSelected(),
		From: live.begin.Add(liveBlock), To: live.end, Step: liveBlock,
		PrometheusURL: u,
		Grid:          WatermarkGrid([]int64{5, 100}, []int64{1000, 5000}),
	}
}

// The backtest of three weeks of real Prometheus history gives the figures the pure replay gives
// on the history as written, in two range queries.
func TestRunMatchesReplayOnRealPrometheus(t *testing.T) {
	needPrometheus(t)
	proxy := newCountingProxy(t, live.URL)
	cfg := liveConfig(proxy.URL)
	got, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}

	steps := int(cfg.To.Sub(cfg.From)/liveBlock) + 1
	m := expectedMatrix(cfg.From, liveBlock, steps, live.begin, cfg.Volumes)
	params := Params{LowWatermarkIOPS: 100, HighWatermarkIOPS: 1000, Cooldown: 24 * time.Hour, Slots: 1}
	want := mustReplay(t, m, params, cfg.Volumes)
	want.Grid, err = Sweep(m, params, cfg.Volumes, cfg.Grid)
	if err != nil {
		t.Fatal(err)
	}
	compareReports(t, &got, want)

	if got.RangeQueries != 2 || proxy.ranges.Load() != 2 || proxy.instants.Load() != 0 {
		t.Errorf("%d range queries reported, %d range and %d instant queries sent; want 2, 2, 0",
			got.RangeQueries, proxy.ranges.Load(), proxy.instants.Load())
	}
	if got.Policy != "hot-cold" || got.Window != Duration(time.Hour) || got.Evaluations != 84 {
		t.Errorf("policy %q, window %s, %d evaluations; want hot-cold, 1h, 84", got.Policy, got.Window, got.Evaluations)
	}
	// The history is not trivial: the diurnal volume flips, the read-only one is Unknown
	// throughout and stays on NVMe (never read as zero), the stranger is not reported.
	if got.Totals.Flips == 0 || got.Totals.CooldownBlocked == 0 || got.Totals.SlotDeferred == 0 || got.Totals.UnknownEvaluations == 0 {
		t.Errorf("history exercises too little: %+v", got.Totals)
	}
	if v := got.Volumes[5]; v.Moves != 0 || v.Unknown != Duration(84*liveBlock) {
		t.Errorf("read-only volume: %+v", v)
	}
	if v := got.Volumes[6]; v.Moves != 0 || v.Unknown != Duration(84*liveBlock) {
		t.Errorf("volume without series: %+v", v)
	}
	if len(got.Volumes) != len(cfg.Volumes) {
		t.Errorf("%d volumes reported, want %d", len(got.Volumes), len(cfg.Volumes))
	}
}

// A sample budget too small for one query splits the range into chunks: more queries, the
// same figures.
func TestRunChunksToTheSampleBudget(t *testing.T) {
	needPrometheus(t)
	proxy := newCountingProxy(t, live.URL)
	cfg := liveConfig(proxy.URL)
	whole, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	proxy.ranges.Store(0)
	// 7 series × 3301 points: the IOPS query's 84 points fit in one query; the coverage
	// subquery's 60s points span 9 steps of 6h plus the window, so 10 evaluations per query,
	// 9 queries for 84 evaluations.
	cfg.MaxSamplesPerQuery = 7 * 3301
	if n := RangeQueries(time.Hour, liveBlock, 84, 7, cfg.MaxSamplesPerQuery); n != 10 {
		t.Errorf("RangeQueries = %d, want 10", n)
	}
	chunked, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if chunked.RangeQueries != 10 || proxy.ranges.Load() != 10 {
		t.Errorf("%d range queries reported, %d sent; want 10", chunked.RangeQueries, proxy.ranges.Load())
	}
	chunked.RangeQueries = whole.RangeQueries
	compareReports(t, &chunked, &whole)
}

// The default step (max(window, cooldown/2, 5m) = 12h here) replays every other block.
func TestRunDefaultStep(t *testing.T) {
	needPrometheus(t)
	cfg := liveConfig(live.URL)
	cfg.Step, cfg.Grid = 0, nil
	got, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got.Step != Duration(12*time.Hour) {
		t.Fatalf("step %s, want 12h", got.Step)
	}
	steps := int(cfg.To.Sub(cfg.From)/(12*time.Hour)) + 1
	m := expectedMatrix(cfg.From, 12*time.Hour, steps, live.begin, cfg.Volumes)
	compareReports(t, &got, mustReplay(t, m, Params{LowWatermarkIOPS: 100, HighWatermarkIOPS: 1000, Cooldown: 24 * time.Hour, Slots: 1}, cfg.Volumes))
}

// At every instant, the matrix holds what the operator's own instant evaluation
// (promwatch.Evaluate, the coverage rule included) says.
func TestFetchAgreesWithPromwatchAtEveryInstant(t *testing.T) {
	needPrometheus(t)
	cfg := liveConfig(live.URL)
	cfg.Volumes = append(cfg.Volumes, Volume{ID: "10000000-0000-4000-8000-0000000000ee", Tier: nvme})
	m, queries, err := Fetch(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if queries != 2 {
		t.Errorf("%d range queries, want 2", queries)
	}
	pcfg := promwatch.DefaultConfig()
	pcfg.URL = live.URL
	w, err := promwatch.New(pcfg)
	if err != nil {
		t.Fatal(err)
	}
	known := 0
	for k := range m.Steps {
		res, err := w.Evaluate(context.Background(), promwatch.Request{Window: time.Hour, At: m.At(k)})
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range m.Volumes {
			x := float64(m.Row(k)[i])
			pw := res.ForVolume(id)
			if pw.Known != !math.IsNaN(x) || (pw.Known && math.Abs(x-pw.IOPS) > 1e-3*max(1, pw.IOPS)) {
				t.Errorf("%s at %s: backtest %g, promwatch %+v", id, m.At(k).Format(time.RFC3339), x, pw)
			}
			if pw.Known {
				known++
			}
		}
	}
	if known == 0 || known == m.Steps*len(m.Volumes) {
		t.Errorf("%d known values of %d: the history should mix known and Unknown", known, m.Steps*len(m.Volumes))
	}
}

func TestRunRefusesBadConfigs(t *testing.T) {
	base := Config{Policy: livePolicy(), Volumes: liveSelected(), From: time.Unix(0, 0), To: time.Unix(86400, 0), PrometheusURL: "http://127.0.0.1:1"}
	for name, mutate := range map[string]func(*Config){
		"no policy":         func(c *Config) { c.Policy = nil },
		"no volumes":        func(c *Config) { c.Volumes = nil },
		"from after to":     func(c *Config) { c.From, c.To = c.To, c.From },
		"fractional step":   func(c *Config) { c.Step = 1500 * time.Millisecond },
		"query sans window": func(c *Config) { c.Policy.Spec.IOPSQuery = "sum by (pv_name) (x)" },
		"low above high":    func(c *Config) { c.Policy.Spec.LowWatermarkIOPS = 2000 },
		"bad window":        func(c *Config) { c.Policy.Spec.SamplingWindow = "soon" },
	} {
		c := base
		c.Policy = livePolicy()
		mutate(&c)
		if _, err := Run(context.Background(), c); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := Run(context.Background(), base); err == nil {
		t.Error("unreachable Prometheus: no error")
	}
}

func TestDefaultStepAndQueryCount(t *testing.T) {
	for _, tc := range []struct {
		window, cooldown, want time.Duration
	}{
		{time.Hour, 24 * time.Hour, 12 * time.Hour},
		{time.Hour, time.Hour, time.Hour},
		{time.Minute, 2 * time.Minute, 5 * time.Minute},
	} {
		if got := DefaultStep(tc.window, tc.cooldown); got != tc.want {
			t.Errorf("DefaultStep(%s, %s) = %s, want %s", tc.window, tc.cooldown, got, tc.want)
		}
	}
	// 14 days, the figures docs/backtest.md gives.
	for _, tc := range []struct {
		window, step time.Duration
		volumes      int
		want         int
	}{
		// The IOPS query fits in 1 query of 29 points; the coverage subquery holds 20,220
		// points of 60s per series: 3 evaluations per query of 2,000 points, 10 queries.
		{time.Hour, 12 * time.Hour, 10_000, 11},
		{time.Hour, time.Hour, 10_000, 1 + 11},
		// 4,033 IOPS points held 3 times: 666 evaluations per query.
		{time.Hour, 5 * time.Minute, 10_000, 7 + 11},
		{5 * time.Minute, 5 * time.Minute, 10_000, 7 + 123},
		{time.Hour, 12 * time.Hour, 1_000, 1 + 2},
		{time.Hour, time.Hour, 100, 2},
		{30 * time.Second, 30 * time.Second, 1, 8}, // 40,321 points: the 11,000 limit
	} {
		evaluations := int(14*24*time.Hour/tc.step) + 1
		if got := RangeQueries(tc.window, tc.step, evaluations, tc.volumes, 0); got != tc.want {
			t.Errorf("RangeQueries(window %s, step %s, %d volumes) = %d, want %d", tc.window, tc.step, tc.volumes, got, tc.want)
		}
	}
}

func TestVolumesFromSnapshot(t *testing.T) {
	p := livePolicy()
	p.Spec.StorageClassName = "mayastor"
	p.Spec.NVMePoolSelector = metav1.LabelSelector{MatchLabels: map[string]string{"tier": "nvme"}}
	p.Spec.SATAPoolSelector = metav1.LabelSelector{MatchLabels: map[string]string{"tier": "sata"}}
	moved := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	s := &tiering.Snapshot{
		Pools: []tiering.PoolObservation{
			{ID: "n1", Labels: map[string]string{"tier": "nvme"}}, {ID: "n2", Labels: map[string]string{"tier": "nvme"}},
			{ID: "s1", Labels: map[string]string{"tier": "sata"}},
		},
		Volumes: map[string]*tiering.VolumeObservation{
			"v1": {ID: "v1", SizeBytes: gib, ReplicaPools: []string{"n1", "n2"}},
			"v2": {ID: "v2", SizeBytes: 2 * gib, ReplicaPools: []string{"s1"}},
			"v3": {ID: "v3", SizeBytes: 3 * gib, ReplicaPools: []string{"n1", "s1"}},
			"v4": {ID: "v4", SizeBytes: 4 * gib, ReplicaPools: []string{"s1"}},
			"v6": {ID: "v6", SizeBytes: 6 * gib, ReplicaPools: []string{"s1"}},
		},
		PVs: map[string]*tiering.PVObservation{
			"pvc-v1": {Name: "pvc-v1", VolumeID: "v1", StorageClass: "mayastor", Pin: storagev1.TierSATA},
			"pvc-v2": {Name: "pvc-v2", VolumeID: "v2", StorageClass: "mayastor", Excluded: true},
			"pvc-v3": {Name: "pvc-v3", VolumeID: "v3", StorageClass: "mayastor"},
			"pvc-v4": {Name: "pvc-v4", VolumeID: "v4", StorageClass: "other"},
			"pvc-v5": {Name: "pvc-v5", VolumeID: "v5", StorageClass: "mayastor"},
			// A tier annotation naming no tier keeps the volume where it is, as the planner does.
			"pvc-v6": {Name: "pvc-v6", VolumeID: "v6", StorageClass: "mayastor", BadPin: "fast"},
		},
		Migrations: map[string]tiering.MigrationObservation{"v2": {LastReal: moved, LastAny: moved}},
	}
	got, err := VolumesFromSnapshot(s, p)
	if err != nil {
		t.Fatal(err)
	}
	want := []Volume{
		{ID: "v1", Tier: nvme, SizeBytes: gib, Replicas: 2, Pin: sata},
		{ID: "v2", Tier: sata, SizeBytes: 2 * gib, Replicas: 1, LastMoved: moved, Excluded: true},
		{ID: "v3", Tier: "Mixed", SizeBytes: 3 * gib, Replicas: 2},
		{ID: "v6", Tier: sata, SizeBytes: 6 * gib, Replicas: 1, Excluded: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

// compareReports checks that two reports say the same, IOPS within float32 rounding.
func compareReports(t *testing.T, got, want *Report) {
	t.Helper()
	if got.Totals != want.Totals {
		t.Errorf("totals:\n got %+v\nwant %+v", got.Totals, want.Totals)
	}
	if !reflect.DeepEqual(got.Volumes, want.Volumes) {
		t.Errorf("volumes:\n got %+v\nwant %+v", got.Volumes, want.Volumes)
	}
	if !reflect.DeepEqual(got.Days, want.Days) {
		t.Errorf("days:\n got %+v\nwant %+v", got.Days, want.Days)
	}
	if !reflect.DeepEqual(got.Grid, want.Grid) {
		t.Errorf("grid:\n got %+v\nwant %+v", got.Grid, want.Grid)
	}
	if len(got.Moves) != len(want.Moves) {
		t.Fatalf("%d moves, want %d:\n got %s\nwant %s", len(got.Moves), len(want.Moves), jsonOf(t, got.Moves), jsonOf(t, want.Moves))
	}
	for i := range got.Moves {
		g, w := got.Moves[i], want.Moves[i]
		if (g.IOPS == nil) != (w.IOPS == nil) || (g.IOPS != nil && math.Abs(*g.IOPS-*w.IOPS) > 1e-3*max(1, *w.IOPS)) {
			t.Errorf("move %d: IOPS %v, want %v", i, g.IOPS, w.IOPS)
		}
		g.IOPS, w.IOPS = nil, nil
		if !reflect.DeepEqual(g, w) {
			t.Errorf("move %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}
