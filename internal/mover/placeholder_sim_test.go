package mover_test

import (
	"context"
	"testing"

	"github.com/billyronks/couchestor/internal/mover"
)

// A move that ends early — rolled back in its first or a later round, or kept in
// preservation mode — leaves no placeholder once the migration's end releases what its
// plan holds, and the volume as the ending says.
func TestPlaceholdersGoWhenTheMoveEndsEarly(t *testing.T) {
	cases := []struct {
		name         string
		fullRounds   int  // rounds completed before the ending
		preserve     bool // end by Preserve after the round's rebuild, else Abort before it
		wantReplicas int
	}{
		{name: "rolled back in round 1", fullRounds: 0, wantReplicas: 3},
		{name: "rolled back in round 2", fullRounds: 1, wantReplicas: 3},
		{name: "preserved after round 1's rebuild", fullRounds: 0, preserve: true, wantReplicas: 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			h := newSimHarness(t, wideLayoutScenario(3, "remote", ""), mover.MoverOptions{})
			h.watchVolume(volLayout)
			plan, err := h.mover.Analyze(ctx, "tm-early", volLayout, hot, cold)
			if err != nil {
				t.Fatalf("Analyze: %v", err)
			}
			for range tc.fullRounds {
				if plan, err = h.mover.ScaleUp(ctx, plan, h.record); err != nil {
					t.Fatal(err)
				}
				h.waitSync(ctx, plan)
				var res mover.ScaleDownResult
				if plan, res, err = h.mover.ScaleDown(ctx, plan, h.record); err != nil || !res.SourceRemoved {
					t.Fatalf("round: %v, %+v", err, res)
				}
			}
			if plan, err = h.mover.ScaleUp(ctx, plan, h.record); err != nil {
				t.Fatal(err)
			}
			if len(plan.Placeholders) == 0 || len(h.placeholdersInMap()) == 0 {
				t.Fatalf("setup: a 3-replica remote move holds no placeholder after its increase (plan %v)", plan.Placeholders)
			}
			if tc.preserve {
				h.waitSync(ctx, plan)
				plan, err = h.mover.Preserve(ctx, plan, h.record)
			} else {
				plan, err = h.mover.Abort(ctx, plan, h.record)
			}
			if err != nil {
				t.Fatalf("ending: %v", err)
			}
			h.endMove(ctx, plan)
			if v := h.volume(volLayout); len(v.State.ReplicaTopology) != tc.wantReplicas {
				t.Fatalf("volume has %d replicas, want %d", len(v.State.ReplicaTopology), tc.wantReplicas)
			}
			h.checkInvariant()
		})
	}
}

// Placeholder ids derive from the migration and a counter, and are recognisable.
func TestPlaceholderIDs(t *testing.T) {
	a, b := mover.PlaceholderID("m", 0), mover.PlaceholderID("m", 1)
	if a == b || a != mover.PlaceholderID("m", 0) || a == mover.PlaceholderID("n", 0) {
		t.Fatalf("ids not derived from migration and counter: %s %s", a, b)
	}
	for _, id := range []string{a, b} {
		if !mover.IsPlaceholderID(id) {
			t.Fatalf("%s not recognised as a placeholder", id)
		}
	}
	for _, id := range []string{"0c4f3a52-7d1e-4b6a-9a0e-0000000000aa", "c0c4e570-0000-4000-8000-000000000000", "c0c4e570"} {
		if mover.IsPlaceholderID(id) {
			t.Fatalf("%s taken for a placeholder", id)
		}
	}
}

// Nodes with both an NVMe and a SATA pool: the SATA pool on the target's node has more free
// space, so the scheduler prefers it, and a cordon (per node) cannot separate the two. A
// placeholder on the SATA pool counts as a replica there and tips the score: the move
// lands on the target tier at the first attempt in every round, wastes no rebuild, and
// leaves no placeholder.
func TestMoverSimMixedNodesPlaceholdersSteerThePool(t *testing.T) {
	scenario := `
name: mixed
seed: 1
rebuild_bandwidth: 1GiB
nodes: [{id: sata-x}, {id: sata-y}, {id: mix-a}, {id: mix-b}, {id: app-1}]
pools:
  - {id: pool-sata-x, node: sata-x, capacity: 1TiB, labels: {openebs.io/created-by: operator-diskpool, tier: cold}}
  - {id: pool-sata-y, node: sata-y, capacity: 1TiB, labels: {openebs.io/created-by: operator-diskpool, tier: cold}}
  - {id: pool-sata-a, node: mix-a, capacity: 1TiB, labels: {openebs.io/created-by: operator-diskpool, tier: cold}}
  - {id: pool-nvme-a, node: mix-a, capacity: 400GiB, labels: {openebs.io/created-by: operator-diskpool, tier: hot}}
  - {id: pool-sata-b, node: mix-b, capacity: 1TiB, labels: {openebs.io/created-by: operator-diskpool, tier: cold}}
  - {id: pool-nvme-b, node: mix-b, capacity: 400GiB, labels: {openebs.io/created-by: operator-diskpool, tier: hot}}
volumes:
  - uuid: ` + volLayout + `
    size: 10GiB
    replicas: [pool-sata-x, pool-sata-y]
    published: true
    nexus_node: app-1
    inclusion: {openebs.io/created-by: operator-diskpool}
`
	ctx := context.Background()
	h := newSimHarness(t, scenario, mover.MoverOptions{})
	h.watchVolume(volLayout)
	plan, err := h.mover.Analyze(ctx, "tm-mixed", volLayout, hot, cold)
	if err != nil {
		t.Fatalf("Analyze: %v", err)
	}
	plan, results, err := h.move(ctx, plan)
	if err != nil {
		t.Fatalf("move: %v", err)
	}
	for i, r := range results {
		if !r.SourceRemoved || r.Unpredicted {
			t.Errorf("round %d: wasted rebuild (%+v)", i+1, r)
		}
	}
	if plan.Increases != 2 {
		t.Errorf("%d increases for 2 rounds: a replica landed off the target tier and was taken back", plan.Increases)
	}
	if h.placeholdersCreated <= 2 {
		t.Errorf("%d placeholders created: the placement ones are missing (2 guard the rounds)", h.placeholdersCreated)
	}
	h.endMove(ctx, plan)
	for _, p := range poolsOf(h.volume(volLayout)) {
		if p != "pool-nvme-a" && p != "pool-nvme-b" {
			t.Fatalf("replica on %s after the move", p)
		}
	}
	h.assertNoCordons()
	h.checkInvariant()
}
