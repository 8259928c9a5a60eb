package sim

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape parses the exporter output with Prometheus' own text parser.
func scrape(t testing.TB, s *Sim, node string) map[string]*dto.MetricFamily {
	t.Helper()
	var buf bytes.Buffer
	if err := s.WriteMetrics(&buf, node); err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(&buf)
	if err != nil {
		t.Fatalf("exporter output is not valid Prometheus text: %v", err)
	}
	return fams
}

type series struct {
	labels map[string]string
	value  float64
}

func samples(fams map[string]*dto.MetricFamily, name string) []series {
	f, ok := fams[name]
	if !ok {
		return nil
	}
	var out []series
	for _, m := range f.GetMetric() {
		l := map[string]string{}
		for _, lp := range m.GetLabel() {
			l[lp.GetName()] = lp.GetValue()
		}
		out = append(out, series{l, m.GetGauge().GetValue()})
	}
	return out
}

func volumeValue(t testing.TB, fams map[string]*dto.MetricFamily, name, pv string) (float64, string, bool) {
	t.Helper()
	for _, s := range samples(fams, name) {
		if s.labels["pv_name"] == pv {
			return s.value, s.labels["node"], true
		}
	}
	return 0, "", false
}

const metricsScenario = `
rebuild_bandwidth: 1GiB
nodes: [{id: n1}, {id: n2}, {id: n3}]
pools:
  - {id: p1, node: n1, capacity: 100GiB}
  - {id: p2, node: n2, capacity: 100GiB}
  - {id: p3, node: n3, capacity: 100GiB}
volumes:
  - uuid: ` + vol1 + `
    size: 1GiB
    replicas: [p1, p2]
    published: true
    nexus_node: n1
    workload: {read_iops: 250, write_iops: 40, io_size: 8KiB, read_latency_us: 120, write_latency_us: 300}
  - {uuid: ` + vol2 + `, size: 1GiB, replicas: [p3], workload: {read_iops: 1000}}   # unpublished
`

func TestExporterRatesMatchTheWorkload(t *testing.T) {
	s, clk := newTestSim(t, metricsScenario)
	pv := "pvc-" + vol1
	f0 := scrape(t, s, "")
	clk.Step(10 * time.Minute)
	f1 := scrape(t, s, "")
	want := map[string]float64{
		"volume_num_read_ops":     250 * 600,
		"volume_num_write_ops":    40 * 600,
		"volume_bytes_read":       250 * 600 * 8192,
		"volume_bytes_written":    40 * 600 * 8192,
		"volume_read_latency_us":  250 * 600 * 120,
		"volume_write_latency_us": 40 * 600 * 300,
	}
	for name, delta := range want {
		a, _, ok0 := volumeValue(t, f0, name, pv)
		b, node, ok1 := volumeValue(t, f1, name, pv)
		if !ok0 || !ok1 {
			t.Fatalf("%s{pv_name=%q} missing", name, pv)
		}
		if math.Abs((b-a)-delta) > 1 {
			t.Errorf("%s grew by %v over 10m, want %v", name, b-a, delta)
		}
		if node != "n1" {
			t.Errorf("%s node=%q, want the nexus node n1", name, node)
		}
	}
	if _, _, ok := volumeValue(t, f1, "volume_num_read_ops", "pvc-"+vol2); ok {
		t.Errorf("the unpublished volume is exported: only a nexus exports volume series")
	}
	if len(samples(f1, "diskpool_total_size_bytes")) != 3 || len(samples(f1, "diskpool_status")) != 3 {
		t.Errorf("want one pool series per pool")
	}
	for _, p := range samples(f1, "diskpool_used_size_bytes") {
		if p.labels["name"] == "p1" && (p.value != 1<<30 || p.labels["node"] != "n1") {
			t.Errorf("diskpool_used_size_bytes %v, want 1GiB on node n1", p)
		}
	}
	// Per-node exporter view.
	if got := samples(scrape(t, s, "n2"), "volume_num_read_ops"); len(got) != 0 {
		t.Errorf("n2's exporter shows %v, but the nexus is on n1", got)
	}
}

