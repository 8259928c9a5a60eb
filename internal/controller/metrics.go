package controller

import (
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/migration"
	"github.com/billyronks/couchestor/internal/promwatch"
	"github.com/billyronks/couchestor/internal/tiering"
	"github.com/billyronks/couchestor/internal/version"
)

// Migration outcomes, the values of storage_operator_migrations_total's status label.
const (
	MigrationStatusSucceeded  = "succeeded"
	MigrationStatusFailed     = "failed"
	MigrationStatusRolledBack = "rolled_back"
	MigrationStatusDryRun     = "dry_run"
)

// The datasheet's metrics, plus durations as histograms. They are registered with
// controller-runtime's registry, which the manager serves on --metrics-bind-address.
var (
	ReconcileTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "storage_operator_reconcile_total",
		Help: "Total reconciliations of StoragePolicy and TierMigration objects.",
	})
	// MigrationsTotal keeps the datasheet's name and status label; policy and target_tier were
	// added. A series with both empty per status is exported at zero from start-up (Prometheus
	// reads an empty label as no label: it is the datasheet's {status} series), and one per
	// policy, tier and status from the policy's first evaluation, so increase() sees the first
	// migration that ends.
	MigrationsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "storage_operator_migrations_total",
		Help: "Migrations that ended, by status (succeeded, failed, rolled_back, dry_run), StoragePolicy (empty for a migration made by hand without one) and target tier (nvme, sata).",
	}, []string{"status", "policy", "target_tier"})
	ReconcileDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "storage_operator_reconcile_duration_seconds",
		Help:    "Time one reconcile took, by kind.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
	}, []string{"kind"})
	MigrationDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "storage_operator_migration_duration_seconds",
		Help:    "Time from a migration's start to its end, by status.",
		Buckets: prometheus.ExponentialBuckets(10, 2, 12),
	}, []string{"status"})
)

// Placeholder replicas.
var (
	// Placeholders counts CoucheStor's placeholder replicas in the cluster (set by every
	// sweep): small thin replicas that belong to no volume and steer the core agent's replica
	// map during a move; each is deleted when its migration ends.
	Placeholders = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "storage_operator_placeholder_replicas",
		Help: "CoucheStor placeholder replicas in the Mayastor cluster: found at the last sweep that read the replica map, or recorded by the migrations in flight since.",
	})
)

func init() {
	crmetrics.Registry.MustRegister(Placeholders)
}

func init() {
	crmetrics.Registry.MustRegister(ReconcileTotal, MigrationsTotal, ReconcileDuration, MigrationDuration)
	// Every status is exported from start-up, at zero, so dashboards and alerts see the series
	// before the first migration ends.
	for _, s := range migrationStatuses {
		MigrationsTotal.WithLabelValues(s, "", "")
		MigrationDuration.WithLabelValues(s)
	}
	initMigrationCounters("")
	for _, kind := range []string{"StoragePolicy", "TierMigration"} {
		ReconcileDuration.WithLabelValues(kind)
	}
}

var migrationStatuses = []string{MigrationStatusSucceeded, MigrationStatusFailed, MigrationStatusRolledBack, MigrationStatusDryRun}

// initMigrationCounters exports a policy's storage_operator_migrations_total series at zero.
func initMigrationCounters(policy string) {
	for _, s := range migrationStatuses {
		for _, tier := range []string{TierLabelNVMe, TierLabelSATA} {
			MigrationsTotal.WithLabelValues(s, policy, tier)
		}
	}
}

// recordEnding counts a migration that ended, by outcome, policy and target tier, with its
// duration. One rejected or expired while waiting for approval moved nothing and is not
// counted.
func recordEnding(tm *storagev1.TierMigration, e *migration.Ending) {
	if e.Outcome != migration.OutcomeNotStarted {
		migrationsEnded(tm, e.Outcome).Inc()
		MigrationDuration.WithLabelValues(e.Outcome).Observe(e.Duration.Seconds())
	}
}

// migrationsEnded is tm's storage_operator_migrations_total series for outcome.
func migrationsEnded(tm *storagev1.TierMigration, outcome string) prometheus.Counter {
	return MigrationsTotal.WithLabelValues(outcome, tm.Spec.PolicyName, strings.ToLower(string(tm.Spec.TargetTier)))
}

