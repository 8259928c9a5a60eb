package controller

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/observer"
	"github.com/billyronks/couchestor/internal/tiering"
)

// maxHistory bounds status.recentMigrations (the CRD refuses more).
const maxHistory = 20

// waitForSnapshot is how soon a policy reconciled before the first observation is retried.
const waitForSnapshot = 2 * time.Second

// SnapshotSource hands out the shared observation policies decide from (the Observer).
type SnapshotSource interface {
	// Snapshot returns a snapshot fresh enough to decide p from, or observer.ErrNoSnapshot before the
	// first observation.
	Snapshot(ctx context.Context, p *storagev1.StoragePolicy) (*tiering.Snapshot, error)
	// CacheChanged says a PV, PVC, TierMigration or StoragePolicy changed.
	CacheChanged()
	// Created says this process created a TierMigration, which snapshots count before the
	// informer cache shows it.
	Created(tm *storagev1.TierMigration)
}

// MigrationCreator creates a TierMigration unless its volume already has an unfinished one.
type MigrationCreator interface {
	CreateMigration(ctx context.Context, tm *storagev1.TierMigration) (created bool, err error)
}

// StoragePolicyReconciler is the thin shell around the planner: it takes the shared snapshot,
// asks the planner what to do about one policy, creates a TierMigration for each move, emits
// Events on the policy and on the PVC of each moved volume, and writes the policy's status.
type StoragePolicyReconciler struct {
	// Client reads policies and PVCs (from the cache) and writes status.
	Client client.Client
	// APIReader, when set, reads the PersistentVolume whose moves record is updated past the
	// cache, so the record's optimistic lock rarely conflicts.
	APIReader  client.Reader
	Snapshots  SnapshotSource
	Migrations MigrationCreator
	Recorder   events.EventRecorder
	Clock      clock.PassiveClock
	Options    Options
	// Observed, when set, delivers an event after each periodic observation: every policy is
	// then re-decided (the Observer's Notify feeds it).
	Observed <-chan event.GenericEvent

	// Decisions remembers each volume's decision, to say its changes in Events on the PVC
	// (rate-limited) and to export it; SetupWithManager (or the first reconcile) makes one
	// with DecisionEventInterval when it is nil.
	Decisions *DecisionTracker
	// DecisionEventInterval is the shortest time between two DecisionChanged Events of one
	// volume (DefaultDecisionEventInterval when zero).
	DecisionEventInterval time.Duration
	decisionsOnce         sync.Once

	// badPins holds, per PVC (or unbound PV), the InvalidPin message last said in an Event, so
	// it is said once per value, not at every reconcile. In memory only: after a restart it is
	// said once more.
	badPinsMu sync.Mutex
	badPins   map[string]string
}

// SetupWithManager watches StoragePolicies, the PVs and PVCs they may select, the ends of
// TierMigrations, and the observer's cycles.
func (r *StoragePolicyReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.Options.PerVolumeMetrics {
		VolumeDecisions.Use(r.decisions())
	}
	allPolicies := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
		return r.policiesToReconcile(ctx, "")
	})
	b := ctrl.NewControllerManagedBy(mgr).
		For(&storagev1.StoragePolicy{}, builder.WithPredicates(predicate.GenerationChangedPredicate{}, r.cacheChanged())).
		Watches(&storagev1.TierMigration{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			if p := o.GetLabels()[storagev1.LabelPolicy]; p != "" {
				return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: p}}}
			}
			return nil
		}), builder.WithPredicates(migrationEnded, r.cacheChanged())).
		Watches(&corev1.PersistentVolume{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return r.policiesToReconcile(ctx, o.(*corev1.PersistentVolume).Spec.StorageClassName)
		}), builder.WithPredicates(pvChanged, r.cacheChanged())).
		Watches(&corev1.PersistentVolumeClaim{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return r.policiesToReconcile(ctx, ptr.Deref(o.(*corev1.PersistentVolumeClaim).Spec.StorageClassName, ""))
		}), builder.WithPredicates(claimAnnotationsChanged, r.cacheChanged())).
		Named("storagepolicy")
	if r.Observed != nil {
		b = b.WatchesRawSource(source.Channel(r.Observed, allPolicies))
	}
	return b.Complete(r)
}

