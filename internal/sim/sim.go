package sim

import (
	"fmt"
	"math/rand/v2"
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
// history-dependent (order.go): a caller that retries a
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
// own NexusInfo: the children it opened are healthy, every other replica
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

// updateVolume runs f on the volume volumeID with the model brought up to
// date, under the lock: the shape of the admin calls that arm a one-shot
// fault or change a volume's setting.
func (s *Sim) updateVolume(volumeID string, f func(v *simVolume)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sync()
	v, ok := s.volumes[volumeID]
	if !ok {
		return errVolumeNotFound(volumeID)
	}
	f(v)
	return nil
}
