package controller

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/migration"
	"github.com/billyronks/couchestor/internal/mover"
	"github.com/billyronks/couchestor/internal/sim"
)

const sweepScenario = `
name: sweep
nodes: [{id: n1}, {id: n2}, {id: n3}, {id: n4}]
pools:
  - {id: p1, node: n1, capacity: 100GiB}
`

// sweepSim starts the simulator with sweepScenario and a client for it.
func sweepSim(t *testing.T) (*sim.Sim, *mayastor.Client) {
	t.Helper()
	return sweepSimOf(t, "sweep.yaml", sweepScenario)
}

// sweepSimOf starts the simulator with the scenario yaml and a client for it.
func sweepSimOf(t *testing.T, name, yaml string) (*sim.Sim, *mayastor.Client) {
	t.Helper()
	sc, err := sim.ParseScenario(name, []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	ms, err := mayastor.New(mayastor.Config{BaseURL: srv.URL, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	return s, ms
}

// sweepKube is a fake API server holding objs (an Update writes their status too).
func sweepKube(t *testing.T, objs ...client.Object) client.Client {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := storagev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()
}

func tmIn(name string, uid string, phase storagev1.MigrationPhase) *storagev1.TierMigration {
	return &storagev1.TierMigration{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(uid)},
		Spec:       storagev1.TierMigrationSpec{VolumeID: "v", TargetTier: storagev1.TierNVMe},
		Status:     storagev1.TierMigrationStatus{Phase: phase},
	}
}

// The sweeper (at start-up and periodically, it removes any
// couchestor-migration-* label whose migration is terminal or missing)
// against the simulator's node cordons and a fake API server.
func TestCordonSweeperRemovesCordonsOfFinishedAndGoneMigrations(t *testing.T) {
	ctx := context.Background()
	s, ms := sweepSim(t)

	long := "a-migration-with-a-name-much-longer-than-forty-two-characters-x"
	running := tmIn("tm-running", "uid-running", storagev1.PhaseScalingUp)
	done := tmIn("tm-done", "uid-done", storagev1.PhaseCompleted)
	failedLong := tmIn(long, "0f8e6a8c-58b3-4b8e-9a57-8f5a3f4e9b10-and-more-to-pass-63-chars", storagev1.PhaseFailed)
	label := func(tm *storagev1.TierMigration) string { return mover.CordonLabelFor(migration.MigrationIDFor(tm)) }
	if l := label(failedLong); len(l) != 63 {
		t.Fatalf("setup: the long migration's label %q should be truncated to 63 characters", l)
	}
	cordons := []struct{ node, label string }{
		{"n1", label(running)},
		{"n1", label(done)},
		{"n2", label(failedLong)},
		{"n3", mover.CordonLabelFor("tm-gone")},
		{"n4", "maintenance"}, // not CoucheStor's
	}
	for _, c := range cordons {
		if _, err := s.Cordon(c.node, c.label); err != nil {
			t.Fatal(err)
		}
	}
	kube := sweepKube(t, running, done, failedLong)
	rec := events.NewFakeRecorder(10)
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sw := &CordonSweeper{Client: kube, Mayastor: ms, Recorder: rec, Clock: clk}

	before := metricValue(t, CordonSecondsTotal)
	res, err := sw.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"n1/" + label(done), "n2/" + label(failedLong), "n3/" + mover.CordonLabelFor("tm-gone")}
	slices.Sort(res.Removed)
	if !slices.Equal(res.Removed, want) {
		t.Fatalf("removed %v, want %v", res.Removed, want)
	}
	labels := map[string][]string{}
	for _, n := range s.Nodes() {
		labels[n.ID] = n.CordonLabels()
	}
	if !slices.Equal(labels["n1"], []string{label(running)}) || len(labels["n2"]) != 0 || len(labels["n3"]) != 0 ||
		!slices.Equal(labels["n4"], []string{"maintenance"}) {
		t.Fatalf("labels after the sweep: %v", labels)
	}
	if res.Cordoned != 3 || res.Remaining != 1 || metricValue(t, CordonedNodes) != 1 {
		t.Fatalf("result %+v, gauge %v: want 3 nodes seen, 1 left", res, metricValue(t, CordonedNodes))
	}
	// Events on the migrations that still exist, none for the gone one.
	close(rec.Events)
	var evs []string
	for e := range rec.Events {
		evs = append(evs, e)
	}
	if len(evs) != 2 || !strings.Contains(strings.Join(evs, "\n"), storagev1.ReasonStaleCordonRemoved) {
		t.Fatalf("events %v, want two %s", evs, storagev1.ReasonStaleCordonRemoved)
	}

	// Node-seconds: 90 s later one node (the running migration's) is still
	// cordoned, and was the only one left after the last sweep.
	clk.Step(90 * time.Second)
	sw.Recorder = nil
	if _, err := sw.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if got := metricValue(t, CordonSecondsTotal) - before; got != 90 {
		t.Fatalf("cordon seconds %v, want 90 (1 node for 90 s)", got)
	}

	// The running migration ends: the next sweep lifts its cordon too.
	running.Status.Phase = storagev1.PhaseFailed
	if err := kube.Update(ctx, running); err != nil {
		if err := kube.Update(ctx, running); err != nil {
			t.Fatal(err)
		}
	}
	res, err = sw.Sweep(ctx)
	if err != nil || len(res.Removed) != 1 || res.Remaining != 0 {
		t.Fatalf("after the migration ended: %+v %v", res, err)
	}
}

func metricValue(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	}
	t.Fatal("not a gauge or counter")
	return 0
}

