package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

// Finished-migration retention: defaults of --finished-migration-ttl and
// --finished-migrations-per-volume, and how often the collector runs.
const (
	DefaultFinishedMigrationTTL        = 7 * 24 * time.Hour
	DefaultFinishedMigrationsPerVolume = 3
	DefaultMigrationGCInterval         = 5 * time.Minute
	// HistoryKeptPerPolicy is status.recentMigrations' bound (its CRD maxItems): a policy's
	// history is rebuilt from its newest TierMigrations on every evaluation, so the collector
	// keeps that many of each existing policy's TierMigrations.
	HistoryKeptPerPolicy = 20
)

// TierMigrationsDeletedTotal counts the finished TierMigrations the collector deleted.
var TierMigrationsDeletedTotal = prometheus.NewCounter(prometheus.CounterOpts{
	Name: "storage_operator_tiermigrations_deleted_total",
	Help: "Finished TierMigrations deleted by the garbage collector (older than --finished-migration-ttl, beyond the newest --finished-migrations-per-volume of their volume, and needed neither for cooldown nor for a policy's history).",
})

func init() { crmetrics.Registry.MustRegister(TierMigrationsDeletedTotal) }

// Retention says which finished TierMigrations are kept.
type Retention struct {
	// TTL: a finished migration is kept at most this long after it ended (unless a rule below
	// protects it).
	TTL time.Duration
	// PerVolume: at most the newest PerVolume finished migrations of each volume are kept
	// (unless a rule below protects an older one); 0 means no count limit.
	PerVolume int
	// LongestCooldown is the longest cooldownPeriod among the StoragePolicies. Cooldown counts
	// from a volume's newest migration (newest real one for real moves, newest of any kind for
	// dry runs), so those two are kept until LongestCooldown has passed since they ended.
	LongestCooldown time.Duration
	// Policies are the names of the existing StoragePolicies: the newest HistoryPerPolicy
	// TierMigrations of each (by creation) are kept, for the policy's status.recentMigrations.
	Policies         []string
	HistoryPerPolicy int
}

// KeepReason says why a finished TierMigration is not deleted; "" means it is deleted.
type KeepReason string

// Why a TierMigration is kept, in the order the rules are tried.
const (
	KeepNotFinished       KeepReason = "NotFinished"       // Pending or in flight: never collected
	KeepFinalizer         KeepReason = "Finalizer"         // a finalizer is still set (cordons not yet released...)
	KeepBeingDeleted      KeepReason = "BeingDeleted"      // already deleted, waiting for its finalizer
	KeepWithinLimits      KeepReason = "WithinLimits"      // ended less than TTL ago and among the newest PerVolume of its volume
	KeepCooldownSource    KeepReason = "CooldownSource"    // a policy's cooldown may still count from it
	KeepPolicyHistory     KeepReason = "PolicyHistory"     // in an existing policy's status.recentMigrations
	KeepKeptReplicaRecord KeepReason = "KeptReplicaRecord" // the volume's latest record of a kept extra replica, or what supersedes one
	KeepNone              KeepReason = ""                  // not kept: deleted
)

// RetentionDecision is the collector's verdict on one TierMigration.
type RetentionDecision struct {
	TM   *storagev1.TierMigration
	Keep KeepReason
	// Ended is when the migration ended (its completionTime, else its creation).
	Ended time.Time
	// VolumeRank is its place among its volume's finished migrations, newest 0 (-1: not finished).
	VolumeRank int
}

// migrationEnd is the time cooldown counts from, as the policy reconciler reads it: the
// completion time, else (not ended, or ended without one) the creation time.
func migrationEnd(tm *storagev1.TierMigration) time.Time {
	if tm.Status.CompletionTime != nil {
		return tm.Status.CompletionTime.Time
	}
	return tm.CreationTimestamp.Time
}

func isDryRunMigration(tm *storagev1.TierMigration) bool { return tm.Spec.DryRun || tm.Status.DryRun }

