package sim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/billyronks/couchestor/internal/mayastor"
)

type testServer struct {
	t   testing.TB
	url string
	c   *http.Client
}

func serve(t testing.TB, s *Sim) *testServer {
	t.Helper()
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return &testServer{t: t, url: srv.URL, c: &http.Client{Timeout: 10 * time.Second}}
}

// do sends a request and returns status and body; err is a transport error.
func (ts *testServer) do(method, path, body string) (int, []byte, error) {
	ts.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.url+path, r)
	if err != nil {
		ts.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := ts.c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (ts *testServer) must(method, path, body string, want int) []byte {
	ts.t.Helper()
	code, b, err := ts.do(method, path, body)
	if err != nil || code != want {
		ts.t.Fatalf("%s %s: %d %s %v, want %d", method, path, code, b, err, want)
	}
	return b
}

const faultScenario = `
rebuild_bandwidth: 100MiB
nodes: [{id: n1}, {id: n2}, {id: n3}]
pools:
  - {id: p1, node: n1, capacity: 100GiB}
  - {id: p2, node: n2, capacity: 100GiB}
  - {id: p3, node: n3, capacity: 100GiB}
volumes:
  - {uuid: ` + vol1 + `, size: 10GiB, replicas: [p1, p2], published: true, nexus_node: n1}
`

func numReplicas(t testing.TB, s *Sim) int { return len(getVolume(t, s, vol1).State.ReplicaTopology) }

func TestInjectedStatusFaultsFailTheNextCallsOnly(t *testing.T) {
	s, _ := newTestSim(t, faultScenario)
	ts := serve(t, s)
	ts.must("POST", "/admin/faults", `{"operation": "put_volume_replica_count", "mode": "status", "status": 500, "count": 2}`, http.StatusNoContent)
	for i := 0; i < 2; i++ {
		code, b, err := ts.do("PUT", "/v0/volumes/"+vol1+"/replica_count/3", "")
		var e mayastor.RestJsonError
		if err != nil || code != 500 || json.Unmarshal(b, &e) != nil || e.Kind != mayastor.ErrorKindInternal {
			t.Fatalf("call %d: %d %s %v, want a 500 RestJsonError", i, code, b, err)
		}
	}
	if n := numReplicas(t, s); n != 2 {
		t.Fatalf("a failed call changed the volume: %d replicas", n)
	}
	ts.must("GET", "/v0/volumes/"+vol1, "", http.StatusOK) // other operations are not affected
	ts.must("PUT", "/v0/volumes/"+vol1+"/replica_count/3", "", http.StatusOK)
	if f := s.Faults(); len(f) != 0 {
		t.Fatalf("faults left after their count: %+v", f)
	}
}

func TestInjectedDropClosesTheConnection(t *testing.T) {
	s, _ := newTestSim(t, faultScenario)
	ts := serve(t, s)
	if err := s.InjectFault(Fault{Operation: "put_volume_replica_count", Mode: FaultDrop, Count: 1}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ts.do("PUT", "/v0/volumes/"+vol1+"/replica_count/3", ""); err == nil {
		t.Fatal("a dropped call got an answer")
	}
	if n := numReplicas(t, s); n != 2 {
		t.Fatalf("a dropped call took effect: %d replicas", n)
	}
	// drop-after: the call takes effect, the answer is lost.
	if err := s.InjectFault(Fault{Operation: "put_volume_replica_count", Mode: FaultDropAfter, Count: 1}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ts.do("PUT", "/v0/volumes/"+vol1+"/replica_count/3", ""); err == nil {
		t.Fatal("a drop-after call got an answer")
	}
	if n := numReplicas(t, s); n != 3 {
		t.Fatalf("a drop-after call did not take effect: %d replicas", n)
	}
}

func TestInjectedLatencyDelaysEveryCallUntilCleared(t *testing.T) {
	var slept []time.Duration
	s, _ := newTestSim(t, faultScenario, WithSleep(func(d time.Duration) { slept = append(slept, d) }))
	ts := serve(t, s)
	ts.must("POST", "/admin/faults", `{"operation": "*", "mode": "latency", "latency": "750ms"}`, http.StatusNoContent)
	ts.must("GET", "/v0/pools", "", http.StatusOK)
	ts.must("GET", "/v0/nodes", "", http.StatusOK)
	if !slices.Equal(slept, []time.Duration{750 * time.Millisecond, 750 * time.Millisecond}) {
		t.Fatalf("slept %v, want 750ms per call", slept)
	}
	ts.must("DELETE", "/admin/faults", "", http.StatusNoContent)
	ts.must("GET", "/v0/pools", "", http.StatusOK)
	if len(slept) != 2 {
		t.Fatalf("latency applied after clearing: %v", slept)
	}
	code, b, _ := ts.do("POST", "/admin/faults", `{"operation": "*", "mode": "explode"}`)
	if code != http.StatusBadRequest || !strings.Contains(string(b), "mode") {
		t.Fatalf("bad fault accepted: %d %s", code, b)
	}
}

func TestReplicaFaultedDuringItsRebuild(t *testing.T) {
	s, clk := newTestSim(t, faultScenario)
	ts := serve(t, s)
	ts.must("POST", "/admin/volumes/"+vol1+"/fault-next-rebuild", `{"at_percent": 50}`, http.StatusNoContent)
	v := mustSetCount(t, s, vol1, 3)
	added := replicaOnPool(v, "p3")
	clk.Step(50 * time.Second) // 10GiB at 100MiB/s: 102.4s, fault at 51.2s
	if rt := getVolume(t, s, vol1).State.ReplicaTopology[added]; rt.ChildStatus != mayastor.ChildStateDegraded {
		t.Fatalf("before the fault: child %s, want Degraded", rt.ChildStatus)
	}
	clk.Step(2 * time.Second)
	v = getVolume(t, s, vol1)
	if rt := v.State.ReplicaTopology[added]; rt.ChildStatus != mayastor.ChildStateFaulted || rt.State != mayastor.ReplicaStateFaulted {
		t.Fatalf("after the fault: %+v, want a Faulted replica and child", rt)
	}
	h, _ := s.RebuildHistory(vol1)
	if len(h.Records) != 1 || h.Records[0].RebuildJobState != mayastor.RebuildJobStateFailed ||
		h.Records[0].BlocksRecovered == 0 || h.Records[0].BlocksRemaining == 0 {
		t.Fatalf("history %+v, want one Failed record part-way", h.Records)
	}
	// A child faulted while rebuilding has no I/O log: the reconciler removes
	// it and its replica at once (core/controller/reconciler/nexus/mod.rs:199-201,
	// core/nexus/operations_helper.rs:76-94); self-heal then places a new
	// replica on the node that became free and rebuilds it fully.
	clk.Step(time.Minute)
	v = getVolume(t, s, vol1)
	again := replicaOnPool(v, "p3")
	if v.State.Status != mayastor.VolumeStatusDegraded || len(v.State.Target.Children) != 3 || again == "" || again == added {
		t.Fatalf("after self-heal: %s with %d children, p3 replica %q (faulted one %q); want a new p3 replica rebuilding",
			v.State.Status, len(v.State.Target.Children), again, added)
	}
}

func TestPoolFaultsAndFill(t *testing.T) {
	s, clk := newTestSim(t, faultScenario)
	ts := serve(t, s)
	ts.must("PUT", "/admin/pools/p2/status", `{"status": "Faulted"}`, http.StatusNoContent)
	var p mayastor.Pool
	_ = json.Unmarshal(ts.must("GET", "/v0/pools/p2", "", http.StatusOK), &p)
	if p.State.Status != mayastor.PoolStatusFaulted {
		t.Fatalf("pool status %s, want Faulted", p.State.Status)
	}
	if st := getVolume(t, s, vol1).State.Status; st != mayastor.VolumeStatusDegraded {
		t.Fatalf("volume %s with a replica on a faulted pool, want Degraded", st)
	}
	// The in-sync child is kept Faulted for faulted_child_wait_period (600s)
	// before self-heal replaces it (rebuild_policies.rs:20).
	clk.Step(10 * time.Second)
	if v := getVolume(t, s, vol1); slices.Contains(poolsOf(v), "p3") {
		t.Fatalf("self-heal replaced the faulted child within its wait: %v", poolsOf(v))
	}
	clk.Step(600 * time.Second) // self-heal moves the replica to p3
	v := getVolume(t, s, vol1)
	if !slices.Contains(poolsOf(v), "p3") {
		t.Fatalf("self-heal did not use p3: %v", poolsOf(v))
	}
	clk.Step(5 * time.Minute)
	if st := getVolume(t, s, vol1).State.Status; st != mayastor.VolumeStatusOnline {
		t.Fatalf("volume %s after healing, want Online", st)
	}
	// A full pool refuses new replicas.
	ts.must("PUT", "/admin/pools/p2/status", `{"status": "Online"}`, http.StatusNoContent)
	ts.must("PUT", "/admin/pools/p2/fill", `{"bytes": "100GiB"}`, http.StatusNoContent)
	_ = json.Unmarshal(ts.must("GET", "/v0/pools/p2", "", http.StatusOK), &p)
	if p.State.Used != p.State.Capacity {
		t.Fatalf("filled pool used %d of %d", p.State.Used, p.State.Capacity)
	}
	code, b, _ := ts.do("PUT", "/v0/volumes/"+vol1+"/replica_count/3", "")
	var e mayastor.RestJsonError
	if code != http.StatusInsufficientStorage || json.Unmarshal(b, &e) != nil || e.Kind != mayastor.ErrorKindResourceExhausted {
		t.Fatalf("increase onto a full pool: %d %s, want 507 ResourceExhausted", code, b)
	}
}

func TestDroppedNode(t *testing.T) {
	s, clk := newTestSim(t, faultScenario)
	ts := serve(t, s)
	ts.must("POST", "/admin/nodes/n1/drop", "", http.StatusNoContent)
	var n mayastor.Node
	_ = json.Unmarshal(ts.must("GET", "/v0/nodes/n1", "", http.StatusOK), &n)
	if n.State.Status != mayastor.NodeStatusOffline {
		t.Fatalf("dropped node status %s", n.State.Status)
	}
	var p mayastor.Pool
	_ = json.Unmarshal(ts.must("GET", "/v0/pools/p1", "", http.StatusOK), &p)
	if p.State != nil {
		t.Fatalf("a pool on a dropped node reports state %+v", p.State)
	}
	v := getVolume(t, s, vol1)
	if v.State.Status != mayastor.VolumeStatusUnknown || v.State.Target != nil || v.Spec.Target == nil {
		t.Fatalf("volume with its target on the dropped node: %s target %v spec target %v", v.State.Status, v.State.Target, v.Spec.Target)
	}
	if got := samples(scrape(t, s, ""), "volume_num_read_ops"); len(got) != 0 {
		t.Fatalf("the dropped node still exports %v", got)
	}
	_, err := s.Unpublish(vol1, false)
	wantAPIError(t, err, http.StatusPreconditionFailed, mayastor.ErrorKindFailedPrecondition)
	ts.must("POST", "/admin/nodes/n1/restore", "", http.StatusNoContent)
	clk.Step(5 * time.Minute)
	if st := getVolume(t, s, vol1).State.Status; st != mayastor.VolumeStatusOnline {
		t.Fatalf("after restore: %s, want Online", st)
	}
}

func TestAdminClockAndWorkloadEndpoints(t *testing.T) {
	s, _ := newTestSim(t, faultScenario)
	ts := serve(t, s)
	b := ts.must("POST", "/admin/clock/advance", `{"duration": "90s"}`, http.StatusOK)
	if !strings.Contains(string(b), "2026-01-01T00:01:30Z") {
		t.Fatalf("clock after advance: %s", b)
	}
	ts.must("PUT", "/admin/volumes/"+vol1+"/workload", `{"read_iops": 10, "write_iops": [4, 4]}`, http.StatusNoContent)
	ts.must("POST", "/admin/clock/advance", `{"duration": "10s"}`, http.StatusOK)
	body := string(ts.must("GET", "/metrics", "", http.StatusOK))
	if !strings.Contains(body, `volume_num_read_ops{node="n1",pv_name="pvc-`+vol1+`"} 100`) ||
		!strings.Contains(body, `volume_num_write_ops{node="n1",pv_name="pvc-`+vol1+`"} 40`) {
		t.Fatalf("metrics after a workload change:\n%s", body)
	}
	code, _, _ := ts.do("PUT", "/admin/volumes/"+vol1+"/workload", `{"read_iops": 10, "bogus": 1}`)
	if code != http.StatusBadRequest {
		t.Fatalf("unknown workload field: %d, want 400", code)
	}
	code, _, _ = ts.do("PUT", "/admin/volumes/"+vol2+"/workload", `{"read_iops": 10}`)
	if code != http.StatusNotFound {
		t.Fatalf("workload of a missing volume: %d, want 404", code)
	}
}

// A node that goes down with the nexus and its local replica comes back with
// the replica trusted: no rebuild from nowhere, no data loss.
func TestNodeRestartKeepsALocalOnlyVolume(t *testing.T) {
	s, clk := newTestSim(t, faultScenario+`
  - {uuid: `+vol2+`, size: 1GiB, replicas: [p3], published: true}
`)
	if err := s.SetNodeOnline("n3", false); err != nil {
		t.Fatal(err)
	}
	clk.Step(time.Minute)
	if err := s.SetNodeOnline("n3", true); err != nil {
		t.Fatal(err)
	}
	clk.Step(time.Minute)
	v := getVolume(t, s, vol2)
	if v.State.Status != mayastor.VolumeStatusOnline || v.State.Target == nil || len(v.State.Target.Children) != 1 {
		t.Fatalf("after the node returned: %s %+v, want Online with its one child", v.State.Status, v.State.Target)
	}
	if h, _ := s.RebuildHistory(vol2); len(h.Records) != 0 {
		t.Fatalf("rebuild history %+v: nothing should have been rebuilt", h.Records)
	}
}
