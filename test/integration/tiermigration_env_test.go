package integration

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/controller"
	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/mover"
	"github.com/billyronks/couchestor/internal/operator"
	"github.com/billyronks/couchestor/internal/sim"
)

// Volumes of internal/sim/scenarios/small.yaml that the Mover can move (all are published with a
// nexus-local replica, so they need allowRepublish).
const (
	smallVolSATA1   = "0c4f3a52-7d1e-4b6a-9a0e-000000000001" // 20GiB, 1 replica on pool-sata-1: NVMe is reachable on io-engine-2
	smallVolNVMe1   = "0c4f3a52-7d1e-4b6a-9a0e-000000000005" // 50GiB, 1 replica on pool-nvme-1: SATA is reachable on io-engine-3
	pureVolThreeSAT = "0c4f3a52-7d1e-4b6a-9a0e-000000000003" // pureTiersScenario: 3 replicas on SATA
	pureVolTwoSAT   = "0c4f3a52-7d1e-4b6a-9a0e-000000000009" // pureTiersScenario: 2 replicas on SATA, target on app-1
)

// pureTiersScenario has single-tier nodes. small.yaml has no 3-replica volume that can move (its
// only one, ...07, has a replica on every node, so no target pool is on a free node).
var pureTiersScenario = sim.PureTiersScenario("tiermigration-pure", 7, "1GiB", `
  - uuid: 0c4f3a52-7d1e-4b6a-9a0e-000000000003
    size: 10GiB
    replicas: [pool-sata-a, pool-sata-b, pool-sata-c]
    published: true
    nexus_node: sata-b
    inclusion: {openebs.io/created-by: operator-diskpool}
  - uuid: 0c4f3a52-7d1e-4b6a-9a0e-000000000009
    size: 10GiB
    replicas: [pool-sata-a, pool-sata-c]
    published: true
    nexus_node: app-1
    inclusion: {openebs.io/created-by: operator-diskpool}
`)

var (
	hotPools  = &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "hot"}}
	coldPools = &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "cold"}}
)

// migrationWorld is the Mayastor simulator behind an HTTP server that checks the invariant after
// every request, counts writes, and can play a crash; plus the migration controller in a
// controller-runtime manager against the test API server, which can be stopped and restarted.
type migrationWorld struct {
	t   *testing.T
	sim *sim.Sim
	clk *clocktesting.FakeClock
	ms  *mayastor.Client

	mu         sync.Mutex
	baseline   map[string]int             // healthy replicas of each watched volume at the start
	seen       map[string]map[string]bool // replicas seen healthy, per volume
	violations []string
	writes     []string // non-GET Mayastor requests

	// down drops every request (a crashed operator's calls never arrive); crashWhen, when it
	// returns true for a request, lets that request take effect, then plays a crash.
	down      atomic.Bool
	crashWhen atomic.Pointer[func(*http.Request) bool]

	mgrCancel context.CancelFunc
	mgrDone   chan error
	opts      controller.Options
	created   []string

	// Extensions for the adversarial tests (adversarial_test.go, sampler_test.go): simOpts are
	// passed to sim.New, and afterObserve runs after every observe (every request and every
	// clock tick).
	simOpts      []sim.Option
	afterObserve atomic.Pointer[func()]
	// sweepEvery, when set, runs the operator's CordonSweeper in the manager with this interval
	// of wall time (choose it so that it is under 60 s of simulated time at the clock's rate).
	sweepEvery time.Duration
}

// worldOption configures a migrationWorld before its simulator is built (w.clk is set).
type worldOption func(*migrationWorld)

