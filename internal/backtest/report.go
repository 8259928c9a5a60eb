package backtest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

// Report is what a policy would have done over a time range.
type Report struct {
	// Policy names the StoragePolicy replayed (empty for a replay of given parameters).
	Policy string `json:"policy,omitempty"`
	// From and To are the first and the last evaluation instants.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Step is the time between two evaluations; Window the sampling window each one averages.
	Step   Duration `json:"step"`
	Window Duration `json:"samplingWindow,omitempty"`
	// The rules replayed.
	LowWatermarkIOPS  int64    `json:"lowWatermarkIOPS"`
	HighWatermarkIOPS int64    `json:"highWatermarkIOPS"`
	Cooldown          Duration `json:"cooldown"`
	Slots             int      `json:"slotsPerStep"`
	// Evaluations is the number of instants replayed.
	Evaluations int `json:"evaluations"`
	// RangeQueries is the number of query_range requests sent to Prometheus (0 for Replay).
	RangeQueries int `json:"rangeQueries"`

	Totals Totals `json:"totals"`
	// FlipsPreventedByAntiFlap is how many fewer flips the replay makes with the cooldown
	// anti-flap lengthens (Params.AntiFlap): Totals are the replay without it. Zero, with the
	// two fields before it, when anti-flap is off.
	AntiFlapWindowCooldowns  int      `json:"antiFlapWindowCooldowns,omitempty"`
	AntiFlapMaxCooldown      Duration `json:"antiFlapMaxCooldown,omitempty"`
	FlipsPreventedByAntiFlap int      `json:"flipsPreventedByAntiFlap"`
	// Days counts the moves per calendar day, every day of the range included.
	Days []DayReport `json:"days"`
	// Volumes holds every replayed volume, in the order given.
	Volumes []VolumeReport `json:"volumes"`
	// Moves lists every move, in time order (then by rank within an instant).
	Moves []Move `json:"moves"`
	// Skipped are the volumes not replayed, and why.
	Skipped []SkippedVolume `json:"skipped,omitempty"`
	// Grid holds one line per (low, high) pair asked for (Config.Grid, or Sweep).
	Grid []GridPoint `json:"grid,omitempty"`
}

// Totals sum up a replay.
type Totals struct {
	Volumes, VolumesMoved, VolumesFlipped int
	Moves, Promotions, Demotions          int
	// Flips are moves back: every move of a volume after its first replayed move (with two
	// tiers, each one undoes the previous).
	Flips int
	// BytesRebuilt is size × replicas summed over the moves: what the rebuilds would copy.
	BytesRebuilt uint64
	// CooldownBlocked counts the evaluations at which a volume should have moved but was
	// cooling down; SlotDeferred those at which it waited for a migration slot.
	CooldownBlocked, SlotDeferred int
	// Evaluations of a volume judged on the right tier, on the wrong one, or Unknown.
	RightEvaluations, WrongEvaluations, UnknownEvaluations int
	// The same as time (evaluations × step), summed over the volumes: in whole seconds, since
	// 10,000 volumes × 14 days is past the 292 years a time.Duration holds.
	RightTier, WrongTier, Unknown VolumeTime
}

func (t *Totals) add(mv *Move) {
	t.Moves++
	if mv.To == storagev1.TierNVMe {
		t.Promotions++
	} else {
		t.Demotions++
	}
	if mv.Flip {
		t.Flips++
	}
	t.BytesRebuilt += mv.Bytes
}

// RightTierShare is the share of the known evaluations at which volumes were on the right tier
// (1 when none is known).
func (t *Totals) RightTierShare() float64 {
	if n := t.RightEvaluations + t.WrongEvaluations; n > 0 {
		return float64(t.RightEvaluations) / float64(n)
	}
	return 1
}

// DayReport counts one calendar day's moves.
type DayReport struct {
	Day                          string `json:"day"`
	Moves, Promotions, Demotions int
	Flips                        int
	BytesRebuilt                 uint64
}

// VolumeReport is one volume's replay.
type VolumeReport struct {
	ID                            string
	InitialTier, FinalTier        storagev1.Tier
	SizeBytes                     uint64
	Replicas                      int
	Moves, Flips                  int
	BytesRebuilt                  uint64
	CooldownBlocked, SlotDeferred int
	// Time on the right tier, on the wrong one, and without IOPS data.
	RightTier, WrongTier, Unknown Duration
}

