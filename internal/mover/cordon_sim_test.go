package mover_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/mover"
	"github.com/billyronks/couchestor/internal/sim"
)

// steerTiers: SATA pools that the scheduler prefers to the NVMe ones (far
// more free space) on sata-a and sata-b, and a small SATA pool on sata-c that
// loses to NVMe. Two single-replica volumes on SATA, nexus-local.
const steerTiers = `
name: steer
seed: 5
rebuild_bandwidth: 1GiB
nodes:
  - {id: sata-a}
  - {id: sata-b}
  - {id: sata-c}
  - {id: nvme-a}
  - {id: nvme-b}
pools:
  - {id: pool-sata-a, node: sata-a, capacity: 2TiB, labels: {openebs.io/created-by: operator-diskpool, tier: cold}}
  - {id: pool-sata-b, node: sata-b, capacity: 2TiB, labels: {openebs.io/created-by: operator-diskpool, tier: cold}}
  - {id: pool-sata-c, node: sata-c, capacity: 100GiB, labels: {openebs.io/created-by: operator-diskpool, tier: cold}}
  - {id: pool-nvme-a, node: nvme-a, capacity: 200GiB, labels: {openebs.io/created-by: operator-diskpool, tier: hot}}
  - {id: pool-nvme-b, node: nvme-b, capacity: 200GiB, labels: {openebs.io/created-by: operator-diskpool, tier: hot}}
volumes:
  - uuid: 0c4f3a52-7d1e-4b6a-9a0e-0000000000a1
    size: 10GiB
    replicas: [pool-sata-a]
    published: true
    inclusion: {openebs.io/created-by: operator-diskpool}
  - uuid: 0c4f3a52-7d1e-4b6a-9a0e-0000000000a2
    size: 10GiB
    replicas: [pool-sata-b]
    published: true
    inclusion: {openebs.io/created-by: operator-diskpool}
`

const (
	volSteerA = "0c4f3a52-7d1e-4b6a-9a0e-0000000000a1"
	volSteerB = "0c4f3a52-7d1e-4b6a-9a0e-0000000000a2"
)

// proxy sits between a Mover and the simulator harness's server: it can
// hold a request back, act before or after forwarding, and records the
// requests it saw.
type proxy struct {
	t       *testing.T
	h       *simHarness
	target  string
	mu      sync.Mutex
	seen    []string
	handle  func(w http.ResponseWriter, r *http.Request, forward func()) bool
	after   func(r *http.Request)
	latency time.Duration
}

