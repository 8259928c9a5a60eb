package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/migration"
	"github.com/billyronks/couchestor/internal/tiering"
)

// defaultSyncPollInterval is the sync poll interval when Options.SyncPollInterval is not set.
const defaultSyncPollInterval = 10 * time.Second

// TierMigrationReconciler carries out TierMigrations through the migration state machine. The
// state lives in the object's status, so a restarted operator resumes where the last one stopped.
type TierMigrationReconciler struct {
	Client client.Client
	// APIReader reads around the cache: a migration acts only on the latest status.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Clock     clock.PassiveClock
	Options   Options
	// NewStorage builds the storage port for one migration.
	NewStorage func(MigrationStorageOptions) migration.Storage

	// admitMu makes counting in-flight migrations and taking a slot one step.
	admitMu sync.Mutex
	backoff workqueue.TypedRateLimiter[types.UID]
}

// SetupWithManager watches TierMigrations.
func (r *TierMigrationReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.Options.SyncPollInterval <= 0 {
		r.Options.SyncPollInterval = defaultSyncPollInterval
	}
	if r.backoff == nil {
		r.backoff = workqueue.NewTypedItemExponentialFailureRateLimiter[types.UID](time.Second, 2*time.Minute)
	}
	// The TierMigration gauges are counted from this manager's cache at every scrape.
	MigrationMetrics.Use(mgr.GetCache(), r.Clock)
	return ctrl.NewControllerManagedBy(mgr).
		For(&storagev1.TierMigration{}, builder.WithPredicates(metadataChanged)).
		// A migration that ends frees a slot: wake the Pending ones.
		Watches(&storagev1.TierMigration{}, handler.EnqueueRequestsFromMapFunc(r.pending),
			builder.WithPredicates(slotFreed)).
		Named("tiermigration").
		WithOptions(controller.Options{MaxConcurrentReconciles: max(1, r.Options.MaxConcurrentMigrations) + 1}).
		Complete(r)
}

