package observer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache/informertest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllertest"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/observer/observertest"
	"github.com/billyronks/couchestor/internal/promwatch"
	"github.com/billyronks/couchestor/internal/tiering"
)

type (
	fakeMayastor = observertest.Mayastor
	fakeIOPS     = observertest.IOPS
)

func testScheme(t *testing.T) *runtime.Scheme { return observertest.Scheme(t) }

func volumeID(i int) string { return observertest.VolumeID(i) }

func testPV(i int, storageClass string) *corev1.PersistentVolume {
	return observertest.PV(i, storageClass)
}

func enabledPolicy(name, window string) *storagev1.StoragePolicy {
	return observertest.EnabledPolicy(name, window)
}

// world is observertest.Cluster with an observer over it.
func world(t *testing.T, n int, objs ...client.Object) (*Observer, *fakeMayastor, *fakeIOPS, client.Client, *clocktesting.FakeClock) {
	t.Helper()
	ms, iops, kube, clk := observertest.Cluster(t, n, objs...)
	o := &Observer{Cache: kube, Mayastor: ms, IOPS: iops, Clock: clk, Interval: 30 * time.Second}
	return o, ms, iops, kube, clk
}

// One observation serves every policy: one walk of Mayastor (its pages), one pools request and
// one IOPS evaluation per distinct (window, query), however many policies there are.
func TestOneObservationPerCycleWhateverThePolicies(t *testing.T) {
	for _, policies := range []int{1, 3, 30} {
		t.Run(fmt.Sprint(policies, " policies"), func(t *testing.T) {
			var objs []client.Object
			for i := range policies {
				window := "10m"
				if i%3 == 2 {
					window = "1h" // a second distinct window
				}
				objs = append(objs, enabledPolicy(fmt.Sprint("p", i), window))
			}
			disabled := enabledPolicy("off", "7h")
			disabled.Spec.Enabled = ptr.To(false)
			objs = append(objs, disabled)
			o, ms, iops, _, _ := world(t, 10, objs...)
			s, err := o.Observe(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			pages, pools := ms.Requests()
			if pages != 3 || pools != 1 { // 10 volumes in pages of 4
				t.Fatalf("Mayastor requests: %d pages and %d pool lists, want 3 and 1", pages, pools)
			}
			wantKeys := 1
			if policies >= 3 {
				wantKeys = 2
			}
			if iops.Evaluations() != wantKeys || len(s.IOPS) != wantKeys {
				t.Fatalf("IOPS evaluations %d (snapshot holds %d), want %d: one per distinct window, none for a disabled policy", iops.Evaluations(), len(s.IOPS), wantKeys)
			}
			if len(s.Volumes) != 10 || len(s.Pools) != 2 || len(s.PVs) != 10 || len(s.Policies) != policies+1 {
				t.Fatalf("snapshot: %d volumes, %d pools, %d PVs, %d policies", len(s.Volumes), len(s.Pools), len(s.PVs), len(s.Policies))
			}
			for _, p := range s.Policies {
				if p.Name == "off" {
					continue
				}
				if _, err := o.Snapshot(context.Background(), p); err != nil {
					t.Fatal(err)
				}
			}
			if pages2, pools2 := ms.Requests(); pages2 != pages || pools2 != pools || iops.Evaluations() != wantKeys {
				t.Fatalf("deciding every policy from a fresh snapshot asked again: %d pages, %d pool lists, %d evaluations", pages2, pools2, iops.Evaluations())
			}
		})
	}
}

func TestVolumeObservationKeepsWhatDecisionsRead(t *testing.T) {
	o, ms, _, _, _ := world(t, 2)
	ms.Volumes[0].Spec.NumSnapshots = 2
	ms.Volumes[0].Spec.AffinityGroup = &mayastor.AffinityGroup{ID: "ag"}
	ms.Volumes[0].State.ReplicaTopology["r2"] = mayastor.ReplicaTopology{Pool: "hot-1"}
	ms.Volumes[1].State.Target = nil
	ms.Volumes[1].State.Status = mayastor.VolumeStatusDegraded
	s, err := o.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	v0, v1 := s.Volumes[volumeID(0)], s.Volumes[volumeID(1)]
	if v0.Snapshots != 2 || v0.AffinityGroup != "ag" || len(v0.ReplicaPools) != 2 || v0.ReplicaPools[0] != "cold-1" ||
		v0.ReplicaPools[1] != "hot-1" || !v0.Published || !v0.Healthy || v0.SizeBytes != 1<<30 || v0.NumReplicas != 1 {
		t.Errorf("volume 0: %+v", v0)
	}
	if v1.Published || v1.Healthy {
		t.Errorf("volume 1 is unpublished and Degraded: %+v", v1)
	}
	if p := s.Pools[0]; p.ID != "hot-1" || !p.Online || p.Labels["tier"] != "hot" || p.Node != "n1" || p.CapacityBytes != 1<<40 {
		t.Errorf("pool: %+v", p)
	}
}

func TestSnapshotFreshness(t *testing.T) {
	policy := enabledPolicy("gold", "10m")
	o, ms, _, kube, clk := world(t, 3, policy)
	ctx := context.Background()

	if _, err := o.Snapshot(ctx, policy); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("before the first observation: %v, want ErrNoSnapshot", err)
	}
	first, err := o.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// A PV appears: the cache-derived parts are rebuilt, Mayastor is not walked again.
	if err := kube.Create(ctx, testPV(7, "mayastor")); err != nil {
		t.Fatal(err)
	}
	o.CacheChanged()
	clk.Step(o.FreshFor() - time.Second)
	s, err := o.Snapshot(ctx, policy)
	if err != nil {
		t.Fatal(err)
	}
	if pages, _ := ms.Requests(); pages != 1 {
		t.Fatalf("a cache change walked Mayastor again (%d pages)", pages)
	}
	if len(s.PVs) != 4 || s.Taken != first.Taken || len(s.Volumes) != 3 {
		t.Fatalf("refreshed snapshot: %d PVs (want 4), taken %v (want %v)", len(s.PVs), s.Taken, first.Taken)
	}
	if len(first.PVs) != 3 {
		t.Fatal("the earlier snapshot was changed in place: snapshots are read-only once handed out")
	}

	// Older than twice the interval: observed anew.
	clk.Step(2 * time.Second)
	s, err = o.Snapshot(ctx, policy)
	if err != nil {
		t.Fatal(err)
	}
	if pages, _ := ms.Requests(); pages != 2 || !s.Taken.Equal(clk.Now()) {
		t.Fatalf("a stale snapshot was used: %d walks, taken %v", pages, s.Taken)
	}

	// A policy whose (window, query) the snapshot lacks makes a new observation.
	other := enabledPolicy("silver", "2h")
	if err := kube.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	s, err = o.Snapshot(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.IOPS[tiering.IOPSKey{Window: 2 * time.Hour}]; !ok {
		t.Fatalf("the new policy's window was not evaluated: %v", s.IOPS)
	}
}

func TestObservationProblems(t *testing.T) {
	o, ms, iops, _, _ := world(t, 2, enabledPolicy("gold", "10m"))
	ms.Err = errors.New("connection refused")
	iops.Err = &promwatch.Error{Kind: promwatch.ErrUnreachable, Query: "IOPS query", Detail: "connection refused"}
	s, err := o.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.MayastorProblem == nil || s.MayastorProblem.Reason != "MayastorUnavailable" || len(s.Volumes) != 0 || len(s.Pools) != 0 {
		t.Errorf("Mayastor down: problem %+v, %d volumes", s.MayastorProblem, len(s.Volumes))
	}
	obs := s.IOPS[tiering.IOPSKey{Window: 10 * time.Minute}]
	if obs == nil || obs.Problem == nil || obs.Problem.Reason != "PrometheusUnreachable" {
		t.Errorf("Prometheus down: %+v", obs)
	}
}

func TestPVObservationClaimAnnotationsWin(t *testing.T) {
	pv := testPV(1, "mayastor")
	pv.Annotations = map[string]string{storagev1.AnnotationTier: "SATA", storagev1.AnnotationTiering: "disabled"}
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "data-1",
		Annotations: map[string]string{storagev1.AnnotationTier: "NVMe", storagev1.AnnotationTiering: "enabled"}}}
	other := testPV(2, "mayastor")
	other.Spec.CSI.Driver = "ebs.csi.aws.com"
	o, _, _, _, _ := world(t, 0, pv, pvc, other)
	s, err := o.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := s.PVs[pv.Name]
	if got == nil || got.Pin != storagev1.TierNVMe || got.Excluded || got.Claim != "default/data-1" || got.VolumeID != volumeID(1) {
		t.Fatalf("PV observation: %+v", got)
	}
	if s.PVs[other.Name] != nil {
		t.Fatal("a PV of another CSI driver was observed")
	}
}

