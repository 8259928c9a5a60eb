package integration

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/migration"
	"github.com/billyronks/couchestor/internal/mover"
)

// The sampler watches a migrationWorld while its scenario runs and fails the
// test on any of four violations:
//
//  1. redundancy: a watched volume with fewer healthy replicas than before its move (less any
//     loss the test itself injected, see allowLoss);
//  2. cordon: a couchestor-migration-* cordon still on a node cordonGrace (60 s of simulated
//     time) after its migration reached a terminal phase, or after its migration was gone;
//  3. deadline: a migration not terminal by its phase deadline plus one sync-poll interval of a
//     running operator (plus slack for one reconcile, see below);
//  4. message: a terminal migration whose final message contradicts the volume as read around
//     the time it ended (says "moved" while a replica is on a source pool, says the sources are
//     untouched while one is gone, a healthy-replica count that differs from the volume...).
//
// It samples on every Mayastor request and every clock tick (migrationWorld.afterObserve:
// simulator state only, cheap) and every sampleEvery of wall time (simulator state plus the
// TierMigrations on the API server, and every rule evaluated).
type sampler struct {
	w *migrationWorld
	t *testing.T

	// poll is the operator's sync-poll interval (wall time), slack the time one reconcile may
	// take on a loaded 2-core machine: a migration must be terminal poll+slack after its deadline
	// passed (in simulated time) while the operator runs.
	poll, slack time.Duration
	// cordonGrace is how long (simulated) a cordon may outlive its migration.
	cordonGrace time.Duration
	// settle is the window ScalingDown and RollingBack get after they begin (MACHINE's
	// migration.DefaultSettleWindow; the phase deadline model of internal/migration/deadline.go).
	settle time.Duration
	// msgWindow (simulated) is how long before a migration's completionTime the volume states
	// its message may describe reach back (the operator reads the volume, then writes).
	msgWindow time.Duration
	// up says whether the operator is running (deadline rule); nil: w.mgrCancel is set and
	// Mayastor is reachable.
	up func() bool

	mu         sync.Mutex
	baseline   map[string]int             // healthy replicas at watch
	loss       map[string]int             // healthy replicas the test took away on purpose
	seen       map[string]map[string]bool // replicas seen healthy (unpublished volumes)
	history    map[string][]volState      // per volume, every distinct state with its sim time
	tms        []storagev1.TierMigration  // last list
	endSeen    map[string]time.Time       // TierMigration uid → sim time first seen terminal
	checked    map[string]bool            // terminal messages checked
	orphans    map[string]time.Time       // cordon label without a live migration → sim time first seen
	goneAt     map[string]time.Time       // cordon label → sim time its migration was last seen
	crossed    map[string]time.Time       // deadline key → wall time first seen passed
	upSince    time.Time                  // wall; zero while down
	violations []string
	reported   map[string]bool

	stop func()
}

// volState is one observed state of a volume.
type volState struct {
	at          time.Time // simulated
	exists      bool
	published   bool
	numReplicas int
	replicas    map[string]string // id → pool
	healthy     []string          // sorted
}

func (s volState) key() string {
	ids := make([]string, 0, len(s.replicas))
	for id, p := range s.replicas {
		ids = append(ids, id+"@"+p)
	}
	slices.Sort(ids)
	return fmt.Sprintf("%v|%v|%d|%v|%v", s.exists, s.published, s.numReplicas, ids, s.healthy)
}

