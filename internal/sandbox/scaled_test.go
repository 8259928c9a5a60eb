package sandbox

import (
	"testing"

	"github.com/billyronks/couchestor/internal/sim"
)

// ScaledScenario generates exactly the volumes asked for, in a scenario the simulator loads.
func TestScaledScenarioKeepsTheMix(t *testing.T) {
	for _, want := range []int{1000, 100000} {
		path, n, err := ScaledScenario(t.TempDir(), want)
		if err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Fatalf("--volumes %d generated %d volumes", want, n)
		}
		sc, err := sim.LoadScenario(path)
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for _, g := range sc.Generate {
			got += g.Count
		}
		if got != want {
			t.Fatalf("--volumes %d: the scenario generates %d volumes", want, got)
		}
	}
}
