package sim

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// One test per rule of where a new replica goes
// (core/controller/scheduling/volume_policy).

func TestIncreaseNeverUsesANodeThatHoldsAReplica(t *testing.T) {
	s, clk := newTestSim(t, `
nodes: [{id: n1}, {id: n2}]
pools:
  - {id: n1-src, node: n1, capacity: 100GiB}
  - {id: n1-big, node: n1, capacity: 10TiB}   # emptiest pool, but on the source's node
  - {id: n2-small, node: n2, capacity: 50GiB, filler: 30GiB}
volumes:
  - {uuid: `+vol1+`, size: 10GiB, replicas: [n1-src], published: true}
`)
	before := getVolume(t, s, vol1)
	after := mustSetCount(t, s, vol1, 2)
	if got := newPools(before, after); !slices.Equal(got, []string{"n2-small"}) {
		t.Fatalf("new replica on %v, want [n2-small]: a node already holding a replica must never be chosen", got)
	}
	clk.Step(time.Hour) // rebuild done, volume Online again
	_, err := s.SetReplicaCount(vol1, 3)
	wantAPIError(t, err, http.StatusInsufficientStorage, mayastor.ErrorKindResourceExhausted)
}

func TestIncreaseSkipsCordonedAndOfflineNodes(t *testing.T) {
	s, clk := newTestSim(t, `
nodes: [{id: n1}, {id: n2}, {id: n3}, {id: n4}]
pools:
  - {id: p1, node: n1, capacity: 100GiB}
  - {id: p2, node: n2, capacity: 1TiB}
  - {id: p3, node: n3, capacity: 1TiB}
  - {id: p4, node: n4, capacity: 100GiB}
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [p1], published: true}
`)
	if _, err := s.Cordon("n2", "move-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetNodeOnline("n3", false); err != nil {
		t.Fatal(err)
	}
	v := mustSetCount(t, s, vol1, 2)
	if got := poolsOf(v); !slices.Equal(got, []string{"p1", "p4"}) {
		t.Fatalf("replicas on %v, want [p1 p4]: cordoned n2 and offline n3 must be skipped", got)
	}
	clk.Step(time.Minute)
	_, err := s.SetReplicaCount(vol1, 3)
	wantAPIError(t, err, http.StatusInsufficientStorage, mayastor.ErrorKindResourceExhausted)

	if _, err := s.Uncordon("n2", "move-1"); err != nil {
		t.Fatal(err)
	}
	v = mustSetCount(t, s, vol1, 3)
	if got := poolsOf(v); !slices.Equal(got, []string{"p1", "p2", "p4"}) {
		t.Fatalf("after uncordon replicas on %v, want [p1 p2 p4]", got)
	}
}

func TestIncreaseSkipsFaultedAndUnknownPools(t *testing.T) {
	s, _ := newTestSim(t, `
nodes: [{id: n1}, {id: n2}, {id: n3}, {id: n4}]
pools:
  - {id: p1, node: n1, capacity: 100GiB}
  - {id: p2, node: n2, capacity: 1TiB, status: Faulted}
  - {id: p3, node: n3, capacity: 1TiB, status: Unknown}
  - {id: p4, node: n4, capacity: 100GiB}
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [p1], published: true}
`)
	v := mustSetCount(t, s, vol1, 2)
	if got := poolsOf(v); !slices.Equal(got, []string{"p1", "p4"}) {
		t.Fatalf("replicas on %v, want [p1 p4]: Faulted and Unknown pools are unusable", got)
	}
}

// Upstream sorts candidates ascending on PoolStatus' PartialOrd
// (Degraded < Online), so a Degraded pool is tried before an Online one.
func TestDegradedPoolIsTriedBeforeOnlinePoolAsUpstream(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		s, _ := newTestSim(t, `
nodes: [{id: n1}, {id: n2}, {id: n3}]
pools:
  - {id: p1, node: n1, capacity: 100GiB}
  - {id: p2, node: n2, capacity: 1TiB}
  - {id: p3, node: n3, capacity: 100GiB, status: Degraded}
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [p1], published: true}
`, WithSeed(seed))
		if got := newPools(getVolume(t, s, vol1), mustSetCount(t, s, vol1, 2)); !slices.Equal(got, []string{"p3"}) {
			t.Fatalf("seed %d: new replica on %v, want [p3]", seed, got)
		}
	}
}

