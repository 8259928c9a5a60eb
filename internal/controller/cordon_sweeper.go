package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/migration"
	"github.com/billyronks/couchestor/internal/mover"
	"github.com/billyronks/couchestor/internal/version"
)

// DefaultCordonSweepInterval is --cordon-sweep-interval's default.
const DefaultCordonSweepInterval = 30 * time.Second

// DefaultPlaceholderScanInterval is how often a sweep reads the whole replica map
// (GET /v0/specs) to look for stray placeholders when nothing suggests one: at
// 10,000 volumes that answer is 9–16 MB, so it is not read at every sweep.
const DefaultPlaceholderScanInterval = 10 * time.Minute

// NodeCordons is what the sweeper needs from Mayastor; *mayastor.Client has it.
type NodeCordons interface {
	ListNodes(ctx context.Context) ([]mayastor.Node, error)
	UncordonNode(ctx context.Context, nodeID, label string) (*mayastor.Node, error)
	GetReplicaSpecs(ctx context.Context) (*mayastor.Specs, error)
	DeletePoolReplica(ctx context.Context, poolID, replicaID string) error
}

// CordonSweeper removes the cordon labels CoucheStor left behind: every
// `couchestor-migration-*` label on a Mayastor node whose TierMigration is
// finished, gone, or not started (only a migration in flight cordons). A
// cordon call may take effect after the call failed (upstream runs a
// replica-count change in a task that outlives the client's timeout,
// control-plane/agents/src/bin/core/volume/service.rs:152-163; that a cordon
// can land late was not read upstream and is assumed), and an operator
// killed in its cordon window leaves what it put; the Mover keeps such
// cordons recorded while the migration runs, and the sweeper takes over once
// it ended. It runs at start-up and every Interval, on the leader only.
type CordonSweeper struct {
	// Client lists TierMigrations; use a reader that goes to the API server
	// (the manager's APIReader) so a migration just created is seen.
	Client   client.Reader
	Mayastor NodeCordons
	Recorder events.EventRecorder
	Interval time.Duration
	Clock    clock.PassiveClock
	// Gate is the process's gate around changes of the replica map (nil: the Movers' default).
	Gate *mover.CordonGate
	// PlaceholderScanInterval: the longest time between two reads of the replica map for
	// stray placeholders (0: DefaultPlaceholderScanInterval). A sweep reads it sooner when a
	// migration that recorded placeholders ended or disappeared since the previous sweep,
	// and at the first sweep.
	PlaceholderScanInterval time.Duration
	// GuardDepth is the Movers' MoverOptions.GuardDepth (0: mover.DefaultGuardDepth): a
	// stray's delete never leaves a move's fresh replica with fewer entries behind it.
	GuardDepth int

	// Node-seconds bookkeeping for CordonSecondsTotal.
	lastSweep     time.Time
	lastRemaining int
	// lastScan is when the replica map was last read for placeholders (zero: never);
	// holding are the in-flight migrations that recorded placeholders at the last sweep.
	lastScan time.Time
	holding  map[string]bool
	// strayWaits: the last scan left stray placeholders to wait for a move's guard;
	// the next sweep reads the map again.
	strayWaits bool
}

// sweeperName is the sweeper's name towards the gate (CordonGate.RemovalWaits).
const sweeperName = "couchestor-placeholder-sweeper"

var _ manager.LeaderElectionRunnable = (*CordonSweeper)(nil)

// NeedLeaderElection: only the leader acts on Mayastor.
func (s *CordonSweeper) NeedLeaderElection() bool { return true }

// Start sweeps at once, then every Interval, until ctx ends. A failed sweep
// is logged and tried again at the next tick.
func (s *CordonSweeper) Start(ctx context.Context) error {
	if s.Clock == nil {
		s.Clock = clock.RealClock{}
	}
	interval := s.Interval
	if interval <= 0 {
		interval = DefaultCordonSweepInterval
	}
	logger := log.FromContext(ctx).WithName("cordon-sweeper")
	ctx = log.IntoContext(ctx, logger)
	// The ticker comes from the clock when it makes tickers (a test's fake clock then drives the
	// sweeps in simulated time), else from the wall clock.
	var tick <-chan time.Time
	if tc, ok := s.Clock.(clock.WithTicker); ok {
		t := tc.NewTicker(interval)
		defer t.Stop()
		tick = t.C()
	} else {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			logger.Error(err, "cordon sweep failed; trying again at the next interval", "interval", interval)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
		}
	}
}

