package sim

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

// Workload is a volume's I/O model, as written in scenarios and sent to the
// admin endpoint. Rates are operations per second; a rate may be a number or
// a [min, max] pair drawn once from the seeded generator.
//
// Patterns: "constant" (default); "diurnal" multiplies the rates by
// 1 + amplitude·sin(2π(t+phase)/period); "bursts" multiplies them by
// burst_multiplier for burst_duration at the start of every `every`.
// Steps replace the base rates from an offset after simulation start on.
type Workload struct {
	Pattern         string         `yaml:"pattern,omitempty" json:"pattern,omitempty"`
	ReadIOPS        Rate           `yaml:"read_iops,omitempty" json:"read_iops,omitzero"`
	WriteIOPS       Rate           `yaml:"write_iops,omitempty" json:"write_iops,omitzero"`
	IOSize          ByteSize       `yaml:"io_size,omitempty" json:"io_size,omitempty"`
	ReadLatencyUS   float64        `yaml:"read_latency_us,omitempty" json:"read_latency_us,omitempty"`
	WriteLatencyUS  float64        `yaml:"write_latency_us,omitempty" json:"write_latency_us,omitempty"`
	Amplitude       float64        `yaml:"amplitude,omitempty" json:"amplitude,omitempty"`
	Period          Duration       `yaml:"period,omitempty" json:"period,omitzero"`
	Phase           Duration       `yaml:"phase,omitempty" json:"phase,omitzero"`
	Every           Duration       `yaml:"every,omitempty" json:"every,omitzero"`
	BurstDuration   Duration       `yaml:"burst_duration,omitempty" json:"burst_duration,omitzero"`
	BurstMultiplier float64        `yaml:"burst_multiplier,omitempty" json:"burst_multiplier,omitempty"`
	Steps           []WorkloadStep `yaml:"steps,omitempty" json:"steps,omitempty"`
}

// WorkloadStep changes the base rates at an offset after simulation start.
type WorkloadStep struct {
	At        Duration `yaml:"at" json:"at"`
	ReadIOPS  Rate     `yaml:"read_iops" json:"read_iops"`
	WriteIOPS Rate     `yaml:"write_iops" json:"write_iops"`
}

// Workload patterns.
const (
	PatternConstant = "constant"
	PatternDiurnal  = "diurnal"
	PatternBursts   = "bursts"
)

// Validate reports the first invalid field as "field: problem".
func (w *Workload) Validate() error {
	switch w.Pattern {
	case "", PatternConstant:
	case PatternDiurnal:
		if w.Amplitude < 0 || w.Amplitude > 1 {
			return fmt.Errorf("amplitude: must be within [0, 1], got %g", w.Amplitude)
		}
	case PatternBursts:
		if w.Every.Duration <= 0 {
			return fmt.Errorf("every: bursts need a positive period")
		}
		if w.BurstDuration.Duration <= 0 || w.BurstDuration.Duration > w.Every.Duration {
			return fmt.Errorf("burst_duration: must be positive and at most `every`")
		}
		if w.BurstMultiplier < 0 {
			return fmt.Errorf("burst_multiplier: must not be negative")
		}
	default:
		return fmt.Errorf("pattern: unknown pattern %q (want constant, diurnal or bursts)", w.Pattern)
	}
	if err := w.ReadIOPS.validate(); err != nil {
		return fmt.Errorf("read_iops: %w", err)
	}
	if err := w.WriteIOPS.validate(); err != nil {
		return fmt.Errorf("write_iops: %w", err)
	}
	if w.IOSize < 0 || w.ReadLatencyUS < 0 || w.WriteLatencyUS < 0 {
		return fmt.Errorf("io_size, read_latency_us, write_latency_us: must not be negative")
	}
	var last time.Duration = -1
	for i, st := range w.Steps {
		if st.At.Duration <= last {
			return fmt.Errorf("steps[%d].at: offsets must be non-negative and increasing", i)
		}
		last = st.At.Duration
		if err := st.ReadIOPS.validate(); err != nil {
			return fmt.Errorf("steps[%d].read_iops: %w", i, err)
		}
		if err := st.WriteIOPS.validate(); err != nil {
			return fmt.Errorf("steps[%d].write_iops: %w", i, err)
		}
	}
	return nil
}

