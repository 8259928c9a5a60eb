package sim

import (
	"testing"
	"time"

	"github.com/billyronks/couchestor/internal/mayastor"
)

const cacheScenario = `
rebuild_bandwidth: 100MiB
nodes: [{id: n1}, {id: n2}, {id: n3}, {id: app}]
pools:
  - {id: p1, node: n1, capacity: 100GiB}
  - {id: p2, node: n2, capacity: 100GiB}
  - {id: p3, node: n3, capacity: 100GiB}
volumes:
  - {uuid: ` + vol1 + `, size: 1GiB, replicas: [p1, p2], published: true, nexus_node: n1}
`

// The registry cache (refreshed every 30 s, utils-lib constants.rs:45;
// and after operations): a rebuild that completes at 10.24 s shows only at
// the 30 s refresh; the increase itself shows at once (refresh after the
// operation).
func TestRegistryCacheShowsDataPlaneChangesAtTheNextRefresh(t *testing.T) {
	s, clk := newTestSim(t, cacheScenario, WithRegistryCache(DefaultRegistryCachePeriod))
	mustSetCount(t, s, vol1, 3)
	v := getVolume(t, s, vol1)
	if len(v.State.ReplicaTopology) != 3 || v.State.Status != mayastor.VolumeStatusDegraded {
		t.Fatalf("right after the increase: %d replicas, %s; want 3, Degraded (refreshed after the operation)",
			len(v.State.ReplicaTopology), v.State.Status)
	}
	clk.Step(15 * time.Second) // the rebuild completed at 10.24s
	if v := getVolume(t, s, vol1); v.State.Status != mayastor.VolumeStatusDegraded {
		t.Fatalf("at 15s the cached view says %s, want Degraded until the 30s refresh", v.State.Status)
	}
	clk.Step(15 * time.Second) // 30s: refresh
	if v := getVolume(t, s, vol1); v.State.Status != mayastor.VolumeStatusOnline {
		t.Fatalf("after the 30s refresh: %s, want Online", v.State.Status)
	}
	clk.Step(5 * time.Second)
	if err := s.SetNodeOnline("app", false); err != nil { // a node holding nothing
		t.Fatal(err)
	}
	if n, _ := s.Node("app"); n.State.Status != mayastor.NodeStatusOnline {
		t.Fatalf("node app %s in the cached view at once, want Online until the refresh", n.State.Status)
	}
	clk.Step(20 * time.Second) // 55s
	if n, _ := s.Node("app"); n.State.Status != mayastor.NodeStatusOnline {
		t.Fatalf("node app %s at 55s, want Online until the refresh", n.State.Status)
	}
	clk.Step(5 * time.Second) // 60s: refresh
	if n, _ := s.Node("app"); n.State.Status != mayastor.NodeStatusOffline {
		t.Fatalf("node app %s after the 60s refresh, want Offline", n.State.Status)
	}
}

// Off by default: the same view is current.
func TestNoRegistryCacheByDefault(t *testing.T) {
	s, clk := newTestSim(t, cacheScenario)
	mustSetCount(t, s, vol1, 3)
	clk.Step(15 * time.Second)
	if v := getVolume(t, s, vol1); v.State.Status != mayastor.VolumeStatusOnline {
		t.Fatalf("at 15s without cache: %s, want Online", v.State.Status)
	}
}
