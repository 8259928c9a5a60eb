package controller

import (
	"context"
	"fmt"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	storagev1 "github.com/billyronks/couchestor/api/v1"

	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/migration"
	"github.com/billyronks/couchestor/internal/mover"
	"github.com/billyronks/couchestor/internal/observer"
	"github.com/billyronks/couchestor/internal/promwatch"
	"github.com/billyronks/couchestor/internal/version"
)

// Options are the operator-wide settings the reconcilers share.
type Options struct {
	DryRun                  bool
	PreservationMode        bool
	MaxConcurrentMigrations int
	MigrationTimeout        time.Duration
	SyncPollInterval        time.Duration
	Prometheus              promwatch.Config
	MayastorURL             string
	// MayastorHADisabled: Mayastor runs with HA off and refuses every republish.
	MayastorHADisabled bool
	// ObserveInterval is how often the shared snapshot is taken (--observe-interval).
	ObserveInterval time.Duration
	// DecisionEventInterval is the shortest time between two DecisionChanged Events on one
	// volume's PVC (--decision-event-interval).
	DecisionEventInterval time.Duration
	// PerVolumeMetrics exports storage_operator_volume_decision (--per-volume-metrics).
	PerVolumeMetrics bool
}

// Setup registers every reconciler with the manager.
func Setup(mgr ctrl.Manager, opts Options) error {
	ms, err := mayastor.New(mayastor.Config{BaseURL: opts.MayastorURL, UserAgent: version.String("couchestor"), Observer: MayastorRequestObserver})
	if err != nil {
		return fmt.Errorf("--mayastor-url: %w", err)
	}
	opts.Prometheus.Observer = PrometheusRequestObserver
	iops, err := promwatch.New(opts.Prometheus)
	if err != nil {
		return err
	}
	if err := (&TierMigrationReconciler{
		Client:     mgr.GetClient(),
		APIReader:  mgr.GetAPIReader(),
		Recorder:   mgr.GetEventRecorder("couchestor"),
		Options:    opts,
		NewStorage: MoverStorageWith(ms, mover.MoverOptions{HADisabled: opts.MayastorHADisabled}),
	}).SetupWithManager(mgr); err != nil {
		return err
	}
	// One observation per cycle for every policy: after each, one event enqueues them all (a
	// pending one already covers the next).
	observed := make(chan event.GenericEvent, 1)
	obs, err := observer.New(mgr.GetClient(), ms, iops)
	if err != nil {
		return err
	}
	obs.Interval, obs.Log = opts.ObserveInterval, mgr.GetLogger().WithName("observer")
	// The manager's cache is not started yet: this only registers the handlers.
	if err := obs.WatchCache(context.Background(), mgr.GetCache()); err != nil {
		return err
	}
	obs.Notify = func() {
		select {
		case observed <- event.GenericEvent{Object: &storagev1.StoragePolicy{}}:
		default:
		}
	}
	if err := mgr.Add(obs); err != nil {
		return fmt.Errorf("add the observer: %w", err)
	}
	if err := mgr.Add(manager.RunnableFunc(leading)); err != nil {
		return fmt.Errorf("add the leader gauge: %w", err)
	}
	return (&StoragePolicyReconciler{
		Client:                mgr.GetClient(),
		APIReader:             mgr.GetAPIReader(),
		Snapshots:             obs,
		Migrations:            APIMigrationCreator{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader()},
		Recorder:              mgr.GetEventRecorder("couchestor"),
		Options:               opts,
		Observed:              observed,
		DecisionEventInterval: opts.DecisionEventInterval,
	}).SetupWithManager(mgr)
}

// leading sets storage_operator_leader while this process leads: the manager starts it, like
// every runnable that needs leader election, once the Lease is won (at once without
// --leader-elect), and a process that loses the Lease exits.
func leading(ctx context.Context) error {
	Leader.Set(1)
	<-ctx.Done()
	Leader.Set(0)
	return nil
}

// defaultHeadroomPercent is a migration's capacity headroom without a StoragePolicy.
const defaultHeadroomPercent = 10

// MigrationStorageOptions are the per-migration options of the storage port.
type MigrationStorageOptions struct {
	// AllowRepublish: spec.allowRepublish.
	AllowRepublish bool
	// HeadroomPercent: the policy's capacityHeadroomPercent (10 without a policy).
	HeadroomPercent int
}

// MoverStorage builds the storage port of a migration: a Mayastor Mover with its options.
func MoverStorage(c *mayastor.Client) func(MigrationStorageOptions) migration.Storage {
	return MoverStorageWith(c, mover.MoverOptions{})
}

// MoverStorageWith is MoverStorage with operator-wide Mover options (e.g. HADisabled from
// --mayastor-ha-enabled=false); the migration's own options are set on top.
func MoverStorageWith(c *mayastor.Client, base mover.MoverOptions) func(MigrationStorageOptions) migration.Storage {
	return func(o MigrationStorageOptions) migration.Storage {
		opts := base
		opts.AllowRepublish, opts.HeadroomPercent = o.AllowRepublish, o.HeadroomPercent
		return mover.NewMover(c, opts)
	}
}
