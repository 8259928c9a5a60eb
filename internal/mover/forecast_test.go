package mover

import (
	"slices"
	"testing"
)

// Layouts in a quiet cluster: the volume's replicas are the last entries of the
// core agent's replica map, in the order given (index 0 first).
func TestPlanMoveLayouts(t *testing.T) {
	src := func(id string, index int, local bool) ForecastReplica {
		return ForecastReplica{ID: id, Node: "node-" + id, Source: true, Local: local, Index: index}
	}
	cases := []struct {
		name        string
		reps        []ForecastReplica
		republish   bool
		ok          bool
		republishes int
		removes     []string
	}{
		{"1 replica, nexus local, no republish", []ForecastReplica{src("a", 10, true)}, false, false, 0, nil},
		{"1 replica, nexus local, republish", []ForecastReplica{src("a", 10, true)}, true, true, 1, []string{"a"}},
		{"2 replicas, nexus remote, no republish", []ForecastReplica{src("a", 10, false), src("b", 11, false)}, false, false, 0, nil},
		{"2 replicas, nexus remote, republish", []ForecastReplica{src("a", 10, false), src("b", 11, false)}, true, true, 1, []string{"a", "b"}},
		{"2 replicas, nexus local to the first, no republish", []ForecastReplica{src("a", 10, true), src("b", 11, false)}, false, false, 0, nil},
		{"2 replicas, nexus local to the first, republish", []ForecastReplica{src("a", 10, true), src("b", 11, false)}, true, true, 1, []string{"b", "a"}},
		{"2 replicas, nexus local to the second, republish", []ForecastReplica{src("a", 10, false), src("b", 11, true)}, true, true, 1, []string{"a", "b"}},
		{"3 replicas, nexus remote, republish", []ForecastReplica{src("a", 10, false), src("b", 11, false), src("c", 12, false)}, true, false, 0, nil},
		{"3 replicas, nexus local, republish", []ForecastReplica{src("a", 10, true), src("b", 11, false), src("c", 12, false)}, true, false, 0, nil},
		{"3 replicas, nexus remote, no republish", []ForecastReplica{src("a", 10, false), src("b", 11, false), src("c", 12, false)}, false, false, 0, nil},
		// One replica already on the target tier: only one source is left.
		{"2 replicas, one already moved and ahead of the source, republish", []ForecastReplica{
			{ID: "t", Node: "node-t", Index: 10}, src("b", 11, false)}, true, true, 1, []string{"b"}},
		{"2 replicas, one already moved and behind the source", []ForecastReplica{
			src("a", 10, false), {ID: "t", Node: "node-t", Index: 11}}, false, true, 0, []string{"a"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, ok := PlanMove(ForecastInput{Replicas: tc.reps, MapLen: 13, Republish: tc.republish})
			if ok != tc.ok {
				t.Fatalf("feasible = %v, want %v (forecast %s)", ok, tc.ok, f)
			}
			if !ok {
				return
			}
			if f.Republishes != tc.republishes {
				t.Errorf("republishes = %d, want %d (%s)", f.Republishes, tc.republishes, f)
			}
			var removes []string
			for _, s := range f.Steps {
				removes = append(removes, s.Removes)
			}
			if len(removes) != len(tc.removes) {
				t.Fatalf("removes %v, want %v (%s)", removes, tc.removes, f)
			}
			for i := range removes {
				if removes[i] != tc.removes[i] {
					t.Fatalf("removes %v, want %v (%s)", removes, tc.removes, f)
				}
			}
		})
	}
}

// Without swap_remove (a freed slot simply disappearing, the order of the
// others kept), a 2-replica remote move would need no republish. The
// forecast's answer depends on the rule: this test fails if forecastRemove
// stops moving the map's last entry into the freed slot.
func TestPlanMoveDependsOnSwapRemove(t *testing.T) {
	reps := []ForecastReplica{{ID: "a", Source: true, Index: 0}, {ID: "b", Source: true, Index: 1}}
	if _, ok := PlanMove(ForecastInput{Replicas: reps, MapLen: 2}); ok {
		t.Fatal("a 2-replica remote move without republish was forecast to succeed; after the first round the moved replica takes the first source's slot and ranks first")
	}
	s := forecastRemove(forecastState{reps: []ForecastReplica{{ID: "x", Index: 0}, {ID: "y", Index: 1}, {ID: "z", Index: 2}}, mapLen: 3}, 0)
	if s.mapLen != 2 || len(s.reps) != 2 || s.reps[1].ID != "z" || s.reps[1].Index != 0 || s.reps[0].Index != 1 {
		t.Fatalf("swap_remove of slot 0 gave %+v, want z moved into slot 0 and y kept at 1", s.reps)
	}
}