// workloadModel is a resolved Workload: plain numbers, closed-form integrals.
type workloadModel struct {
	pattern                   string
	ioSize                    float64
	readLatency, writeLatency float64
	amplitude                 float64
	period, phase             float64 // seconds
	every, burst, multiplier  float64
	// segments of base rates: from at (seconds) on.
	segs []rateSegment
}

type rateSegment struct{ at, read, write float64 }

func (w *Workload) resolve(rng *rand.Rand) *workloadModel {
	m := &workloadModel{
		pattern:     w.Pattern,
		ioSize:      float64(w.IOSize),
		readLatency: w.ReadLatencyUS, writeLatency: w.WriteLatencyUS,
		amplitude: w.Amplitude, period: w.Period.Seconds(), phase: w.Phase.Seconds(),
		every: w.Every.Seconds(), burst: w.BurstDuration.Seconds(), multiplier: w.BurstMultiplier,
	}
	if m.ioSize == 0 {
		m.ioSize = 4096
	}
	if m.readLatency == 0 {
		m.readLatency = 100
	}
	if m.writeLatency == 0 {
		m.writeLatency = 200
	}
	if m.period == 0 {
		m.period = 24 * 3600
	}
	m.segs = append(m.segs, rateSegment{at: math.Inf(-1), read: w.ReadIOPS.draw(rng), write: w.WriteIOPS.draw(rng)})
	for _, st := range w.Steps {
		m.segs = append(m.segs, rateSegment{at: st.At.Seconds(), read: st.ReadIOPS.draw(rng), write: st.WriteIOPS.draw(rng)})
	}
	return m
}

// mult is the integral of the pattern's rate multiplier from 0 to t seconds.
func (m *workloadModel) mult(t float64) float64 {
	switch m.pattern {
	case PatternDiurnal:
		w := 2 * math.Pi / m.period
		return t - m.amplitude/w*(math.Cos(w*(t+m.phase))-math.Cos(w*m.phase))
	case PatternBursts:
		n := math.Floor(t / m.every)
		in := math.Min(t-n*m.every, m.burst)
		return t + (m.multiplier-1)*(n*m.burst+in)
	}
	return t
}

// ops integrates the read and write rates over [a, b] seconds since start.
func (m *workloadModel) ops(a, b float64) (reads, writes float64) {
	if b <= a {
		return 0, 0
	}
	for i, sg := range m.segs {
		lo := math.Max(a, sg.at)
		hi := b
		if i+1 < len(m.segs) {
			hi = math.Min(b, m.segs[i+1].at)
		}
		if hi <= lo {
			continue
		}
		f := m.mult(hi) - m.mult(lo)
		reads += sg.read * f
		writes += sg.write * f
	}
	return reads, writes
}

// rates is the instantaneous rates at t seconds (used by tests and the admin state view).
func (m *workloadModel) rates(t float64) (read, write float64) {
	const h = 1e-3
	r, w := m.ops(t, t+h)
	return r / h, w / h
}

// ioCounters integrate a volume's workload over the time its target serves I/O.
type ioCounters struct {
	model         *workloadModel
	active        bool
	since         float64 // seconds since start when the current accrual began
	reads, writes float64 // accrued before since
}

func (s *Sim) secs(t time.Time) float64 { return t.Sub(s.start).Seconds() }

func (c *ioCounters) totals(now float64) (reads, writes float64) {
	reads, writes = c.reads, c.writes
	if c.active && c.model != nil {
		r, w := c.model.ops(c.since, now)
		reads += r
		writes += w
	}
	return reads, writes
}

func (s *Sim) ioPause(v *simVolume) {
	c := &v.io
	if !c.active {
		return
	}
	c.reads, c.writes = c.totals(s.secs(s.cur))
	c.active = false
}

func (s *Sim) ioResume(v *simVolume) {
	c := &v.io
	if c.active || v.servingNexus() == nil {
		return
	}
	c.active, c.since = true, s.secs(s.cur)
}

func (s *Sim) setWorkload(v *simVolume, m *workloadModel) {
	c := &v.io
	now := s.secs(s.cur)
	c.reads, c.writes = c.totals(now)
	c.since = now
	c.model = m
}

// ---- scalar types shared by scenarios and the admin API ----