// policyKeys are the policy names a TierMigration is filed under: its policy label (what the
// policy reconciler lists its history by) and spec.policyName.
func policyKeys(tm *storagev1.TierMigration) []string {
	l, s := tm.Labels[storagev1.LabelPolicy], tm.Spec.PolicyName
	switch {
	case l == "" && s == "":
		return nil
	case l == "" || l == s:
		return []string{s}
	case s == "":
		return []string{l}
	}
	return []string{l, s}
}

// DecideRetention is the collector's decision, a pure function of the TierMigrations, the clock
// and the retention settings. It returns one decision per TierMigration, in the order given. A
// TierMigration is deleted only when every rule lets it go:
//
//  1. it has ended (Completed or Failed);
//  2. it has no finalizer and is not already being deleted;
//  3. it ended more than TTL ago, or it is not among the newest PerVolume finished migrations
//     of its volume (either limit lets it go);
//  5. it is not its volume's newest finished migration, nor its newest finished real (not
//     dry-run) one, while LongestCooldown has not passed since it ended: cooldown survives;
//  6. it is not among the newest HistoryPerPolicy migrations of an existing policy: the
//     policy's history survives;
//  7. it is not its volume's latest completed migration (by completionTime, as
//     storage_operator_kept_extra_replicas reads them) when that records status.keptReplicas,
//     or when an older record of kept replicas stays: the gauge survives.
func DecideRetention(tms []*storagev1.TierMigration, now time.Time, r Retention) []RetentionDecision {
	out := make([]RetentionDecision, len(tms))
	newerFirst := func(a, b int) int {
		ea, eb := out[a].Ended, out[b].Ended
		if c := eb.Compare(ea); c != 0 {
			return c
		}
		return strings.Compare(tms[a].Name, tms[b].Name)
	}
	byVolume := map[string][]int{} // finished migrations per volume
	for i, tm := range tms {
		out[i] = RetentionDecision{TM: tm, Ended: migrationEnd(tm)}
		if tm.Status.Phase.IsTerminal() {
			byVolume[tm.Spec.VolumeID] = append(byVolume[tm.Spec.VolumeID], i)
		}
	}
	rank := make([]int, len(tms))            // rank among its volume's finished migrations, newest 0
	cooldownSource := make([]bool, len(tms)) // newest finished (any / real) of its volume
	for _, idx := range byVolume {
		slices.SortFunc(idx, newerFirst)
		realSeen := false
		for n, i := range idx {
			rank[i] = n
			if n == 0 {
				cooldownSource[i] = true
			}
			if !realSeen && !isDryRunMigration(tms[i]) {
				realSeen = true
				cooldownSource[i] = true
			}
		}
	}
	history := map[int]bool{}
	if r.HistoryPerPolicy > 0 && len(r.Policies) > 0 {
		exists := map[string]bool{}
		for _, p := range r.Policies {
			exists[p] = true
		}
		byPolicy := map[string][]int{}
		for i, tm := range tms {
			for _, p := range policyKeys(tm) {
				if exists[p] {
					byPolicy[p] = append(byPolicy[p], i)
				}
			}
		}
		for _, idx := range byPolicy {
			// The reconciler's order: newest created first.
			slices.SortFunc(idx, func(a, b int) int {
				if c := tms[b].CreationTimestamp.Compare(tms[a].CreationTimestamp.Time); c != 0 {
					return c
				}
				return strings.Compare(tms[a].Name, tms[b].Name)
			})
			for _, i := range idx[:min(len(idx), r.HistoryPerPolicy)] {
				history[i] = true
			}
		}
	}
	latestCompleted := map[string]int{} // by volume, the ordering of migration.KeptExtraReplicaVolumes
	for i, tm := range tms {
		if !tm.Status.Phase.IsTerminal() || tm.Status.CompletionTime == nil {
			continue
		}
		j, ok := latestCompleted[tm.Spec.VolumeID]
		if cur := tms[j]; !ok || cur.Status.CompletionTime.Before(tm.Status.CompletionTime) ||
			cur.Status.CompletionTime.Equal(tm.Status.CompletionTime) && cur.Name < tm.Name {
			latestCompleted[tm.Spec.VolumeID] = i
		}
	}
	for i, tm := range tms {
		d := &out[i]
		d.VolumeRank = -1
		if tm.Status.Phase.IsTerminal() {
			d.VolumeRank = rank[i]
		}
		age := now.Sub(d.Ended)
		switch {
		case !tm.Status.Phase.IsTerminal():
			d.Keep = KeepNotFinished
		case len(tm.Finalizers) > 0:
			d.Keep = KeepFinalizer
		case tm.DeletionTimestamp != nil:
			d.Keep = KeepBeingDeleted
		case age <= r.TTL && (r.PerVolume <= 0 || rank[i] < r.PerVolume):
			d.Keep = KeepWithinLimits
		case cooldownSource[i] && age <= r.LongestCooldown:
			d.Keep = KeepCooldownSource
		case history[i]:
			d.Keep = KeepPolicyHistory
		case isLatestCompleted(latestCompleted, tm, i) && len(tm.Status.KeptReplicas) > 0:
			d.Keep = KeepKeptReplicaRecord
		default:
			d.Keep = KeepNone
		}
	}
	// A latest completed migration that supersedes an older record of kept replicas stays while
	// that record does: deleting it alone would bring the older record back.
	keptRecord := map[string]bool{}
	for i, tm := range tms {
		if out[i].Keep != KeepNone && tm.Status.CompletionTime != nil && len(tm.Status.KeptReplicas) > 0 {
			keptRecord[tm.Spec.VolumeID] = true
		}
	}
	for vol, i := range latestCompleted {
		if out[i].Keep == KeepNone && keptRecord[vol] {
			out[i].Keep = KeepKeptReplicaRecord
		}
	}
	return out
}