func newProxy(t *testing.T, h *simHarness) (*proxy, *mayastor.Client) {
	t.Helper()
	p := &proxy{t: t, h: h}
	inner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.checkWrite(r)
		h.sim.Handler().ServeHTTP(w, r)
		h.observe(r.Method + " " + r.URL.Path)
	}))
	t.Cleanup(inner.Close)
	p.target = inner.URL
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	c, err := mayastor.New(mayastor.Config{BaseURL: srv.URL, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	return p, c
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.seen = append(p.seen, r.Method+" "+r.URL.Path)
	p.mu.Unlock()
	if p.latency > 0 && r.Method != http.MethodGet {
		time.Sleep(p.latency)
	}
	forward := func() {
		req, err := http.NewRequestWithContext(r.Context(), r.Method, p.target+r.URL.RequestURI(), r.Body)
		if err != nil {
			p.t.Error(err)
			return
		}
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer func() { _ = resp.Body.Close() }()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}
	if p.handle == nil || !p.handle(w, r, forward) {
		forward()
	}
	if p.after != nil {
		p.after(r)
	}
}

func (p *proxy) requests(prefix string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, s := range p.seen {
		if strings.HasPrefix(s, prefix) {
			out = append(out, s)
		}
	}
	return out
}

func nodesWith(h *simHarness, label string) []string {
	var out []string
	for _, n := range h.sim.Nodes() {
		if slices.Contains(n.CordonLabels(), label) {
			out = append(out, n.ID)
		}
	}
	return out
}

// A cordon that lands after its call gave up (upstream runs a replica-count
// change in a spawned task that outlives the client's timeout,
// core/volume/service.rs:152-163; that a cordon can do the same was not read
// upstream and is assumed): the first cordon PUT answers 504 and takes effect
// only after the next GET of that node has been answered. The cordon stays
// recorded ("may land late"), the next step finds it on the node, lifts it,
// and only then drops it; the move itself completes.
func TestMoverSimLateCordonIsNotLost(t *testing.T) {
	ctx := context.Background()
	h := newSimHarness(t, steerTiers, mover.MoverOptions{})
	p, c := newProxy(t, h)
	mv := mover.NewMover(c, mover.MoverOptions{AllowRepublish: true, CordonGate: mover.NewCordonGate()})
	var late struct {
		sync.Mutex
		node, label string
		armed, held bool
	}
	late.armed = true
	p.handle = func(w http.ResponseWriter, r *http.Request, forward func()) bool {
		parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/v0/"), "/")
		late.Lock()
		defer late.Unlock()
		if r.Method == http.MethodPut && len(parts) == 4 && parts[0] == "nodes" && parts[2] == "cordon" && late.armed {
			late.armed, late.held = false, true
			late.node, late.label = parts[1], parts[3]
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusGatewayTimeout)
			_, _ = io.WriteString(w, `{"details":"timed out","message":"gateway timeout","kind":"Timeout"}`)
			return true
		}
		if r.Method == http.MethodGet && late.held && r.URL.Path == "/v0/nodes/"+late.node {
			forward() // the GET sees no label yet
			late.held = false
			if _, err := h.sim.Cordon(late.node, late.label); err != nil {
				t.Error(err)
			}
			return true
		}
		return false
	}
	h.watchVolume(volSteerA)
	plan, err := mv.Analyze(ctx, "tm-late", volSteerA, hot, cold)
	if err != nil {
		t.Fatal(err)
	}
	plan, err = mv.ScaleUp(ctx, plan, h.record)
	if err == nil {
		t.Fatal("the 504 on the cordon was not reported")
	}
	if !slices.Equal(nodesWith(h, plan.CordonLabel), []string{"sata-b"}) || late.node != "sata-b" {
		t.Fatalf("setup: want the late cordon landed on sata-b, nodes with it: %v (held %q)", nodesWith(h, plan.CordonLabel), late.node)
	}
	want := mover.Cordon{Node: "sata-b", Label: plan.CordonLabel}
	for _, got := range [][]mover.Cordon{plan.Cordons, h.lastRecorded().Cordons} {
		if len(got) != 1 || got[0].Node != want.Node || got[0].Label != want.Label {
			t.Fatalf("cordons recorded %+v, want the late one %+v kept", got, want)
		}
	}
	if plan.PlacementAttempts != 0 {
		t.Fatalf("a failed cordon counted as a placement attempt: %d", plan.PlacementAttempts)
	}
	if n := len(h.volume(volSteerA).State.ReplicaTopology); n != 1 {
		t.Fatalf("the count was raised although a cordon failed: %d replicas", n)
	}

	// After a restart the plan comes from storage: no call outcome is known.
	persisted := h.lastRecorded()
	for i := range persisted.Cordons {
		persisted.Cordons[i].Answered = false
	}
	plan, err = mv.ScaleUp(ctx, persisted, h.record)
	if err != nil {
		t.Fatalf("second ScaleUp: %v", err)
	}
	if plan.NewReplica == nil || !strings.HasPrefix(plan.NewReplica.Pool, "pool-nvme-") {
		t.Fatalf("new replica %+v, want one on NVMe", plan.NewReplica)
	}
	if len(plan.Cordons) != 0 || len(h.lastRecorded().Cordons) != 0 {
		t.Fatalf("cordons still recorded after their removal was seen: %+v", plan.Cordons)
	}
	h.assertNoCordons()
	h.checkInvariant()
}

