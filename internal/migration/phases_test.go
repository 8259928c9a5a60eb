package migration

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/mover"
)

// Rules of the migration phases. These are CoucheStor's own rules, not upstream's; where a test
// leans on an upstream answer it names it.

// Round 1's deadline is the timeout; a later round's grows with the volume size over the
// rebuild rate observed.
func TestRoundDeadlineGrowsWithObservedRebuildRate(t *testing.T) {
	start := t0
	if got := RoundDeadline(start, 30*time.Minute, 100<<30, 0, 0); !got.Equal(start.Add(30 * time.Minute)) {
		t.Fatalf("first round: %v", got)
	}
	// 10 GiB rebuilt in 20 minutes: a 100 GiB volume is expected to take 200 minutes.
	if got := RoundDeadline(start, 30*time.Minute, 100<<30, 10<<30, 1200); !got.Equal(start.Add(400 * time.Minute)) {
		t.Fatalf("slow rebuild: deadline %v, want start + 2 × 200m", got.Sub(start))
	}
	// A fast rebuild keeps the timeout.
	if got := RoundDeadline(start, 30*time.Minute, 10<<30, 10<<30, 60); !got.Equal(start.Add(30 * time.Minute)) {
		t.Fatalf("fast rebuild: deadline %v, want the timeout", got.Sub(start))
	}
}

// Each round gets its own deadline when it starts, from the rebuild observed in round 1.
func TestNextRoundGetsItsOwnDeadline(t *testing.T) {
	h := newHarness(t)
	h.start(StartParams{Timeout: 30 * time.Minute})
	h.s.sources = []mover.ReplicaRef{{ID: "s1", Pool: "pool-sata-1"}, {ID: "s2", Pool: "pool-sata-2"}}
	h.s.scaleDownRes = []mover.ScaleDownResult{{Removed: h.s.sources[0], SourceRemoved: true}, {SourceRemoved: true, Complete: true}}
	h.s.syncStates = []mover.SyncState{{Progress: 50, Waiting: "rebuilding, 50%"}, {Done: true, Progress: 100}}
	h.step() // analyze
	h.step() // scale up
	h.step() // 50%
	h.clk.Step(25 * time.Minute)
	h.step() // done: 10 GiB in 25 minutes
	h.clk.Step(time.Minute)
	h.step() // scale down: next round
	h.expectPhase(storagev1.PhaseScalingUp)
	st := h.tm.Status
	if st.RebuiltBytes != 10<<30 || st.RebuildSeconds != 25*60 {
		t.Fatalf("observed rebuild not recorded: %d bytes in %d s", st.RebuiltBytes, st.RebuildSeconds)
	}
	want := h.clk.Now().Add(50 * time.Minute) // 2 × 25 minutes > the 30-minute timeout
	if st.Deadline == nil || !st.Deadline.Time.Equal(want) {
		t.Fatalf("round 2 deadline %v, want %v", st.Deadline, want)
	}
	if st.Timeout == nil || st.Timeout.Duration != 30*time.Minute {
		t.Fatalf("timeout not fixed at start: %v", st.Timeout)
	}
}

