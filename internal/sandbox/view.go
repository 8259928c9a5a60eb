package sandbox

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/observer"
	"github.com/billyronks/couchestor/internal/promwatch"
	"github.com/billyronks/couchestor/internal/tiering"
)

// VolumeRow is one volume in the live view.
type VolumeRow struct {
	ID string
	// Pools hold the volume's replicas, sorted.
	Pools []string
	// Tier is where the replicas are, by the policy's pool selectors.
	Tier      tiering.Placement
	Published bool
	// IOPS is the mean over the policy's sampling window, from the same Prometheus and query
	// the operator reads (Reason NotAsked when Prometheus could not be asked).
	IOPS promwatch.VolumeIOPS
	// Migration is the volume's latest TierMigration; nil when it never had one.
	Migration *storagev1.TierMigration
}

// Tally counts the policy's TierMigrations by outcome. Dry runs are not moves and are not
// counted as promotions or demotions.
type Tally struct {
	Promoted, Demoted, Failed, InFlight int
}

// View is what one frame of the live view shows.
type View struct {
	At     time.Time
	Policy *storagev1.StoragePolicy
	// Volumes are Mayastor's volumes, by uuid.
	Volumes []VolumeRow
	Tally   Tally
	// Problems are what could not be read for this frame.
	Problems []string
}

// Collector gathers a View from the API server, Mayastor's REST API and Prometheus.
type Collector struct {
	Client     client.Client
	Mayastor   *mayastor.Client
	Prometheus *promwatch.Watcher
	Policy     string
}

// NewCollector returns a Collector for the named policy of a running stack.
func NewCollector(st *Stack, policy string) (*Collector, error) {
	mc, err := mayastor.New(mayastor.Config{BaseURL: st.SimURL})
	if err != nil {
		return nil, err
	}
	cfg := promwatch.DefaultConfig()
	cfg.URL, cfg.Timeout = st.PrometheusURL, 5*time.Second
	w, err := promwatch.New(cfg)
	if err != nil {
		return nil, err
	}
	return &Collector{Client: st.Client, Mayastor: mc, Prometheus: w, Policy: policy}, nil
}

// Collect reads the policy, its TierMigrations, Mayastor's volumes and pools and the volumes'
// IOPS. What cannot be read is named in View.Problems; the rest is still shown.
func (c *Collector) Collect(ctx context.Context) View {
	v := View{At: time.Now()}
	problem := func(format string, args ...any) { v.Problems = append(v.Problems, fmt.Sprintf(format, args...)) }

	var p storagev1.StoragePolicy
	if err := c.Client.Get(ctx, types.NamespacedName{Name: c.Policy}, &p); err != nil {
		problem("StoragePolicy %s: %v", c.Policy, err)
	} else {
		v.Policy = &p
	}

	latest := map[string]*storagev1.TierMigration{}
	var tms storagev1.TierMigrationList
	if err := c.Client.List(ctx, &tms); err != nil {
		problem("TierMigrations: %v", err)
	}
	for i := range tms.Items {
		tm := &tms.Items[i]
		if tm.Spec.PolicyName != "" && tm.Spec.PolicyName != c.Policy {
			continue
		}
		v.Tally.add(tm)
		if cur, ok := latest[tm.Spec.VolumeID]; !ok || newer(tm, cur) {
			latest[tm.Spec.VolumeID] = tm
		}
	}

	var tiers tiering.PoolTiers
	var iops *promwatch.Result
	if v.Policy != nil {
		compiled, err := tiering.CompilePolicy(&v.Policy.Spec)
		if err != nil {
			problem("policy: %v", err)
		} else {
			pools, err := c.Mayastor.ListPools(ctx)
			if err != nil {
				problem("Mayastor pools: %v", err)
			}
			obs := make([]tiering.PoolObservation, 0, len(pools))
			for i := range pools {
				obs = append(obs, observer.ObservePool(&pools[i]))
			}
			tiers = tiering.Classify(obs, compiled.NVMe, compiled.SATA).Tiers
			if iops, err = c.Prometheus.Evaluate(ctx, promwatch.Request{Window: compiled.Window, IOPSQuery: v.Policy.Spec.IOPSQuery}); err != nil {
				problem("Prometheus: %v", err)
				iops = nil
			}
		}
	}

	vols, err := c.Mayastor.ListAllVolumes(ctx)
	if err != nil {
		problem("Mayastor volumes: %v", err)
	}
	for i := range vols {
		o := observer.ObserveVolume(&vols[i])
		row := VolumeRow{ID: o.ID, Pools: o.ReplicaPools, Published: o.Published, Tier: tiering.PlacementOther, Migration: latest[o.ID]}
		if tiers != nil {
			row.Tier = tiers.Placement(o.ReplicaPools)
		}
		if iops != nil {
			row.IOPS = iops.ForVolume(o.ID)
		} else {
			row.IOPS = promwatch.VolumeIOPS{Reason: "NotAsked"}
		}
		v.Volumes = append(v.Volumes, row)
	}
	slices.SortFunc(v.Volumes, func(a, b VolumeRow) int { return cmp.Compare(a.ID, b.ID) })
	return v
}