// A cordon whose call never answered and whose label is absent stays
// recorded through ReleaseCordons (it may land late); ReleaseAtEnd,
// for a migration that ends, drops it (the sweeper owns it from then on).
// An answered cordon that is absent is dropped by both.
func TestMoverSimUnansweredCordonStaysRecordedUntilTheEnd(t *testing.T) {
	ctx := context.Background()
	h := newSimHarness(t, steerTiers, mover.MoverOptions{})
	label := mover.CordonLabelFor("tm-end")
	plan := mover.Plan{MigrationID: "tm-end", VolumeID: volSteerA, CordonLabel: label,
		Cordons: []mover.Cordon{{Node: "sata-b", Label: label}, {Node: "sata-c", Label: label, Answered: true}}}
	kept, err := h.mover.ReleaseCordons(ctx, plan)
	if err != nil {
		t.Fatal(err)
	}
	if len(kept.Cordons) != 1 || kept.Cordons[0].Node != "sata-b" {
		t.Fatalf("ReleaseCordons left %+v, want only the unanswered sata-b cordon", kept.Cordons)
	}
	ended, err := h.mover.ReleaseAtEnd(ctx, kept)
	if err != nil || len(ended.Cordons) != 0 {
		t.Fatalf("ReleaseAtEnd: %v, left %+v", err, ended.Cordons)
	}
	// One that landed meanwhile is lifted and dropped by either.
	if _, err := h.sim.Cordon("sata-b", label); err != nil {
		t.Fatal(err)
	}
	released, err := h.mover.ReleaseCordons(ctx, kept)
	if err != nil || len(released.Cordons) != 0 {
		t.Fatalf("landed cordon: %v, left %+v", err, released.Cordons)
	}
	h.assertNoCordons()
}

// Fewest nodes: only sata-b's pool beats the NVMe pools in the scheduler's
// score (core/controller/scheduling/volume_policy/thick.rs:12-13, 86-111);
// sata-c's small pool loses to them, so it is not cordoned.
func TestMoverSimCordonsOnlyTheNodesThatWouldWin(t *testing.T) {
	ctx := context.Background()
	h := newSimHarness(t, steerTiers, mover.MoverOptions{})
	p, c := newProxy(t, h)
	mv := mover.NewMover(c, mover.MoverOptions{AllowRepublish: true, CordonGate: mover.NewCordonGate()})
	plan, err := mv.Analyze(ctx, "tm-few", volSteerA, hot, cold)
	if err != nil {
		t.Fatal(err)
	}
	if plan, err = mv.ScaleUp(ctx, plan, h.record); err != nil {
		t.Fatal(err)
	}
	if got := p.requests("PUT /v0/nodes/"); !slices.Equal(got, []string{"PUT /v0/nodes/sata-b/cordon/" + plan.CordonLabel}) {
		t.Fatalf("cordon calls %v, want sata-b only", got)
	}
	if plan.NewReplica == nil || !strings.HasPrefix(plan.NewReplica.Pool, "pool-nvme-") || plan.PlacementAttempts != 0 {
		t.Fatalf("new replica %+v after %d misplacements", plan.NewReplica, plan.PlacementAttempts)
	}
	h.assertNoCordons()
}

// A cluster where the target already wins: no cordon at all. Here sata-b is
// filled so that NVMe outscores every SATA pool the volume may use.
func TestMoverSimNoCordonWhenTheTargetAlreadyWins(t *testing.T) {
	ctx := context.Background()
	h := newSimHarness(t, steerTiers, mover.MoverOptions{})
	if err := h.sim.FillPool("pool-sata-b", 1900<<30); err != nil {
		t.Fatal(err)
	}
	p, c := newProxy(t, h)
	mv := mover.NewMover(c, mover.MoverOptions{AllowRepublish: true, CordonGate: mover.NewCordonGate()})
	plan, err := mv.Analyze(ctx, "tm-none", volSteerA, hot, cold)
	if err != nil {
		t.Fatal(err)
	}
	if plan, err = mv.ScaleUp(ctx, plan, h.record); err != nil {
		t.Fatal(err)
	}
	if got := p.requests("PUT /v0/nodes/"); len(got) != 0 {
		t.Fatalf("cordon calls %v, want none", got)
	}
	if plan.NewReplica == nil || !strings.HasPrefix(plan.NewReplica.Pool, "pool-nvme-") {
		t.Fatalf("new replica %+v, want one on NVMe", plan.NewReplica)
	}
}

