package promwatch

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/billyronks/couchestor/internal/testprom"
)

// One real Prometheus per test binary, loaded with the fixture history below. Tests that need
// it call needPrometheus(t).
var (
	promBin, promtoolBin string
	shared               *testprom.Server
	skipReason           string
	// fixtureEnd is the instant the history ends at; queries are evaluated there.
	fixtureEnd time.Time
)

const (
	fixtureInterval = 15 * time.Second
	fixtureHistory  = 3 * time.Hour
	scaleInterval   = 30 * time.Second
	scaleHistory    = 20 * time.Minute
	scaleWindow     = 15 * time.Minute
	scaleVolumes    = 10_000
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	var err error
	promBin, promtoolBin, err = testprom.Find()
	if err != nil {
		if os.Getenv("CI") != "" {
			fmt.Fprintf(os.Stderr, "promwatch: %v (CI is set, so this is a failure; run hack/prometheus.sh)\n", err)
			return 1
		}
		skipReason = err.Error() + "; run `make test`, which builds them with hack/prometheus.sh"
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "promwatch-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)

	fixtureEnd = time.Now().Truncate(time.Minute).Add(-time.Minute)
	start := time.Now()
	srv, err := startLoadedPrometheus(dir, fixtureEnd)
	if err != nil {
		fmt.Fprintf(os.Stderr, "promwatch: cannot start the test Prometheus: %v\n", err)
		return 1
	}
	defer srv.Stop()
	shared = srv
	fmt.Fprintf(os.Stderr, "promwatch: Prometheus %s loaded with %d fixture + %d scale volumes in %s\n",
		srv.URL, len(fixtureVolumes(fixtureEnd)), scaleVolumes+10, time.Since(start).Round(100*time.Millisecond))
	return m.Run()
}

func needPrometheus(tb testing.TB) {
	tb.Helper()
	if shared == nil {
		tb.Skip(skipReason)
	}
}

// fixtureVolume is one volume's history, as the Mayastor exporter would have shown it.
type fixtureVolume struct {
	uuid                string
	readIOPS, writeIOPS float64
	start               time.Time // first sample
	gapFrom, gapTo      time.Time // no samples in [gapFrom, gapTo)
	resetAt             time.Time // io-engine restart: the counters start again from 0
	moveAt              time.Time // nexus moves from node-a to node-b, new counters from 0
	readOnly            bool      // no volume_num_write_ops series
	extraLabels         string    // e.g. `instance="scale10k"`
	interval            time.Duration
}

func (v fixtureVolume) pv() string { return PVName(v.uuid) }

// Fixture volumes by role; uuids are fixed so failures are readable.
const (
	uuidHot      = "00000000-0000-4000-8000-000000000001"
	uuidMid      = "00000000-0000-4000-8000-000000000002"
	uuidCold     = "00000000-0000-4000-8000-000000000003"
	uuidIdle     = "00000000-0000-4000-8000-000000000004"
	uuidNew      = "00000000-0000-4000-8000-000000000005"
	uuidGap      = "00000000-0000-4000-8000-000000000006"
	uuidShortGap = "00000000-0000-4000-8000-000000000007"
	uuidReset    = "00000000-0000-4000-8000-000000000008"
	uuidMoved    = "00000000-0000-4000-8000-000000000009"
	uuidReadOnly = "00000000-0000-4000-8000-00000000000a"
	uuidAlmost   = "00000000-0000-4000-8000-00000000000b"
	uuidAbsent   = "00000000-0000-4000-8000-0000000000ff" // never written
)

func fixtureVolumes(end time.Time) []fixtureVolume {
	begin := end.Add(-fixtureHistory)
	m := func(d time.Duration) time.Time { return end.Add(-d) }
	return []fixtureVolume{
		{uuid: uuidHot, readIOPS: 300, writeIOPS: 200, start: begin},
		{uuid: uuidMid, readIOPS: 30, writeIOPS: 20, start: begin},
		{uuid: uuidCold, readIOPS: 0.6, writeIOPS: 0.4, start: begin},
		{uuid: uuidIdle, start: begin},
		{uuid: uuidNew, readIOPS: 150, writeIOPS: 50, start: m(30 * time.Minute)},
		{uuid: uuidGap, readIOPS: 60, writeIOPS: 40, start: begin, gapFrom: m(40 * time.Minute), gapTo: m(15 * time.Minute)},
		{uuid: uuidShortGap, readIOPS: 60, writeIOPS: 40, start: begin, gapFrom: m(30 * time.Minute), gapTo: m(27 * time.Minute)},
		{uuid: uuidReset, readIOPS: 60, writeIOPS: 40, start: begin, resetAt: m(30 * time.Minute)},
		{uuid: uuidMoved, readIOPS: 60, writeIOPS: 40, start: begin, moveAt: m(25 * time.Minute)},
		{uuid: uuidReadOnly, readIOPS: 80, start: begin, readOnly: true},
		{uuid: uuidAlmost, readIOPS: 60, writeIOPS: 40, start: m(58 * time.Minute)},
	}
}

func scaleFixture(end time.Time) []fixtureVolume {
	var vols []fixtureVolume
	add := func(instance string, n int) {
		for i := range n {
			vols = append(vols, fixtureVolume{
				uuid:        fmt.Sprintf("%08x-5ca1-4000-8000-%012x", n, i),
				readIOPS:    float64(i%1000) + 0.5,
				writeIOPS:   float64(i % 7),
				start:       end.Add(-scaleHistory),
				extraLabels: fmt.Sprintf(`instance=%q`, instance),
				interval:    scaleInterval,
			})
		}
	}
	add("scale10", 10)
	add("scale10k", scaleVolumes)
	return vols
}

// writeOpenMetrics writes the history of vols up to end: one gauge family per metric (the
// exporter types these counters as gauges), samples of each series in time order, # EOF.
func writeOpenMetrics(path string, vols []fixtureVolume, end time.Time) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for _, metric := range []struct {
		name string
		rate func(fixtureVolume) float64
	}{
		{"volume_num_read_ops", func(v fixtureVolume) float64 { return v.readIOPS }},
		{"volume_num_write_ops", func(v fixtureVolume) float64 { return v.writeIOPS }},
	} {
		fmt.Fprintf(w, "# HELP %s Number of operations on the volume (Mayastor io-engine exporter).\n# TYPE %s gauge\n", metric.name, metric.name)
		for _, v := range vols {
			if v.readOnly && metric.name == "volume_num_write_ops" {
				continue
			}
			writeSeries(w, metric.name, v, metric.rate(v), end)
		}
		if metric.name == "volume_num_read_ops" {
			// A stray series without pv_name: the default query must ignore it.
			fmt.Fprintf(w, "volume_num_read_ops{node=\"node-z\"} 42 %d\n", end.Unix())
		}
	}
	fmt.Fprint(w, "# EOF\n")
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func writeSeries(w *bufio.Writer, name string, v fixtureVolume, rate float64, end time.Time) {
	interval := v.interval
	if interval == 0 {
		interval = fixtureInterval
	}
	// The counters were already running for a day when the history starts.
	origin := v.start.Add(-24 * time.Hour)
	node := "node-a"
	for t := v.start; !t.After(end); t = t.Add(interval) {
		if !v.gapFrom.IsZero() && !t.Before(v.gapFrom) && t.Before(v.gapTo) {
			continue
		}
		o, n := origin, node
		if !v.resetAt.IsZero() && !t.Before(v.resetAt) {
			o = v.resetAt
		}
		if !v.moveAt.IsZero() && !t.Before(v.moveAt) {
			o, n = v.moveAt, "node-b"
		}
		labels := fmt.Sprintf(`node=%q,pv_name=%q`, n, v.pv())
		if v.extraLabels != "" {
			labels += "," + v.extraLabels
		}
		fmt.Fprintf(w, "%s{%s} %g %d\n", name, labels, rate*t.Sub(o).Seconds(), t.Unix())
	}
}

// startLoadedPrometheus backfills the fixture with promtool and starts Prometheus on it.
func startLoadedPrometheus(dir string, end time.Time) (*testprom.Server, error) {
	data := filepath.Join(dir, "data")
	om := filepath.Join(dir, "history.om")
	vols := append(fixtureVolumes(end), scaleFixture(end)...)
	if err := writeOpenMetrics(om, vols, end); err != nil {
		return nil, err
	}
	if err := testprom.Backfill(promtoolBin, om, data); err != nil {
		return nil, err
	}
	os.Remove(om)
	return testprom.Start(promBin, dir, data, "")
}

// recordingProxy sits between the Watcher and the real Prometheus and records what it is sent.
type recordingProxy struct {
	*httptest.Server
	mu       sync.Mutex
	requests []recordedRequest
	// reject, if set, answers instead of Prometheus when it returns a non-zero status.
	reject func(r *http.Request) int
	delay  time.Duration
}

type recordedRequest struct {
	method, path, authorization, query string
}

func newRecordingProxy(tb testing.TB, target string) *recordingProxy {
	tb.Helper()
	u, err := url.Parse(target)
	if err != nil {
		tb.Fatal(err)
	}
	p := &recordingProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		p.mu.Lock()
		p.requests = append(p.requests, recordedRequest{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Form.Get("query")})
		reject, delay := p.reject, p.delay
		p.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		if reject != nil {
			if code := reject(r); code != 0 {
				http.Error(w, http.StatusText(code), code)
				return
			}
		}
		// ParseForm consumed the body; send the form on as the Prometheus API accepts it.
		r.Body = http.NoBody
		r.ContentLength = 0
		r.Header.Del("Content-Type")
		r.URL.RawQuery = r.Form.Encode()
		r.Method = http.MethodGet
		rp.ServeHTTP(w, r)
	}))
	tb.Cleanup(p.Close)
	return p
}

func (p *recordingProxy) recorded() []recordedRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]recordedRequest(nil), p.requests...)
}

func (p *recordingProxy) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests = nil
}

func newTestWatcher(tb testing.TB, cfg Config) *Watcher {
	tb.Helper()
	w, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return w
}

func testConfig(u string) Config {
	cfg := DefaultConfig()
	cfg.URL = u
	cfg.Timeout = 20 * time.Second
	return cfg
}

func evaluate(tb testing.TB, w *Watcher, req Request) *Result {
	tb.Helper()
	res, err := w.Evaluate(context.Background(), req)
	if err != nil {
		tb.Fatalf("Evaluate: %v", err)
	}
	return res
}
