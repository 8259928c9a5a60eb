package controller

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/migration"
	"github.com/billyronks/couchestor/internal/mover"
	"github.com/billyronks/couchestor/internal/tiering"
)

// Defaults of the TierMigration reconciler.
const (
	defaultMigrationTimeout = 30 * time.Minute
	defaultSyncPollInterval = 10 * time.Second
	defaultHeadroomPercent  = 10
	// maxStepsPerReconcile bounds the phases one reconcile runs back to back.
	maxStepsPerReconcile = 16
)

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

// TierMigrationReconciler carries out TierMigrations: it loads one, resolves its pools, limits
// and modes, and lets the migration state machine run its phases; the state lives in the
// object's status, so a restarted operator resumes where the last one stopped.
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
	// gaugesOnce sets the gauges derived from all TierMigrations after a start.
	gaugesOnce sync.Once
}

// SetupWithManager watches TierMigrations.
func (r *TierMigrationReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.backoff == nil {
		r.backoff = workqueue.NewTypedItemExponentialFailureRateLimiter[types.UID](time.Second, 2*time.Minute)
	}
	return ctrl.NewControllerManagedBy(mgr).
		// Status writes are the controller's own: only spec, metadata (the approval
		// annotations among it) and deletion wake it.
		For(&storagev1.TierMigration{}, builder.WithPredicates(metadataChanged)).
		// A migration that ends frees a slot: wake the Pending ones.
		Watches(&storagev1.TierMigration{}, handler.EnqueueRequestsFromMapFunc(r.pending),
			builder.WithPredicates(slotFreed)).
		Named("tiermigration").
		WithOptions(controller.Options{MaxConcurrentReconciles: max(1, r.Options.MaxConcurrentMigrations) + 1}).
		Complete(r)
}

var metadataChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, n := e.ObjectOld, e.ObjectNew
		return o.GetGeneration() != n.GetGeneration() ||
			!o.GetDeletionTimestamp().Equal(n.GetDeletionTimestamp()) ||
			!equality.Semantic.DeepEqual(o.GetLabels(), n.GetLabels()) ||
			approvalAnnotations(o) != approvalAnnotations(n) ||
			!equality.Semantic.DeepEqual(o.GetFinalizers(), n.GetFinalizers())
	},
	DeleteFunc: func(event.DeleteEvent) bool { return false },
}

// approvalAnnotations sums up the annotations that approve or reject a migration.
func approvalAnnotations(o client.Object) string {
	a := o.GetAnnotations()
	return a[storagev1.AnnotationApproved] + "/" + a[storagev1.AnnotationRejected]
}

var slotFreed = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*storagev1.TierMigration)
		n, ok2 := e.ObjectNew.(*storagev1.TierMigration)
		return ok1 && ok2 && o.Status.Phase.IsInFlight() && !n.Status.Phase.IsInFlight()
	},
	DeleteFunc: func(event.DeleteEvent) bool { return true },
}

func (r *TierMigrationReconciler) pending(ctx context.Context, _ client.Object) []reconcile.Request {
	var list storagev1.TierMigrationList
	if err := r.Client.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		if list.Items[i].Status.Phase == storagev1.PhasePending {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: list.Items[i].Name}})
		}
	}
	return out
}