// policiesToReconcile lists the policies of a StorageClass ("" for all) from the cache.
func (r *StoragePolicyReconciler) policiesToReconcile(ctx context.Context, storageClass string) []reconcile.Request {
	var list storagev1.StoragePolicyList
	if err := r.Client.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		log.FromContext(ctx).Error(err, "list StoragePolicies")
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		if storageClass == "" || list.Items[i].Spec.StorageClassName == storageClass {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: list.Items[i].Name}})
		}
	}
	return reqs
}

// cacheChanged passes every event through, telling the snapshot source first that the
// cache-derived parts of the snapshot are out of date.
func (r *StoragePolicyReconciler) cacheChanged() predicate.Predicate {
	mark := func() bool {
		if r.Snapshots != nil {
			r.Snapshots.CacheChanged()
		}
		return true
	}
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return mark() },
		UpdateFunc:  func(event.UpdateEvent) bool { return mark() },
		DeleteFunc:  func(event.DeleteEvent) bool { return mark() },
		GenericFunc: func(event.GenericEvent) bool { return mark() },
	}
}

// migrationEnded lets through the TierMigration events that can change a policy's decision: a
// migration created (by hand) or deleted, or one ending, which frees a slot and starts a
// cooldown. Progress and intermediate phases change nothing a policy decides on.
var migrationEnded = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*storagev1.TierMigration)
		n, ok2 := e.ObjectNew.(*storagev1.TierMigration)
		return !ok1 || !ok2 || !o.Status.Phase.IsTerminal() && n.Status.Phase.IsTerminal()
	},
}

// pvChanged lets through PV events that can change a selection: created, deleted, or changed
// labels, annotations, StorageClass or claim.
var pvChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*corev1.PersistentVolume)
		n, ok2 := e.ObjectNew.(*corev1.PersistentVolume)
		if !ok1 || !ok2 {
			return true
		}
		return !equality.Semantic.DeepEqual(o.Labels, n.Labels) || !equality.Semantic.DeepEqual(o.Annotations, n.Annotations) ||
			o.Spec.StorageClassName != n.Spec.StorageClassName || !equality.Semantic.DeepEqual(o.Spec.ClaimRef, n.Spec.ClaimRef)
	},
}

// claimAnnotationsChanged lets through PVC events that can pin or exclude a volume.
var claimAnnotationsChanged = predicate.Funcs{
	CreateFunc: func(e event.CreateEvent) bool { return observer.TieringAnnotated(e.Object.GetAnnotations()) },
	DeleteFunc: func(e event.DeleteEvent) bool { return observer.TieringAnnotated(e.Object.GetAnnotations()) },
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, n := e.ObjectOld.GetAnnotations(), e.ObjectNew.GetAnnotations()
		return o[storagev1.AnnotationTier] != n[storagev1.AnnotationTier] || o[storagev1.AnnotationTiering] != n[storagev1.AnnotationTiering]
	},
	GenericFunc: func(event.GenericEvent) bool { return false },
}

