package mover_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/mayastor/mayastorspec"
	"github.com/billyronks/couchestor/internal/mover"
	"github.com/billyronks/couchestor/internal/sim"
)

const (
	volOne         = "0c4f3a52-7d1e-4b6a-9a0e-000000000001" // 1 replica on SATA, published (nexus-local)
	volThree       = "0c4f3a52-7d1e-4b6a-9a0e-000000000003" // 3 replicas on SATA, published on sata-b
	volTwo         = "0c4f3a52-7d1e-4b6a-9a0e-000000000009" // 2 replicas on SATA, target on app-1
	volUnpublished = "0c4f3a52-7d1e-4b6a-9a0e-000000000005" // 1 replica on SATA, unpublished
	volTwoMixed    = "0c4f3a52-7d1e-4b6a-9a0e-000000000007" // SATA + NVMe, target on a third node
)

// Nodes are single-tier here, so cordoning the SATA nodes steers an increase
// onto NVMe.
var pureTiers = sim.PureTiersScenario("mover", 7, "1GiB", `
  - uuid: 0c4f3a52-7d1e-4b6a-9a0e-000000000001
    size: 10GiB
    replicas: [pool-sata-a]
    published: true
    inclusion: {openebs.io/created-by: operator-diskpool}
  - uuid: 0c4f3a52-7d1e-4b6a-9a0e-000000000003
    size: 10GiB
    replicas: [pool-sata-a, pool-sata-b, pool-sata-c]
    published: true
    nexus_node: sata-b
    inclusion: {openebs.io/created-by: operator-diskpool}
  - uuid: 0c4f3a52-7d1e-4b6a-9a0e-000000000005
    size: 10GiB
    replicas: [pool-sata-c]
    inclusion: {openebs.io/created-by: operator-diskpool}
  - uuid: 0c4f3a52-7d1e-4b6a-9a0e-000000000007
    size: 10GiB
    replicas: [pool-sata-b, pool-nvme-d]
    published: true
    nexus_node: app-1
    inclusion: {openebs.io/created-by: operator-diskpool}
  - uuid: 0c4f3a52-7d1e-4b6a-9a0e-000000000009
    size: 10GiB
    replicas: [pool-sata-a, pool-sata-c]
    published: true
    nexus_node: app-1
    inclusion: {openebs.io/created-by: operator-diskpool}
`)

// Every node has a small NVMe pool and a large SATA pool: the scheduler's
// free-space score prefers SATA on whichever node it may use.
const mixedNodes = `
name: mixed
seed: 3
rebuild_bandwidth: 1GiB
nodes:
  - {id: io-engine-1}
  - {id: io-engine-2}
  - {id: io-engine-3}
pools:
  - {id: pool-nvme-1, node: io-engine-1, capacity: 400GiB, labels: {openebs.io/created-by: operator-diskpool, tier: hot}}
  - {id: pool-sata-1, node: io-engine-1, capacity: 2TiB, labels: {openebs.io/created-by: operator-diskpool, tier: cold}}
  - {id: pool-nvme-2, node: io-engine-2, capacity: 400GiB, labels: {openebs.io/created-by: operator-diskpool, tier: hot}}
  - {id: pool-sata-2, node: io-engine-2, capacity: 2TiB, labels: {openebs.io/created-by: operator-diskpool, tier: cold}}
  - {id: pool-sata-3, node: io-engine-3, capacity: 2TiB, labels: {openebs.io/created-by: operator-diskpool, tier: cold}}
volumes:
  - uuid: 0c4f3a52-7d1e-4b6a-9a0e-000000000001
    size: 10GiB
    replicas: [pool-sata-1]
    published: true
    inclusion: {openebs.io/created-by: operator-diskpool}
`

// mixedNodesFull adds a volume with a replica on every node.
const mixedNodesFull = mixedNodes + `
  - uuid: 0c4f3a52-7d1e-4b6a-9a0e-000000000003
    size: 10GiB
    replicas: [pool-sata-1, pool-sata-2, pool-sata-3]
    published: true
    inclusion: {openebs.io/created-by: operator-diskpool}
`

var (
	hot  = labels.SelectorFromSet(labels.Set{"tier": "hot"})
	cold = labels.SelectorFromSet(labels.Set{"tier": "cold"})
)

// simHarness runs the Mover against the simulator over HTTP. Every request
// and answer is validated against the upstream spec (when present), and
// after every request the watched volume's healthy replicas are counted.
type simHarness struct {
	t     *testing.T
	sim   *sim.Sim
	clk   *clocktesting.FakeClock
	c     *mayastor.Client
	mover *mover.Mover

	mu         sync.Mutex
	watch      string
	baseline   int // healthy replicas when the watch started
	minHealthy int
	lowAfter   string
	healthy    map[string]bool // replicas last seen healthy through a target
	violations []error
	validating bool
	requests   int
	writes     int                 // requests other than GET
	onWrite    func(*http.Request) // called before a non-GET request reaches the simulator
	journal    []mover.Plan

	// Journal discipline: a cordon must be in the last journaled plan before
	// it is applied, and every replica-count change must follow a journal
	// write made after the previous one.
	checkJournalOrder   bool
	journaledSinceCount bool
	placeholdersCreated int // PUT /v0/pools/{pool}/replicas/{id} requests
}

