package backtest

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/billyronks/couchestor/internal/testprom"
)

// One real Prometheus per test binary, loaded by promtool with three weeks of history (see
// liveHistory). Tests that need it call needPrometheus.
var (
	live           *liveProm
	liveSkipReason string
)

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	prom, promtool, err := testprom.Find()
	if err != nil {
		if os.Getenv("CI") != "" {
			fmt.Fprintf(os.Stderr, "backtest: %v (CI is set, so this is a failure; run hack/prometheus.sh)\n", err)
			return 1
		}
		liveSkipReason = err.Error() + "; run `make test`, which builds them with hack/prometheus.sh"
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "backtest-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	start := time.Now()
	live, err = startLiveProm(prom, promtool, dir, liveEnd())
	if err != nil {
		fmt.Fprintf(os.Stderr, "backtest: cannot start the test Prometheus: %v\n", err)
		return 1
	}
	defer live.Stop()
	fmt.Fprintf(os.Stderr, "backtest: Prometheus %s loaded with %s of history in %s\n", live.URL, liveHistory, time.Since(start).Round(100*time.Millisecond))
	return m.Run()
}

func needPrometheus(tb testing.TB) {
	tb.Helper()
	if live == nil {
		tb.Skip(liveSkipReason)
	}
}

// ---- the history ----

const (
	liveHistory = 21 * 24 * time.Hour
	liveBlock   = 6 * time.Hour // rates are constant over 6h blocks aligned on the epoch
	// 5m keeps promtool quick (it reads its whole input once per 2h block) while every
	// point of the coverage rule still finds a sample within Prometheus's 5m lookback.
	liveScrape   = 5 * time.Minute
	liveCounters = 24 * time.Hour // the counters were running for a day before the history
)

// liveEnd is the last sample's instant: a block boundary a little in the past.
// liveRetention keeps the backfilled history, which is older than Prometheus's default 15d.
const liveRetention = "--storage.tsdb.retention.time=10y"

func liveEnd() time.Time { return time.Now().Add(-time.Hour).Truncate(liveBlock) }

// liveVolume is one volume's history: its rate in each 6h block (indexed from the history's
// start, cycling), and blocks without samples.
type liveVolume struct {
	id string
	// rate gives the IOPS of block b (counted from the history's start).
	rate func(b int) float64
	// from is the first block with samples; gaps are blocks without samples.
	from int
	gaps map[int]bool
	// writeless: no volume_num_write_ops series (promwatch: NoRate).
	writeless bool
}

func liveVolumes() []liveVolume {
	return []liveVolume{
		// Hot in the third block of each day (12:00-18:00 UTC), cold otherwise: the flapper.
		{id: "10000000-0000-4000-8000-000000000001", rate: func(b int) float64 {
			if b%4 == 2 {
				return 3000
			}
			return 50
		}},
		// Between the watermarks, always.
		{id: "10000000-0000-4000-8000-000000000002", rate: func(int) float64 { return 500 }},
		// Cold on NVMe: demoted once.
		{id: "10000000-0000-4000-8000-000000000003", rate: func(int) float64 { return 10 }},
		// Hot on SATA, with a 6h gap on day 9 and another of 18h on day 15.
		{id: "10000000-0000-4000-8000-000000000004", rate: func(int) float64 { return 8000 },
			gaps: map[int]bool{37: true, 60: true, 61: true, 62: true}},
		// Young: samples from day 10; hot in week 2, cold in week 3.
		{id: "10000000-0000-4000-8000-000000000005", from: 40, rate: func(b int) float64 {
			if b < 56 {
				return 2000
			}
			return 5
		}},
		// Cold, but only reads are exported: Unknown throughout (NoRate), never zero.
		{id: "10000000-0000-4000-8000-000000000006", rate: func(int) float64 { return 1 }, writeless: true},
		// Not one of the policy's volumes: its series are ignored.
		{id: "10000000-0000-4000-8000-0000000000ee", rate: func(int) float64 { return 9000 }},
	}
}

// liveSelected are the policy's volumes as they are now; ...07 has no series at all.
func liveSelected() []Volume {
	return []Volume{
		{ID: "10000000-0000-4000-8000-000000000001", Tier: nvme, SizeBytes: 20 * gib, Replicas: 3},
		{ID: "10000000-0000-4000-8000-000000000002", Tier: sata, SizeBytes: 5 * gib, Replicas: 2},
		{ID: "10000000-0000-4000-8000-000000000003", Tier: nvme, SizeBytes: 50 * gib, Replicas: 3},
		{ID: "10000000-0000-4000-8000-000000000004", Tier: sata, SizeBytes: 8 * gib, Replicas: 2},
		{ID: "10000000-0000-4000-8000-000000000005", Tier: sata, SizeBytes: 1 * gib, Replicas: 1},
		{ID: "10000000-0000-4000-8000-000000000006", Tier: nvme, SizeBytes: 2 * gib, Replicas: 2},
		{ID: "10000000-0000-4000-8000-000000000007", Tier: nvme, SizeBytes: 3 * gib, Replicas: 2},
	}
}

