package mover

import (
	"fmt"
	"slices"
	"strings"
)

// This file plans a whole move before it starts, without I/O: for a volume's
// layout (which replicas are sources, which one is local to the nexus, where
// each sits in the core agent's replica map), it finds a sequence of rounds —
// add a replica on the target tier, optionally republish the target onto a
// replica's node, lower the count — in which every decrease removes a source
// replica, or proves there is none.
//
// Why it is needed: the core agent removes the first remote replica in its
// replica map order (ranking.go), and that order is not random. A new
// replica is appended at the end of the map; a removed one is swap_removed,
// so the map's last entry — in a quiet cluster, the replica just added —
// takes the freed slot (core/pool/specs.rs:323-333 and 397-400; IndexMap::remove
// is swap_remove in indexmap 2, control-plane/agents/Cargo.toml:51). After the first source goes, the
// moved replica sits where that source was, ahead of every remaining source,
// and a plain decrease would remove it again in every later round. Only the
// replica local to the nexus is protected, and a republish
// (PUT /v0/volumes/{id}/target, republish) moves that protection.
//
// A placeholder replica fixes the order without touching the volume: a
// replica created on a pool through PUT /v0/pools/{pool}/replicas/{id}
// belongs to no volume (control-plane/rest/src/versions/v0.rs:119-137:
// managed false, no owners) but its spec is appended to the same global map
// (core/pool/specs.rs:323-333 via core/pool/replica_operations.rs:44-48).
// Created after the round's new replica, it is the map's last entry when
// the source goes, so it — not the new replica — takes the source's slot,
// and the new replica stays behind the remaining sources. The volume's
// removal ranking never sees it (core/volume/specs.rs:565-574 lists only
// the volume's own replicas), and nothing reclaims it: the orphan collector
// destroys only managed replicas (core/controller/reconciler/replica/
// mod.rs:143-158), the ENOSPC reconciler skips unmanaged ones
// (core/controller/reconciler/pool/capacity.rs:86-90).

// ForecastReplica is one replica as the forecast sees it.
type ForecastReplica struct {
	ID     string
	Node   string
	Source bool // still to be moved off the source tier
	Local  bool // unshared: local to the nexus, removed last
	Index  int  // position in the core agent's replica map
}

// ForecastInput is a volume's layout at the start of a round or, with
// Pending set, just before the current round's decrease.
type ForecastInput struct {
	Replicas []ForecastReplica
	// Pending names the current round's new replica (already added and
	// rebuilt) when the forecast starts at the round's decrease.
	Pending string
	// MapLen is the number of replicas in the whole replica map.
	MapLen int
	// Republish: the target may be republished (AllowRepublish, and HA on).
	Republish bool
	// Placeholders: a placeholder replica may be created before a decrease.
	Placeholders bool
	// FirstNewLocal: the first replica added will be local to the nexus
	// (the volume is published for the move on that replica's node).
	FirstNewLocal bool
	// Guard: a round whose new replica, pulled to the front of the map by a
	// removal elsewhere in the cluster during its rebuild, would make the
	// rest of the move impossible or cost another republish gets a
	// placeholder right behind it (the swap_remove of that removal then
	// moves the placeholder instead), and so does a moved replica left the
	// map's last entry by its round's decrease (ForecastStep.GuardAfter).
	// Needs Placeholders.
	Guard bool
	// GuardDepth is how many map entries a guard keeps behind the move's
	// last-in-map kept replica (0: 1). Every removal anywhere in the map
	// except of that replica itself takes one entry from behind it (the
	// map's last entry leaves the tail, or is the entry removed); it is
	// moved only by a removal made when nothing is behind it. A depth of d
	// therefore covers d removals elsewhere between two guard top-ups.
	GuardDepth int
	// Own are the map indices of the move's own placeholders (a live move;
	// none at Analyze). One behind every source, ahead of the move's kept
	// replica at the map's end, can be deleted instead of creating a new
	// one: the swap_remove moves the kept replica into its slot, and every
	// entry that was between them is then behind it (guardTopUp).
	Own []int
}

// ForecastStep is one round of a forecast move.
type ForecastStep struct {
	// RepublishTo is the replica onto whose node the target moves before
	// the decrease ("" for none). New replicas are named "new-1", "new-2"...
	// in the order the rounds add them.
	RepublishTo string
	// Guards is the number of placeholder replicas created behind the
	// round's new replica right after its increase, to keep GuardDepth
	// entries behind it while it rebuilds (Guard). The map's last of them
	// takes the removed source's slot at the decrease.
	Guards int
	// Placeholder: a placeholder replica is created after the round's new
	// replica and before its decrease, so that it takes the removed
	// source's slot in the replica map (a round without Guards).
	Placeholder bool
	// Removes is the source replica the decrease removes.
	Removes string
	// GuardAfter is the number of placeholders created right after a
	// decrease that leaves sources to move, to bring the entries behind the
	// moved replica back to GuardDepth (Guard): a removal elsewhere pulling
	// it to the front would break the rest of the move.
	GuardAfter int
}

