package controller

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/promwatch"
	"github.com/billyronks/couchestor/internal/tiering"
)

func movesAnnotation(t *testing.T, kube client.Client) string {
	t.Helper()
	var pv corev1.PersistentVolume
	if err := kube.Get(context.Background(), types.NamespacedName{Name: promwatch.PVName(volumeID(0))}, &pv); err != nil {
		t.Fatal(err)
	}
	return pv.Annotations[storagev1.AnnotationMoves]
}

// A real move is recorded on the PV; a move back within windowCooldowns cooldowns is a flip,
// recorded with an Event on the PVC; the observer reads the record back, and the planner keeps
// the volume for the lengthened cooldown after its TierMigration is deleted.
func TestAntiFlapRecordIsWrittenAndReadBack(t *testing.T) {
	policy := enabledPolicy("gold", "10m") // cooldownPeriod 1h
	policy.Spec.AntiFlap = storagev1.AntiFlap{WindowCooldowns: ptr.To[int32](3), MaxCooldown: "8h"}
	claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "data-0"}}
	o, _, _, kube, clk := world(t, 1, policy, claim)
	ctx := context.Background()

	// The volume (on SATA now) was demoted 2h ago: promoting it is a flip.
	var pv corev1.PersistentVolume
	if err := kube.Get(ctx, types.NamespacedName{Name: promwatch.PVName(volumeID(0))}, &pv); err != nil {
		t.Fatal(err)
	}
	pv.Annotations = map[string]string{storagev1.AnnotationMoves: tiering.MoveRecord{To: storagev1.TierSATA, At: clk.Now().Add(-2 * time.Hour)}.String()}
	if err := kube.Update(ctx, &pv); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Observe(ctx); err != nil {
		t.Fatal(err)
	}
	r, ev, cr := reconcilerFor(t, o, kube)
	reconcileOnce(t, r, "gold")
	if len(cr.created) != 1 || cr.created[0].Spec.TargetTier != storagev1.TierNVMe {
		t.Fatalf("want one promotion, got %+v", cr.created)
	}
	want := tiering.MoveRecord{Flips: 1, To: storagev1.TierNVMe, At: clk.Now()}.String()
	if got := movesAnnotation(t, kube); got != want {
		t.Fatalf("moves annotation %q, want %q", got, want)
	}
	if e := ev.on("PersistentVolumeClaim", storagev1.ReasonAntiFlapCooldown); len(e) != 1 || e[0].name != "data-0" ||
		!strings.HasPrefix(e[0].note, "flip 1: cooldown extended to 2h0m0s") {
		t.Fatalf("PVC flip Events: %+v", e)
	}

	// The TierMigration is cleaned up; 90 minutes on the volume still cools down (2h), and the
	// snapshot holds the record.
	if err := kube.DeleteAllOf(ctx, &storagev1.TierMigration{}); err != nil {
		t.Fatal(err)
	}
	clk.Step(90 * time.Minute)
	o.CacheChanged()
	snap, err := o.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rec := snap.PVs[promwatch.PVName(volumeID(0))].Moves
	if rec.Flips != 1 || rec.To != storagev1.TierNVMe || !rec.At.Equal(clk.Now().Add(-90*time.Minute)) {
		t.Fatalf("snapshot's record %+v", rec)
	}
	plan := tiering.PlanPolicy(snap, policy, tiering.Flags{MaxConcurrentMigrations: 10}, clk.Now())
	if len(plan.Volumes) != 1 || plan.Volumes[0].Reason != storagev1.ReasonAntiFlapCooldown ||
		!strings.Contains(plan.Volumes[0].Message, "cooldown extended to 2h0m0s") {
		t.Fatalf("decision %+v", plan.Volumes)
	}
	// Past the lengthened cooldown it moves again.
	clk.Step(31 * time.Minute)
	plan = tiering.PlanPolicy(snap, policy, tiering.Flags{MaxConcurrentMigrations: 10}, clk.Now())
	if len(plan.Moves) != 1 {
		t.Fatalf("after 2h1m: %+v", plan.Volumes)
	}
}