// The sweeper deletes the placeholder replicas no in-flight migration records (those of a
// finished migration, of a deleted one, or never recorded) and keeps those an in-flight
// migration records; replicas that are not CoucheStor placeholders are never touched.
func TestCordonSweeperDeletesStrayPlaceholders(t *testing.T) {
	ctx := context.Background()
	s, ms := sweepSim(t)
	running := tmIn("tm-running", "uid-running", storagev1.PhaseWaitingSync)
	done := tmIn("tm-done", "uid-done", storagev1.PhaseCompleted)
	live := mover.PlaceholderID("uid-running", 0)
	ofDone := mover.PlaceholderID("uid-done", 0)
	ofGone := mover.PlaceholderID("uid-gone", 3)
	foreign := "5b0c0a4e-1111-4222-8333-444455556666" // someone else's unowned replica
	running.Status.Checkpoint = &storagev1.MigrationCheckpoint{Placeholders: []storagev1.ReplicaRef{{ID: live, Pool: "p1"}}}
	done.Status.Checkpoint = &storagev1.MigrationCheckpoint{Placeholders: []storagev1.ReplicaRef{{ID: ofDone, Pool: "p1"}}}
	for _, id := range []string{live, ofDone, ofGone, foreign} {
		if _, err := s.CreatePoolReplica("p1", id, sim.CreateReplicaRequest{Size: mover.PlaceholderSize, Thin: true}); err != nil {
			t.Fatal(err)
		}
	}
	kube := sweepKube(t, running, done)
	sw := &CordonSweeper{Client: kube, Mayastor: ms, Recorder: events.NewFakeRecorder(10), Clock: clocktesting.NewFakeClock(time.Now())}
	res, err := sw.Sweep(ctx)
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	slices.Sort(res.PlaceholdersRemoved)
	want := []string{ofDone, ofGone}
	slices.Sort(want)
	if !slices.Equal(res.PlaceholdersRemoved, want) {
		t.Fatalf("removed %v, want %v", res.PlaceholdersRemoved, want)
	}
	var left []string
	for _, r := range s.Specs().Replicas {
		left = append(left, r.UUID)
	}
	slices.Sort(left)
	wantLeft := []string{live, foreign}
	slices.Sort(wantLeft)
	if !slices.Equal(left, wantLeft) {
		t.Fatalf("replicas left %v, want %v", left, wantLeft)
	}
	if res.Placeholders != 1 {
		t.Fatalf("placeholders counted after the sweep: %d, want 1", res.Placeholders)
	}
	var m dto.Metric
	if err := Placeholders.Write(&m); err != nil {
		t.Fatal(err)
	}
	if got := m.GetGauge().GetValue(); got != 1 {
		t.Fatalf("storage_operator_placeholder_replicas = %v, want 1", got)
	}
}

// countingSpecs counts the sweeper's reads of the whole replica map.
type countingSpecs struct {
	NodeCordons
	reads int
}

func (c *countingSpecs) GetReplicaSpecs(ctx context.Context) (*mayastor.Specs, error) {
	c.reads++
	return c.NodeCordons.GetReplicaSpecs(ctx)
}