func TestExporterCountersSurviveRepublishAndPauseWhileUnpublished(t *testing.T) {
	s, clk := newTestSim(t, metricsScenario)
	pv := "pvc-" + vol1
	clk.Step(100 * time.Second)
	before, _, _ := volumeValue(t, scrape(t, s, ""), "volume_num_read_ops", pv)
	if _, err := s.Publish(vol1, PublishRequest{Protocol: "nvmf", Node: "n2", Republish: true}); err != nil {
		t.Fatal(err)
	}
	clk.Step(100 * time.Second)
	after, node, _ := volumeValue(t, scrape(t, s, ""), "volume_num_read_ops", pv)
	if node != "n2" || after-before != 250*100 {
		t.Fatalf("after republish: node %q, grew %v; want node n2 and +25000 (no reset)", node, after-before)
	}
	if _, err := s.Unpublish(vol1, false); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := volumeValue(t, scrape(t, s, ""), "volume_num_read_ops", pv); ok {
		t.Fatal("an unpublished volume is still exported")
	}
	clk.Step(time.Hour) // no target, no I/O
	if _, err := s.Publish(vol1, PublishRequest{Protocol: "nvmf", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	clk.Step(10 * time.Second)
	v, node, _ := volumeValue(t, scrape(t, s, ""), "volume_num_read_ops", pv)
	if node != "n1" || v != after+2500 {
		t.Fatalf("after an hour unpublished and 10s published: %v on %q, want %v on n1", v, node, after+2500)
	}
}

func TestWorkloadPatternsIntegrateExactly(t *testing.T) {
	cases := []struct {
		name     string
		workload string
		from, to time.Duration
		reads    float64
	}{
		{"constant", `{read_iops: 100}`, 0, time.Hour, 100 * 3600},
		// A full period of a sine adds nothing to the mean.
		{"diurnal full day", `{pattern: diurnal, read_iops: 100, amplitude: 0.5, period: 24h}`, 0, 24 * time.Hour, 100 * 86400},
		// Quarter period: 100·(T/4 + A·T/(2π)).
		{"diurnal quarter", `{pattern: diurnal, read_iops: 100, amplitude: 0.5, period: 24h}`, 0, 6 * time.Hour,
			100 * (21600 + 0.5*86400/(2*math.Pi))},
		// Two bursts of 5m at 10x within 2h: 100·(7200 + 9·600).
		{"bursts", `{pattern: bursts, read_iops: 100, every: 1h, burst_duration: 5m, burst_multiplier: 10}`, 0, 2 * time.Hour,
			100 * (7200 + 9*600)},
		{"step change", `{read_iops: 10, steps: [{at: 30m, read_iops: 1000}]}`, 0, time.Hour, 10*1800 + 1000*1800},
		{"inside a burst", `{pattern: bursts, read_iops: 100, every: 1h, burst_duration: 10m, burst_multiplier: 3}`,
			2 * time.Minute, 7 * time.Minute, 300 * 300},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, clk := newTestSim(t, `
nodes: [{id: n1}]
pools: [{id: p1, node: n1, capacity: 10GiB}]
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [p1], published: true, workload: `+tc.workload+`}
`)
			clk.Step(tc.from)
			a, _, _ := volumeValue(t, scrape(t, s, ""), "volume_num_read_ops", "pvc-"+vol1)
			clk.Step(tc.to - tc.from)
			b, _, _ := volumeValue(t, scrape(t, s, ""), "volume_num_read_ops", "pvc-"+vol1)
			if math.Abs((b-a)-tc.reads) > 1 {
				t.Fatalf("reads over [%v, %v] = %v, want %v", tc.from, tc.to, b-a, tc.reads)
			}
		})
	}
}

func TestSetWorkloadChangesTheRateFromNowOn(t *testing.T) {
	s, clk := newTestSim(t, metricsScenario)
	pv := "pvc-" + vol1
	clk.Step(time.Minute)
	if err := s.SetWorkload(vol1, Workload{ReadIOPS: Rate{5, 5}}); err != nil {
		t.Fatal(err)
	}
	clk.Step(time.Minute)
	v, _, _ := volumeValue(t, scrape(t, s, ""), "volume_num_read_ops", pv)
	if v != 250*60+5*60 {
		t.Fatalf("reads %v, want %v (250/s for a minute, then 5/s)", v, 250*60+5*60)
	}
	if err := s.SetWorkload(vol1, Workload{Pattern: "sawtooth"}); err == nil {
		t.Fatal("an unknown pattern was accepted")
	}
}

func TestExporterAtTenThousandVolumes(t *testing.T) {
	sc, err := LoadScenario("scale-10k")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(sc)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	start := time.Now()
	if err := s.WriteMetrics(&buf, ""); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	published := strings.Count(buf.String(), "\nvolume_num_read_ops{")
	if published != 9500 {
		t.Fatalf("%d volumes exported, want the 9500 published ones", published)
	}
	t.Logf("10k-volume scrape: %d bytes in %v", buf.Len(), took)
}

func BenchmarkWriteMetrics10k(b *testing.B) {
	sc, err := LoadScenario("scale-10k")
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(sc)
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := s.WriteMetrics(&buf, ""); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "bytes/scrape")
}

func BenchmarkListVolumes10k(b *testing.B) {
	sc, err := LoadScenario("scale-10k")
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(sc)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		for tok := 0; ; {
			page := s.ListVolumes(500, tok)
			if page.NextToken == nil {
				break
			}
			tok = int(*page.NextToken)
		}
	}
}
