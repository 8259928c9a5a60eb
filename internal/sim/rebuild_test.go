package sim

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// Rebuilds, unpublished volumes, self-heal and capacity accounting.

const rebuildScenario = `
rebuild_bandwidth: 100MiB   # 10GiB take 102.4s
nodes: [{id: n1}, {id: n2}, {id: n3}, {id: n4}]
pools:
  - {id: p1, node: n1, capacity: 100GiB}
  - {id: p2, node: n2, capacity: 100GiB}
  - {id: p3, node: n3, capacity: 100GiB}
  - {id: p4, node: n4, capacity: 100GiB}
`

func TestRebuildTakesSizeOverBandwidthWithVisibleProgress(t *testing.T) {
	s, clk := newTestSim(t, rebuildScenario+`
volumes:
  - {uuid: `+vol1+`, size: 10GiB, replicas: [p1, p2], published: true, nexus_node: n1}
`)
	v := mustSetCount(t, s, vol1, 3)
	added := replicaOnPool(v, "p3")
	if added == "" {
		added = replicaOnPool(v, "p4")
	}
	want := 102400 * time.Millisecond
	checks := []struct {
		at       time.Duration
		progress int
	}{{0, 0}, {want / 4, 25}, {want / 2, 50}, {want - 10*time.Millisecond, 99}}
	elapsed := time.Duration(0)
	for _, c := range checks {
		clk.Step(c.at - elapsed)
		elapsed = c.at
		v = getVolume(t, s, vol1)
		rt := v.State.ReplicaTopology[added]
		if rt.ChildStatus != mayastor.ChildStateDegraded || rt.RebuildProgress == nil || *rt.RebuildProgress != c.progress {
			t.Fatalf("at %v: child %s progress %v, want Degraded at %d%%", c.at, rt.ChildStatus, rt.RebuildProgress, c.progress)
		}
		if v.State.Status != mayastor.VolumeStatusDegraded || v.State.Target.Rebuilds != 1 {
			t.Fatalf("at %v: volume %s with %d rebuilds, want Degraded with 1", c.at, v.State.Status, v.State.Target.Rebuilds)
		}
		h, err := s.RebuildHistory(vol1)
		if err != nil || len(h.Records) != 0 {
			t.Fatalf("at %v: history %+v %v, want no record yet", c.at, h, err)
		}
	}
	clk.Step(want - elapsed)
	v = getVolume(t, s, vol1)
	rt := v.State.ReplicaTopology[added]
	if v.State.Status != mayastor.VolumeStatusOnline || rt.ChildStatus != mayastor.ChildStateOnline || rt.RebuildProgress != nil {
		t.Fatalf("after %v: volume %s child %s progress %v, want Online/Online/none", want, v.State.Status, rt.ChildStatus, rt.RebuildProgress)
	}
	for _, c := range v.State.Target.Children {
		if c.State != mayastor.ChildStateOnline || c.RebuildProgress != nil {
			t.Fatalf("child %+v not Online after the rebuild", c)
		}
	}
	h, err := s.RebuildHistory(vol1)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Records) != 1 {
		t.Fatalf("history has %d records, want 1", len(h.Records))
	}
	r := h.Records[0]
	if r.RebuildJobState != mayastor.RebuildJobStateCompleted || r.EndTime.Sub(r.StartTime) != want ||
		r.BlocksRemaining != 0 || r.BlocksTotal != 10<<30/512 || r.SrcURI == "" || r.ChildURI == "" {
		t.Fatalf("record %+v, want Completed over %v", r, want)
	}
	if h.TargetUUID != v.State.Target.UUID {
		t.Fatalf("history target %s, want %s", h.TargetUUID, v.State.Target.UUID)
	}
}