// SweepResult says what one sweep saw and did.
type SweepResult struct {
	// Cordoned: nodes carrying a CoucheStor cordon when the sweep looked.
	Cordoned int
	// Removed: "node/label" of the cordons lifted.
	Removed []string
	// Remaining: nodes still carrying a CoucheStor cordon after the sweep.
	Remaining int
	// PlaceholdersRemoved: uuids of the stray placeholder replicas deleted.
	PlaceholdersRemoved []string
	// Placeholders: CoucheStor placeholder replicas left in the cluster after the sweep when
	// it read the replica map (Scanned), else those the migrations in flight record.
	Placeholders int
	// Scanned: the sweep read the replica map (GET /v0/specs) for stray placeholders.
	Scanned bool
}

// placeholderScanDue says whether this sweep reads the replica map for stray placeholders:
// at the first sweep, PlaceholderScanInterval after the last read, and whenever a migration
// that recorded placeholders while in flight at the previous sweep has ended or is gone (its
// own end deletes them; a stray is left only when that failed or was skipped).
func (s *CordonSweeper) placeholderScanDue(tms []storagev1.TierMigration) bool {
	every := s.PlaceholderScanInterval
	if every <= 0 {
		every = DefaultPlaceholderScanInterval
	}
	if s.lastScan.IsZero() || s.strayWaits || s.Clock.Since(s.lastScan) >= every {
		return true
	}
	now := holdingPlaceholders(tms)
	for uid := range s.holding {
		if !now[uid] {
			return true
		}
	}
	return false
}

// holdingPlaceholders is the set of in-flight migrations (by uid) that record placeholders.
func holdingPlaceholders(tms []storagev1.TierMigration) map[string]bool {
	h := map[string]bool{}
	for i := range tms {
		if cp := tms[i].Status.Checkpoint; cp != nil && len(cp.Placeholders) > 0 && tms[i].Status.Phase.IsInFlight() {
			h[string(tms[i].UID)] = true
		}
	}
	return h
}

// recordedPlaceholders counts the placeholders the migrations in flight record.
func recordedPlaceholders(tms []storagev1.TierMigration) int {
	n := 0
	for i := range tms {
		if cp := tms[i].Status.Checkpoint; cp != nil && tms[i].Status.Phase.IsInFlight() {
			n += len(cp.Placeholders)
		}
	}
	return n
}

