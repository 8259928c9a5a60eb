//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

const (
	reconcileMetric = "storage_operator_reconcile_duration_seconds"
	observeMetric   = "storage_operator_observe_duration_seconds"
)

var policyKind = map[string]string{"kind": "StoragePolicy"}

// sample is one reading of the operator: /proc before and after a read of its /metrics.
type sample struct {
	t                   time.Time
	cpuBefore, cpuAfter float64
	rss, hwm            uint64
	anon, file          uint64
	recon               hist
	// obs is the observer's histogram; hasObs is false for an operator from before the observer.
	obs    hist
	hasObs bool
	fam    families
}

type measurer struct {
	pid        int
	metricsURL string
	logPath    string
	ms, prom   *counter
	promURL    string
	client     client.Client
	pprofURL   string
	profDir    string
	bin        string

	samples            []sample
	exact              []float64
	msStart, msEnd     counts
	promStart, promEnd counts
	gc                 gcTrace
	tmBefore, tmAfter  int

	promServerQueries, promServerSeconds float64
	scrapeDur, scrapeSamples             float64
	profiles                             string
	logCycles                            []logCycle
}

func (m *measurer) take(ctx context.Context) (sample, error) {
	s := sample{t: time.Now()}
	var err error
	if s.cpuBefore, err = procCPU(m.pid); err != nil {
		return s, err
	}
	if s.fam, err = scrape(ctx, m.metricsURL); err != nil {
		return s, err
	}
	if s.cpuAfter, err = procCPU(m.pid); err != nil {
		return s, err
	}
	mem, err := procMem(m.pid)
	if err != nil {
		return s, err
	}
	s.rss, s.hwm, s.anon, s.file = mem.rss, mem.hwm, mem.anon, mem.file
	s.recon = s.fam.histogram(reconcileMetric, policyKind)
	_, s.hasObs = s.fam[observeMetric]
	s.obs = s.fam.histogram(observeMetric, nil)
	return s, nil
}

func (m *measurer) countTierMigrations(ctx context.Context) int {
	var l storagev1.TierMigrationList
	if err := m.client.List(ctx, &l); err != nil {
		return -1
	}
	return len(l.Items)
}

func (m *measurer) promQueryHist(ctx context.Context) hist {
	f, err := scrape(ctx, m.promURL+"/metrics")
	if err != nil {
		return hist{}
	}
	return f.histogram("prometheus_http_request_duration_seconds", map[string]string{"handler": "/api/v1/query"})
}

// measure reads the operator every poll for d.
func (m *measurer) measure(ctx context.Context, d, poll time.Duration, died func() error) error {
	m.tmBefore = m.countTierMigrations(ctx)
	promBefore := m.promQueryHist(ctx)
	logOff := logSize(m.logPath)
	m.msStart, m.promStart = m.ms.snapshot(), m.prom.snapshot()
	if m.pprofURL != "" {
		m.fetch(ctx, "/debug/pprof/allocs", "allocs-start.pprof")
	}
	cpuDone := make(chan struct{})
	if m.pprofURL != "" {
		secs := int(d.Seconds()) - 2*int(poll.Seconds())
		if secs < 5 {
			secs = 5
		}
		go func() {
			defer close(cpuDone)
			m.fetch(ctx, "/debug/pprof/profile?seconds="+strconv.Itoa(secs), "cpu.pprof")
		}()
	} else {
		close(cpuDone)
	}

	first, err := m.take(ctx)
	if err != nil {
		return err
	}
	m.samples = append(m.samples, first)
	end := first.t.Add(d)
	next := first.t
	lastLog := first.t
	for {
		next = next.Add(poll)
		if next.After(end) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Until(next)):
		}
		if err := died(); err != nil {
			return err
		}
		s, err := m.take(ctx)
		if err != nil {
			if e := died(); e != nil {
				return e
			}
			return err
		}
		p := m.samples[len(m.samples)-1]
		if !s.hasObs && s.recon.count-p.recon.count == 1 {
			m.exact = append(m.exact, s.recon.sum-p.recon.sum)
		}
		m.samples = append(m.samples, s)
		if s.t.Sub(lastLog) >= 30*time.Second {
			lastLog = s.t
			say("%s: %.0f observations, %.0f policy reconciles so far, VmRSS %s, CPU %.2fs", s.t.Sub(first.t).Round(time.Second),
				s.obs.count-first.obs.count, s.recon.count-first.recon.count, mib(float64(s.rss)), s.cpuBefore-first.cpuBefore)
		}
	}
	m.msEnd, m.promEnd = m.ms.snapshot(), m.prom.snapshot()
	promAfter := m.promQueryHist(ctx)
	if q := promAfter.minus(promBefore); q.count > 0 {
		m.promServerQueries, m.promServerSeconds = q.count, q.sum
	}
	m.tmAfter = m.countTierMigrations(ctx)
	m.gc, _, _ = parseGCTrace(m.logPath, logOff)
	m.logCycles, _ = parseCycles(m.logPath, logOff)
	m.scrapeDur = m.instant(ctx, `scrape_duration_seconds{job="mayastor-io-engine"}`)
	m.scrapeSamples = m.instant(ctx, `scrape_samples_scraped{job="mayastor-io-engine"}`)
	if m.pprofURL != "" {
		<-cpuDone
		m.fetch(ctx, "/debug/pprof/heap?gc=1", "heap.pprof")
		m.fetch(ctx, "/debug/pprof/allocs", "allocs-end.pprof")
		m.profiles = m.summariseProfiles(ctx)
	}
	return nil
}