// ScalingDown is bounded: a decrease that keeps failing ends the migration once the
// settle window after the round deadline is over, the volume at n+1 healthy replicas, the new
// replica recorded as kept. Before that, retries are capped so the deadline is met on time.
func TestScalingDownEndsAtItsDeadline(t *testing.T) {
	h := newHarness(t)
	h.m.SettleWindow = 5 * time.Minute
	h.start(StartParams{Timeout: 30 * time.Minute})
	h.step()
	h.step()
	h.step()
	h.expectPhase(storagev1.PhaseScalingDown)
	h.s.scaleDownErr = &mayastor.APIError{Op: "set replica count", StatusCode: http.StatusServiceUnavailable, Status: "503 Service Unavailable"}
	h.s.newPresent = true
	res := h.step()
	if res.Transient == nil || res.Ended != nil {
		t.Fatalf("before the deadline a 503 is retried: %+v", res)
	}
	// The deadline is the round's (30m from start): the retry never waits past it.
	if res.RequeueAfter <= 0 || res.RequeueAfter > 2*time.Minute {
		t.Fatalf("retry wait %v not capped", res.RequeueAfter)
	}
	h.run()
	h.expectPhase(storagev1.PhaseFailed)
	if end := h.tm.Status.CompletionTime.Time; end.After(h.tm.Status.Deadline.Add(10 * time.Second)) {
		t.Fatalf("ended at %v, deadline %v", end, h.tm.Status.Deadline)
	}
	if c := h.condition(storagev1.MigrationConditionSucceeded); c.Reason != storagev1.ReasonTimeout {
		t.Fatalf("condition %+v", c)
	}
	kept := h.tm.Status.KeptReplicas
	if len(kept) != 1 || kept[0].ID != "new" || kept[0].Reason != storagev1.ReasonTimeout {
		t.Fatalf("kept replicas %+v", kept)
	}
	h.expectEvent(storagev1.ReasonExtraReplicaKept)
	if msg := h.condition(storagev1.MigrationConditionSucceeded).Message; !strings.Contains(msg, "2 healthy of 2 replicas") || !strings.Contains(msg, "replica new") {
		t.Fatalf("final message does not say what the volume holds: %s", msg)
	}
}

// classify: 4xx answers retrying cannot change are refusals; 408, 409, 429, 5xx and transport
// errors are transient. Status codes per upstream control-plane/stor-port/src/types/mod.rs:12-149
// (openebs/mayastor-control-plane at c02e0cb).
func TestClassifyPermanentAnswers(t *testing.T) {
	for code, want := range map[int]errorKind{
		400: errRefusal, 404: errRefusal, 412: errRefusal, 422: errRefusal,
		408: errTransient, 409: errTransient, 429: errTransient, 500: errTransient, 503: errTransient, 507: errTransient,
	} {
		err := &mayastor.APIError{Op: "op", StatusCode: code, Status: http.StatusText(code)}
		kind, ref := classify(volID, err)
		if kind != want {
			t.Errorf("%d: kind %v, want %v", code, kind, want)
		}
		if kind == errRefusal && (ref == nil || ref.Reason != storagev1.ReasonStorageRejected) {
			t.Errorf("%d: refusal %+v", code, ref)
		}
	}
	if kind, _ := classify(volID, errors.New("connection reset")); kind != errTransient {
		t.Error("a transport error must be transient")
	}
}

// A 412 RestrictedReplicaCount on the decrease (an affinity-group volume, upstream
// control-plane/agents/src/bin/core/volume/specs.rs:1080-1086) ends the migration with the
// upstream message instead of retrying for ever.
func TestPermanentAnswerInScaleDownEndsWithUpstreamMessage(t *testing.T) {
	h := newHarness(t)
	h.start(StartParams{})
	h.step()
	h.step()
	h.step()
	h.s.newPresent = true
	h.s.scaleDownErr = &mayastor.APIError{Op: "set replica count of volume 1 to 1", StatusCode: http.StatusPreconditionFailed,
		Status: "412 Precondition Failed", Body: mayastor.RestJsonError{Kind: mayastor.ErrorKindFailedPrecondition, Details: "RestrictedReplicaCount: affinity group volume needs at least 2 replicas"}}
	res := h.step()
	if res.Transient != nil || res.Ended == nil {
		t.Fatalf("a 412 must end the migration, got %+v", res)
	}
	h.expectPhase(storagev1.PhaseFailed)
	if c := h.condition(storagev1.MigrationConditionSucceeded); c.Reason != storagev1.ReasonStorageRejected || !strings.Contains(c.Message, "RestrictedReplicaCount") {
		t.Fatalf("condition %+v", c)
	}
	if len(h.tm.Status.KeptReplicas) != 1 {
		t.Fatalf("the rebuilt new replica stays and must be recorded: %+v", h.tm.Status.KeptReplicas)
	}
}

