package backtest

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// benchHistory is 10,000 volumes × 14 days at the given step: diurnal load of random amplitude
// and phase, 1% of evaluations Unknown, half the volumes on each tier.
func benchHistory(step time.Duration) (*Matrix, []Volume) {
	const volumes = 10_000
	steps := int(14*24*time.Hour/step) + 1
	ids := make([]string, volumes)
	vols := make([]Volume, volumes)
	for i := range ids {
		ids[i] = fmt.Sprintf("%08x-0000-4000-8000-000000000000", i)
		tier := nvme
		if i%2 == 1 {
			tier = sata
		}
		vols[i] = Volume{ID: ids[i], Tier: tier, SizeBytes: uint64(1+i%100) * gib, Replicas: 3}
	}
	m := NewMatrix(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), step, steps, ids)
	rng := rand.New(rand.NewPCG(1, 2))
	amp := make([]float64, volumes)
	phase := make([]int, volumes)
	for i := range amp {
		amp[i] = rng.Float64() * 4000
		phase[i] = rng.IntN(24)
	}
	for k := range steps {
		hour := int(m.At(k).Sub(m.Start) / time.Hour)
		for i := range ids {
			if rng.IntN(100) == 0 {
				continue // Unknown
			}
			x := amp[i] / 10
			if (hour+phase[i])%24 < 8 {
				x = amp[i]
			}
			m.Set(k, i, x)
		}
	}
	return m, vols
}

// BenchmarkReplay10kVolumes14Days replays 10,000 volumes over 14 days (go test -bench Replay
// -benchmem -run '^$' ./internal/backtest/); docs/backtest.md gives the figures.
func BenchmarkReplay10kVolumes14Days(b *testing.B) {
	for _, step := range []time.Duration{5 * time.Minute, time.Hour, 12 * time.Hour} {
		b.Run("step="+step.String(), func(b *testing.B) {
			m, vols := benchHistory(step)
			p := Params{LowWatermarkIOPS: 500, HighWatermarkIOPS: 2000, Cooldown: 24 * time.Hour, Slots: 2}
			b.ReportAllocs()
			b.ResetTimer()
			var r *Report
			for b.Loop() {
				var err error
				if r, err = Replay(m, p, vols); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(r.Totals.Moves), "moves")
		})
	}
}

// BenchmarkSweep10kVolumes14Days replays a 5×5 grid of watermarks (the pairs with low < high)
// over the same history at a 1h step.
func BenchmarkSweep10kVolumes14Days(b *testing.B) {
	m, vols := benchHistory(time.Hour)
	p := Params{Cooldown: 24 * time.Hour, Slots: 2}
	pairs := WatermarkGrid([]int64{100, 250, 500, 1000, 2000}, []int64{1000, 2000, 3000, 4000, 5000})
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := Sweep(m, p, vols, pairs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(pairs)), "pairs")
}

// BenchmarkDecodeRange decodes one IOPS chunk as Prometheus answers it at 10,000 volumes and a
// 5m step (666 evaluations, 6.7 M points, about 190 MB of JSON), sample by sample as the fetch
// does: the decode's cost per point and its allocations, which do not grow with the answer.
func BenchmarkDecodeRange(b *testing.B) {
	const volumes, points = 10_000, 666
	var body bytes.Buffer
	body.WriteString(`{"status":"success","data":{"resultType":"matrix","result":[`)
	for v := range volumes {
		if v > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"metric":{"pv_name":"pvc-%08x-0000-4000-8000-000000000000"},"values":[`, v)
		for k := range points {
			if k > 0 {
				body.WriteByte(',')
			}
			fmt.Fprintf(&body, `[%d,"%s"]`, 1764547200+300*k, strconv.FormatFloat(1234.5678901234*float64(1+(v+k)%7), 'f', -1, 64))
		}
		body.WriteString(`]}`)
	}
	body.WriteString(`]}}`)
	raw := body.Bytes()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		resp := &http.Response{StatusCode: 200, Body: io.NopCloser(bytes.NewReader(raw))}
		err := decodeRange(resp, func(string, model.Metric) error { return nil }, func(ts, v float64) { n++ })
		if err != nil || n != volumes*points {
			b.Fatalf("%d points, %v", n, err)
		}
	}
}