// A transient error on the increase is not a misplaced replica;
// PlacementAttempts counts only replicas that landed off the target tier.
func TestMoverSimTransientIncreaseErrorIsNotAPlacementAttempt(t *testing.T) {
	ctx := context.Background()
	h := newSimHarness(t, steerTiers, mover.MoverOptions{AllowRepublish: true, MaxPlacementAttempts: 1})
	plan, err := h.mover.Analyze(ctx, "tm-5xx", volSteerA, hot, cold)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := h.sim.InjectFault(sim.Fault{Operation: "put_volume_replica_count", Mode: sim.FaultStatus, Status: 503, Count: 1}); err != nil {
			t.Fatal(err)
		}
		plan, err = h.mover.ScaleUp(ctx, plan, h.record)
		if err == nil || errors.Is(err, mover.ErrPlacementFailed) {
			t.Fatalf("try %d: want the transient error, got %v", i+1, err)
		}
		if plan.PlacementAttempts != 0 {
			t.Fatalf("try %d: a 503 counted as a placement attempt (%d)", i+1, plan.PlacementAttempts)
		}
	}
	if plan, err = h.mover.ScaleUp(ctx, plan, h.record); err != nil {
		t.Fatalf("after the faults: %v", err)
	}
	if plan.NewReplica == nil {
		t.Fatal("no new replica")
	}
	h.assertNoCordons()
}

// Two moves whose increases run at once never hold cordons at the
// same time: the shared CordonGate serialises their windows. A recording
// proxy checks, after every request, that the simulator's nodes carry the
// cordon labels of at most one migration; cordon calls are slowed down so
// that windows would overlap without the gate.
func TestMoverSimConcurrentCordonWindowsNeverOverlap(t *testing.T) {
	ctx := context.Background()
	h := newSimHarness(t, steerTiers, mover.MoverOptions{})
	h.checkJournalOrder = false // two moves journal into one harness
	p, c := newProxy(t, h)
	p.latency = 20 * time.Millisecond
	var mu sync.Mutex
	var overlaps []string
	p.after = func(r *http.Request) {
		labels := map[string]bool{}
		for _, n := range h.sim.Nodes() {
			for _, l := range n.CordonLabels() {
				if strings.HasPrefix(l, mover.CordonLabelPrefix) {
					labels[l] = true
				}
			}
		}
		if len(labels) > 1 {
			mu.Lock()
			overlaps = append(overlaps, r.Method+" "+r.URL.Path)
			mu.Unlock()
		}
	}
	gate := mover.NewCordonGate()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	plans := make([]mover.Plan, 2)
	for i, vol := range []string{volSteerA, volSteerB} {
		m := mover.NewMover(c, mover.MoverOptions{AllowRepublish: true, CordonGate: gate})
		plan, err := m.Analyze(ctx, "tm-gate-"+string(rune('a'+i)), vol, hot, cold)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			plans[i], errs[i] = m.ScaleUp(ctx, plan, h.record)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("move %d: %v", i, err)
		}
		if plans[i].NewReplica == nil || !strings.HasPrefix(plans[i].NewReplica.Pool, "pool-nvme-") {
			t.Fatalf("move %d: new replica %+v", i, plans[i].NewReplica)
		}
	}
	if len(p.requests("PUT /v0/nodes/")) < 2 {
		t.Fatalf("setup: both moves should cordon, calls %v", p.requests("PUT /v0/nodes/"))
	}
	if len(overlaps) > 0 {
		t.Fatalf("cordons of both migrations on nodes at once, after %v", overlaps)
	}
	h.assertNoCordons()
}