// A roll-back that cannot lower the count yet (the target away: 503, then an Abort that cannot
// tell the new replica from the sources) comes back to it when the fault clears.
func TestRollbackRetriesUntilTheFaultClears(t *testing.T) {
	h := newHarness(t)
	h.start(StartParams{})
	h.s.syncStates = []mover.SyncState{{Failed: "replica new is faulted"}}
	h.s.abortErrs = []error{
		&mayastor.APIError{Op: "set replica count", StatusCode: http.StatusServiceUnavailable, Status: "503"},
		&mover.RefusalError{Reason: mover.ReasonAbortUnsafe, VolumeID: volID, Detail: "could remove source replica src"},
		nil,
	}
	h.run()
	h.expectPhase(storagev1.PhaseFailed)
	h.expectEnding(storagev1.OutcomeRolledBack)
	aborts := 0
	for _, c := range h.s.calls {
		if c == "Abort" {
			aborts++
		}
	}
	if aborts != 3 {
		t.Fatalf("Abort called %d times, want 3 (calls %v)", aborts, h.s.calls)
	}
	if msg := h.condition(storagev1.MigrationConditionSucceeded).Message; !strings.Contains(msg, "replica new, the one this round added, was removed") {
		t.Fatalf("message %q", msg)
	}
	if len(h.tm.Status.KeptReplicas) != 0 {
		t.Fatalf("nothing kept after a roll-back: %+v", h.tm.Status.KeptReplicas)
	}
}

// ...and gives up at the roll-back deadline, saying exactly what was left and recording the
// extra replica, instead of staying in RollingBack (or ending at n+1 with a false message).
func TestRollbackGivesUpAtItsDeadline(t *testing.T) {
	h := newHarness(t)
	h.m.SettleWindow = 5 * time.Minute
	h.start(StartParams{})
	h.s.syncStates = []mover.SyncState{{Waiting: "target unavailable"}}
	h.s.abortErr = &mover.RefusalError{Reason: mover.ReasonAbortUnsafe, VolumeID: volID, Detail: "could remove source replica src"}
	h.s.report = &mover.VolumeReport{Exists: true, NumReplicas: 2, Replicas: []mover.ReplicaRef{{ID: "new", Pool: "pool-nvme-2"}, {ID: "src"}}, Healthy: []string{"src"}}
	h.step()
	h.step()
	h.clk.Step(31 * time.Minute)
	h.step() // past the round deadline: roll back
	h.expectPhase(storagev1.PhaseRollingBack)
	rbStart := h.clk.Now()
	h.run()
	h.expectPhase(storagev1.PhaseFailed)
	if d := h.tm.Status.CompletionTime.Sub(rbStart); d < 5*time.Minute || d > 5*time.Minute+15*time.Second {
		t.Fatalf("roll-back ended %v after it began, want its 5m window (+ one poll)", d)
	}
	if c := h.condition(storagev1.MigrationConditionSucceeded); c.Reason != storagev1.ReasonRollbackIncomplete {
		t.Fatalf("condition %+v", c)
	}
	msg := h.condition(storagev1.MigrationConditionSucceeded).Message
	if !strings.Contains(msg, "1 healthy of 2 replicas (num_replicas 2)") || !strings.Contains(msg, "replica new on pool pool-nvme-2 (not healthy yet)") {
		t.Fatalf("message does not say what was left: %s", msg)
	}
	if k := h.tm.Status.KeptReplicas; len(k) != 1 || k[0].ID != "new" || k[0].Reason != storagev1.ReasonRollbackIncomplete {
		t.Fatalf("kept %+v", k)
	}
	h.expectEvent(storagev1.ReasonExtraReplicaKept)
}

// A count changed by someone else during WaitingSync ends the move with a message naming the
// counts, without going to ScalingDown (no WaitingSync <-> ScalingDown bounce).
func TestOutsideCountChangeDuringSyncStops(t *testing.T) {
	h := newHarness(t)
	h.start(StartParams{})
	h.s.syncErr = &mover.RefusalError{Reason: mover.ReasonReplicaCountChanged, VolumeID: volID,
		Detail: "num_replicas is 3, this move expects 2: another actor changed the replica count during the move"}
	h.s.newPresent = true
	h.run()
	h.expectPhase(storagev1.PhaseFailed)
	for _, c := range h.s.calls {
		if c == "ScaleDown" || c == "Abort" {
			t.Fatalf("the move must stop without touching the count: calls %v", h.s.calls)
		}
	}
	c := h.condition(storagev1.MigrationConditionSucceeded)
	if c.Reason != string(mover.ReasonReplicaCountChanged) || !strings.Contains(c.Message, "num_replicas is 3, this move expects 2") {
		t.Fatalf("condition %+v", c)
	}
	if len(h.tm.Status.KeptReplicas) != 1 {
		t.Fatalf("kept %+v", h.tm.Status.KeptReplicas)
	}
}