func (s volState) String() string {
	if !s.exists {
		return fmt.Sprintf("%s: gone", s.at.Format("15:04:05"))
	}
	var rs []string
	for id, p := range s.replicas {
		rs = append(rs, short(id)+"@"+p)
	}
	slices.Sort(rs)
	var hs []string
	for _, h := range s.healthy {
		hs = append(hs, short(h))
	}
	return fmt.Sprintf("%s: num_replicas %d, replicas %v, healthy %v", s.at.Format("15:04:05"), s.numReplicas, rs, hs)
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

const sampleEvery = 5 * time.Millisecond

// newSampler makes a sampler for w (polling at the world's sync interval, 750ms of slack, a
// 60s cordon grace, the settle window, 30s for messages); start it with run.
func newSampler(w *migrationWorld) *sampler {
	s := &sampler{
		w: w, t: w.t,
		poll: w.opts.SyncPollInterval, slack: 750 * time.Millisecond,
		cordonGrace: 60 * time.Second, settle: migration.DefaultSettleWindow, msgWindow: 30 * time.Second,
		baseline: map[string]int{}, loss: map[string]int{}, seen: map[string]map[string]bool{},
		history: map[string][]volState{}, endSeen: map[string]time.Time{}, checked: map[string]bool{},
		orphans: map[string]time.Time{}, goneAt: map[string]time.Time{}, crossed: map[string]time.Time{},
		reported: map[string]bool{},
	}
	return s
}

// watch records the volume's healthy replicas now: the floor of rule 1.
func (s *sampler) watch(volumeID string) {
	s.t.Helper()
	v, err := s.w.sim.Volume(volumeID)
	if err != nil {
		s.t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen[volumeID] = map[string]bool{}
	for id := range v.State.ReplicaTopology {
		s.seen[volumeID][id] = true
	}
	st := s.stateLocked(volumeID, v, nil)
	s.baseline[volumeID] = len(st.healthy)
	s.recordLocked(volumeID, st)
}

// allowLoss lowers the volume's floor by n while the test itself keeps n healthy replicas away
// (a node it took down); allowLoss(id, 0) restores it.
func (s *sampler) allowLoss(volumeID string, n int, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loss[volumeID] = n
	s.t.Logf("sampler: volume %s may have %d healthy replica(s) fewer than at the start: %s", short(volumeID), n, why)
}

// run starts sampling; the returned stop (also run at cleanup) ends it and reports violations.
func (s *sampler) run() (stop func()) {
	hook := func() { s.sampleVolumes() }
	s.w.afterObserve.Store(&hook)
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tk := time.NewTicker(sampleEvery)
		defer tk.Stop()
		for {
			select {
			case <-done:
				return
			case <-tk.C:
				s.sample()
			}
		}
	}()
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			close(done)
			<-stopped
			s.w.afterObserve.Store(nil)
			s.sample()
		})
	}
	s.t.Cleanup(func() {
		s.stop()
		s.check()
	})
	return s.stop
}

// check fails the test with every violation seen so far.
func (s *sampler) check() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.violations {
		s.t.Error("sampler: " + v)
	}
	s.violations = nil
}

// take returns and clears the violations (for the test of the sampler itself).
func (s *sampler) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.violations
	s.violations = nil
	return out
}

func (s *sampler) violate(key, format string, args ...any) {
	if s.reported[key] {
		return
	}
	s.reported[key] = true
	s.violations = append(s.violations, fmt.Sprintf(format, args...))
}

// stateLocked reads a volume state; healthy: an Online replica that is an Online child with no
// rebuild running when published, a replica seen healthy before when not.
func (s *sampler) stateLocked(volumeID string, v mayastor.Volume, err error) volState {
	st := volState{at: s.w.clk.Now(), replicas: map[string]string{}}
	if err != nil {
		return st
	}
	st.exists, st.published, st.numReplicas = true, v.State.Target != nil, int(v.Spec.NumReplicas)
	if s.seen[volumeID] == nil {
		s.seen[volumeID] = map[string]bool{}
	}
	for id, r := range v.State.ReplicaTopology {
		st.replicas[id] = r.Pool
		ok := r.State == mayastor.ReplicaStateOnline
		if st.published {
			ok = ok && r.ChildStatus == mayastor.ChildStateOnline && r.RebuildProgress == nil
			if ok {
				s.seen[volumeID][id] = true
			}
		} else {
			ok = ok && s.seen[volumeID][id]
		}
		if ok {
			st.healthy = append(st.healthy, id)
		}
	}
	slices.Sort(st.healthy)
	return st
}

func (s *sampler) recordLocked(volumeID string, st volState) {
	h := s.history[volumeID]
	if n := len(h); n > 0 && h[n-1].key() == st.key() {
		return
	}
	s.history[volumeID] = append(h, st)
}

// sampleVolumes records the state of every tracked volume and checks rule 1.
func (s *sampler) sampleVolumes() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sampleVolumesLocked()
}

