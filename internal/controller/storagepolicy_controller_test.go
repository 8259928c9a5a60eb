package controller

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/observer"
)

// recordedEvent is one Event: on what object, and what it said.
type recordedEvent struct {
	kind, name, reason, note string
}

type eventLog struct {
	mu     sync.Mutex
	events []recordedEvent
}

func (l *eventLog) Eventf(regarding, _ runtime.Object, _, reason, _, note string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	o := regarding.(client.Object)
	kind := fmt.Sprintf("%T", regarding)
	l.events = append(l.events, recordedEvent{kind: kind[strings.LastIndex(kind, ".")+1:], name: o.GetName(), reason: reason, note: fmt.Sprintf(note, args...)})
}

func (l *eventLog) on(kind, reason string) []recordedEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []recordedEvent
	for _, e := range l.events {
		if e.kind == kind && e.reason == reason {
			out = append(out, e)
		}
	}
	return out
}

// creator records the TierMigrations the reconciler asks for and creates them in the fake API.
type creator struct {
	kube    client.Client
	created []*storagev1.TierMigration
}

func (c *creator) CreateMigration(ctx context.Context, tm *storagev1.TierMigration) (bool, error) {
	c.created = append(c.created, tm)
	return true, c.kube.Create(ctx, tm)
}

func reconcilerFor(t *testing.T, o *observer.Observer, kube client.Client) (*StoragePolicyReconciler, *eventLog, *creator) {
	t.Helper()
	ev, cr := &eventLog{}, &creator{kube: kube}
	return &StoragePolicyReconciler{Client: kube, Snapshots: o, Migrations: cr, Recorder: ev, Clock: o.Clock,
		Options: Options{MaxConcurrentMigrations: 10}}, ev, cr
}

func reconcileOnce(t *testing.T, r *StoragePolicyReconciler, name string) ctrl.Result {
	t.Helper()
	res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Name: name}})
	if err != nil {
		t.Fatalf("reconcile %s: %v", name, err)
	}
	return res
}

func TestPolicyWaitsForTheFirstObservation(t *testing.T) {
	o, _, _, kube, _ := world(t, 2, enabledPolicy("gold", "10m"))
	r, _, cr := reconcilerFor(t, o, kube)
	res := reconcileOnce(t, r, "gold")
	if res.RequeueAfter <= 0 {
		t.Fatalf("before the first observation the policy must be retried, got %+v", res)
	}
	var p storagev1.StoragePolicy
	if err := kube.Get(context.Background(), types.NamespacedName{Name: "gold"}, &p); err != nil {
		t.Fatal(err)
	}
	if p.Status.LastReconcileTime != nil || len(p.Status.Conditions) != 0 || len(cr.created) != 0 {
		t.Fatalf("decided from nothing: %+v, %d migrations", p.Status, len(cr.created))
	}
}