// The replica map (GET /v0/specs, 9–16 MB at 10,000 volumes) is read for stray placeholders
// at the first sweep, when a migration that recorded placeholders while in flight has ended
// or is gone, and once per PlaceholderScanInterval — not at every sweep. A stray left by a
// migration that ended is deleted at the sweep that sees it end.
func TestCordonSweeperReadsTheReplicaMapOnlyWhenAStrayCanExist(t *testing.T) {
	ctx := context.Background()
	s, ms := sweepSim(t)
	running := tmIn("tm-running", "uid-running", storagev1.PhaseWaitingSync)
	quiet := tmIn("tm-quiet", "uid-quiet", storagev1.PhaseScalingUp) // in flight, no placeholder
	ph := mover.PlaceholderID("uid-running", 0)
	running.Status.Checkpoint = &storagev1.MigrationCheckpoint{Placeholders: []storagev1.ReplicaRef{{ID: ph, Pool: "p1"}}}
	if _, err := s.CreatePoolReplica("p1", ph, sim.CreateReplicaRequest{Size: mover.PlaceholderSize, Thin: true}); err != nil {
		t.Fatal(err)
	}
	kube := sweepKube(t, running, quiet)
	clk := clocktesting.NewFakeClock(time.Now())
	counting := &countingSpecs{NodeCordons: ms}
	sw := &CordonSweeper{Client: kube, Mayastor: counting, Recorder: events.NewFakeRecorder(10), Clock: clk, PlaceholderScanInterval: 10 * time.Minute}
	sweep := func(what string, wantReads int, wantScanned bool) SweepResult {
		t.Helper()
		clk.Step(30 * time.Second)
		res, err := sw.Sweep(ctx)
		if err != nil {
			t.Fatalf("%s: sweep: %v", what, err)
		}
		if counting.reads != wantReads || res.Scanned != wantScanned {
			t.Fatalf("%s: %d replica map reads (scanned %v), want %d (scanned %v)", what, counting.reads, res.Scanned, wantReads, wantScanned)
		}
		return res
	}
	sweep("first sweep", 1, true)
	for i := range 5 {
		if res := sweep(fmt.Sprintf("quiet sweep %d", i+1), 1, false); res.Placeholders != 1 {
			t.Fatalf("placeholders between scans: %d, want the 1 the running migration records", res.Placeholders)
		}
	}
	// The quiet migration ends: it held no placeholder, nothing to look for.
	quiet.Status.Phase = storagev1.PhaseCompleted
	if err := kube.Update(ctx, quiet); err != nil {
		t.Fatal(err)
	}
	sweep("a migration without placeholders ended", 1, false)
	// The running one ends with its placeholder still there (its own release failed): the
	// next sweep reads the map and deletes it.
	running.Status.Phase = storagev1.PhaseFailed
	if err := kube.Update(ctx, running); err != nil {
		t.Fatal(err)
	}
	if res := sweep("a migration holding a placeholder ended", 2, true); !slices.Equal(res.PlaceholdersRemoved, []string{ph}) {
		t.Fatalf("removed %v, want %v", res.PlaceholdersRemoved, []string{ph})
	}
	sweep("quiet again", 2, false)
	// A placeholder no migration ever recorded (created after its migration was deleted) is
	// found by the periodic scan.
	stray := mover.PlaceholderID("uid-gone", 1)
	if _, err := s.CreatePoolReplica("p1", stray, sim.CreateReplicaRequest{Size: mover.PlaceholderSize, Thin: true}); err != nil {
		t.Fatal(err)
	}
	reads := 2
	for range 18 { // 9 minutes after the last scan
		sweep("before the scan interval", reads, false)
	}
	res := sweep("the scan interval elapsed", reads+1, true)
	if !slices.Equal(res.PlaceholdersRemoved, []string{stray}) {
		t.Fatalf("removed %v, want %v", res.PlaceholdersRemoved, []string{stray})
	}
}