func (t *Tally) add(tm *storagev1.TierMigration) {
	switch {
	case tm.Status.Phase == storagev1.PhaseFailed:
		t.Failed++
	case tm.Status.Phase == storagev1.PhaseCompleted && !tm.Status.DryRun && !tm.Spec.DryRun:
		if tm.Spec.TargetTier == storagev1.TierNVMe {
			t.Promoted++
		} else {
			t.Demoted++
		}
	case !tm.Status.Phase.IsTerminal():
		t.InFlight++
	}
}

func newer(a, b *storagev1.TierMigration) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return b.CreationTimestamp.Before(&a.CreationTimestamp)
	}
	return a.Name > b.Name
}

// String is the frame's one-line summary of the policy's migrations. The headless test
// reads it; keep its shape.
func (t Tally) String() string {
	return fmt.Sprintf("migrations: %d promoted, %d demoted, %d failed, %d in flight", t.Promoted, t.Demoted, t.Failed, t.InFlight)
}

// Render draws a View: the policy summary on top, then one line per volume with its IOPS
// against the watermarks, its tier and its migration, then notes on failed migrations. It does
// not include the time, so two identical frames compare equal.
func Render(v View) string {
	var b strings.Builder
	var low, high int64
	if p := v.Policy; p != nil {
		s := &p.Spec
		low, high = s.LowWatermarkIOPS, s.HighWatermarkIOPS
		mode := "moves"
		if s.DryRun {
			mode = "dry run"
		}
		if s.Enabled != nil && !*s.Enabled {
			mode = "disabled"
		}
		fmt.Fprintf(&b, "StoragePolicy %s (%s): promote above %d IOPS, demote below %d, mean over %s; cooldown %s; %d at a time\n",
			p.Name, mode, high, low, s.SamplingWindow, s.CooldownPeriod, s.MaxConcurrentMigrations)
		st := &p.Status
		fmt.Fprintf(&b, "  watched %d: %d NVMe, %d SATA, %d Unknown, %d migrating", st.VolumesWatched, st.NVMeVolumes, st.SATAVolumes, st.UnknownVolumes, st.ActiveMigrations)
		if r := meta.FindStatusCondition(st.Conditions, storagev1.ConditionReady); r != nil {
			fmt.Fprintf(&b, "; Ready=%s %s: %s", r.Status, r.Reason, oneLine(r.Message, 140))
		}
		b.WriteString("\n")
	} else {
		b.WriteString("StoragePolicy: not readable yet\n")
	}
	fmt.Fprintf(&b, "  %s\n\n", v.Tally)

	w := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "VOLUME\tTIER\tREPLICAS\tIOPS\t%s\t\tMIGRATION\n", gaugeHeader(gaugeWidth))
	var notes []string
	for _, r := range v.Volumes {
		iops, rel := "?", unknownText(r)
		g := strings.Repeat(" ", gaugeWidth)
		if r.IOPS.Known {
			iops = formatIOPS(r.IOPS.IOPS)
			g = Gauge(r.IOPS.IOPS, low, high, gaugeWidth)
			rel = relation(r.IOPS.IOPS, low, high)
		}
		mig := "-"
		if tm := r.Migration; tm != nil {
			mig = migrationText(tm)
			if tm.Status.Phase == storagev1.PhaseFailed && tm.Status.Error != "" {
				notes = append(notes, fmt.Sprintf("%s -> %s failed: %s", ShortID(r.ID), tm.Spec.TargetTier, oneLine(tm.Status.Error, 600)))
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ShortID(r.ID), r.Tier, strings.Join(r.Pools, ","), iops, g, rel, mig)
	}
	_ = w.Flush()
	for _, n := range notes {
		fmt.Fprintf(&b, "  %s\n", n)
	}
	for _, p := range v.Problems {
		fmt.Fprintf(&b, "  ! %s\n", oneLine(p, 200))
	}
	return b.String()
}

// ShortID abbreviates a volume uuid to its first and last groups, enough to tell the
// simulator's volumes apart.
func ShortID(id string) string {
	if len(id) < 16 {
		return id
	}
	return id[:8] + ".." + id[len(id)-4:]
}

func formatIOPS(x float64) string {
	if x < 10 {
		return fmt.Sprintf("%.1f", x)
	}
	return fmt.Sprintf("%.0f", x)
}

func relation(x float64, low, high int64) string {
	switch {
	case x > float64(high):
		return "above high"
	case x < float64(low):
		return "below low"
	}
	return "between"
}

func unknownText(r VolumeRow) string {
	if !r.Published && r.IOPS.Reason == promwatch.NoSeries {
		return "unknown: unpublished"
	}
	if r.IOPS.Reason == promwatch.PartialHistory {
		return fmt.Sprintf("unknown: %.0f%% of window", 100*r.IOPS.Coverage)
	}
	return "unknown: " + string(r.IOPS.Reason)
}

