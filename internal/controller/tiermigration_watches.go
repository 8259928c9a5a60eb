package controller

import (
	"context"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

// What wakes the TierMigration reconciler.

// metadataChanged: status writes are the controller's own; only spec, metadata (the approval
// annotations among it) and deletion wake it.
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

// slotFreed: a migration that leaves flight (ends, or is deleted) frees a slot.
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

// pending lists the Pending migrations, to wake when a slot is freed.
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