// Reconcile decides one policy from the shared snapshot, starts the migrations it calls for,
// and writes its status.
func (r *StoragePolicyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	start := r.Clock.Now()
	ReconcileTotal.Inc()
	defer func() { ReconcileDuration.WithLabelValues("StoragePolicy").Observe(r.Clock.Since(start).Seconds()) }()
	logger := log.FromContext(ctx)

	var policy storagev1.StoragePolicy
	if err := r.Client.Get(ctx, req.NamespacedName, &policy); err != nil {
		if apierrors.IsNotFound(err) {
			r.forgetPolicy(req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	snap, err := r.Snapshots.Snapshot(ctx, &policy)
	if err != nil {
		if errors.Is(err, observer.ErrNoSnapshot) {
			logger.V(1).Info("waiting for an observation to decide from", "why", err.Error())
			return ctrl.Result{RequeueAfter: waitForSnapshot}, nil
		}
		return ctrl.Result{}, fmt.Errorf("observe for StoragePolicy %s: %w", policy.Name, err)
	}
	plan := tiering.PlanPolicy(snap, &policy, tiering.Flags{DryRun: r.Options.DryRun, PreservationMode: r.Options.PreservationMode,
		MaxConcurrentMigrations: r.Options.MaxConcurrentMigrations}, start)

	r.warnBadPins(ctx, plan.Volumes)
	r.sayDecisionChanges(ctx, &policy, plan.Volumes, start)
	started := 0
	for _, m := range plan.Moves {
		created, err := r.startMigration(ctx, &policy, plan, m)
		if err != nil {
			return ctrl.Result{}, err
		}
		if created {
			started++
		}
	}
	if started > 0 {
		r.Snapshots.CacheChanged() // the next policy counts these slots (Created), even before the cache shows them
	}
	if len(plan.Overlaps) > 0 {
		// Reported, never fought over: such volumes stay where they are until one policy selects them.
		id := slices.Min(slices.Collect(maps.Keys(plan.Overlaps)))
		r.Recorder.Eventf(&policy, nil, corev1.EventTypeWarning, storagev1.ReasonOverlappingPolicies, "Evaluate",
			"%d volumes are also selected by another StoragePolicy and are left alone, e.g. %s (also %v)", len(plan.Overlaps), id, plan.Overlaps[id])
	}
	if l := logger.V(2); l.Enabled() { // checked once: the arguments of 10,000 calls are boxed even when disabled
		for _, v := range plan.Volumes {
			l.Info("decided", "volume", v.VolumeID, "action", v.Action, "to", v.To, "reason", v.Reason, "message", v.Message)
		}
	}
	active := int32(plan.Counts.Active)
	if !plan.DryRun {
		active += int32(started)
	}
	logger.V(1).Info("evaluated policy", "ready", plan.Ready.Status, "reason", plan.Ready.Reason,
		"watched", plan.Counts.Watched, "nvme", plan.Counts.NVMe, "sata", plan.Counts.SATA, "unknown", plan.Counts.Unknown,
		"active", active, "planned", plan.Counts.Planned, "started", started, "snapshotAge", start.Sub(snap.Taken), "took", r.Clock.Since(start))

	if old := meta.FindStatusCondition(policy.Status.Conditions, storagev1.ConditionReady); plan.Ready.Status == metav1.ConditionFalse &&
		(old == nil || old.Status != metav1.ConditionFalse || old.Reason != plan.Ready.Reason) {
		r.Recorder.Eventf(&policy, nil, corev1.EventTypeWarning, plan.Ready.Reason, "Evaluate", "%s", plan.Ready.Message)
	}
	history, err := r.liveHistory(ctx, policy.Name)
	if err != nil {
		return ctrl.Result{}, err
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := r.Client.Get(ctx, req.NamespacedName, &policy); err != nil {
			return err
		}
		before := policy.Status.DeepCopy()
		applyPlan(&policy, plan, active, history, metav1.NewTime(start))
		if equalStatus(before, &policy.Status) {
			return nil
		}
		return r.Client.Status().Update(ctx, &policy)
	})
	switch {
	case apierrors.IsNotFound(err):
		r.forgetPolicy(req.Name)
		return ctrl.Result{}, nil
	case apierrors.IsConflict(err):
		// Someone else keeps writing the policy: decide again shortly, without alarm.
		logger.V(1).Info("status update conflicted; deciding again", "policy", policy.Name)
		return ctrl.Result{Requeue: true}, nil
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("update status of StoragePolicy %s: %w", policy.Name, err)
	}
	RecordPolicy(&policy)
	RecordDecisions(policy.Name, plan.Volumes)
	return ctrl.Result{}, nil
}

// startMigration creates the TierMigration for one move and says so in Events on the policy and
// on the volume's PVC. Its name is derived from the volume, the tier and the minute, so a
// retried reconcile does not start the same move twice.
func (r *StoragePolicyReconciler) startMigration(ctx context.Context, policy *storagev1.StoragePolicy, plan tiering.PolicyPlan, m tiering.Move) (bool, error) {
	tm := newTierMigration(policy, plan, m, r.Clock.Now())
	if err := ctrl.SetControllerReference(policy, tm, r.Client.Scheme()); err != nil {
		return false, err
	}
	created, err := r.Migrations.CreateMigration(ctx, tm)
	if err != nil || !created {
		return false, err
	}
	r.Snapshots.Created(tm)
	var pvc *corev1.PersistentVolumeClaim
	if ns, name, ok := strings.Cut(m.Claim, "/"); ok {
		pvc = &corev1.PersistentVolumeClaim{}
		if err := r.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, pvc); err != nil {
			pvc = nil
		}
	}
	if !tm.Spec.DryRun && !tm.Spec.ApprovalRequired {
		if err := r.recordMove(ctx, policy, plan.AntiFlap, m, tm, pvc); err != nil {
			// The migration is created and goes on; only this move's anti-flap record is lost
			// (the cooldown still counts from the TierMigration while it exists).
			log.FromContext(ctx).Error(err, "anti-flap record not written", "volume", m.VolumeID)
		}
	}
	verb := "Moving"
	switch {
	case tm.Spec.ApprovalRequired && tm.Spec.DryRun:
		verb = "Dry-run, waiting for approval: would move"
	case tm.Spec.ApprovalRequired:
		verb = "Waiting for approval to move"
	case tm.Spec.DryRun:
		verb = "Dry-run: would move"
	}
	r.Recorder.Eventf(policy, tm, corev1.EventTypeNormal, storagev1.ReasonMigrationPlanned, "Migrate", "%s volume %s from %s to %s: %s (TierMigration %s)", verb, m.VolumeID, m.From, m.To, m.Reason, tm.Name)
	if pvc != nil {
		r.Recorder.Eventf(pvc, tm, corev1.EventTypeNormal, storagev1.ReasonMigrationPlanned, "Migrate", "%s this volume from %s to %s: %s (StoragePolicy %s, TierMigration %s)", verb, m.From, m.To, m.Reason, policy.Name, tm.Name)
	}
	return true, nil
}

// recordMove writes a real move into the PV's moves annotation (the anti-flap record, which
// outlives restarts and the clean-up of TierMigrations) and, when the move is a flip, says so
// in an Event on the PVC (or the policy, for an unbound volume).
func (r *StoragePolicyReconciler) recordMove(ctx context.Context, policy *storagev1.StoragePolicy, af tiering.AntiFlap, m tiering.Move, tm *storagev1.TierMigration, pvc *corev1.PersistentVolumeClaim) error {
	reader := r.APIReader
	if reader == nil {
		reader = r.Client
	}
	next, flip, err := recordMoveOnPV(ctx, reader, r.Client, af, m.PVName, m.To, r.Clock.Now()) // the clock the planner counts cooldowns with
	if err != nil || !flip {
		return err
	}
	var regarding runtime.Object = policy
	if pvc != nil {
		regarding = pvc
	}
	r.Recorder.Eventf(regarding, tm, corev1.EventTypeWarning, storagev1.ReasonAntiFlapCooldown, "Migrate", "%s", flipNote(af, next, m.VolumeID))
	log.FromContext(ctx).Info("volume flipped between the tiers", "volume", m.VolumeID, "flips", next.Flips, "cooldown", af.Cooldown(next.Flips))
	return nil
}

// newTierMigration is the TierMigration that carries one move.
func newTierMigration(policy *storagev1.StoragePolicy, plan tiering.PolicyPlan, m tiering.Move, now time.Time) *storagev1.TierMigration {
	spec := &policy.Spec
	tm := &storagev1.TierMigration{
		ObjectMeta: metav1.ObjectMeta{
			Name:   storagev1.TierMigrationName(m.To, m.VolumeID, now),
			Labels: map[string]string{storagev1.LabelPolicy: policy.Name, storagev1.LabelVolume: m.VolumeID},
		},
		Spec: storagev1.TierMigrationSpec{
			VolumeID: m.VolumeID, PersistentVolumeName: m.PVName, TargetTier: m.To, PolicyName: policy.Name,
			Reason: storagev1.MigrationReason{Description: m.Reason, HighWatermarkIOPS: ptr.To(spec.HighWatermarkIOPS),
				LowWatermarkIOPS: ptr.To(spec.LowWatermarkIOPS)},
			DryRun:           plan.DryRun,
			PreservationMode: plan.PreservationMode,
			AllowRepublish:   spec.AllowRepublish,
			Timeout:          spec.MigrationTimeout,
		},
	}
	if plan.Manual {
		tm.Spec.ApprovalRequired = true
		tm.Spec.ApprovalTimeout = plan.ApprovalTimeout.String()
	}
	if m.KnownIOPS {
		tm.Spec.Reason.ObservedIOPS = ptr.To(int64(m.IOPS + 0.5))
	}
	return tm
}

// APIMigrationCreator creates TierMigrations through the API server.
type APIMigrationCreator struct {
	Client client.Client
	// APIReader reads past the cache: the decision was made from the cache, which may not show
	// a migration created moments ago.
	APIReader client.Reader
}

// CreateMigration creates tm unless its volume has an unfinished TierMigration or tm exists.
func (c APIMigrationCreator) CreateMigration(ctx context.Context, tm *storagev1.TierMigration) (bool, error) {
	var existing storagev1.TierMigrationList
	if err := c.APIReader.List(ctx, &existing, client.MatchingLabels{storagev1.LabelVolume: tm.Spec.VolumeID}); err != nil {
		return false, fmt.Errorf("list TierMigrations of volume %s: %w", tm.Spec.VolumeID, err)
	}
	for i := range existing.Items {
		if !existing.Items[i].Status.Phase.IsTerminal() {
			return false, nil
		}
	}
	if err := c.Client.Create(ctx, tm); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return false, nil
		}
		return false, fmt.Errorf("create TierMigration for volume %s: %w", tm.Spec.VolumeID, err)
	}
	return true, nil
}

func phaseOrPending(p storagev1.MigrationPhase) storagev1.MigrationPhase {
	if p == "" {
		return storagev1.PhasePending
	}
	return p
}

func historyMessage(tm *storagev1.TierMigration) string {
	msg := tm.Spec.Reason.Description
	if tm.Status.Error != "" {
		msg = tm.Status.Error
	}
	if len(msg) > 256 {
		msg = msg[:256]
	}
	return msg
}

// equalStatus compares two statuses ignoring LastReconcileTime and condition transition times,
// so an unchanged policy is not rewritten on every cycle.
func equalStatus(a, b *storagev1.StoragePolicyStatus) bool {
	ac, bc := a.DeepCopy(), b.DeepCopy()
	ac.LastReconcileTime, bc.LastReconcileTime = nil, nil
	for i := range ac.Conditions {
		ac.Conditions[i].LastTransitionTime = metav1.Time{}
	}
	for i := range bc.Conditions {
		bc.Conditions[i].LastTransitionTime = metav1.Time{}
	}
	return equality.Semantic.DeepEqual(ac, bc)
}
