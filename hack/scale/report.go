//go:build linux

package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// Goals the scale run is held to.
const (
	goalCycle     = 1.0      // seconds
	goalRSS       = 64 << 20 // bytes
	goalIdleMilli = 5.0
)

// report is one scenario's figures.
type report struct {
	opts                 options
	sc                   scenario
	started              time.Time
	loadStart, loadEnd   string
	nPolicies            int
	volumes, unpublished int
	pvs                  int
	operatorCmd          string
	iopsKnown            time.Duration
	profiles             string

	m      *measurer
	span   time.Duration
	hasObs bool // the operator has the observer (one observation per cycle)

	// cycles: from the histograms (observe + the policy reconciles after it) ...
	cycleSecs, observeSecs, decideSecs []float64
	reconcilesPerCycle                 []float64
	// ... and from the debug log (wall clock: observation start to the last policy decided).
	wallSecs []float64
	nCycles  float64 // observations (or, before the observer, reconciles) during the measurement

	ms, prom             counts   // whole measurement
	msPerCycle           []counts // per complete cycle (log-delimited), when the log has cycles
	promPerCycle         []counts
	promLat, msLat       []float64
	reconciles           float64
	meanRSS, maxRSS, hwm uint64
	meanAnon, maxAnon    uint64
	meanFile             uint64
	idleMilli            float64
	idleMilliNoScrape    float64
	avgMilli             float64
	cpuPerCycle          float64
	scrapeCPUPerScrape   float64
	idleIntervals        int
	reconcileHist        hist
	heapInuse, goSys     float64
	gc                   gcTrace
	tmBefore, tmAfter    int
	apiRequests          float64
	promServerQueries    float64
	promServerSeconds    float64
	scrapeDur, scrapeSmp float64
}