func newMigrationWorld(t *testing.T, scenario string, options ...worldOption) *migrationWorld {
	t.Helper()
	requireAPIServer(t)
	purgeTierMigrations(t)
	var sc *sim.Scenario
	var err error
	if strings.Contains(scenario, "\n") {
		sc, err = sim.ParseScenario("scenario.yaml", []byte(scenario))
	} else {
		sc, err = sim.LoadScenario(scenario)
	}
	if err != nil {
		t.Fatal(err)
	}
	w := &migrationWorld{t: t, clk: clocktesting.NewFakeClock(time.Now()), baseline: map[string]int{}, seen: map[string]map[string]bool{}}
	for _, o := range options {
		o(w)
	}
	if w.sim, err = sim.New(sc, append([]sim.Option{sim.WithClock(w.clk)}, w.simOpts...)...); err != nil {
		t.Fatal(err)
	}
	api := w.sim.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if w.down.Load() {
			dropConnection(rw)
			return
		}
		if r.Method != http.MethodGet {
			w.mu.Lock()
			w.writes = append(w.writes, r.Method+" "+r.URL.Path)
			w.mu.Unlock()
			w.checkJournaled(r)
		}
		if f := w.crashWhen.Load(); f != nil && (*f)(r) {
			w.crashWhen.Store(nil)
			api.ServeHTTP(httptest.NewRecorder(), r) // the call takes effect...
			w.down.Store(true)                       // ...and the operator dies before the answer
			w.observe()
			go w.mgrCancel()
			dropConnection(rw)
			return
		}
		api.ServeHTTP(rw, r)
		w.observe()
	}))
	t.Cleanup(srv.Close)
	if w.ms, err = mayastor.New(mayastor.Config{BaseURL: srv.URL, MaxRetries: -1}); err != nil {
		t.Fatal(err)
	}
	w.opts = controller.Options{MaxConcurrentMigrations: 4, MigrationTimeout: 30 * time.Minute, SyncPollInterval: 50 * time.Millisecond}
	t.Cleanup(w.cleanup)
	return w
}

// checkJournaled: a cordon is in a TierMigration's status on the API server before it is put on
// a node (the journal is written before the Mover acts).
func (w *migrationWorld) checkJournaled(r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/v0/"), "/")
	if r.Method != http.MethodPut || len(parts) != 4 || parts[0] != "nodes" || parts[2] != "cordon" {
		return
	}
	want := storagev1.NodeCordon{Node: parts[1], Label: parts[3]}
	var list storagev1.TierMigrationList
	if err := k8sClient.List(context.Background(), &list); err != nil {
		w.mu.Lock()
		w.violations = append(w.violations, "list TierMigrations: "+err.Error())
		w.mu.Unlock()
		return
	}
	for _, tm := range list.Items {
		if cp := tm.Status.Checkpoint; cp != nil && slices.Contains(cp.Cordons, want) && slices.Contains(tm.Status.Cordons, want) {
			return
		}
	}
	w.mu.Lock()
	w.violations = append(w.violations, fmt.Sprintf("cordon %+v applied before any TierMigration status recorded it", want))
	w.mu.Unlock()
}

func dropConnection(rw http.ResponseWriter) {
	if hj, ok := rw.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	rw.WriteHeader(http.StatusServiceUnavailable)
}

// watch records the volume's healthy replicas now; observe fails the test if it ever has fewer.
func (w *migrationWorld) watch(volumeID string) {
	w.t.Helper()
	v, err := w.sim.Volume(volumeID)
	if err != nil {
		w.t.Fatal(err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen[volumeID] = map[string]bool{}
	for id := range v.State.ReplicaTopology {
		w.seen[volumeID][id] = true
	}
	w.baseline[volumeID] = w.healthyLocked(volumeID, v)
}

// healthyLocked counts replicas holding a full copy: an Online child with no rebuild running on
// a published volume; on an unpublished one, a replica last seen healthy.
func (w *migrationWorld) healthyLocked(volumeID string, v mayastor.Volume) int {
	n := 0
	for id, r := range v.State.ReplicaTopology {
		ok := r.State == mayastor.ReplicaStateOnline
		if v.State.Target != nil {
			ok = ok && r.ChildStatus == mayastor.ChildStateOnline && r.RebuildProgress == nil
			if ok {
				w.seen[volumeID][id] = true
			}
		} else {
			ok = ok && w.seen[volumeID][id]
		}
		if ok {
			n++
		}
	}
	return n
}

func (w *migrationWorld) observe() {
	w.observeLocked()
	if f := w.afterObserve.Load(); f != nil {
		(*f)()
	}
}

func (w *migrationWorld) observeLocked() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, base := range w.baseline {
		v, err := w.sim.Volume(id)
		if err != nil {
			continue
		}
		if n := w.healthyLocked(id, v); n < base {
			w.violations = append(w.violations, fmt.Sprintf("volume %s fell to %d healthy replicas (from %d) at %s", id, n, base, w.clk.Now().Format(time.RFC3339)))
		}
	}
}

func (w *migrationWorld) checkInvariant() {
	w.t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, v := range w.violations {
		w.t.Error(v)
	}
}

func (w *migrationWorld) writeCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.writes)
}

