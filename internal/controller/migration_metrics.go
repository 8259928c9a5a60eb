package controller

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/migration"
)

// The TierMigration gauges are not kept up to date by the reconciler: MigrationMetrics counts
// them from the manager's cache at every scrape, the way kube-state-metrics does.
var (
	activeMigrationsDesc = prometheus.NewDesc("storage_operator_active_migrations",
		"Migrations in progress.", nil, nil)
	keptExtraReplicasDesc = prometheus.NewDesc("storage_operator_kept_extra_replicas",
		"Volumes left with more replicas than before their migration (preservation mode, an unsafe or incomplete roll-back, a refusal after the rebuild), by their latest ended TierMigration.", nil, nil)
	tierMigrationsDesc = prometheus.NewDesc("storage_operator_tiermigrations",
		"TierMigration objects by phase (WaitingApproval, Pending, Analyzing, ScalingUp, WaitingSync, ScalingDown, RollingBack, Completed, Failed).", []string{"phase"}, nil)
	tierMigrationInfoDesc = prometheus.NewDesc("storage_operator_tiermigration_info",
		"Always 1, one series per TierMigration that has not ended or ended less than an hour ago: its policy, volume (pv_name, as Mayastor's exporter labels it), target tier and phase.",
		[]string{"tiermigration", "policy", "pv_name", "target_tier", "phase"}, nil)
	tierMigrationDeadlineDesc = prometheus.NewDesc("storage_operator_tiermigration_deadline_timestamp_seconds",
		"Deadline (status.deadline, Unix seconds) of each TierMigration that has not ended; compare with time().",
		[]string{"tiermigration", "policy", "pv_name", "phase"}, nil)
)

// RecentlyEndedWindow is how long an ended TierMigration stays in storage_operator_tiermigration_info.
const RecentlyEndedWindow = time.Hour

// cacheWait bounds how long a scrape waits for a cache that has not started or synced yet.
const cacheWait = 5 * time.Second

var allPhases = []storagev1.MigrationPhase{
	storagev1.PhaseWaitingApproval, storagev1.PhasePending, storagev1.PhaseAnalyzing, storagev1.PhaseScalingUp, storagev1.PhaseWaitingSync,
	storagev1.PhaseScalingDown, storagev1.PhaseRollingBack, storagev1.PhaseCompleted, storagev1.PhaseFailed,
}

// MigrationCollector is a prometheus.Collector of the TierMigration gauges, read from a
// client.Reader (the manager's cache) when scraped.
type MigrationCollector struct {
	mu     sync.RWMutex
	reader client.Reader
	clock  clock.PassiveClock
}

// MigrationMetrics is the collector registered with controller-runtime's registry; the
// TierMigration reconciler points it at its manager's cache. It exports nothing before that.
var MigrationMetrics = &MigrationCollector{}

func init() { crmetrics.Registry.MustRegister(MigrationMetrics) }

// Use makes the collector read TierMigrations from r, judging "ended less than an hour ago" by
// clk; a nil r turns it off.
func (c *MigrationCollector) Use(r client.Reader, clk clock.PassiveClock) {
	if clk == nil {
		clk = clock.RealClock{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reader, c.clock = r, clk
}

// Describe implements prometheus.Collector.
func (c *MigrationCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{activeMigrationsDesc, keptExtraReplicasDesc, tierMigrationsDesc, tierMigrationInfoDesc, tierMigrationDeadlineDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: one list of the cache per scrape. A cache that
// cannot answer (not started within cacheWait) exports none of these series.
func (c *MigrationCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.RLock()
	r, clk := c.reader, c.clock
	c.mu.RUnlock()
	if r == nil {
		return
	}
	var list storagev1.TierMigrationList
	ctx, cancel := context.WithTimeout(context.Background(), cacheWait)
	defer cancel()
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		err := r.List(ctx, &list, client.UnsafeDisableDeepCopy)
		var notStarted *cache.ErrCacheNotStarted
		return !errors.As(err, &notStarted), err
	})
	if err != nil {
		return
	}
	collectMigrations(ch, list.Items, clk.Now())
}

// collectMigrations sends the gauges that items (every TierMigration) say, at now.
func collectMigrations(ch chan<- prometheus.Metric, items []storagev1.TierMigration, now time.Time) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(activeMigrationsDesc, float64(migration.InFlight(items)))
	gauge(keptExtraReplicasDesc, float64(migration.KeptExtraReplicaVolumes(items)))
	counts := make(map[storagev1.MigrationPhase]int, len(allPhases))
	for i := range items {
		tm := &items[i]
		phase := tm.Status.Phase
		if phase == "" {
			phase = storagev1.PhasePending
		}
		counts[phase]++
		pv := tm.Spec.PersistentVolumeName
		if pv == "" {
			pv = "pvc-" + tm.Spec.VolumeID
		}
		ended := phase.IsTerminal()
		if ended && (tm.Status.CompletionTime == nil || now.Sub(tm.Status.CompletionTime.Time) > RecentlyEndedWindow) {
			continue
		}
		gauge(tierMigrationInfoDesc, 1, tm.Name, tm.Spec.PolicyName, pv, strings.ToLower(string(tm.Spec.TargetTier)), string(phase))
		if !ended && tm.Status.Deadline != nil {
			gauge(tierMigrationDeadlineDesc, float64(tm.Status.Deadline.Unix()), tm.Name, tm.Spec.PolicyName, pv, string(phase))
		}
	}
	for _, p := range allPhases {
		gauge(tierMigrationsDesc, float64(counts[p]), string(p))
	}
}
