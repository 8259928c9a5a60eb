package mover_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/mover"
)

const volLayout = "0c4f3a52-7d1e-4b6a-9a0e-0000000000aa"

// wideLayoutScenario is a quiet cluster of five SATA and five NVMe nodes (one
// pool each) and an application node, holding one 10 GiB volume with
// replicas on the first n SATA pools. nexus is "local" (published on
// sata-a, local to a source replica), "remote" (published on app-1),
// "pinned" (1 replica: the target is pinned to the replica's node) or
// "unpublished".
func wideLayoutScenario(n int, nexus, extra string) string {
	var nodes, pools, reps []string
	for _, tier := range []string{"sata", "nvme"} {
		for _, x := range []string{"a", "b", "c", "d", "e"} {
			capacity, label := "1TiB", "cold"
			if tier == "nvme" {
				capacity, label = "200GiB", "hot"
			}
			nodes = append(nodes, fmt.Sprintf("  - {id: %s-%s}", tier, x))
			pools = append(pools, fmt.Sprintf("  - {id: pool-%s-%s, node: %s-%s, capacity: %s, labels: {openebs.io/created-by: operator-diskpool, tier: %s}}", tier, x, tier, x, capacity, label))
		}
	}
	for _, x := range []string{"a", "b", "c", "d", "e"}[:n] {
		reps = append(reps, "pool-sata-"+x)
	}
	pub := "\n    published: true"
	switch nexus {
	case "local":
		pub += "\n    nexus_node: sata-a"
	case "remote":
		pub += "\n    nexus_node: app-1"
	case "unpublished":
		pub = "\n    published: false"
	}
	return fmt.Sprintf(`
name: layout
seed: 1
rebuild_bandwidth: 1GiB
nodes:
%s
  - {id: app-1}
pools:
%s
volumes:
  - uuid: %s
    size: 10GiB
    replicas: [%s]%s
    inclusion: {openebs.io/created-by: operator-diskpool}%s
`, strings.Join(nodes, "\n"), strings.Join(pools, "\n"), volLayout, strings.Join(reps, ", "), pub, extra)
}

// layoutRow is one row of the layout table of docs/mayastor-migration.md.
type layoutRow struct {
	name      string
	replicas  int
	nexus     string // local, remote, pinned, unpublished
	republish bool
	affinity  bool
	extra     string
	opts      mover.MoverOptions
	refused   error
}

// layoutRows are 1-5 replicas x target local to a source / remote / unpublished x republish
// allowed or not x affinity group or not, plus HA disabled and snapshots.
func layoutRows() []layoutRow {
	var rows []layoutRow
	for n := 1; n <= 5; n++ {
		nexuses := []string{"local", "remote", "unpublished"}
		if n == 1 {
			nexuses = []string{"pinned", "unpublished"}
		}
		for _, nexus := range nexuses {
			for _, republish := range []bool{true, false} {
				for _, affinity := range []bool{false, true} {
					r := layoutRow{replicas: n, nexus: nexus, republish: republish, affinity: affinity}
					r.opts.AllowRepublish = republish
					where := map[string]string{"local": "target local to a source", "remote": "target remote", "pinned": "target local", "unpublished": "unpublished"}[nexus]
					r.name = fmt.Sprintf("%d replica(s), %s, republish %s", n, where, map[bool]string{true: "allowed", false: "not allowed"}[republish])
					if affinity {
						r.name += ", affinity group"
						r.extra = "\n    affinity_group: ag-1"
					}
					switch {
					case nexus == "unpublished":
						r.refused = mover.ErrUnpublished
					case affinity && n == 1:
						r.refused = mover.ErrAffinityGroupMinimum
					case (nexus == "local" || nexus == "pinned") && !republish:
						r.refused = mover.ErrNexusLocalSource
					}
					rows = append(rows, r)
				}
			}
		}
	}
	rows = append(rows,
		layoutRow{name: "1 replica, HA disabled", replicas: 1, nexus: "pinned", opts: mover.MoverOptions{AllowRepublish: true, HADisabled: true}, refused: mover.ErrLayoutNotMovable},
		layoutRow{name: "3 replicas, target local to a source, HA disabled", replicas: 3, nexus: "local", opts: mover.MoverOptions{AllowRepublish: true, HADisabled: true}, refused: mover.ErrLayoutNotMovable},
		layoutRow{name: "3 replicas, target remote, HA disabled", replicas: 3, nexus: "remote", opts: mover.MoverOptions{AllowRepublish: true, HADisabled: true}},
		layoutRow{name: "2 replicas with snapshots", replicas: 2, nexus: "remote", extra: "\n    num_snapshots: 2", refused: mover.ErrVolumeHasSnapshots},
	)
	return rows
}

