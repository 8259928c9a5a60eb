package migration

import (
	"context"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/labels"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/mover"
)

// lateCordonStorage keeps every recorded cordon on release, as the Mover does
// for a cordon whose call may still land (absent now, call never answered).
type lateCordonStorage struct{ *fakeStorage }

func (s lateCordonStorage) ReleaseCordons(_ context.Context, p mover.Plan) (mover.Plan, error) {
	s.calls = append(s.calls, "ReleaseCordons")
	return p, nil
}

// A cordon that may land late stays recorded (Mover.ReleaseCordons), and the
// machine re-checks it at every step but runs the phase anyway: without that,
// Step would release, find it still recorded, and loop without progress.
func TestCordonThatMayLandLateIsCheckedEveryStepWithoutBlockingThePhase(t *testing.T) {
	h := newHarness(t)
	h.start(StartParams{})
	h.step() // Analyzing → ScalingUp
	h.expectPhase(storagev1.PhaseScalingUp)
	late := []storagev1.NodeCordon{{Node: "n3", Label: "couchestor-migration-tm-1"}}
	h.tm.Status.Checkpoint.Cordons = late
	h.tm.Status.Cordons = late
	in := StepInput{Storage: lateCordonStorage{h.s}, TargetPools: labels.SelectorFromSet(labels.Set{"tier": "hot"})}
	h.s.calls = nil
	h.record(h.m.Step(context.Background(), h.tm, in))
	if !slices.Equal(h.s.calls, []string{"ReleaseCordons", "ScaleUp"}) {
		t.Fatalf("calls %v: want the recorded cordon checked, then the phase's step", h.s.calls)
	}
	for _, e := range h.events {
		if e.Reason == storagev1.ReasonCordonsReleased {
			t.Fatalf("event %+v although nothing was released", e)
		}
	}
}