func (s *sampler) sampleVolumesLocked() {
	for id := range s.history {
		v, err := s.w.sim.Volume(id)
		st := s.stateLocked(id, v, err)
		s.recordLocked(id, st)
		base, watched := s.baseline[id]
		if floor := base - s.loss[id]; watched && len(st.healthy) < floor {
			s.violate("redundancy/"+id+"/"+strconv.Itoa(len(st.healthy)),
				"redundancy: volume %s has %d healthy replica(s), fewer than the %d it had before its move (floor %d) at %s",
				id, len(st.healthy), base, floor, st.at.Format(time.RFC3339))
		}
	}
}

func (s *sampler) operatorUp() bool {
	if s.up != nil {
		return s.up()
	}
	return s.w.mgrCancel != nil && !s.w.down.Load()
}

// sample reads the simulator and the TierMigrations and evaluates every rule.
func (s *sampler) sample() {
	var list storagev1.TierMigrationList
	listErr := k8sClient.List(context.Background(), &list)
	up := s.operatorUp()
	s.mu.Lock()
	defer s.mu.Unlock()
	wall, now := time.Now(), s.w.clk.Now()
	switch {
	case up && s.upSince.IsZero():
		s.upSince = wall
	case !up:
		s.upSince = time.Time{}
	}
	if listErr != nil {
		return // the API server is busy or gone (cleanup): try again next tick
	}
	s.tms = list.Items
	for i := range s.tms {
		if id := s.tms[i].Spec.VolumeID; s.history[id] == nil {
			s.history[id] = nil // tracked from now on
		}
	}
	s.sampleVolumesLocked()
	s.checkCordonsLocked(now)
	if up {
		s.checkDeadlinesLocked(now, wall)
	}
	for i := range s.tms {
		tm := &s.tms[i]
		if !tm.Status.Phase.IsTerminal() {
			continue
		}
		if _, ok := s.endSeen[string(tm.UID)]; !ok {
			s.endSeen[string(tm.UID)] = now
		}
		if !s.checked[string(tm.UID)] {
			s.checked[string(tm.UID)] = true
			s.checkMessageLocked(tm)
		}
	}
}

// ---- rule 2: cordons ----

func (s *sampler) checkCordonsLocked(now time.Time) {
	byLabel := map[string]*storagev1.TierMigration{}
	for i := range s.tms {
		tm := &s.tms[i]
		label := mover.CordonLabelFor(migration.MigrationIDFor(tm))
		if cp := tm.Status.Checkpoint; cp != nil && cp.CordonLabel != "" {
			label = cp.CordonLabel
		}
		byLabel[label] = tm
		s.goneAt[label] = now
	}
	present := map[string]bool{}
	for _, n := range s.w.sim.Nodes() {
		for _, l := range n.CordonLabels() {
			if !strings.HasPrefix(l, "couchestor-migration-") {
				continue
			}
			present[l] = true
			tm := byLabel[l]
			switch {
			case tm == nil:
				since, ok := s.orphans[l]
				if !ok {
					since = now
					if g, ok := s.goneAt[l]; ok {
						since = g
					}
					s.orphans[l] = since
				}
				if now.Sub(since) > s.cordonGrace {
					s.violate("cordon/"+n.ID+"/"+l, "cordon: node %s still carries %s %s after its migration was gone (no TierMigration records it)",
						n.ID, l, now.Sub(since).Round(time.Second))
				}
			case tm.Status.Phase.IsTerminal() && tm.Status.CompletionTime != nil:
				if d := now.Sub(tm.Status.CompletionTime.Time); d > s.cordonGrace {
					s.violate("cordon/"+n.ID+"/"+l, "cordon: node %s still carries %s %s after TierMigration %s ended (%s, %s)",
						n.ID, l, d.Round(time.Second), tm.Name, tm.Status.Phase, reasonOf(tm))
				}
			}
		}
	}
	for l := range s.orphans {
		if !present[l] {
			delete(s.orphans, l)
		}
	}
}

// ---- rule 3: deadlines ----

// phaseDeadline is when the migration's current phase must end: status.deadline for Analyzing,
// ScalingUp and WaitingSync; for ScalingDown the later of it and settle after the phase began;
// for RollingBack settle after it began (the model of internal/migration/deadline.go).
func (s *sampler) phaseDeadline(tm *storagev1.TierMigration) (time.Time, bool) {
	st := &tm.Status
	if st.Deadline == nil || !st.Phase.IsInFlight() {
		return time.Time{}, false
	}
	d := st.Deadline.Time
	var began time.Time
	if n := len(st.Steps); n > 0 && st.Steps[n-1].Phase == st.Phase {
		began = st.Steps[n-1].StartTime.Time
	}
	switch st.Phase {
	case storagev1.PhaseScalingDown:
		if settle := began.Add(s.settle); settle.After(d) {
			d = settle
		}
	case storagev1.PhaseRollingBack:
		d = began.Add(s.settle)
	}
	return d, true
}