func migrationText(tm *storagev1.TierMigration) string {
	s := "-> " + string(tm.Spec.TargetTier) + " "
	phase := tm.Status.Phase
	if phase == "" {
		phase = storagev1.PhasePending
	}
	s += string(phase)
	switch phase {
	case storagev1.PhaseScalingUp, storagev1.PhaseWaitingSync, storagev1.PhaseScalingDown:
		s += fmt.Sprintf(" sync %d%%", tm.Status.SyncProgress)
		if n := tm.Status.OriginalReplicaCount; n > 1 {
			s += fmt.Sprintf(", round %d/%d", min(tm.Status.Rounds+1, n), n)
		}
	case storagev1.PhaseCompleted, storagev1.PhaseFailed:
		if c := meta.FindStatusCondition(tm.Status.Conditions, storagev1.MigrationConditionSucceeded); c != nil && c.Reason != "" {
			s += " (" + c.Reason + ")"
		}
		if t := tm.Status.CompletionTime; t != nil {
			s += " at " + t.Local().Format("15:04:05")
		}
	}
	if tm.Spec.DryRun || tm.Status.DryRun {
		s += " [dry run]"
	}
	return s
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max-3] + "..."
	}
	return s
}

// The gauge is logarithmic from 1 to 100,000 IOPS (below 1 sits at the left end).
const (
	gaugeWidth   = 26
	gaugeDecades = 5
)

func gaugeHeader(width int) string {
	h := "1" + strings.Repeat(" ", width-5) + "100k"
	return h
}

func gaugePos(x float64, width int) int {
	if x <= 1 {
		return 0
	}
	p := int(math.Round(math.Log10(x) / gaugeDecades * float64(width-1)))
	return min(max(p, 0), width-1)
}

// Gauge draws x against the watermarks on a log scale: L and H mark the low and high
// watermarks, * the value. The value is drawn on the correct side of a watermark it shares a
// cell with, so the picture never contradicts the numbers.
func Gauge(x float64, low, high int64, width int) string {
	cells := []byte(strings.Repeat(".", width))
	lp, hp := gaugePos(float64(low), width), gaugePos(float64(high), width)
	if hp < lp+2 { // keep a cell between them for a value between them
		hp = min(lp+2, width-1)
	}
	cells[lp], cells[hp] = 'L', 'H'
	xp := gaugePos(x, width)
	switch {
	case x > float64(high) && xp <= hp:
		xp = hp + 1
	case x < float64(low) && xp >= lp:
		xp = lp - 1
	case x >= float64(low) && x <= float64(high):
		xp = min(max(xp, lp+1), hp-1)
	}
	if xp >= 0 && xp < width {
		cells[xp] = '*'
	}
	return string(cells)
}

// Key is what a frame is compared by when frames are appended: everything but the IOPS
// figures, which move a little at every scrape (their side of the watermarks is kept).
func (v View) Key() string {
	var b strings.Builder
	fmt.Fprintln(&b, v.Tally, v.Problems)
	if p := v.Policy; p != nil {
		fmt.Fprintln(&b, p.Generation, p.Status.VolumesWatched, p.Status.NVMeVolumes, p.Status.SATAVolumes, p.Status.UnknownVolumes, p.Status.ActiveMigrations)
		for _, c := range p.Status.Conditions {
			fmt.Fprintln(&b, c.Type, c.Status, c.Reason, c.Message)
		}
	}
	for _, r := range v.Volumes {
		rel := unknownText(r)
		if r.IOPS.Known && v.Policy != nil {
			rel = relation(r.IOPS.IOPS, v.Policy.Spec.LowWatermarkIOPS, v.Policy.Spec.HighWatermarkIOPS)
		}
		mig := ""
		if r.Migration != nil {
			mig = migrationText(r.Migration)
		}
		fmt.Fprintln(&b, r.ID, r.Tier, r.Pools, rel, mig)
	}
	return b.String()
}

// Screen shows frames: on a terminal each one replaces the last (ANSI clear and home), under
// the banner; anywhere else the banner is written once and frames are appended, only when
// their key changed.
type Screen struct {
	w      io.Writer
	tty    bool
	banner string
	shown  bool
	last   string
}

// NewScreen returns a Screen writing to w; tty says whether w is a terminal.
func NewScreen(w io.Writer, tty bool, banner string) *Screen {
	return &Screen{w: w, tty: tty, banner: banner}
}

// clearHome moves the cursor home and clears the screen.
const clearHome = "\x1b[H\x1b[2J"

// Show draws a frame: head (its first line, with the time) and body; key is what tells two
// frames apart (View.Key). It reports whether anything was written.
func (s *Screen) Show(head, body, key string) bool {
	if s.tty {
		_, _ = io.WriteString(s.w, clearHome+head+"\n"+s.banner+body)
		return true
	}
	if !s.shown {
		_, _ = io.WriteString(s.w, s.banner)
		s.shown = true
	}
	if key == s.last {
		return false
	}
	s.last = key
	_, _ = io.WriteString(s.w, "\n"+head+"\n"+body)
	return true
}

// IsTerminal says whether f is a character device (a terminal), and TERM does not say "dumb".
func IsTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb"
}
