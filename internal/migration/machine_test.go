package migration

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	k8stypes "k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/mover"
)

const volID = "0c4f3a52-7d1e-4b6a-9a0e-000000000001"

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// fakeStorage behaves like the Mover where the state machine can tell: it journals before each
// write, in the same order, and logs every journal and write to a shared trace.
type fakeStorage struct {
	trace *[]string
	// writes counts calls that would change Mayastor (cordon, replica count, republish).
	writes int
	calls  []string

	analyzeErr   error
	scaleUpErr   error
	syncStates   []mover.SyncState // returned in turn; the last one repeats
	syncErr      error
	scaleDownRes []mover.ScaleDownResult // returned in turn; the last one repeats
	scaleDownErr error
	preserveErr  error
	abortErr     error
	abortErrs    []error // returned in turn before abortErr; nil entries succeed
	releaseErr   error
	// report is what Inspect returns; nil: the plan's base replicas, all healthy, plus the new
	// replica (healthy) when newPresent.
	// sources replace Analyze's single source "src" (Replicas becomes their number).
	sources []mover.ReplicaRef
	// abortRemoves is the replica a successful Abort's decrease removes (default: the new one).
	abortRemoves string
	report       *mover.VolumeReport
	newPresent   bool
	inspectErr   error
}

func (f *fakeStorage) Inspect(_ context.Context, p mover.Plan) (mover.VolumeReport, error) {
	f.calls = append(f.calls, "Inspect")
	if f.inspectErr != nil {
		return mover.VolumeReport{}, f.inspectErr
	}
	if f.report != nil {
		return *f.report, nil
	}
	rep := mover.VolumeReport{Exists: true, NumReplicas: p.Replicas, Published: true}
	for _, id := range p.BaseReplicaIDs {
		rep.Replicas = append(rep.Replicas, mover.ReplicaRef{ID: id})
		rep.Healthy = append(rep.Healthy, id)
	}
	if f.newPresent && p.NewReplica != nil {
		rep.Replicas = append(rep.Replicas, *p.NewReplica)
		rep.Healthy = append(rep.Healthy, p.NewReplica.ID)
		rep.NumReplicas++
	}
	return rep, nil
}

func (f *fakeStorage) act(what string) {
	f.writes++
	*f.trace = append(*f.trace, "act "+what)
}

func (f *fakeStorage) Analyze(_ context.Context, id, vol string, target, source labels.Selector) (mover.Plan, error) {
	f.calls = append(f.calls, "Analyze")
	if f.analyzeErr != nil {
		return mover.Plan{}, f.analyzeErr
	}
	p := mover.Plan{
		MigrationID: id, VolumeID: vol, TargetSelector: target.String(), Replicas: 1, VolumeSize: 10 << 30,
		BaseReplicaIDs: []string{"src"}, SourceReplicas: []mover.ReplicaRef{{ID: "src", Node: "n1", Pool: "pool-sata-1"}},
		TargetPools: []string{"pool-nvme-2"}, NexusNode: "n1", CordonLabel: mover.CordonLabelFor(id),
	}
	if f.sources != nil {
		p.SourceReplicas, p.BaseReplicaIDs, p.Replicas = slices.Clone(f.sources), nil, len(f.sources)
		for _, r := range f.sources {
			p.BaseReplicaIDs = append(p.BaseReplicaIDs, r.ID)
		}
	}
	return p, nil
}

func (f *fakeStorage) ReleaseAtEnd(ctx context.Context, p mover.Plan) (mover.Plan, error) {
	return f.ReleaseCordons(ctx, p)
}

func (f *fakeStorage) ScaleUp(ctx context.Context, p mover.Plan, j mover.Journal) (mover.Plan, error) {
	f.calls = append(f.calls, "ScaleUp")
	if f.scaleUpErr != nil {
		return p, f.scaleUpErr
	}
	p.Cordons = []mover.Cordon{{Node: "n3", Label: p.CordonLabel}}
	p.Increases++
	if err := j(ctx, p); err != nil {
		return p, err
	}
	f.act("cordon n3")
	f.act("replica_count 2")
	f.act("uncordon n3")
	p.Cordons = nil
	if err := j(ctx, p); err != nil {
		return p, err
	}
	p.NewReplica = &mover.ReplicaRef{ID: "new", Node: "n2", Pool: "pool-nvme-2"}
	return p, j(ctx, p)
}

func (f *fakeStorage) KeepTail(_ context.Context, plan mover.Plan, _ mover.Journal) (mover.Plan, error) {
	return plan, nil
}

func (f *fakeStorage) SyncRound(context.Context, mover.Plan) (mover.SyncState, error) {
	f.calls = append(f.calls, "SyncRound")
	if f.syncErr != nil {
		return mover.SyncState{}, f.syncErr
	}
	if len(f.syncStates) == 0 {
		return mover.SyncState{Done: true, Progress: 100}, nil
	}
	s := f.syncStates[0]
	if len(f.syncStates) > 1 {
		f.syncStates = f.syncStates[1:]
	}
	return s, nil
}

