package controller

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/migration"
)

var gcNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// gcTM is a TierMigration of volume vol, created `created` before gcNow and ended `ended`
// before gcNow (ended < 0: not ended).
func gcTM(name, vol string, phase storagev1.MigrationPhase, created, ended time.Duration, opts ...func(*storagev1.TierMigration)) *storagev1.TierMigration {
	tm := &storagev1.TierMigration{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), CreationTimestamp: metav1.NewTime(gcNow.Add(-created))},
		Spec:       storagev1.TierMigrationSpec{VolumeID: vol, TargetTier: storagev1.TierNVMe},
		Status:     storagev1.TierMigrationStatus{Phase: phase},
	}
	if ended >= 0 {
		tm.Status.CompletionTime = &metav1.Time{Time: gcNow.Add(-ended)}
	}
	for _, o := range opts {
		o(tm)
	}
	return tm
}

func dryRun(tm *storagev1.TierMigration) { tm.Spec.DryRun = true }
func withFinalizer(tm *storagev1.TierMigration) {
	tm.Finalizers = []string{storagev1.FinalizerMigrationCleanup}
}
func keptReplica(tm *storagev1.TierMigration) {
	tm.Status.KeptReplicas = []storagev1.KeptReplica{{ID: "r-" + tm.Name, Reason: "PreservationMode"}}
}
func ofPolicy(p string) func(*storagev1.TierMigration) {
	return func(tm *storagev1.TierMigration) { tm.Labels = map[string]string{storagev1.LabelPolicy: p} }
}
func ofPolicySpec(p string) func(*storagev1.TierMigration) {
	return func(tm *storagev1.TierMigration) { tm.Spec.PolicyName = p }
}

const day = 24 * time.Hour