// Reconcile runs the phases of one TierMigration until it has to wait.
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
		// The gauges are recounted once after a start even when every migration has ended.
		r.gaugesOnce.Do(func() { r.updateActive(ctx) })
		return ctrl.Result{}, nil
	}
	defer r.updateActive(ctx)

	tm := &storagev1.TierMigration{}
	if err := r.APIReader.Get(ctx, req.NamespacedName, tm); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !tm.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, tm)
	}
	if tm.Status.Phase.IsTerminal() {
		if done, err := r.settleCordons(ctx, tm, r.machine(tm)); !done {
			logger.Info("cordons of an ended migration not released yet", "volume", tm.Spec.VolumeID, "error", err)
			return ctrl.Result{RequeueAfter: r.pollInterval()}, nil
		}
		return ctrl.Result{}, r.dropFinalizer(ctx, tm)
	}
	if err := r.ensureMetadata(ctx, tm); err != nil {
		return ctrl.Result{}, err
	}

	m := r.machine(tm)
	pvc := r.claimOf(ctx, tm)
	for range maxStepsPerReconcile {
		phase := tm.Status.Phase
		var res migration.Result
		var err error
		switch {
		case phase == "":
			res, err = m.Accept(ctx, tm)
		case phase == storagev1.PhaseWaitingApproval:
			res, err = m.Approval(ctx, tm)
			if err == nil && tm.Status.Phase == storagev1.PhasePending {
				r.recordApprovedMove(ctx, tm, pvc)
			}
		case phase == storagev1.PhasePending:
			res, err = r.admit(ctx, tm, m)
		case phase.IsInFlight():
			var in migration.StepInput
			if in, err = r.stepInput(ctx, tm); err == nil {
				res, err = m.Step(ctx, tm, in)
			}
		default:
			return ctrl.Result{}, nil
		}
		r.emit(tm, pvc, res.Events)
		if err != nil {
			return ctrl.Result{}, fmt.Errorf("TierMigration %s in phase %s: %w", tm.Name, phase, err)
		}
		if phase != tm.Status.Phase {
			logger.Info("migration phase changed", "volume", tm.Spec.VolumeID, "from", phase, "to", tm.Status.Phase)
		}
		if e := res.Ended; e != nil {
			if e.Outcome != migration.OutcomeNotStarted { // rejected or expired unapproved: nothing moved
				MigrationsTotal.WithLabelValues(e.Outcome).Inc()
				MigrationDuration.WithLabelValues(e.Outcome).Observe(e.Duration.Seconds())
			}
			logger.Info("migration ended", "volume", tm.Spec.VolumeID, "phase", tm.Status.Phase, "outcome", e.Outcome, "took", e.Duration)
			r.backoff.Forget(tm.UID)
			if done, err := r.settleCordons(ctx, tm, m); !done {
				// Retried on the next reconcile (the finalizer stays until none is left).
				logger.Info("cordons of an ended migration not released yet", "volume", tm.Spec.VolumeID, "error", err)
				return ctrl.Result{RequeueAfter: r.pollInterval()}, nil
			}
			return ctrl.Result{}, r.dropFinalizer(ctx, tm)
		}
		if res.Transient != nil {
			wait := r.backoff.When(tm.UID)
			// The machine caps the wait so that a phase deadline is acted on in time.
			if res.RequeueAfter > 0 && res.RequeueAfter < wait {
				wait = res.RequeueAfter
			}
			logger.Info("storage step failed, retrying", "volume", tm.Spec.VolumeID, "phase", tm.Status.Phase, "error", res.Transient.Error(), "retryIn", wait)
			return ctrl.Result{RequeueAfter: wait}, nil
		}
		r.backoff.Forget(tm.UID)
		if !res.Continue {
			return ctrl.Result{RequeueAfter: res.RequeueAfter}, nil
		}
	}
	return ctrl.Result{RequeueAfter: time.Millisecond}, nil
}

func (r *TierMigrationReconciler) pollInterval() time.Duration {
	if r.Options.SyncPollInterval > 0 {
		return r.Options.SyncPollInterval
	}
	return defaultSyncPollInterval
}

// machine returns the state machine for tm, writing its status through the API server.
func (r *TierMigrationReconciler) machine(tm *storagev1.TierMigration) *migration.Machine {
	return &migration.Machine{Clock: r.Clock, Persist: r.persister(tm), PollInterval: r.pollInterval()}
}

// persister writes the status with optimistic concurrency. A conflict caused by a metadata
// change (labels, annotations) is retried on the fresh object; a conflict because the status
// itself changed since it was read means this copy is stale, and the step stops before acting.
func (r *TierMigrationReconciler) persister(loaded *storagev1.TierMigration) migration.Persister {
	stored := loaded.Status.DeepCopy()
	return func(ctx context.Context, tm *storagev1.TierMigration) error {
		obj := tm.DeepCopy()
		err := r.Client.Status().Update(ctx, obj)
		for try := 0; apierrors.IsConflict(err) && try < 5; try++ {
			fresh := &storagev1.TierMigration{}
			if gerr := r.APIReader.Get(ctx, client.ObjectKeyFromObject(tm), fresh); gerr != nil {
				return fmt.Errorf("re-read after conflict: %w", gerr)
			}
			if !equality.Semantic.DeepEqual(fresh.Status, *stored) {
				return fmt.Errorf("the status changed since it was read; starting over from the stored copy: %w", err)
			}
			fresh.Status = *tm.Status.DeepCopy()
			obj = fresh
			err = r.Client.Status().Update(ctx, obj)
		}
		if err != nil {
			return err
		}
		*tm = *obj
		stored = tm.Status.DeepCopy()
		return nil
	}
}