func (f *fakeStorage) ScaleDown(ctx context.Context, p mover.Plan, j mover.Journal) (mover.Plan, mover.ScaleDownResult, error) {
	f.calls = append(f.calls, "ScaleDown")
	if f.scaleDownErr != nil {
		return p, mover.ScaleDownResult{}, f.scaleDownErr
	}
	res := mover.ScaleDownResult{Removed: p.SourceReplicas[0], SourceRemoved: true, Complete: true}
	if len(f.scaleDownRes) > 0 {
		res = f.scaleDownRes[0]
		if len(f.scaleDownRes) > 1 {
			f.scaleDownRes = f.scaleDownRes[1:]
		}
	}
	if err := j(ctx, p); err != nil {
		return p, res, err
	}
	f.act("replica_count 1")
	if res.SourceRemoved {
		p.RemovedSourceReplicas = append(p.RemovedSourceReplicas, p.SourceReplicas[0])
		p.SourceReplicas = p.SourceReplicas[1:]
		p.MovedReplicas = append(p.MovedReplicas, *p.NewReplica)
	}
	if res.Complete {
		p.SourceReplicas = nil
	}
	p.NewReplica = nil
	return p, res, j(ctx, p)
}

func (f *fakeStorage) Preserve(ctx context.Context, p mover.Plan, j mover.Journal) (mover.Plan, error) {
	f.calls = append(f.calls, "Preserve")
	if f.preserveErr != nil {
		return p, f.preserveErr
	}
	p.MovedReplicas = append(p.MovedReplicas, *p.NewReplica)
	p.PreservedSourceReplicas = p.SourceReplicas
	p.SourceReplicas, p.NewReplica = nil, nil
	p.Replicas++
	return p, j(ctx, p)
}

func (f *fakeStorage) Abort(ctx context.Context, p mover.Plan, j mover.Journal) (mover.Plan, error) {
	f.calls = append(f.calls, "Abort")
	if len(f.abortErrs) > 0 {
		err := f.abortErrs[0]
		f.abortErrs = f.abortErrs[1:]
		if err != nil {
			return p, err
		}
	} else if f.abortErr != nil {
		return p, f.abortErr
	}
	if p.NewReplica != nil {
		if err := j(ctx, p); err != nil {
			return p, err
		}
		f.act(fmt.Sprintf("replica_count %d", p.Replicas))
		gone := p.NewReplica.ID
		if f.abortRemoves != "" {
			gone = f.abortRemoves
		}
		ids := append(slices.Clone(p.BaseReplicaIDs), p.NewReplica.ID)
		p.BaseReplicaIDs = slices.DeleteFunc(ids, func(id string) bool { return id == gone })
		slices.Sort(p.BaseReplicaIDs)
	}
	p.NewReplica = nil
	return p, j(ctx, p)
}

func (f *fakeStorage) ReleaseCordons(_ context.Context, p mover.Plan) (mover.Plan, error) {
	f.calls = append(f.calls, "ReleaseCordons")
	if f.releaseErr != nil {
		return p, f.releaseErr
	}
	for _, c := range p.Cordons {
		f.act("uncordon " + c.Node)
	}
	p.Cordons = nil
	return p, nil
}

// harness drives a Machine over a TierMigration held by a fake API server (persisted copies).
type harness struct {
	t       *testing.T
	clk     *clocktesting.FakeClock
	m       *Machine
	s       *fakeStorage
	tm      *storagev1.TierMigration
	trace   []string
	stored  []storagev1.TierMigrationStatus // every persisted status, in order
	failAt  int                             // fail the n-th persist (1-based); 0 never
	persist int
	events  []Event
	endings []Ending
}

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, clk: clocktesting.NewFakeClock(t0)}
	h.s = &fakeStorage{trace: &h.trace}
	h.m = &Machine{Clock: h.clk, PollInterval: 10 * time.Second, Persist: func(_ context.Context, tm *storagev1.TierMigration) error {
		h.persist++
		if h.persist == h.failAt {
			return errors.New("apiserver unavailable")
		}
		st := tm.Status.DeepCopy()
		h.stored = append(h.stored, *st)
		cordons := 0
		if st.Checkpoint != nil {
			cordons = len(st.Checkpoint.Cordons)
		}
		h.trace = append(h.trace, fmt.Sprintf("persist %s cordons=%d", st.Phase, cordons))
		return nil
	}}
	h.tm = &storagev1.TierMigration{
		ObjectMeta: metav1.ObjectMeta{Name: "tm-1", UID: "uid-1", Generation: 1, CreationTimestamp: metav1.NewTime(t0)},
		Spec:       storagev1.TierMigrationSpec{VolumeID: volID, TargetTier: storagev1.TierNVMe, PolicyName: "p"},
	}
	return h
}

func (h *harness) record(res Result, err error) Result {
	h.t.Helper()
	if err != nil {
		h.t.Fatalf("step in phase %s: %v", h.tm.Status.Phase, err)
	}
	h.events = append(h.events, res.Events...)
	if res.Ended != nil {
		h.endings = append(h.endings, *res.Ended)
	}
	return res
}

// run steps until the migration ends, moving the clock on by each step's wait, and fails the
// test if that takes more than 500 steps (a phase that never ends).
func (h *harness) run() {
	h.t.Helper()
	for i := 0; !h.tm.Status.Phase.IsTerminal(); i++ {
		if i == 500 {
			h.t.Fatalf("not terminal after 500 steps: phase %s, steps %+v", h.tm.Status.Phase, h.tm.Status.Steps)
		}
		res := h.step()
		switch {
		case res.Transient != nil && res.RequeueAfter > 0:
			h.clk.Step(res.RequeueAfter)
		case res.Transient != nil:
			h.clk.Step(2 * time.Minute)
		case !res.Continue:
			h.clk.Step(res.RequeueAfter)
		}
	}
}