// Cordon metrics (CordonSweeper). One block, registered on its own.
var (
	// CordonedNodes is the number of Mayastor nodes carrying a CoucheStor
	// cordon label, as the cordon sweeper last saw them (after its removals).
	CordonedNodes = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "storage_operator_cordoned_nodes",
		Help: "Mayastor nodes carrying a couchestor-migration-* cordon, as the cordon sweeper last saw them.",
	})
	// CordonSecondsTotal is node-seconds spent cordoned by CoucheStor,
	// sampled by the cordon sweeper; fast growth means cordons that last.
	CordonSecondsTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "storage_operator_cordon_seconds_total",
		Help: "Node-seconds Mayastor nodes spent carrying a couchestor-migration-* cordon, sampled at every cordon sweep.",
	})
)

func init() { crmetrics.Registry.MustRegister(CordonedNodes, CordonSecondsTotal) }

// ---------------------------------------------------------------------------------------------
// Build information, per-policy state, and the requests the operator makes to Mayastor and
// Prometheus (the TierMigration gauges are in migration_metrics.go). Every family is
// documented, with its alerts, in docs/metrics-alerts.md.
// ---------------------------------------------------------------------------------------------

// The RBAC the secure metrics endpoint needs (--metrics-secure, the default): the metrics
// filter asks the API server to authenticate each scrape's bearer token (TokenReview) and to
// authorize its GET /metrics (SubjectAccessReview).
//
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// Build information.
var (
	// BuildInfo is always 1; its labels say which build is running (join it on job/instance).
	BuildInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "couchestor_build_info",
		Help: "Always 1; labelled with the running build's version, VCS revision and Go version.",
	}, []string{"version", "revision", "goversion"})
)

// Leader is 1 in the process that leads (the one that observes, decides and migrates), 0 in
// the others: with several replicas, max() of it is 0 when none leads.
var Leader = prometheus.NewGauge(prometheus.GaugeOpts{
	Name: "storage_operator_leader",
	Help: "1 while this process is the leader (it observes, decides and migrates; always, without --leader-elect), 0 while it waits for the leader-election Lease.",
})

func init() {
	crmetrics.Registry.MustRegister(BuildInfo, Leader)
	BuildInfo.WithLabelValues(version.Version, buildRevision(), runtime.Version()).Set(1)
}

// buildRevision is the VCS revision Go stamped into the binary, "unknown" when it was built
// without VCS stamping (-buildvcs=false, or outside a checkout).
func buildRevision() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	rev, dirty := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "unknown"
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}

// Values of the tier label of storage_operator_policy_volumes.
const (
	TierLabelNVMe  = "nvme"
	TierLabelSATA  = "sata"
	TierLabelOther = "other" // replicas on both tiers, or outside both pool selectors
)

// Per-policy state, set from the policy's status by RecordPolicy after each status write and
// removed by ForgetPolicy when the policy is deleted.
var (
	PolicyVolumes = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "storage_operator_policy_volumes",
		Help: "Volumes a StoragePolicy watches, by the tier their replicas are on (nvme, sata, other: mixed or outside both tiers); they sum to status.volumesWatched.",
	}, []string{"policy", "tier"})
	PolicyUnknownVolumes = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "storage_operator_policy_unknown_volumes",
		Help: "Volumes a StoragePolicy watches that have no IOPS figure covering its sampling window (status.unknownVolumes); they are never moved.",
	}, []string{"policy"})
	PolicyMigrations = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "storage_operator_policy_migrations",
		Help: "A StoragePolicy's moves, by state: active (TierMigration in progress) or planned (decided, waiting for a migration slot).",
	}, []string{"policy", "state"})
	PolicyCondition = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "storage_operator_policy_condition",
		Help: "1 when the StoragePolicy condition (Ready, MetricsAvailable, StorageAvailable) is True, 0 when it is False or Unknown; reason is the condition's reason.",
	}, []string{"policy", "condition", "reason"})
	PolicyEnabled = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "storage_operator_policy_enabled",
		Help: "1 when the StoragePolicy is enabled (spec.enabled), 0 when disabled.",
	}, []string{"policy"})
	PolicyHighWatermark = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "storage_operator_policy_high_watermark_iops",
		Help: "The StoragePolicy's spec.highWatermarkIOPS: volumes above it go to NVMe.",
	}, []string{"policy"})
	PolicyLowWatermark = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "storage_operator_policy_low_watermark_iops",
		Help: "The StoragePolicy's spec.lowWatermarkIOPS: volumes below it go to SATA.",
	}, []string{"policy"})
	// PolicyDecisions has one series per (decision, reason) a policy's volumes have; reasons
	// are the closed set of api/v1, so its cardinality is bounded by the policies.
	PolicyDecisions = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "storage_operator_policy_decision_volumes",
		Help: "Volumes a StoragePolicy selects, by its decision at the latest evaluation (Move, Wait, Stay) and the decision's reason (an api/v1 reason); they sum to status.volumesWatched.",
	}, []string{"policy", "decision", "reason"})
)

