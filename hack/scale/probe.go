//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat: 100 on every Linux
// architecture Go supports.
const clockTicks = 100

// procCPU returns utime+stime of a process, in seconds.
func procCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces: count from after it.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad utime/stime", pid)
	}
	return float64(ut+st) / clockTicks, nil
}

// procMem reads a process's VmRSS, VmHWM, RssAnon and RssFile, in bytes. VmRSS is RssAnon
// (the heap, stacks, the Go runtime's mappings) + RssFile (the pages of the binary and other
// files it touched) + RssShmem.
func procMem(pid int) (m memReading, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m, err
	}
	defer f.Close()
	fields := map[string]*uint64{"VmRSS:": &m.rss, "VmHWM:": &m.hwm, "RssAnon:": &m.anon, "RssFile:": &m.file}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "\t")
		if dst := fields[strings.TrimSpace(k)]; ok && dst != nil {
			fs := strings.Fields(v)
			if len(fs) == 2 && fs[1] == "kB" {
				n, _ := strconv.ParseUint(fs[0], 10, 64)
				*dst = n * 1024
			}
		}
	}
	return m, sc.Err()
}

// memReading is one reading of a process's memory from /proc/<pid>/status, in bytes.
type memReading struct{ rss, hwm, anon, file uint64 }

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return strings.TrimSpace(string(b))
	}
	return strings.Join(f[:3], " ")
}

// families is one scrape of a /metrics endpoint.
type families map[string]*dto.MetricFamily

func scrape(ctx context.Context, u string) (families, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := p.TextToMetricFamilies(resp.Body)
	return families(mf), err
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	for k, v := range want {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == k && lp.GetValue() == v {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// value sums the counters, gauges or untyped values of a family whose labels include want.
func (f families) value(name string, want map[string]string) float64 {
	mf := f[name]
	if mf == nil {
		return 0
	}
	var sum float64
	for _, m := range mf.GetMetric() {
		if !hasLabels(m, want) {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		}
	}
	return sum
}

// hist is a histogram: count, sum and cumulative buckets (upper bound → count).
type hist struct {
	count  float64
	sum    float64
	bounds []float64
	cum    []float64
}

func (f families) histogram(name string, want map[string]string) hist {
	var h hist
	mf := f[name]
	if mf == nil {
		return h
	}
	for _, m := range mf.GetMetric() {
		if !hasLabels(m, want) || m.Histogram == nil {
			continue
		}
		hh := m.GetHistogram()
		h.count += float64(hh.GetSampleCount())
		h.sum += hh.GetSampleSum()
		if h.bounds == nil {
			for _, b := range hh.GetBucket() {
				h.bounds = append(h.bounds, b.GetUpperBound())
				h.cum = append(h.cum, 0)
			}
		}
		for i, b := range hh.GetBucket() {
			if i < len(h.cum) {
				h.cum[i] += float64(b.GetCumulativeCount())
			}
		}
	}
	return h
}

// minus is the histogram of the observations made between o and h.
func (h hist) minus(o hist) hist {
	d := hist{count: h.count - o.count, sum: h.sum - o.sum, bounds: h.bounds}
	for i := range h.cum {
		v := h.cum[i]
		if i < len(o.cum) {
			v -= o.cum[i]
		}
		d.cum = append(d.cum, v)
	}
	return d
}

// quantile estimates a quantile from the buckets as PromQL's histogram_quantile does: linear
// interpolation inside the bucket that holds it.
func (h hist) quantile(q float64) float64 {
	if h.count <= 0 || len(h.bounds) == 0 {
		return math.NaN()
	}
	rank := q * h.count
	lower, prev := 0.0, 0.0
	for i, ub := range h.bounds {
		if h.cum[i] >= rank {
			if math.IsInf(ub, 1) {
				return lower
			}
			in := h.cum[i] - prev
			if in <= 0 {
				return ub
			}
			return lower + (ub-lower)*(rank-prev)/in
		}
		lower, prev = ub, h.cum[i]
	}
	// Above the last finite bound.
	return h.bounds[len(h.bounds)-1]
}

// exactQuantile is a nearest-rank quantile of exact samples.
func exactQuantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// counter counts the requests the operator makes through a reverse proxy in front of a server,
// so that the operator's own calls are counted and timed, not the harness's.
type counter struct {
	name   string
	target *url.URL
	proxy  *httputil.ReverseProxy

	mu      sync.Mutex
	byRoute map[string]int
	total   int
	bytes   int64
	lat     []time.Duration
	at      []time.Time // when each request started
	routes  []string    // the route of each request
}

func newCounter(name, target string) (*counter, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	c := &counter{name: name, target: u, byRoute: map[string]int{}}
	c.proxy = httputil.NewSingleHostReverseProxy(u)
	return c, nil
}

type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (w *countingWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

func (w *countingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (c *counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	cw := &countingWriter{ResponseWriter: w}
	c.proxy.ServeHTTP(cw, r)
	d := time.Since(start)
	c.mu.Lock()
	c.byRoute[r.Method+" "+route(r.URL.Path)]++
	c.total++
	c.bytes += cw.n
	c.lat = append(c.lat, d)
	c.at = append(c.at, start)
	c.routes = append(c.routes, r.Method+" "+route(r.URL.Path))
	c.mu.Unlock()
}

var uuidRE = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)

// route makes a path a route: volume uuids become {id}.
func route(p string) string { return uuidRE.ReplaceAllString(p, "{id}") }

// counts is a snapshot of a counter.
type counts struct {
	byRoute map[string]int
	total   int
	bytes   int64
	nlat    int
}

func (c *counter) snapshot() counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := counts{byRoute: map[string]int{}, total: c.total, bytes: c.bytes, nlat: len(c.lat)}
	for k, v := range c.byRoute {
		s.byRoute[k] = v
	}
	return s
}

// latencies returns the request durations recorded since a snapshot.
func (c *counter) latencies(since counts) []float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []float64
	for _, d := range c.lat[since.nlat:] {
		out = append(out, d.Seconds())
	}
	return out
}

// between counts the requests that started in [from, to).
func (c *counter) between(from, to time.Time) counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := counts{byRoute: map[string]int{}}
	for i, t := range c.at {
		if !t.Before(from) && t.Before(to) {
			s.byRoute[c.routes[i]]++
			s.total++
		}
	}
	return s
}

// busy reports whether a request was in flight at some time in [from, to].
func (c *counter) busy(from, to time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, t := range c.at {
		if !t.After(to) && !t.Add(c.lat[i]).Before(from) {
			return true
		}
	}
	return false
}

func (s counts) minus(o counts) counts {
	d := counts{byRoute: map[string]int{}, total: s.total - o.total, bytes: s.bytes - o.bytes}
	for k, v := range s.byRoute {
		if n := v - o.byRoute[k]; n > 0 {
			d.byRoute[k] = n
		}
	}
	return d
}

func (s counts) String() string {
	keys := make([]string, 0, len(s.byRoute))
	for k := range s.byRoute {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, s.byRoute[k]))
	}
	return strings.Join(parts, ", ")
}