func (v *VolumeReport) add(mv *Move) {
	v.Moves++
	if mv.Flip {
		v.Flips++
	}
	v.BytesRebuilt += mv.Bytes
}

// Move is one migration the policy would have started.
type Move struct {
	Volume   string
	At       time.Time
	From, To storagev1.Tier
	// IOPS is the measurement behind it (nil for a pinned volume without data).
	IOPS   *float64 `json:",omitempty"`
	Pinned bool     `json:",omitempty"`
	// Bytes is what its rebuild copies: size × replicas.
	Bytes uint64
	// Flip: it undoes the volume's previous replayed move, SincePrevious after it.
	Flip          bool     `json:",omitempty"`
	SincePrevious Duration `json:",omitempty"`
}

// SkippedVolume is a volume the replay leaves alone.
type SkippedVolume struct {
	ID, Reason string
}

// Duration is a time.Duration written as "36h0m0s" in JSON.
type Duration time.Duration

func (d Duration) String() string { return time.Duration(d).String() }

// VolumeTime is time summed over volumes, in seconds; it is written as a Go duration string
// ("2212834h0m0s"), like Duration, without Duration's limit of 292 years.
type VolumeTime int64

// volumeTime is evaluations × step.
func volumeTime(evaluations int, step time.Duration) VolumeTime {
	return VolumeTime(int64(evaluations) * int64(step/time.Second))
}

func (v VolumeTime) String() string {
	h, m, s := int64(v)/3600, int64(v)%3600/60, int64(v)%60
	switch {
	case h != 0:
		return fmt.Sprintf("%dh%dm%ds", h, m, s)
	case m != 0:
		return fmt.Sprintf("%dm%ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}

// MarshalJSON writes the time as a Go duration string.
func (v VolumeTime) MarshalJSON() ([]byte, error) { return json.Marshal(v.String()) }

// UnmarshalJSON reads what MarshalJSON writes: whole hours, minutes and seconds.
func (v *VolumeTime) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	var total, n int64
	digits := false
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			n, digits = n*10+int64(c-'0'), true
			if n > math.MaxInt64/3600 {
				return fmt.Errorf("volume time %q is too large", s)
			}
		case digits && (c == 'h' || c == 'm' || c == 's'):
			total += n * map[rune]int64{'h': 3600, 'm': 60, 's': 1}[c]
			n, digits = 0, false
		default:
			return fmt.Errorf("volume time %q: want whole hours, minutes and seconds such as 2212834h0m0s", s)
		}
	}
	if digits || s == "" {
		return fmt.Errorf("volume time %q: want whole hours, minutes and seconds such as 2212834h0m0s", s)
	}
	*v = VolumeTime(total)
	return nil
}

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

// dayIndex counts moves per calendar day of a time zone.
type dayIndex struct {
	loc     *time.Location
	first   time.Time // midnight UTC of the first day's date
	reports []DayReport
}

func newDayIndex(m *Matrix, loc *time.Location) *dayIndex {
	d := &dayIndex{loc: loc}
	if m.Steps == 0 {
		return d
	}
	d.first = dateOf(m.Start, loc)
	last := dateOf(m.At(m.Steps-1), loc)
	for day := d.first; !day.After(last); day = day.AddDate(0, 0, 1) {
		d.reports = append(d.reports, DayReport{Day: day.Format(time.DateOnly)})
	}
	return d
}