func (h *harness) input() StepInput {
	return StepInput{Storage: h.s, TargetPools: labels.SelectorFromSet(labels.Set{"tier": "hot"})}
}

func (h *harness) step() Result {
	h.t.Helper()
	return h.record(h.m.Step(context.Background(), h.tm, h.input()))
}

// start brings the migration to Analyzing.
func (h *harness) start(p StartParams) {
	h.t.Helper()
	ctx := context.Background()
	h.record(h.m.Accept(ctx, h.tm))
	if p.Timeout == 0 {
		p.Timeout = 30 * time.Minute
	}
	h.record(h.m.Start(ctx, h.tm, p))
	h.expectPhase(storagev1.PhaseAnalyzing)
}

func (h *harness) expectPhase(want storagev1.MigrationPhase) {
	h.t.Helper()
	if got := h.tm.Status.Phase; got != want {
		h.t.Fatalf("phase %s, want %s (status error %q, steps %+v)", got, want, h.tm.Status.Error, h.tm.Status.Steps)
	}
	if n := len(h.stored); n == 0 || h.stored[n-1].Phase != want {
		h.t.Fatalf("phase %s was not persisted", want)
	}
}

func (h *harness) expectEnding(outcome string) {
	h.t.Helper()
	if len(h.endings) != 1 || h.endings[0].Outcome != outcome {
		h.t.Fatalf("endings %+v, want exactly one %s", h.endings, outcome)
	}
}

func (h *harness) expectEvent(reason string) {
	h.t.Helper()
	for _, e := range h.events {
		if e.Reason == reason {
			return
		}
	}
	h.t.Fatalf("no %s event among %+v", reason, h.events)
}

func (h *harness) condition(typ string) *metav1.Condition {
	return meta.FindStatusCondition(h.tm.Status.Conditions, typ)
}

func TestHappyPathWalksEveryPhase(t *testing.T) {
	h := newHarness(t)
	h.start(StartParams{Timeout: 30 * time.Minute})
	if h.tm.Status.StartTime == nil || !h.tm.Status.Deadline.Time.Equal(t0.Add(30*time.Minute)) {
		t.Fatalf("start time %v, deadline %v", h.tm.Status.StartTime, h.tm.Status.Deadline)
	}

	if res := h.step(); !res.Continue {
		t.Fatal("analyze should let the next phase run at once")
	}
	h.expectPhase(storagev1.PhaseScalingUp)
	st := h.tm.Status
	if st.SourceTier != storagev1.TierSATA || st.OriginalReplicaCount != 1 || !slices.Equal(st.SourceReplicas, []string{"src"}) ||
		st.Checkpoint == nil || st.Checkpoint.MigrationID != "tm-1" {
		t.Fatalf("analysis not recorded: %+v", st)
	}

	h.clk.Step(time.Second)
	h.step()
	h.expectPhase(storagev1.PhaseWaitingSync)
	if h.tm.Status.NewReplica != "new" || h.tm.Status.TargetPool != "pool-nvme-2" || h.tm.Status.Attempts != 1 || len(h.tm.Status.Cordons) != 0 {
		t.Fatalf("scale-up not recorded: %+v", h.tm.Status)
	}

	h.s.syncStates = []mover.SyncState{{Progress: 40, Waiting: "rebuilding, 40%"}, {Done: true, Progress: 100}}
	h.clk.Step(time.Second)
	res := h.step()
	if res.Continue || res.RequeueAfter != 10*time.Second {
		t.Fatalf("waiting sync should poll again after the poll interval: %+v", res)
	}
	h.expectPhase(storagev1.PhaseWaitingSync)
	if h.tm.Status.SyncProgress != 40 || !strings.Contains(h.tm.Status.Steps[len(h.tm.Status.Steps)-1].Message, "40%") {
		t.Fatalf("progress not recorded: %d, %+v", h.tm.Status.SyncProgress, h.tm.Status.Steps)
	}
	writesBefore := len(h.stored)
	h.s.syncStates = []mover.SyncState{{Progress: 40, Waiting: "rebuilding, 40%"}, {Done: true, Progress: 100}}
	h.step()
	if len(h.stored) != writesBefore {
		t.Fatal("an unchanged sync state should not write the status again")
	}

	h.clk.Step(time.Second)
	h.step()
	h.expectPhase(storagev1.PhaseScalingDown)
	h.clk.Step(time.Second)
	h.step()
	h.expectPhase(storagev1.PhaseCompleted)
	h.expectEnding(storagev1.OutcomeSucceeded)
	if h.endings[0].Duration != 4*time.Second {
		t.Fatalf("duration %v", h.endings[0].Duration)
	}
	st = h.tm.Status
	if st.CompletionTime == nil || st.SyncProgress != 100 || st.Rounds != 1 || st.NewReplica != "new" || st.Error != "" {
		t.Fatalf("completion not recorded: %+v", st)
	}
	var phases []storagev1.MigrationPhase
	for _, s := range st.Steps {
		phases = append(phases, s.Phase)
		if s.CompletionTime == nil {
			t.Errorf("step %s has no completion time", s.Phase)
		}
	}
	want := []storagev1.MigrationPhase{"Pending", "Analyzing", "ScalingUp", "WaitingSync", "ScalingDown", "Completed"}
	if !slices.Equal(phases, want) {
		t.Fatalf("steps %v, want %v", phases, want)
	}
	if c := h.condition(storagev1.MigrationConditionSucceeded); c == nil || c.Status != metav1.ConditionTrue || c.Reason != storagev1.ReasonMoved {
		t.Fatalf("succeeded condition %+v", c)
	}
	if c := h.condition(storagev1.MigrationConditionProgressing); c == nil || c.Status != metav1.ConditionFalse {
		t.Fatalf("progressing condition %+v", c)
	}
	for _, r := range []string{"Started", "ScalingUp", "WaitingSync", "ScalingDown", storagev1.ReasonMoved} {
		h.expectEvent(r)
	}
}

