// Package observer takes the one snapshot (tiering.Snapshot) every StoragePolicy decides from:
// Mayastor's volumes and pools through the REST client, the IOPS of every volume through
// promwatch, and the PVs, claims, TierMigrations and policies from the informer cache.
package observer

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/promwatch"
	"github.com/billyronks/couchestor/internal/tiering"
)

// MayastorReader is what the observer reads of Mayastor: the volumes, a page at a time, each
// decoded only as far as a decision reads, and the pools. *mayastor.Client satisfies it.
type MayastorReader interface {
	WalkVolumeBriefs(ctx context.Context, fn func(page []mayastor.VolumeBrief) error) error
	ListPools(ctx context.Context) ([]mayastor.Pool, error)
}

// IOPSEvaluator answers one (window, query) for every volume at once. *promwatch.Watcher
// satisfies it.
type IOPSEvaluator interface {
	Evaluate(ctx context.Context, req promwatch.Request) (*promwatch.Result, error)
}

// defaultObserveInterval is --observe-interval's default.
const defaultObserveInterval = 30 * time.Second

// ErrNoSnapshot: no snapshot fit to decide from (none taken yet, or a new one could not be taken
// in time); a policy waits for one rather than decide from nothing or from stale data.
var ErrNoSnapshot = errors.New("no observation of the cluster yet")

// Observer takes the one snapshot every StoragePolicy decides from: every Interval it walks
// Mayastor's volumes once (page by page, each page reduced to VolumeObservations at once),
// lists the pools once, runs one IOPS evaluation per distinct (window, query) among the enabled
// policies, and reads PVs, PVCs, TierMigrations and policies from the informer cache. Then it
// calls Notify, which enqueues every policy. Mayastor and Prometheus requests per cycle do not
// depend on the number of policies.
//
// Between two cycles, the parts read from the informer cache (PVs and their claims'
// annotations, TierMigrations, policies) are rebuilt on demand after CacheChanged, so a policy,
// PV or migration event re-decides from current Kubernetes state without a new Mayastor walk.
type Observer struct {
	// Cache is the informer cache (the manager's client reads from it).
	Cache    client.Reader
	Mayastor MayastorReader
	IOPS     IOPSEvaluator
	Clock    clock.PassiveClock
	// Interval is --observe-interval. A snapshot is fresh enough while younger than twice it.
	Interval time.Duration
	// Notify is called after every periodic snapshot; it enqueues every policy.
	Notify func()
	// Log is the observer's logger (the manager's, named).
	Log logr.Logger

	latest atomic.Pointer[tiering.Snapshot]
	// observations counts completed observations, so a caller that waited for one to finish
	// takes it instead of walking again.
	observations atomic.Uint64
	// cacheChanged is set by watch events and cleared when the cache-derived parts are rebuilt.
	cacheChanged atomic.Bool
	// turn serialises observations and refreshes (a one-slot semaphore a context can give up on).
	turn     chan struct{}
	initOnce sync.Once

	// created holds the TierMigrations this process created that the cache did not show yet,
	// by name (see Created).
	createdMu sync.Mutex
	created   map[string]createdMigration

	// watching: WatchCache registered its handlers, so dirty says whether a watched object
	// changed since parts was built (parts is read and written only while holding turn).
	watching atomic.Bool
	dirty    atomic.Bool
	parts    *cacheParts
}

// New returns an Observer reading the informer cache, Mayastor and the IOPS source; each is
// required. Clock, Interval, Notify and Log may be set before it starts.
func New(cache client.Reader, ms MayastorReader, iops IOPSEvaluator) (*Observer, error) {
	switch {
	case missing(cache):
		return nil, errors.New("observer: no informer cache to read")
	case missing(ms):
		return nil, errors.New("observer: no Mayastor to read")
	case missing(iops):
		return nil, errors.New("observer: no IOPS source to evaluate")
	}
	return &Observer{Cache: cache, Mayastor: ms, IOPS: iops}, nil
}

// missing reports whether an input is nil, or an interface holding a nil pointer.
func missing(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}

// NeedLeaderElection: only the leader observes (it is the only one that decides).
func (o *Observer) NeedLeaderElection() bool { return true }

func (o *Observer) init() {
	o.initOnce.Do(func() {
		o.turn = make(chan struct{}, 1)
		if o.Clock == nil {
			o.Clock = clock.RealClock{}
		}
		if o.Interval <= 0 {
			o.Interval = defaultObserveInterval
		}
	})
}