// A stray placeholder's delete is a swap_remove like any other: it takes one entry from
// behind every move's fresh replica. The sweeper follows the Movers' own rule
// (CordonGate.RemovalWaits): while a move's new replica has no more than GuardDepth
// entries behind it, the strays wait, and the move's next poll (KeepTail) keeps that
// many more behind its replica, so that the next sweep deletes them without ever
// leaving the replica fewer than GuardDepth. Here four strays of a gone migration lie
// ahead of the move's new replica, which has its three placeholders behind it.
func TestCordonSweeperKeepsTheGuardDepthOfMovesInFlight(t *testing.T) {
	ctx := context.Background()
	const vol = "0c4f3a52-7d1e-4b6a-9a0e-0000000000c1"
	s, ms := sweepSimOf(t, "sweep-guard.yaml", sim.PureTiersScenario("sweep-guard", 1, "1GiB", `
  - uuid: `+vol+`
    size: 1GiB
    replicas: [pool-sata-a, pool-sata-b]
    published: true
    nexus_node: app-1
    inclusion: {openebs.io/created-by: operator-diskpool}
`))
	var strays []string
	for i := range 4 {
		id := mover.PlaceholderID("uid-gone", i)
		if _, err := s.CreatePoolReplica("pool-sata-c", id, sim.CreateReplicaRequest{Size: mover.PlaceholderSize, Thin: true}); err != nil {
			t.Fatal(err)
		}
		strays = append(strays, id)
	}

	tm := tmIn("tm-guard", "uid-guard", storagev1.PhaseWaitingSync)
	kube := sweepKube(t, tm)
	journal := func(ctx context.Context, p mover.Plan) error {
		tm.Status.Checkpoint = migration.CheckpointFromPlan(p)
		return kube.Update(ctx, tm)
	}
	gate := mover.NewCordonGate()
	m := mover.NewMover(ms, mover.MoverOptions{CordonGate: gate})
	hot := labels.SelectorFromSet(labels.Set{"tier": "hot"})
	cold := labels.SelectorFromSet(labels.Set{"tier": "cold"})
	plan, err := m.Analyze(ctx, migration.MigrationIDFor(tm), vol, hot, cold)
	if err != nil {
		t.Fatal(err)
	}
	if plan, err = m.ScaleUp(ctx, plan, journal); err != nil {
		t.Fatal(err)
	}
	newReplica := plan.NewReplica.ID
	depth := func() int {
		order := s.ReplicaOrder()
		return len(order) - 1 - slices.Index(order, newReplica)
	}
	if d := depth(); d != mover.DefaultGuardDepth || !slices.Contains(s.ReplicaOrder()[:len(s.ReplicaOrder())-d], strays[3]) {
		t.Fatalf("setup: %d entries behind the new replica %s, want the strays ahead of it and %d behind: %v", d, newReplica, mover.DefaultGuardDepth, s.ReplicaOrder())
	}

	sw := &CordonSweeper{Client: kube, Mayastor: ms, Clock: clocktesting.NewFakeClock(time.Now()), Gate: gate}
	left := func() int {
		n := 0
		for _, id := range s.ReplicaOrder() {
			if slices.Contains(strays, id) {
				n++
			}
		}
		return n
	}
	for sweep := 1; left() > 0; sweep++ {
		if sweep > 5 {
			t.Fatalf("%d strays left after %d sweeps: %v", left(), sweep-1, s.ReplicaOrder())
		}
		res, err := sw.Sweep(ctx)
		if d := depth(); d < mover.DefaultGuardDepth {
			t.Fatalf("sweep %d removed %v and left %d entries behind the move's new replica, want at least %d", sweep, res.PlaceholdersRemoved, d, mover.DefaultGuardDepth)
		}
		if left() > 0 && (err == nil || !strings.Contains(err.Error(), "wait for the next sweep")) {
			t.Fatalf("sweep %d left %d strays without saying they wait: %v", sweep, left(), err)
		}
		// The migration machine's next rebuild poll.
		if plan, err = m.KeepTail(ctx, plan, journal); err != nil {
			t.Fatal(err)
		}
	}
	// Nothing waits any more: the move keeps GuardDepth entries again, no more.
	before := len(plan.Placeholders)
	if plan, err = m.KeepTail(ctx, plan, journal); err != nil {
		t.Fatal(err)
	}
	if len(plan.Placeholders) != before || depth() != mover.DefaultGuardDepth {
		t.Fatalf("after the strays are gone a poll went from %d to %d placeholders, %d entries behind the new replica; want no new one and %d", before, len(plan.Placeholders), depth(), mover.DefaultGuardDepth)
	}
}
