package backtest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/promwatch"
	"github.com/billyronks/couchestor/internal/tiering"
)

// Limits of the range queries.
const (
	// MaxPointsPerSeries is Prometheus's own limit: query_range refuses more than 11,000
	// points per series.
	MaxPointsPerSeries = 11_000
	// DefaultMaxSamplesPerQuery keeps one query well under Prometheus's default
	// --query.max-samples (50,000,000), counting the coverage query's subquery points.
	DefaultMaxSamplesPerQuery = 20_000_000
	// DefaultQueryTimeout bounds one range query.
	DefaultQueryTimeout = 2 * time.Minute
	// MinStep is the finest default step: at most 4,033 evaluations over 14 days.
	MinStep = 5 * time.Minute
	// DefaultConcurrency is how many range queries a backtest has in flight at once: a fifth
	// of Prometheus's default --query.max-concurrency (20), and at most 4 × the sample budget
	// held by Prometheus for it at a time.
	DefaultConcurrency = 4
)

// Config is one backtest: a policy, its volumes as they are now, a time range and a Prometheus.
type Config struct {
	// Policy is the StoragePolicy replayed (from the cluster or a file). Its watermarks,
	// samplingWindow, cooldownPeriod, maxConcurrentMigrations and iopsQuery are used; a zero
	// field takes the CRD's default.
	Policy *storagev1.StoragePolicy
	// Volumes are the volumes the policy selects, with their current tiers: the replay starts
	// from them (see VolumesFromSnapshot).
	Volumes []Volume
	// From and To bound the evaluation instants: From, From+Step, ... up to To.
	From, To time.Time
	// Step is the time between two evaluations; 0 means DefaultStep.
	Step time.Duration
	// Grid, if set, is replayed too, one pair of watermarks at a time (Report.Grid).
	Grid []Watermarks
	// OperatorMaxConcurrentMigrations is the operator's --max-concurrent-migrations; it lowers
	// the policy's slots when smaller. 0: no operator bound.
	OperatorMaxConcurrentMigrations int
	// Days is the time zone of Report.Days; nil means UTC.
	Days *time.Location

	// PrometheusURL is the Prometheus to ask, through RoundTripper when set (authentication and
	// TLS are the RoundTripper's business).
	PrometheusURL string
	RoundTripper  http.RoundTripper
	// IOPSQuery is the operator's --iops-query, used when the policy has no iopsQuery; empty
	// means promwatch.DefaultIOPSQuery. PresenceQuery and MinCoverage are the coverage rule's
	// (promwatch's defaults when empty or 0).
	IOPSQuery     string
	PresenceQuery string
	MinCoverage   float64
	// MaxSamplesPerQuery bounds the points one query returns or (the coverage query's
	// subquery) holds: series × points. 0 means DefaultMaxSamplesPerQuery.
	MaxSamplesPerQuery int
	// QueryTimeout bounds one range query; 0 means DefaultQueryTimeout.
	QueryTimeout time.Duration
	// Concurrency is how many range queries are in flight at once; 0 means
	// DefaultConcurrency.
	Concurrency int
}

// DefaultStep is the evaluation step of a backtest: the sampling window (consecutive windows
// then tile the range), but no finer than half the cooldown (a volume cannot move twice within a
// cooldown anyway) nor than 5 minutes.
func DefaultStep(window, cooldown time.Duration) time.Duration {
	return max(window, cooldown/2, MinStep)
}

// Run fetches the IOPS history of cfg's volumes over the range from Prometheus, in as few range
// queries as the limits allow, and replays the policy over it (and over cfg.Grid).
func Run(ctx context.Context, cfg Config) (Report, error) {
	plan, err := planFetch(&cfg)
	if err != nil {
		return Report{}, err
	}
	m, queries, err := fetchMatrix(ctx, &cfg, plan)
	if err != nil {
		return Report{}, err
	}
	r, err := Replay(m, plan.params, cfg.Volumes)
	if err != nil {
		return Report{}, err
	}
	if len(cfg.Grid) > 0 {
		if r.Grid, err = Sweep(m, plan.params, cfg.Volumes, cfg.Grid); err != nil {
			return Report{}, err
		}
	}
	r.Policy = cfg.Policy.Name
	r.Window = Duration(plan.window)
	r.RangeQueries = queries
	return *r, nil
}

// Fetch returns the IOPS matrix Run replays, and the number of range queries it took.
func Fetch(ctx context.Context, cfg Config) (*Matrix, int, error) {
	plan, err := planFetch(&cfg)
	if err != nil {
		return nil, 0, err
	}
	return fetchMatrix(ctx, &cfg, plan)
}

