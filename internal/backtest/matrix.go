package backtest

import (
	"fmt"
	"math"
	"time"
)

// Matrix is the IOPS history a replay reads: for each evaluation instant Start, Start+Step, ...
// (Steps of them) and each volume, the volume's mean IOPS over the sampling window ending at
// that instant, as the planner would have seen it. Unknown (no series, too little coverage, no
// rate, an invalid value) is NaN and is never read as zero.
//
// Values are float32 and stored instant-major (all volumes of one instant side by side), so a
// replay walks memory in order: 10,000 volumes × 14 days at a 5m step is 161 MB.
type Matrix struct {
	Start time.Time
	Step  time.Duration
	Steps int
	// Volumes are the Mayastor volume uuids of the columns.
	Volumes []string
	// Values[k*len(Volumes)+i] is volume i at instant k.
	Values []float32
}

// NewMatrix returns a matrix of the given shape with every value Unknown.
func NewMatrix(start time.Time, step time.Duration, steps int, volumes []string) *Matrix {
	m := &Matrix{Start: start, Step: step, Steps: steps, Volumes: volumes, Values: make([]float32, steps*len(volumes))}
	nan := float32(math.NaN())
	for i := range m.Values {
		m.Values[i] = nan
	}
	return m
}

// At returns the instant of evaluation k.
func (m *Matrix) At(k int) time.Time { return m.Start.Add(time.Duration(k) * m.Step) }

// Row returns the values of instant k, one per volume.
func (m *Matrix) Row(k int) []float32 {
	n := len(m.Volumes)
	return m.Values[k*n : (k+1)*n]
}

// Set stores volume i's IOPS at instant k; a NaN, infinite or negative value is stored as
// Unknown.
func (m *Matrix) Set(k, i int, iops float64) {
	if math.IsNaN(iops) || math.IsInf(iops, 0) || iops < 0 {
		iops = math.NaN()
	}
	m.Values[k*len(m.Volumes)+i] = float32(iops)
}

func (m *Matrix) validate() error {
	switch {
	case m == nil:
		return fmt.Errorf("backtest: no IOPS matrix")
	case m.Step <= 0:
		return fmt.Errorf("backtest: matrix step %s is not positive", m.Step)
	case m.Steps < 0 || len(m.Values) != m.Steps*len(m.Volumes):
		return fmt.Errorf("backtest: matrix holds %d values, want %d instants × %d volumes", len(m.Values), m.Steps, len(m.Volumes))
	}
	return nil
}