func TestDecideRetention(t *testing.T) {
	week := 7 * day
	base := Retention{TTL: week, PerVolume: 3, LongestCooldown: day}
	cases := []struct {
		name string
		tms  []*storagev1.TierMigration
		r    Retention
		want map[string]KeepReason // every TierMigration's verdict
	}{
		{
			name: "unfinished migrations are never collected, however old",
			tms: []*storagev1.TierMigration{
				gcTM("pending", "v1", storagev1.PhasePending, 100*day, -1),
				gcTM("new", "v2", "", 100*day, -1),
				gcTM("syncing", "v3", storagev1.PhaseWaitingSync, 100*day, -1),
				gcTM("rolling-back", "v4", storagev1.PhaseRollingBack, 100*day, -1),
			},
			r:    Retention{TTL: time.Second},
			want: map[string]KeepReason{"pending": KeepNotFinished, "new": KeepNotFinished, "syncing": KeepNotFinished, "rolling-back": KeepNotFinished},
		},
		{
			name: "a finalizer or a pending deletion keeps a finished migration",
			tms: []*storagev1.TierMigration{
				gcTM("fin", "v1", storagev1.PhaseCompleted, 100*day, 99*day, withFinalizer),
				gcTM("deleting", "v2", storagev1.PhaseFailed, 100*day, 99*day, func(tm *storagev1.TierMigration) {
					tm.DeletionTimestamp = &metav1.Time{Time: gcNow}
				}),
			},
			r:    Retention{TTL: time.Second},
			want: map[string]KeepReason{"fin": KeepFinalizer, "deleting": KeepBeingDeleted},
		},
		{
			name: "the TTL counts from the end, not the creation",
			tms: []*storagev1.TierMigration{
				gcTM("old-but-just-ended", "v1", storagev1.PhaseCompleted, 30*day, 6*day),
				gcTM("ended-long-ago", "v2", storagev1.PhaseFailed, 30*day, 8*day),
				gcTM("no-completion-time", "v3", storagev1.PhaseFailed, 8*day, -1),
			},
			r:    Retention{TTL: week},
			want: map[string]KeepReason{"old-but-just-ended": KeepWithinLimits, "ended-long-ago": KeepNone, "no-completion-time": KeepNone},
		},
		{
			name: "past the TTL a migration goes, and beyond the newest per volume even a young one",
			tms: []*storagev1.TierMigration{
				gcTM("a1", "va", storagev1.PhaseCompleted, 60*day, 60*day),
				gcTM("a2", "va", storagev1.PhaseFailed, 50*day, 50*day),
				gcTM("a6-young", "va", storagev1.PhaseCompleted, 2*day, 2*day),
				gcTM("a7-running", "va", storagev1.PhaseScalingUp, time.Hour, -1),
				gcTM("b1", "vb", storagev1.PhaseCompleted, 60*day, 60*day),
				gcTM("c1", "vc", storagev1.PhaseCompleted, 6*day, 6*day),
				gcTM("c2", "vc", storagev1.PhaseCompleted, 5*day, 5*day),
				gcTM("c3", "vc", storagev1.PhaseCompleted, 4*day, 4*day),
				gcTM("c4", "vc", storagev1.PhaseCompleted, 3*day, 3*day),
				gcTM("c5", "vc", storagev1.PhaseCompleted, 2*day, 2*day),
			},
			r: base,
			want: map[string]KeepReason{
				"a7-running": KeepNotFinished, "a6-young": KeepWithinLimits, "a2": KeepNone, "a1": KeepNone, "b1": KeepNone,
				"c5": KeepWithinLimits, "c4": KeepWithinLimits, "c3": KeepWithinLimits, "c2": KeepNone, "c1": KeepNone,
			},
		},
		{
			name: "with no count kept, the newest of a volume stays while a cooldown could count from it",
			tms: []*storagev1.TierMigration{
				gcTM("x-newest", "vx", storagev1.PhaseCompleted, 11*day, 10*day),
				gcTM("x-older", "vx", storagev1.PhaseCompleted, 21*day, 20*day),
				gcTM("y-newest", "vy", storagev1.PhaseFailed, 41*day, 40*day),
			},
			r:    Retention{TTL: week, PerVolume: 0, LongestCooldown: 30 * day},
			want: map[string]KeepReason{"x-newest": KeepCooldownSource, "x-older": KeepNone, "y-newest": KeepNone},
		},
		{
			name: "the newest real move is kept for cooldown even behind newer dry runs",
			tms: []*storagev1.TierMigration{
				gcTM("dry-1", "v", storagev1.PhaseCompleted, 9*day, 9*day, dryRun),
				gcTM("dry-2", "v", storagev1.PhaseCompleted, 10*day, 10*day, func(tm *storagev1.TierMigration) { tm.Status.DryRun = true }),
				gcTM("real-newest", "v", storagev1.PhaseCompleted, 12*day, 12*day),
				gcTM("real-older", "v", storagev1.PhaseCompleted, 13*day, 13*day),
			},
			r: Retention{TTL: week, PerVolume: 1, LongestCooldown: 14 * day},
			want: map[string]KeepReason{
				"dry-1": KeepCooldownSource, "dry-2": KeepNone, "real-newest": KeepCooldownSource, "real-older": KeepNone,
			},
		},
		{
			name: "cooldown over: nothing is kept for it",
			tms: []*storagev1.TierMigration{
				gcTM("dry", "v", storagev1.PhaseCompleted, 9*day, 9*day, dryRun),
				gcTM("real", "v", storagev1.PhaseCompleted, 12*day, 12*day),
			},
			r:    Retention{TTL: week, PerVolume: 0, LongestCooldown: 8 * day},
			want: map[string]KeepReason{"dry": KeepNone, "real": KeepNone},
		},
		{
			name: "the newest migrations of an existing policy are kept for its history",
			tms: []*storagev1.TierMigration{
				gcTM("p-1", "v1", storagev1.PhaseCompleted, 30*day, 30*day, ofPolicy("p")),
				gcTM("p-2", "v2", storagev1.PhaseCompleted, 20*day, 20*day, ofPolicy("p")),
				gcTM("p-3", "v3", storagev1.PhaseCompleted, 10*day, 10*day, ofPolicy("p")),
				gcTM("p-4-running", "v4", storagev1.PhaseScalingUp, 9*day, -1, ofPolicy("p")),
				gcTM("q-long-name", "v5", storagev1.PhaseCompleted, 10*day, 10*day, ofPolicySpec("q")),
				gcTM("gone-1", "v6", storagev1.PhaseCompleted, 10*day, 10*day, ofPolicy("gone")),
				gcTM("manual", "v7", storagev1.PhaseCompleted, 10*day, 10*day),
			},
			r: Retention{TTL: week, Policies: []string{"p", "q"}, HistoryPerPolicy: 3},
			want: map[string]KeepReason{
				"p-4-running": KeepNotFinished, "p-3": KeepPolicyHistory, "p-2": KeepPolicyHistory, "p-1": KeepNone,
				"q-long-name": KeepPolicyHistory, "gone-1": KeepNone, "manual": KeepNone,
			},
		},
		{
			name: "a volume's latest record of kept replicas stays, and so does what supersedes one",
			tms: []*storagev1.TierMigration{
				gcTM("k-kept-latest", "vk", storagev1.PhaseCompleted, 50*day, 40*day, keptReplica),
				gcTM("k-older", "vk", storagev1.PhaseCompleted, 60*day, 50*day),
				gcTM("s-newer", "vs", storagev1.PhaseCompleted, 50*day, 40*day),
				gcTM("s-kept-older-held", "vs", storagev1.PhaseCompleted, 60*day, 50*day, keptReplica, withFinalizer),
				gcTM("t-newer", "vt", storagev1.PhaseCompleted, 50*day, 40*day),
				gcTM("t-kept-older", "vt", storagev1.PhaseCompleted, 60*day, 50*day, keptReplica),
				gcTM("u-kept-no-end", "vu", storagev1.PhaseFailed, 60*day, -1, keptReplica),
			},
			r: Retention{TTL: week},
			want: map[string]KeepReason{
				"k-kept-latest": KeepKeptReplicaRecord, "k-older": KeepNone,
				"s-newer": KeepKeptReplicaRecord, "s-kept-older-held": KeepFinalizer,
				"t-newer": KeepNone, "t-kept-older": KeepNone, "u-kept-no-end": KeepNone,
			},
		},
		{
			name: "a policy's history follows creation order, as status.recentMigrations does",
			tms: []*storagev1.TierMigration{
				// Created first but ended last: the reconciler lists it after the other.
				gcTM("created-first", "v1", storagev1.PhaseCompleted, 30*day, 8*day, ofPolicy("p")),
				gcTM("created-last", "v2", storagev1.PhaseCompleted, 20*day, 19*day, ofPolicy("p")),
			},
			r:    Retention{TTL: week, Policies: []string{"p"}, HistoryPerPolicy: 1},
			want: map[string]KeepReason{"created-first": KeepNone, "created-last": KeepPolicyHistory},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := DecideRetention(tc.tms, gcNow, tc.r)
			if len(got) != len(tc.tms) {
				t.Fatalf("%d decisions for %d TierMigrations", len(got), len(tc.tms))
			}
			for i, d := range got {
				if d.TM != tc.tms[i] {
					t.Fatalf("decision %d is about %s, want %s: decisions follow the input order", i, d.TM.Name, tc.tms[i].Name)
				}
				want, ok := tc.want[d.TM.Name]
				if !ok {
					t.Fatalf("test case gives no verdict for %s", d.TM.Name)
				}
				if d.Keep != want {
					t.Errorf("%s: got %q, want %q", d.TM.Name, d.Keep, want)
				}
			}
		})
	}
}

