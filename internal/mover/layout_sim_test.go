package mover_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/mover"
	"github.com/billyronks/couchestor/internal/sim"
)

// layoutScenario is a quiet cluster holding one volume with the given SATA
// replicas, published on nexusNode ("" pins a 1-replica target to its replica's
// node). Extra lines are appended to the volume.
func layoutScenario(replicas int, nexusNode, extra string) string {
	pools := []string{"pool-sata-a", "pool-sata-b", "pool-sata-c"}[:replicas]
	nexus := ""
	if nexusNode != "" {
		nexus = "\n    nexus_node: " + nexusNode
	}
	return sim.PureTiersScenario("layout", 1, "1GiB", fmt.Sprintf(`
  - uuid: 0c4f3a52-7d1e-4b6a-9a0e-0000000000aa
    size: 10GiB
    replicas: [%s]
    published: true%s
    inclusion: {openebs.io/created-by: operator-diskpool}%s
`, strings.Join(pools, ", "), nexus, extra))
}

const volLayout = "0c4f3a52-7d1e-4b6a-9a0e-0000000000aa"

// TestMoverLayoutTable is the layout table of docs/mayastor-migration.md
// ("Which layouts move"): each row is a volume layout in a quiet cluster whose
// simulator breaks removal ties by the core agent's replica map order, as
// upstream does. A row either moves with zero wasted rebuilds (every decrease
// removed a source, none unpredicted) and the number of republishes the table
// gives, or is refused by Analyze before the first write.
func TestMoverLayoutTable(t *testing.T) {
	rows := []struct {
		name        string // the row's name in the doc's table
		replicas    int
		nexus       string // "" pinned to the only replica; app-1 remote; sata-a local to a source
		extra       string
		opts        mover.MoverOptions
		refused     error
		republishes int
	}{
		{name: "1 replica, republish allowed", replicas: 1, opts: mover.MoverOptions{AllowRepublish: true}, republishes: 1},
		{name: "1 replica, republish not allowed", replicas: 1, refused: mover.ErrNexusLocalSource},
		{name: "1 replica, HA disabled", replicas: 1, opts: mover.MoverOptions{AllowRepublish: true, HADisabled: true}, refused: mover.ErrLayoutNotMovable},
		{name: "1 replica in an affinity group", replicas: 1, extra: "\n    affinity_group: ag-1", opts: mover.MoverOptions{AllowRepublish: true}, refused: mover.ErrAffinityGroupMinimum},
		{name: "1 replica with snapshots", replicas: 1, extra: "\n    num_snapshots: 2", opts: mover.MoverOptions{AllowRepublish: true}, refused: mover.ErrVolumeHasSnapshots},
		{name: "2 replicas, nexus remote, republish allowed", replicas: 2, nexus: "app-1", opts: mover.MoverOptions{AllowRepublish: true}, republishes: 1},
		{name: "2 replicas, nexus remote, republish not allowed", replicas: 2, nexus: "app-1", refused: mover.ErrLayoutNotMovable},
		{name: "2 replicas, nexus local, republish allowed", replicas: 2, nexus: "sata-a", opts: mover.MoverOptions{AllowRepublish: true}, republishes: 1},
		{name: "2 replicas, nexus local, republish not allowed", replicas: 2, nexus: "sata-a", refused: mover.ErrLayoutNotMovable},
		{name: "3 replicas, nexus remote, republish allowed", replicas: 3, nexus: "app-1", opts: mover.MoverOptions{AllowRepublish: true}, refused: mover.ErrLayoutNotMovable},
		{name: "3 replicas, nexus remote, republish not allowed", replicas: 3, nexus: "app-1", refused: mover.ErrLayoutNotMovable},
		{name: "3 replicas, nexus local, republish allowed", replicas: 3, nexus: "sata-a", opts: mover.MoverOptions{AllowRepublish: true}, refused: mover.ErrLayoutNotMovable},
		{name: "3 replicas, nexus local, republish not allowed", replicas: 3, nexus: "sata-a", refused: mover.ErrLayoutNotMovable},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			ctx := context.Background()
			h := newSimHarness(t, layoutScenario(row.replicas, row.nexus, row.extra), row.opts)
			h.watchVolume(volLayout)
			plan, err := h.mover.Analyze(ctx, "tm-layout", volLayout, hot, cold)
			if row.refused != nil {
				if !errors.Is(err, row.refused) {
					t.Fatalf("Analyze: want %v, got %v", row.refused, err)
				}
				if h.writes != 0 {
					t.Fatalf("a refused Analyze made %d writes", h.writes)
				}
				t.Logf("refused: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("Analyze: %v", err)
			}
			if plan.Forecast == "" {
				t.Error("plan carries no forecast")
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
			if republishes != row.republishes {
				t.Errorf("%d republishes, want %d", republishes, row.republishes)
			}
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
		})
	}
}