func TestMigrationObservation(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	tm := func(name, vol string, dry bool, phase storagev1.MigrationPhase, ended time.Time) *storagev1.TierMigration {
		m := &storagev1.TierMigration{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{storagev1.LabelPolicy: "gold"}},
			Spec:       storagev1.TierMigrationSpec{VolumeID: vol, TargetTier: storagev1.TierNVMe, DryRun: dry},
			Status:     storagev1.TierMigrationStatus{Phase: phase},
		}
		if !ended.IsZero() {
			m.Status.CompletionTime = &metav1.Time{Time: ended}
		}
		return m
	}
	c := &cacheParts{migrations: map[string]tiering.MigrationObservation{}, inFlight: tiering.InFlight{ByPolicy: map[string]int{}}}
	for _, m := range []*storagev1.TierMigration{
		tm("a", "v1", false, storagev1.PhaseCompleted, t0),
		tm("b", "v1", true, storagev1.PhaseCompleted, t0.Add(time.Hour)),
		tm("c", "v2", false, storagev1.PhaseWaitingSync, time.Time{}),
		tm("d", "v3", true, storagev1.PhasePending, time.Time{}),
	} {
		addMigration(c, m)
	}
	if v1 := c.migrations["v1"]; !v1.LastReal.Equal(t0) || !v1.LastAny.Equal(t0.Add(time.Hour)) || v1.InFlight {
		t.Errorf("v1: a dry run starts no cooldown for real moves: %+v", v1)
	}
	if !c.migrations["v2"].InFlight || !c.migrations["v3"].InFlight {
		t.Error("unfinished migrations are in flight")
	}
	if c.inFlight.Global != 1 || c.inFlight.ByPolicy["gold"] != 1 {
		t.Errorf("slots: %+v; a dry run takes none", c.inFlight)
	}
}

