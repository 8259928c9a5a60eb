package mayastor_test

import (
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/billyronks/couchestor/internal/sim"
)

// scaleSim is the simulator with its 10,000-volume scenario, on a fake clock.
func scaleSim(tb testing.TB) *sim.Sim {
	tb.Helper()
	sc, err := sim.LoadScenario("scale-10k")
	if err != nil {
		tb.Fatal(err)
	}
	s, err := sim.New(sc, sim.WithClock(clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}
