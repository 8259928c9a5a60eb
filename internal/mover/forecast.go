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
// takes the freed slot (placement.md §7: core/pool/specs.rs:323-333 and
// 397-400, indexmap 2.0.2 swap_remove). After the first source goes, the
// moved replica sits where that source was, ahead of every remaining source,
// and a plain decrease would remove it again in every later round. Only the
// replica local to the nexus is protected, and a republish
// (PUT /v0/volumes/{id}/target, republish) moves that protection.

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
	// FirstNewLocal: the first replica added will be local to the nexus
	// (the volume is published for the move on that replica's node).
	FirstNewLocal bool
}

// ForecastStep is one round of a forecast move.
type ForecastStep struct {
	// RepublishTo is the replica onto whose node the target moves before
	// the decrease ("" for none). New replicas are named "new-1", "new-2"...
	// in the order the rounds add them.
	RepublishTo string
	// Removes is the source replica the decrease removes.
	Removes string
}

// Forecast is a plan that removes every source replica with no wasted
// rebuild, fewest republishes first.
type Forecast struct {
	Steps       []ForecastStep
	Republishes int
}

// String summarises the forecast for status messages.
func (f Forecast) String() string {
	parts := make([]string, len(f.Steps))
	for i, s := range f.Steps {
		p := fmt.Sprintf("round %d removes %s", i+1, s.Removes)
		if s.RepublishTo != "" {
			p = fmt.Sprintf("round %d republishes onto %s's node, then removes %s", i+1, s.RepublishTo, s.Removes)
		}
		parts[i] = p
	}
	return strings.Join(parts, "; ")
}

type forecastState struct {
	reps    []ForecastReplica
	mapLen  int
	pending string
	added   int
}

func (s forecastState) clone() forecastState {
	s.reps = slices.Clone(s.reps)
	return s
}

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
// target tier.
func PlanMove(in ForecastInput) (Forecast, bool) {
	st := forecastState{reps: slices.Clone(in.Replicas), mapLen: in.MapLen, pending: in.Pending}
	for _, r := range st.reps {
		st.mapLen = max(st.mapLen, r.Index+1)
	}
	best, ok := solveForecast(st, in, 0)
	return best, ok
}

const maxForecastRounds = 8

func solveForecast(st forecastState, in ForecastInput, depth int) (Forecast, bool) {
	if st.sources() == 0 && st.pending == "" {
		return Forecast{}, true
	}
	if depth >= maxForecastRounds {
		return Forecast{}, false
	}
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
	}
	// Options for the decrease: keep the target where it is, or republish
	// it onto the node of one of the replicas (which becomes the local one).
	options := []string{""}
	if in.Republish {
		for _, r := range st.reps {
			if !r.Local {
				options = append(options, r.ID)
			}
		}
	}
	var best Forecast
	found := false
	for _, opt := range options {
		s := st.clone()
		if opt != "" {
			for i := range s.reps {
				s.reps[i].Local = s.reps[i].ID == opt
			}
		}
		victim := forecastVictim(s.reps)
		if victim < 0 || !s.reps[victim].Source {
			continue
		}
		step := ForecastStep{RepublishTo: opt, Removes: s.reps[victim].ID}
		s = forecastRemove(s, victim)
		s.pending = ""
		rest, ok := solveForecast(s, in, depth+1)
		if !ok {
			continue
		}
		f := Forecast{Steps: append([]ForecastStep{step}, rest.Steps...), Republishes: rest.Republishes}
		if opt != "" {
			f.Republishes++
		}
		if !found || f.Republishes < best.Republishes || f.Republishes == best.Republishes && len(f.Steps) < len(best.Steps) {
			best, found = f, true
		}
	}
	return best, found
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
	}
	s.mapLen--
	return s
}
