package promwatch

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// BenchmarkEvaluate10kVolumes measures one evaluation (both queries, HTTP, JSON decoding and
// classification) of the 10,000-volume scale set, plus the few fixture volumes, against the real
// Prometheus with the default queries.
func BenchmarkEvaluate10kVolumes(b *testing.B) {
	needPrometheus(b)
	w := newTestWatcher(b, testConfig(shared.URL))
	req := Request{Window: scaleWindow, At: fixtureEnd}
	b.ReportAllocs()
	var known int
	for b.Loop() {
		res, err := w.Evaluate(context.Background(), req)
		if err != nil {
			b.Fatal(err)
		}
		known = 0
		for _, v := range res.Volumes {
			if v.Known {
				known++
			}
		}
	}
	if known < scaleVolumes {
		b.Fatalf("%d known volumes, want at least %d", known, scaleVolumes)
	}
	b.ReportMetric(float64(known), "volumes")
}

// BenchmarkRawQueries10kVolumes sends the same two queries as BenchmarkEvaluate10kVolumes,
// one after the other, and only reads the answers: the Prometheus side of the cost, so that
// the difference with BenchmarkEvaluate10kVolumes is the client's decoding and classification.
func BenchmarkRawQueries10kVolumes(b *testing.B) {
	needPrometheus(b)
	queries := []string{RenderQuery(DefaultIOPSQuery, scaleWindow), CoverageQuery(DefaultPresenceQuery, scaleWindow)}
	var bytes int64
	spent := make([]time.Duration, len(queries))
	for b.Loop() {
		bytes = 0
		for i, q := range queries {
			start := time.Now()
			resp, err := http.PostForm(shared.URL+"/api/v1/query", url.Values{
				"query": {q}, "time": {strconv.FormatInt(fixtureEnd.Unix(), 10)},
			})
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d, %v", resp.StatusCode, err)
			}
			bytes += n
			spent[i] += time.Since(start)
		}
	}
	b.ReportMetric(float64(bytes), "answer-bytes")
	b.ReportMetric(float64(spent[0].Milliseconds())/float64(b.N), "iops-ms/op")
	b.ReportMetric(float64(spent[1].Milliseconds())/float64(b.N), "coverage-ms/op")
}