// The journal discipline: the status holding a cordon, and the status holding the plan a
// replica-count change acts on, are written before the call is made.
func TestJournalIsPersistedBeforeEveryWrite(t *testing.T) {
	h := newHarness(t)
	h.start(StartParams{})
	h.run()
	lastPersist := -1
	for i, e := range h.trace {
		switch {
		case strings.HasPrefix(e, "persist"):
			lastPersist = i
		case e == "act cordon n3":
			if lastPersist < 0 || !strings.HasSuffix(h.trace[lastPersist], "cordons=1") {
				t.Fatalf("cordon applied without being persisted first: %v", h.trace[:i+1])
			}
		case strings.HasPrefix(e, "act replica_count"):
			if lastPersist < 0 || lastPersist != i-1 && !strings.HasPrefix(h.trace[i-1], "act cordon") {
				t.Fatalf("%s not preceded by a status write: %v", e, h.trace[:i+1])
			}
		}
	}
	if h.s.writes == 0 {
		t.Fatal("the fake made no write: the test checked nothing")
	}
}

// A failed status write stops the step before the storage acts, and the in-memory status is
// the stored one.
func TestFailedJournalStopsBeforeActing(t *testing.T) {
	h := newHarness(t)
	h.start(StartParams{})
	h.step()
	h.expectPhase(storagev1.PhaseScalingUp)
	h.failAt = h.persist + 1
	before := h.tm.Status.DeepCopy()
	_, err := h.m.Step(context.Background(), h.tm, h.input())
	if err == nil {
		t.Fatal("a failed journal write should fail the step")
	}
	if h.s.writes != 0 {
		t.Fatalf("the storage acted %d times after its journal write failed", h.s.writes)
	}
	if h.tm.Status.Phase != storagev1.PhaseScalingUp || len(h.tm.Status.Cordons) != 0 || h.tm.Status.Checkpoint.PlacementAttempts != before.Checkpoint.PlacementAttempts {
		t.Fatalf("in-memory status diverged from the stored one: %+v", h.tm.Status)
	}
}

func TestMultiRoundMoveGoesBackToScaleUp(t *testing.T) {
	h := newHarness(t)
	h.start(StartParams{})
	h.s.scaleDownRes = []mover.ScaleDownResult{{Removed: mover.ReplicaRef{ID: "new"}}, {SourceRemoved: true, Complete: true}}
	h.step() // analyze
	h.step() // scale up
	h.step() // sync done
	h.step() // scale down: removed the new replica instead of the source
	h.expectPhase(storagev1.PhaseScalingUp)
	if h.tm.Status.Rounds != 1 || !strings.Contains(h.tm.Status.Steps[len(h.tm.Status.Steps)-1].Message, "not a source") {
		t.Fatalf("round not recorded: %+v", h.tm.Status.Steps)
	}
	h.run()
	h.expectPhase(storagev1.PhaseCompleted)
	if h.tm.Status.Rounds != 2 || h.tm.Status.Attempts != 2 {
		t.Fatalf("rounds %d attempts %d, want 2 and 2", h.tm.Status.Rounds, h.tm.Status.Attempts)
	}
}

func TestTimeoutWhileSyncingRollsBack(t *testing.T) {
	h := newHarness(t)
	h.start(StartParams{Timeout: 5 * time.Minute})
	h.s.syncStates = []mover.SyncState{{Progress: 10, Waiting: "rebuilding, 10%"}}
	h.step()
	h.step()
	h.step()
	h.expectPhase(storagev1.PhaseWaitingSync)
	h.clk.Step(5 * time.Minute)
	h.step()
	h.expectPhase(storagev1.PhaseRollingBack)
	if c := h.condition(storagev1.MigrationConditionSucceeded); c == nil || c.Status != metav1.ConditionFalse || c.Reason != storagev1.ReasonTimeout {
		t.Fatalf("succeeded condition during roll-back %+v", c)
	}
	h.step()
	h.expectPhase(storagev1.PhaseFailed)
	h.expectEnding(storagev1.OutcomeRolledBack)
	if !slices.Contains(h.s.calls, "Abort") || slices.Contains(h.s.calls, "ScaleDown") {
		t.Fatalf("calls %v: want Abort and no ScaleDown", h.s.calls)
	}
	if c := h.condition(storagev1.MigrationConditionSucceeded); c == nil || c.Reason != storagev1.ReasonTimeout {
		t.Fatalf("the failure should keep its reason Timeout: %+v", c)
	}
	if !strings.Contains(h.tm.Status.Error, "Timeout") {
		t.Fatalf("error %q", h.tm.Status.Error)
	}
	h.expectEvent(storagev1.ReasonRolledBack)
}

