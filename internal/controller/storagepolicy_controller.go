package controller

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/promwatch"
	"github.com/billyronks/couchestor/internal/tiering"
)

// MayastorCSIDriver is the CSI driver name of Mayastor persistent volumes.
const MayastorCSIDriver = "io.openebs.csi-mayastor"

// resyncInterval is how often a policy is re-evaluated when nothing about it changes.
const resyncInterval = 30 * time.Second

// StoragePolicyReconciler keeps each StoragePolicy's status true to what the operator sees:
// which of its volumes are on which tier, which have IOPS data, and whether Prometheus and
// Mayastor answer.
//
// Planning and starting migrations from these observations is the tiering engine's job and is
// not done here yet.
type StoragePolicyReconciler struct {
	Client   client.Client
	Recorder events.EventRecorder
	Clock    clock.PassiveClock
	Options  Options
	Mayastor *mayastor.Client
	IOPS     *promwatch.Watcher
}

// SetupWithManager watches StoragePolicy objects.
func (r *StoragePolicyReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&storagev1.StoragePolicy{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Named("storagepolicy").
		Complete(r)
}

// Reconcile evaluates one policy and writes its status.
func (r *StoragePolicyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	start := r.Clock.Now()
	ReconcileTotal.Inc()
	defer func() { ReconcileDuration.WithLabelValues("StoragePolicy").Observe(r.Clock.Since(start).Seconds()) }()
	logger := log.FromContext(ctx)

	var policy storagev1.StoragePolicy
	if err := r.Client.Get(ctx, req.NamespacedName, &policy); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := policy.Status.DeepCopy()
	now := metav1.NewTime(start)
	policy.Status.ObservedGeneration = policy.Generation
	policy.Status.LastReconcileTime = &now

	ready := r.evaluate(ctx, &policy)
	ready.Type, ready.ObservedGeneration = storagev1.ConditionReady, policy.Generation
	if old := meta.FindStatusCondition(before.Conditions, storagev1.ConditionReady); ready.Status == metav1.ConditionFalse &&
		(old == nil || old.Status != metav1.ConditionFalse || old.Reason != ready.Reason) {
		r.Recorder.Eventf(&policy, nil, corev1.EventTypeWarning, ready.Reason, "Evaluate", "%s", ready.Message)
	}
	meta.SetStatusCondition(&policy.Status.Conditions, ready)
	logger.V(1).Info("evaluated policy", "ready", ready.Status, "reason", ready.Reason,
		"watched", policy.Status.VolumesWatched, "nvme", policy.Status.NVMeVolumes, "sata", policy.Status.SATAVolumes,
		"unknown", policy.Status.UnknownVolumes, "took", r.Clock.Since(start))

	if !equalStatus(before, &policy.Status) {
		if err := r.Client.Status().Update(ctx, &policy); err != nil {
			return ctrl.Result{}, fmt.Errorf("update status of StoragePolicy %s: %w", policy.Name, err)
		}
	}
	return ctrl.Result{RequeueAfter: resyncInterval}, nil
}

// evaluate fills the policy's counts and its MetricsAvailable and StorageAvailable conditions,
// and returns what its Ready condition should say.
func (r *StoragePolicyReconciler) evaluate(ctx context.Context, policy *storagev1.StoragePolicy) metav1.Condition {
	spec := &policy.Spec
	gen := policy.Generation
	sels, err := compileSelectors(spec)
	if err != nil {
		return metav1.Condition{Status: metav1.ConditionFalse, Reason: "InvalidSpec", Message: err.Error()}
	}
	if !policy.IsEnabled() {
		return metav1.Condition{Status: metav1.ConditionFalse, Reason: "Disabled",
			Message: "spec.enabled is false: the policy watches nothing and starts no migration"}
	}
	window, err := time.ParseDuration(spec.SamplingWindow)
	if err != nil { // the CRD refuses this; an object stored before the rule existed may not
		return metav1.Condition{Status: metav1.ConditionFalse, Reason: "InvalidSpec", Message: "spec.samplingWindow: " + err.Error()}
	}

	// The volumes the policy selects: Mayastor PVs of its StorageClass (and volumeSelector).
	var pvs corev1.PersistentVolumeList
	if err := r.Client.List(ctx, &pvs); err != nil {
		return metav1.Condition{Status: metav1.ConditionFalse, Reason: "KubernetesError", Message: "list PersistentVolumes: " + err.Error()}
	}
	watched := map[string]bool{}
	for i := range pvs.Items {
		pv := &pvs.Items[i]
		if pv.Spec.CSI == nil || pv.Spec.CSI.Driver != MayastorCSIDriver || pv.Spec.StorageClassName != spec.StorageClassName {
			continue
		}
		if sels.volumes != nil && !sels.volumes.Matches(labels.Set(pv.Labels)) {
			continue
		}
		watched[pv.Spec.CSI.VolumeHandle] = true
	}
	policy.Status.VolumesWatched = int32(len(watched))

	storage := r.observeStorage(ctx, policy, sels, watched)
	storage.Type, storage.ObservedGeneration = storagev1.ConditionStorageAvailable, gen
	meta.SetStatusCondition(&policy.Status.Conditions, storage)

	metrics := r.observeIOPS(ctx, policy, window, watched)
	metrics.Type, metrics.ObservedGeneration = storagev1.ConditionMetricsAvailable, gen
	meta.SetStatusCondition(&policy.Status.Conditions, metrics)

	switch {
	case storage.Status != metav1.ConditionTrue:
		return metav1.Condition{Status: metav1.ConditionFalse, Reason: storage.Reason, Message: storage.Message}
	case metrics.Status != metav1.ConditionTrue:
		return metav1.Condition{Status: metav1.ConditionFalse, Reason: metrics.Reason, Message: metrics.Message}
	}
	return metav1.Condition{Status: metav1.ConditionTrue, Reason: "Evaluated",
		Message: fmt.Sprintf("%d volumes watched: %d on NVMe, %d on SATA, %d without IOPS data",
			policy.Status.VolumesWatched, policy.Status.NVMeVolumes, policy.Status.SATAVolumes, policy.Status.UnknownVolumes)}
}

// observeStorage counts the watched volumes on each tier and says whether both tiers have pools.
func (r *StoragePolicyReconciler) observeStorage(ctx context.Context, policy *storagev1.StoragePolicy, sels selectors, watched map[string]bool) metav1.Condition {
	pools, err := r.Mayastor.ListPools(ctx)
	if err != nil {
		return metav1.Condition{Status: metav1.ConditionFalse, Reason: "MayastorUnavailable", Message: err.Error()}
	}
	classes := tiering.ClassifyPools(pools, sels.nvme, sels.sata)
	var nvme, sata int32
	err = r.Mayastor.WalkVolumes(ctx, func(page []mayastor.Volume) error {
		for i := range page {
			if !watched[page[i].Spec.UUID] {
				continue
			}
			switch tiering.VolumePlacement(&page[i], classes.Tiers) {
			case tiering.PlacementNVMe:
				nvme++
			case tiering.PlacementSATA:
				sata++
			}
		}
		return nil
	})
	if err != nil {
		return metav1.Condition{Status: metav1.ConditionFalse, Reason: "MayastorUnavailable", Message: err.Error()}
	}
	policy.Status.NVMeVolumes, policy.Status.SATAVolumes = nvme, sata
	if reason, msg := classes.StorageProblem(); reason != "" {
		return metav1.Condition{Status: metav1.ConditionFalse, Reason: reason, Message: msg}
	}
	return metav1.Condition{Status: metav1.ConditionTrue, Reason: "PoolsFound",
		Message: fmt.Sprintf("%d NVMe and %d SATA pools", classes.NVMe, classes.SATA)}
}

// observeIOPS counts the watched volumes without IOPS data covering the sampling window.
// Missing data is never read as zero: such volumes are Unknown.
func (r *StoragePolicyReconciler) observeIOPS(ctx context.Context, policy *storagev1.StoragePolicy, window time.Duration, watched map[string]bool) metav1.Condition {
	res, err := r.IOPS.Evaluate(ctx, promwatch.Request{Window: window, IOPSQuery: policy.Spec.IOPSQuery, At: r.Clock.Now()})
	if err != nil {
		policy.Status.UnknownVolumes = int32(len(watched))
		return metav1.Condition{Status: metav1.ConditionFalse, Reason: promwatch.Reason(err), Message: err.Error()}
	}
	var unknown int32
	for id := range watched {
		if !res.ForVolume(id).Known {
			unknown++
		}
	}
	policy.Status.UnknownVolumes = unknown
	return metav1.Condition{Status: metav1.ConditionTrue, Reason: "QuerySucceeded",
		Message: fmt.Sprintf("IOPS over %s known for %d of %d volumes", policy.Spec.SamplingWindow, int32(len(watched))-unknown, len(watched))}
}

type selectors struct {
	nvme, sata labels.Selector
	volumes    labels.Selector // nil: every volume of the StorageClass
}

// compileSelectors refuses what the CRD schema cannot: label selectors with a bad operator or
// label syntax, and an empty pool selector that would put every pool in one tier.
func compileSelectors(spec *storagev1.StoragePolicySpec) (selectors, error) {
	var s selectors
	var err error
	if s.nvme, err = metav1.LabelSelectorAsSelector(&spec.NVMePoolSelector); err != nil {
		return s, fmt.Errorf("spec.nvmePoolSelector: %w", err)
	}
	if s.nvme.Empty() {
		return s, fmt.Errorf("spec.nvmePoolSelector: must not be empty, or every pool would be NVMe")
	}
	if s.sata, err = metav1.LabelSelectorAsSelector(&spec.SATAPoolSelector); err != nil {
		return s, fmt.Errorf("spec.sataPoolSelector: %w", err)
	}
	if s.sata.Empty() {
		return s, fmt.Errorf("spec.sataPoolSelector: must not be empty, or every pool would be SATA")
	}
	if spec.VolumeSelector != nil {
		if s.volumes, err = metav1.LabelSelectorAsSelector(spec.VolumeSelector); err != nil {
			return s, fmt.Errorf("spec.volumeSelector: %w", err)
		}
	}
	return s, nil
}

// equalStatus compares two statuses ignoring LastReconcileTime and condition transition times,
// so an unchanged policy is not rewritten on every resync.
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