// A migration waiting for approval holds no slot; one that expired starts no cooldown; one
// that was rejected does.
func TestMigrationObservationOfApprovals(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	tm := func(name, vol string, phase storagev1.MigrationPhase, reason string) *storagev1.TierMigration {
		m := &storagev1.TierMigration{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{storagev1.LabelPolicy: "gold"}, CreationTimestamp: metav1.NewTime(t0)},
			Spec:       storagev1.TierMigrationSpec{VolumeID: vol, TargetTier: storagev1.TierNVMe, ApprovalRequired: true},
			Status:     storagev1.TierMigrationStatus{Phase: phase},
		}
		if phase.IsTerminal() {
			m.Status.CompletionTime = &metav1.Time{Time: t0.Add(time.Hour)}
			m.Status.Conditions = []metav1.Condition{{Type: storagev1.MigrationConditionSucceeded, Status: metav1.ConditionFalse, Reason: reason}}
		}
		return m
	}
	c := &cacheParts{migrations: map[string]tiering.MigrationObservation{}, inFlight: tiering.InFlight{ByPolicy: map[string]int{}}}
	for _, m := range []*storagev1.TierMigration{
		tm("new", "v1", "", ""),
		tm("waiting", "v2", storagev1.PhaseWaitingApproval, ""),
		tm("expired", "v3", storagev1.PhaseFailed, storagev1.ReasonApprovalExpired),
		tm("rejected", "v4", storagev1.PhaseFailed, storagev1.ReasonRejected),
		tm("approved", "v5", storagev1.PhasePending, ""),
	} {
		addMigration(c, m)
	}
	if c.inFlight.Global != 1 || c.inFlight.ByPolicy["gold"] != 1 {
		t.Errorf("slots %+v: only the approved, Pending one counts", c.inFlight)
	}
	if c.migrations["v1"].WaitingApproval != "new" || c.migrations["v2"].WaitingApproval != "waiting" || c.migrations["v5"].WaitingApproval != "" {
		t.Errorf("waiting: %+v", c.migrations)
	}
	if v3 := c.migrations["v3"]; !v3.LastReal.IsZero() || !v3.LastAny.IsZero() || v3.InFlight {
		t.Errorf("an expired request starts no cooldown: %+v", v3)
	}
	if v4 := c.migrations["v4"]; !v4.LastReal.Equal(t0.Add(time.Hour)) {
		t.Errorf("a rejection starts a cooldown: %+v", v4)
	}
}