// Reconcile gathers what a TierMigration needs, lets the migration package run its phases until
// it has to wait, and acts on the result: metrics, backoff, the finalizer.
func (r *TierMigrationReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	start := r.Clock.Now()
	ReconcileTotal.Inc()
	defer func() { ReconcileDuration.WithLabelValues("TierMigration").Observe(r.Clock.Since(start).Seconds()) }()
	logger := log.FromContext(ctx)

	// Finished migrations (most of them, in a long-running cluster) need nothing: the cached
	// copy says so without a read from the API server.
	cached := &storagev1.TierMigration{}
	if err := r.Client.Get(ctx, req.NamespacedName, cached); err == nil && cached.Status.Phase.IsTerminal() &&
		cached.DeletionTimestamp.IsZero() && !controllerutil.ContainsFinalizer(cached, storagev1.FinalizerMigrationCleanup) {
		return ctrl.Result{}, nil
	}
	tm := &storagev1.TierMigration{}
	if err := r.APIReader.Get(ctx, req.NamespacedName, tm); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	in, policy, err := r.gather(ctx, tm)
	if err != nil {
		return ctrl.Result{}, err
	}
	m := &migration.Machine{Clock: r.Clock, Persist: r.persister(tm), PollInterval: r.Options.SyncPollInterval}
	pvc := r.claimOf(ctx, tm)
	switch {
	case !tm.DeletionTimestamp.IsZero():
		return r.finalize(ctx, tm, m, in.Storage, pvc)
	case tm.Status.Phase.IsTerminal():
		return r.settle(ctx, tm, m, in.Storage)
	}
	if err := r.ensureMetadata(ctx, tm); err != nil {
		return ctrl.Result{}, err
	}
	res, err := m.Run(ctx, tm, in, migration.Hooks{
		Peers: func(ctx context.Context) ([]storagev1.TierMigration, error) {
			var all storagev1.TierMigrationList
			err := r.APIReader.List(ctx, &all)
			return all.Items, err
		},
		AdmitLock: &r.admitMu,
		Approved:  func(ctx context.Context, tm *storagev1.TierMigration) { r.recordApprovedMove(ctx, tm, policy, pvc) },
		Emit:      func(evs []migration.Event) { r.emit(tm, pvc, evs) },
	})
	switch {
	case err != nil:
		return ctrl.Result{}, err
	case res.Ended != nil:
		recordEnding(tm, res.Ended)
		logger.Info("migration ended", "volume", tm.Spec.VolumeID, "phase", tm.Status.Phase, "outcome", res.Ended.Outcome, "took", res.Ended.Duration)
		r.backoff.Forget(tm.UID)
		return r.settle(ctx, tm, m, in.Storage)
	case res.Transient != nil:
		wait := r.backoff.When(tm.UID)
		// The machine caps the wait so that a phase deadline is acted on in time.
		if res.RequeueAfter > 0 && res.RequeueAfter < wait {
			wait = res.RequeueAfter
		}
		logger.Info("storage step failed, retrying", "volume", tm.Spec.VolumeID, "phase", tm.Status.Phase, "error", res.Transient.Error(), "retryIn", wait)
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	r.backoff.Forget(tm.UID)
	if res.Continue {
		return ctrl.Result{RequeueAfter: time.Millisecond}, nil
	}
	return ctrl.Result{RequeueAfter: res.RequeueAfter}, nil
}

// gather reads what a run of tm needs: its StoragePolicy (from the cache) resolved into pools,
// effective modes, timeout, limits and window, and the storage port with the policy's headroom.
func (r *TierMigrationReconciler) gather(ctx context.Context, tm *storagev1.TierMigration) (migration.Input, *storagev1.StoragePolicy, error) {
	var policy *storagev1.StoragePolicy // nil when the migration names none or it does not exist
	if name := tm.Spec.PolicyName; name != "" {
		p := &storagev1.StoragePolicy{}
		switch err := r.Client.Get(ctx, types.NamespacedName{Name: name}, p); {
		case err == nil:
			policy = p
		case !apierrors.IsNotFound(err):
			return migration.Input{}, nil, fmt.Errorf("get StoragePolicy %s: %w", name, err)
		}
	}
	spec := &storagev1.StoragePolicySpec{}
	opts := MigrationStorageOptions{AllowRepublish: tm.Spec.AllowRepublish, HeadroomPercent: defaultHeadroomPercent}
	if policy != nil {
		spec, opts.HeadroomPercent = &policy.Spec, int(policy.Spec.CapacityHeadroomPercent)
	}
	dryRun, preserve := tiering.EffectiveModes(spec, tiering.Flags{DryRun: r.Options.DryRun, PreservationMode: r.Options.PreservationMode})
	in := migration.Input{
		Storage: r.NewStorage(opts), Pools: migration.ResolvePools(tm, policy),
		DryRun: dryRun || tm.Spec.DryRun, PreservationMode: preserve || tm.Spec.PreservationMode,
		Limits: migration.Limits{Global: r.Options.MaxConcurrentMigrations, Policy: int(spec.MaxConcurrentMigrations)},
	}
	in.Timeout, in.TimeoutErr = migration.ResolveTimeout(tm, policy, r.Options.MigrationTimeout)
	if ws, err := tiering.CompileWindows(spec.MigrationWindows); err == nil { // an invalid policy bounds no start
		w := ws.At(r.Clock.Now())
		in.WindowClosed, in.NextOpens = !w.Open, w.NextOpens
	}
	return in, policy, nil
}

// persister writes the status with optimistic concurrency. A conflict caused by a metadata
// change (labels, annotations) is retried on the fresh object; a conflict because the status
// itself changed since it was read means this copy is stale, and the step stops before acting.
func (r *TierMigrationReconciler) persister(loaded *storagev1.TierMigration) migration.Persister {
	stored := loaded.Status.DeepCopy()
	return func(ctx context.Context, tm *storagev1.TierMigration) error {
		obj := tm.DeepCopy()
		first := true
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if !first {
				fresh := &storagev1.TierMigration{}
				if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(tm), fresh); err != nil {
					return fmt.Errorf("re-read after conflict: %w", err)
				}
				if !equality.Semantic.DeepEqual(fresh.Status, *stored) {
					return errors.New("the status changed since it was read; starting over from the stored copy")
				}
				fresh.Status = *tm.Status.DeepCopy()
				obj = fresh
			}
			first = false
			return r.Client.Status().Update(ctx, obj)
		})
		if err != nil {
			return err
		}
		*tm = *obj
		stored = tm.Status.DeepCopy()
		return nil
	}
}

