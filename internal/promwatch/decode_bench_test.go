package promwatch

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// vectorAnswer is a Prometheus /api/v1/query answer: an instant vector of n series labelled
// pv_name only, as the default IOPS and coverage queries give.
func vectorAnswer(n int) []byte {
	var sb strings.Builder
	sb.WriteString(`{"status":"success","data":{"resultType":"vector","result":[`)
	for i := range n {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `{"metric":{"pv_name":"pvc-%08x-0000-4000-8000-%012x"},"value":[1764547200.123,"%d.%03d"]}`, i, i, i%5000, i%1000)
	}
	sb.WriteString(`]}}`)
	return []byte(sb.String())
}

// BenchmarkQuery10kSeries is one instant query answered with 10,000 series by a loopback server
// (no Prometheus): the HTTP round trip and decoding the answer into pv_name → value, which is
// the client's share of an evaluation's cost.
func BenchmarkQuery10kSeries(b *testing.B) {
	const series = 10000
	body := vectorAnswer(series)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	w := newTestWatcher(b, testConfig(srv.URL))
	at := time.Unix(1764547200, 0)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		values, _, err := w.query(context.Background(), "IOPS query", "q", at)
		if err != nil {
			b.Fatal(err)
		}
		if len(values) != series {
			b.Fatalf("%d values, want %d", len(values), series)
		}
	}
}