// ensureMetadata puts the policy and volume labels and the cleanup finalizer on tm.
func (r *TierMigrationReconciler) ensureMetadata(ctx context.Context, tm *storagev1.TierMigration) error {
	changed := controllerutil.AddFinalizer(tm, storagev1.FinalizerMigrationCleanup)
	want := map[string]string{storagev1.LabelVolume: tm.Spec.VolumeID}
	// A policy name longer than a label value allows (63) goes without the label.
	if tm.Spec.PolicyName != "" && len(validation.IsValidLabelValue(tm.Spec.PolicyName)) == 0 {
		want[storagev1.LabelPolicy] = tm.Spec.PolicyName
	}
	for k, v := range want {
		if tm.Labels[k] != v {
			if tm.Labels == nil {
				tm.Labels = map[string]string{}
			}
			tm.Labels[k] = v
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
func (r *TierMigrationReconciler) finalize(ctx context.Context, tm *storagev1.TierMigration) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(tm, storagev1.FinalizerMigrationCleanup) {
		return ctrl.Result{}, nil
	}
	in, err := r.stepInput(ctx, tm)
	if err != nil {
		return ctrl.Result{}, err
	}
	done, res, err := r.machine(tm).Unwind(ctx, tm, in.Storage)
	r.emit(tm, r.claimOf(ctx, tm), res.Events)
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
		MigrationsTotal.WithLabelValues(migration.OutcomeRolledBack).Inc()
		if tm.Status.StartTime != nil {
			MigrationDuration.WithLabelValues(migration.OutcomeRolledBack).Observe(r.Clock.Since(tm.Status.StartTime.Time).Seconds())
		}
	}
	r.backoff.Forget(tm.UID)
	return ctrl.Result{}, nil
}

// recordApprovedMove writes an approved real move into the PV's anti-flap record (a migration
// created waiting for approval is recorded when approved, not when asked for: a rejected or
// expired one moved nothing), with the policy's anti-flap rule, and says so on the PVC when it
// is a flip. A failure is logged: the migration goes on.
func (r *TierMigrationReconciler) recordApprovedMove(ctx context.Context, tm *storagev1.TierMigration, pvc *corev1.ObjectReference) {
	logger := log.FromContext(ctx)
	if tm.Spec.DryRun || tm.Spec.PersistentVolumeName == "" {
		return
	}
	policy, err := r.policyOf(ctx, tm)
	if err != nil || policy == nil {
		logger.Info("anti-flap record not written: no StoragePolicy", "volume", tm.Spec.VolumeID, "error", err)
		return
	}
	c, err := tiering.CompilePolicy(&policy.Spec)
	if err != nil {
		logger.Info("anti-flap record not written: invalid StoragePolicy", "volume", tm.Spec.VolumeID, "error", err)
		return
	}
	next, flip, err := recordMoveOnPV(ctx, r.APIReader, r.Client, c.AntiFlap, tm.Spec.PersistentVolumeName, tm.Spec.TargetTier, r.Clock.Now())
	if err != nil {
		logger.Error(err, "anti-flap record not written", "volume", tm.Spec.VolumeID)
		return
	}
	if flip {
		note := flipNote(c.AntiFlap, next, tm.Spec.VolumeID)
		r.Recorder.Eventf(tm, nil, corev1.EventTypeWarning, storagev1.ReasonAntiFlapCooldown, "Approve", "%s", note)
		if pvc != nil {
			r.Recorder.Eventf(pvc, tm, corev1.EventTypeWarning, storagev1.ReasonAntiFlapCooldown, "Approve", "%s", note)
		}
	}
}

// policyOf returns the migration's StoragePolicy, nil when it names none or it does not exist.
func (r *TierMigrationReconciler) policyOf(ctx context.Context, tm *storagev1.TierMigration) (*storagev1.StoragePolicy, error) {
	if tm.Spec.PolicyName == "" {
		return nil, nil
	}
	p := &storagev1.StoragePolicy{}
	if err := r.Client.Get(ctx, types.NamespacedName{Name: tm.Spec.PolicyName}, p); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("get StoragePolicy %s: %w", tm.Spec.PolicyName, err)
	}
	return p, nil
}