// counter is the value of a volume's counter at t: the integral of its rate since the counters
// started (a day before the history, at the first block's rate).
func (v liveVolume) counter(begin, t time.Time) float64 {
	total := v.rate(0) * liveCounters.Seconds()
	for b := 0; ; b++ {
		bs := begin.Add(time.Duration(b) * liveBlock)
		if !t.After(bs) {
			return total
		}
		total += v.rate(b) * min(t.Sub(bs), liveBlock).Seconds()
	}
}

// expectedMatrix is what the planner would have read at each instant of a 6h step ending on a
// block boundary: the rate of the block just ended, Unknown when samples miss the window (a gap
// block, or before the volume's first block), or the write series is missing.
func expectedMatrix(from time.Time, step time.Duration, steps int, begin time.Time, vols []Volume) *Matrix {
	ids := make([]string, len(vols))
	for i := range vols {
		ids[i] = vols[i].ID
	}
	m := NewMatrix(from, step, steps, ids)
	byID := map[string]liveVolume{}
	for _, v := range liveVolumes() {
		byID[v.id] = v
	}
	for k := range steps {
		b := int(m.At(k).Sub(begin)/liveBlock) - 1 // the block that ends at instant k
		for i, id := range ids {
			v, ok := byID[id]
			if !ok || v.writeless || b < v.from || v.gaps[b] {
				continue
			}
			m.Set(k, i, v.rate(b))
		}
	}
	return m
}

// writeLiveOpenMetrics writes the samples from `from` to `to` of the history that starts at
// begin.
func writeLiveOpenMetrics(path string, begin, from, to time.Time) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for _, metric := range []string{"volume_num_read_ops", "volume_num_write_ops"} {
		fmt.Fprintf(w, "# HELP %s Number of operations on the volume.\n# TYPE %s gauge\n", metric, metric)
		for _, v := range liveVolumes() {
			if v.writeless && metric == "volume_num_write_ops" {
				continue
			}
			for t := maxTime(from, begin.Add(time.Duration(v.from)*liveBlock)); !t.After(to); t = t.Add(liveScrape) {
				if v.gaps[int(t.Sub(begin)/liveBlock)] {
					continue
				}
				// Reads and writes split the rate in halves.
				fmt.Fprintf(w, "%s{node=\"node-a\",pv_name=\"pvc-%s\"} %g %d\n", metric, v.id, v.counter(begin, t)/2, t.Unix())
			}
		}
	}
	fmt.Fprint(w, "# EOF\n")
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ---- the server ----

type liveProm struct {
	*testprom.Server
	begin, end time.Time
	promtool   string
}

func startLiveProm(prom, promtool, dir string, end time.Time) (*liveProm, error) {
	begin := end.Add(-liveHistory)
	// One file per week, converted in parallel: promtool reads its input once per 2h block.
	data := filepath.Join(dir, "data")
	t0 := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for week := range 3 {
		from := begin.Add(time.Duration(week) * 7 * 24 * time.Hour)
		to := from.Add(7*24*time.Hour - liveScrape)
		if week == 2 {
			to = end
		}
		om := filepath.Join(dir, fmt.Sprintf("week%d.om", week))
		if err := writeLiveOpenMetrics(om, begin, from, to); err != nil {
			return nil, err
		}
		wg.Go(func() {
			if err := testprom.Backfill(promtool, om, data); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "backtest: history written and converted by promtool in %s\n", time.Since(t0).Round(time.Millisecond))
	srv, err := testprom.Start(prom, dir, data, "", liveRetention)
	if err != nil {
		return nil, err
	}
	return &liveProm{Server: srv, begin: begin, end: end, promtool: promtool}, nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// countingProxy forwards to Prometheus and counts the query_range requests.
type countingProxy struct {
	*httptest.Server
	ranges, instants atomic.Int64
}

func newCountingProxy(tb testing.TB, target string) *countingProxy {
	tb.Helper()
	u, err := url.Parse(target)
	if err != nil {
		tb.Fatal(err)
	}
	p := &countingProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/query_range":
			p.ranges.Add(1)
		case "/api/v1/query":
			p.instants.Add(1)
		}
		rp.ServeHTTP(w, r)
	}))
	tb.Cleanup(p.Close)
	return p
}