// Forecast is a plan that removes every source replica with no wasted
// rebuild: fewest republishes first, then fewest placeholders.
type Forecast struct {
	Steps        []ForecastStep
	Republishes  int
	Placeholders int
}

// String summarises the forecast for status messages.
func (f Forecast) String() string {
	parts := make([]string, len(f.Steps))
	for i, s := range f.Steps {
		var pre []string
		if s.Guards > 0 {
			pre = append(pre, addsPlaceholders(s.Guards)+" behind the new replica")
		}
		if s.RepublishTo != "" {
			pre = append(pre, fmt.Sprintf("republishes onto %s's node", s.RepublishTo))
		}
		if s.Placeholder {
			pre = append(pre, addsPlaceholders(1))
		}
		p := fmt.Sprintf("round %d removes %s", i+1, s.Removes)
		if len(pre) > 0 {
			p = fmt.Sprintf("round %d %s, then removes %s", i+1, strings.Join(pre, " and "), s.Removes)
		}
		if s.GuardAfter > 0 {
			p += ", then " + addsPlaceholders(s.GuardAfter) + " behind the moved replica"
		}
		parts[i] = p
	}
	return strings.Join(parts, "; ")
}

func addsPlaceholders(n int) string {
	if n == 1 {
		return "adds a placeholder"
	}
	return fmt.Sprintf("adds %d placeholders", n)
}

type forecastState struct {
	reps    []ForecastReplica
	own     []int // map indices of the move's placeholders
	mapLen  int
	pending string
	added   int
}

func (s forecastState) clone() forecastState {
	s.reps = slices.Clone(s.reps)
	s.own = slices.Clone(s.own)
	return s
}

func newForecastState(in ForecastInput) forecastState {
	st := forecastState{reps: slices.Clone(in.Replicas), own: slices.Clone(in.Own), mapLen: in.MapLen, pending: in.Pending}
	for _, r := range st.reps {
		st.mapLen = max(st.mapLen, r.Index+1)
	}
	for _, i := range st.own {
		st.mapLen = max(st.mapLen, i+1)
	}
	return st
}

// guardDepth is in.GuardDepth, at least 1.
func (in ForecastInput) guardDepth() int { return max(in.GuardDepth, 1) }

func (s forecastState) sources() int {
	n := 0
	for _, r := range s.reps {
		if r.Source {
			n++
		}
	}
	return n
}

// PlanMove searches the rounds of a move. ok is false when no sequence of
// rounds removes every source without removing a replica already on the
// target tier. Plans are tried by increasing budget (republishes, then
// placeholders), so the first one found is the cheapest.
func PlanMove(in ForecastInput) (Forecast, bool) {
	st := newForecastState(in)
	maxRepublish, maxPlaceholders := 0, 0
	if in.Republish {
		maxRepublish = maxForecastRounds
	}
	if in.Placeholders {
		// One a round before the decrease; with Guard, up to GuardDepth behind
		// the new replica while it rebuilds and as many behind the moved one.
		maxPlaceholders = maxForecastRounds
		if in.Guard {
			maxPlaceholders = 2 * in.guardDepth() * maxForecastRounds
		}
	}
	for r := 0; r <= maxRepublish; r++ {
		for p := 0; p <= maxPlaceholders; p++ {
			if steps, ok := solveForecast(st, in, 0, r, p); ok {
				f := Forecast{Steps: steps}
				for _, s := range steps {
					if s.RepublishTo != "" {
						f.Republishes++
					}
					if s.Placeholder {
						f.Placeholders++
					}
					f.Placeholders += s.Guards + s.GuardAfter
				}
				return f, true
			}
		}
	}
	return Forecast{}, false
}

const maxForecastRounds = 8