// Each input of an observer is required: a missing one is a clear error at construction, not a
// nil dereference in the middle of an observation.
func TestNewRequiresItsInputs(t *testing.T) {
	kube := fake.NewClientBuilder().WithScheme(testScheme(t)).Build()
	ms, iops := &fakeMayastor{PageSize: 4}, &fakeIOPS{}
	var nilIOPS *fakeIOPS
	cases := []struct {
		name  string
		cache client.Reader
		ms    MayastorReader
		iops  IOPSEvaluator
		want  string
	}{
		{"no cache", nil, ms, iops, "no informer cache"},
		{"no Mayastor", kube, nil, iops, "no Mayastor"},
		{"no IOPS source", kube, ms, nil, "no IOPS source"},
		{"nil IOPS pointer", kube, ms, nilIOPS, "no IOPS source"},
	}
	for _, tc := range cases {
		o, err := New(tc.cache, tc.ms, tc.iops)
		if err == nil || !strings.Contains(err.Error(), tc.want) || o != nil {
			t.Errorf("%s: New = %v, %v; want an error saying %q", tc.name, o, err, tc.want)
		}
	}
	o, err := New(kube, ms, iops)
	if err != nil || o.Cache != kube || o.Mayastor != ms || o.IOPS != iops {
		t.Fatalf("New with every input: %+v, %v", o, err)
	}
}

// The pin annotation is read in any case, the spelling `move --to nvme` teaches included; a
// value naming no tier is kept as bad, never dropped.
func TestPVObservationPinInAnyCase(t *testing.T) {
	var objs []client.Object
	for i, v := range []string{"nvme", "Sata", "fast"} {
		objs = append(objs, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprint("data-", i),
			Annotations: map[string]string{storagev1.AnnotationTier: v}}})
	}
	o, _, _, _, _ := world(t, 3, objs...)
	s, err := o.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		pin storagev1.Tier
		bad string
	}{{storagev1.TierNVMe, ""}, {storagev1.TierSATA, ""}, {"", "fast"}} {
		got := s.PVs[promwatch.PVName(volumeID(i))]
		if got == nil || got.Pin != want.pin || got.BadPin != want.bad {
			t.Errorf("volume %d: %+v, want pin %q, bad %q", i, got, want.pin, want.bad)
		}
	}
}