// runClock advances the simulated time (rebuilds, self-heal, migration deadlines) by step every
// tick of wall time until the returned stop is called or the test ends.
func (w *migrationWorld) runClock(step, tick time.Duration) (stop func()) {
	done := make(chan struct{})
	var once sync.Once
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tk := time.NewTicker(tick)
		defer tk.Stop()
		for {
			select {
			case <-done:
				return
			case <-tk.C:
				w.clk.Step(step)
				w.observe()
			}
		}
	}()
	stop = func() {
		once.Do(func() { close(done); <-stopped })
	}
	w.t.Cleanup(stop)
	return stop
}

// startOperator runs the migration controller in a fresh manager, as a restarted operator would.
func (w *migrationWorld) startOperator() {
	w.t.Helper()
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme:                 operator.NewScheme(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		w.t.Fatal(err)
	}
	r := &controller.TierMigrationReconciler{
		Client:     mgr.GetClient(),
		APIReader:  mgr.GetAPIReader(),
		Recorder:   mgr.GetEventRecorder("couchestor"),
		Clock:      w.clk,
		Options:    w.opts,
		NewStorage: controller.MoverStorageWith(w.ms, mover.MoverOptions{HADisabled: w.opts.MayastorHADisabled}),
	}
	if err := r.SetupWithManager(mgr); err != nil {
		w.t.Fatal(err)
	}
	if w.sweepEvery > 0 {
		if err := mgr.Add(&controller.CordonSweeper{Client: mgr.GetAPIReader(), Mayastor: w.ms,
			Recorder: mgr.GetEventRecorder("couchestor"), Interval: w.sweepEvery, Clock: w.clk}); err != nil {
			w.t.Fatal(err)
		}
	}
	c, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(c) }()
	w.mgrCancel, w.mgrDone = cancel, done
}

// stopOperator cancels the manager and waits until it has stopped.
func (w *migrationWorld) stopOperator() {
	w.t.Helper()
	if w.mgrCancel == nil {
		return
	}
	w.mgrCancel()
	w.awaitOperatorExit()
}

func (w *migrationWorld) awaitOperatorExit() {
	w.t.Helper()
	select {
	case err := <-w.mgrDone:
		if err != nil {
			w.t.Logf("manager stopped: %v", err)
		}
	case <-time.After(60 * time.Second):
		w.t.Fatal("manager did not stop")
	}
	w.mgrCancel, w.mgrDone = nil, nil
}

// cleanup deletes the test's TierMigrations through the running operator (their finalizer
// unwinds them), then stops it.
func (w *migrationWorld) cleanup() {
	if w.mgrCancel != nil {
		c := context.Background()
		for _, name := range w.created {
			_ = k8sClient.Delete(c, &storagev1.TierMigration{ObjectMeta: metav1.ObjectMeta{Name: name}})
		}
		// Best effort within 20s: purgeTierMigrations below removes what is left.
		gone, cancel := context.WithTimeout(c, 20*time.Second)
		for _, name := range w.created {
			_ = wait.PollUntilContextCancel(gone, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
				return apierrors.IsNotFound(k8sClient.Get(ctx, types.NamespacedName{Name: name}, &storagev1.TierMigration{})), nil
			})
		}
		cancel()
		w.mgrCancel()
		<-w.mgrDone
		w.mgrCancel = nil
	}
	purgeTierMigrations(w.t)
}