// Sweep runs one pass: it lifts every CoucheStor cordon whose migration is
// not in flight, and updates CordonedNodes and CordonSecondsTotal.
func (s *CordonSweeper) Sweep(ctx context.Context) (SweepResult, error) {
	if s.Clock == nil {
		s.Clock = clock.RealClock{}
	}
	logger := log.FromContext(ctx)
	var res SweepResult
	nodes, err := s.Mayastor.ListNodes(ctx)
	if err != nil {
		return res, fmt.Errorf("list Mayastor nodes: %w", err)
	}
	var list storagev1.TierMigrationList
	if err := s.Client.List(ctx, &list); err != nil {
		return res, fmt.Errorf("list TierMigrations: %w", err)
	}
	var specs *mayastor.Specs
	if s.placeholderScanDue(list.Items) {
		// Replica specs before the TierMigrations the placeholders are checked against: a
		// migration records a placeholder before it creates it, so any placeholder seen here
		// is recorded in the list read next if its migration is still in flight.
		if specs, err = s.Mayastor.GetReplicaSpecs(ctx); err != nil {
			return res, fmt.Errorf("read Mayastor replica specs: %w", err)
		}
		list = storagev1.TierMigrationList{}
		if err := s.Client.List(ctx, &list); err != nil {
			return res, fmt.Errorf("list TierMigrations: %w", err)
		}
		s.lastScan = s.Clock.Now()
	}
	s.holding = holdingPlaceholders(list.Items)
	// Labels are truncated to 63 characters, so the migration is found by
	// recomputing each migration's label, not by parsing the label.
	owners := map[string]*storagev1.TierMigration{}
	for i := range list.Items {
		tm := &list.Items[i]
		owners[mover.CordonLabelFor(migration.MigrationIDFor(tm))] = tm
		if cp := tm.Status.Checkpoint; cp != nil && cp.CordonLabel != "" {
			owners[cp.CordonLabel] = tm
		}
	}
	var errs []string
	for _, n := range nodes {
		var ours []string
		for _, l := range n.CordonLabels() {
			if strings.HasPrefix(l, mover.CordonLabelPrefix) {
				ours = append(ours, l)
			}
		}
		if len(ours) == 0 {
			continue
		}
		res.Cordoned++
		left := len(ours)
		for _, label := range ours {
			tm := owners[label]
			if tm != nil && tm.Status.Phase.IsInFlight() {
				continue // the migration's own steps release it
			}
			if _, err := s.Mayastor.UncordonNode(ctx, n.ID, label); err != nil && !mayastor.IsNotFound(err) {
				errs = append(errs, fmt.Sprintf("uncordon node %s from %s: %v", n.ID, label, err))
				continue
			}
			left--
			res.Removed = append(res.Removed, n.ID+"/"+label)
			why := "its TierMigration is gone"
			if tm != nil {
				why = fmt.Sprintf("its TierMigration %s is %s", tm.Name, phaseOrNotStarted(tm.Status.Phase))
			}
			logger.Info("removed a stale cordon", "node", n.ID, "label", label, "why", why)
			if tm != nil && s.Recorder != nil {
				s.Recorder.Eventf(tm, nil, corev1.EventTypeWarning, storagev1.ReasonStaleCordonRemoved, "SweepCordons",
					"Removed cordon %s from Mayastor node %s: %s (a cordon call that took effect late, or an operator stopped in its cordon window)",
					label, n.ID, why)
			}
		}
		if left > 0 {
			res.Remaining++
		}
	}
	if specs != nil {
		res.Scanned = true
		errs = append(errs, s.sweepPlaceholders(ctx, specs, list.Items, &res)...)
	} else {
		res.Placeholders = recordedPlaceholders(list.Items)
		Placeholders.Set(float64(res.Placeholders))
	}
	s.account(res)
	if len(errs) > 0 {
		slices.Sort(errs)
		return res, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return res, nil
}

// sweepPlaceholders deletes the CoucheStor placeholder replicas that no
// migration in flight records: those of migrations that ended, were deleted
// or never recorded them (a create that landed after its migration ended).
// It holds the process's gate, as every removal from the replica map does,
// and follows the rule of the Movers' own placeholder deletes
// (CordonGate.RemovalWaits): it leaves them for the next sweep while the
// map's last entry is a move's fresh replica (the swap_remove would pull it
// forward) or a move's fresh replica has no more than GuardDepth entries
// behind it, and then asks the moves to keep more behind theirs until then.
func (s *CordonSweeper) sweepPlaceholders(ctx context.Context, specs *mayastor.Specs, tms []storagev1.TierMigration, res *SweepResult) []string {
	live := map[string]bool{}
	owner := map[string]*storagev1.TierMigration{}
	for i := range tms {
		tm := &tms[i]
		cp := tm.Status.Checkpoint
		if cp == nil {
			continue
		}
		for _, p := range cp.Placeholders {
			owner[p.ID] = tm
			if tm.Status.Phase.IsInFlight() {
				live[p.ID] = true
			}
		}
	}
	var stray []mayastor.ReplicaSpec
	for _, r := range specs.Replicas {
		if r.Managed || r.Owners.Volume != "" || !mover.IsPlaceholderID(r.UUID) {
			continue
		}
		res.Placeholders++
		if !live[r.UUID] {
			stray = append(stray, r)
		}
	}
	gate := s.Gate
	if gate == nil {
		gate = mover.DefaultCordonGate()
	}
	s.strayWaits = false
	if len(stray) == 0 {
		gate.WithdrawReclaim(sweeperName)
		Placeholders.Set(float64(res.Placeholders))
		return nil
	}
	if err := gate.Lock(ctx); err != nil {
		return []string{fmt.Sprintf("wait for the gate to delete placeholders: %v", err)}
	}
	defer gate.Unlock()
	depth := s.GuardDepth
	if depth <= 0 {
		depth = mover.DefaultGuardDepth
	}
	// Delete from the end of the map: removing the last entry moves nothing.
	slices.Reverse(stray)
	var errs []string
	for i, r := range stray {
		if why := gate.RemovalWaits(sweeperName, specs.Replicas, r.UUID, depth, len(stray)-i); why != "" {
			errs = append(errs, fmt.Sprintf("%d stray placeholder(s) wait for the next sweep: %s: %s", len(stray)-i, r.UUID, why))
			s.strayWaits = true
			break
		}
		if err := s.Mayastor.DeletePoolReplica(ctx, r.Pool, r.UUID); err != nil && !mayastor.IsNotFound(err) {
			errs = append(errs, fmt.Sprintf("delete placeholder %s on pool %s: %v", r.UUID, r.Pool, err))
			continue
		}
		res.Placeholders--
		res.PlaceholdersRemoved = append(res.PlaceholdersRemoved, r.UUID)
		why := "no TierMigration records it"
		tm := owner[r.UUID]
		if tm != nil {
			why = fmt.Sprintf("its TierMigration %s is %s", tm.Name, phaseOrNotStarted(tm.Status.Phase))
		}
		log.FromContext(ctx).Info("removed a stray placeholder replica", "replica", r.UUID, "pool", r.Pool, "why", why)
		if tm != nil && s.Recorder != nil {
			s.Recorder.Eventf(tm, nil, corev1.EventTypeWarning, storagev1.ReasonStalePlaceholderRemoved, "SweepPlaceholders",
				"Deleted placeholder replica %s on pool %s: %s", r.UUID, r.Pool, why)
		}
		// The control plane's swap_remove, on our copy: the last entry takes the freed slot.
		if q := slices.IndexFunc(specs.Replicas, func(x mayastor.ReplicaSpec) bool { return x.UUID == r.UUID }); q >= 0 {
			last := len(specs.Replicas) - 1
			specs.Replicas[q] = specs.Replicas[last]
			specs.Replicas = specs.Replicas[:last]
		}
	}
	if !s.strayWaits {
		gate.WithdrawReclaim(sweeperName)
	}
	Placeholders.Set(float64(res.Placeholders))
	return errs
}

// account updates the metrics: the gauge is what is left after this sweep;
// the node-seconds since the last sweep are the average of the nodes left
// cordoned then and those seen now, times the time between (trapezoid rule).
func (s *CordonSweeper) account(res SweepResult) {
	now := s.Clock.Now()
	if !s.lastSweep.IsZero() {
		dt := now.Sub(s.lastSweep).Seconds()
		if dt > 0 {
			CordonSecondsTotal.Add(float64(s.lastRemaining+res.Cordoned) / 2 * dt)
		}
	}
	s.lastSweep, s.lastRemaining = now, res.Remaining
	CordonedNodes.Set(float64(res.Remaining))
}

func phaseOrNotStarted(p storagev1.MigrationPhase) string {
	if p == "" || p == storagev1.PhasePending || p == storagev1.PhaseWaitingApproval {
		return "not started"
	}
	return string(p)
}

// SetupCordonSweeper adds a CordonSweeper to mgr, with its own Mayastor
// client for mayastorURL.
func SetupCordonSweeper(mgr ctrl.Manager, mayastorURL string, interval time.Duration) error {
	ms, err := mayastor.New(mayastor.Config{BaseURL: mayastorURL, UserAgent: version.String("couchestor"), Observer: MayastorRequestObserver})
	if err != nil {
		return fmt.Errorf("--mayastor-url: %w", err)
	}
	return mgr.Add(&CordonSweeper{
		Client:   mgr.GetAPIReader(),
		Mayastor: ms,
		Recorder: mgr.GetEventRecorder("couchestor"),
		Interval: interval,
	})
}
