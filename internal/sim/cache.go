package sim

import (
	"time"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// The registry cache.
//
// Upstream the REST views are built from the core agent's registry, whose
// node states are refreshed every cache_period, 30 s by default
// (utils/utils-lib/src/constants.rs:44-45, read upstream; the polling loop was
// not read), and after the operations the core agent performs. With
// WithRegistryCache the simulator serves GET views of volumes, pools and
// nodes from a snapshot taken at every multiple of the period since start,
// after every REST operation (successful or not), after every late
// operation landing, and after every self-heal pass that changed something.
// Data-plane events (rebuild progress and completion, node, pool and replica
// faults) therefore show up to one period late. Off by default.

// DefaultRegistryCachePeriod is upstream's default cache period.
const DefaultRegistryCachePeriod = 30 * time.Second

type regCache struct {
	period  time.Duration
	volumes map[string]mayastor.Volume
	pools   map[string]mayastor.Pool
	nodes   map[string]mayastor.Node
}

// WithRegistryCache serves the GET views of volumes, pools and nodes from a
// snapshot refreshed every period (upstream: 30s) and after each operation.
// A period <= 0 leaves the cache off (the default).
func WithRegistryCache(period time.Duration) Option {
	return func(s *Sim) {
		if period > 0 {
			s.cache = &regCache{period: period}
		} else {
			s.cache = nil
		}
	}
}

// initCache takes the first snapshot and starts the periodic refresh.
func (s *Sim) initCache() {
	if s.cache == nil {
		return
	}
	s.refreshCache()
	s.scheduleCacheRefresh(s.cur.Add(s.cache.period))
}

func (s *Sim) scheduleCacheRefresh(at time.Time) {
	s.schedule(&event{at: at, apply: func() {
		s.refreshCache()
		s.scheduleCacheRefresh(at.Add(s.cache.period))
	}})
}

func (s *Sim) refreshCache() {
	c := s.cache
	c.volumes = make(map[string]mayastor.Volume, len(s.volumes))
	for id, v := range s.volumes {
		c.volumes[id] = s.wireVolume(v)
	}
	c.pools = make(map[string]mayastor.Pool, len(s.pools))
	for id, p := range s.pools {
		c.pools[id] = s.wirePool(p)
	}
	c.nodes = make(map[string]mayastor.Node, len(s.nodes))
	for id, n := range s.nodes {
		c.nodes[id] = s.wireNode(n)
	}
}

// viewVolume is what GET shows of v: the cached snapshot when the cache is on.
func (s *Sim) viewVolume(v *simVolume) mayastor.Volume {
	if s.cache != nil {
		if out, ok := s.cache.volumes[v.uuid]; ok {
			return out
		}
	}
	return s.wireVolume(v)
}

func (s *Sim) viewPool(p *simPool) mayastor.Pool {
	if s.cache != nil {
		if out, ok := s.cache.pools[p.id]; ok {
			return out
		}
	}
	return s.wirePool(p)
}

func (s *Sim) viewNode(n *simNode) mayastor.Node {
	if s.cache != nil {
		if out, ok := s.cache.nodes[n.id]; ok {
			return out
		}
	}
	return s.wireNode(n)
}
