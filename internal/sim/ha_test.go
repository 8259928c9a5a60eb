package sim

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/billyronks/couchestor/internal/mayastor"
)

const haScenario = `
rebuild_bandwidth: 100MiB
nodes: [{id: n1}, {id: n2}, {id: n3}, {id: app1}, {id: app2}]
pools:
  - {id: p1, node: n1, capacity: 100GiB}
  - {id: p2, node: n2, capacity: 100GiB}
  - {id: p3, node: n3, capacity: 100GiB}
volumes:
  - {uuid: ` + vol1 + `, size: 1GiB, replicas: [p1, p2, p3], published: true, nexus_node: app1}
`

func republish(s *Sim) (mayastor.Volume, error) {
	return s.Publish(vol1, PublishRequest{Republish: true, Protocol: "nvmf"})
}

// core/volume/operations.rs:453-456: republish is refused with
// SwitchoverNotAllowedWhenHAisDisabled (412) when HA is disabled; the admin
// toggle turns HA back on.
func TestRepublishRefusedWhenHAIsDisabled(t *testing.T) {
	s, _ := newTestSim(t, "ha_enabled: false\n"+haScenario)
	_, err := republish(s)
	ae := wantAPIError(t, err, http.StatusPreconditionFailed, mayastor.ErrorKindFailedPrecondition)
	if !strings.HasPrefix(ae.Message, "SwitchoverNotAllowedWhenHAisDisabled") {
		t.Fatalf("message %q, want SwitchoverNotAllowedWhenHAisDisabled", ae.Message)
	}
	ts := serve(t, s)
	ts.must("PUT", "/admin/ha", `{"enabled": true}`, http.StatusNoContent)
	v, err := republish(s)
	if err != nil {
		t.Fatalf("republish with HA on: %v", err)
	}
	if v.Spec.Target.Node == "app1" {
		t.Fatalf("republish kept the target on app1")
	}
}

// core/volume/operations.rs:541-552: the old target is shut down before the
// new one is created; a failure in between leaves the volume without a live
// target (spec still naming the old one) until the HA failover recreates it,
// with every healthy child (a clean shutdown).
func TestRepublishFailingHalfWayLeavesNoTargetUntilFailover(t *testing.T) {
	s, clk := newTestSim(t, haScenario)
	ts := serve(t, s)
	ts.must("POST", "/admin/volumes/"+vol1+"/fail-next-republish", "", http.StatusNoContent)
	code, _, err := ts.do("PUT", "/v0/volumes/"+vol1+"/target", `{"publish_context": {}, "protocol": "nvmf", "republish": true}`)
	if err != nil || code != http.StatusInternalServerError {
		t.Fatalf("republish: %d %v, want 500", code, err)
	}
	v := getVolume(t, s, vol1)
	if v.State.Target != nil || v.Spec.Target == nil || v.Spec.Target.Node != "app1" || v.State.Status != mayastor.VolumeStatusUnknown {
		t.Fatalf("after the half-way failure: spec target %+v, state target %v, status %s; want spec on app1, no live target, Unknown",
			v.Spec.Target, v.State.Target, v.State.Status)
	}
	_, err = s.SetReplicaCount(vol1, 2)
	wantAPIError(t, err, http.StatusServiceUnavailable, mayastor.ErrorKindUnavailable)
	clk.Step(DefaultHAFailoverDelay)
	v = getVolume(t, s, vol1)
	if v.State.Target == nil || v.State.Target.Node == "app1" || len(v.State.Target.Children) != 3 ||
		v.State.Status != mayastor.VolumeStatusOnline {
		t.Fatalf("after the failover delay: target %+v, status %s; want a new target elsewhere with 3 children, Online",
			v.State.Target, v.State.Status)
	}
}

// core/volume/scheduling.rs:66-78: a nexus recreated after an unclean
// shutdown (its node died) opens ONE healthy child; the others are rebuilt
// fully by the hot-spare reconciler. With HA the target moves to another
// node after the failover delay.
func TestHAFailoverRecreatesTheTargetWithOneChild(t *testing.T) {
	s, clk := newTestSim(t, haScenario)
	if err := s.SetNodeOnline("app1", false); err != nil {
		t.Fatal(err)
	}
	clk.Step(DefaultHAFailoverDelay - time.Second)
	if v := getVolume(t, s, vol1); v.State.Target != nil || v.Spec.Target.Node != "app1" {
		t.Fatalf("before the failover delay: target %+v, want still on app1 and down", v.Spec.Target)
	}
	clk.Step(time.Second)
	v := getVolume(t, s, vol1)
	if v.State.Target == nil || v.State.Target.Node == "app1" {
		t.Fatalf("after the failover delay: target %+v, want moved off app1", v.State.Target)
	}
	// One healthy child; any other child is already a new, rebuilding one
	// (hot spare may run at the same instant).
	online := 0
	for _, c := range v.State.Target.Children {
		switch {
		case c.State == mayastor.ChildStateOnline:
			online++
		case c.RebuildProgress == nil:
			t.Fatalf("child %+v neither Online nor rebuilding", c)
		}
	}
	if online != 1 || v.State.Status != mayastor.VolumeStatusDegraded {
		t.Fatalf("recreated target: %d Online children of %d, %s; want 1, Degraded", online, len(v.State.Target.Children), v.State.Status)
	}
	clk.Step(10 * time.Minute)
	v = getVolume(t, s, vol1)
	if len(v.State.Target.Children) != 3 || v.State.Status != mayastor.VolumeStatusOnline {
		t.Fatalf("later: %d children, %s; want 3, Online", len(v.State.Target.Children), v.State.Status)
	}
	h, err := s.RebuildHistory(vol1)
	if err != nil {
		t.Fatal(err)
	}
	full := 0
	for _, r := range h.Records {
		if r.RebuildJobState == mayastor.RebuildJobStateCompleted && !r.IsPartial {
			full++
		}
	}
	if full != 2 {
		t.Fatalf("rebuild history %+v, want 2 full rebuilds", h.Records)
	}
}

// Without HA the target stays on its node, down, until the node returns
// (no failover; the HA cluster agent is what moves targets).
func TestHADisabledTargetStaysDownUntilItsNodeReturns(t *testing.T) {
	s, clk := newTestSim(t, "ha_enabled: false\n"+haScenario)
	if err := s.SetNodeOnline("app1", false); err != nil {
		t.Fatal(err)
	}
	clk.Step(10 * time.Minute)
	v := getVolume(t, s, vol1)
	if v.State.Target != nil || v.Spec.Target.Node != "app1" || v.State.Status != mayastor.VolumeStatusUnknown {
		t.Fatalf("HA off, node down 10m: spec target %+v, state target %v, %s; want app1, none, Unknown",
			v.Spec.Target, v.State.Target, v.State.Status)
	}
	if err := s.SetNodeOnline("app1", true); err != nil {
		t.Fatal(err)
	}
	v = getVolume(t, s, vol1)
	if v.State.Target == nil || v.State.Target.Node != "app1" || v.State.Status != mayastor.VolumeStatusOnline {
		t.Fatalf("node back: target %+v, %s; want app1, Online", v.State.Target, v.State.Status)
	}
}