// fetchPlan is what Run derives from a Config before asking Prometheus.
type fetchPlan struct {
	params        Params
	window, step  time.Duration
	steps         int
	iopsQuery     string
	coverageQuery string
	coverageStep  time.Duration
	minCoverage   float64
	// iopsChunk and covChunk are the evaluations one IOPS query and one coverage query cover.
	iopsChunk, covChunk int
	volumes             []string
	columnByPVName      map[string]int
}

// Defaults of the StoragePolicy CRD, for a policy read from a file without them.
const (
	defaultHigh     = 5000
	defaultLow      = 500
	defaultWindow   = "1h"
	defaultCooldown = "24h"
	defaultSlots    = 2
)

func planFetch(cfg *Config) (*fetchPlan, error) {
	if cfg.Policy == nil {
		return nil, errors.New("backtest: no policy")
	}
	if len(cfg.Volumes) == 0 {
		return nil, errors.New("backtest: no volumes: give the policy's volumes with their current tiers")
	}
	if !cfg.From.Before(cfg.To) {
		return nil, fmt.Errorf("backtest: --from %s is not before --to %s", cfg.From.Format(time.RFC3339), cfg.To.Format(time.RFC3339))
	}
	spec := cfg.Policy.Spec
	spec.HighWatermarkIOPS = cmp.Or(spec.HighWatermarkIOPS, defaultHigh)
	spec.LowWatermarkIOPS = cmp.Or(spec.LowWatermarkIOPS, defaultLow)
	window, err := positive("samplingWindow", cmp.Or(spec.SamplingWindow, defaultWindow))
	if err != nil {
		return nil, err
	}
	cooldown, err := positive("cooldownPeriod", cmp.Or(spec.CooldownPeriod, defaultCooldown))
	if err != nil {
		return nil, err
	}
	antiFlap, err := tiering.CompileAntiFlap(&spec, cooldown)
	if err != nil {
		return nil, err
	}
	slots := int(cmp.Or(spec.MaxConcurrentMigrations, defaultSlots))
	if o := cfg.OperatorMaxConcurrentMigrations; o > 0 {
		slots = min(slots, o)
	}
	p := &fetchPlan{
		params: Params{LowWatermarkIOPS: spec.LowWatermarkIOPS, HighWatermarkIOPS: spec.HighWatermarkIOPS, Cooldown: cooldown, Slots: slots, Days: cfg.Days,
			AntiFlap: antiFlap},
		window: window, step: cmp.Or(cfg.Step, DefaultStep(window, cooldown)),
		minCoverage: cmp.Or(cfg.MinCoverage, promwatch.DefaultMinCoverage),
	}
	if err := p.params.validate(); err != nil {
		return nil, err
	}
	if p.step < time.Second || p.step%time.Second != 0 {
		return nil, fmt.Errorf("backtest: step %s must be a whole number of seconds", p.step)
	}
	p.steps = int(cfg.To.Sub(cfg.From)/p.step) + 1

	tmpl := cmp.Or(spec.IOPSQuery, cfg.IOPSQuery, promwatch.DefaultIOPSQuery)
	if err := promwatch.ValidateQueryTemplate(tmpl); err != nil {
		return nil, fmt.Errorf("backtest: IOPS query: %w", err)
	}
	presence := cmp.Or(cfg.PresenceQuery, promwatch.DefaultPresenceQuery)
	if err := promwatch.ValidatePresenceQuery(presence); err != nil {
		return nil, fmt.Errorf("backtest: presence query: %w", err)
	}
	p.iopsQuery = promwatch.RenderQuery(tmpl, window)
	p.coverageStep = promwatch.CoverageStep(window)
	p.coverageQuery = promwatch.CoverageQuery(presence, window)

	p.columnByPVName = make(map[string]int, len(cfg.Volumes))
	for i := range cfg.Volumes {
		id := cfg.Volumes[i].ID
		p.volumes = append(p.volumes, id)
		p.columnByPVName[promwatch.PVName(id)] = i
	}
	p.iopsChunk, p.covChunk = chunkSizes(p, len(cfg.Volumes), cmp.Or(cfg.MaxSamplesPerQuery, DefaultMaxSamplesPerQuery))
	return p, nil
}

// iopsHeld is how many samples Prometheus holds for the IOPS query per point of its answer:
// the default query is the sum of two aggregations, and Prometheus evaluates both operands of
// the "+" over the whole range before it builds the answer, counting the three against
// --query.max-samples. (Measured with Prometheus 3.16 at 10,000 volumes: a 2,000-evaluation
// chunk, 20,000,000 points, was refused, a 1,000-evaluation one was not.)
const iopsHeld = 3