func init() {
	crmetrics.Registry.MustRegister(PolicyVolumes, PolicyUnknownVolumes, PolicyMigrations, PolicyCondition,
		PolicyEnabled, PolicyHighWatermark, PolicyLowWatermark, PolicyDecisions)
}

// RecordDecisions sets storage_operator_policy_decision_volumes from a policy's decisions:
// one series per (decision, reason) present, the others removed.
func RecordDecisions(policy string, decisions []tiering.VolumeDecision) {
	type key struct{ action, reason string }
	counts := map[key]int{}
	for i := range decisions {
		counts[key{string(decisions[i].Action), decisions[i].Reason}]++
	}
	policyDecisionsMu.Lock()
	defer policyDecisionsMu.Unlock()
	PolicyDecisions.DeletePartialMatch(prometheus.Labels{"policy": policy})
	for k, n := range counts {
		PolicyDecisions.WithLabelValues(policy, k.action, k.reason).Set(float64(n))
	}
	initMigrationCounters(policy)
}

// policyDecisionsMu keeps the delete-then-set of a policy's decision series atomic, so a
// scrape never sees a policy without them.
var policyDecisionsMu sync.Mutex

// policyConditionTypes are the conditions exported by storage_operator_policy_condition; a
// condition missing from the status is exported as 0 with reason "Unknown".
var policyConditionTypes = []string{storagev1.ConditionReady, storagev1.ConditionMetricsAvailable, storagev1.ConditionStorageAvailable}

// RecordPolicy sets the per-policy gauges from policy's spec and status. The policy
// reconciler calls it after every evaluation (whether or not the status write was needed), so
// the gauges follow the status it holds; it is cheap and safe for concurrent use.
func RecordPolicy(policy *storagev1.StoragePolicy) {
	name := policy.Name
	st := &policy.Status
	other := st.VolumesWatched - st.NVMeVolumes - st.SATAVolumes
	if other < 0 {
		other = 0
	}
	PolicyVolumes.WithLabelValues(name, TierLabelNVMe).Set(float64(st.NVMeVolumes))
	PolicyVolumes.WithLabelValues(name, TierLabelSATA).Set(float64(st.SATAVolumes))
	PolicyVolumes.WithLabelValues(name, TierLabelOther).Set(float64(other))
	PolicyUnknownVolumes.WithLabelValues(name).Set(float64(st.UnknownVolumes))
	PolicyMigrations.WithLabelValues(name, "active").Set(float64(st.ActiveMigrations))
	PolicyMigrations.WithLabelValues(name, "planned").Set(float64(st.PlannedMigrations))
	enabled := 0.0
	if policy.Spec.Enabled == nil || *policy.Spec.Enabled {
		enabled = 1
	}
	PolicyEnabled.WithLabelValues(name).Set(enabled)
	PolicyHighWatermark.WithLabelValues(name).Set(float64(policy.Spec.HighWatermarkIOPS))
	PolicyLowWatermark.WithLabelValues(name).Set(float64(policy.Spec.LowWatermarkIOPS))

	policyConditionMu.Lock()
	defer policyConditionMu.Unlock()
	for _, typ := range policyConditionTypes {
		value, reason := 0.0, "Unknown"
		if c := meta.FindStatusCondition(st.Conditions, typ); c != nil {
			if c.Reason != "" {
				reason = c.Reason
			}
			if c.Status == metav1.ConditionTrue {
				value = 1
			}
		}
		// One series per (policy, condition): the previous reason's series goes.
		PolicyCondition.DeletePartialMatch(prometheus.Labels{"policy": name, "condition": typ})
		PolicyCondition.WithLabelValues(name, typ, reason).Set(value)
	}
}