func (s *sampler) checkDeadlinesLocked(now, wall time.Time) {
	for i := range s.tms {
		tm := &s.tms[i]
		d, ok := s.phaseDeadline(tm)
		if !ok || now.Before(d) {
			continue
		}
		key := fmt.Sprintf("%s/%s/%s", tm.UID, tm.Status.Phase, d.Format(time.RFC3339Nano))
		at, ok := s.crossed[key]
		if !ok {
			at = wall
			s.crossed[key] = at
		}
		if at.Before(s.upSince) {
			at = s.upSince // the operator was down when the deadline passed
		}
		if late := wall.Sub(at); late > s.poll+s.slack {
			s.violate("deadline/"+string(tm.UID), "deadline: TierMigration %s is still %s %s (wall) after its deadline %s passed (simulated now %s); allowed: one poll %s + %s",
				tm.Name, tm.Status.Phase, late.Round(time.Millisecond), d.Format(time.RFC3339), now.Format(time.RFC3339), s.poll, s.slack)
		}
	}
}

// ---- rule 4: final messages ----

// claim is something a final message says about the volume.
type claim struct {
	what  string
	holds func(volState) bool
}

var (
	reHealthyOf  = regexp.MustCompile(`(\d+) healthy of (\d+) replicas`)
	reNumRepl    = regexp.MustCompile(`num_replicas (\d+)`)
	reHealthy    = regexp.MustCompile(`(\d+) healthy replicas?\b`)
	reReplaced   = regexp.MustCompile(`replica\(s\) \[([^\]]*)\] replaced \[([^\]]*)\]`)
	reUntouched  = regexp.MustCompile(`source replicas? (?:are|is|were|was) (?:untouched|intact)|sources? untouched`)
	reAddedGone  = regexp.MustCompile(`the replica this migration added was removed`)
	reKeepsExtra = regexp.MustCompile(`keeps (?:the rebuilt replica|one healthy replica more)`)
)

func (s *sampler) claimsOf(tm *storagev1.TierMigration) []claim {
	msg := finalMessage(tm)
	var out []claim
	if tm.Status.Phase == storagev1.PhaseCompleted && reasonOf(tm) == storagev1.ReasonMoved {
		target, source := s.tierPools(tm)
		out = append(out, claim{"moved: every replica on a target pool, none on a source pool", func(v volState) bool {
			if !v.exists || len(v.replicas) == 0 {
				return false
			}
			for _, p := range v.replicas {
				if !target[p] || source[p] {
					return false
				}
			}
			return true
		}})
	}
	if m := reHealthyOf.FindStringSubmatch(msg); m != nil {
		h, _ := strconv.Atoi(m[1])
		n, _ := strconv.Atoi(m[2])
		out = append(out, claim{m[0], func(v volState) bool { return v.exists && len(v.healthy) == h && len(v.replicas) == n }})
	} else if m := reHealthy.FindStringSubmatch(msg); m != nil {
		h, _ := strconv.Atoi(m[1])
		out = append(out, claim{m[0], func(v volState) bool { return v.exists && len(v.healthy) == h }})
	}
	if m := reNumRepl.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		out = append(out, claim{m[0], func(v volState) bool { return v.exists && v.numReplicas == n }})
	}
	if m := reReplaced.FindStringSubmatch(msg); m != nil {
		moved, removed := strings.Fields(m[1]), strings.Fields(m[2])
		out = append(out, claim{m[0], func(v volState) bool {
			for _, id := range moved {
				if _, ok := v.replicas[id]; !ok {
					return false
				}
			}
			for _, id := range removed {
				if _, ok := v.replicas[id]; ok {
					return false
				}
			}
			return true
		}})
	}
	if m := reUntouched.FindString(msg); m != "" {
		sources := originalSources(tm)
		out = append(out, claim{m + fmt.Sprintf(" (%v)", sources), func(v volState) bool {
			for _, id := range sources {
				if _, ok := v.replicas[id]; !ok {
					return false
				}
			}
			return v.exists
		}})
	}
	if m := reAddedGone.FindString(msg); m != "" && tm.Status.NewReplica != "" {
		added := tm.Status.NewReplica
		out = append(out, claim{m + " (" + added + ")", func(v volState) bool { _, ok := v.replicas[added]; return !ok }})
	}
	for _, k := range tm.Status.KeptReplicas {
		id := k.ID
		out = append(out, claim{"status.keptReplicas names " + id, func(v volState) bool { _, ok := v.replicas[id]; return ok }})
	}
	if m := reKeepsExtra.FindString(msg); m != "" && tm.Status.OriginalReplicaCount > 0 {
		want := int(tm.Status.OriginalReplicaCount) + 1
		out = append(out, claim{m + fmt.Sprintf(" (%d replicas)", want), func(v volState) bool { return len(v.replicas) >= want }})
	}
	return out
}