// placeholdersInMap lists the CoucheStor placeholder replicas the simulator holds.
func (h *simHarness) placeholdersInMap() []string {
	h.t.Helper()
	specs, err := h.c.GetReplicaSpecs(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, r := range specs.Replicas {
		if mover.IsPlaceholderID(r.UUID) {
			if r.Managed || r.Owners.Volume != "" {
				h.t.Errorf("placeholder %s is managed (%v) or owned by volume %q", r.UUID, r.Managed, r.Owners.Volume)
			}
			out = append(out, r.UUID)
		}
	}
	return out
}

// endMove is what the migration controller does once a move ended: release what the plan
// holds (cordons, placeholder replicas). No placeholder may be left afterwards.
func (h *simHarness) endMove(ctx context.Context, plan mover.Plan) mover.Plan {
	h.t.Helper()
	plan, err := h.mover.ReleaseAtEnd(ctx, plan)
	if err != nil {
		h.t.Fatalf("release at the end: %v", err)
	}
	if len(plan.Placeholders) != 0 {
		h.t.Errorf("plan still records placeholders %v after the end", plan.Placeholders)
	}
	if left := h.placeholdersInMap(); len(left) != 0 {
		h.t.Errorf("placeholders left in the cluster after the move ended: %v", left)
	}
	return plan
}

func newSimHarness(t *testing.T, scenario string, opts mover.MoverOptions, simOpts ...sim.Option) *simHarness {
	t.Helper()
	sc, err := sim.ParseScenario("mover_test.yaml", []byte(scenario))
	if err != nil {
		t.Fatalf("scenario: %v", err)
	}
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s, err := sim.New(sc, append([]sim.Option{sim.WithClock(clk)}, simOpts...)...)
	if err != nil {
		t.Fatalf("simulator: %v", err)
	}
	h := &simHarness{t: t, sim: s, clk: clk}
	var api http.Handler = s.Handler()
	if path, ok := mayastorspec.Locate(); ok {
		spec, err := mayastorspec.LoadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		h.validating = true
		api = spec.Handler(api, func(err error) {
			h.mu.Lock()
			h.violations = append(h.violations, err)
			h.mu.Unlock()
		})
	} else {
		t.Logf("Mayastor OpenAPI spec not found: simulator exchanges are not validated against it")
	}
	h.checkJournalOrder = true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.checkWrite(r)
		if f := h.onWrite; f != nil && r.Method != http.MethodGet {
			f(r)
		}
		api.ServeHTTP(w, r)
		h.mu.Lock()
		h.requests++
		if r.Method != http.MethodGet {
			h.writes++
		}
		h.mu.Unlock()
		h.observe(r.Method + " " + r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	h.c, err = mayastor.New(mayastor.Config{BaseURL: srv.URL, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	h.mover = mover.NewMover(h.c, opts)
	t.Cleanup(h.checkViolations)
	return h
}

func (h *simHarness) checkViolations() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, v := range h.violations {
		h.t.Errorf("contract: %v", v)
	}
	if h.validating {
		h.t.Logf("%d simulator exchanges validated against the spec", h.requests)
	}
}

// healthyReplicas counts the volume's replicas that hold a full copy
// (countHealthy), remembering those seen healthy.
func (h *simHarness) healthyReplicas(v mayastor.Volume) int { return countHealthy(v, h.healthy) }

// countHealthy counts v's replicas that hold a full copy: a child Online with
// no rebuild running (when published), or, while unpublished, a replica last
// seen healthy through a target (or present from the start). Replicas seen
// healthy are added to seen.
func countHealthy(v mayastor.Volume, seen map[string]bool) int {
	n := 0
	published := v.State.Target != nil
	for id, r := range v.State.ReplicaTopology {
		ok := r.State == mayastor.ReplicaStateOnline
		if published {
			ok = ok && r.ChildStatus == mayastor.ChildStateOnline && r.RebuildProgress == nil
			if ok {
				seen[id] = true
			}
		} else {
			ok = ok && seen[id]
		}
		if ok {
			n++
		}
	}
	return n
}

// watchVolume starts counting the volume's healthy replicas after every request.
func (h *simHarness) watchVolume(id string) {
	v, err := h.sim.Volume(id)
	if err != nil {
		h.t.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.watch = id
	h.healthy = map[string]bool{}
	for rid := range v.State.ReplicaTopology {
		h.healthy[rid] = true
	}
	h.baseline = h.healthyReplicas(v)
	h.minHealthy = h.baseline
}

func (h *simHarness) observe(req string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.watch == "" {
		return
	}
	v, err := h.sim.Volume(h.watch)
	if err != nil {
		return
	}
	if n := h.healthyReplicas(v); n < h.minHealthy {
		h.minHealthy, h.lowAfter = n, req
	}
}

// checkInvariant: never fewer healthy replicas than before the move.
func (h *simHarness) checkInvariant() {
	h.t.Helper()
	if err := h.invariantError(); err != nil {
		h.t.Error(err)
	}
}

func (h *simHarness) invariantError() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.minHealthy < h.baseline {
		return fmt.Errorf("volume %s fell to %d healthy replicas (from %d) after %s", h.watch, h.minHealthy, h.baseline, h.lowAfter)
	}
	return nil
}

func (h *simHarness) record(_ context.Context, p mover.Plan) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.journal = append(h.journal, *p.DeepCopy())
	h.journaledSinceCount = true
	return nil
}

// checkWrite enforces the journal discipline on state-changing requests.
func (h *simHarness) checkWrite(r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.checkJournalOrder || r.Method == http.MethodGet {
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/v0/"), "/")
	switch {
	case r.Method == http.MethodPut && len(parts) == 4 && parts[0] == "nodes" && parts[2] == "cordon":
		c := mover.Cordon{Node: parts[1], Label: parts[3]}
		if len(h.journal) == 0 || !slices.Contains(h.journal[len(h.journal)-1].Cordons, c) {
			h.violations = append(h.violations, fmt.Errorf("cordon %+v applied before it was journaled", c))
		}
	case r.Method == http.MethodPut && len(parts) == 4 && parts[0] == "pools" && parts[2] == "replicas":
		if len(h.journal) == 0 || !slices.ContainsFunc(h.journal[len(h.journal)-1].Placeholders, func(p mover.ReplicaRef) bool { return p.ID == parts[3] }) {
			h.violations = append(h.violations, fmt.Errorf("placeholder %s created before it was journaled", parts[3]))
		}
		h.placeholdersCreated++
	case r.Method == http.MethodPut && len(parts) == 4 && parts[2] == "replica_count":
		if !h.journaledSinceCount {
			h.violations = append(h.violations, fmt.Errorf("%s %s without a journal write since the previous count change", r.Method, r.URL.Path))
		}
		h.journaledSinceCount = false
	}
}

func (h *simHarness) lastRecorded() mover.Plan {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.journal) == 0 {
		h.t.Fatal("nothing journaled")
	}
	return h.journal[len(h.journal)-1]
}

func (h *simHarness) volume(id string) mayastor.Volume {
	h.t.Helper()
	v, err := h.sim.Volume(id)
	if err != nil {
		h.t.Fatal(err)
	}
	return v
}

func poolsOf(v mayastor.Volume) []string {
	var out []string
	for _, r := range v.State.ReplicaTopology {
		out = append(out, r.Pool)
	}
	slices.Sort(out)
	return out
}

// assertNoCordons: no node is left cordoned by a move.
func (h *simHarness) assertNoCordons() {
	h.t.Helper()
	for _, n := range h.sim.Nodes() {
		for _, l := range n.CordonLabels() {
			if strings.HasPrefix(l, "couchestor-") {
				h.t.Errorf("node %s left cordoned with %s", n.ID, l)
			}
		}
	}
}

// waitSync polls SyncRound, stepping the simulated clock, until the new
// replica is rebuilt.
func (h *simHarness) waitSync(ctx context.Context, plan mover.Plan) {
	h.t.Helper()
	for i := 0; i < 500; i++ {
		st, err := h.mover.SyncRound(ctx, plan)
		if err != nil {
			h.t.Fatalf("sync status: %v", err)
		}
		if st.Failed != "" {
			h.t.Fatalf("sync failed: %s", st.Failed)
		}
		if st.Done {
			if st.Progress != 100 {
				h.t.Fatalf("done at %d%%", st.Progress)
			}
			return
		}
		h.clk.Step(2 * time.Second)
	}
	h.t.Fatal("new replica never synced")
}

// move runs ScaleUp → WaitSync → ScaleDown rounds until the plan completes.
func (h *simHarness) move(ctx context.Context, plan mover.Plan) (mover.Plan, []mover.ScaleDownResult, error) {
	h.t.Helper()
	var results []mover.ScaleDownResult
	for round := 0; round < 30; round++ {
		var err error
		plan, err = h.mover.ScaleUp(ctx, plan, h.record)
		if err != nil {
			return plan, results, err
		}
		if plan.NewReplica == nil {
			h.t.Fatal("ScaleUp returned without a new replica")
		}
		h.waitSync(ctx, plan)
		var res mover.ScaleDownResult
		plan, res, err = h.mover.ScaleDown(ctx, plan, h.record)
		results = append(results, res)
		if err != nil {
			return plan, results, err
		}
		if res.Complete {
			if !plan.Complete() {
				h.t.Fatalf("ScaleDown says complete, plan does not: %+v", plan)
			}
			return plan, results, nil
		}
	}
	h.t.Fatal("move did not finish in 30 rounds")
	return plan, results, nil
}

func TestMoverSimOneReplicaNeedsRepublish(t *testing.T) {
	ctx := context.Background()
	h := newSimHarness(t, pureTiers, mover.MoverOptions{})
	_, err := h.mover.Analyze(ctx, "tm-1", volOne, hot, cold)
	if !errors.Is(err, mover.ErrNexusLocalSource) {
		t.Fatalf("1-replica published volume without AllowRepublish: want ErrNexusLocalSource, got %v", err)
	}
	var re *mover.RefusalError
	if !errors.As(err, &re) || re.VolumeID != volOne || !strings.Contains(re.Detail, "republish") {
		t.Fatalf("refusal lacks detail: %#v", err)
	}
}

func TestMoverSimOneReplicaMove(t *testing.T) {
	ctx := context.Background()
	h := newSimHarness(t, pureTiers, mover.MoverOptions{AllowRepublish: true})
	h.watchVolume(volOne)
	plan, err := h.mover.Analyze(ctx, "tm-1", volOne, hot, cold)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.SourceReplicas) != 1 || plan.SourceReplicas[0].Pool != "pool-sata-a" || plan.Replicas != 1 {
		t.Fatalf("plan: %+v", plan)
	}
	src := plan.SourceReplicas[0].ID
	plan, results, err := h.move(ctx, plan)
	if err != nil {
		t.Fatalf("move: %v", err)
	}
	v := h.volume(volOne)
	pools := poolsOf(v)
	if len(pools) != 1 || !strings.HasPrefix(pools[0], "pool-nvme-") {
		t.Fatalf("after the move the replica is on %v, want one NVMe pool", pools)
	}
	if _, still := v.State.ReplicaTopology[src]; still {
		t.Fatal("source replica still there")
	}
	if v.State.Target == nil || v.State.Target.Node != plan.MovedReplicas[0].Node {
		t.Fatalf("target should have been republished to %s: %+v", plan.MovedReplicas[0].Node, v.State.Target)
	}
	if !results[len(results)-1].Republished {
		t.Error("result does not report the republish")
	}
	if v.State.Status != mayastor.VolumeStatusOnline || v.Spec.NumReplicas != 1 {
		t.Fatalf("volume %s with %d replicas", v.State.Status, v.Spec.NumReplicas)
	}
	h.assertNoCordons()
	h.checkInvariant()
	// Analyze again: nothing left to do.
	if _, err := h.mover.Analyze(ctx, "tm-2", volOne, hot, cold); !errors.Is(err, mover.ErrAlreadyOnTarget) {
		t.Fatalf("second Analyze: want ErrAlreadyOnTarget, got %v", err)
	}
}

// Another actor changes the replica map order between ScaleDown's read and
// its decrease (here: a core agent restart, which refills the map in store-key
// order, on the decrease itself). Where that makes the control plane remove a
// replica other than the predicted source, ScaleDown reports it as
// unpredicted, no data is lost, and with the default budget of one wasted
// rebuild the move stops with SourceRemovalNotSteerable instead of looping.
func TestMoverSimOrderChangedBetweenReadAndDecrease(t *testing.T) {
	ctx := context.Background()
	seen := 0
	for seed := uint64(1); seed <= 40 && seen < 2; seed++ {
		t.Run(fmt.Sprintf("seed-%d", seed), func(t *testing.T) {
			h := newSimHarness(t, pureTiers, mover.MoverOptions{}, sim.WithSeed(seed))
			h.watchVolume(volTwoMixed)
			plan, err := h.mover.Analyze(ctx, "tm-7", volTwoMixed, hot, cold)
			if err != nil {
				t.Fatal(err)
			}
			if len(plan.SourceReplicas) != 1 || plan.SourceReplicas[0].Pool != "pool-sata-b" {
				t.Fatalf("sources %+v, want the SATA replica only", plan.SourceReplicas)
			}
			plan, err = h.mover.ScaleUp(ctx, plan, h.record)
			if err != nil {
				t.Fatal(err)
			}
			h.waitSync(ctx, plan)
			h.onWrite = func(r *http.Request) {
				if strings.Contains(r.URL.Path, "/replica_count/") {
					h.sim.RestartCoreAgent()
				}
			}
			plan, res, err := h.mover.ScaleDown(ctx, plan, h.record)
			h.onWrite = nil
			if res.SourceRemoved {
				if err != nil || !res.Complete {
					t.Fatalf("source removed but the move did not complete: %v", err)
				}
				return // the restart did not change the outcome for this seed
			}
			seen++
			if !res.Unpredicted {
				t.Fatalf("a non-source removal not reported as unpredicted: %+v", res)
			}
			if !errors.Is(err, mover.ErrRemovalNotSteerable) || plan.RemovalAttempts != 1 {
				t.Fatalf("want SourceRemovalNotSteerable after one wasted rebuild, got %v (attempts %d)", err, plan.RemovalAttempts)
			}
			v := h.volume(volTwoMixed)
			if _, ok := v.State.ReplicaTopology[plan.SourceReplicas[0].ID]; !ok {
				t.Fatal("source gone but not reported")
			}
			if len(v.State.ReplicaTopology) != 2 {
				t.Fatalf("after a non-source removal: %v", poolsOf(v))
			}
			h.checkInvariant()
		})
	}
	if seen == 0 {
		t.Fatal("no seed made the reordered map remove a replica other than the source; the case was not exercised")
	}
}

// Every NVMe pool shares its node with a roomier SATA pool, so the scheduler
// keeps choosing SATA: the Mover takes each misplaced replica back and fails
// after its attempts, leaving the volume as it was.
func TestMoverSimIncreaseCannotReachTarget(t *testing.T) {
	ctx := context.Background()
	h := newSimHarness(t, mixedNodes, mover.MoverOptions{AllowRepublish: true, MaxPlacementAttempts: 2})
	h.watchVolume(volOne)
	before := poolsOf(h.volume(volOne))
	// The placement model sees it first: Analyze refuses before any write.
	if _, err := h.mover.Analyze(ctx, "tm-9", volOne, hot, cold); !errors.Is(err, mover.ErrPlacementFailed) || h.writes != 0 {
		t.Fatalf("Analyze: want ErrPlacementFailed with no write, got %v (%d writes)", err, h.writes)
	}
	// While pool-sata-2 is nearly full, pool-nvme-2 beats it on free space and Analyze lets
	// the move through. The space freed before ScaleUp brings the scheduler back to SATA:
	// ScaleUp's verification bounds the misplaced attempts.
	if err := h.sim.FillPool("pool-sata-2", 2000<<30); err != nil {
		t.Fatal(err)
	}
	plan, err := h.mover.Analyze(ctx, "tm-9", volOne, hot, cold)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.sim.FillPool("pool-sata-2", 0); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(plan.TargetPools, []string{"pool-nvme-2"}) {
		t.Fatalf("target pools %v, want pool-nvme-2 (pool-nvme-1 shares the source's node)", plan.TargetPools)
	}
	plan, err = h.mover.ScaleUp(ctx, plan, h.record)
	if !errors.Is(err, mover.ErrPlacementFailed) {
		t.Fatalf("want ErrPlacementFailed, got %v (plan %+v)", err, plan)
	}
	if plan.PlacementAttempts != 2 || plan.NewReplica != nil {
		t.Fatalf("plan after failure: %+v", plan)
	}
	if after := poolsOf(h.volume(volOne)); !slices.Equal(before, after) {
		t.Fatalf("volume left on %v, was %v", after, before)
	}
	h.assertNoCordons()
	h.checkInvariant()
}

func TestMoverSimTargetNodeHoldsReplica(t *testing.T) {
	ctx := context.Background()
	h := newSimHarness(t, mixedNodesFull, mover.MoverOptions{AllowRepublish: true})
	// volThree has replicas on all three nodes; both NVMe pools share a node with one.
	_, err := h.mover.Analyze(ctx, "tm-4", volThree, hot, cold)
	if !errors.Is(err, mover.ErrTargetNodeHoldsReplica) {
		t.Fatalf("want ErrTargetNodeHoldsReplica, got %v", err)
	}
}

func TestMoverSimPoolsLackInclusionLabels(t *testing.T) {
	ctx := context.Background()
	scenario := strings.ReplaceAll(pureTiers, "{openebs.io/created-by: operator-diskpool, tier: hot}", "{tier: hot}")
	h := newSimHarness(t, scenario, mover.MoverOptions{AllowRepublish: true})
	_, err := h.mover.Analyze(ctx, "tm-5", volThree, hot, cold)
	if !errors.Is(err, mover.ErrPoolsLackInclusionLabels) {
		t.Fatalf("want ErrPoolsLackInclusionLabels, got %v", err)
	}
}

// An unpublished volume is refused: a replica added without a target is never rebuilt. The
// same volume, once published by its user (here straight through the simulator, on the
// application node), moves, and its target stays.
func TestMoverSimUnpublishedVolume(t *testing.T) {
	ctx := context.Background()
	h := newSimHarness(t, pureTiers, mover.MoverOptions{AllowRepublish: true})
	if _, err := h.mover.Analyze(ctx, "tm-6", volUnpublished, hot, cold); !errors.Is(err, mover.ErrUnpublished) || h.writes != 0 {
		t.Fatalf("Analyze: want ErrUnpublished with no write, got %v (%d writes)", err, h.writes)
	}

	if _, err := h.sim.Publish(volUnpublished, sim.PublishRequest{Node: "app-1", Protocol: "nvmf"}); err != nil {
		t.Fatal(err)
	}
	h.watchVolume(volUnpublished)
	plan, err := h.mover.Analyze(ctx, "tm-6", volUnpublished, hot, cold)
	if err != nil {
		t.Fatal(err)
	}
	plan, _, err = h.move(ctx, plan)
	if err != nil {
		t.Fatalf("move of a volume published by its user: %v", err)
	}
	v := h.volume(volUnpublished)
	if p := poolsOf(v); len(p) != 1 || !strings.HasPrefix(p[0], "pool-nvme-") {
		t.Fatalf("replica on %v", p)
	}
	if v.State.Target == nil || v.State.Target.Node != "app-1" {
		t.Fatalf("the user's target was not left in place: %+v (plan %+v)", v.State.Target, plan)
	}
	h.assertNoCordons()
	h.checkInvariant()
}

// A volume unpublished between Analyze and ScaleUp: ScaleUp refuses before any write.
func TestMoverSimScaleUpRefusesUnpublishedVolume(t *testing.T) {
	ctx := context.Background()
	h := newSimHarness(t, pureTiers, mover.MoverOptions{AllowRepublish: true})
	plan, err := h.mover.Analyze(ctx, "tm-6", volOne, hot, cold)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.sim.Unpublish(volOne, false); err != nil {
		t.Fatal(err)
	}
	before := h.volume(volOne)
	plan, err = h.mover.ScaleUp(ctx, plan, h.record)
	if !errors.Is(err, mover.ErrUnpublished) || h.writes != 0 {
		t.Fatalf("ScaleUp: want ErrUnpublished with no write, got %v (%d writes, plan %+v)", err, h.writes, plan)
	}
	if after := h.volume(volOne); after.Spec.NumReplicas != before.Spec.NumReplicas || !slices.Equal(poolsOf(after), poolsOf(before)) {
		t.Fatalf("volume changed: %v (%d replicas), was %v (%d)", poolsOf(after), after.Spec.NumReplicas, poolsOf(before), before.Spec.NumReplicas)
	}
	h.assertNoCordons()
}

// A crash right after the increase took effect (the answer was lost): the
// re-run adopts the replica already added instead of adding another.
func TestMoverSimScaleUpResumesAfterLostAnswer(t *testing.T) {
	ctx := context.Background()
	h := newSimHarness(t, pureTiers, mover.MoverOptions{AllowRepublish: true})
	h.watchVolume(volTwo)
	plan, err := h.mover.Analyze(ctx, "tm-8", volTwo, hot, cold)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.sim.InjectFault(sim.Fault{Operation: "put_volume_replica_count", Mode: sim.FaultDropAfter, Count: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.mover.ScaleUp(ctx, plan, h.record); err == nil {
		t.Fatal("ScaleUp did not report the lost answer")
	}
	persisted := h.lastRecorded()
	if persisted.NewReplica != nil {
		t.Fatal("new replica recorded although the answer was lost")
	}
	resumed, err := h.mover.ScaleUp(ctx, persisted, h.record)
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	v := h.volume(volTwo)
	if len(v.State.ReplicaTopology) != 3 || v.Spec.NumReplicas != 3 {
		t.Fatalf("resume added another replica: %v", poolsOf(v))
	}
	if resumed.NewReplica == nil || !strings.HasPrefix(resumed.NewReplica.Pool, "pool-nvme-") {
		t.Fatalf("resumed plan: %+v", resumed.NewReplica)
	}
	if len(resumed.Cordons) != 0 {
		t.Fatalf("cordons still recorded: %v", resumed.Cordons)
	}
	h.assertNoCordons()
	h.checkInvariant()
}

func TestMoverSimAbort(t *testing.T) {
	ctx := context.Background()
	h := newSimHarness(t, pureTiers, mover.MoverOptions{AllowRepublish: true})
	h.watchVolume(volTwo)
	plan, err := h.mover.Analyze(ctx, "tm-10", volTwo, hot, cold)
	if err != nil {
		t.Fatal(err)
	}
	sources := plan.SourceReplicas
	plan, err = h.mover.ScaleUp(ctx, plan, h.record)
	if err != nil {
		t.Fatal(err)
	}
	h.clk.Step(3 * time.Second) // rebuild under way, not finished
	if st, err := h.mover.SyncRound(ctx, plan); err != nil || st.Done {
		t.Fatalf("expected a rebuild in progress: %+v %v", st, err)
	}
	plan, err = h.mover.Abort(ctx, plan, h.record)
	if err != nil {
		t.Fatalf("abort mid-rebuild: %v", err)
	}
	v := h.volume(volTwo)
	if len(v.State.ReplicaTopology) != 2 || v.Spec.NumReplicas != 2 || plan.NewReplica != nil {
		t.Fatalf("after abort: %v (num_replicas %d)", poolsOf(v), v.Spec.NumReplicas)
	}
	for _, s := range sources {
		if _, ok := v.State.ReplicaTopology[s.ID]; !ok {
			t.Fatalf("abort removed source replica %s", s.ID)
		}
	}
	h.checkInvariant()

	// Once the new replica is rebuilt, lowering the count could take a
	// source: Abort refuses and leaves the healthy extra replica.
	plan, err = h.mover.ScaleUp(ctx, plan, h.record)
	if err != nil {
		t.Fatal(err)
	}
	h.waitSync(ctx, plan)
	if _, err := h.mover.Abort(ctx, plan, h.record); !errors.Is(err, mover.ErrAbortUnsafe) {
		t.Fatalf("abort after rebuild: want ErrAbortUnsafe, got %v", err)
	}
	if n := len(h.volume(volTwo).State.ReplicaTopology); n != 3 {
		t.Fatalf("refused abort changed the volume: %d replicas", n)
	}
	h.assertNoCordons()
	h.checkInvariant()
}

// Preservation mode keeps the source next to the rebuilt new replica.
func TestMoverSimPreserve(t *testing.T) {
	ctx := context.Background()
	h := newSimHarness(t, pureTiers, mover.MoverOptions{})
	h.watchVolume(volTwoMixed)
	plan, err := h.mover.Analyze(ctx, "tm-12", volTwoMixed, hot, cold)
	if err != nil {
		t.Fatal(err)
	}
	src := plan.SourceReplicas[0].ID
	plan, err = h.mover.ScaleUp(ctx, plan, h.record)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.mover.Preserve(ctx, plan, h.record); !errors.Is(err, mover.ErrNotSynced) {
		t.Fatalf("preserve before the rebuild: want ErrNotSynced, got %v", err)
	}
	h.waitSync(ctx, plan)
	plan, err = h.mover.Preserve(ctx, plan, h.record)
	if err != nil {
		t.Fatal(err)
	}
	v := h.volume(volTwoMixed)
	if _, ok := v.State.ReplicaTopology[src]; !ok || len(v.State.ReplicaTopology) != 3 {
		t.Fatalf("preserve lost the source or the new replica: %v", poolsOf(v))
	}
	if !plan.Complete() || plan.Replicas != 3 || len(plan.PreservedSourceReplicas) != 1 {
		t.Fatalf("plan after preserve: %+v", plan)
	}
	h.checkInvariant()
}

// The journal refuses to record the intent: nothing is cordoned or changed.
func TestMoverSimJournalFailureStopsBeforeActing(t *testing.T) {
	ctx := context.Background()
	h := newSimHarness(t, pureTiers, mover.MoverOptions{AllowRepublish: true})
	plan, err := h.mover.Analyze(ctx, "tm-13", volOne, hot, cold)
	if err != nil {
		t.Fatal(err)
	}
	failing := func(context.Context, mover.Plan) error { return errors.New("apiserver unavailable") }
	if _, err := h.mover.ScaleUp(ctx, plan, failing); err == nil || !strings.Contains(err.Error(), "apiserver unavailable") {
		t.Fatalf("want the journal error, got %v", err)
	}
	if v := h.volume(volOne); len(v.State.ReplicaTopology) != 1 || v.Spec.NumReplicas != 1 {
		t.Fatalf("volume changed although the intent was not recorded: %v", poolsOf(v))
	}
	h.assertNoCordons()
}

// The uncordon after the increase fails: the cordons stay recorded in the
// journaled plan, ReleaseCordons removes them later, and a re-run adopts the
// replica already added.
func TestMoverSimCordonSurvivesFailedRelease(t *testing.T) {
	ctx := context.Background()
	h := newSimHarness(t, pureTiers, mover.MoverOptions{AllowRepublish: true})
	h.watchVolume(volOne)
	plan, err := h.mover.Analyze(ctx, "tm-14", volOne, hot, cold)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.sim.InjectFault(sim.Fault{Operation: "delete_node_cordon", Mode: sim.FaultStatus, Status: 503, Count: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.mover.ScaleUp(ctx, plan, h.record); err == nil {
		t.Fatal("failed uncordon not reported")
	}
	persisted := h.lastRecorded()
	if len(persisted.Cordons) == 0 {
		t.Fatal("a cordon that could not be released is not in the journaled plan")
	}
	cordoned := 0
	for _, n := range h.sim.Nodes() {
		if slices.Contains(n.CordonLabels(), persisted.CordonLabel) {
			cordoned++
		}
	}
	if cordoned != 1 {
		t.Fatalf("want exactly the node whose release failed still cordoned, have %d", cordoned)
	}
	released, err := h.mover.ReleaseCordons(ctx, persisted)
	if err != nil || len(released.Cordons) != 0 {
		t.Fatalf("release: %v, left %v", err, released.Cordons)
	}
	h.assertNoCordons()
	resumed, err := h.mover.ScaleUp(ctx, released, h.record)
	if err != nil {
		t.Fatal(err)
	}
	if resumed.NewReplica == nil || len(h.volume(volOne).State.ReplicaTopology) != 2 {
		t.Fatalf("resume: %+v, replicas %v", resumed.NewReplica, poolsOf(h.volume(volOne)))
	}
	h.checkInvariant()
}

// The invariant monitor itself must see a lost replica.
func TestSimHarnessDetectsLostRedundancy(t *testing.T) {
	h := newSimHarness(t, pureTiers, mover.MoverOptions{})
	h.checkJournalOrder = false // the test changes the count by hand
	h.watchVolume(volThree)
	if err := h.invariantError(); err != nil {
		t.Fatalf("before anything: %v", err)
	}
	if _, err := h.c.SetReplicaCount(context.Background(), volThree, 2); err != nil {
		t.Fatal(err)
	}
	if err := h.invariantError(); err == nil || !strings.Contains(err.Error(), "fell to 2 healthy replicas (from 3)") {
		t.Fatalf("a removed healthy replica went unnoticed: %v", err)
	}
}

// The rebuild onto the new replica fails: SyncRound reports it, and Abort
// brings the volume back to its replicas, sources untouched, even though
// self-heal has meanwhile replaced the faulted replica with another.
func TestMoverSimRebuildFailsThenAbort(t *testing.T) {
	ctx := context.Background()
	h := newSimHarness(t, pureTiers, mover.MoverOptions{AllowRepublish: true})
	h.watchVolume(volTwo)
	plan, err := h.mover.Analyze(ctx, "tm-15", volTwo, hot, cold)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.sim.FaultNextRebuild(volTwo, 50); err != nil {
		t.Fatal(err)
	}
	plan, err = h.mover.ScaleUp(ctx, plan, h.record)
	if err != nil {
		t.Fatal(err)
	}
	var failed string
	for i := 0; i < 100 && failed == ""; i++ {
		st, err := h.mover.SyncRound(ctx, plan)
		if err != nil {
			t.Fatal(err)
		}
		if st.Done {
			t.Fatal("a failed rebuild reported done")
		}
		failed = st.Failed
		h.clk.Step(2 * time.Second)
	}
	if failed == "" {
		t.Fatal("the failed rebuild was never reported")
	}
	t.Logf("sync failure: %s", failed)
	for i := 0; i < 10; i++ {
		plan, err = h.mover.Abort(ctx, plan, h.record)
		if err == nil {
			break
		}
		t.Logf("abort: %v", err)
		h.clk.Step(10 * time.Second)
	}
	if err != nil {
		t.Fatalf("abort never finished: %v", err)
	}
	v := h.volume(volTwo)
	for _, s := range plan.SourceReplicas {
		if _, ok := v.State.ReplicaTopology[s.ID]; !ok {
			t.Fatalf("source %s lost", s.ID)
		}
	}
	if v.Spec.NumReplicas != 2 || len(v.State.ReplicaTopology) != 2 {
		t.Fatalf("after abort: num_replicas %d, replicas %v", v.Spec.NumReplicas, poolsOf(v))
	}
	h.assertNoCordons()
	h.checkInvariant()
}

// Self-heal replaced the faulted new replica before Abort ran. Once that
// replacement is rebuilt every replica is healthy and any decrease could take
// a source, so Abort refuses and keeps the healthy extra replica: sources are
// never removed and redundancy only grew.
func TestMoverSimAbortAfterSelfHealReplacedTheNewReplica(t *testing.T) {
	ctx := context.Background()
	h := newSimHarness(t, pureTiers, mover.MoverOptions{AllowRepublish: true})
	h.watchVolume(volTwo)
	plan, err := h.mover.Analyze(ctx, "tm-16", volTwo, hot, cold)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.sim.FaultNextRebuild(volTwo, 50); err != nil {
		t.Fatal(err)
	}
	if plan, err = h.mover.ScaleUp(ctx, plan, h.record); err != nil {
		t.Fatal(err)
	}
	h.clk.Step(60 * time.Second) // rebuild fails, self-heal replaces and rebuilds
	st, err := h.mover.SyncRound(ctx, plan)
	if err != nil || st.Failed == "" {
		t.Fatalf("want a failed sync, got %+v %v", st, err)
	}
	_, err = h.mover.Abort(ctx, plan, h.record)
	if !errors.Is(err, mover.ErrAbortUnsafe) {
		t.Fatalf("want ErrAbortUnsafe, got %v", err)
	}
	v := h.volume(volTwo)
	for _, s := range plan.SourceReplicas {
		if _, ok := v.State.ReplicaTopology[s.ID]; !ok {
			t.Fatalf("source %s lost", s.ID)
		}
	}
	if len(v.State.ReplicaTopology) != 3 {
		t.Fatalf("replicas %v", poolsOf(v))
	}
	h.assertNoCordons()
	h.checkInvariant()
}

func TestMoverSimAnalyzeRefusals(t *testing.T) {
	ctx := context.Background()
	warm := labels.SelectorFromSet(labels.Set{"tier": "warm"})
	cases := []struct {
		name   string
		opts   mover.MoverOptions
		volume string
		target labels.Selector
		want   error
	}{
		{"missing volume", mover.MoverOptions{}, "0c4f3a52-7d1e-4b6a-9a0e-0000000000ff", hot, mover.ErrVolumeNotFound},
		{"no pool in the target tier", mover.MoverOptions{AllowRepublish: true}, volThree, warm, mover.ErrNoTargetPool},
		{"headroom leaves no room", mover.MoverOptions{AllowRepublish: true, HeadroomPercent: 99}, volThree, hot, mover.ErrInsufficientCapacity},
		{"already there", mover.MoverOptions{AllowRepublish: true}, volThree, cold, mover.ErrAlreadyOnTarget},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newSimHarness(t, pureTiers, tc.opts)
			_, err := h.mover.Analyze(ctx, "tm-a", tc.volume, tc.target, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("want %v, got %v", tc.want, err)
			}
		})
	}
	// A volume with a rebuild running is not touched.
	h := newSimHarness(t, pureTiers, mover.MoverOptions{AllowRepublish: true})
	h.checkJournalOrder = false // the test changes the count by hand
	if _, err := h.c.SetReplicaCount(ctx, volThree, 4); err != nil {
		t.Fatal(err)
	}
	h.clk.Step(time.Second)
	if _, err := h.mover.Analyze(ctx, "tm-b", volThree, hot, cold); !errors.Is(err, mover.ErrRebuildInProgress) && !errors.Is(err, mover.ErrVolumeNotHealthy) {
		t.Fatalf("volume mid-rebuild: got %v", err)
	}
}

// Abort never reports a roll-back with the sources untouched when a source is gone: here a
// source replica faults once the new replica is rebuilt and the control plane's own decrease
// removes it (faulted replicas rank first), before Abort runs.
func TestMoverSimAbortReportsAGoneSource(t *testing.T) {
	ctx := context.Background()
	h := newSimHarness(t, pureTiers, mover.MoverOptions{AllowRepublish: true})
	plan, err := h.mover.Analyze(ctx, "tm-gone", volTwo, hot, cold)
	if err != nil {
		t.Fatal(err)
	}
	if plan, err = h.mover.ScaleUp(ctx, plan, h.record); err != nil {
		t.Fatal(err)
	}
	h.waitSync(ctx, plan)
	gone := plan.SourceReplicas[0]
	if err := h.sim.FaultReplica(gone.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := h.sim.SetReplicaCount(volTwo, plan.Replicas); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.volume(volTwo).State.ReplicaTopology[gone.ID]; ok {
		t.Fatalf("setup: the faulted source %s was not the replica removed", gone.ID)
	}
	_, err = h.mover.Abort(ctx, plan, h.record)
	var refusal *mover.RefusalError
	if !errors.As(err, &refusal) || refusal.Reason != mover.ReasonSourceReplicaGone || !strings.Contains(refusal.Detail, gone.ID) {
		t.Fatalf("want a %s refusal naming %s, got %v", mover.ReasonSourceReplicaGone, gone.ID, err)
	}
}
