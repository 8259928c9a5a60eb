package controller

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/tiering"
)

// BenchmarkGatherVolumeDecisions10k is one scrape of storage_operator_volume_decision
// (--per-volume-metrics) at 10,000 selected volumes: gather and text encoding.
func BenchmarkGatherVolumeDecisions10k(b *testing.B) {
	tr := &DecisionTracker{Every: time.Minute}
	var ds []tiering.VolumeDecision
	for i := range 10_000 {
		ds = append(ds, stay(fmt.Sprintf("%08x-5ca1-4000-8000-000000000000", i), storagev1.ReasonBetweenWatermarks))
	}
	tr.update("gold", ds, time.Now())
	reg := prometheus.NewRegistry()
	c := &volumeDecisions{}
	c.Use(tr)
	reg.MustRegister(c)
	b.ReportAllocs()
	for b.Loop() {
		mfs, err := reg.Gather()
		if err != nil {
			b.Fatal(err)
		}
		var buf bytes.Buffer
		for _, mf := range mfs {
			if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
				b.Fatal(err)
			}
		}
		if buf.Len() == 0 {
			b.Fatal("nothing gathered")
		}
		b.SetBytes(int64(buf.Len()))
	}
}
