package controller

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/tiering"
)

// applyPlan writes a plan into a policy's status. history holds the records of the policy's
// live TierMigrations; records of TierMigrations since deleted are kept from the status.
func applyPlan(policy *storagev1.StoragePolicy, plan tiering.PolicyPlan, active int32, history []storagev1.MigrationRecord, now metav1.Time) {
	st := &policy.Status
	gen := policy.Generation
	st.ObservedGeneration = gen
	st.LastReconcileTime = &now
	st.VolumesWatched = int32(plan.Counts.Watched)
	st.NVMeVolumes, st.SATAVolumes = int32(plan.Counts.NVMe), int32(plan.Counts.SATA)
	st.UnknownVolumes, st.PlannedMigrations = int32(plan.Counts.Unknown), int32(plan.Counts.Planned)
	st.ActiveMigrations = active
	st.WaitingApproval = int32(plan.Counts.WaitingApproval)
	st.NextWindowOpens, st.WindowCloses = nil, nil
	if w := plan.Window; w.Configured && plan.Ready.Status == metav1.ConditionTrue {
		if w.Open {
			st.WindowCloses = ptr.To(metav1.NewTime(w.Closes))
		} else {
			st.NextWindowOpens = ptr.To(metav1.NewTime(w.NextOpens))
		}
	}
	st.RecentMigrations = mergeHistory(st.RecentMigrations, history)
	for _, c := range []struct {
		typ  string
		cond tiering.Condition
	}{{storagev1.ConditionStorageAvailable, plan.Storage}, {storagev1.ConditionMetricsAvailable, plan.Metrics}, {storagev1.ConditionReady, plan.Ready}} {
		if c.cond.Status == "" {
			continue // not evaluated (an invalid or disabled policy): the last word stands
		}
		meta.SetStatusCondition(&st.Conditions, c.cond.As(c.typ, gen))
	}
}

// liveHistory builds the records of a policy's TierMigrations still in the API server.
func (r *StoragePolicyReconciler) liveHistory(ctx context.Context, policy string) ([]storagev1.MigrationRecord, error) {
	var tms storagev1.TierMigrationList
	if err := r.Client.List(ctx, &tms, client.MatchingLabels{storagev1.LabelPolicy: policy}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list TierMigrations of StoragePolicy %s: %w", policy, err)
	}
	records := make([]storagev1.MigrationRecord, 0, len(tms.Items))
	for i := range tms.Items {
		tm := &tms.Items[i]
		rec := storagev1.MigrationRecord{
			Volume: tm.Spec.VolumeID, TierMigration: tm.Name, From: tm.Status.SourceTier, To: tm.Spec.TargetTier,
			ObservedIOPS: tm.Spec.Reason.ObservedIOPS, Phase: phaseOrPending(tm.Status.Phase), Message: historyMessage(tm),
			StartTime: tm.Status.StartTime, CompletionTime: tm.Status.CompletionTime,
		}
		// The TierMigration is the cache's own object (listed without a copy): keep none of its memory.
		records = append(records, *rec.DeepCopy())
	}
	return records, nil
}

// mergeHistory merges the status's records with those of live TierMigrations (which win for the
// same TierMigration), newest first, at most maxHistory: finished TierMigrations may be deleted
// (garbage-collected) and their records stay.
func mergeHistory(recorded, live []storagev1.MigrationRecord) []storagev1.MigrationRecord {
	byName := make(map[string]storagev1.MigrationRecord, len(recorded)+len(live))
	var unnamed []storagev1.MigrationRecord
	for _, rec := range recorded {
		if rec.TierMigration == "" {
			unnamed = append(unnamed, rec)
			continue
		}
		byName[rec.TierMigration] = rec
	}
	for _, rec := range live {
		byName[rec.TierMigration] = rec
	}
	merged := append(unnamed, slices.Collect(maps.Values(byName))...)
	slices.SortStableFunc(merged, func(a, b storagev1.MigrationRecord) int {
		if c := recordTime(b).Compare(recordTime(a)); c != 0 {
			return c
		}
		return strings.Compare(b.TierMigration, a.TierMigration)
	})
	if len(merged) > maxHistory {
		merged = merged[:maxHistory]
	}
	if len(merged) == 0 {
		return nil
	}
	return merged
}

// recordTime orders records: a migration that has not started yet is the newest.
func recordTime(r storagev1.MigrationRecord) time.Time {
	switch {
	case r.StartTime != nil:
		return r.StartTime.Time
	case r.CompletionTime != nil:
		return r.CompletionTime.Time
	}
	return time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
}