func TestThickReplicaNeedsFreeSpaceLargerThanTheVolume(t *testing.T) {
	const scenario = `
nodes: [{id: n1}, {id: n2}, {id: n3}]
pools:
  - {id: p1, node: n1, capacity: 100GiB}
  - {id: exact, node: n2, capacity: 100GiB, filler: 90GiB}        # free == size: refused
  - {id: roomy, node: n3, capacity: 100GiB, filler: 96636764159}  # free == size + 1 byte
volumes:
  - {uuid: ` + vol1 + `, size: 10GiB, replicas: [p1], published: true}
`
	s, _ := newTestSim(t, scenario)
	if got := newPools(getVolume(t, s, vol1), mustSetCount(t, s, vol1, 2)); !slices.Equal(got, []string{"roomy"}) {
		t.Fatalf("new replica on %v, want [roomy]", got)
	}

	s, _ = newTestSim(t, scenario)
	if err := s.FillPool("roomy", 90<<30); err != nil {
		t.Fatal(err)
	}
	_, err := s.SetReplicaCount(vol1, 2)
	wantAPIError(t, err, http.StatusInsufficientStorage, mayastor.ErrorKindResourceExhausted)
}

func TestThinReplicaCommitmentAndFreeSpaceChecks(t *testing.T) {
	// Each case offers one candidate pool, on n2, to a thin volume on n1.
	cases := []struct {
		name   string
		volume string // size and allocated of the thin volume
		pool   string // the candidate pool's fields
		other  string // another thin volume already on the candidate, if any
		fits   bool
	}{
		{"commitment reached", "size: 10GiB, allocated: 1GiB", "capacity: 100GiB", "size: 240GiB, allocated: 1GiB", false},
		{"commitment below 250%", "size: 10GiB, allocated: 1GiB", "capacity: 100GiB", "size: 239GiB, allocated: 1GiB", true},
		{"free == allocated + 40% of size", "size: 10GiB, allocated: 1GiB", "capacity: 100GiB, filler: 95GiB", "", false},
		{"free > allocated + 40% of size", "size: 10GiB, allocated: 1GiB", "capacity: 100GiB, filler: 102005473279", "", true},
		{"free at the 16MiB watermark", "size: 20MiB, allocated: 1", "capacity: 100GiB, filler: 107357405184", "", false},
		{"free above the watermark", "size: 20MiB, allocated: 1", "capacity: 100GiB, filler: 107357405183", "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			other := ""
			if tc.other != "" {
				other = "\n  - {uuid: " + vol2 + ", thin: true, replicas: [cand], " + tc.other + "}"
			}
			s, _ := newTestSim(t, `
nodes: [{id: n1}, {id: n2}]
pools:
  - {id: p1, node: n1, capacity: 100GiB}
  - {id: cand, node: n2, `+tc.pool+`}
volumes:
  - {uuid: `+vol1+`, thin: true, replicas: [p1], published: true, `+tc.volume+`}`+other+"\n")
			v, err := s.SetReplicaCount(vol1, 2)
			if !tc.fits {
				wantAPIError(t, err, http.StatusInsufficientStorage, mayastor.ErrorKindResourceExhausted)
				return
			}
			if err != nil {
				t.Fatalf("want the replica on cand, got %v", err)
			}
			if got := poolsOf(v); !slices.Equal(got, []string{"cand", "p1"}) {
				t.Fatalf("replicas on %v", got)
			}
		})
	}
}

