package sim

import (
	"slices"
	"testing"
	"time"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// The safe move sequence (increase, wait for the rebuild, decrease), run against the small scenario: it
// proves the scenario gives a tiering operator reachable moves, and that the
// steering tools (cordon, republish) behave as the migration design expects.
func TestSafeSequenceMovesVolumesBetweenTiers(t *testing.T) {
	cases := []struct {
		name, volume, source, cordon, target, targetNode string
	}{
		{"promote a hot volume from SATA to NVMe", "0c4f3a52-7d1e-4b6a-9a0e-000000000001", "pool-sata-1", "io-engine-3", "pool-nvme-2", "io-engine-2"},
		{"demote a cold volume from NVMe to SATA", "0c4f3a52-7d1e-4b6a-9a0e-000000000005", "pool-nvme-1", "io-engine-2", "pool-sata-3", "io-engine-3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc, err := LoadScenario("small")
			if err != nil {
				t.Fatal(err)
			}
			s, clk := newTestSimFromScenario(t, sc)
			healthy := func() int {
				n := 0
				for _, r := range getVolume(t, s, tc.volume).State.ReplicaTopology {
					if r.ChildStatus == mayastor.ChildStateOnline {
						n++
					}
				}
				return n
			}
			v := getVolume(t, s, tc.volume)
			if v.State.Status != mayastor.VolumeStatusOnline || !slices.Equal(poolsOf(v), []string{tc.source}) {
				t.Fatalf("start: %s on %v", v.State.Status, poolsOf(v))
			}
			minHealthy := healthy()

			// 3. cordon the competing node for one call, scale up, uncordon.
			if _, err := s.Cordon(tc.cordon, "couchestor-move"); err != nil {
				t.Fatal(err)
			}
			_, scaleErr := s.SetReplicaCount(tc.volume, 2)
			if _, err := s.Uncordon(tc.cordon, "couchestor-move"); err != nil {
				t.Fatal(err)
			}
			if scaleErr != nil {
				t.Fatal(scaleErr)
			}
			v = getVolume(t, s, tc.volume)
			if !slices.Contains(poolsOf(v), tc.target) {
				t.Fatalf("new replica landed on %v, want %s", poolsOf(v), tc.target)
			}
			added := replicaOnPool(v, tc.target)

			// 4. poll until the new replica is a healthy, fully rebuilt child.
			for i := 0; ; i++ {
				if healthy() < minHealthy {
					t.Fatal("fewer healthy replicas than before the move")
				}
				v = getVolume(t, s, tc.volume)
				rt := v.State.ReplicaTopology[added]
				if v.State.Status == mayastor.VolumeStatusOnline && rt.ChildStatus == mayastor.ChildStateOnline && rt.RebuildProgress == nil {
					break
				}
				if i > 200 {
					t.Fatalf("rebuild not done: %+v", rt)
				}
				clk.Step(10 * time.Second)
			}
			h, err := s.RebuildHistory(tc.volume)
			if err != nil || len(h.Records) != 1 || h.Records[0].RebuildJobState != mayastor.RebuildJobStateCompleted {
				t.Fatalf("rebuild history %+v %v", h, err)
			}

			// 5. the source is nexus-local: republish onto the target's node.
			if v.State.Target.Node != tc.targetNode {
				if _, err := s.Publish(tc.volume, PublishRequest{Protocol: "nvmf", Node: tc.targetNode, Republish: true}); err != nil {
					t.Fatal(err)
				}
			}
			// 6. scale down; the source goes.
			v = mustSetCount(t, s, tc.volume, 1)
			if !slices.Equal(poolsOf(v), []string{tc.target}) || v.State.Status != mayastor.VolumeStatusOnline {
				t.Fatalf("end: %s on %v, want Online on %s", v.State.Status, poolsOf(v), tc.target)
			}
			if healthy() < minHealthy {
				t.Fatal("fewer healthy replicas than before the move")
			}
		})
	}
}
