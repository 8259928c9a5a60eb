package controller

import (
	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
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
	MigrationsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "storage_operator_migrations_total",
		Help: "Migrations that ended, by status (succeeded, failed, rolled_back, dry_run).",
	}, []string{"status"})
	ActiveMigrations = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "storage_operator_active_migrations",
		Help: "Migrations in progress.",
	})
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

// Kept replicas (task MACHINE, issue 7 item 5).
var (
	// KeptExtraReplicas counts the volumes CoucheStor left above their original replica count
	// (status.keptReplicas of each volume's latest ended TierMigration), recounted from the
	// API server's objects, so it survives restarts.
	KeptExtraReplicas = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "storage_operator_kept_extra_replicas",
		Help: "Volumes left with more replicas than before their migration (preservation mode, an unsafe or incomplete roll-back, a refusal after the rebuild), by their latest ended TierMigration.",
	})
)

func init() {
	crmetrics.Registry.MustRegister(KeptExtraReplicas)
}

func init() {
	crmetrics.Registry.MustRegister(ReconcileTotal, MigrationsTotal, ActiveMigrations, ReconcileDuration, MigrationDuration)
	// Every status is exported from start-up, at zero, so dashboards and alerts see the series
	// before the first migration ends.
	for _, s := range []string{MigrationStatusSucceeded, MigrationStatusFailed, MigrationStatusRolledBack, MigrationStatusDryRun} {
		MigrationsTotal.WithLabelValues(s)
	}
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
