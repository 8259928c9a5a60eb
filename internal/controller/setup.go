package controller

import (
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
)

// Options are the operator-wide settings the reconcilers share.
type Options struct {
	DryRun                  bool
	PreservationMode        bool
	MaxConcurrentMigrations int
	MigrationTimeout        time.Duration
	SyncPollInterval        time.Duration
	PrometheusURL           string
	MayastorURL             string
}

// Setup registers every reconciler with the manager.
func Setup(mgr ctrl.Manager, opts Options) error {
	return (&StoragePolicyReconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorder("couchestor"),
		Options:  opts,
	}).SetupWithManager(mgr)
}