func (r *report) fill(m *measurer) {
	r.m = m
	if len(m.samples) < 2 {
		return
	}
	S := m.samples
	a, b := S[0], S[len(S)-1]
	r.span = b.t.Sub(a.t)
	r.hasObs = b.hasObs
	r.reconcileHist = b.recon.minus(a.recon)
	r.reconciles = r.reconcileHist.count
	r.ms = m.msEnd.minus(m.msStart)
	r.prom = m.promEnd.minus(m.promStart)
	r.msLat = m.ms.latencies(m.msStart)
	r.promLat = m.prom.latencies(m.promStart)

	// Cycles from the histograms. Interval i runs from sample i-1 to sample i.
	if r.hasObs {
		r.nCycles = b.obs.count - a.obs.count
		var at []int // intervals in which an observation ended
		for i := 1; i < len(S); i++ {
			if S[i].obs.count != S[i-1].obs.count {
				at = append(at, i)
			}
		}
		for k := 0; k+1 < len(at); k++ {
			i, j := at[k], at[k+1]
			if S[i].obs.count-S[i-1].obs.count != 1 {
				continue // two observations in one interval: their durations cannot be told apart
			}
			obs := S[i].obs.sum - S[i-1].obs.sum
			dec := S[j-1].recon.sum - S[i-1].recon.sum
			r.observeSecs = append(r.observeSecs, obs)
			r.decideSecs = append(r.decideSecs, dec)
			r.cycleSecs = append(r.cycleSecs, obs+dec)
			r.reconcilesPerCycle = append(r.reconcilesPerCycle, S[j-1].recon.count-S[i-1].recon.count)
		}
	} else {
		// Before the observer, each policy reconcile observed and decided on its own.
		r.nCycles = r.reconciles
		r.cycleSecs = m.exact
	}
	var complete []logCycle
	for _, c := range m.logCycles {
		if c.complete && !c.start.Before(a.t) && c.start.Before(b.t) {
			complete = append(complete, c)
		}
	}
	for _, c := range complete {
		r.wallSecs = append(r.wallSecs, c.wall().Seconds())
		// Requests of the cycle: those that started between its start and the next one's.
		end := b.t
		for _, n := range m.logCycles {
			if n.start.After(c.start) {
				end = n.start
				break
			}
		}
		r.msPerCycle = append(r.msPerCycle, m.ms.between(c.start, end))
		r.promPerCycle = append(r.promPerCycle, m.prom.between(c.start, end))
	}

	var sum, anon, file uint64
	for _, s := range S {
		sum += s.rss
		r.maxRSS = max(r.maxRSS, s.rss)
		anon += s.anon
		r.maxAnon = max(r.maxAnon, s.anon)
		file += s.file
	}
	r.meanRSS = sum / uint64(len(S))
	r.meanAnon, r.meanFile = anon/uint64(len(S)), file/uint64(len(S))
	r.hwm = b.hwm
	r.heapInuse = b.fam.value("go_memstats_heap_inuse_bytes", nil)
	r.goSys = b.fam.value("go_memstats_sys_bytes", nil)
	r.apiRequests = b.fam.value("rest_client_requests_total", nil) - a.fam.value("rest_client_requests_total", nil)

	// CPU. Interval i holds one harness read of /metrics (the one at sample i-1). It is idle
	// when no observation or policy reconcile ended in it or in the intervals either side (work
	// can start in the interval before the one it ends in, and its garbage is collected after
	// it), and the operator had no Mayastor or Prometheus request in flight during it.
	ended := func(i int) bool {
		if i < 1 || i >= len(S) {
			return true // unknown: count as busy
		}
		return S[i].recon.count != S[i-1].recon.count || S[i].obs.count != S[i-1].obs.count
	}
	var idleCPU, idleSecs, scrapeCPU float64
	for i := 1; i < len(S); i++ {
		p, s := S[i-1], S[i]
		scrapeCPU += p.cpuAfter - p.cpuBefore
		if ended(i-1) || ended(i) || ended(i+1) || m.ms.busy(p.t, s.t) || m.prom.busy(p.t, s.t) {
			continue
		}
		idleCPU += s.cpuBefore - p.cpuBefore
		idleSecs += s.t.Sub(p.t).Seconds()
		r.idleIntervals++
	}
	total := b.cpuBefore - a.cpuBefore
	span := r.span.Seconds()
	r.avgMilli = 1000 * total / span
	r.scrapeCPUPerScrape = scrapeCPU / float64(len(S)-1)
	idleRate := 0.0
	if idleSecs > 0 {
		idleRate = idleCPU / idleSecs
		r.idleMilli = 1000 * idleRate
		// Each idle interval holds one harness read of /metrics; take its mean cost off.
		r.idleMilliNoScrape = math.Max(0, 1000*(idleCPU-r.scrapeCPUPerScrape*float64(r.idleIntervals))/idleSecs)
	} else {
		r.idleMilli, r.idleMilliNoScrape = math.NaN(), math.NaN()
	}
	if r.nCycles > 0 {
		r.cpuPerCycle = (total - idleRate*span) / r.nCycles
	}
	r.gc = m.gc
	r.tmBefore, r.tmAfter = m.tmBefore, m.tmAfter
	r.promServerQueries, r.promServerSeconds = m.promServerQueries, m.promServerSeconds
	r.scrapeDur, r.scrapeSmp = m.scrapeDur, m.scrapeSamples
}

func ms(s float64) string {
	if math.IsNaN(s) {
		return "n/a"
	}
	return fmt.Sprintf("%.0f ms", s*1000)
}

func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }

// spread is "min / median / max (n)".
func spread(xs []float64) string {
	if len(xs) == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%s / %s / %s (%d)", ms(exactQuantile(xs, 0)), ms(exactQuantile(xs, 0.5)), ms(exactQuantile(xs, 1)), len(xs))
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// pages is the number of volume pages of one walk.
func (r *report) pages() int {
	return (r.volumes + mayastor.DefaultPageSize - 1) / mayastor.DefaultPageSize
}

// perCycle is the mean request count per cycle by route: per complete (log-delimited) cycle when
// there are such, otherwise the whole measurement divided by the number of cycles.
func perCycle(list []counts, whole counts, n float64) (float64, string, float64) {
	var sum counts
	cycles := float64(len(list))
	maxTotal := 0.0
	if len(list) > 0 {
		sum = counts{byRoute: map[string]int{}}
		for _, c := range list {
			for k, v := range c.byRoute {
				sum.byRoute[k] += v
			}
			sum.total += c.total
			maxTotal = math.Max(maxTotal, float64(c.total))
		}
	} else {
		sum, cycles = whole, n
		if n > 0 {
			maxTotal = float64(whole.total) / n
		}
	}
	if cycles == 0 {
		return math.NaN(), "n/a", math.NaN()
	}
	keys := make([]string, 0, len(sum.byRoute))
	for k := range sum.byRoute {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %.1f", k, float64(sum.byRoute[k])/cycles))
	}
	return float64(sum.total) / cycles, strings.Join(parts, ", "), maxTotal
}

// goalRows are the five goal figures of a scenario: name, measured, goal, verdict.
func (r *report) goalRows() [][4]string {
	var rows [][4]string
	cycleMax := exactQuantile(r.cycleSecs, 1)
	what := "observe + decide all policies (histograms), min / median / max (cycles)"
	if !r.hasObs {
		what = "one policy reconcile (observes and decides, before the observer), min / median / max (reconciles)"
	}
	rows = append(rows, [4]string{"cycle time: " + what, spread(r.cycleSecs), "< 1 s", verdict(cycleMax < goalCycle)})
	if len(r.wallSecs) > 0 {
		rows = append(rows, [4]string{"cycle wall time: observation start → last policy decided (log)", spread(r.wallSecs), "< 1 s", verdict(exactQuantile(r.wallSecs, 1) < goalCycle)})
	}
	rows = append(rows, [4]string{"RSS: VmRSS mean / max; VmHWM", fmt.Sprintf("%s / %s; %s", mib(float64(r.meanRSS)), mib(float64(r.maxRSS)), mib(float64(r.hwm))),
		"≤ 64 MiB", verdict(r.maxRSS <= goalRSS)})
	msMean, msRoutes, msMax := perCycle(r.msPerCycle, r.ms, r.nCycles)
	// The observer's walk: the volume pages and the pools. The cordon sweeper (its own
	// --cordon-sweep-interval, 30 s by default, whatever the policies) adds GET /v0/nodes.
	want := r.pages() + 2
	rows = append(rows, [4]string{"Mayastor requests per cycle (by route)", fmt.Sprintf("%.1f (max %.0f): %s", msMean, msMax, msRoutes),
		fmt.Sprintf("= pages + pools + nodes = %d + 1 + 1", r.pages()), verdict(msMax <= float64(want))})
	prMean, prRoutes, prMax := perCycle(r.promPerCycle, r.prom, r.nCycles)
	windows := 1 // every policy of every scenario has the same samplingWindow
	rows = append(rows, [4]string{"Prometheus requests per cycle", fmt.Sprintf("%.1f (max %.0f): %s", prMean, prMax, prRoutes),
		fmt.Sprintf("≤ 2 per distinct window (%d window: ≤ %d)", windows, 2*windows), verdict(prMax <= float64(2*windows))})
	idle := "n/a: no idle interval"
	ok := false
	if r.idleIntervals > 0 {
		idle = fmt.Sprintf("%.2fm (%.2fm less the harness's /metrics reads)", r.idleMilli, r.idleMilliNoScrape)
		ok = r.idleMilli < goalIdleMilli
	}
	rows = append(rows, [4]string{"idle CPU between cycles", idle, "< 5m", verdict(ok)})
	return rows
}

func printSetup(out io.Writer, sh *shared) {
	s := sh.setup
	fmt.Fprintf(out, "\n=== CoucheStor scale harness ===\nmachine: %s\n", s.machine)
	fmt.Fprintf(out, "scenario %s: %d Mayastor volumes (%d unpublished, no series), %d PVs; Prometheus scrape every %s; samplingWindow %s\n",
		sh.o.scenario, sh.volumes, sh.unpublished, s.pvs, sh.o.scrapeInterval, sh.o.window)
	fmt.Fprintf(out, "setup: kube-apiserver+etcd %s; sandbox.Start %s, of which PV creation %s (%d PVs, %.0f/s); group labels %s\n",
		s.apiServerStart.Round(time.Millisecond), s.sandboxStart.Round(time.Millisecond), s.pvCreate.Round(time.Millisecond),
		s.pvSeen, float64(s.pvSeen)/math.Max(s.pvCreate.Seconds(), 1e-9), s.labelTook.Round(time.Millisecond))
}

func (r *report) title() string {
	if r.nPolicies == 1 {
		return fmt.Sprintf("%s: (a) 1 policy selecting all %d volumes, %s operator", r.sc.name, r.pvs, r.sc.label)
	}
	return fmt.Sprintf("%s: (b) %d policies selecting %d volumes each + 1 selecting all %d, %s operator", r.sc.name, r.nPolicies-1, r.pvs/(r.nPolicies-1), r.pvs, r.sc.label)
}

func (r *report) print(out io.Writer) {
	fmt.Fprintf(out, "\n--- %s ---\n", r.title())
	fmt.Fprintf(out, "operator: %s\n", r.operatorCmd)
	fmt.Fprintf(out, "started %s; load average %s (start) → %s (end); policies ready %s after the operator started\n",
		r.started.Format(time.RFC3339), r.loadStart, r.loadEnd, r.iopsKnown.Round(time.Second))
	if r.m == nil || len(r.m.samples) < 2 {
		fmt.Fprintln(out, "no measurement")
		return
	}
	observations := "no observer (before it)"
	if r.hasObs {
		observations = fmt.Sprintf("%.0f observations", r.nCycles)
	}
	fmt.Fprintf(out, "measured for %s: %s, %.0f StoragePolicy reconciles; %d idle intervals of %s\n\n",
		r.span.Round(time.Second), observations, r.reconciles, r.idleIntervals, r.opts.poll)
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "FIGURE\tMEASURED\tGOAL\tVERDICT")
	for _, row := range r.goalRows() {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", row[0], row[1], row[2], row[3])
	}
	fmt.Fprintln(w, "\t\t\t")
	fmt.Fprintf(w, "of the RSS: RssAnon mean / max; RssFile mean (the binary's pages)\t%s / %s; %s\t\t\n", mib(float64(r.meanAnon)), mib(float64(r.maxAnon)), mib(float64(r.meanFile)))
	if r.hasObs {
		fmt.Fprintf(w, "of which observe (histogram), min / median / max\t%s\t\t\n", spread(r.observeSecs))
		fmt.Fprintf(w, "of which deciding all policies (Σ reconcile durations)\t%s\t\t\n", spread(r.decideSecs))
		fmt.Fprintf(w, "policy reconciles per cycle\t%s\t\t\n", floats(r.reconcilesPerCycle))
	}
	h := r.reconcileHist
	if h.count > 0 {
		fmt.Fprintf(w, "StoragePolicy reconcile, mean / p50 / p99 (histogram)\t%s / %s / %s\t\t\n", ms(h.sum/h.count), ms(h.quantile(0.5)), ms(h.quantile(0.99)))
	}
	fmt.Fprintf(w, "Prometheus query latency, median / max (via proxy)\t%s / %s\t\t\n", ms(exactQuantile(r.promLat, 0.5)), ms(exactQuantile(r.promLat, 1)))
	if r.promServerQueries > 0 {
		fmt.Fprintf(w, "Prometheus /api/v1/query, server-side mean\t%s over %.0f queries\t\t\n", ms(r.promServerSeconds/r.promServerQueries), r.promServerQueries)
	}
	per := func(n float64) string {
		if r.nCycles == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.1f", n/r.nCycles)
	}
	fmt.Fprintf(w, "Mayastor request latency, median / max (via proxy)\t%s / %s\t\t\n", ms(exactQuantile(r.msLat, 0.5)), ms(exactQuantile(r.msLat, 1)))
	fmt.Fprintf(w, "Mayastor / Prometheus response MB per cycle\t%s / %s\t\t\n", per(float64(r.ms.bytes)/1e6), per(float64(r.prom.bytes)/1e6))
	fmt.Fprintf(w, "requests over the whole measurement\tMayastor %d (%s); Prometheus %d\t\t\n", r.ms.total, r.ms, r.prom.total)
	fmt.Fprintf(w, "API server requests per cycle (rest_client_requests_total)\t%s\t\t\n", per(r.apiRequests))
	fmt.Fprintf(w, "Go heap in use / runtime sys (end)\t%s / %s\t\t\n", mib(r.heapInuse), mib(r.goSys))
	fmt.Fprintf(w, "GC cycles, live heap max / last (gctrace)\t%d, %.0f MB / %.0f MB (goal %.0f MB)\t\t\n", r.gc.cycles, r.gc.maxLiveMB, r.gc.lastLiveMB, r.gc.lastGoalMB)
	fmt.Fprintf(w, "CPU average over the measurement\t%.1fm\t\t\n", r.avgMilli)
	fmt.Fprintf(w, "CPU per cycle (less idle)\t%.0f ms\t\t\n", r.cpuPerCycle*1000)
	fmt.Fprintf(w, "CPU per harness /metrics read\t%.1f ms\t\t\n", r.scrapeCPUPerScrape*1000)
	fmt.Fprintf(w, "TierMigrations (dry run): before / after measurement\t%d / %d\t\t\n", r.tmBefore, r.tmAfter)
	if r.scrapeDur > 0 {
		fmt.Fprintf(w, "context: Prometheus scrape of the simulator\t%s, %.0f samples\t\t\n", ms(r.scrapeDur), r.scrapeSmp)
	}
	_ = w.Flush()
	if r.nPolicies > 1 {
		fmt.Fprintf(out, "note: policy \"scale\" selects every volume, so it overlaps each group policy; the planner reports the overlap and leaves those volumes alone (no moves), which is fine for measuring the cycle.\n")
	}
	if r.profiles != "" {
		fmt.Fprintf(out, "profiles: %s\n", r.profiles)
	}
}