// solveForecast finds rounds that finish the move with at most republish
// republishes and placeholders placeholders.
func solveForecast(st forecastState, in ForecastInput, depth, republish, placeholders int) ([]ForecastStep, bool) {
	if st.sources() == 0 && st.pending == "" {
		return nil, true
	}
	if depth >= maxForecastRounds {
		return nil, false
	}
	guards := 0
	if st.pending == "" {
		st = st.clone()
		st.added++
		id := fmt.Sprintf("new-%d", st.added)
		st.reps = append(st.reps, ForecastReplica{ID: id, Index: st.mapLen, Local: in.FirstNewLocal && st.added == 1})
		if in.FirstNewLocal && st.added == 1 {
			for i := range st.reps[:len(st.reps)-1] {
				st.reps[i].Local = false
			}
		}
		st.mapLen++
		st.pending = id
		if in.Guard && in.Placeholders && guardNeeded(st, in, lastKept(st)) {
			guards = guardTopUp(&st, lastKept(st), in.guardDepth())
			if guards > placeholders {
				return nil, false // over budget: a larger budget finds it
			}
			placeholders -= guards
		}
	}
	// Options for the decrease: keep the target where it is, or republish
	// it onto the node of one of the replicas (which becomes the local one);
	// with or without a placeholder at the map's end.
	options := []string{""}
	if republish > 0 {
		for _, r := range st.reps {
			if !r.Local {
				options = append(options, r.ID)
			}
		}
	}
	for _, opt := range options {
		for _, ph := range []bool{false, true} {
			if ph && placeholders == 0 {
				continue
			}
			s := st.clone()
			if opt != "" {
				for i := range s.reps {
					s.reps[i].Local = s.reps[i].ID == opt
				}
			}
			if ph {
				s.own = append(s.own, s.mapLen) // appended after the new replica: the map's last entry
				s.mapLen++
			}
			victim := forecastVictim(s.reps)
			if victim < 0 || !s.reps[victim].Source {
				continue
			}
			step := ForecastStep{RepublishTo: opt, Placeholder: ph, Removes: s.reps[victim].ID, Guards: guards}
			s = forecastRemove(s, victim)
			s.pending = ""
			r, p := republish, placeholders
			if opt != "" {
				r--
			}
			if ph {
				p--
			}
			if in.Guard && in.Placeholders && s.sources() > 0 {
				kept := lastKept(s)
				if s.mapLen-1-indexOf(s, kept) < in.guardDepth() && guardNeeded(s, in, kept) {
					step.GuardAfter = guardTopUp(&s, kept, in.guardDepth())
					if step.GuardAfter > p {
						continue // over budget: a larger budget finds it
					}
					p -= step.GuardAfter
				}
			}
			if rest, ok := solveForecast(s, in, depth+1, r, p); ok {
				return append([]ForecastStep{step}, rest...), true
			}
		}
	}
	return nil, false
}

// lastKept is the id of the replica of the volume, not a source, that is
// last in the replica map ("" for none): the one a guard keeps entries
// behind. Every kept replica ahead of it is safe while it is: a removal
// moves only the map's last entry.
func lastKept(s forecastState) string {
	id, at := "", -1
	for _, r := range s.reps {
		if !r.Source && r.Index > at {
			id, at = r.ID, r.Index
		}
	}
	return id
}

func indexOf(s forecastState, id string) int {
	for _, r := range s.reps {
		if r.ID == id {
			return r.Index
		}
	}
	return -1
}

// guardTopUp brings the map entries behind replica id up to depth and
// returns how many placeholders that creates. While id is the map's last
// entry and one of the move's placeholders lies behind every source with
// other entries between it and id, that placeholder is deleted instead
// (nextGuardAction): id takes its slot, still behind every source, and the
// entries in between are behind id at no cost.
func guardTopUp(s *forecastState, id string, depth int) int {
	created := 0
	for {
		reel, create := nextGuardAction(*s, id, depth)
		switch {
		case reel >= 0:
			*s = forecastRemoveOwn(*s, reel)
		case create:
			s.own = append(s.own, s.mapLen)
			s.mapLen++
			created++
		default:
			return created
		}
	}
}

// nextGuardAction is the next step of guardTopUp, the one the Mover takes
// live too: reel is the map index of a placeholder of the move to delete
// (-1 for none), create says to append a placeholder; neither when replica
// id has depth entries behind it (or is not in the map).
func nextGuardAction(s forecastState, id string, depth int) (reel int, create bool) {
	at := indexOf(s, id)
	if at < 0 || s.mapLen-1-at >= depth {
		return -1, false
	}
	if at == s.mapLen-1 {
		floor := -1
		for _, r := range s.reps {
			if r.Source {
				floor = max(floor, r.Index)
			}
		}
		best := -1
		for _, i := range s.own {
			// At least one entry between the placeholder and id: deleting it gains depth.
			if i > floor && i < at-1 && (best < 0 || i < best) {
				best = i
			}
		}
		if best >= 0 {
			return best, false
		}
	}
	return -1, true
}

// forecastRemoveOwn deletes the move's placeholder at map index i the way
// swap_remove does.
func forecastRemoveOwn(s forecastState, i int) forecastState {
	s = s.clone()
	s.own = slices.DeleteFunc(s.own, func(j int) bool { return j == i })
	last := s.mapLen - 1
	if i != last {
		for j := range s.reps {
			if s.reps[j].Index == last {
				s.reps[j].Index = i
			}
		}
		for j := range s.own {
			if s.own[j] == last {
				s.own[j] = i
			}
		}
	}
	s.mapLen--
	return s
}

// guardNeeded: replica id (the volume's last-in-map kept replica, lastKept),
// and after it each kept replica ahead of it, moved to the front of the
// replica map by removals elsewhere, would make the rest of the move
// impossible or need more republishes than where they are.
func guardNeeded(st forecastState, in ForecastInput, id string) bool {
	plain := ForecastInput{Replicas: st.reps, Pending: st.pending, MapLen: st.mapLen, Republish: in.Republish, Placeholders: true}
	here, ok := PlanMove(plain)
	if !ok {
		return false // nothing to protect: the move fails either way, and says so
	}
	// Unguarded, id is pulled forward by the first removal elsewhere that finds it the map's
	// last entry, and the kept replica ahead of it is then exposed in turn: every kept replica
	// (not a source) at the front, in its order.
	front := plain
	front.Replicas = slices.Clone(st.reps)
	kept := 0
	for _, r := range front.Replicas {
		if !r.Source {
			kept++
		}
	}
	for _, r := range slices.SortedFunc(slices.Values(st.reps), func(a, b ForecastReplica) int { return a.Index - b.Index }) {
		if r.Source {
			continue
		}
		for i := range front.Replicas {
			if front.Replicas[i].ID == r.ID {
				front.Replicas[i].Index = -kept
			}
		}
		kept--
	}
	_ = id
	there, ok := PlanMove(front)
	return !ok || there.Republishes > here.Republishes
}

// GuardNeeded reports whether in's pending replica needs a placeholder
// behind it while it rebuilds (see ForecastInput.Guard).
func GuardNeeded(in ForecastInput) bool {
	if in.Pending == "" {
		return false
	}
	st := newForecastState(in)
	return guardNeeded(st, in, lastKept(st))
}

// GuardNeededFor reports whether replica id, between two rounds (in has no
// Pending), needs placeholders behind it until the next round's increase
// (see ForecastStep.GuardAfter).
func GuardNeededFor(in ForecastInput, id string) bool {
	return guardNeeded(newForecastState(in), in, id)
}

// NextGuardAction says what keeps in.GuardDepth map entries behind in's
// last-in-map kept replica (the round's new replica, or a replica moved in
// an earlier round): delete the move's placeholder at map index reel
// (reel >= 0), or create a placeholder (create), or nothing. It does not
// say whether a guard is needed (GuardNeeded, GuardNeededFor); kept is the
// replica guarded.
func NextGuardAction(in ForecastInput) (kept string, reel int, create bool) {
	st := newForecastState(in)
	kept = lastKept(st)
	reel, create = nextGuardAction(st, kept, in.guardDepth())
	return kept, reel, create
}

// GuardDepthOf is the number of map entries behind in's last-in-map kept
// replica (-1 when it has none).
func GuardDepthOf(in ForecastInput) int {
	st := newForecastState(in)
	at := indexOf(st, lastKept(st))
	if at < 0 {
		return -1
	}
	return st.mapLen - 1 - at
}

// forecastTail is the id of the volume's replica that is the map's last
// entry, "" when the last entry is not one of them.
func forecastTail(s forecastState) string {
	for _, r := range s.reps {
		if r.Index == s.mapLen-1 {
			return r.ID
		}
	}
	return ""
}

// forecastVictim is the replica a decrease removes when every replica is a
// healthy, online child: the first shared one in map order.
func forecastVictim(reps []ForecastReplica) int {
	victim := -1
	for i, r := range reps {
		if r.Local {
			continue
		}
		if victim < 0 || r.Index < reps[victim].Index {
			victim = i
		}
	}
	return victim
}

// forecastRemove removes reps[i] from the map the way IndexMap::swap_remove
// does: the map's last entry takes the freed slot.
func forecastRemove(s forecastState, i int) forecastState {
	slot := s.reps[i].Index
	s.reps = slices.Delete(s.reps, i, i+1)
	last := s.mapLen - 1
	if slot != last {
		for j := range s.reps {
			if s.reps[j].Index == last {
				s.reps[j].Index = slot
			}
		}
		for j := range s.own {
			if s.own[j] == last {
				s.own[j] = slot
			}
		}
	}
	s.mapLen--
	return s
}