// A first move records no flip and no Event; a dry run records nothing.
func TestAntiFlapFirstMoveAndDryRun(t *testing.T) {
	for _, dryRun := range []bool{false, true} {
		policy := enabledPolicy("gold", "10m")
		policy.Spec.DryRun = dryRun
		o, _, _, kube, clk := world(t, 1, policy)
		if _, err := o.Observe(context.Background()); err != nil {
			t.Fatal(err)
		}
		r, ev, cr := reconcilerFor(t, o, kube)
		reconcileOnce(t, r, "gold")
		if len(cr.created) != 1 {
			t.Fatalf("dry run %v: want one TierMigration, got %d", dryRun, len(cr.created))
		}
		want := tiering.MoveRecord{To: storagev1.TierNVMe, At: clk.Now()}.String()
		if dryRun {
			want = ""
		}
		if got := movesAnnotation(t, kube); got != want {
			t.Errorf("dry run %v: moves annotation %q, want %q", dryRun, got, want)
		}
		if e := append(ev.on("PersistentVolumeClaim", storagev1.ReasonAntiFlapCooldown), ev.on("StoragePolicy", storagev1.ReasonAntiFlapCooldown)...); len(e) != 0 {
			t.Errorf("dry run %v: flip Events %+v", dryRun, e)
		}
	}
}

// A Manual policy's request for approval records nothing; its approval records the move, and a
// move back within the window is a flip with Events on the TierMigration and the PVC.
func TestAntiFlapRecordsApprovedMoves(t *testing.T) {
	policy := enabledPolicy("gold", "10m")
	t.Cleanup(func() { ForgetPolicy("gold") })
	policy.Spec.Approval = storagev1.ApprovalManual
	policy.Spec.AntiFlap.MaxCooldown = "8h"
	o, _, _, kube, clk := world(t, 1, policy)
	ctx := context.Background()
	if _, err := o.Observe(ctx); err != nil {
		t.Fatal(err)
	}
	r, _, cr := reconcilerFor(t, o, kube)
	reconcileOnce(t, r, "gold")
	if len(cr.created) != 1 || !cr.created[0].Spec.ApprovalRequired {
		t.Fatalf("want one request for approval, got %+v", cr.created)
	}
	if got := movesAnnotation(t, kube); got != "" {
		t.Fatalf("a request for approval was recorded: %q", got)
	}

	ev := &anyEventLog{}
	tmr := &TierMigrationReconciler{Client: kube, APIReader: kube, Recorder: ev, Clock: clk}
	pvc := &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: "default", Name: "data-0"}
	tm := cr.created[0]
	tmr.recordApprovedMove(ctx, tm, policy, pvc)
	if got, want := movesAnnotation(t, kube), (tiering.MoveRecord{To: storagev1.TierNVMe, At: clk.Now()}).String(); got != want {
		t.Fatalf("after approval: %q, want %q", got, want)
	}
	// Approved back to SATA 90 minutes later (cooldown 1h, window 3h): flip 1.
	clk.Step(90 * time.Minute)
	back := tm.DeepCopy()
	back.Spec.TargetTier = storagev1.TierSATA
	tmr.recordApprovedMove(ctx, back, policy, pvc)
	if got, want := movesAnnotation(t, kube), (tiering.MoveRecord{Flips: 1, To: storagev1.TierSATA, At: clk.Now()}).String(); got != want {
		t.Fatalf("after the approved move back: %q, want %q", got, want)
	}
	if len(ev.events) != 2 || ev.events[0].kind != "*v1.TierMigration" || ev.events[1].kind != "*v1.ObjectReference" ||
		ev.events[1].reason != storagev1.ReasonAntiFlapCooldown || !strings.HasPrefix(ev.events[1].note, "flip 1: cooldown extended to 2h0m0s") {
		t.Fatalf("flip Events: %+v", ev.events)
	}
	// A dry run is not recorded.
	clk.Step(time.Minute)
	dry := tm.DeepCopy()
	dry.Spec.DryRun = true
	tmr.recordApprovedMove(ctx, dry, policy, pvc)
	if got := movesAnnotation(t, kube); !strings.HasPrefix(got, "1;SATA;") {
		t.Fatalf("a dry run changed the record: %q", got)
	}
}

// anyEventLog records Events on any object, ObjectReferences included.
type anyEventLog struct{ events []recordedEvent }

func (l *anyEventLog) Eventf(regarding, _ runtime.Object, _, reason, _, note string, args ...any) {
	l.events = append(l.events, recordedEvent{kind: fmt.Sprintf("%T", regarding), reason: reason, note: fmt.Sprintf(note, args...)})
}