// pools resolves the target and source pool selectors: the spec's, else the policy's for the
// target tier and the other one. reason is set when they cannot be resolved.
func pools(tm *storagev1.TierMigration, policy *storagev1.StoragePolicy) (target, source labels.Selector, reason, msg string) {
	var err error
	switch {
	case tm.Spec.TargetPoolSelector != nil:
		if target, err = metav1.LabelSelectorAsSelector(tm.Spec.TargetPoolSelector); err != nil {
			return nil, nil, migration.ReasonInvalidSpec, "spec.targetPoolSelector: " + err.Error()
		}
	case policy == nil:
		return nil, nil, migration.ReasonPolicyNotFound, fmt.Sprintf(
			"StoragePolicy %q not found: spec.targetPoolSelector is empty, so the policy's pool selector for %s is needed", tm.Spec.PolicyName, tm.Spec.TargetTier)
	default:
		sel := &policy.Spec.NVMePoolSelector
		if tm.Spec.TargetTier == storagev1.TierSATA {
			sel = &policy.Spec.SATAPoolSelector
		}
		if target, err = metav1.LabelSelectorAsSelector(sel); err != nil {
			return nil, nil, migration.ReasonInvalidSpec, fmt.Sprintf("StoragePolicy %s: %s pool selector: %v", policy.Name, tm.Spec.TargetTier, err)
		}
	}
	if target.Empty() {
		return nil, nil, migration.ReasonInvalidSpec, "the target pool selector is empty: it would select every pool"
	}
	switch {
	case tm.Spec.SourcePoolSelector != nil:
		if source, err = metav1.LabelSelectorAsSelector(tm.Spec.SourcePoolSelector); err != nil {
			return nil, nil, migration.ReasonInvalidSpec, "spec.sourcePoolSelector: " + err.Error()
		}
	case policy != nil:
		sel := &policy.Spec.SATAPoolSelector
		if tm.Spec.TargetTier == storagev1.TierSATA {
			sel = &policy.Spec.NVMePoolSelector
		}
		if source, err = metav1.LabelSelectorAsSelector(sel); err != nil {
			return nil, nil, migration.ReasonInvalidSpec, fmt.Sprintf("StoragePolicy %s: source pool selector: %v", policy.Name, err)
		}
	}
	return target, source, "", ""
}

// stepInput resolves what a step needs: the storage port with the migration's options and,
// for Analyzing, the pools.
func (r *TierMigrationReconciler) stepInput(ctx context.Context, tm *storagev1.TierMigration) (migration.StepInput, error) {
	policy, err := r.policyOf(ctx, tm)
	if err != nil {
		return migration.StepInput{}, err
	}
	opts := MigrationStorageOptions{AllowRepublish: tm.Spec.AllowRepublish, HeadroomPercent: defaultHeadroomPercent}
	if policy != nil {
		opts.HeadroomPercent = int(policy.Spec.CapacityHeadroomPercent)
	}
	in := migration.StepInput{Storage: r.NewStorage(opts)}
	if tm.Status.Phase == storagev1.PhaseAnalyzing {
		in.TargetPools, in.SourcePools, in.PoolsReason, in.PoolsMessage = pools(tm, policy)
	}
	return in, nil
}