// dateOf is t's date in loc, as midnight UTC (so days are 24h apart whatever DST does).
func dateOf(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func (d *dayIndex) add(at time.Time, mv *Move) {
	day := &d.reports[int(dateOf(at, d.loc).Sub(d.first)/(24*time.Hour))]
	day.Moves++
	if mv.To == storagev1.TierNVMe {
		day.Promotions++
	} else {
		day.Demotions++
	}
	if mv.Flip {
		day.Flips++
	}
	day.BytesRebuilt += mv.Bytes
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report for a terminal: the summary, the moves per day, the volumes that
// moved (most moves first) and the watermark grid if any.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	t := &r.Totals
	name := r.Policy
	if name == "" {
		name = "(given parameters)"
	}
	fmt.Fprintf(tw, "Policy %s: %d evaluations every %s from %s to %s", name, r.Evaluations, r.Step,
		r.From.UTC().Format(time.RFC3339), r.To.UTC().Format(time.RFC3339))
	if r.Window > 0 {
		fmt.Fprintf(tw, ", IOPS averaged over %s", r.Window)
	}
	if r.RangeQueries > 0 {
		fmt.Fprintf(tw, ", %d range queries", r.RangeQueries)
	}
	fmt.Fprintf(tw, "\nWatermarks low %d / high %d IOPS, cooldown %s, %s migrations per step\n\n",
		r.LowWatermarkIOPS, r.HighWatermarkIOPS, r.Cooldown, slotsText(r.Slots))
	fmt.Fprintf(tw, "Volumes\t%d (%d moved, %d flipped, %d skipped)\n", t.Volumes, t.VolumesMoved, t.VolumesFlipped, len(r.Skipped))
	fmt.Fprintf(tw, "Moves\t%d (%d to NVMe, %d to SATA)\n", t.Moves, t.Promotions, t.Demotions)
	fmt.Fprintf(tw, "Flips\t%d\n", t.Flips)
	if r.AntiFlapWindowCooldowns > 0 {
		fmt.Fprintf(tw, "Prevented by anti-flap\t%d flips (window %d cooldowns, at most %s)\n",
			r.FlipsPreventedByAntiFlap, r.AntiFlapWindowCooldowns, r.AntiFlapMaxCooldown)
	}
	fmt.Fprintf(tw, "Rebuilt\t%s\n", bytesText(t.BytesRebuilt))
	fmt.Fprintf(tw, "Held by cooldown\t%d evaluations\n", t.CooldownBlocked)
	fmt.Fprintf(tw, "Waiting for a slot\t%d evaluations\n", t.SlotDeferred)
	fmt.Fprintf(tw, "On the right tier\t%.1f%% of the known time (%s right, %s wrong, %s unknown)\n",
		100*t.RightTierShare(), t.RightTier, t.WrongTier, t.Unknown)

	if len(r.Days) > 0 {
		fmt.Fprintf(tw, "\nDAY\tMOVES\tTO NVME\tTO SATA\tFLIPS\tREBUILT\n")
		for _, d := range r.Days {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\n", d.Day, d.Moves, d.Promotions, d.Demotions, d.Flips, bytesText(d.BytesRebuilt))
		}
	}

	var moved []*VolumeReport
	for i := range r.Volumes {
		if r.Volumes[i].Moves > 0 {
			moved = append(moved, &r.Volumes[i])
		}
	}
	if len(moved) > 0 {
		slices.SortStableFunc(moved, func(a, b *VolumeReport) int { return cmp.Compare(b.Moves, a.Moves) })
		fmt.Fprintf(tw, "\nVOLUME\tFROM\tTO\tMOVES\tFLIPS\tREBUILT\tRIGHT\tWRONG\tUNKNOWN\n")
		for _, v := range moved {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", v.ID, v.InitialTier, v.FinalTier, v.Moves, v.Flips,
				bytesText(v.BytesRebuilt), v.RightTier, v.WrongTier, v.Unknown)
		}
	}
	if len(r.Grid) > 0 {
		fmt.Fprintf(tw, "\nLOW\tHIGH\tMOVES\tFLIPS\tFLIPPED VOLUMES\tREBUILT\tRIGHT TIER\n")
		for _, g := range r.Grid {
			fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%s\t%.1f%%\n", g.LowWatermarkIOPS, g.HighWatermarkIOPS, g.Moves, g.Flips,
				g.VolumesFlipped, bytesText(g.BytesRebuilt), 100*g.RightTierShare)
		}
	}
	return tw.Flush()
}

func slotsText(n int) string {
	if n == 0 {
		return "unbounded"
	}
	return fmt.Sprintf("at most %d", n)
}

func bytesText(b uint64) string {
	if b > 1<<62 {
		return fmt.Sprintf("%d bytes", b)
	}
	return resource.NewQuantity(int64(b), resource.BinarySI).String()
}