// originalSources: the replicas the migration set out to retire (still to move, and removed).
func originalSources(tm *storagev1.TierMigration) []string {
	out := slices.Clone(tm.Status.SourceReplicas)
	if cp := tm.Status.Checkpoint; cp != nil {
		for _, r := range cp.RemovedSourceReplicas {
			if !slices.Contains(out, r.ID) {
				out = append(out, r.ID)
			}
		}
		for _, r := range cp.SourceReplicas {
			if !slices.Contains(out, r.ID) {
				out = append(out, r.ID)
			}
		}
	}
	sort.Strings(out)
	return out
}

// tierPools resolves the migration's target and source pools (spec selectors, else its policy's;
// without a source selector, every pool outside the target tier).
func (s *sampler) tierPools(tm *storagev1.TierMigration) (target, source map[string]bool) {
	tsel, ssel := tm.Spec.TargetPoolSelector, tm.Spec.SourcePoolSelector
	if tm.Spec.PolicyName != "" && (tsel == nil || ssel == nil) {
		var p storagev1.StoragePolicy
		if err := k8sClient.Get(context.Background(), types.NamespacedName{Name: tm.Spec.PolicyName}, &p); err == nil {
			nv, sa := p.Spec.NVMePoolSelector, p.Spec.SATAPoolSelector
			if tm.Spec.TargetTier != storagev1.TierNVMe {
				nv, sa = sa, nv
			}
			if tsel == nil {
				tsel = &nv
			}
			if ssel == nil {
				ssel = &sa
			}
		}
	}
	match := func(sel *metav1.LabelSelector) func(map[string]string) bool {
		if sel == nil {
			return nil
		}
		ls, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			return func(map[string]string) bool { return false }
		}
		return func(l map[string]string) bool { return ls.Matches(labels.Set(l)) }
	}
	tm1, sm := match(tsel), match(ssel)
	target, source = map[string]bool{}, map[string]bool{}
	pools, _ := s.w.sim.Pools("")
	for _, p := range pools {
		var l map[string]string
		if p.Spec != nil {
			l = p.Spec.Labels
		}
		isTarget := tm1 != nil && tm1(l)
		target[p.ID] = isTarget
		if sm != nil {
			source[p.ID] = sm(l)
		} else {
			source[p.ID] = !isTarget
		}
	}
	return target, source
}

// checkMessageLocked: some volume state observed from msgWindow before completionTime to now
// satisfies every claim of the final message.
func (s *sampler) checkMessageLocked(tm *storagev1.TierMigration) {
	claims := s.claimsOf(tm)
	if len(claims) == 0 || tm.Status.CompletionTime == nil {
		return
	}
	from := tm.Status.CompletionTime.Add(-s.msgWindow)
	h := s.history[tm.Spec.VolumeID]
	var cands []volState
	for i, st := range h {
		if !st.at.Before(from) || i+1 == len(h) || h[i+1].at.After(from) {
			cands = append(cands, st)
		}
	}
	var fails []string
	for _, st := range cands {
		var broken []string
		for _, c := range claims {
			if !c.holds(st) {
				broken = append(broken, c.what)
			}
		}
		if len(broken) == 0 {
			return
		}
		fails = append(fails, fmt.Sprintf("\n    %s contradicts %q", st, broken))
	}
	s.violate("message/"+string(tm.UID), "message: TierMigration %s ended %s (%s) saying %q, but no state of volume %s around its end agrees:%s",
		tm.Name, tm.Status.Phase, reasonOf(tm), finalMessage(tm), tm.Spec.VolumeID, strings.Join(fails, ""))
}