// chunkSizes are how many evaluations one range query covers: at most 11,000 points per
// series, and series × points within the sample budget: for the IOPS query, iopsHeld × its
// answer; for the coverage query, its subquery, which holds (range + window) / coverageStep
// points per series.
func chunkSizes(p *fetchPlan, series, budget int) (iops, coverage int) {
	perSeries := max(budget/max(series, 1), 1)
	iops = max(1, min(MaxPointsPerSeries, perSeries/iopsHeld, p.steps))
	// Subquery points for n evaluations: ((n-1)·step + window) / coverageStep + 1.
	span := int64(perSeries-1)*int64(p.coverageStep) - int64(p.window)
	coverage = 1
	if span > 0 {
		coverage = int(span/int64(p.step)) + 1
	}
	return iops, max(1, min(p.steps, MaxPointsPerSeries, coverage))
}

// RangeQueries is the number of range queries a backtest of these many evaluations and
// volumes sends (without retries): the IOPS query's chunks plus the coverage query's. A budget
// of 0 means DefaultMaxSamplesPerQuery.
func RangeQueries(window, step time.Duration, evaluations, volumes, budget int) int {
	p := &fetchPlan{window: window, step: step, steps: evaluations, coverageStep: promwatch.CoverageStep(window)}
	i, c := chunkSizes(p, volumes, cmp.Or(budget, DefaultMaxSamplesPerQuery))
	return (evaluations+i-1)/i + (evaluations+c-1)/c
}

func positive(field, s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("backtest: spec.%s %q: want a positive Go duration such as 30m or 1h", field, s)
	}
	return d, nil
}

// fetchMatrix asks the IOPS query and the coverage query over the range, each in its own
// chunks, with up to Concurrency chunks (of either) in flight at once, and fills the matrix: a
// value is known where the coverage rule holds and the IOPS query gave a valid value. Each answer
// is decoded as it arrives, straight into the matrix. A chunk Prometheus refuses for holding too
// many samples is halved and both halves asked again.
func fetchMatrix(ctx context.Context, cfg *Config, p *fetchPlan) (*Matrix, int, error) {
	if cfg.PrometheusURL == "" {
		return nil, 0, errors.New("backtest: no Prometheus: set PrometheusURL")
	}
	rc, err := newRangeClient(cfg.PrometheusURL, cfg.RoundTripper)
	if err != nil {
		return nil, 0, err
	}
	timeout := cmp.Or(cfg.QueryTimeout, DefaultQueryTimeout)
	m := NewMatrix(cfg.From, p.step, p.steps, p.volumes)
	covered := make([]bool, len(m.Values))
	width := len(p.volumes)
	ratio := p.coverageStep.Seconds() / p.window.Seconds()
	iops := func(k, col int, v float64) { m.Set(k, col, v) }
	coverage := func(k, col int, points float64) {
		// promwatch's rule, computed as it computes it.
		covered[k*width+col] = math.Min(1, points*ratio) >= p.minCoverage
	}
	// The coverage chunks first: they are the slower ones, so they start before the IOPS chunks
	// take the remaining workers.
	var chunks []chunk
	for first := 0; first < m.Steps; first += p.covChunk {
		chunks = append(chunks, chunk{q: p.coverageQuery, first: first, n: min(p.covChunk, m.Steps-first), put: coverage})
	}
	for first := 0; first < m.Steps; first += p.iopsChunk {
		chunks = append(chunks, chunk{q: p.iopsQuery, first: first, n: min(p.iopsChunk, m.Steps-first), put: iops})
	}
	queries, err := runChunks(ctx, rc, m, chunks, cmp.Or(cfg.Concurrency, DefaultConcurrency), timeout, p)
	if err != nil {
		return nil, queries, err
	}
	nan := float32(math.NaN())
	for i, c := range covered {
		if !c {
			m.Values[i] = nan
		}
	}
	return m, queries, nil
}

// chunk is one range query: q over the matrix's evaluations first … first+n-1, each sample of a
// selected volume handed to put with its evaluation index in the matrix and its column. Chunks
// of one query cover disjoint evaluations, so concurrent chunks never write the same cell.
type chunk struct {
	q        string
	first, n int
	put      func(k, col int, v float64)
}