// An unpublished volume has no nexus to rebuild through: the new replica is
// created empty, the volume is Online at once, and there is no history.
func TestUnpublishedVolumeGetsAnEmptyReplicaWithoutRebuild(t *testing.T) {
	s, clk := newTestSim(t, rebuildScenario+`
volumes:
  - {uuid: `+vol1+`, size: 10GiB, thin: true, allocated: 4GiB, replicas: [p1]}
`)
	v := mustSetCount(t, s, vol1, 2)
	if v.State.Status != mayastor.VolumeStatusOnline || v.State.Target != nil {
		t.Fatalf("unpublished volume after increase: %s target %v, want Online without target", v.State.Status, v.State.Target)
	}
	for id, r := range v.State.ReplicaTopology {
		if r.ChildStatus != "" || r.RebuildProgress != nil {
			t.Fatalf("replica %s shows child status %q progress %v on an unpublished volume", id, r.ChildStatus, r.RebuildProgress)
		}
	}
	added := ""
	for id, r := range v.State.ReplicaTopology {
		if r.Pool != "p1" {
			added = id
		}
	}
	if a := v.State.ReplicaTopology[added].Usage.Allocated; a != 0 {
		t.Fatalf("new replica holds %d bytes, want 0: nothing syncs it", a)
	}
	_, err := s.RebuildHistory(vol1)
	wantAPIError(t, err, http.StatusPreconditionFailed, mayastor.ErrorKindFailedPrecondition)
	clk.Step(time.Hour)
	if a := getVolume(t, s, vol1).State.ReplicaTopology[added].Usage.Allocated; a != 0 {
		t.Fatalf("an hour later the new replica holds %d bytes, want still 0", a)
	}
	// Never published: at the first publish every replica counts as healthy,
	// the empty one included, a hazard for anything that moves an unpublished volume.
	v, err = s.Publish(vol1, PublishRequest{Protocol: "nvmf"})
	if err != nil {
		t.Fatal(err)
	}
	if len(v.State.Target.Children) != 2 || v.State.Status != mayastor.VolumeStatusOnline {
		t.Fatalf("first publish: %d children, %s; want both replicas as Online children", len(v.State.Target.Children), v.State.Status)
	}
}