// ensureMetadata puts the migration's labels and the cleanup finalizer on tm.
func (r *TierMigrationReconciler) ensureMetadata(ctx context.Context, tm *storagev1.TierMigration) error {
	changed := controllerutil.AddFinalizer(tm, storagev1.FinalizerMigrationCleanup)
	for k, v := range migration.Labels(tm) {
		if tm.Labels[k] != v {
			metav1.SetMetaDataLabel(&tm.ObjectMeta, k, v)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	if err := r.Client.Update(ctx, tm); err != nil {
		return fmt.Errorf("label TierMigration %s and add its finalizer: %w", tm.Name, err)
	}
	return nil
}

func (r *TierMigrationReconciler) dropFinalizer(ctx context.Context, tm *storagev1.TierMigration) error {
	if !controllerutil.RemoveFinalizer(tm, storagev1.FinalizerMigrationCleanup) {
		return nil
	}
	if err := r.Client.Update(ctx, tm); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("remove finalizer of TierMigration %s: %w", tm.Name, err)
	}
	return nil
}

// finalize unwinds a deleted TierMigration before letting it go.
func (r *TierMigrationReconciler) finalize(ctx context.Context, tm *storagev1.TierMigration, m *migration.Machine, s migration.Storage, pvc *corev1.ObjectReference) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(tm, storagev1.FinalizerMigrationCleanup) {
		return ctrl.Result{}, nil
	}
	done, res, err := m.Unwind(ctx, tm, s)
	r.emit(tm, pvc, res.Events)
	switch {
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("unwind deleted TierMigration %s: %w", tm.Name, err)
	case res.Transient != nil:
		return ctrl.Result{RequeueAfter: r.backoff.When(tm.UID)}, nil
	case !done:
		return ctrl.Result{RequeueAfter: res.RequeueAfter}, nil
	}
	if err := r.dropFinalizer(ctx, tm); err != nil {
		return ctrl.Result{}, err
	}
	if tm.Status.Phase.IsInFlight() {
		migrationsEnded(tm, storagev1.OutcomeRolledBack).Inc()
		if tm.Status.StartTime != nil {
			MigrationDuration.WithLabelValues(storagev1.OutcomeRolledBack).Observe(r.Clock.Since(tm.Status.StartTime.Time).Seconds())
		}
	}
	r.backoff.Forget(tm.UID)
	return ctrl.Result{}, nil
}

// settle releases what an ended migration still holds (cordons, placeholder replicas), then
// drops its finalizer; until none is left it looks again every poll interval.
func (r *TierMigrationReconciler) settle(ctx context.Context, tm *storagev1.TierMigration, m *migration.Machine, s migration.Storage) (ctrl.Result, error) {
	if done, err := m.SettleEnd(ctx, tm, s); !done {
		log.FromContext(ctx).Info("cordons of an ended migration not released yet", "volume", tm.Spec.VolumeID, "error", err)
		return ctrl.Result{RequeueAfter: r.Options.SyncPollInterval}, nil
	}
	return ctrl.Result{}, r.dropFinalizer(ctx, tm)
}

// claimOf is the PVC of the migration's volume, for Events: the claimRef of the PV named by
// spec.persistentVolumeName, else pvc-<volumeID>.
func (r *TierMigrationReconciler) claimOf(ctx context.Context, tm *storagev1.TierMigration) *corev1.ObjectReference {
	name := tm.Spec.PersistentVolumeName
	if name == "" {
		name = "pvc-" + tm.Spec.VolumeID
	}
	pv := &corev1.PersistentVolume{}
	if err := r.Client.Get(ctx, types.NamespacedName{Name: name}, pv); err != nil || pv.Spec.ClaimRef == nil {
		return nil
	}
	c := pv.Spec.ClaimRef
	return &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: c.Namespace, Name: c.Name, UID: c.UID}
}

func (r *TierMigrationReconciler) emit(tm *storagev1.TierMigration, pvc *corev1.ObjectReference, evs []migration.Event) {
	for _, e := range evs {
		// An Event's note holds at most 1 kB.
		r.Recorder.Eventf(tm, nil, e.Type, e.Reason, e.Action, "%s", migration.Truncate(e.Message, 1000))
		if pvc != nil {
			r.Recorder.Eventf(pvc, tm, e.Type, e.Reason, e.Action, "%s", migration.Truncate("TierMigration "+tm.Name+": "+e.Message, 1000))
		}
	}
}