// Rate is an operations-per-second figure: a number, or [min, max].
type Rate struct{ Min, Max float64 }

func (r Rate) validate() error {
	if r.Min < 0 || r.Max < r.Min {
		return fmt.Errorf("must be a non-negative number or [min, max] with min <= max")
	}
	return nil
}

func (r Rate) draw(rng *rand.Rand) float64 {
	if r.Max <= r.Min {
		return r.Min
	}
	return r.Min + rng.Float64()*(r.Max-r.Min)
}

// IsZero lets omitempty drop an unset rate.
func (r Rate) IsZero() bool { return r.Min == 0 && r.Max == 0 }

// UnmarshalYAML accepts a number or a two-element sequence.
func (r *Rate) UnmarshalYAML(n *yaml.Node) error {
	var one float64
	if n.Kind == yaml.ScalarNode {
		if err := n.Decode(&one); err != nil {
			return &lineError{n.Line, fmt.Sprintf("want a number or [min, max], got %q", n.Value)}
		}
		*r = Rate{one, one}
		return nil
	}
	var two []float64
	if err := n.Decode(&two); err != nil || len(two) != 2 {
		return &lineError{n.Line, "want a number or [min, max]"}
	}
	*r = Rate{two[0], two[1]}
	return nil
}

// UnmarshalJSON accepts a number or a two-element array.
func (r *Rate) UnmarshalJSON(b []byte) error {
	var one float64
	if err := json.Unmarshal(b, &one); err == nil {
		*r = Rate{one, one}
		return nil
	}
	var two []float64
	if err := json.Unmarshal(b, &two); err != nil || len(two) != 2 {
		return fmt.Errorf("rate: want a number or [min, max]")
	}
	*r = Rate{two[0], two[1]}
	return nil
}

// MarshalJSON writes a number, or [min, max] for a range.
func (r Rate) MarshalJSON() ([]byte, error) {
	if r.Min == r.Max {
		return json.Marshal(r.Min)
	}
	return json.Marshal([]float64{r.Min, r.Max})
}

// Duration is a time.Duration written as "90s", "1h30m".
type Duration struct{ time.Duration }

// IsZero lets omitempty drop an unset duration.
func (d Duration) IsZero() bool { return d.Duration == 0 }

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode {
		return &lineError{n.Line, fmt.Sprintf("want a duration such as 90s or 1h, got %q", n.Value)}
	}
	d.Duration = v
	return nil
}

// UnmarshalJSON parses a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string such as \"90s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	d.Duration = v
	return nil
}

// MarshalJSON writes the duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// ByteSize is a size in bytes, written as a number or with a unit:
// 512, 10GiB, 1.5TiB, 200MB.
type ByteSize int64

var byteUnits = map[string]float64{
	"": 1, "B": 1, "K": 1 << 10, "KB": 1e3, "KiB": 1 << 10, "M": 1 << 20, "MB": 1e6, "MiB": 1 << 20,
	"G": 1 << 30, "GB": 1e9, "GiB": 1 << 30, "T": 1 << 40, "TB": 1e12, "TiB": 1 << 40,
}

// ParseByteSize parses "10GiB" and friends.
func ParseByteSize(s string) (ByteSize, error) {
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, err := strconv.ParseFloat(s[:i], 64)
	unit, ok := byteUnits[s[i:]]
	if err != nil || !ok || num < 0 {
		return 0, fmt.Errorf("want a size such as 10GiB or 1073741824, got %q", s)
	}
	return ByteSize(num * unit), nil
}

// UnmarshalYAML accepts a number of bytes or a size with a unit.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode {
		return &lineError{n.Line, fmt.Sprintf("want a size such as 10GiB or 1073741824, got %q", n.Value)}
	}
	*b = v
	return nil
}

// UnmarshalJSON accepts a number of bytes or a size string.
func (b *ByteSize) UnmarshalJSON(data []byte) error {
	var n int64
	if err := json.Unmarshal(data, &n); err == nil {
		*b = ByteSize(n)
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("size: want bytes or a string such as \"10GiB\"")
	}
	v, err := ParseByteSize(s)
	*b = v
	return err
}

// lineError is an error at a line of a YAML document.
type lineError struct {
	line int
	msg  string
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }
