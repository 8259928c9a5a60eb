package mayastor_test

import (
	"context"
	"maps"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/sim"
)

// GetReplicaSpecs against the simulator returns the replicas in the core agent's
// replica map order (GET /v0/specs walks the IndexMap,
// control-plane/agents/src/bin/core/registry/service.rs:52-61 and
// core/pool/specs.rs:265-271; append on create, core/pool/specs.rs:323-333;
// swap_remove on destroy, core/pool/specs.rs:397-400), which is the order
// that breaks removal ties.
func TestGetReplicaSpecsReturnsTheReplicaMapOrder(t *testing.T) {
	const vol = "0c4f3a52-7d1e-4b6a-9a0e-0000000000a1"
	const other = "0c4f3a52-7d1e-4b6a-9a0e-0000000000a2"
	sc, err := sim.ParseScenario("specs.yaml", []byte(`
rebuild_bandwidth: 1GiB
nodes: [{id: n1}, {id: n2}, {id: n3}]
pools:
  - {id: p1, node: n1, capacity: 100GiB}
  - {id: p2, node: n2, capacity: 100GiB}
  - {id: p3, node: n3, capacity: 100GiB}
volumes:
  - {uuid: `+vol+`, size: 1GiB, replicas: [p1, p2], published: true, nexus_node: n1}
  - {uuid: `+other+`, size: 1GiB, replicas: [p3]}
`))
	if err != nil {
		t.Fatal(err)
	}
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s, err := sim.New(sc, sim.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	c, err := mayastor.New(mayastor.Config{BaseURL: srv.URL, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ids := func() ([]string, *mayastor.Specs) {
		specs, err := c.GetReplicaSpecs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range specs.Replicas {
			out = append(out, r.UUID)
		}
		return out, specs
	}
	before, _ := ids() // vol@p1, vol@p2, other@p3
	if _, err := c.SetReplicaCount(ctx, vol, 3); err != nil {
		t.Fatal(err)
	}
	clk.Step(time.Minute)
	grown, _ := ids()
	if len(grown) != 4 || !slices.Equal(grown[:3], before) {
		t.Fatalf("after an increase %v, want %v plus the new replica appended", grown, before)
	}
	if _, err := c.SetReplicaCount(ctx, vol, 2); err != nil {
		t.Fatal(err)
	}
	// The decrease removed vol@p2 (the first shared replica in the map), and
	// the last entry, the new replica, took its slot.
	after, specs := ids()
	if want := []string{before[0], grown[3], before[2]}; !slices.Equal(after, want) {
		t.Fatalf("after a decrease %v, want %v (swap_remove)", after, want)
	}
	if !slices.Equal(after, s.ReplicaOrder()) {
		t.Fatalf("client order %v, simulator order %v", after, s.ReplicaOrder())
	}
	if specs.Replicas[0].Share != mayastor.ProtocolNone || specs.Replicas[1].Share != mayastor.ProtocolNvmf {
		t.Fatalf("shares %s, %s; want none (nexus-local), nvmf", specs.Replicas[0].Share, specs.Replicas[1].Share)
	}
	// GetReplicaOrder says the same.
	order, err := c.GetReplicaOrder(ctx, vol)
	if err != nil {
		t.Fatal(err)
	}
	if want := mayastor.OrderOf(specs, vol); order.Len != want.Len || !maps.Equal(order.Index, want.Index) || !maps.Equal(order.Shared, want.Shared) {
		t.Fatalf("GetReplicaOrder %+v, from the replica specs %+v", order, want)
	}
	if len(order.Index) != 2 || order.Index[before[0]] != 0 || order.Index[grown[3]] != 1 || order.Shared[before[0]] || !order.Shared[grown[3]] {
		t.Fatalf("order of %s: %+v", vol, order)
	}
}