func isLatestCompleted(latest map[string]int, tm *storagev1.TierMigration, i int) bool {
	j, ok := latest[tm.Spec.VolumeID]
	return ok && j == i
}

// LongestCooldown is the longest cooldownPeriod among the policies (unparsable ones, which
// decide nothing, are skipped), or 0 without policies.
func LongestCooldown(policies []storagev1.StoragePolicy) time.Duration {
	var longest time.Duration
	for i := range policies {
		if d, err := time.ParseDuration(policies[i].Spec.CooldownPeriod); err == nil && d > longest {
			longest = d
		}
	}
	return longest
}

// MigrationStore is what the collector needs of the API server; a controller-runtime client
// has it.
type MigrationStore interface {
	List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error
	Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error
}

// TierMigrationGC deletes finished TierMigrations that are no longer needed (DecideRetention),
// at start-up and every Interval, on the leader only.
type TierMigrationGC struct {
	Client    MigrationStore
	TTL       time.Duration
	PerVolume int
	Interval  time.Duration
	Clock     clock.PassiveClock
}

var _ manager.LeaderElectionRunnable = (*TierMigrationGC)(nil)

// NeedLeaderElection: only the leader deletes.
func (g *TierMigrationGC) NeedLeaderElection() bool { return true }

// Start collects at once, then every Interval, until ctx ends. A failed pass is logged and tried
// again at the next tick.
func (g *TierMigrationGC) Start(ctx context.Context) error {
	interval := g.Interval
	if interval <= 0 {
		interval = DefaultMigrationGCInterval
	}
	logger := log.FromContext(ctx).WithName("tiermigration-gc")
	ctx = log.IntoContext(ctx, logger)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := g.Collect(ctx); err != nil && ctx.Err() == nil {
			logger.Error(err, "collecting finished TierMigrations failed; trying again at the next interval", "interval", interval)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// GCResult says what one pass saw and did.
type GCResult struct {
	// Listed TierMigrations, and how many had ended.
	Listed, Finished int
	// Deleted names the TierMigrations deleted.
	Deleted []string
	// Kept counts the finished TierMigrations kept, by reason.
	Kept map[KeepReason]int
}

// Collect runs one pass: it lists the TierMigrations and StoragePolicies, decides, and deletes.
// Each delete is conditional on the object being unchanged since it was listed (UID and
// resourceVersion), so one that changed meanwhile is left to the next pass.
func (g *TierMigrationGC) Collect(ctx context.Context) (GCResult, error) {
	res := GCResult{Kept: map[KeepReason]int{}}
	now := time.Now()
	if g.Clock != nil {
		now = g.Clock.Now()
	}
	var policies storagev1.StoragePolicyList
	if err := g.Client.List(ctx, &policies, client.UnsafeDisableDeepCopy); err != nil {
		return res, fmt.Errorf("list StoragePolicies: %w", err)
	}
	var list storagev1.TierMigrationList
	if err := g.Client.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return res, fmt.Errorf("list TierMigrations: %w", err)
	}
	names := make([]string, len(policies.Items))
	for i := range policies.Items {
		names[i] = policies.Items[i].Name
	}
	tms := make([]*storagev1.TierMigration, len(list.Items))
	for i := range list.Items {
		tms[i] = &list.Items[i]
	}
	r := Retention{TTL: g.TTL, PerVolume: g.PerVolume, LongestCooldown: LongestCooldown(policies.Items),
		Policies: names, HistoryPerPolicy: HistoryKeptPerPolicy}
	decisions := DecideRetention(tms, now, r)
	res.Listed = len(tms)
	logger := log.FromContext(ctx)
	var errs []string
	for _, d := range decisions {
		if d.Keep == KeepNotFinished {
			continue
		}
		res.Finished++
		if d.Keep != KeepNone {
			res.Kept[d.Keep]++
			continue
		}
		// The listed object is the cache's own: the delete gets a fresh one with the
		// preconditions copied out of it.
		uid, rv := d.TM.UID, d.TM.ResourceVersion
		victim := &storagev1.TierMigration{ObjectMeta: metav1.ObjectMeta{Name: d.TM.Name, Namespace: d.TM.Namespace}}
		err := g.Client.Delete(ctx, victim, client.Preconditions{UID: &uid, ResourceVersion: &rv})
		switch {
		case err == nil:
			res.Deleted = append(res.Deleted, victim.Name)
			TierMigrationsDeletedTotal.Inc()
			logger.V(1).Info("deleted a finished TierMigration", "name", victim.Name, "volume", d.TM.Spec.VolumeID,
				"phase", d.TM.Status.Phase, "ended", d.Ended)
		case apierrors.IsNotFound(err), apierrors.IsConflict(err):
			// Gone already, or changed since listed: the next pass decides again.
		default:
			errs = append(errs, fmt.Sprintf("delete TierMigration %s: %v", victim.Name, err))
		}
	}
	slices.Sort(res.Deleted)
	if len(res.Deleted) > 0 {
		logger.Info("deleted finished TierMigrations", "deleted", len(res.Deleted), "listed", res.Listed,
			"finished", res.Finished, "ttl", g.TTL, "perVolume", g.PerVolume, "longestCooldown", r.LongestCooldown)
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return res, nil
}

// SetupTierMigrationGC adds the finished-TierMigration collector to mgr. It reads through the
// manager's cache (TierMigrations and StoragePolicies are watched anyway); its deletes carry
// preconditions, so a stale cache never deletes an object that changed.
func SetupTierMigrationGC(mgr manager.Manager, ttl time.Duration, perVolume int) error {
	return mgr.Add(&TierMigrationGC{Client: mgr.GetClient(), TTL: ttl, PerVolume: perVolume, Interval: DefaultMigrationGCInterval})
}