func floats(xs []float64) string {
	var p []string
	for _, x := range xs {
		p = append(p, fmt.Sprintf("%.0f", x))
	}
	if len(p) == 0 {
		return "n/a"
	}
	return strings.Join(p, ", ")
}

// printSummary puts the goal figures of every scenario side by side.
func printSummary(out io.Writer, reports []*report) {
	if len(reports) == 0 {
		return
	}
	fmt.Fprintf(out, "\n=== summary: each figure beside its goal ===\n")
	for _, r := range reports {
		fmt.Fprintf(out, "\n%s (load %s → %s)\n", r.title(), r.loadStart, r.loadEnd)
		w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		for _, row := range r.goalRows() {
			fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", row[0], row[1], row[2], row[3])
		}
		_ = w.Flush()
	}
	fmt.Fprintln(out)
}

// curvePoint is one scenario's report at one cluster size (--volumes with several sizes).
type curvePoint struct {
	volumes int
	r       *report
}

// printCurve prints the figures of each size side by side, each with its growth from the
// previous size of the same operator binary ("after", "before"): cost linear in volumes grows
// no faster than the volume count.
func printCurve(out io.Writer, points []curvePoint) {
	if len(points) == 0 {
		return
	}
	fmt.Fprintf(out, "\n=== the curve: each figure against the volume count ===\n")
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "  volumes\tscenario\tcycle median\tCPU per cycle\tVmRSS mean\tRssAnon mean\tRssFile mean\tlive heap max\n")
	prevOf := map[string]*report{}
	sizeOf := map[string]int{}
	for _, p := range points {
		r, prev := p.r, prevOf[p.r.sc.label]
		growth := func(of func(*report) float64) string {
			if prev == nil || of(prev) <= 0 || math.IsNaN(of(prev)) || math.IsNaN(of(r)) {
				return ""
			}
			return fmt.Sprintf(" (×%.1f)", of(r)/of(prev))
		}
		cycle := func(r *report) float64 { return exactQuantile(r.cycleSecs, 0.5) }
		cpu := func(r *report) float64 { return r.cpuPerCycle }
		anon := func(r *report) float64 { return float64(r.meanAnon) }
		live := func(r *report) float64 { return r.gc.maxLiveMB }
		size := strconv.Itoa(p.volumes)
		if prev != nil {
			size += fmt.Sprintf(" (×%.0f)", float64(p.volumes)/float64(sizeOf[r.sc.label]))
		}
		fmt.Fprintf(w, "  %s\t%s\t%s%s\t%s%s\t%s\t%s%s\t%s\t%.0f MB%s\n", size, r.sc.label,
			ms(cycle(r)), growth(cycle), ms(cpu(r)), growth(cpu),
			mib(float64(r.meanRSS)), mib(anon(r)), growth(anon), mib(float64(r.meanFile)),
			live(r), growth(live))
		prevOf[r.sc.label], sizeOf[r.sc.label] = r, p.volumes
	}
	_ = w.Flush()
	fmt.Fprintln(out, "  linear in volumes: each figure grows no faster than the volume count (×N per ×N volumes); RssFile is the binary's own pages")
}