// Start observes every Interval until ctx ends (a manager Runnable).
func (o *Observer) Start(ctx context.Context) error {
	o.init()
	if o.Log.GetSink() != nil {
		ctx = log.IntoContext(ctx, o.Log)
	}
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		if _, err := o.Observe(ctx); err != nil {
			return // ctx ended
		}
		if o.Notify != nil {
			o.Notify()
		}
	}, o.Interval)
	return nil
}

// CacheChanged records that a PV, PVC, TierMigration or StoragePolicy changed: the next
// Snapshot call rebuilds the cache-derived parts before answering.
func (o *Observer) CacheChanged() { o.cacheChanged.Store(true) }

// FreshFor is how old a snapshot may be and still be decided from: two observe intervals, so
// one late or slow cycle does not force a walk out of turn.
func (o *Observer) FreshFor() time.Duration { return 2 * o.Interval }

// Snapshot returns a snapshot fit for deciding policy p: no older than FreshFor, holding the
// IOPS evaluation p needs, and with cache-derived parts rebuilt if the cache changed since.
// When the latest snapshot is not, it observes anew, within ctx. ErrNoSnapshot before the
// first observation completes.
func (o *Observer) Snapshot(ctx context.Context, p *storagev1.StoragePolicy) (*tiering.Snapshot, error) {
	o.init()
	s := o.latest.Load()
	if s == nil {
		return nil, ErrNoSnapshot
	}
	key, needsKey := iopsKeyOf(p)
	_, hasKey := s.IOPS[key]
	if o.Clock.Since(s.Taken) > o.FreshFor() || needsKey && !hasKey {
		// Observing out of turn is bounded: a policy is not held up for longer than a
		// snapshot stays fresh, it is decided again shortly.
		octx, cancel := context.WithTimeout(ctx, o.FreshFor())
		defer cancel()
		next, err := o.Observe(octx)
		if err != nil && ctx.Err() == nil {
			return nil, fmt.Errorf("%w: %v", ErrNoSnapshot, err)
		}
		return next, err
	}
	if !o.cacheChanged.Load() {
		return s, nil
	}
	if err := o.acquire(ctx); err != nil {
		return nil, err
	}
	defer o.release()
	s = o.latest.Load()
	if !o.cacheChanged.Swap(false) {
		return s, nil // rebuilt while this call waited its turn
	}
	c, err := o.cacheParts(ctx, true)
	if err != nil {
		o.cacheChanged.Store(true)
		return nil, err
	}
	next := s.Refreshed(c.pvs, c.migrations, c.inFlight, c.policies)
	o.latest.Store(next)
	return next, nil
}