// admit starts a Pending migration when a slot is free, keeps it waiting, or refuses it.
func (r *TierMigrationReconciler) admit(ctx context.Context, tm *storagev1.TierMigration, m *migration.Machine) (migration.Result, error) {
	policy, err := r.policyOf(ctx, tm)
	if err != nil {
		return migration.Result{}, err
	}
	if _, _, reason, msg := pools(tm, policy); reason != "" {
		return m.Refuse(ctx, tm, reason, msg)
	}
	timeout, err := r.timeoutOf(tm, policy)
	if err != nil {
		return m.Refuse(ctx, tm, migration.ReasonInvalidSpec, err.Error())
	}
	if policy != nil {
		// A window bounds starts: a migration already running finishes, a Pending one (say,
		// approved after its window closed) waits for the next.
		if ws, err := tiering.CompileWindows(policy.Spec.MigrationWindows); err == nil {
			if w := ws.At(r.Clock.Now()); !w.Open {
				return m.Wait(ctx, tm, migration.Admission{Reason: storagev1.ReasonOutsideMigrationWindow, Message: fmt.Sprintf(
					"outside every migration window of StoragePolicy %s: the next opens at %s", policy.Name, w.NextOpens.UTC().Format(time.RFC3339))})
			}
		}
	}
	lim := migration.Limits{Global: r.Options.MaxConcurrentMigrations}
	dryRun := tm.Spec.DryRun || r.Options.DryRun
	preserve := tm.Spec.PreservationMode || r.Options.PreservationMode
	if policy != nil {
		lim.Policy = int(policy.Spec.MaxConcurrentMigrations)
		dryRun = dryRun || policy.Spec.DryRun
		preserve = preserve || policy.Spec.PreservationMode
	}

	r.admitMu.Lock()
	defer r.admitMu.Unlock()
	var all storagev1.TierMigrationList
	if err := r.APIReader.List(ctx, &all); err != nil {
		return migration.Result{}, fmt.Errorf("list TierMigrations: %w", err)
	}
	a := migration.Admit(tm, all.Items, dryRun, lim)
	switch {
	case a.Busy:
		return m.Refuse(ctx, tm, a.Reason, a.Message)
	case !a.Start:
		return m.Wait(ctx, tm, a)
	}
	return m.Start(ctx, tm, migration.StartParams{Timeout: timeout, DryRun: dryRun, PreservationMode: preserve})
}

// timeoutOf is spec.timeout, else the policy's migrationTimeout, else --migration-timeout-minutes.
func (r *TierMigrationReconciler) timeoutOf(tm *storagev1.TierMigration, policy *storagev1.StoragePolicy) (time.Duration, error) {
	parse := func(field, s string) (time.Duration, error) {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return 0, fmt.Errorf("%s %q: want a positive duration such as 30m", field, s)
		}
		return d, nil
	}
	switch {
	case tm.Spec.Timeout != "":
		return parse("spec.timeout", tm.Spec.Timeout)
	case policy != nil && policy.Spec.MigrationTimeout != "":
		return parse("StoragePolicy "+policy.Name+" migrationTimeout", policy.Spec.MigrationTimeout)
	case r.Options.MigrationTimeout > 0:
		return r.Options.MigrationTimeout, nil
	}
	return defaultMigrationTimeout, nil
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
		r.Recorder.Eventf(tm, nil, e.Type, e.Reason, e.Action, "%s", clip(e.Message, 1000))
		if pvc != nil {
			r.Recorder.Eventf(pvc, tm, e.Type, e.Reason, e.Action, "%s", clip("TierMigration "+tm.Name+": "+e.Message, 1000))
		}
	}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// updateActive sets the active-migrations gauge from what the API server holds.
func (r *TierMigrationReconciler) updateActive(ctx context.Context) {
	var list storagev1.TierMigrationList
	if err := r.Client.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return
	}
	ActiveMigrations.Set(float64(migration.InFlight(list.Items)))
	KeptExtraReplicas.Set(float64(migration.KeptExtraReplicaVolumes(list.Items)))
	RecordMigrations(list.Items, r.Clock.Now())
}

// settleCordons releases the cordons an ended migration still records.
func (r *TierMigrationReconciler) settleCordons(ctx context.Context, tm *storagev1.TierMigration, m *migration.Machine) (bool, error) {
	if !tm.Status.Checkpoint.HoldsResources() {
		return true, nil
	}
	in, err := r.stepInput(ctx, tm)
	if err != nil {
		return false, err
	}
	return m.SettleCordons(ctx, tm, in.Storage)
}
