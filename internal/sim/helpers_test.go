package sim

import (
	"errors"
	"slices"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/billyronks/couchestor/internal/mayastor"
)

const (
	vol1 = "00000000-0000-4000-8000-000000000001"
	vol2 = "00000000-0000-4000-8000-000000000002"
	vol3 = "00000000-0000-4000-8000-000000000003"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// newTestSim builds a simulator from an inline scenario on a fake clock.
func newTestSim(t testing.TB, scenario string, opts ...Option) (*Sim, *clocktesting.FakeClock) {
	t.Helper()
	sc, err := ParseScenario("test.yaml", []byte(scenario))
	if err != nil {
		t.Fatalf("scenario: %v", err)
	}
	return newTestSimFromScenario(t, sc, opts...)
}

// newTestSimFromScenario builds a simulator on a fake clock set to epoch.
func newTestSimFromScenario(t testing.TB, sc *Scenario, opts ...Option) (*Sim, *clocktesting.FakeClock) {
	t.Helper()
	clk := clocktesting.NewFakeClock(epoch)
	s, err := New(sc, append([]Option{WithClock(clk)}, opts...)...)
	if err != nil {
		t.Fatalf("new sim: %v", err)
	}
	return s, clk
}

func getVolume(t testing.TB, s *Sim, id string) mayastor.Volume {
	t.Helper()
	v, err := s.Volume(id)
	if err != nil {
		t.Fatalf("get volume %s: %v", id, err)
	}
	return v
}

// poolsOf lists the pools holding the volume's replicas, sorted.
func poolsOf(v mayastor.Volume) []string {
	var out []string
	for _, r := range v.State.ReplicaTopology {
		out = append(out, r.Pool)
	}
	slices.Sort(out)
	return out
}

// replicaOnPool is the uuid of the volume's replica on pool, or "".
func replicaOnPool(v mayastor.Volume, pool string) string {
	for id, r := range v.State.ReplicaTopology {
		if r.Pool == pool {
			return id
		}
	}
	return ""
}

// newPools lists pools in after but not in before.
func newPools(before, after mayastor.Volume) []string {
	b := map[string]bool{}
	for _, p := range poolsOf(before) {
		b[p] = true
	}
	var out []string
	for _, p := range poolsOf(after) {
		if !b[p] {
			out = append(out, p)
		}
	}
	return out
}

func wantAPIError(t testing.TB, err error, status int, kind mayastor.ErrorKind) *APIError {
	t.Helper()
	var ae *APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want a %d %s API error, got %v", status, kind, err)
	}
	if ae.Status != status || ae.Kind != kind {
		t.Fatalf("want %d %s, got %d %s (%s)", status, kind, ae.Status, ae.Kind, ae.Details)
	}
	return ae
}

func mustSetCount(t testing.TB, s *Sim, id string, n int) mayastor.Volume {
	t.Helper()
	v, err := s.SetReplicaCount(id, n)
	if err != nil {
		t.Fatalf("set replica count of %s to %d: %v", id, n, err)
	}
	return v
}
