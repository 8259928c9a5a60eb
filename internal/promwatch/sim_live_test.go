package promwatch

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/billyronks/couchestor/internal/sim"
	"github.com/billyronks/couchestor/internal/testprom"
)

// The Mayastor simulator's exporter, scraped live every second by a real Prometheus: a nexus
// republished on another node mid-window keeps its figure, a volume published mid-window is
// PartialHistory, an unpublished one has no series.
const liveScenario = `
name: promwatch-live
seed: 7
nodes:
  - {id: io-engine-1}
  - {id: io-engine-2}
pools:
  - {id: pool-1, node: io-engine-1, capacity: 1TiB}
  - {id: pool-2, node: io-engine-2, capacity: 1TiB}
volumes:
  - uuid: 11111111-0000-4000-8000-000000000001
    size: 1GiB
    replicas: [pool-1]
    published: true
    workload: {read_iops: 400, write_iops: 100}
  - uuid: 11111111-0000-4000-8000-000000000002
    size: 1GiB
    replicas: [pool-1]
    published: true
    workload: {read_iops: 2, write_iops: 1}
  - uuid: 11111111-0000-4000-8000-000000000003
    size: 1GiB
    replicas: [pool-1, pool-2]
    published: true
    nexus_node: io-engine-1
    workload: {read_iops: 150, write_iops: 50}
  - uuid: 11111111-0000-4000-8000-000000000004
    size: 1GiB
    replicas: [pool-2]
    published: false
    workload: {read_iops: 300, write_iops: 0}
`

func TestLiveScrapeOfTheSimulator(t *testing.T) {
	needPrometheus(t)
	if testing.Short() {
		t.Skip("scrapes for about 30s")
	}
	const (
		hot, cold, moved, late = "11111111-0000-4000-8000-000000000001", "11111111-0000-4000-8000-000000000002",
			"11111111-0000-4000-8000-000000000003", "11111111-0000-4000-8000-000000000004"
		window = 20 * time.Second
	)
	sc, err := sim.ParseScenario("promwatch-live.yaml", []byte(liveScenario))
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	firstScrape := make(chan time.Time, 1)
	handler := s.Handler()
	exporter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			select {
			case firstScrape <- time.Now():
			default:
			}
		}
		handler.ServeHTTP(w, r)
	}))
	defer exporter.Close()

	dir := t.TempDir()
	config := fmt.Sprintf("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: mayastor\n    static_configs:\n      - targets: [%q]\n",
		strings.TrimPrefix(exporter.URL, "http://"))
	srv, err := testprom.Start(promBin, dir, filepath.Join(dir, "data"), config)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	// Prometheus applies its first target set a few seconds after it is ready: time starts at
	// the first scrape.
	var t0 time.Time
	select {
	case t0 = <-firstScrape:
	case <-time.After(30 * time.Second):
		t.Fatal("Prometheus did not scrape the simulator within 30s")
	}

	sleepUntil(t0.Add(12 * time.Second))
	if _, err := s.Publish(moved, sim.PublishRequest{Node: "io-engine-2", Republish: true, Protocol: "nvmf"}); err != nil {
		t.Fatalf("republish on io-engine-2: %v", err)
	}
	if _, err := s.Publish(late, sim.PublishRequest{Protocol: "nvmf"}); err != nil {
		t.Fatalf("publish: %v", err)
	}
	at := t0.Add(24 * time.Second)
	sleepUntil(at.Add(2 * time.Second)) // let the scrape at `at` land

	cfg := testConfig(srv.URL)
	// A scrape that times out on a loaded machine writes staleness markers: allow two such
	// seconds of the 20. The volume published 12s before the end is still far below.
	cfg.MinCoverage = 0.9
	res := evaluate(t, newTestWatcher(t, cfg), Request{Window: window, At: at})
	for _, tc := range []struct {
		uuid string
		want float64
	}{{hot, 500}, {cold, 3}, {moved, 200}} {
		got := res.ForVolume(tc.uuid)
		// The simulator floors its counters and scrapes land a few ms apart: 5%, or one op
		// over the window for the cold volume.
		if !got.Known || (!within(got.IOPS, tc.want, 0.05) && abs(got.IOPS-tc.want) > 1/window.Seconds()) {
			t.Errorf("%s = %+v, want Known %g IOPS", tc.uuid, got, tc.want)
		}
	}
	if got := res.ForVolume(late); got.Known || got.Reason != PartialHistory {
		t.Errorf("volume published 12s before the end of a 20s window = %+v, want Unknown PartialHistory", got)
	}
	if got := res.ForVolume("11111111-0000-4000-8000-0000000000ff"); got.Known || got.Reason != NoSeries {
		t.Errorf("unknown volume = %+v, want NoSeries", got)
	}
}

func sleepUntil(t time.Time) { time.Sleep(time.Until(t)) }

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}