// A hot volume on SATA moves: one TierMigration, an Event on the policy and one on the volume's
// PVC, status counts, and a history that keeps the records of TierMigrations since deleted.
func TestPolicyActsOnThePlan(t *testing.T) {
	policy := enabledPolicy("gold", "10m")
	gone := storagev1.MigrationRecord{Volume: "old", TierMigration: "sata-old-1", To: storagev1.TierSATA, Phase: storagev1.PhaseCompleted,
		StartTime: &metav1.Time{Time: time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)}}
	policy.Status.RecentMigrations = []storagev1.MigrationRecord{gone}
	claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "data-0"}}
	o, _, _, kube, _ := world(t, 1, policy, claim)
	if _, err := o.Observe(context.Background()); err != nil {
		t.Fatal(err)
	}
	r, ev, cr := reconcilerFor(t, o, kube)
	before := testutil.ToFloat64(ReconcileTotal)
	reconcileOnce(t, r, "gold")
	if got := testutil.ToFloat64(ReconcileTotal) - before; got != 1 {
		t.Errorf("storage_operator_reconcile_total grew by %v, want 1", got)
	}

	if len(cr.created) != 1 {
		t.Fatalf("want one TierMigration, got %d", len(cr.created))
	}
	tm := cr.created[0]
	if tm.Spec.VolumeID != volumeID(0) || tm.Spec.TargetTier != storagev1.TierNVMe || tm.Spec.PolicyName != "gold" ||
		ptr.Deref(tm.Spec.Reason.ObservedIOPS, 0) != 9000 || len(tm.OwnerReferences) != 1 {
		t.Errorf("TierMigration: %+v %+v", tm.ObjectMeta, tm.Spec)
	}
	if e := ev.on("StoragePolicy", "MigrationPlanned"); len(e) != 1 || !strings.Contains(e[0].note, volumeID(0)) {
		t.Errorf("policy Events: %+v", e)
	}
	if e := ev.on("PersistentVolumeClaim", "MigrationPlanned"); len(e) != 1 || e[0].name != "data-0" || !strings.Contains(e[0].note, "StoragePolicy gold") {
		t.Errorf("PVC Events: %+v", e)
	}

	var p storagev1.StoragePolicy
	if err := kube.Get(context.Background(), types.NamespacedName{Name: "gold"}, &p); err != nil {
		t.Fatal(err)
	}
	st := p.Status
	if st.VolumesWatched != 1 || st.SATAVolumes != 1 || st.ActiveMigrations != 1 || st.UnknownVolumes != 0 || st.LastReconcileTime == nil {
		t.Errorf("status counts: %+v", st)
	}
	if !meta.IsStatusConditionTrue(st.Conditions, storagev1.ConditionReady) || !meta.IsStatusConditionTrue(st.Conditions, storagev1.ConditionMetricsAvailable) ||
		!meta.IsStatusConditionTrue(st.Conditions, storagev1.ConditionStorageAvailable) {
		t.Errorf("conditions: %+v", st.Conditions)
	}
	if len(st.RecentMigrations) != 2 || st.RecentMigrations[0].TierMigration != tm.Name || st.RecentMigrations[1].TierMigration != gone.TierMigration {
		t.Errorf("history must hold the new migration first and keep the deleted one's record: %+v", st.RecentMigrations)
	}
}

// A status write that meets a conflict is retried, then requeued quietly: no reconciler error.
func TestStatusConflictIsNotAnError(t *testing.T) {
	policy := enabledPolicy("gold", "10m")
	o, _, _, kube, _ := world(t, 1, policy)
	conflicts := 0
	conflicting := interceptor.NewClient(kube.(client.WithWatch), interceptor.Funcs{
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			conflicts++
			return apierrors.NewConflict(schema.GroupResource{Group: storagev1.GroupVersion.Group, Resource: "storagepolicies"}, obj.GetName(), fmt.Errorf("the object has been modified"))
		},
	})
	if _, err := o.Observe(context.Background()); err != nil {
		t.Fatal(err)
	}
	r, _, _ := reconcilerFor(t, o, conflicting)
	r.Migrations = &creator{kube: kube}
	res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Name: "gold"}})
	if err != nil {
		t.Fatalf("a conflict surfaced as a reconciler error: %v", err)
	}
	if !res.Requeue && res.RequeueAfter == 0 {
		t.Errorf("a conflicted status must be decided again: %+v", res)
	}
	if conflicts < 2 {
		t.Errorf("the write was tried %d times, want retries", conflicts)
	}
}