// forecastPlaceholders sums the placeholders a forecast's text says its rounds add.
func forecastPlaceholders(t *testing.T, forecast string) int {
	t.Helper()
	n := 0
	for _, m := range regexp.MustCompile(`adds (a|\d+) placeholders?`).FindAllStringSubmatch(forecast, -1) {
		if m[1] == "a" {
			n++
			continue
		}
		k, err := strconv.Atoi(m[1])
		if err != nil {
			t.Fatal(err)
		}
		n += k
	}
	return n
}

// TestMoverLayoutTable is the layout table of docs/mayastor-migration.md
// ("Which layouts move"): each row is a volume layout in a quiet cluster whose
// simulator breaks removal ties by the core agent's replica map order, as
// upstream does. A row either moves with zero wasted rebuilds (every decrease
// removed a source, none unpredicted), the republishes and placeholders its
// forecast predicted at Analyze, never fewer healthy replicas than at the start
// and no placeholder left once the move ended — or is refused by Analyze before
// the first write.
func TestMoverLayoutTable(t *testing.T) {
	var table []string
	for _, row := range layoutRows() {
		t.Run(row.name, func(t *testing.T) {
			ctx := context.Background()
			h := newSimHarness(t, wideLayoutScenario(row.replicas, row.nexus, row.extra), row.opts)
			h.watchVolume(volLayout)
			plan, err := h.mover.Analyze(ctx, "tm-layout", volLayout, hot, cold)
			if row.refused != nil {
				if !errors.Is(err, row.refused) {
					t.Fatalf("Analyze: want %v, got %v", row.refused, err)
				}
				if h.writes != 0 {
					t.Fatalf("a refused Analyze made %d writes", h.writes)
				}
				table = append(table, fmt.Sprintf("| %s | refused: %s |", row.name, err.(*mover.RefusalError).Reason))
				return
			}
			if err != nil {
				t.Fatalf("Analyze: %v", err)
			}
			wantRepublishes := strings.Count(plan.Forecast, "republishes onto")
			wantPlaceholders := forecastPlaceholders(t, plan.Forecast)
			// n-1 placeholders steer the map in a quiet cluster (TestPlanMoveWithPlaceholdersEveryLayout);
			// the Mover also keeps GuardDepth map entries behind a new replica a removal elsewhere
			// could pull ahead of a source: GuardDepth behind the first round's new replica (the
			// last of them steers its decrease), one behind each moved replica after its decrease
			// (the decrease took one), and one behind each later round's new replica, which takes
			// the slot of one of the earlier guards and so has the others behind it at no cost.
			if max := 2*row.replicas + mover.DefaultGuardDepth - 2; wantPlaceholders > max {
				t.Errorf("forecast %q uses %d placeholders, more than 2n+GuardDepth-2 = %d", plan.Forecast, wantPlaceholders, max)
			}
			if want := map[bool]int{true: 1, false: 0}[row.nexus == "local" || row.nexus == "pinned"]; wantRepublishes != want {
				t.Errorf("forecast %q: %d republishes, want %d", plan.Forecast, wantRepublishes, want)
			}
			plan, results, err := h.move(ctx, plan)
			if err != nil {
				t.Fatalf("move: %v (after %d rounds; forecast %q)", err, len(results), plan.Forecast)
			}
			republishes := 0
			for i, r := range results {
				if !r.SourceRemoved || r.Unpredicted {
					t.Errorf("round %d removed %s (source %v, unpredicted %v): a wasted rebuild", i+1, r.Removed.ID, r.SourceRemoved, r.Unpredicted)
				}
				if r.Republished {
					republishes++
				}
			}
			if len(results) != row.replicas {
				t.Errorf("%d rounds for %d source replicas", len(results), row.replicas)
			}
			if republishes != wantRepublishes {
				t.Errorf("%d republishes, forecast %d", republishes, wantRepublishes)
			}
			if h.placeholdersCreated != wantPlaceholders {
				t.Errorf("%d placeholders created, forecast %d", h.placeholdersCreated, wantPlaceholders)
			}
			h.endMove(ctx, plan)
			v := h.volume(volLayout)
			for _, p := range poolsOf(v) {
				if !strings.HasPrefix(p, "pool-nvme-") {
					t.Fatalf("replica left on %s: %v", p, poolsOf(v))
				}
			}
			if int(v.Spec.NumReplicas) != row.replicas || v.State.Status != mayastor.VolumeStatusOnline {
				t.Fatalf("volume %s with %d replicas, want Online with %d", v.State.Status, v.Spec.NumReplicas, row.replicas)
			}
			h.assertNoCordons()
			h.checkInvariant()
			table = append(table, fmt.Sprintf("| %s | moved: %d rounds, %d republish(es), %d placeholder(s), 0 wasted rebuilds |", row.name, len(results), republishes, h.placeholdersCreated))
		})
	}
	t.Logf("layout table:\n%s", strings.Join(table, "\n"))
}