// Every index/local layout of 1-5 replicas in a quiet cluster (the volume's
// replicas at the end of the replica map, in every order), with placeholder
// replicas allowed: every layout moves with at most n-1 placeholders and no
// wasted rebuild (PlanMove only returns plans whose every decrease removes a
// source); a target remote from every replica needs no republish, one local
// to a source exactly one, and without a republish allowed that layout is
// refused. Without placeholders, 3 replicas never move.
func TestPlanMoveWithPlaceholdersEveryLayout(t *testing.T) {
	for n := 1; n <= 5; n++ {
		for _, perm := range permutations(n) {
			for local := -1; local < n; local++ {
				reps := make([]ForecastReplica, n)
				for i := range reps {
					reps[i] = ForecastReplica{ID: string(rune('a' + i)), Source: true, Local: i == local, Index: 100 + perm[i]}
				}
				in := ForecastInput{Replicas: reps, MapLen: 100 + n, Republish: true, Placeholders: true}
				f, ok := PlanMove(in)
				if !ok {
					t.Fatalf("n=%d order %v local %d: no plan with placeholders", n, perm, local)
				}
				if f.Placeholders > n-1 {
					t.Errorf("n=%d order %v local %d: %d placeholders, want at most %d (%s)", n, perm, local, f.Placeholders, n-1, f)
				}
				wantRepublish := 0
				if local >= 0 {
					wantRepublish = 1
				}
				if f.Republishes != wantRepublish {
					t.Errorf("n=%d order %v local %d: %d republishes, want %d (%s)", n, perm, local, f.Republishes, wantRepublish, f)
				}
				if len(f.Steps) != n {
					t.Errorf("n=%d order %v local %d: %d rounds, want %d (%s)", n, perm, local, len(f.Steps), n, f)
				}
				in.Republish = false
				if _, ok := PlanMove(in); ok != (local < 0) {
					t.Errorf("n=%d order %v local %d: movable without republish = %v, want %v", n, perm, local, ok, local < 0)
				}
				if n >= 3 {
					in.Republish, in.Placeholders = true, false
					if f, ok := PlanMove(in); ok {
						t.Errorf("n=%d order %v local %d: moved without placeholders (%s); the moved replica takes the first source's slot", n, perm, local, f)
					}
				}
			}
		}
	}
}

// The placeholder counts because the map's last entry is what a removal
// moves: with an unrelated replica already at the end of the map (a busy
// cluster), 2 remote replicas move with no placeholder at all.
func TestPlanMoveForeignTailNeedsNoPlaceholder(t *testing.T) {
	reps := []ForecastReplica{{ID: "a", Source: true, Index: 3}, {ID: "b", Source: true, Index: 4}}
	f, ok := PlanMove(ForecastInput{Replicas: reps, MapLen: 5, Placeholders: true, Pending: ""})
	if !ok || f.Placeholders != 1 {
		t.Fatalf("quiet cluster: plan %v (%s), want 1 placeholder", ok, f)
	}
	// The round's new replica is already added (index 5) and another volume's replica was
	// appended after it (index 6): the removal moves that one, not ours.
	reps = append(reps, ForecastReplica{ID: "new", Index: 5})
	f, ok = PlanMove(ForecastInput{Replicas: reps, MapLen: 7, Placeholders: true, Pending: "new"})
	if !ok || f.Steps[0].Placeholder {
		t.Fatalf("foreign tail: plan %v (%s), want no placeholder in the first round", ok, f)
	}
}

func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int{}, p[:i]...), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}

// Guard depth in a quiet cluster, 3 replicas behind a remote target: the first new
// replica gets GuardDepth placeholders behind it, each moved replica one more after
// its decrease took one, and each later new replica takes the slot of the earliest
// guard behind every source (nextGuardAction deletes it) and so has the others behind
// it: one more each, GuardDepth+4 in all. With depth 1 the last round's new replica
// needs no new one: the guard it takes the slot of had one entry behind it.
func TestPlanMoveGuardDepth(t *testing.T) {
	reps := []ForecastReplica{{ID: "a", Source: true, Index: 10}, {ID: "b", Source: true, Index: 11}, {ID: "c", Source: true, Index: 12}}
	for _, tc := range []struct{ depth, want int }{{1, 4}, {2, 6}, {3, 7}, {4, 8}} {
		f, ok := PlanMove(ForecastInput{Replicas: reps, MapLen: 13, Placeholders: true, Guard: true, GuardDepth: tc.depth})
		if !ok || f.Placeholders != tc.want || f.Steps[0].Guards != tc.depth {
			t.Errorf("depth %d: plan %v, %d placeholders (%s), want %d with %d behind the first new replica", tc.depth, ok, f.Placeholders, f, tc.want, tc.depth)
		}
	}
	// Live: the round's new replica is the map's last entry again, and one of the move's
	// placeholders lies behind every source with two entries between: delete it, not create.
	in := ForecastInput{Replicas: append(slices.Clone(reps[1:]), ForecastReplica{ID: "m", Index: 13}, ForecastReplica{ID: "n", Index: 17}),
		MapLen: 18, Own: []int{10, 14, 15, 16}, Placeholders: true, Guard: true, GuardDepth: 3, Pending: "n"}
	if kept, reel, create := NextGuardAction(in); kept != "n" || reel != 14 || create {
		t.Errorf("NextGuardAction = %s, %d, %v; want n, delete the placeholder at 14", kept, reel, create)
	}
	in.Own = []int{10, 16}
	if _, reel, create := NextGuardAction(in); reel != -1 || !create {
		t.Errorf("NextGuardAction with only the placeholder right ahead = %d, %v; want create", reel, create)
	}
}