// gcTrace is what GODEBUG=gctrace=1 lines say: one line per GC cycle.
type gcTrace struct {
	cycles     int
	maxLiveMB  float64
	lastLiveMB float64
	lastGoalMB float64
}

// gctrace line: "gc 12 @3.456s 1%: ... ms cpu, 10->11->5 MB, 12 MB goal, ..."
var gcRE = regexp.MustCompile(`^gc (\d+) @[0-9.]+s .* (\d+)->(\d+)->(\d+) MB, (\d+) MB goal`)

// parseGCTrace reads the gctrace lines of a log from byte offset off.
func parseGCTrace(path string, off int64) (gcTrace, int64, error) {
	var t gcTrace
	f, err := os.Open(path)
	if err != nil {
		return t, off, err
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return t, off, err
	}
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadString('\n')
		off += int64(len(line))
		if m := gcRE.FindStringSubmatch(line); m != nil {
			t.cycles++
			live, _ := strconv.ParseFloat(m[4], 64)
			goal, _ := strconv.ParseFloat(m[5], 64)
			t.lastLiveMB, t.lastGoalMB = live, goal
			t.maxLiveMB = math.Max(t.maxLiveMB, live)
		}
		if err != nil {
			break
		}
	}
	return t, off, nil
}

func logSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// logCycle is one observation and the policy decisions that followed it, from the operator's
// debug log: "observed" (logged at the end of an observation, with took) and "evaluated policy"
// (logged by each StoragePolicy reconcile once the plan is made and its migrations created,
// before the status write, with took).
type logCycle struct {
	start       time.Time     // the observation's start: its log time less its took
	observe     time.Duration // the observation's took
	lastDecided time.Time     // log time of the last "evaluated policy" before the next observation
	decided     int           // "evaluated policy" lines in the cycle
	decideSum   time.Duration // sum of their took
	complete    bool          // a later observation was logged, so no decision of this cycle is missing
}

// wall is the cycle's wall-clock time: observation start to the last policy decided.
func (c logCycle) wall() time.Duration {
	if c.decided == 0 {
		return c.observe
	}
	return c.lastDecided.Sub(c.start)
}

// parseCycles reads the cycles of an operator log from byte offset off (console encoding:
// time, level, logger, message, JSON fields, tab-separated).
func parseCycles(path string, off int64) ([]logCycle, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, err
	}
	var out []logCycle
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		fs := strings.Split(sc.Text(), "\t")
		if len(fs) < 4 {
			continue
		}
		msg := ""
		for _, x := range fs[1:] {
			if x == "observed" || x == "evaluated policy" {
				msg = x
				break
			}
		}
		if msg == "" {
			continue
		}
		ts, err := time.Parse("2006-01-02T15:04:05.000Z0700", fs[0])
		if err != nil {
			continue
		}
		var fields struct {
			Took string `json:"took"`
		}
		_ = json.Unmarshal([]byte(fs[len(fs)-1]), &fields)
		took, _ := time.ParseDuration(fields.Took)
		switch msg {
		case "observed":
			if n := len(out); n > 0 {
				out[n-1].complete = true
			}
			out = append(out, logCycle{start: ts.Add(-took), observe: took})
		case "evaluated policy":
			if n := len(out); n > 0 && !ts.Before(out[n-1].start) {
				c := &out[n-1]
				c.decided++
				c.decideSum += took
				c.lastDecided = ts
			}
		}
	}
	return out, sc.Err()
}