// policyConditionMu keeps the delete-then-set of a policy's condition series atomic, so a
// scrape never sees two reasons for one condition.
var policyConditionMu sync.Mutex

// ForgetPolicy removes every per-policy series of the named policy. The policy reconciler
// calls it when the policy is not found (deleted).
func ForgetPolicy(name string) {
	l := prometheus.Labels{"policy": name}
	PolicyVolumes.DeletePartialMatch(l)
	PolicyUnknownVolumes.DeletePartialMatch(l)
	PolicyMigrations.DeletePartialMatch(l)
	PolicyEnabled.DeletePartialMatch(l)
	PolicyHighWatermark.DeletePartialMatch(l)
	PolicyLowWatermark.DeletePartialMatch(l)
	policyConditionMu.Lock()
	PolicyCondition.DeletePartialMatch(l)
	policyConditionMu.Unlock()
	policyDecisionsMu.Lock()
	PolicyDecisions.DeletePartialMatch(l)
	policyDecisionsMu.Unlock()
}

// Requests to Mayastor's REST API and to Prometheus' HTTP API, by operation.
var (
	MayastorRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "storage_operator_mayastor_requests_total",
		Help: "HTTP requests sent to the Mayastor REST API (each retry counts), by operation (method and path template).",
	}, []string{"operation"})
	MayastorRequestErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "storage_operator_mayastor_request_errors_total",
		Help: "Mayastor REST API requests that failed (no answer, a non-2xx answer, or an undecodable one), by operation.",
	}, []string{"operation"})
	MayastorRequestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "storage_operator_mayastor_request_duration_seconds",
		Help:    "Time a Mayastor REST API request took, answer read included, by operation.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 10), // 5ms .. ~19s
	}, []string{"operation"})
	PrometheusRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "storage_operator_prometheus_requests_total",
		Help: "Queries sent to Prometheus' HTTP API, by operation (iops, coverage).",
	}, []string{"operation"})
	PrometheusRequestErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "storage_operator_prometheus_request_errors_total",
		Help: "Queries to Prometheus that failed (unreachable, refused, timed out, bad query), by operation.",
	}, []string{"operation"})
	PrometheusRequestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "storage_operator_prometheus_request_duration_seconds",
		Help:    "Time a Prometheus query took, by operation.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 10),
	}, []string{"operation"})
)

func init() {
	crmetrics.Registry.MustRegister(MayastorRequests, MayastorRequestErrors, MayastorRequestDuration,
		PrometheusRequests, PrometheusRequestErrors, PrometheusRequestDuration)
	// Exported at zero from start-up, so rates and alerts see the series before the first call.
	for _, op := range mayastor.Operations {
		MayastorRequests.WithLabelValues(op)
		MayastorRequestErrors.WithLabelValues(op)
		MayastorRequestDuration.WithLabelValues(op)
	}
	for _, op := range promwatch.Operations {
		PrometheusRequests.WithLabelValues(op)
		PrometheusRequestErrors.WithLabelValues(op)
		PrometheusRequestDuration.WithLabelValues(op)
	}
}

// requestMetrics implements mayastor.RequestObserver and promwatch.RequestObserver.
type requestMetrics struct {
	total, errors *prometheus.CounterVec
	duration      *prometheus.HistogramVec
}

func (m requestMetrics) ObserveRequest(operation string, took time.Duration, err error) {
	m.total.WithLabelValues(operation).Inc()
	m.duration.WithLabelValues(operation).Observe(took.Seconds())
	if err != nil {
		m.errors.WithLabelValues(operation).Inc()
	}
}

// MayastorRequestObserver is the mayastor.Config.Observer that feeds the
// storage_operator_mayastor_request* metrics.
var MayastorRequestObserver mayastor.RequestObserver = requestMetrics{MayastorRequests, MayastorRequestErrors, MayastorRequestDuration}

// PrometheusRequestObserver is the promwatch.Config.Observer that feeds the
// storage_operator_prometheus_request* metrics.
var PrometheusRequestObserver promwatch.RequestObserver = requestMetrics{PrometheusRequests, PrometheusRequestErrors, PrometheusRequestDuration}
