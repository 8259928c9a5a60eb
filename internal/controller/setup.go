package controller

import (
	"fmt"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/billyronks/couchestor/internal/mayastor"
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
}

// Setup registers every reconciler with the manager.
func Setup(mgr ctrl.Manager, opts Options) error {
	ms, err := mayastor.New(mayastor.Config{BaseURL: opts.MayastorURL, UserAgent: version.String("couchestor")})
	if err != nil {
		return fmt.Errorf("--mayastor-url: %w", err)
	}
	iops, err := promwatch.New(opts.Prometheus)
	if err != nil {
		return err
	}
	if err := (&TierMigrationReconciler{
		Client:     mgr.GetClient(),
		APIReader:  mgr.GetAPIReader(),
		Recorder:   mgr.GetEventRecorder("couchestor"),
		Options:    opts,
		NewStorage: MoverStorageWith(ms, mayastor.MoverOptions{HADisabled: opts.MayastorHADisabled}),
	}).SetupWithManager(mgr); err != nil {
		return err
	}
	return (&StoragePolicyReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorder("couchestor"),
		Options:   opts,
		Mayastor:  ms,
		IOPS:      iops,
	}).SetupWithManager(mgr)
}
