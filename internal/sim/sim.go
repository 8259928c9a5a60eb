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
	// order is the core agent's global replica map in its order (order.go).
	order []*simReplica
	// randomTies draws removal ties at random instead of following order
	// (WithRandomRemovalTies): kinder than upstream, never the default.
	randomTies bool
	// faultedChildWait is faulted_child_wait_period (faultedChildWait below).
	faultedChildWait time.Duration

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
	// DefaultFaultedChildWait is upstream's faulted_child_wait_period default
	// (TWAIT_SPERF, core/controller/policies/rebuild_policies.rs:20, returned
	// by faulted_child_wait at 46-59 when no CLI value is set; read upstream).
	DefaultFaultedChildWait = 600 * time.Second
)

// Option configures a Sim.
type Option func(*Sim)

// WithClock injects the clock (default: the real clock). Use
// k8s.io/utils/clock/testing.NewFakeClock in tests and Step it.
func WithClock(c clock.PassiveClock) Option { return func(s *Sim) { s.clock = c } }

// WithSeed overrides the scenario's seed.
func WithSeed(seed uint64) Option { return func(s *Sim) { s.rng = newRand(seed) } }

// WithRandomRemovalTies makes the remaining ties of the removal ranking a
// seeded random draw on every decrease instead of the core agent's replica
// map order. This is KINDER THAN UPSTREAM, where ties are deterministic and
// history-dependent (placement.md §7, review F1): a caller that retries a
// decrease gets a fresh chance here, never on a real cluster. Use it only to
// compare against the upstream order; it is off by default.
func WithRandomRemovalTies() Option { return func(s *Sim) { s.randomTies = true } }