// instant asks Prometheus (directly, not through the counting proxy) for one number.
func (m *measurer) instant(ctx context.Context, q string) float64 {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.promURL+"/api/v1/query?query="+url.QueryEscape(q), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || len(body.Data.Result) == 0 {
		return 0
	}
	s, _ := body.Data.Result[0].Value[1].(string)
	v, _ := strconv.ParseFloat(s, 64)
	return v
}

func (m *measurer) fetch(ctx context.Context, path, file string) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.pprofURL+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		say("pprof %s: %v", path, err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(filepath.Join(m.profDir, file))
	if err != nil {
		say("pprof %s: %v", path, err)
		return
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		say("pprof %s: %v", path, err)
	}
}

// summariseProfiles runs go tool pprof -top on the profiles and writes the outputs to
// profiles.txt; it returns them.
func (m *measurer) summariseProfiles(ctx context.Context) string {
	bin := m.bin
	p := func(f string) string { return filepath.Join(m.profDir, f) }
	runs := []struct {
		title string
		args  []string
	}{
		{"heap in use at the end (inuse_space)", []string{"-top", "-nodecount=25", "-sample_index=inuse_space", bin, p("heap.pprof")}},
		{"heap in use at the end, cumulative (inuse_space)", []string{"-top", "-cum", "-nodecount=25", "-sample_index=inuse_space", bin, p("heap.pprof")}},
		{"allocated during the measurement (alloc_space)", []string{"-top", "-nodecount=25", "-sample_index=alloc_space", "-base", p("allocs-start.pprof"), bin, p("allocs-end.pprof")}},
		{"allocated during the measurement, cumulative (alloc_space)", []string{"-top", "-cum", "-nodecount=30", "-sample_index=alloc_space", "-base", p("allocs-start.pprof"), bin, p("allocs-end.pprof")}},
		{"CPU during the measurement", []string{"-top", "-nodecount=25", bin, p("cpu.pprof")}},
		{"CPU during the measurement, cumulative", []string{"-top", "-cum", "-nodecount=30", bin, p("cpu.pprof")}},
	}
	var b strings.Builder
	for _, r := range runs {
		out, err := exec.CommandContext(ctx, "go", append([]string{"tool", "pprof"}, r.args...)...).CombinedOutput()
		fmt.Fprintf(&b, "--- %s ---\n%s", r.title, out)
		if err != nil {
			fmt.Fprintf(&b, "(go tool pprof: %v)\n", err)
		}
	}
	_ = os.WriteFile(p("profiles.txt"), []byte(b.String()), 0o644)
	return b.String()
}