func (o *Observer) acquire(ctx context.Context) error {
	select {
	case o.turn <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (o *Observer) release() { <-o.turn }

// Observe takes a new snapshot and makes it the latest. Callers that waited for another
// observation to finish get that one instead of starting a second walk.
func (o *Observer) Observe(ctx context.Context) (*tiering.Snapshot, error) {
	o.init()
	seen := o.observations.Load()
	if err := o.acquire(ctx); err != nil {
		return nil, err
	}
	defer o.release()
	if s := o.latest.Load(); s != nil && o.observations.Load() != seen {
		return s, nil
	}
	start := o.Clock.Now()
	c, err := o.cacheParts(ctx, o.cacheChanged.Swap(false))
	if err != nil {
		o.cacheChanged.Store(true)
		log.FromContext(ctx).Error(err, "observe the informer cache")
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// The cache is in memory: an error here is a programming or scheme error. Keep the
		// previous snapshot, if any.
		if s := o.latest.Load(); s != nil {
			return s, nil
		}
		return nil, err
	}
	s := &tiering.Snapshot{Taken: start, PVs: c.pvs, Migrations: c.migrations, InFlight: c.inFlight, Policies: c.policies}
	s.ShareIndex(o.latest.Load()) // the same PVs and policies select alike

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.IOPS = o.observeIOPS(ctx, c.policies, start)
	}()
	o.observeMayastor(ctx, s)
	wg.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	o.latest.Store(s)
	o.observations.Add(1)
	took := o.Clock.Since(start)
	ObserveDuration.Observe(took.Seconds())
	LastObservation.Set(float64(o.Clock.Now().UnixMilli()) / 1000)
	log.FromContext(ctx).V(1).Info("observed", "volumes", len(s.Volumes), "pools", len(s.Pools), "pvs", len(s.PVs),
		"iopsEvaluations", len(s.IOPS), "mayastorProblem", s.MayastorProblem != nil, "took", took)
	return s, nil
}

// observeMayastor lists the pools and walks the volumes, keeping only what a decision reads.
func (o *Observer) observeMayastor(ctx context.Context, s *tiering.Snapshot) {
	fail := func(err error) {
		s.Volumes, s.Pools = nil, nil
		s.MayastorProblem = &tiering.Problem{Reason: storagev1.ReasonMayastorUnavailable, Message: err.Error()}
	}
	pools, err := o.Mayastor.ListPools(ctx)
	if err != nil {
		fail(err)
		return
	}
	s.Pools = make([]tiering.PoolObservation, 0, len(pools))
	poolIDs := make(map[string]string, len(pools)) // one copy of each pool id, shared by every replica
	for i := range pools {
		p := ObservePool(&pools[i])
		poolIDs[p.ID] = p.ID
		s.Pools = append(s.Pools, p)
	}
	s.Volumes = map[string]*tiering.VolumeObservation{}
	err = o.Mayastor.WalkVolumeBriefs(ctx, func(page []mayastor.VolumeBrief) error {
		for i := range page {
			v := ObserveBrief(page[i])
			for k, pool := range v.ReplicaPools {
				if id, ok := poolIDs[pool]; ok {
					v.ReplicaPools[k] = id // one copy of each pool id, not one per replica
				}
			}
			s.Volumes[v.ID] = &v
		}
		return nil
	})
	if err != nil {
		fail(err)
	}
}

// iopsKeyOf is the IOPS evaluation a policy decides from; false when it needs none (disabled,
// or a window that does not parse: the planner reports that).
func iopsKeyOf(p *storagev1.StoragePolicy) (tiering.IOPSKey, bool) {
	if p == nil || !p.IsEnabled() {
		return tiering.IOPSKey{}, false
	}
	key, err := tiering.IOPSKeyOf(&p.Spec)
	return key, err == nil
}

// observeIOPS runs one evaluation per distinct (window, query) among the enabled policies.
func (o *Observer) observeIOPS(ctx context.Context, policies []*storagev1.StoragePolicy, at time.Time) map[tiering.IOPSKey]*tiering.IOPSObservation {
	out := map[tiering.IOPSKey]*tiering.IOPSObservation{}
	for _, p := range policies {
		key, ok := iopsKeyOf(p)
		if !ok {
			continue
		}
		if _, done := out[key]; done {
			continue
		}
		res, err := o.IOPS.Evaluate(ctx, promwatch.Request{Window: key.Window, IOPSQuery: key.Query, At: at})
		out[key] = iopsObservation(res, err)
	}
	return out
}

// iopsObservation keys a Prometheus answer by volume uuid and drops what a decision does not read.
func iopsObservation(res *promwatch.Result, err error) *tiering.IOPSObservation {
	if err != nil {
		return &tiering.IOPSObservation{Problem: &tiering.Problem{Reason: promwatch.Reason(err), Message: err.Error()}}
	}
	obs := &tiering.IOPSObservation{Volumes: make(map[string]tiering.VolumeIOPS, len(res.Volumes))}
	for pvName, v := range res.Volumes {
		id, ok := promwatch.VolumeUUID(pvName)
		if !ok {
			continue
		}
		obs.Volumes[id] = tiering.VolumeIOPS{Known: v.Known, IOPS: v.IOPS, Reason: string(v.Reason)}
	}
	return obs
}

// ObserveDuration is how long one full observation (cache, Mayastor walk, IOPS) takes.
var ObserveDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
	Name:    "storage_operator_observe_duration_seconds",
	Help:    "Time one shared observation took: informer cache, Mayastor volumes and pools, one IOPS evaluation per distinct (window, query).",
	Buckets: prometheus.ExponentialBuckets(0.005, 3, 9),
})

// LastObservation is when the latest shared observation completed: a loop that stalls (a walk
// that never returns, a leader that stopped observing) shows as a timestamp that falls behind
// time(). Mayastor's and Prometheus' failures do not stop it: they are in the snapshot, and
// the policies' conditions say them.
var LastObservation = prometheus.NewGauge(prometheus.GaugeOpts{
	Name: "storage_operator_last_observation_timestamp_seconds",
	Help: "Unix time the latest shared observation (informer cache, Mayastor, IOPS) completed, whether or not Mayastor and Prometheus answered; 0 before the first, and in a replica that is not the leader.",
})

func init() {
	crmetrics.Registry.MustRegister(ObserveDuration, LastObservation)
}
