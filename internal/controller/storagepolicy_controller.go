package controller

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

// StoragePolicyReconciler keeps each StoragePolicy's status true to what the operator sees.
type StoragePolicyReconciler struct {
	Client   client.Client
	Recorder events.EventRecorder
	Clock    clock.PassiveClock
	Options  Options
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

// Reconcile checks the policy's parts the API server cannot check and writes its status.
func (r *StoragePolicyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	start := r.Clock.Now()
	ReconcileTotal.Inc()
	defer func() { ReconcileDuration.WithLabelValues("StoragePolicy").Observe(r.Clock.Since(start).Seconds()) }()

	var policy storagev1.StoragePolicy
	if err := r.Client.Get(ctx, req.NamespacedName, &policy); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := policy.Status.DeepCopy()

	now := metav1.NewTime(r.Clock.Now())
	policy.Status.ObservedGeneration = policy.Generation
	policy.Status.LastReconcileTime = &now

	ready := metav1.Condition{Type: storagev1.ConditionReady, ObservedGeneration: policy.Generation}
	if err := validateSelectors(&policy.Spec); err != nil {
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, "InvalidSpec", err.Error()
		r.Recorder.Eventf(&policy, nil, "Warning", "InvalidSpec", "Validate", "%v", err)
	} else if !policy.IsEnabled() {
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, "Disabled", "spec.enabled is false: the policy watches nothing and starts no migration"
	} else {
		ready.Status, ready.Reason, ready.Message = metav1.ConditionTrue, "Accepted", "policy is valid"
	}
	meta.SetStatusCondition(&policy.Status.Conditions, ready)

	if !equalStatus(before, &policy.Status) {
		if err := r.Client.Status().Update(ctx, &policy); err != nil {
			return ctrl.Result{}, fmt.Errorf("update status of StoragePolicy %s: %w", policy.Name, err)
		}
	}
	return ctrl.Result{RequeueAfter: time.Minute}, nil
}

// validateSelectors refuses what the CRD schema cannot: label selectors with a bad operator or
// label syntax.
func validateSelectors(spec *storagev1.StoragePolicySpec) error {
	for name, sel := range map[string]*metav1.LabelSelector{
		"spec.nvmePoolSelector": &spec.NVMePoolSelector,
		"spec.sataPoolSelector": &spec.SATAPoolSelector,
		"spec.volumeSelector":   spec.VolumeSelector,
	} {
		if sel == nil {
			continue
		}
		if _, err := metav1.LabelSelectorAsSelector(sel); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if s, _ := metav1.LabelSelectorAsSelector(&spec.NVMePoolSelector); s != nil && s.Empty() {
		return fmt.Errorf("spec.nvmePoolSelector: must not be empty, or every pool would be NVMe")
	}
	if s, _ := metav1.LabelSelectorAsSelector(&spec.SATAPoolSelector); s != nil && s.Empty() {
		return fmt.Errorf("spec.sataPoolSelector: must not be empty, or every pool would be SATA")
	}
	return nil
}

// equalStatus compares two statuses ignoring LastReconcileTime, so an unchanged policy is not
// rewritten on every resync.
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