// WithFaultedChildWait overrides faulted_child_wait_period (default 600s;
// 0 removes a faulted child at the next reconcile, as upstream with the
// period set to zero).
func WithFaultedChildWait(d time.Duration) Option {
	return func(s *Sim) { s.faultedChildWait = d }
}

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
		randomTies:        sc.RandomRemovalTies,
		faultedChildWait:  DefaultFaultedChildWait,
	}
	if sc.FaultedChildWaitPeriod != nil {
		s.faultedChildWait = sc.FaultedChildWaitPeriod.Duration
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
	if s.faultedChildWait < 0 {
		s.faultedChildWait = 0
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
	// evChildWaitOver is the end of a faulted child's faulted_child_wait_period:
	// the reconciler must look at the volume again.
	evChildWaitOver
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
	if e.kind == evChildWaitOver {
		if v.target != nil && v.target.child(c.replica) == c {
			s.markDirty(v)
		}
		return
	}
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

// shareFor is the share a replica spec gets when a nexus on node opens it as
// a child: unshared (loopback bdev) on the nexus's own node, shared over nvmf
// from any other (make_replica_accessible, core/nexus/operations_helper.rs:131-171,
// read upstream).
func shareFor(r *simReplica, node *simNode) mayastor.Protocol {
	if r.node() == node {
		return mayastor.ProtocolNone
	}
	return mayastor.ProtocolNvmf
}

// attach adds r to v's nexus as a child and starts its full rebuild.
func (s *Sim) attach(v *simVolume, r *simReplica) {
	nx := v.target
	r.share = shareFor(r, nx.node)
	c := &simChild{replica: r, state: mayastor.ChildStateDegraded}
	nx.children = append(nx.children, c)
	if v.nexusInfo == nil {
		v.nexusInfo = map[string]bool{}
	}
	v.nexusInfo[r.uuid] = false
	s.startRebuild(v, c, v.size, false)
}

// startRebuild starts a rebuild of child c copying bytes (the whole volume
// for a full rebuild, the I/O log's share of it for a partial one).
func (s *Sim) startRebuild(v *simVolume, c *simChild, bytes int64, partial bool) {
	nx := v.target
	src := ""
	for _, o := range nx.children {
		if o != c && childState(o) == mayastor.ChildStateOnline {
			src = o.replica.uri(nx.node)
			break
		}
	}
	c.state = mayastor.ChildStateDegraded
	job := &rebuildJob{start: s.cur, end: s.cur.Add(s.rebuildDuration(bytes)), srcURI: src,
		partial: partial, bytes: bytes}
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
	c.faultedAt, c.ioLog = time.Time{}, false
	v.nexusInfo[c.replica.uuid] = true
	// The data plane rebuilds fully: a thin replica ends fully allocated.
	c.replica.setAllocated(v.size)
	s.record(v, c, job, mayastor.RebuildJobStateCompleted, job.bytes)
	// A healthy child more may let the hot spare reconciler act (an excess
	// child the healthy-replica guard protected until now).
	s.markDirty(v)
}

// stopRebuild ends c's running rebuild with state st, if there is one.
func (s *Sim) stopRebuild(v *simVolume, c *simChild, st mayastor.RebuildJobState) {
	job := c.rebuild
	if job == nil {
		return
	}
	c.rebuild = nil
	done := job.bytes * int64(job.progress(s.cur)) / 100
	s.record(v, c, job, st, done)
}

func (s *Sim) record(v *simVolume, c *simChild, job *rebuildJob, st mayastor.RebuildJobState, done int64) {
	v.target.history = append(v.target.history, rebuildRecord{
		childURI: c.replica.uri(v.target.node), srcURI: job.srcURI, state: st, partial: job.partial,
		bytesTotal: job.bytes, bytesDone: done, start: job.start, end: s.cur,
	})
}

// replicaLost reacts to r becoming unreachable or faulted: its nexus child
// faults (and stays in the nexus as Faulted until the reconciler handles it),
// a running rebuild fails, and NexusInfo marks it unhealthy. A child that was
// in sync (Online, no rebuild) keeps an I/O log: it may be partially rebuilt
// if its replica returns within faulted_child_wait_period.
func (s *Sim) replicaLost(r *simReplica) {
	v := r.volume
	if v.target != nil {
		if c := v.target.child(r); c != nil && c.state != mayastor.ChildStateFaulted {
			c.ioLog = c.state == mayastor.ChildStateOnline && c.rebuild == nil
			s.stopRebuild(v, c, mayastor.RebuildJobStateFailed)
			c.state = mayastor.ChildStateFaulted
			c.faultedAt = s.cur
			if v.nexusInfo != nil {
				v.nexusInfo[r.uuid] = false
			}
			if c.ioLog {
				s.schedule(&event{at: c.faultedAt.Add(s.faultedChildWait), kind: evChildWaitOver, vol: v, child: c})
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

// reconcileVolume is one pass of the hot spare reconciler over v
// (core/controller/reconciler/volume/hot_spare.rs:43-99, read upstream):
//
//   - only for self_heal volumes (hot_spare.rs:53-55; F6). The nexus
//     reconciler skips volume-owned nexuses (nexus/mod.rs:78-84, per the
//     review), so a volume without self_heal is never healed: faulted
//     children stay, excess replicas stay, nothing is added;
//   - an Online volume (or an unpublished one) only gets its replica count
//     fixed (volume_replica_count_reconciler, 247-341): missing replicas
//     created, unused replicas in excess removed by the ranking;
//   - a Degraded or Unknown published volume also gets its faulted children
//     handled (handle_faulted_children, nexus/mod.rs:146-225), then the count
//     fix, then the nexus child count fixed (nexus_replica_count_reconciler,
//     149-231): replicas attached, or excess children removed BY THE RANKING
//     (remove_excess_replicas_from_nexus, core/volume/operations_helper.rs:416-470;
//     F5), the replica of a removed child going at a later pass as unused;
//   - a Faulted volume is left alone.
func (s *Sim) reconcileVolume(v *simVolume) (changed, done bool) {
	if !v.selfHeal {
		return false, true
	}
	if v.target != nil && v.servingNexus() == nil {
		// The target's node is down: nothing to heal through.
		return false, true
	}
	switch v.status() {
	case mayastor.VolumeStatusFaulted:
		// No healthy child left to serve or rebuild from: nothing to heal with.
		return false, v.target == nil
	case mayastor.VolumeStatusOnline:
		changed = s.fixReplicaCount(v)
	default:
		nx := v.target
		if nx == nil {
			changed = s.fixReplicaCount(v)
			break
		}
		c1, waiting := s.handleFaultedChildren(v)
		c2 := s.fixReplicaCount(v)
		c3 := s.fixNexusChildCount(v)
		changed = c1 || c2 || c3
		if waiting {
			return changed, false
		}
	}
	done = len(v.replicas) == v.numReplicas
	if nx := v.target; nx != nil {
		done = done && len(nx.children) == v.numReplicas
		for _, c := range nx.children {
			if childState(c) == mayastor.ChildStateFaulted {
				done = false
			}
		}
	}
	if !changed {
		// Nothing this reconciler can do now (no pool, no candidate the
		// ranking allows): wait for a change elsewhere to mark v again.
		done = true
	}
	return changed, done
}

// handleFaultedChildren is handle_faulted_children and handle_faulted_child
// (core/controller/reconciler/nexus/mod.rs:146-225, read upstream), run while
// the nexus is Degraded with more than one child: a faulted child without an
// I/O log is removed at once; one with an I/O log whose replica is online
// again is onlined and partially rebuilt; one whose replica stays away past
// faulted_child_wait_period (rebuild_policies.rs:20,46-59) is removed. A
// removed child's replica is then removed from the volume
// (remove_vol_child_by_uri, core/nexus/operations_helper.rs:76-94), and
// self-heal replaces it with a full rebuild. waiting reports a child still
// inside its wait.
//
// Partial rebuild model (ours; io-engine's I/O log is not modelled): the
// child copies size × min(1, away ÷ faulted_child_wait_period) bytes, i.e.
// the longer the replica was away, the more of the volume is rebuilt.
func (s *Sim) handleFaultedChildren(v *simVolume) (changed, waiting bool) {
	nx := v.target
	if nexusState(nx) != mayastor.NexusStateDegraded || len(nx.children) <= 1 {
		return false, false
	}
	for _, c := range append([]*simChild(nil), nx.children...) {
		if childState(c) != mayastor.ChildStateFaulted && c.state != mayastor.ChildStateFaulted {
			continue
		}
		away := s.cur.Sub(c.faultedAt)
		switch {
		case !c.ioLog:
			s.removeFaultedChild(v, c)
			changed = true
		case c.replica.state() == mayastor.ReplicaStateOnline:
			bytes := v.size
			if s.faultedChildWait > 0 && away < s.faultedChildWait {
				bytes = int64(float64(v.size) * float64(away) / float64(s.faultedChildWait))
			}
			s.startRebuild(v, c, bytes, true)
			changed = true
		case away >= s.faultedChildWait:
			s.removeFaultedChild(v, c)
			changed = true
		default:
			waiting = true
		}
	}
	return changed, waiting
}

// removeFaultedChild takes c out of the nexus and its replica out of the
// volume (remove_unused_volume_replica: refused for the last replica or the
// last healthy one, core/volume/specs.rs:1095-1141, read upstream). The
// replica is disowned before its node is called, so it leaves the volume even
// when the node is down.
func (s *Sim) removeFaultedChild(v *simVolume, c *simChild) {
	s.stopRebuild(v, c, mayastor.RebuildJobStateFailed)
	v.target.removeChild(c.replica)
	if s.canRemoveUnused(v, c.replica) {
		s.destroyReplica(c.replica)
	}
}

// canRemoveUnused applies remove_unused_volume_replica's checks
// (core/volume/specs.rs:1095-1141): never the volume's last replica, never
// the only replica NexusInfo holds healthy.
func (s *Sim) canRemoveUnused(v *simVolume, r *simReplica) bool {
	if len(v.replicas) <= 1 {
		return false
	}
	if v.nexusInfo != nil && v.nexusInfo[r.uuid] {
		for id, ok := range v.nexusInfo {
			if id != r.uuid && ok {
				return true
			}
		}
		return false
	}
	return true
}

// fixReplicaCount is volume_replica_count_reconciler
// (core/controller/reconciler/volume/hot_spare.rs:247-341, read upstream):
// fewer replica specs than num_replicas → create the missing ones; more →
// remove unused ones (remove_unused_volume_replicas,
// core/volume/operations_helper.rs:251-289), candidates in ranking order,
// a child refused as InUse.
func (s *Sim) fixReplicaCount(v *simVolume) bool {
	changed := false
	for len(v.replicas) < v.numReplicas {
		pools := s.poolCandidates(v)
		if len(pools) == 0 {
			break
		}
		s.createReplica(v, pools[0])
		changed = true
	}
	if excess := len(v.replicas) - v.numReplicas; excess > 0 {
		cands := s.rankForRemoval(v, nil)
		for excess > 0 {
			r := cands.next()
			if r == nil {
				break
			}
			if v.target != nil && v.target.child(r) != nil {
				continue // InUse
			}
			if !s.canRemoveUnused(v, r) {
				continue
			}
			s.destroyReplica(r)
			excess--
			changed = true
		}
	}
	return changed
}

// fixNexusChildCount is nexus_replica_count_reconciler
// (hot_spare.rs:149-231): fewer children than num_replicas → attach unused
// online replicas (attach_replicas_to_nexus,
// core/volume/operations_helper.rs:336-412); more → remove excess children
// by the ranking, restricted to the nexus's children
// (remove_excess_replicas_from_nexus, 416-470, with
// nexus_child_remove_candidates, core/volume/scheduling.rs:46-62).
func (s *Sim) fixNexusChildCount(v *simVolume) bool {
	nx := v.target
	changed := false
	if len(nx.children) < v.numReplicas {
		for _, r := range s.volumeReplicas(v) {
			if len(nx.children) >= v.numReplicas {
				break
			}
			// An attach needs rebuild_allowed (max_rebuilds, attach.go).
			if nx.child(r) == nil && r.state() == mayastor.ReplicaStateOnline && s.rebuildAllowed() == nil {
				s.attach(v, r)
				changed = true
			}
		}
	}
	if len(nx.children) > v.numReplicas {
		cands := s.rankForRemoval(v, func(r *simReplica) bool { return nx.child(r) != nil })
		for len(nx.children) > v.numReplicas {
			r := cands.next()
			if r == nil {
				break
			}
			c := nx.child(r)
			s.stopRebuild(v, c, mayastor.RebuildJobStateStopped)
			nx.removeChild(r)
			// io-engine persists the nexus's remaining children as its
			// NexusInfo, so the removed child has no entry any more and
			// counts as unhealthy: the unused-replica removal takes it next
			// (our model of io-engine's persistence; io-engine code not read).
			delete(v.nexusInfo, r.uuid)
			changed = true
		}
	}
	return changed
}

// ---- model mutations ----

// createReplica creates an unshared replica of v on p and appends its spec to
// the core agent's replica map.
func (s *Sim) createReplica(v *simVolume, p *simPool) *simReplica {
	r := &simReplica{uuid: s.newUUID(), volume: v, pool: p, size: v.size, thin: v.thin,
		share: mayastor.ProtocolNone}
	p.replicas++
	p.committed += v.size
	if !v.thin {
		r.setAllocated(v.size)
	}
	v.replicas = append(v.replicas, r)
	s.replicas[r.uuid] = r
	s.orderAppend(r)
	return r
}

// destroyReplica removes r from its nexus, its volume, its pool and the core
// agent's replica map (swap_remove).
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
	s.orderSwapRemove(r)
}

// openNexus creates v's nexus on node with children (all in sync), with its
// own NexusInfo (F3): the children it opened are healthy, every other replica
// has no entry. Each child's replica is shared or unshared for the node.
func (s *Sim) openNexus(v *simVolume, node *simNode, children []*simReplica, ctx map[string]string) *simNexus {
	if ctx == nil {
		ctx = map[string]string{}
	}
	nx := &simNexus{uuid: s.newUUID(), node: node, context: ctx}
	v.nexusInfo = make(map[string]bool, len(children))
	for _, r := range children {
		r.share = shareFor(r, node)
		nx.children = append(nx.children, &simChild{replica: r, state: mayastor.ChildStateOnline})
		v.nexusInfo[r.uuid] = true
	}
	v.target = nx
	node.nexuses++
	return nx
}