// purgeTierMigrations removes every TierMigration, finalizers included, so a test starts alone.
func purgeTierMigrations(t *testing.T) {
	t.Helper()
	c := context.Background()
	var list storagev1.TierMigrationList
	if err := k8sClient.List(c, &list); err != nil {
		t.Fatal(err)
	}
	for i := range list.Items {
		tm := &list.Items[i]
		if len(tm.Finalizers) > 0 {
			tm.Finalizers = nil
			_ = k8sClient.Update(c, tm)
		}
		_ = k8sClient.Delete(c, tm)
	}
	err := wait.PollUntilContextTimeout(c, 50*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		return k8sClient.List(ctx, &list) == nil && len(list.Items) == 0, nil
	})
	if err != nil {
		t.Fatalf("TierMigrations left over: %d", len(list.Items))
	}
}

// create makes a TierMigration by hand, as a user would.
func (w *migrationWorld) create(name string, spec storagev1.TierMigrationSpec) *storagev1.TierMigration {
	w.t.Helper()
	tm := &storagev1.TierMigration{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
	if err := k8sClient.Create(context.Background(), tm, strict); err != nil {
		w.t.Fatal(err)
	}
	w.created = append(w.created, name)
	return tm
}

func getTM(t *testing.T, name string) *storagev1.TierMigration {
	t.Helper()
	tm := &storagev1.TierMigration{}
	if err := k8sClient.Get(context.Background(), types.NamespacedName{Name: name}, tm); err != nil {
		t.Fatal(err)
	}
	return tm
}

// awaitPhase waits until the TierMigration reaches one of the phases.
func awaitPhase(t *testing.T, name string, timeout time.Duration, phases ...storagev1.MigrationPhase) *storagev1.TierMigration {
	t.Helper()
	var tm *storagev1.TierMigration
	have := func() string {
		return fmt.Sprintf("phase %s (error %q, steps %s)", tm.Status.Phase, tm.Status.Error, stepsOf(tm))
	}
	// A terminal phase not among those wanted ends the wait too: it will not change.
	eventually(t, timeout, 20*time.Millisecond, fmt.Sprintf("TierMigration %s in phase %v", name, phases), func() (bool, string) {
		tm = getTM(t, name)
		return slices.Contains(phases, tm.Status.Phase) || tm.Status.Phase.IsTerminal(), have()
	})
	if !slices.Contains(phases, tm.Status.Phase) {
		t.Fatalf("TierMigration %s: want phase %v, have %s", name, phases, have())
	}
	return tm
}

func stepsOf(tm *storagev1.TierMigration) string {
	var b strings.Builder
	for _, s := range tm.Status.Steps {
		fmt.Fprintf(&b, "\n  %s: %s", s.Phase, s.Message)
	}
	return b.String()
}

// cordonedNodes lists nodes carrying a CoucheStor cordon.
func (w *migrationWorld) cordonedNodes() []string {
	var out []string
	for _, n := range w.sim.Nodes() {
		for _, l := range n.CordonLabels() {
			if strings.HasPrefix(l, "couchestor-") {
				out = append(out, n.ID+"="+l)
			}
		}
	}
	return out
}

func (w *migrationWorld) volume(id string) mayastor.Volume {
	w.t.Helper()
	v, err := w.sim.Volume(id)
	if err != nil {
		w.t.Fatal(err)
	}
	return v
}

func poolsOfVolume(v mayastor.Volume) []string {
	var out []string
	for _, r := range v.State.ReplicaTopology {
		out = append(out, r.Pool)
	}
	slices.Sort(out)
	return out
}

// assertSettled: the volume has n replicas on pools with the prefix, all healthy, the count at
// n, and no node is left cordoned.
func (w *migrationWorld) assertSettled(volumeID string, n int, poolPrefix string) mayastor.Volume {
	w.t.Helper()
	v := w.volume(volumeID)
	pools := poolsOfVolume(v)
	if int(v.Spec.NumReplicas) != n || len(pools) != n {
		w.t.Errorf("volume %s: num_replicas %d, replicas on %v; want %d", volumeID, v.Spec.NumReplicas, pools, n)
	}
	for _, p := range pools {
		if !strings.HasPrefix(p, poolPrefix) {
			w.t.Errorf("volume %s: replica on %s, want every replica on %s*: %v", volumeID, p, poolPrefix, pools)
		}
	}
	if v.State.Status != mayastor.VolumeStatusOnline {
		w.t.Errorf("volume %s is %s", volumeID, v.State.Status)
	}
	if c := w.cordonedNodes(); len(c) > 0 {
		w.t.Errorf("nodes left cordoned: %v", c)
	}
	return v
}

// replicaIDsOf lists the volume's replica ids.
func replicaIDsOf(v mayastor.Volume) []string {
	var out []string
	for id := range v.State.ReplicaTopology {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// isReplicaCount matches PUT /v0/volumes/{volumeID}/replica_count/{n}.
func isReplicaCount(volumeID string, n int) func(*http.Request) bool {
	path := fmt.Sprintf("/v0/volumes/%s/replica_count/%d", volumeID, n)
	return func(r *http.Request) bool { return r.Method == http.MethodPut && r.URL.Path == path }
}

// phaseIs reads the TierMigration's phase from the API server.
func phaseIs(name string, phase storagev1.MigrationPhase) bool {
	tm := &storagev1.TierMigration{}
	return k8sClient.Get(context.Background(), types.NamespacedName{Name: name}, tm) == nil && tm.Status.Phase == phase
}

// crashOn plays a crash at the first request matching f: the call takes effect, the operator
// stops, and every later call of the dying operator is lost.
func (w *migrationWorld) crashOn(f func(*http.Request) bool) {
	w.crashWhen.Store(&f)
}

func (w *migrationWorld) awaitCrash(timeout time.Duration) {
	w.t.Helper()
	eventually(w.t, timeout, 10*time.Millisecond, "the crash", func() (bool, string) {
		return w.down.Load(), "Mayastor's network still up: the crash never happened"
	})
	w.awaitOperatorExit()
}

// recover brings Mayastor's network back for the next operator.
func (w *migrationWorld) recover() { w.down.Store(false) }

func (w *migrationWorld) String() string { return fmt.Sprintf("cordons %v", w.cordonedNodes()) }

var _ client.Object = (*storagev1.TierMigration)(nil)

// The checks above can fail: lost redundancy and an unjournaled cordon are caught.
func TestMigrationWorldCatchesViolations(t *testing.T) {
	w := newMigrationWorld(t, pureTiersScenario)
	w.watch(pureVolThreeSAT)
	if _, err := w.ms.CordonNode(context.Background(), "nvme-a", "couchestor-migration-rogue"); err != nil {
		t.Fatal(err)
	}
	if err := w.sim.FaultReplica(replicaIDsOf(w.volume(pureVolThreeSAT))[0]); err != nil {
		t.Fatal(err)
	}
	w.observe()
	w.mu.Lock()
	got := slices.Clone(w.violations)
	w.violations = nil
	w.mu.Unlock()
	var redundancy, journal bool
	for _, v := range got {
		redundancy = redundancy || strings.Contains(v, "fell to 2 healthy replicas (from 3)")
		journal = journal || strings.Contains(v, "applied before any TierMigration status recorded it")
	}
	if !redundancy || !journal {
		t.Fatalf("violations %q: want lost redundancy and an unjournaled cordon", got)
	}
}