// cooldownView is what the policy reconciler derives from TierMigrations per volume: when the
// latest migration (any, real) ended, and the newest n of each policy by creation.
func cooldownView(tms []*storagev1.TierMigration) (lastAny, lastReal map[string]time.Time) {
	lastAny, lastReal = map[string]time.Time{}, map[string]time.Time{}
	for _, tm := range tms {
		end := migrationEnd(tm)
		if end.After(lastAny[tm.Spec.VolumeID]) {
			lastAny[tm.Spec.VolumeID] = end
		}
		if !isDryRunMigration(tm) && end.After(lastReal[tm.Spec.VolumeID]) {
			lastReal[tm.Spec.VolumeID] = end
		}
	}
	return lastAny, lastReal
}

func historyView(tms []*storagev1.TierMigration, policy string, n int) []string {
	var mine []*storagev1.TierMigration
	for _, tm := range tms {
		if tm.Labels[storagev1.LabelPolicy] == policy {
			mine = append(mine, tm)
		}
	}
	slices.SortStableFunc(mine, func(a, b *storagev1.TierMigration) int {
		if c := b.CreationTimestamp.Compare(a.CreationTimestamp.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	var out []string
	for _, tm := range mine[:min(n, len(mine))] {
		out = append(out, tm.Name)
	}
	return out
}

func deref(tms []*storagev1.TierMigration) []storagev1.TierMigration {
	out := make([]storagev1.TierMigration, len(tms))
	for i, tm := range tms {
		out[i] = *tm
	}
	return out
}

// Whatever the collector deletes, no policy's cooldown decision changes (for any cooldown up to
// the longest), no policy's history changes and the kept-extra-replicas gauge does not move:
// checked on random populations.
func TestRetentionPreservesCooldownAndHistory(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 4))
	phases := []storagev1.MigrationPhase{storagev1.PhaseCompleted, storagev1.PhaseCompleted, storagev1.PhaseFailed, storagev1.PhaseScalingUp, storagev1.PhasePending}
	for round := range 200 {
		var tms []*storagev1.TierMigration
		for i := range 40 {
			created := time.Duration(rng.IntN(60*24)) * time.Hour
			phase := phases[rng.IntN(len(phases))]
			ended := time.Duration(-1)
			if phase.IsTerminal() && rng.IntN(10) > 0 {
				ended = created - time.Duration(rng.IntN(int(min(created, 2*time.Hour)/time.Minute)+1))*time.Minute
			}
			opts := []func(*storagev1.TierMigration){ofPolicy(fmt.Sprintf("p%d", rng.IntN(3)))}
			if rng.IntN(3) == 0 {
				opts = append(opts, dryRun)
			}
			if rng.IntN(4) == 0 {
				opts = append(opts, keptReplica)
			}
			if rng.IntN(8) == 0 {
				opts = append(opts, withFinalizer)
			}
			tms = append(tms, gcTM(fmt.Sprintf("tm-%d", i), fmt.Sprintf("v%d", rng.IntN(6)), phase, created, ended, opts...))
		}
		r := Retention{
			TTL: time.Duration(rng.IntN(10)) * day, PerVolume: rng.IntN(3), LongestCooldown: time.Duration(rng.IntN(40)) * day,
			Policies: []string{"p0", "p1"}, HistoryPerPolicy: rng.IntN(5),
		}
		var kept []*storagev1.TierMigration
		for _, d := range DecideRetention(tms, gcNow, r) {
			if d.Keep == KeepNone {
				if !d.TM.Status.Phase.IsTerminal() || len(d.TM.Finalizers) > 0 {
					t.Fatalf("round %d: %s deleted though unfinished or held", round, d.TM.Name)
				}
				if gcNow.Sub(d.Ended) <= r.TTL && (r.PerVolume <= 0 || d.VolumeRank < r.PerVolume) {
					t.Fatalf("round %d: %s deleted though within the TTL and among the newest %d of its volume", round, d.TM.Name, r.PerVolume)
				}
				continue
			}
			kept = append(kept, d.TM)
		}
		if b, a := migration.KeptExtraReplicaVolumes(deref(tms)), migration.KeptExtraReplicaVolumes(deref(kept)); a != b {
			t.Fatalf("round %d: storage_operator_kept_extra_replicas would go from %d to %d", round, b, a)
		}
		anyBefore, realBefore := cooldownView(tms)
		anyAfter, realAfter := cooldownView(kept)
		for cooldown := time.Duration(0); cooldown <= r.LongestCooldown; cooldown += 12 * time.Hour {
			for v := range anyBefore {
				cooling := func(last time.Time) bool { return !last.IsZero() && gcNow.Sub(last) < cooldown }
				if cooling(anyBefore[v]) != cooling(anyAfter[v]) || cooling(realBefore[v]) != cooling(realAfter[v]) {
					t.Fatalf("round %d: deleting changed volume %s's cooldown of %v (any %v→%v, real %v→%v)",
						round, v, cooldown, anyBefore[v], anyAfter[v], realBefore[v], realAfter[v])
				}
			}
		}
		for _, p := range r.Policies {
			if b, a := historyView(tms, p, HistoryKeptPerPolicy), historyView(kept, p, HistoryKeptPerPolicy); r.HistoryPerPolicy == HistoryKeptPerPolicy && !slices.Equal(a, b) {
				t.Fatalf("round %d: policy %s's history changed: %v → %v", round, p, b, a)
			}
			if b, a := historyView(tms, p, r.HistoryPerPolicy), historyView(kept, p, r.HistoryPerPolicy); !slices.Equal(a, b) {
				t.Fatalf("round %d: policy %s's newest %d changed: %v → %v", round, p, r.HistoryPerPolicy, b, a)
			}
		}
	}
}

func TestLongestCooldown(t *testing.T) {
	pol := func(c string) storagev1.StoragePolicy {
		return storagev1.StoragePolicy{Spec: storagev1.StoragePolicySpec{CooldownPeriod: c}}
	}
	if got := LongestCooldown(nil); got != 0 {
		t.Fatalf("no policy: %v", got)
	}
	if got := LongestCooldown([]storagev1.StoragePolicy{pol("24h"), pol("not a duration"), pol("72h"), pol("90m")}); got != 72*time.Hour {
		t.Fatalf("got %v, want 72h", got)
	}
}

// deleteFailing fails the deletes of the names it holds with the given error.
type deleteFailing struct {
	client.Client
	fail map[string]error
}

func (d deleteFailing) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	if err := d.fail[obj.GetName()]; err != nil {
		return err
	}
	return d.Client.Delete(ctx, obj, opts...)
}

func gcScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := storagev1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// Collect against a fake API server: it deletes what DecideRetention lets go, counts it in the
// metric, reads the longest cooldown and the policies from the API server, and treats a conflict
// (changed since listed) as "next pass" but other errors as a failure.
func TestCollectDeletesAndCounts(t *testing.T) {
	pol := &storagev1.StoragePolicy{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: storagev1.StoragePolicySpec{CooldownPeriod: "720h"}}
	objs := []client.Object{
		pol,
		gcTM("old-1", "v1", storagev1.PhaseCompleted, 50*day, 50*day),
		gcTM("old-2", "v1", storagev1.PhaseCompleted, 40*day, 40*day),
		gcTM("newest-v1", "v1", storagev1.PhaseCompleted, 20*day, 20*day), // cooldown 30 days: kept
		gcTM("young", "v2", storagev1.PhaseFailed, 2*day, 2*day),
		gcTM("held", "v3", storagev1.PhaseCompleted, 50*day, 50*day, withFinalizer),
		gcTM("conflicting", "v4", storagev1.PhaseCompleted, 50*day, 49*day),
		gcTM("newest-v4", "v4", storagev1.PhaseCompleted, 10*day, 9*day),
		gcTM("running", "v5", storagev1.PhaseWaitingSync, 50*day, -1),
	}
	c := fake.NewClientBuilder().WithScheme(gcScheme(t)).WithObjects(objs...).WithStatusSubresource(&storagev1.TierMigration{}).Build()
	conflict := apierrors.NewConflict(schema.GroupResource{Group: storagev1.GroupVersion.Group, Resource: "tiermigrations"}, "conflicting", errors.New("changed"))
	gc := &TierMigrationGC{Client: deleteFailing{c, map[string]error{"conflicting": conflict}}, TTL: 7 * day, PerVolume: 0,
		Clock: clocktesting.NewFakePassiveClock(gcNow)}
	before := testutil.ToFloat64(TierMigrationsDeletedTotal)
	res, err := gc.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"old-1", "old-2"}; !slices.Equal(res.Deleted, want) {
		t.Fatalf("deleted %v, want %v (result %+v)", res.Deleted, want, res)
	}
	if got := testutil.ToFloat64(TierMigrationsDeletedTotal) - before; got != 2 {
		t.Fatalf("storage_operator_tiermigrations_deleted_total grew by %v, want 2", got)
	}
	if res.Listed != 8 || res.Finished != 7 || res.Kept[KeepCooldownSource] != 2 || res.Kept[KeepWithinLimits] != 1 || res.Kept[KeepFinalizer] != 1 {
		t.Fatalf("result %+v", res)
	}
	var left storagev1.TierMigrationList
	if err := c.List(context.Background(), &left); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tm := range left.Items {
		names = append(names, tm.Name)
	}
	slices.Sort(names)
	if want := []string{"conflicting", "held", "newest-v1", "newest-v4", "running", "young"}; !slices.Equal(names, want) {
		t.Fatalf("left %v, want %v", names, want)
	}

	// Any other error fails the pass, after the other deletes were tried.
	gc.Client = deleteFailing{c, map[string]error{"conflicting": errors.New("etcd is down")}}
	if _, err := gc.Collect(context.Background()); err == nil {
		t.Fatal("a failed delete should fail the pass")
	}
}