func TestTimeoutBeforeScaleUpRollsBack(t *testing.T) {
	h := newHarness(t)
	h.start(StartParams{Timeout: time.Minute})
	h.step()
	h.clk.Step(time.Minute)
	h.step()
	h.expectPhase(storagev1.PhaseRollingBack)
	if slices.Contains(h.s.calls, "ScaleUp") {
		t.Fatal("scaled up after the deadline")
	}
}

// Once the new replica is rebuilt, the deadline no longer stops the move: removing the source
// is the way forward, undoing could take a source.
func TestTimeoutDoesNotInterruptScaleDown(t *testing.T) {
	h := newHarness(t)
	h.start(StartParams{Timeout: time.Minute})
	h.step()
	h.step()
	h.step()
	h.expectPhase(storagev1.PhaseScalingDown)
	h.clk.Step(time.Hour)
	h.step()
	h.expectPhase(storagev1.PhaseCompleted)
	h.expectEnding(storagev1.OutcomeSucceeded)
}

func TestRebuildFailureRollsBack(t *testing.T) {
	h := newHarness(t)
	h.start(StartParams{})
	h.s.syncStates = []mover.SyncState{{Failed: "replica new is faulted"}}
	h.step()
	h.step()
	h.step()
	h.expectPhase(storagev1.PhaseRollingBack)
	h.step()
	h.expectPhase(storagev1.PhaseFailed)
	h.expectEnding(storagev1.OutcomeRolledBack)
	if c := h.condition(storagev1.MigrationConditionSucceeded); c.Reason != storagev1.ReasonSyncFailed || !strings.Contains(c.Message, "faulted") {
		t.Fatalf("condition %+v", c)
	}
}

func TestAnalyzeRefusalFailsWithoutWriting(t *testing.T) {
	h := newHarness(t)
	h.start(StartParams{})
	h.s.analyzeErr = &mover.RefusalError{Reason: mover.ReasonNexusLocalSource, VolumeID: volID, Detail: "republishing is not allowed"}
	h.step()
	h.expectPhase(storagev1.PhaseFailed)
	h.expectEnding(storagev1.OutcomeFailed)
	c := h.condition(storagev1.MigrationConditionSucceeded)
	if c == nil || c.Reason != string(mover.ReasonNexusLocalSource) || !strings.Contains(c.Message, "republishing is not allowed") {
		t.Fatalf("condition %+v", c)
	}
	if h.s.writes != 0 || !strings.Contains(h.tm.Status.Error, "NexusLocalSourceReplica") {
		t.Fatalf("writes %d, error %q", h.s.writes, h.tm.Status.Error)
	}
	h.expectEvent(string(mover.ReasonNexusLocalSource))
}

func TestAlreadyOnTargetCompletes(t *testing.T) {
	h := newHarness(t)
	h.start(StartParams{})
	h.s.analyzeErr = &mover.RefusalError{Reason: mover.ReasonAlreadyOnTarget, VolumeID: volID, Detail: "all 1 replicas are on pools matching tier=hot"}
	h.step()
	h.expectPhase(storagev1.PhaseCompleted)
	h.expectEnding(storagev1.OutcomeSucceeded)
	if c := h.condition(storagev1.MigrationConditionSucceeded); c.Reason != storagev1.ReasonAlreadyOnTargetTier || !strings.Contains(c.Message, "already on NVMe") {
		t.Fatalf("condition %+v", c)
	}
}

func TestTransientErrorStaysInPhaseAndRetries(t *testing.T) {
	h := newHarness(t)
	h.start(StartParams{})
	h.step()
	h.s.scaleUpErr = &mayastor.TransportError{Op: "set replica count", Err: errors.New("connection refused")}
	res := h.step()
	if res.Transient == nil || res.Continue {
		t.Fatalf("a transport error should ask for a retry: %+v", res)
	}
	h.expectPhase(storagev1.PhaseScalingUp)
	if msg := h.tm.Status.Steps[len(h.tm.Status.Steps)-1].Message; !strings.Contains(msg, "connection refused") {
		t.Fatalf("step message %q", msg)
	}
	if c := h.condition(storagev1.MigrationConditionProgressing); c.Reason != storagev1.ReasonRetrying {
		t.Fatalf("progressing %+v", c)
	}
	writes := len(h.stored)
	h.step()
	if len(h.stored) != writes {
		t.Fatal("the same error again should not rewrite the status")
	}
	h.s.scaleUpErr = nil
	if res := h.step(); res.Transient != nil {
		t.Fatal(res.Transient)
	}
	h.expectPhase(storagev1.PhaseWaitingSync)
	if c := h.condition(storagev1.MigrationConditionProgressing); c.Reason != string(storagev1.PhaseWaitingSync) {
		t.Fatalf("progressing after recovery %+v", c)
	}
}

