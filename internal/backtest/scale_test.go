package backtest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/billyronks/couchestor/internal/testprom"
)

// TestFetchScale measures the fetch of 10,000 volumes from a real Prometheus. It is opt-in
// (COUCHESTOR_BACKTEST_SCALE=1; promtool takes minutes to load the history): it loads one day
// of history (5m scrapes) and times a 1h-window backtest at a 1h and a 5m step; the figures
// scale linearly with the range (docs/backtest.md).
func TestFetchScale(t *testing.T) {
	needPrometheus(t)
	if os.Getenv("COUCHESTOR_BACKTEST_SCALE") == "" {
		t.Skip("set COUCHESTOR_BACKTEST_SCALE=1 to measure the fetch of 10,000 volumes")
	}
	const volumes = 10_000
	dir := t.TempDir()
	end := time.Now().Add(-time.Hour).Truncate(time.Hour)
	begin := end.Add(-24 * time.Hour)
	om := filepath.Join(dir, "scale.om")
	f, err := os.Create(om)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	vols := make([]Volume, volumes)
	for _, metric := range []string{"volume_num_read_ops", "volume_num_write_ops"} {
		fmt.Fprintf(w, "# HELP %s ops.\n# TYPE %s gauge\n", metric, metric)
		for i := range volumes {
			id := fmt.Sprintf("%08x-5ca1-4000-8000-000000000000", i)
			vols[i] = Volume{ID: id, Tier: nvme, SizeBytes: gib, Replicas: 3}
			rate := float64(i % 3000)
			for ts := begin; !ts.After(end); ts = ts.Add(5 * time.Minute) {
				fmt.Fprintf(w, "%s{node=\"node-a\",pv_name=\"pvc-%s\"} %g %d\n", metric, id, rate*ts.Sub(begin.Add(-time.Hour)).Seconds(), ts.Unix())
			}
		}
	}
	fmt.Fprint(w, "# EOF\n")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	start := time.Now()
	data := filepath.Join(dir, "data")
	if err := testprom.Backfill(live.promtool, om, data); err != nil {
		t.Fatal(err)
	}
	prom := filepath.Join(filepath.Dir(live.promtool), "prometheus")
	srv, err := testprom.Start(prom, dir, data, "", liveRetention)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	t.Logf("10,000 volumes × 1 day loaded in %s", time.Since(start).Round(time.Second))

	for _, step := range []time.Duration{time.Hour, 5 * time.Minute} {
		cfg := Config{Policy: livePolicy(), Volumes: vols, From: begin.Add(time.Hour), To: end, Step: step, PrometheusURL: srv.URL}
		start := time.Now()
		m, queries, err := Fetch(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		fetched := time.Since(start)
		start = time.Now()
		r, err := Replay(m, Params{LowWatermarkIOPS: 100, HighWatermarkIOPS: 1000, Cooldown: 24 * time.Hour, Slots: 2}, vols)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("step %s: %d evaluations × %d volumes fetched in %s (%d range queries), replayed in %s; %d of %d evaluations known",
			step, m.Steps, volumes, fetched.Round(time.Millisecond), queries, time.Since(start).Round(time.Millisecond),
			r.Totals.RightEvaluations+r.Totals.WrongEvaluations, m.Steps*volumes)
		if r.Totals.UnknownEvaluations > 0 {
			t.Errorf("%d Unknown evaluations in a complete history", r.Totals.UnknownEvaluations)
		}
	}
}