// finalMessage is what the user reads at the end: the Succeeded condition's message, the error,
// and the last step's message.
func finalMessage(tm *storagev1.TierMigration) string {
	var parts []string
	for _, c := range tm.Status.Conditions {
		if c.Type == storagev1.MigrationConditionSucceeded && c.Message != "" {
			parts = append(parts, c.Message)
		}
	}
	if tm.Status.Error != "" && !slices.Contains(parts, tm.Status.Error) {
		parts = append(parts, tm.Status.Error)
	}
	if n := len(tm.Status.Steps); n > 0 && tm.Status.Steps[n-1].Message != "" && !slices.Contains(parts, tm.Status.Steps[n-1].Message) {
		parts = append(parts, tm.Status.Steps[n-1].Message)
	}
	return strings.Join(parts, " | ")
}

func reasonOf(tm *storagev1.TierMigration) string {
	for _, c := range tm.Status.Conditions {
		if c.Type == storagev1.MigrationConditionSucceeded {
			return c.Reason
		}
	}
	return ""
}

// ---- the sampler's own test ----

// setStatus writes a TierMigration status by hand (no operator runs in the sampler's test).
func setStatus(t *testing.T, name string, f func(*storagev1.TierMigrationStatus)) {
	t.Helper()
	tm := getTM(t, name)
	f(&tm.Status)
	if err := k8sClient.Status().Update(context.Background(), tm); err != nil {
		t.Fatal(err)
	}
}

func ended(phase storagev1.MigrationPhase, reason, msg string, at time.Time) func(*storagev1.TierMigrationStatus) {
	return func(st *storagev1.TierMigrationStatus) {
		st.Phase = phase
		st.CompletionTime = &metav1.Time{Time: at}
		status := metav1.ConditionFalse
		if phase == storagev1.PhaseCompleted {
			status = metav1.ConditionTrue
		}
		st.Conditions = []metav1.Condition{{Type: storagev1.MigrationConditionSucceeded, Status: status, Reason: reason, Message: msg, LastTransitionTime: metav1.Time{Time: at}}}
		st.Steps = []storagev1.MigrationStep{{Phase: phase, StartTime: metav1.Time{Time: at}, CompletionTime: &metav1.Time{Time: at}, Message: msg}}
	}
}

// awaitViolations waits until the sampler reported a violation containing each of want, and
// returns every violation reported meanwhile.
func awaitViolations(t *testing.T, s *sampler, want ...string) []string {
	t.Helper()
	var got []string
	eventually(t, 5*time.Second, 20*time.Millisecond, fmt.Sprintf("the sampler reporting each of %q", want), func() (bool, string) {
		got = append(got, s.take()...)
		for _, w := range want {
			if !slices.ContainsFunc(got, func(v string) bool { return strings.Contains(v, w) }) {
				return false, fmt.Sprintf("no %q; it reported:\n%s", w, strings.Join(got, "\n"))
			}
		}
		return true, ""
	})
	return got
}