// A Mayastor outage past the deadline does not keep a half-done migration forever.
func TestTransientErrorPastDeadlineRollsBack(t *testing.T) {
	h := newHarness(t)
	h.start(StartParams{Timeout: time.Minute})
	h.step()
	h.step()
	h.s.syncErr = &mayastor.APIError{Op: "get volume", StatusCode: 503, Status: "503 Service Unavailable"}
	if res := h.step(); res.Transient == nil {
		t.Fatal("want a retry")
	}
	h.clk.Step(2 * time.Minute)
	h.step()
	h.expectPhase(storagev1.PhaseRollingBack)
}

func TestDryRunMakesNoWrite(t *testing.T) {
	h := newHarness(t)
	h.start(StartParams{DryRun: true})
	h.step()
	h.expectPhase(storagev1.PhaseCompleted)
	h.expectEnding(storagev1.OutcomeDryRun)
	if h.s.writes != 0 || !slices.Equal(h.s.calls, []string{"Analyze"}) {
		t.Fatalf("dry run called %v with %d writes", h.s.calls, h.s.writes)
	}
	c := h.condition(storagev1.MigrationConditionSucceeded)
	if c.Reason != storagev1.ReasonDryRun || !strings.Contains(c.Message, "would move 1 replica(s) [src]") || !strings.Contains(c.Message, "pool-nvme-2") {
		t.Fatalf("condition %+v", c)
	}
}

func TestPreservationKeepsTheSource(t *testing.T) {
	h := newHarness(t)
	h.start(StartParams{PreservationMode: true})
	h.run()
	h.expectPhase(storagev1.PhaseCompleted)
	h.expectEnding(storagev1.OutcomeSucceeded)
	if slices.Contains(h.s.calls, "ScaleDown") || !slices.Contains(h.s.calls, "Preserve") {
		t.Fatalf("calls %v", h.s.calls)
	}
	cp := h.tm.Status.Checkpoint
	if len(cp.PreservedSourceReplicas) != 1 || cp.Replicas != 2 || !slices.Equal(h.tm.Status.SourceReplicas, []string{"src"}) {
		t.Fatalf("checkpoint %+v", cp)
	}
	if c := h.condition(storagev1.MigrationConditionSucceeded); c.Reason != storagev1.ReasonPreserved {
		t.Fatalf("condition %+v", c)
	}
}

func TestAbortThatWouldRiskASourceKeepsTheExtraReplica(t *testing.T) {
	h := newHarness(t)
	h.start(StartParams{})
	h.s.syncStates = []mover.SyncState{{Failed: "volume is unpublished"}}
	h.s.abortErr = &mover.RefusalError{Reason: mover.ReasonAbortUnsafe, VolumeID: volID, Detail: "the extra replica is already healthy"}
	h.s.newPresent = true // Inspect: the new replica is there, and every replica healthy
	h.run()
	h.expectPhase(storagev1.PhaseFailed)
	h.expectEnding(storagev1.OutcomeRolledBack)
	h.expectEvent(storagev1.ReasonExtraReplicaKept)
}

func TestExcessReplicaPendingRetriesAbort(t *testing.T) {
	h := newHarness(t)
	h.start(StartParams{})
	h.s.syncStates = []mover.SyncState{{Failed: "faulted"}}
	h.step()
	h.step()
	h.step()
	h.s.abortErr = &mover.RefusalError{Reason: mover.ReasonExcessReplicaPending, VolumeID: volID}
	if res := h.step(); res.RequeueAfter != 10*time.Second {
		t.Fatalf("want a poll, got %+v", res)
	}
	h.expectPhase(storagev1.PhaseRollingBack)
	h.s.abortErr = nil
	h.step()
	h.expectPhase(storagev1.PhaseFailed)
}

// A restarted operator finds cordons in the status: it lifts them before anything else.
func TestRecordedCordonsAreReleasedFirst(t *testing.T) {
	h := newHarness(t)
	h.start(StartParams{})
	h.step()
	h.tm.Status.Checkpoint.Cordons = []storagev1.NodeCordon{{Node: "n3", Label: "couchestor-migration-tm-1"}}
	h.tm.Status.Cordons = h.tm.Status.Checkpoint.Cordons
	res := h.step()
	if !slices.Equal(h.s.calls, []string{"Analyze", "ReleaseCordons"}) || !res.Continue {
		t.Fatalf("calls %v, result %+v", h.s.calls, res)
	}
	if n := len(h.stored); len(h.stored[n-1].Checkpoint.Cordons) != 0 || len(h.stored[n-1].Cordons) != 0 {
		t.Fatal("released cordons not recorded")
	}
	h.expectEvent(storagev1.ReasonCordonsReleased)

	// A release that fails keeps them recorded and retries.
	h.tm.Status.Checkpoint.Cordons = []storagev1.NodeCordon{{Node: "n3", Label: "couchestor-migration-tm-1"}}
	h.s.releaseErr = errors.New("node unreachable")
	if res := h.step(); res.Transient == nil {
		t.Fatal("want a retry")
	}
	if len(h.tm.Status.Checkpoint.Cordons) != 1 {
		t.Fatal("an unreleased cordon was dropped from the status")
	}
}