func TestIncreaseHonoursPoolInclusionLabels(t *testing.T) {
	s, _ := newTestSim(t, `
nodes: [{id: n1}, {id: n2}, {id: n3}, {id: n4}]
pools:
  - {id: hot-1, node: n1, capacity: 100GiB, labels: {tier: hot}}
  - {id: cold-2, node: n2, capacity: 10TiB, labels: {tier: cold}}
  - {id: bare-3, node: n3, capacity: 10TiB}
  - {id: hot-4, node: n4, capacity: 100GiB, labels: {tier: hot}}
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [hot-1], published: true, inclusion: {tier: hot}}
  - {uuid: `+vol2+`, size: 1GiB, replicas: [hot-1], published: true, inclusion: {tier: ""}}
`)
	if got := newPools(getVolume(t, s, vol1), mustSetCount(t, s, vol1, 2)); !slices.Equal(got, []string{"hot-4"}) {
		t.Fatalf("new replica on %v, want [hot-4]: inclusion tier=hot", got)
	}
	// A key with an empty value matches any value, but the key must be there.
	if got := newPools(getVolume(t, s, vol2), mustSetCount(t, s, vol2, 2)); !slices.Equal(got, []string{"cold-2"}) {
		t.Fatalf("new replica on %v, want [cold-2]: inclusion key tier with any value", got)
	}
}

func TestIncreaseSortsByReplicaCountAndFreeSpace(t *testing.T) {
	cases := []struct {
		name, pools, want string
	}{
		{
			// Fewer replicas win although the pool has less free space.
			name: "fewer replicas",
			pools: `
  - {id: busy, node: n2, capacity: 1TiB}
  - {id: idle, node: n3, capacity: 1TiB, filler: 100GiB}
`, want: "idle",
		},
		{
			// Far more free space outweighs one more replica (weights 40/60).
			name: "more free space",
			pools: `
  - {id: idle, node: n3, capacity: 1TiB, filler: 924GiB}
  - {id: busy, node: n2, capacity: 1TiB}
`, want: "busy",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for seed := uint64(1); seed <= 8; seed++ {
				occupants := `
  - {uuid: ` + vol2 + `, size: 1GiB, replicas: [busy]}`
				if tc.name == "fewer replicas" {
					occupants += `
  - {uuid: ` + vol3 + `, size: 1GiB, replicas: [busy]}
  - {uuid: 00000000-0000-4000-8000-000000000004, size: 1GiB, replicas: [busy]}`
				}
				s, _ := newTestSim(t, `
nodes: [{id: n1}, {id: n2}, {id: n3}]
pools:
  - {id: src, node: n1, capacity: 100GiB}`+tc.pools+`
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [src], published: true}`+occupants+"\n", WithSeed(seed))
				got := newPools(getVolume(t, s, vol1), mustSetCount(t, s, vol1, 2))
				if !slices.Equal(got, []string{tc.want}) {
					t.Fatalf("seed %d: new replica on %v, want [%s]", seed, got, tc.want)
				}
			}
		})
	}
}

func TestReplicaCountChangesByOneOnly(t *testing.T) {
	s, _ := newTestSim(t, `
nodes: [{id: n1}, {id: n2}, {id: n3}]
pools:
  - {id: p1, node: n1, capacity: 100GiB}
  - {id: p2, node: n2, capacity: 100GiB}
  - {id: p3, node: n3, capacity: 100GiB}
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [p1], published: true}
`)
	for _, n := range []int{3, 1, 0} {
		_, err := s.SetReplicaCount(vol1, n)
		ae := wantAPIError(t, err, http.StatusPreconditionFailed, mayastor.ErrorKindFailedPrecondition)
		t.Logf("count %d: %s", n, ae.Details)
	}
	if v := getVolume(t, s, vol1); v.Spec.NumReplicas != 1 || len(v.State.ReplicaTopology) != 1 {
		t.Fatalf("a refused change altered the volume: %+v", v.Spec)
	}
	mustSetCount(t, s, vol1, 2)
}

