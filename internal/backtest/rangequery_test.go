package backtest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeRange answers query_range like Prometheus for the volumes ids: the coverage query with
// full coverage (60 points), the IOPS query with 1000·column + the evaluation's index from
// from. It refuses a query of more than maxPoints evaluations for too many samples, and records
// the queries and the most it had in flight.
type fakeRange struct {
	ids                 []string
	from                time.Time
	maxPoints           int
	delay               time.Duration
	queries             atomic.Int64
	inFlight, mostInFly atomic.Int64
	extra               string // appended to each answer's result, raw
}

func (f *fakeRange) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.mostInFly.Load()
		if n <= m || f.mostInFly.CompareAndSwap(m, n) {
			break
		}
	}
	f.queries.Add(1)
	time.Sleep(f.delay)
	_ = r.ParseForm()
	start, _ := strconv.ParseFloat(r.Form.Get("start"), 64)
	end, _ := strconv.ParseFloat(r.Form.Get("end"), 64)
	step, _ := strconv.ParseFloat(r.Form.Get("step"), 64)
	points := int((end-start)/step) + 1
	if f.maxPoints > 0 && points > f.maxPoints {
		w.WriteHeader(http.StatusUnprocessableEntity)
		fmt.Fprint(w, `{"status":"error","errorType":"execution","error":"query processing would load too many samples into memory in query execution"}`)
		return
	}
	coverage := strings.HasPrefix(r.Form.Get("query"), "count_over_time")
	var b strings.Builder
	b.WriteString(`{"status":"success","data":{"resultType":"matrix","result":[`)
	for col, id := range f.ids {
		if col > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"metric":{"node":"n1","pv_name":"pvc-%s"},"values":[`, id)
		for i := range points {
			ts := start + float64(i)*step
			v := 60.0
			if !coverage {
				v = float64(1000*col) + (ts-float64(f.from.Unix()))/step
			}
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `[%s,"%g"]`, strconv.FormatFloat(ts, 'f', -1, 64), v)
		}
		b.WriteString(`]}`)
	}
	b.WriteString(f.extra)
	b.WriteString(`]},"warnings":["w"]}`)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(b.String()))
}

func fakeConfig(u string, ids []string, from time.Time, steps int) Config {
	vols := make([]Volume, len(ids))
	for i, id := range ids {
		vols[i] = Volume{ID: id, Tier: nvme, SizeBytes: gib, Replicas: 1}
	}
	return Config{Policy: livePolicy(), Volumes: vols, From: from, To: from.Add(time.Duration(steps-1) * time.Hour), Step: time.Hour, PrometheusURL: u}
}

func checkFakeMatrix(t *testing.T, m *Matrix) {
	t.Helper()
	for k := range m.Steps {
		for col := range m.Volumes {
			if got, want := m.Row(k)[col], float32(1000*col+k); got != want {
				t.Fatalf("evaluation %d, volume %d: %g, want %g", k, col, got, want)
			}
		}
	}
}

// Each sample lands in its evaluation and column, other series' labels are ignored, and a chunk
// refused for too many samples is halved until it fits: 24 evaluations, at most 7 per query.
func TestFetchHalvesChunksPrometheusRefuses(t *testing.T) {
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	f := &fakeRange{ids: []string{"a", "b", "c"}, from: from, maxPoints: 7}
	srv := httptest.NewServer(f)
	defer srv.Close()
	m, queries, err := Fetch(context.Background(), fakeConfig(srv.URL, f.ids, from, 24))
	if err != nil {
		t.Fatal(err)
	}
	checkFakeMatrix(t, m)
	// Each query: 24 refused, 12 + 12 refused, four times 6 answered: 7 queries.
	if queries != 14 || f.queries.Load() != 14 {
		t.Errorf("%d queries counted, %d received; want 14", queries, f.queries.Load())
	}
}

// At most Concurrency queries are in flight, and more than one is.
func TestFetchBoundsConcurrentQueries(t *testing.T) {
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	f := &fakeRange{ids: []string{"a", "b"}, from: from, delay: 30 * time.Millisecond}
	srv := httptest.NewServer(f)
	defer srv.Close()
	cfg := fakeConfig(srv.URL, f.ids, from, 40)
	cfg.MaxSamplesPerQuery = 2 * 4 // 4 evaluations per IOPS query: 10 of them, and more for the coverage
	cfg.Concurrency = 3
	m, queries, err := Fetch(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkFakeMatrix(t, m)
	if queries < 10 {
		t.Fatalf("%d queries: the test wants many chunks", queries)
	}
	if most := f.mostInFly.Load(); most != 3 {
		t.Errorf("at most %d queries in flight, want 3", most)
	}
}

// Answers of the wrong shape and Prometheus's errors fail the fetch with what they say.
func TestFetchReportsBadAnswers(t *testing.T) {
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		status int
		body   string
		extra  string // for the fake's answers instead of a body
		want   string
	}{
		{name: "no pv_name", extra: `,{"metric":{"node":"n1"},"values":[[1,"1"]]}`, want: `series {node="n1"} has no pv_name label`},
		{name: "duplicate", extra: `,{"metric":{"pv_name":"pvc-a","node":"n2"},"values":[]}`, want: `two series for pv_name "pvc-a"`},
		{name: "bad value", extra: `,{"metric":{"pv_name":"pvc-x"},"values":[[1,"one"]]}`, want: "not the Prometheus API"},
		{name: "vector", status: 200, body: `{"status":"success","data":{"resultType":"vector","result":[]}}`, want: "returned a vector, want a matrix"},
		{name: "bad query", status: 400, body: `{"status":"error","errorType":"bad_data","error":"parse error"}`, want: "bad_data: parse error"},
		{name: "timeout", status: 503, body: `{"status":"error","errorType":"timeout","error":"query timed out"}`, want: "timeout: query timed out"},
		{name: "proxy", status: 502, body: `<html>Bad Gateway</html>`, want: "server error: 502 <html>Bad Gateway</html>"},
		{name: "not JSON", status: 200, body: `<html>`, want: "not the Prometheus API"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h http.Handler = &fakeRange{ids: []string{"a"}, from: from, extra: tc.extra}
			if tc.body != "" {
				h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.WriteHeader(tc.status)
					fmt.Fprint(w, tc.body)
				})
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			_, _, err := Fetch(context.Background(), fakeConfig(srv.URL, []string{"a"}, from, 3))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// A series' values before its metric, labels other than pv_name, series of volumes not
// replayed, histograms and unknown fields are all read as Prometheus means them; a POST the
// server refuses is sent again as a GET.
func TestFetchDecodesAnyFieldOrder(t *testing.T) {
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var methods sync.Map
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		methods.Store(r.Method, true)
		_ = r.ParseForm()
		v := `"5"`
		if strings.HasPrefix(r.Form.Get("query"), "count_over_time") {
			v = `"60"`
		}
		t0 := from.Unix()
		fmt.Fprintf(w, `{"data":{"result":[{"values":[[%d,%s],[%d.0,%s]],"metric":{"pv_name":"pvc-a","z":"\"q\""}},`+
			`{"metric":{"pv_name":"pvc-other"},"values":[[%d,"7"]]},{"metric":{"pv_name":"pvc-b"},"histograms":[[%d,{"count":"1"}]],"values":[[%d,%s]]}],`+
			`"resultType":"matrix","stats":{"x":[1,2]}},"infos":["i"],"status":"success"}`, t0, v, t0+3600, v, t0, t0, t0+3600, v)
	}))
	defer srv.Close()
	m, _, err := Fetch(context.Background(), fakeConfig(srv.URL, []string{"a", "b"}, from, 2))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := methods.Load(http.MethodGet); !ok {
		t.Error("no GET after the POST was refused")
	}
	a0, a1, b0, b1 := m.Row(0)[0], m.Row(1)[0], m.Row(0)[1], m.Row(1)[1]
	if a0 != 5 || a1 != 5 || b0 == b0 || b1 != 5 { // b has no value at the first instant: NaN
		t.Errorf("a %g %g, b %g %g; want 5 5 NaN 5", a0, a1, b0, b1)
	}
}