// storage_operator_last_observation_timestamp_seconds is the time the latest observation
// completed, also when Mayastor does not answer; a snapshot refreshed from the cache alone is
// not an observation.
func TestLastObservationTimestamp(t *testing.T) {
	o, ms, _, _, clk := world(t, 1, enabledPolicy("gold", "10m"))
	if _, err := o.Observe(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := testutil.ToFloat64(LastObservation), float64(clk.Now().Unix()); got != want {
		t.Fatalf("after an observation: %v, want %v", got, want)
	}
	clk.Step(time.Minute)
	ms.Err = errors.New("connection refused")
	if _, err := o.Observe(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := testutil.ToFloat64(LastObservation), float64(clk.Now().Unix()); got != want {
		t.Fatalf("after an observation Mayastor did not answer: %v, want %v", got, want)
	}
	clk.Step(time.Second)
	o.CacheChanged()
	if _, err := o.Snapshot(context.Background(), enabledPolicy("gold", "10m")); err != nil {
		t.Fatal(err)
	}
	if got, want := testutil.ToFloat64(LastObservation), float64(clk.Now().Add(-time.Second).Unix()); got != want {
		t.Fatalf("a cache refresh moved it: %v, want %v", got, want)
	}
}

// With WatchCache, an observation reuses the previous one's cache-derived parts while no PV,
// PVC, TierMigration or policy spec changed, and rebuilds them after any such event, after
// CacheChanged, and while a TierMigration this process created is not in the cache yet.
// Without it, every observation rebuilds them.
func TestWatchCacheReusesThePartsUntilAnEvent(t *testing.T) {
	ctx := context.Background()
	policy := enabledPolicy("p", "10m")
	o, _, _, kube, _ := world(t, 3, policy)
	observe := func() *tiering.Snapshot {
		t.Helper()
		s, err := o.Observe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	same := func(a, b *tiering.Snapshot) bool { return fmt.Sprintf("%p", a.PVs) == fmt.Sprintf("%p", b.PVs) }
	if s1, s2 := observe(), observe(); same(s1, s2) {
		t.Fatal("without WatchCache an observation reused the previous PV observations")
	}

	fi := &informertest.FakeInformers{Scheme: testScheme(t)}
	if err := o.WatchCache(ctx, fi); err != nil {
		t.Fatal(err)
	}
	informer := func(obj client.Object) *controllertest.FakeInformer {
		t.Helper()
		i, err := fi.FakeInformerFor(ctx, obj)
		if err != nil {
			t.Fatal(err)
		}
		return i
	}
	s1 := observe() // the first after WatchCache builds
	s2 := observe()
	if !same(s1, s2) {
		t.Fatal("with WatchCache and no event, the PV observations were rebuilt")
	}

	// A PV changes: the next observation sees it.
	var pv corev1.PersistentVolume
	if err := kube.Get(ctx, client.ObjectKey{Name: promwatch.PVName(volumeID(0))}, &pv); err != nil {
		t.Fatal(err)
	}
	old := pv.DeepCopy()
	pv.Annotations = map[string]string{storagev1.AnnotationTier: "sata"}
	if err := kube.Update(ctx, &pv); err != nil {
		t.Fatal(err)
	}
	informer(&corev1.PersistentVolume{}).Update(old, &pv)
	s3 := observe()
	if same(s2, s3) || s3.PVs[pv.Name].Pin != storagev1.TierSATA {
		t.Fatalf("after a PV event the PV observation is %+v, want it rebuilt with the pin", s3.PVs[pv.Name])
	}

	// A policy's status alone changes nothing the snapshot reads; its spec does.
	pinf := informer(&storagev1.StoragePolicy{})
	newer := policy.DeepCopy()
	newer.Status.ObservedGeneration = 7
	pinf.Update(policy, newer)
	if s4 := observe(); !same(s3, s4) {
		t.Fatal("a policy status update rebuilt the parts")
	}
	newer = policy.DeepCopy()
	newer.Generation++
	pinf.Update(policy, newer)
	s5 := observe()
	if same(s3, s5) {
		t.Fatal("a policy spec update (a new generation) did not rebuild the parts")
	}

	// CacheChanged forces a rebuild; so does a created TierMigration the cache does not show.
	o.CacheChanged()
	s6 := observe()
	if same(s5, s6) {
		t.Fatal("CacheChanged did not rebuild the parts")
	}
	o.Created(&storagev1.TierMigration{ObjectMeta: metav1.ObjectMeta{Name: "m", Namespace: "default"},
		Spec: storagev1.TierMigrationSpec{VolumeID: volumeID(1), TargetTier: storagev1.TierNVMe, PolicyName: "p"}})
	s7 := observe()
	if same(s6, s7) {
		t.Fatal("a created TierMigration the cache does not show did not rebuild the parts")
	}
	if _, ok := s7.Migrations[volumeID(1)]; !ok {
		t.Fatal("the created TierMigration is not in the snapshot")
	}
}