func TestUnwindAbortsAnInFlightMigration(t *testing.T) {
	h := newHarness(t)
	h.start(StartParams{})
	h.step()
	h.step()
	h.expectPhase(storagev1.PhaseWaitingSync)
	done, res, err := h.m.Unwind(context.Background(), h.tm, h.s)
	if err != nil || !done {
		t.Fatalf("unwind: done %v, err %v", done, err)
	}
	if !slices.Contains(h.s.calls, "Abort") || h.tm.Status.Checkpoint.NewReplica != nil {
		t.Fatalf("calls %v, checkpoint %+v", h.s.calls, h.tm.Status.Checkpoint)
	}
	if len(res.Events) == 0 || res.Events[0].Reason != storagev1.ReasonDeleted {
		t.Fatalf("events %+v", res.Events)
	}

	h2 := newHarness(t)
	h2.start(StartParams{})
	done, _, err = h2.m.Unwind(context.Background(), h2.tm, h2.s)
	if err != nil || !done || len(h2.s.calls) != 0 {
		t.Fatalf("unwinding an unstarted migration should do nothing: %v %v %v", done, err, h2.s.calls)
	}
}

func TestStepsAreBounded(t *testing.T) {
	st := &storagev1.TierMigrationStatus{}
	for i := range 40 {
		enterPhase(st, storagev1.PhaseScalingUp, fmt.Sprint(i), t0)
	}
	if len(st.Steps) != maxSteps || st.Steps[maxSteps-1].Message != "39" {
		t.Fatalf("%d steps, last %+v", len(st.Steps), st.Steps[len(st.Steps)-1])
	}
}

func TestCheckpointRoundTrips(t *testing.T) {
	p := mover.Plan{
		MigrationID: "m", VolumeID: volID, TargetSelector: "tier=hot", SourceSelector: "tier=cold", Replicas: 3, VolumeSize: 1 << 34,
		BaseReplicaIDs: []string{"a", "b"}, SourceReplicas: []mover.ReplicaRef{{ID: "a", Node: "n", Pool: "p"}},
		RemovedSourceReplicas: []mover.ReplicaRef{{ID: "x"}}, MovedReplicas: []mover.ReplicaRef{{ID: "y"}},
		PreservedSourceReplicas: []mover.ReplicaRef{{ID: "z"}}, NewReplica: &mover.ReplicaRef{ID: "c", Node: "n2", Pool: "q"},
		TargetPools: []string{"q"}, NexusNode: "n", CordonLabel: "l", Cordons: []mover.Cordon{{Node: "n3", Label: "l", Answered: true}},
		PlacementAttempts: 2, RemovalAttempts: 1, Forecast: "round 1 removes a", ExpectedRemoval: "a", Increases: 4,
		Placeholders: []mover.ReplicaRef{{ID: "ph", Node: "n", Pool: "p"}}, PlaceholdersCreated: 1,
	}
	// The Plan is the checkpoint type itself; every field is set so that a field the status
	// form drops fails here. Only a cordon's Answered flag is dropped, on purpose.
	v := reflect.ValueOf(p)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Fatalf("fixture leaves Plan.%s unset", v.Type().Field(i).Name)
		}
	}
	got := PlanFromCheckpoint(CheckpointFromPlan(p))
	if got.Cordons[0].Answered {
		t.Fatal("a cordon read back from the status claims its call answered")
	}
	got.Cordons[0].Answered = true
	if !reflect.DeepEqual(got, p) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, p)
	}
}

func TestAdmit(t *testing.T) {
	mk := func(name string, age int, vol, policy string, phase storagev1.MigrationPhase) storagev1.TierMigration {
		return storagev1.TierMigration{
			ObjectMeta: metav1.ObjectMeta{Name: name, UID: k8stypes.UID("uid-" + name), CreationTimestamp: metav1.NewTime(t0.Add(time.Duration(age) * time.Second))},
			Spec:       storagev1.TierMigrationSpec{VolumeID: vol, PolicyName: policy},
			Status:     storagev1.TierMigrationStatus{Phase: phase},
		}
	}
	self := mk("self", 10, "v1", "p", storagev1.PhasePending)
	cases := []struct {
		name   string
		others []storagev1.TierMigration
		dry    bool
		lim    Limits
		want   string // start, wait, busy
	}{
		{"free", nil, false, Limits{Global: 2, Policy: 2}, "start"},
		{"global full", []storagev1.TierMigration{mk("a", 1, "v2", "q", "ScalingUp"), mk("b", 2, "v3", "q", "WaitingSync")}, false, Limits{Global: 2, Policy: 5}, "wait"},
		{"terminal ones free their slot", []storagev1.TierMigration{mk("a", 1, "v2", "q", "Completed"), mk("b", 2, "v3", "q", "Failed")}, false, Limits{Global: 2}, "start"},
		{"policy full", []storagev1.TierMigration{mk("a", 1, "v2", "p", "RollingBack")}, false, Limits{Global: 5, Policy: 1}, "wait"},
		{"other policy does not count", []storagev1.TierMigration{mk("a", 1, "v2", "q", "Analyzing")}, false, Limits{Global: 5, Policy: 1}, "start"},
		{"older pending goes first", []storagev1.TierMigration{mk("a", 1, "v2", "q", "ScalingDown"), mk("b", 2, "v3", "q", "Pending")}, false, Limits{Global: 2}, "wait"},
		{"younger pending waits behind", []storagev1.TierMigration{mk("a", 1, "v2", "q", "ScalingDown"), mk("z", 20, "v3", "q", "Pending")}, false, Limits{Global: 2}, "start"},
		{"same volume in flight", []storagev1.TierMigration{mk("a", 20, "v1", "q", "WaitingSync")}, false, Limits{Global: 5}, "busy"},
		{"same volume, older pending", []storagev1.TierMigration{mk("a", 1, "v1", "q", "Pending")}, false, Limits{Global: 5}, "busy"},
		{"same volume, younger pending", []storagev1.TierMigration{mk("z", 20, "v1", "q", "Pending")}, false, Limits{Global: 5}, "start"},
		{"same volume, ended", []storagev1.TierMigration{mk("a", 1, "v1", "q", "Completed")}, false, Limits{Global: 5}, "start"},
		{"dry run needs no slot", []storagev1.TierMigration{mk("a", 1, "v2", "q", "ScalingUp")}, true, Limits{Global: 1}, "start"},
		{"an in-flight dry run holds no slot", []storagev1.TierMigration{func() storagev1.TierMigration {
			o := mk("a", 1, "v2", "q", "Analyzing")
			o.Spec.DryRun = true
			return o
		}()}, false, Limits{Global: 1}, "start"},
		{"dry run still respects the volume", []storagev1.TierMigration{mk("a", 1, "v1", "q", "ScalingUp")}, true, Limits{Global: 9}, "busy"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := Admit(&self, append(tc.others, self), tc.dry, tc.lim)
			got := "wait"
			switch {
			case a.Busy:
				got = "busy"
			case a.Start:
				got = "start"
			}
			if got != tc.want {
				t.Fatalf("got %s (%+v), want %s", got, a, tc.want)
			}
			if got != "start" && a.Message == "" {
				t.Fatal("a wait or refusal must say why")
			}
		})
	}
}