func TestMergeHistory(t *testing.T) {
	at := func(h int) *metav1.Time { return &metav1.Time{Time: time.Date(2025, 3, 1, h, 0, 0, 0, time.UTC)} }
	rec := func(name string, start *metav1.Time, phase storagev1.MigrationPhase) storagev1.MigrationRecord {
		return storagev1.MigrationRecord{Volume: "v", TierMigration: name, To: storagev1.TierNVMe, Phase: phase, StartTime: start}
	}
	var recorded []storagev1.MigrationRecord
	for h := range 20 {
		recorded = append(recorded, rec(fmt.Sprint("old-", h), at(h), storagev1.PhaseCompleted))
	}
	live := []storagev1.MigrationRecord{
		rec("old-19", at(19), storagev1.PhaseFailed), // the live object wins over its old record
		rec("new", nil, storagev1.PhasePending),      // not started yet: the newest
	}
	got := mergeHistory(recorded, live)
	if len(got) != maxHistory {
		t.Fatalf("%d records, want %d", len(got), maxHistory)
	}
	if got[0].TierMigration != "new" || got[1].TierMigration != "old-19" || got[1].Phase != storagev1.PhaseFailed {
		t.Errorf("newest first, live wins: %v %v", got[0], got[1])
	}
	if got[maxHistory-1].TierMigration != "old-1" {
		t.Errorf("the oldest record goes first: last is %s", got[maxHistory-1].TierMigration)
	}
	if mergeHistory(nil, nil) != nil {
		t.Error("no history is nil, not an empty list")
	}
}

// Overlapping policies: each is reported, nobody moves the shared volumes.
func TestOverlappingPoliciesMoveNothing(t *testing.T) {
	a, b := enabledPolicy("a", "10m"), enabledPolicy("b", "10m")
	o, ms, iops, kube, _ := world(t, 3, a, b)
	if _, err := o.Observe(context.Background()); err != nil {
		t.Fatal(err)
	}
	r, ev, cr := reconcilerFor(t, o, kube)
	reconcileOnce(t, r, "a")
	reconcileOnce(t, r, "b")
	if len(cr.created) != 0 {
		t.Fatalf("%d migrations of volumes two policies select", len(cr.created))
	}
	if e := ev.on("StoragePolicy", "OverlappingPolicies"); len(e) != 2 || !strings.Contains(e[0].note, "3 volumes") {
		t.Errorf("overlap Events: %+v", e)
	}
	if pages, pools := ms.Requests(); pages != 1 || pools != 1 || iops.Evaluations() != 1 {
		t.Errorf("two policies, one observation: %d pages, %d pool lists, %d evaluations", pages, pools, iops.Evaluations())
	}
}

// A tier annotation naming no tier keeps the volume where it is and is said in a Warning Event
// on its PVC, once per value; a lowercase pin is a pin.
func TestInvalidPinWarnsOnThePVCOnce(t *testing.T) {
	claim := func(i int, tier string) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprint("data-", i),
			Annotations: map[string]string{storagev1.AnnotationTier: tier}}}
	}
	bad, lower := claim(0, "fast"), claim(1, "nvme")
	policy := enabledPolicy("gold", "10m")
	o, _, iops, kube, _ := world(t, 2, policy, bad, lower)
	iops.Value = 1000 // between the watermarks: only a pin moves a volume
	if _, err := o.Observe(context.Background()); err != nil {
		t.Fatal(err)
	}
	r, ev, cr := reconcilerFor(t, o, kube)
	reconcileOnce(t, r, "gold")
	reconcileOnce(t, r, "gold")
	e := ev.on("PersistentVolumeClaim", storagev1.ReasonInvalidPin)
	if len(e) != 1 || e[0].name != "data-0" || !strings.Contains(e[0].note, `"fast"`) {
		t.Fatalf("InvalidPin Events on PVCs after two reconciles: %+v, want one on data-0 naming the value", e)
	}
	if len(cr.created) != 1 || cr.created[0].Spec.VolumeID != volumeID(1) || cr.created[0].Spec.TargetTier != storagev1.TierNVMe {
		t.Fatalf("want one migration, of the volume pinned to nvme: %+v", cr.created)
	}

	// Another bad value is said again.
	if err := kube.Get(context.Background(), client.ObjectKeyFromObject(bad), bad); err != nil {
		t.Fatal(err)
	}
	bad.Annotations[storagev1.AnnotationTier] = "slow"
	if err := kube.Update(context.Background(), bad); err != nil {
		t.Fatal(err)
	}
	o.CacheChanged()
	reconcileOnce(t, r, "gold")
	if e := ev.on("PersistentVolumeClaim", storagev1.ReasonInvalidPin); len(e) != 2 || !strings.Contains(e[1].note, `"slow"`) {
		t.Fatalf("after the value changed: %+v", e)
	}
}
