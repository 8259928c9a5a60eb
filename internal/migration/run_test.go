package migration

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/mover"
)

// lockLog is a sync.Locker that says whether it is held.
type lockLog struct{ held, taken int }

func (l *lockLog) Lock()   { l.held++; l.taken++ }
func (l *lockLog) Unlock() { l.held-- }

// runHarness runs h's migration with Run, recording Events, peers listed and approvals.
type runHarness struct {
	*harness
	lock      lockLog
	peers     []storagev1.TierMigration
	listed    int
	approved  int
	heldAtRun []storagev1.MigrationPhase // phases written while the admission lock was held
}

func newRunHarness(t *testing.T) *runHarness {
	h := &runHarness{harness: newHarness(t)}
	persist := h.m.Persist
	h.m.Persist = func(ctx context.Context, tm *storagev1.TierMigration) error {
		if h.lock.held > 0 {
			h.heldAtRun = append(h.heldAtRun, tm.Status.Phase)
		}
		return persist(ctx, tm)
	}
	return h
}

func (h *runHarness) input() Input {
	return Input{Storage: h.s, Pools: Pools{Target: labels.SelectorFromSet(labels.Set{"tier": "hot"})}, Timeout: time.Hour, Limits: Limits{Global: 1}}
}

func (h *runHarness) run(in Input) (Result, error) {
	return h.m.Run(context.Background(), h.tm, in, Hooks{
		Peers: func(context.Context) ([]storagev1.TierMigration, error) {
			h.listed++
			return h.peers, nil
		},
		AdmitLock: &h.lock,
		Approved:  func(context.Context, *storagev1.TierMigration) { h.approved++ },
		Emit:      func(evs []Event) { h.events = append(h.events, evs...) },
	})
}

// One run takes a new TierMigration through every phase while nothing makes it wait, and
// takes its slot under the admission lock.
func TestRunGoesOnUntilTheMigrationEnds(t *testing.T) {
	h := newRunHarness(t)
	res, err := h.run(h.input())
	if err != nil {
		t.Fatal(err)
	}
	if res.Ended == nil || res.Ended.Outcome != storagev1.OutcomeSucceeded {
		t.Fatalf("result %+v, want a succeeded ending", res)
	}
	h.expectPhase(storagev1.PhaseCompleted)
	for _, r := range []string{storagev1.ReasonAccepted, "Started", "ScalingUp", "WaitingSync", "ScalingDown", storagev1.ReasonMoved} {
		h.expectEvent(r)
	}
	if h.listed != 1 || h.lock.taken != 1 || h.lock.held != 0 {
		t.Fatalf("peers listed %d times, lock taken %d, held %d: want one admission under the lock, released", h.listed, h.lock.taken, h.lock.held)
	}
	if len(h.heldAtRun) != 1 || h.heldAtRun[0] != storagev1.PhaseAnalyzing {
		t.Fatalf("writes under the admission lock: %v, want the start (Analyzing) only", h.heldAtRun)
	}
	if tm := h.tm.Status; tm.Timeout == nil || tm.Timeout.Duration != time.Hour {
		t.Fatalf("the gathered timeout was not used: %+v", tm.Timeout)
	}
}

// A run stops where the migration has to wait: a poll of the rebuild, a full slot.
func TestRunStopsWhereTheMigrationWaits(t *testing.T) {
	h := newRunHarness(t)
	h.s.syncStates = []mover.SyncState{{Progress: 10, Waiting: "rebuilding"}}
	res, err := h.run(h.input())
	if err != nil || res.Continue || res.RequeueAfter != h.m.PollInterval {
		t.Fatalf("result %+v, %v: want a wait of one poll interval", res, err)
	}
	h.expectPhase(storagev1.PhaseWaitingSync)

	full := newRunHarness(t)
	other := storagev1.TierMigration{Spec: storagev1.TierMigrationSpec{VolumeID: "other"}, Status: storagev1.TierMigrationStatus{Phase: storagev1.PhaseScalingUp}}
	other.UID = "uid-other"
	full.peers = []storagev1.TierMigration{other}
	if _, err := full.run(full.input()); err != nil {
		t.Fatal(err)
	}
	full.expectPhase(storagev1.PhasePending)
	full.expectEvent(storagev1.ReasonWaitingForSlot)
}

// What the caller gathered decides a Pending migration before any slot is counted.
func TestRunAdmissionUsesTheGatheredInput(t *testing.T) {
	cases := []struct {
		name   string
		change func(*Input)
		phase  storagev1.MigrationPhase
		reason string
	}{
		{"pools not resolved", func(in *Input) { in.Pools = Pools{Reason: storagev1.ReasonPolicyNotFound, Message: "gone"} }, storagev1.PhaseFailed, storagev1.ReasonPolicyNotFound},
		{"invalid timeout", func(in *Input) { in.TimeoutErr = errors.New("spec.timeout \"x\": bad") }, storagev1.PhaseFailed, storagev1.ReasonInvalidSpec},
		{"window closed", func(in *Input) { in.WindowClosed, in.NextOpens = true, t0.Add(time.Hour) }, storagev1.PhasePending, storagev1.ReasonOutsideMigrationWindow},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newRunHarness(t)
			in := h.input()
			tc.change(&in)
			if _, err := h.run(in); err != nil {
				t.Fatal(err)
			}
			h.expectPhase(tc.phase)
			h.expectEvent(tc.reason)
			if h.listed != 0 || len(h.s.calls) != 0 {
				t.Fatalf("peers listed %d times, storage calls %v: want none", h.listed, h.s.calls)
			}
		})
	}
	h := newRunHarness(t)
	in := h.input()
	in.WindowClosed, in.NextOpens = true, t0.Add(time.Hour)
	if _, err := h.run(in); err != nil {
		t.Fatal(err)
	}
	if msg := h.tm.Status.Steps[len(h.tm.Status.Steps)-1].Message; !strings.Contains(msg, "2026-01-01T01:00:00Z") {
		t.Fatalf("the wait does not say when the next window opens: %q", msg)
	}
}

// An approval calls the caller's hook once, then the migration goes on to its slot.
func TestRunCallsApprovedOnce(t *testing.T) {
	h := newRunHarness(t)
	h.tm.Spec.ApprovalRequired = true
	if _, err := h.run(h.input()); err != nil {
		t.Fatal(err)
	}
	h.expectPhase(storagev1.PhaseWaitingApproval)
	if h.approved != 0 {
		t.Fatal("approved before any approval")
	}
	h.tm.Annotations = map[string]string{storagev1.AnnotationApproved: "true"}
	if _, err := h.run(h.input()); err != nil {
		t.Fatal(err)
	}
	h.expectPhase(storagev1.PhaseCompleted)
	if h.approved != 1 {
		t.Fatalf("approved hook called %d times, want 1", h.approved)
	}
}

// A failed status write stops the run with an error naming the phase.
func TestRunStopsOnAFailedWrite(t *testing.T) {
	h := newRunHarness(t)
	h.failAt = 2 // Pending is written, the start is not
	_, err := h.run(h.input())
	if err == nil || !strings.Contains(err.Error(), "in phase Pending") {
		t.Fatalf("error %v, want one naming phase Pending", err)
	}
	if h.tm.Status.Phase != storagev1.PhasePending || h.lock.held != 0 {
		t.Fatalf("phase %s, lock held %d", h.tm.Status.Phase, h.lock.held)
	}
}
