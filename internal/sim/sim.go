package sim

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// Sim is a simulated Mayastor control plane and its io-engine metrics
// exporters. It is safe for concurrent use. Time comes only from the
// injected clock: the simulation catches up lazily to clock.Now() whenever it
// is observed or changed, so a fake clock makes every test deterministic.
type Sim struct {
	mu    sync.Mutex
	clock clock.PassiveClock
	rng   *rand.Rand

	nodes     map[string]*simNode
	nodeOrder []string
	pools     map[string]*simPool
	poolOrder []string
	volumes   map[string]*simVolume
	volOrder  []string // sorted uuids, the pagination order
	replicas  map[string]*simReplica

	rebuildBandwidth  int64 // bytes per second, per rebuild
	reconcileInterval time.Duration

	start         time.Time // clock reading at construction: time zero of workloads
	cur           time.Time // the instant the model has been advanced to
	lastReconcile time.Time
	events        eventQueue
	dirty         map[*simVolume]struct{} // volumes the self-heal reconciler must look at

	faults faultTable
	sleep  func(time.Duration) // applies injected latency

	extras // HA, max_rebuilds, late operations, registry cache, ... (extras.go)
}

// Defaults used when a scenario does not set them.
const (
	DefaultRebuildBandwidth  = 200 << 20 // 200 MiB/s
	DefaultReconcileInterval = 10 * time.Second
)

// Option configures a Sim.
type Option func(*Sim)

// WithClock injects the clock (default: the real clock). Use
// k8s.io/utils/clock/testing.NewFakeClock in tests and Step it.
func WithClock(c clock.PassiveClock) Option { return func(s *Sim) { s.clock = c } }

// WithSeed overrides the scenario's seed.
func WithSeed(seed uint64) Option { return func(s *Sim) { s.rng = newRand(seed) } }

// WithSleep replaces how injected latency waits (default time.Sleep).
func WithSleep(f func(time.Duration)) Option { return func(s *Sim) { s.sleep = f } }

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

// New builds a simulator holding the scenario's cluster.
func New(sc *Scenario, opts ...Option) (*Sim, error) {
	s := &Sim{
		clock:             clock.RealClock{},
		rng:               newRand(sc.Seed),
		nodes:             map[string]*simNode{},
		pools:             map[string]*simPool{},
		volumes:           map[string]*simVolume{},
		replicas:          map[string]*simReplica{},
		rebuildBandwidth:  int64(sc.RebuildBandwidth),
		reconcileInterval: sc.ReconcileInterval.Duration,
		dirty:             map[*simVolume]struct{}{},
		sleep:             time.Sleep,
	}
	for _, o := range opts {
		o(s)
	}
	if s.rebuildBandwidth <= 0 {
		s.rebuildBandwidth = DefaultRebuildBandwidth
	}
	if s.reconcileInterval <= 0 {
		s.reconcileInterval = DefaultReconcileInterval
	}
	s.start = s.clock.Now()
	s.cur, s.lastReconcile = s.start, s.start
	s.loadExtras(sc)
	if err := s.load(sc); err != nil {
		return nil, err
	}
	s.initCache()
	return s, nil
}

