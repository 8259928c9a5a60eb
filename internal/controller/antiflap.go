package controller

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/tiering"
)

// The anti-flap record on a PV (its moves annotation) is written by both reconcilers: the
// StoragePolicy reconciler when it starts a move, the TierMigration reconciler when a move
// waiting for approval is approved.

// recordApprovedMove writes an approved real move into the PV's anti-flap record (a migration
// created waiting for approval is recorded when approved, not when asked for: a rejected or
// expired one moved nothing), with the policy's anti-flap rule, and says so on the PVC when it
// is a flip. A failure is logged: the migration goes on.
func (r *TierMigrationReconciler) recordApprovedMove(ctx context.Context, tm *storagev1.TierMigration, policy *storagev1.StoragePolicy, pvc *corev1.ObjectReference) {
	logger := log.FromContext(ctx)
	if tm.Spec.DryRun || tm.Spec.PersistentVolumeName == "" {
		return
	}
	if policy == nil {
		logger.Info("anti-flap record not written: no StoragePolicy", "volume", tm.Spec.VolumeID)
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

// recordMoveOnPV folds a real move to tier to, at at, into the moves annotation of PV pvName
// and says whether it is a flip. The PV is read with reader (past the cache, when it can) and
// patched under its resourceVersion, so two writers never lose a flip.
func recordMoveOnPV(ctx context.Context, reader client.Reader, writer client.Client, af tiering.AntiFlap, pvName string, to storagev1.Tier, at time.Time) (next tiering.MoveRecord, flip bool, err error) {
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var pv corev1.PersistentVolume
		if err := reader.Get(ctx, types.NamespacedName{Name: pvName}, &pv); err != nil {
			return err
		}
		prev, _ := tiering.ParseMoveRecord(pv.Annotations[storagev1.AnnotationMoves]) // unreadable: no record
		next, _, flip = af.Record(prev, to, at, false)
		patch := client.MergeFromWithOptions(pv.DeepCopy(), client.MergeFromWithOptimisticLock{})
		if pv.Annotations == nil {
			pv.Annotations = map[string]string{}
		}
		pv.Annotations[storagev1.AnnotationMoves] = next.String()
		return writer.Patch(ctx, &pv, patch)
	})
	if err != nil {
		return next, false, fmt.Errorf("record the move to %s on PersistentVolume %s: %w", to, pvName, err)
	}
	return next, flip, nil
}

// flipNote is the Event's note when a flip is recorded.
func flipNote(af tiering.AntiFlap, rec tiering.MoveRecord, volume string) string {
	return fmt.Sprintf("flip %d: cooldown extended to %s (volume %s moved back to %s within %d cooldowns of its previous move; cooldownPeriod %s, at most %s)",
		rec.Flips, af.Cooldown(rec.Flips), volume, rec.To, af.WindowCooldowns, af.Base, af.Max)
}