// A roll-back in round 2 tells what round 1 did (it used to say the sources were untouched),
// and an Abort whose decrease removed another replica than the one added says so.
func TestRollbackMessageTellsEarlierRoundsAndWhatWasRemoved(t *testing.T) {
	h := newHarness(t)
	h.start(StartParams{})
	h.s.sources = []mover.ReplicaRef{{ID: "s1", Pool: "pool-sata-1"}, {ID: "s2", Pool: "pool-sata-2"}}
	h.s.scaleDownRes = []mover.ScaleDownResult{{Removed: h.s.sources[0], SourceRemoved: true}}
	h.step() // analyze
	h.step() // scale up
	h.step() // synced
	h.step() // round 1 removes s1
	h.expectPhase(storagev1.PhaseScalingUp)
	h.s.syncStates = []mover.SyncState{{Failed: "replica new is faulted"}}
	h.s.abortRemoves = "other"
	h.tm.Status.Checkpoint.BaseReplicaIDs = append(h.tm.Status.Checkpoint.BaseReplicaIDs, "other")
	h.run()
	h.expectPhase(storagev1.PhaseFailed)
	msg := h.condition(storagev1.MigrationConditionSucceeded).Message
	for _, want := range []string{"earlier rounds removed source replica(s) [s1]", "removed replica(s) [other], not replica new", "healthy of"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q: %s", want, msg)
		}
	}
	if strings.Contains(msg, "source replicas are untouched") && !strings.Contains(msg, "remaining source replicas are untouched") {
		t.Errorf("message claims the sources are untouched: %s", msg)
	}
}

// Preservation mode ends with one replica more: it is recorded and announced.
func TestPreservationRecordsTheKeptReplica(t *testing.T) {
	h := newHarness(t)
	h.start(StartParams{PreservationMode: true})
	h.run()
	h.expectPhase(storagev1.PhaseCompleted)
	if k := h.tm.Status.KeptReplicas; len(k) != 1 || k[0].ID != "new" || k[0].Reason != storagev1.ReasonPreservationMode || k[0].Pool != "pool-nvme-2" {
		t.Fatalf("kept %+v", k)
	}
	h.expectEvent(storagev1.ReasonExtraReplicaKept)
}

// The gauge counts volumes whose latest ended migration kept a replica.
func TestKeptExtraReplicaVolumes(t *testing.T) {
	mk := func(name, vol string, end time.Duration, kept bool) storagev1.TierMigration {
		tm := storagev1.TierMigration{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: storagev1.TierMigrationSpec{VolumeID: vol}}
		tm.Status.Phase = storagev1.PhaseFailed
		tm.Status.CompletionTime = ptr.To(metav1.NewTime(t0.Add(end)))
		if kept {
			tm.Status.KeptReplicas = []storagev1.KeptReplica{{ID: "r", Reason: "x"}}
		}
		return tm
	}
	running := mk("run", "v4", 0, true)
	running.Status.Phase, running.Status.CompletionTime = storagev1.PhaseWaitingSync, nil
	tms := []storagev1.TierMigration{
		mk("a1", "v1", 1, true),                           // v1 kept
		mk("b1", "v2", 1, true), mk("b2", "v2", 2, false), // v2 resolved by a later migration
		mk("c1", "v3", 1, false), mk("c2", "v3", 2, true), // v3 kept by the latest
		running,
	}
	if got := KeptExtraReplicaVolumes(tms); got != 2 {
		t.Fatalf("got %d, want 2", got)
	}
}