// newUUID draws a version-4 uuid from the seeded generator, so that a
// scenario and seed always produce the same ids.
func (s *Sim) newUUID() string {
	var b [16]byte
	for i := 0; i < 16; i += 8 {
		x := s.rng.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(x >> (8 * j))
		}
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// ---- time ----

type eventKind int

const (
	evRebuildDone eventKind = iota
	evRebuildFault
)

type event struct {
	at    time.Time
	seq   uint64
	kind  eventKind
	vol   *simVolume
	child *simChild
	job   *rebuildJob
	// apply, when set, is the whole event (late operations, HA failover,
	// registry cache refresh, ENOSPC moves: extras.go).
	apply func()
}

type eventQueue struct {
	items []*event
	seq   uint64
}

func (q *eventQueue) Len() int { return len(q.items) }
func (q *eventQueue) Less(i, j int) bool {
	a, b := q.items[i], q.items[j]
	if !a.at.Equal(b.at) {
		return a.at.Before(b.at)
	}
	return a.seq < b.seq
}
func (q *eventQueue) Swap(i, j int) { q.items[i], q.items[j] = q.items[j], q.items[i] }
func (q *eventQueue) Push(x any)    { q.items = append(q.items, x.(*event)) }
func (q *eventQueue) Pop() any {
	n := len(q.items)
	e := q.items[n-1]
	q.items = q.items[:n-1]
	return e
}

func (s *Sim) schedule(e *event) {
	s.events.seq++
	e.seq = s.events.seq
	heap.Push(&s.events, e)
}

// sync advances the model to the clock's present. Callers hold s.mu.
func (s *Sim) sync() {
	now := s.clock.Now()
	if now.Before(s.cur) {
		return // a clock never runs backwards for the model
	}
	for {
		var next time.Time
		have, reconcile := false, false
		if s.events.Len() > 0 {
			next, have = s.events.items[0].at, true
		}
		if len(s.dirty) > 0 {
			rt := s.nextReconcile()
			if !have || rt.Before(next) {
				next, have, reconcile = rt, true, true
			}
		}
		if !have || next.After(now) {
			break
		}
		s.cur = next
		if reconcile {
			s.lastReconcile = next
			changed := s.reconcile()
			if changed {
				s.opDone() // the reconcilers' operations refresh the registry cache too
			}
			if !changed {
				// Nothing can change until the next event: skip idle ticks.
				until := now
				if s.events.Len() > 0 && s.events.items[0].at.Before(until) {
					until = s.events.items[0].at
				}
				s.lastReconcile = s.alignDown(until)
			}
			continue
		}
		e := heap.Pop(&s.events).(*event)
		s.handle(e)
	}
	s.cur = now
}

func (s *Sim) alignDown(t time.Time) time.Time {
	k := t.Sub(s.start) / s.reconcileInterval
	return s.start.Add(k * s.reconcileInterval)
}

// nextReconcile is the first reconcile tick (a multiple of the interval since
// start) not before cur and after the last one run.
func (s *Sim) nextReconcile() time.Time {
	rt := s.alignDown(s.cur)
	if rt.Before(s.cur) {
		rt = rt.Add(s.reconcileInterval)
	}
	if !rt.After(s.lastReconcile) {
		rt = s.lastReconcile.Add(s.reconcileInterval)
	}
	return rt
}

func (s *Sim) handle(e *event) {
	if e.apply != nil {
		e.apply()
		return
	}
	v, c := e.vol, e.child
	if v.target == nil || v.target.child(c.replica) != c || c.rebuild != e.job {
		return // the job was stopped or superseded
	}
	switch e.kind {
	case evRebuildDone:
		s.completeRebuild(v, c)
	case evRebuildFault:
		c.replica.faulted = true
		s.replicaLost(c.replica)
	}
}

// ---- rebuilds ----

func (s *Sim) rebuildDuration(size int64) time.Duration {
	return time.Duration(float64(size) / float64(s.rebuildBandwidth) * float64(time.Second))
}

// attach adds r to v's nexus as a child and starts its full rebuild.
func (s *Sim) attach(v *simVolume, r *simReplica) {
	nx := v.target
	c := &simChild{replica: r, state: mayastor.ChildStateDegraded}
	src := ""
	for _, o := range nx.children {
		if childState(o) == mayastor.ChildStateOnline {
			src = o.replica.uri(nx.node)
			break
		}
	}
	nx.children = append(nx.children, c)
	if v.nexusInfo == nil {
		v.nexusInfo = map[string]bool{}
	}
	v.nexusInfo[r.uuid] = false
	job := &rebuildJob{start: s.cur, end: s.cur.Add(s.rebuildDuration(v.size)), srcURI: src}
	c.rebuild = job
	s.schedule(&event{at: job.end, kind: evRebuildDone, vol: v, child: c, job: job})
	if v.faultNextRebuild >= 0 {
		job.faultAt = job.start.Add(time.Duration(float64(job.end.Sub(job.start)) * v.faultNextRebuild))
		v.faultNextRebuild = -1
		s.schedule(&event{at: job.faultAt, kind: evRebuildFault, vol: v, child: c, job: job})
	}
}

func (s *Sim) completeRebuild(v *simVolume, c *simChild) {
	job := c.rebuild
	c.rebuild = nil
	c.state = mayastor.ChildStateOnline
	v.nexusInfo[c.replica.uuid] = true
	// The data plane rebuilds fully: a thin replica ends fully allocated.
	c.replica.setAllocated(v.size)
	s.record(v, c, job, mayastor.RebuildJobStateCompleted, v.size)
}

// stopRebuild ends c's running rebuild with state st, if there is one.
func (s *Sim) stopRebuild(v *simVolume, c *simChild, st mayastor.RebuildJobState) {
	job := c.rebuild
	if job == nil {
		return
	}
	c.rebuild = nil
	done := v.size * int64(job.progress(s.cur)) / 100
	s.record(v, c, job, st, done)
}

func (s *Sim) record(v *simVolume, c *simChild, job *rebuildJob, st mayastor.RebuildJobState, done int64) {
	v.target.history = append(v.target.history, rebuildRecord{
		childURI: c.replica.uri(v.target.node), srcURI: job.srcURI, state: st,
		bytesTotal: v.size, bytesDone: done, start: job.start, end: s.cur,
	})
}

// replicaLost reacts to r becoming unreachable or faulted: its nexus child
// faults, a running rebuild fails, and NexusInfo marks it unhealthy.
func (s *Sim) replicaLost(r *simReplica) {
	v := r.volume
	if v.target != nil {
		if c := v.target.child(r); c != nil {
			s.stopRebuild(v, c, mayastor.RebuildJobStateFailed)
			c.state = mayastor.ChildStateFaulted
			if v.nexusInfo != nil {
				v.nexusInfo[r.uuid] = false
			}
		}
	}
	s.markDirty(v)
}

func (s *Sim) markDirty(v *simVolume) { s.dirty[v] = struct{}{} }

// ---- self-heal ----

// reconcile is one pass of the core agent's volume reconcilers over the
// volumes that need attention. It reports whether anything changed.
func (s *Sim) reconcile() bool {
	changed := false
	vols := make([]*simVolume, 0, len(s.dirty))
	for v := range s.dirty {
		vols = append(vols, v)
	}
	sort.Slice(vols, func(i, j int) bool { return vols[i].uuid < vols[j].uuid })
	for _, v := range vols {
		c, done := s.reconcileVolume(v)
		changed = changed || c
		if done {
			delete(s.dirty, v)
		}
	}
	return changed
}

// reconcileVolume heals one volume a step at a time, as upstream's
// reconcilers do: drop faulted children, garbage-collect unused replicas in
// excess, then (self_heal) attach or create one missing replica.
func (s *Sim) reconcileVolume(v *simVolume) (changed, done bool) {
	nx := v.servingNexus()
	if nx == nil {
		// Unpublished, or the target's node is down: nothing to heal through.
		return false, true
	}
	if nexusState(nx) == mayastor.NexusStateFaulted {
		// No healthy child left to serve or rebuild from: nothing to heal with.
		return false, false
	}
	for i := 0; i < len(nx.children); i++ {
		c := nx.children[i]
		if childState(c) != mayastor.ChildStateFaulted {
			continue
		}
		s.stopRebuild(v, c, mayastor.RebuildJobStateFailed)
		nx.children = append(nx.children[:i], nx.children[i+1:]...)
		i--
		v.nexusInfo[c.replica.uuid] = false
		changed = true
	}
	if len(v.replicas) > v.numReplicas {
		for _, r := range append([]*simReplica(nil), v.replicas...) {
			if len(v.replicas) <= v.numReplicas {
				break
			}
			if nx.child(r) == nil && r.node().online {
				s.destroyReplica(r)
				changed = true
			}
		}
	}
	// An attach needs rebuild_allowed (max_rebuilds, attach.go).
	if v.selfHeal && len(nx.children) < v.numReplicas && s.rebuildAllowed() == nil {
		var spare *simReplica
		for _, r := range v.replicas {
			if nx.child(r) == nil && r.state() == mayastor.ReplicaStateOnline {
				spare = r
				break
			}
		}
		if spare == nil {
			if pools := s.poolCandidates(v); len(pools) > 0 {
				spare = s.createReplica(v, pools[0])
			}
		}
		if spare != nil {
			s.attach(v, spare)
			changed = true
		}
	}
	done = len(nx.children) >= v.numReplicas && len(v.replicas) <= v.numReplicas
	for _, c := range nx.children {
		if childState(c) == mayastor.ChildStateFaulted {
			done = false
		}
	}
	if !v.selfHeal && len(v.replicas) <= v.numReplicas {
		done = true
	}
	return changed, done
}

// ---- model mutations ----

func (s *Sim) createReplica(v *simVolume, p *simPool) *simReplica {
	r := &simReplica{uuid: s.newUUID(), volume: v, pool: p, size: v.size, thin: v.thin}
	p.replicas++
	p.committed += v.size
	if !v.thin {
		r.setAllocated(v.size)
	}
	v.replicas = append(v.replicas, r)
	s.replicas[r.uuid] = r
	return r
}

func (s *Sim) destroyReplica(r *simReplica) {
	v := r.volume
	if v.target != nil {
		if c := v.target.child(r); c != nil {
			s.stopRebuild(v, c, mayastor.RebuildJobStateStopped)
			v.target.removeChild(r)
		}
	}
	v.removeReplica(r)
	delete(s.replicas, r.uuid)
}