// The sampler catches each kind of violation, and only violations: lost redundancy, a cordon
// outliving its migration (or a migration that is gone) by more than 60 s, a migration past its
// deadline plus one poll, and final messages contradicting the volume (moved while on the source
// tier, sources untouched while one is gone, a wrong healthy-replica count); a truthful message
// and a cordon younger than 60 s pass.
func TestSamplerCatchesViolations(t *testing.T) {
	w := newMigrationWorld(t, pureTiersScenario)
	s := newSampler(w)
	s.up = func() bool { return true } // no operator runs; the deadline rule applies anyway
	s.watch(pureVolTwoSAT)
	s.run()
	spec := func(volumeID string) storagev1.TierMigrationSpec {
		return storagev1.TierMigrationSpec{VolumeID: volumeID, TargetTier: storagev1.TierNVMe, TargetPoolSelector: hotPools, SourcePoolSelector: coldPools}
	}
	c := context.Background()
	now := w.clk.Now()

	// A truthful ending raises nothing.
	three := w.volume(pureVolThreeSAT)
	w.create("samp-truthful", spec(pureVolThreeSAT))
	setStatus(t, "samp-truthful", func(st *storagev1.TierMigrationStatus) {
		st.SourceReplicas = replicaIDsOf(three)
		st.OriginalReplicaCount = 3
		ended(storagev1.PhaseFailed, "RolledBack", "rolled back after Timeout: the source replicas are untouched; the volume has 3 healthy of 3 replicas (num_replicas 3)", now)(st)
	})
	// A cordon of an ended migration, 30 s old: allowed for now.
	w.create("samp-cordon", spec(pureVolThreeSAT))
	setStatus(t, "samp-cordon", ended(storagev1.PhaseFailed, "Timeout", "gave up", now))
	if _, err := w.ms.CordonNode(c, "nvme-a", mover.CordonLabelFor("samp-cordon")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.ms.CordonNode(c, "nvme-b", "couchestor-migration-nobody"); err != nil {
		t.Fatal(err)
	}
	// The sampler sees the orphan cordon at its start (the other one's age counts from its
	// migration's completionTime).
	eventually(t, 5*time.Second, 5*time.Millisecond, "the sampler seeing the orphan cordon", func() (bool, string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		_, seen := s.orphans["couchestor-migration-nobody"]
		return seen, fmt.Sprintf("orphan cordons seen %v", s.orphans)
	})
	w.clk.Step(30 * time.Second)
	time.Sleep(100 * time.Millisecond) // a fixed wait: checks that no violation is reported meanwhile
	if got := s.take(); len(got) > 0 {
		t.Fatalf("violations before any: %q", got)
	}

	// 1. Redundancy.
	if err := w.sim.FaultReplica(replicaIDsOf(w.volume(pureVolTwoSAT))[0]); err != nil {
		t.Fatal(err)
	}
	// 2. Cordons past 60 s.
	w.clk.Step(31 * time.Second)
	// 3. A WaitingSync migration whose deadline passed.
	w.create("samp-deadline", spec(pureVolThreeSAT))
	setStatus(t, "samp-deadline", func(st *storagev1.TierMigrationStatus) {
		start := w.clk.Now().Add(-time.Hour)
		st.Phase = storagev1.PhaseWaitingSync
		st.StartTime = &metav1.Time{Time: start}
		st.Deadline = &metav1.Time{Time: w.clk.Now().Add(-time.Second)}
		st.Steps = []storagev1.MigrationStep{{Phase: storagev1.PhaseWaitingSync, StartTime: metav1.Time{Time: start}}}
	})
	// 4. Final messages that contradict the volume.
	end := w.clk.Now()
	w.create("samp-moved", spec(pureVolThreeSAT))
	setStatus(t, "samp-moved", ended(storagev1.PhaseCompleted, storagev1.ReasonMoved,
		fmt.Sprintf("volume %s moved to NVMe: replica(s) [] replaced %v", pureVolThreeSAT, replicaIDsOf(three)), end))
	w.create("samp-untouched", spec(pureVolThreeSAT))
	setStatus(t, "samp-untouched", func(st *storagev1.TierMigrationStatus) {
		st.SourceReplicas = append(replicaIDsOf(three)[:1], "0c4f3a52-0000-4000-8000-00000000dead")
		ended(storagev1.PhaseFailed, "RolledBack", "rolled back after Timeout: the replica this migration added was removed, the source replicas are untouched", end)(st)
	})
	w.create("samp-count", spec(pureVolTwoSAT))
	setStatus(t, "samp-count", ended(storagev1.PhaseFailed, "Timeout", "stopped: deadline; the volume has 3 healthy of 3 replicas (num_replicas 2)", end))

	got := awaitViolations(t, s,
		"redundancy: volume "+pureVolTwoSAT+" has 1 healthy replica(s), fewer than the 2",
		"cordon: node nvme-a still carries "+mover.CordonLabelFor("samp-cordon"),
		"cordon: node nvme-b still carries couchestor-migration-nobody",
		"deadline: TierMigration samp-deadline is still WaitingSync",
		"message: TierMigration samp-moved ended Completed",
		"message: TierMigration samp-untouched ended Failed",
		"message: TierMigration samp-count ended Failed",
	)
	for _, v := range got {
		if strings.Contains(v, "samp-truthful") {
			t.Errorf("a truthful message was reported: %s", v)
		}
	}
	t.Logf("caught:\n%s", strings.Join(got, "\n"))
	s.stop()
	s.take()
}