// runChunks asks the chunks, up to workers at a time and in their order, and returns the number
// of queries sent. A chunk refused for too many samples is split in two, both asked again; the
// first other error stops the rest.
func runChunks(ctx context.Context, rc *rangeClient, m *Matrix, chunks []chunk, workers int, timeout time.Duration, p *fetchPlan) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		queries  int
		firstErr error
	)
	// Senders blocked on a channel are served in order, so the chunks start in their order.
	slots := make(chan struct{}, max(1, workers))
	var ask func(c chunk)
	ask = func(c chunk) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			mu.Lock()
			queries++
			mu.Unlock()
			err := queryInto(ctx, rc, c, m, timeout, p)
			<-slots
			switch {
			case err == nil:
			case tooManySamples(err) && c.n > 1:
				h := c.n / 2
				ask(chunk{q: c.q, first: c.first, n: h, put: c.put})
				ask(chunk{q: c.q, first: c.first + h, n: c.n - h, put: c.put})
			default:
				mu.Lock()
				if firstErr == nil {
					firstErr = err
					cancel()
				}
				mu.Unlock()
			}
		}()
	}
	for _, c := range chunks {
		ask(c)
	}
	wg.Wait()
	return queries, firstErr
}

// queryInto runs one chunk's range query and hands each sample of a selected volume to its put.
// Series of other pv_names are ignored; a series without pv_name, or two for one pv_name, fail
// the query as they fail promwatch's.
func queryInto(ctx context.Context, rc *rangeClient, c chunk, m *Matrix, timeout time.Duration, p *fetchPlan) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start, end := m.At(c.first), m.At(c.first+c.n-1)
	startSec := float64(start.Unix()) + float64(start.Nanosecond())/1e9
	stepSec := p.step.Seconds()
	seen := make(map[int]bool, len(p.volumes))
	col := -1
	err := rc.query(ctx, c.q, start, end, m.Step, timeout, func(pv string, labels model.Metric) error {
		if pv == "" {
			return fmt.Errorf("series %s has no pv_name label; aggregate with sum by (pv_name)", labels)
		}
		var ok bool
		col, ok = p.columnByPVName[pv]
		if !ok {
			col = -1
			return nil
		}
		if seen[col] {
			return fmt.Errorf("two series for pv_name %q; aggregate with sum by (pv_name)", pv)
		}
		seen[col] = true
		return nil
	}, func(ts, v float64) {
		if col < 0 {
			return
		}
		k := int(math.Floor((ts-startSec)/stepSec + 0.5))
		if k < 0 || k >= c.n {
			return
		}
		c.put(c.first+k, col, v)
	})
	if err != nil {
		return fmt.Errorf("backtest: range query %s from %s to %s every %s: %w", c.q, start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339), m.Step, err)
	}
	return nil
}

// tooManySamples reports Prometheus's refusal of a query holding more than
// --query.max-samples.
func tooManySamples(err error) bool {
	return err != nil && strings.Contains(err.Error(), "too many samples")
}

// VolumesFromSnapshot returns the volumes a policy selects in an observer snapshot, with their
// current tiers, sizes, replica counts, pins, exclusions and latest real moves: what Run
// starts from. Volumes Mayastor does not list are left out.
func VolumesFromSnapshot(s *tiering.Snapshot, p *storagev1.StoragePolicy) ([]Volume, error) {
	c, err := tiering.CompilePolicy(&p.Spec)
	if err != nil {
		return nil, err
	}
	classes := tiering.Classify(s.Pools, c.NVMe, c.SATA)
	var out []Volume
	for _, pv := range s.PVs {
		if !c.Selects(&p.Spec, pv) {
			continue
		}
		vol := s.Volumes[pv.VolumeID]
		if vol == nil {
			continue
		}
		out = append(out, Volume{
			ID: pv.VolumeID, Tier: storagev1.Tier(classes.Tiers.Placement(vol.ReplicaPools)),
			SizeBytes: vol.SizeBytes, Replicas: len(vol.ReplicaPools),
			LastMoved: lastMoved(s.Migrations[pv.VolumeID].LastReal, pv.Moves), Moves: pv.Moves, Pin: pv.Pin, Excluded: pv.Excluded || pv.BadPin != "",
		})
	}
	slices.SortFunc(out, func(a, b Volume) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// lastMoved is a volume's latest real move as the planner reads it: its TierMigrations' or its
// PV's moves record's, whichever is later (TierMigrations are cleaned up, the record stays).
func lastMoved(lastReal time.Time, rec tiering.MoveRecord) time.Time {
	if rec.At.After(lastReal) {
		return rec.At
	}
	return lastReal
}