// A restart between the write that records a finished round and the write that moves on to the
// next round must start the next round, not fail a healthy migration.
func TestRoundFinishedBeforeRestartStartsNextRound(t *testing.T) {
	h := newHarness(t)
	h.start(StartParams{})
	h.step() // analyze
	h.step() // scale up
	h.step() // sync done → ScalingDown
	h.expectPhase(storagev1.PhaseScalingDown)
	// What the journal of an interrupted ScaleDown round leaves: the new replica settled,
	// sources still to move, phase still ScalingDown.
	cp := h.tm.Status.Checkpoint
	cp.MovedReplicas = append(cp.MovedReplicas, *cp.NewReplica)
	cp.NewReplica = nil
	if len(cp.SourceReplicas) == 0 {
		t.Fatal("the harness's plan has no source replica")
	}
	before := len(h.s.calls)
	res := h.step()
	h.expectPhase(storagev1.PhaseScalingUp)
	if h.tm.Status.Phase.IsTerminal() || res.Ended != nil {
		t.Fatalf("a healthy migration ended: %+v", h.tm.Status)
	}
	for _, c := range h.s.calls[before:] {
		if c == "ScaleDown" {
			t.Fatal("ScaleDown was called with no new replica to keep")
		}
	}
}

// When ScaleDown finds the new replica not in sync, the migration goes back to WaitingSync and
// looks again only after a poll interval, instead of bouncing between the phases at once.
func TestNotSyncedPausesBeforeLookingAgain(t *testing.T) {
	h := newHarness(t)
	h.start(StartParams{})
	h.step() // analyze
	h.step() // scale up
	h.step() // sync done → ScalingDown
	h.s.scaleDownErr = &mover.RefusalError{Reason: mover.ReasonNotSynced, VolumeID: "v", Detail: "replica r2 child-status Degraded"}
	res := h.step()
	h.expectPhase(storagev1.PhaseWaitingSync)
	if res.Continue || res.RequeueAfter != 10*time.Second {
		t.Fatalf("want a pause of one poll interval, got continue=%v requeueAfter=%v", res.Continue, res.RequeueAfter)
	}
}

// A cordon an ended migration still records (its call may have landed late) is released once
// the migration has ended, and the status stops listing it; a failed release keeps it recorded.
func TestSettleCordonsAfterTheEnd(t *testing.T) {
	h := newHarness(t)
	h.tm.Status.Phase = storagev1.PhaseCompleted
	h.tm.Status.Checkpoint = &storagev1.MigrationCheckpoint{VolumeID: volID, CordonLabel: "l", Cordons: []storagev1.NodeCordon{{Node: "n3", Label: "l"}}}
	h.tm.Status.Cordons = slices.Clone(h.tm.Status.Checkpoint.Cordons)

	h.s.releaseErr = errors.New("mayastor unavailable")
	done, err := h.m.SettleEnd(context.Background(), h.tm, h.s)
	if done || err == nil || len(h.tm.Status.Checkpoint.Cordons) != 1 || len(h.tm.Status.Cordons) != 1 {
		t.Fatalf("a failed release must keep the cordon recorded: done %v err %v cordons %v", done, err, h.tm.Status.Cordons)
	}
	h.s.releaseErr = nil
	done, err = h.m.SettleEnd(context.Background(), h.tm, h.s)
	if !done || err != nil || len(h.tm.Status.Checkpoint.Cordons) != 0 || len(h.tm.Status.Cordons) != 0 {
		t.Fatalf("after the release: done %v err %v cordons %v", done, err, h.tm.Status.Cordons)
	}
	if !slices.Contains(h.trace, "act uncordon n3") {
		t.Fatalf("the cordon was not lifted: %v", h.trace)
	}
}