func TestIncreaseRequiresAnOnlineVolumeWithItsTarget(t *testing.T) {
	s, clk := newTestSim(t, `
nodes: [{id: n1}, {id: n2}, {id: n3}, {id: n4}]
pools:
  - {id: p1, node: n1, capacity: 100GiB}
  - {id: p2, node: n2, capacity: 100GiB}
  - {id: p3, node: n3, capacity: 100GiB}
  - {id: p4, node: n4, capacity: 100GiB}
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [p1, p2], published: true}
`)
	v := mustSetCount(t, s, vol1, 3) // the new replica rebuilds: Degraded
	if v.State.Status != mayastor.VolumeStatusDegraded {
		t.Fatalf("status %s while rebuilding, want Degraded", v.State.Status)
	}
	_, err := s.SetReplicaCount(vol1, 4)
	ae := wantAPIError(t, err, http.StatusPreconditionFailed, mayastor.ErrorKindFailedPrecondition)
	if want := fmt.Sprintf("Unable to increase replica count due to volume '%s' in state 'Degraded'", vol1); ae.Details != want {
		t.Fatalf("details %q, want %q", ae.Details, want)
	}
	clk.Step(time.Minute)
	// The target's node goes away: the spec's target no longer matches the state.
	if err := s.SetNodeOnline("n1", false); err != nil {
		t.Fatal(err)
	}
	_, err = s.SetReplicaCount(vol1, 4)
	wantAPIError(t, err, http.StatusServiceUnavailable, mayastor.ErrorKindUnavailable)
	if err := s.SetNodeOnline("n1", true); err != nil {
		t.Fatal(err)
	}
	clk.Step(time.Minute)
	if st := getVolume(t, s, vol1).State.Status; st != mayastor.VolumeStatusOnline {
		t.Fatalf("status %s after the node returned and rebuilt, want Online", st)
	}
	mustSetCount(t, s, vol1, 4)
}

// Pool labels steer placement only through the volume's inclusion labels
// (core/controller/scheduling/volume_policy/pool.rs:17-109), and they affect
// every volume.
func TestPoolLabelsSteerPlacementThroughInclusion(t *testing.T) {
	s, _ := newTestSim(t, `
nodes: [{id: n1}, {id: n2}, {id: n3}]
pools:
  - {id: p1, node: n1, capacity: 100GiB, labels: {openebs.io/created-by: operator-diskpool, tier: cold}}
  - {id: p2, node: n2, capacity: 10TiB, labels: {openebs.io/created-by: operator-diskpool, tier: cold}}
  - {id: p3, node: n3, capacity: 100GiB, labels: {openebs.io/created-by: operator-diskpool, tier: cold}}
volumes:
  - {uuid: `+vol1+`, size: 1GiB, replicas: [p1], published: true, inclusion: {tier: hot}}
`)
	_, err := s.SetReplicaCount(vol1, 2)
	wantAPIError(t, err, http.StatusInsufficientStorage, mayastor.ErrorKindResourceExhausted)

	_, err = s.LabelPool("p3", "tier", "hot", false)
	wantAPIError(t, err, http.StatusPreconditionFailed, mayastor.ErrorKindFailedPrecondition)
	_, err = s.LabelPool("p3", "tier", "cold", false)
	wantAPIError(t, err, http.StatusUnprocessableEntity, mayastor.ErrorKindAlreadyExists)
	p, err := s.LabelPool("p3", "tier", "hot", true)
	if err != nil || p.Spec.Labels["tier"] != "hot" {
		t.Fatalf("overwrite: %+v %v", p.Spec, err)
	}
	if got := newPools(getVolume(t, s, vol1), mustSetCount(t, s, vol1, 2)); !slices.Equal(got, []string{"p3"}) {
		t.Fatalf("new replica on %v, want [p3], the only pool labelled tier=hot", got)
	}
	_, err = s.UnlabelPool("p3", "openebs.io/created-by")
	wantAPIError(t, err, http.StatusBadRequest, mayastor.ErrorKindInvalidArgument)
	if _, err := s.UnlabelPool("p3", "tier"); err != nil {
		t.Fatal(err)
	}
	_, err = s.UnlabelPool("p3", "tier")
	wantAPIError(t, err, http.StatusPreconditionFailed, mayastor.ErrorKindFailedPrecondition)
}