// A volume that was published before has NexusInfo: a replica added while it
// is unpublished is not trusted at the next publish and gets rebuilt.
func TestReplicaAddedWhileUnpublishedIsRebuiltAfterPublish(t *testing.T) {
	s, clk := newTestSim(t, rebuildScenario+`
volumes:
  - {uuid: `+vol1+`, size: 10GiB, replicas: [p1], published: true}
`)
	if _, err := s.Unpublish(vol1, false); err != nil {
		t.Fatal(err)
	}
	v := mustSetCount(t, s, vol1, 2)
	if v.State.Status != mayastor.VolumeStatusOnline {
		t.Fatalf("status %s, want Online once the count is met", v.State.Status)
	}
	v, err := s.Publish(vol1, PublishRequest{Protocol: "nvmf", Node: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(v.State.Target.Children) != 1 || v.State.Status != mayastor.VolumeStatusDegraded {
		t.Fatalf("publish: %d children, %s; want only the healthy replica, Degraded", len(v.State.Target.Children), v.State.Status)
	}
	clk.Step(10 * time.Second) // self-heal attaches the other replica and rebuilds it
	v = getVolume(t, s, vol1)
	if len(v.State.Target.Children) != 2 || v.State.Target.Rebuilds != 1 {
		t.Fatalf("after self-heal: %+v, want 2 children, 1 rebuilding", v.State.Target)
	}
	clk.Step(2 * time.Minute)
	if st := getVolume(t, s, vol1).State.Status; st != mayastor.VolumeStatusOnline {
		t.Fatalf("status %s after the rebuild, want Online", st)
	}
}

func TestSelfHealReplacesAFaultedReplica(t *testing.T) {
	s, clk := newTestSim(t, rebuildScenario+`
volumes:
  - {uuid: `+vol1+`, size: 10GiB, replicas: [p1, p2], published: true, nexus_node: n1}
  - {uuid: `+vol2+`, size: 10GiB, replicas: [p1, p2], published: true, nexus_node: n1, self_heal: false}
`)
	for _, id := range []string{vol1, vol2} {
		if err := s.FaultReplica(replicaOnPool(getVolume(t, s, id), "p2")); err != nil {
			t.Fatal(err)
		}
		if st := getVolume(t, s, id).State.Status; st != mayastor.VolumeStatusDegraded {
			t.Fatalf("%s: status %s after a replica fault, want Degraded", id, st)
		}
	}
	// An in-sync child that faults is kept for faulted_child_wait_period
	// (600s, core/controller/policies/rebuild_policies.rs:20; nexus/mod.rs:203-222).
	clk.Step(10 * time.Minute)
	v := getVolume(t, s, vol1)
	if got := poolsOf(v); len(got) != 2 || v.State.Target.Rebuilds != 0 || len(v.State.Target.Children) != 2 {
		t.Fatalf("inside the wait: replicas on %v, %d children, %d rebuilds; want the faulted child kept, nothing new",
			got, len(v.State.Target.Children), v.State.Target.Rebuilds)
	}
	clk.Step(10 * time.Second) // the wait is over: faulted child and replica out, a new replica in
	v = getVolume(t, s, vol1)
	if got := poolsOf(v); len(got) != 2 || slices.Contains(got, "p2") || v.State.Target.Rebuilds != 1 {
		t.Fatalf("after the wait: replicas on %v, %d rebuilds; want the faulted one gone and a new one rebuilding", got, v.State.Target.Rebuilds)
	}
	clk.Step(3 * time.Minute)
	v = getVolume(t, s, vol1)
	got := poolsOf(v)
	if v.State.Status != mayastor.VolumeStatusOnline || len(got) != 2 || slices.Contains(got, "p2") {
		t.Fatalf("healed volume %s on %v, want Online on p1 and a new pool (the faulted replica destroyed)", v.State.Status, got)
	}
	p2, _ := s.Pool("p2")
	if p2.State.Used != 10<<30 {
		t.Fatalf("p2 used %d after the faulted replica was destroyed, want only vol2's 10GiB", p2.State.Used)
	}
	if st := getVolume(t, s, vol2).State.Status; st != mayastor.VolumeStatusDegraded {
		t.Fatalf("self_heal:false volume is %s, want still Degraded", st)
	}
}

func TestPoolCapacityAccounting(t *testing.T) {
	s, clk := newTestSim(t, rebuildScenario+`
volumes:
  - {uuid: `+vol1+`, size: 10GiB, replicas: [p1], published: true}
  - {uuid: `+vol2+`, size: 20GiB, thin: true, allocated: 2GiB, replicas: [p2], published: true}
`)
	usage := func(pool string) (used, committed uint64) {
		p, err := s.Pool(pool)
		if err != nil {
			t.Fatal(err)
		}
		return p.State.Used, *p.State.Committed
	}
	if u, c := usage("p1"); u != 10<<30 || c != 10<<30 {
		t.Fatalf("p1 used/committed %d/%d, want 10GiB/10GiB", u, c)
	}
	if u, c := usage("p2"); u != 2<<30 || c != 20<<30 {
		t.Fatalf("p2 (thin) used/committed %d/%d, want 2GiB/20GiB", u, c)
	}
	if _, err := s.Cordon("n1", "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Cordon("n4", "x"); err != nil {
		t.Fatal(err)
	}
	v := mustSetCount(t, s, vol2, 2) // n1 and n4 cordoned, n2 holds a replica: p3
	if !slices.Equal(poolsOf(v), []string{"p2", "p3"}) {
		t.Fatalf("thin replica on %v, want p3", poolsOf(v))
	}
	if u, c := usage("p3"); u != 0 || c != 20<<30 {
		t.Fatalf("new thin replica: p3 used/committed %d/%d, want 0/20GiB before the rebuild", u, c)
	}
	clk.Step(5 * time.Minute) // 20GiB at 100MiB/s: 204.8s
	if u, _ := usage("p3"); u != 20<<30 {
		t.Fatalf("after a full rebuild p3 used %d, want 20GiB (thin replicas end fully allocated)", u)
	}
	mustSetCount(t, s, vol2, 1) // the remote p3 replica goes; p2 is nexus-local
	if u, c := usage("p3"); u != 0 || c != 0 {
		t.Fatalf("after the decrease p3 used/committed %d/%d, want 0/0", u, c)
	}
	if u, c := usage("p2"); u != 2<<30 || c != 20<<30 {
		t.Fatalf("after the decrease p2 used/committed %d/%d, want 2GiB/20GiB", u, c)
	}
}

// With no healthy child left, there is nothing to rebuild from: self-heal
// does not invent a replica to rebuild from nothing; the volume stays Faulted.
func TestSelfHealNeedsAHealthySource(t *testing.T) {
	s, clk := newTestSim(t, rebuildScenario+`
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [p1], published: true}
`)
	if err := s.SetPoolStatus("p1", mayastor.PoolStatusFaulted); err != nil {
		t.Fatal(err)
	}
	clk.Step(time.Minute)
	v := getVolume(t, s, vol1)
	if v.State.Status != mayastor.VolumeStatusFaulted || !slices.Equal(poolsOf(v), []string{"p1"}) {
		t.Fatalf("volume %s on %v, want Faulted on p1 only", v.State.Status, poolsOf(v))
	}
}
