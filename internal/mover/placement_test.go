package mover

import (
	"github.com/billyronks/couchestor/internal/mayastor"
	"slices"
	"testing"
)

// Unit tests of the placement model (placement.go). Each row reproduces one
// of internal/sim/placement_test.go's scheduler tests, which in turn follow
// upstream (control-plane/agents/src/bin/core/controller/scheduling/volume_policy/
// node.rs:13-41,74-112, pool.rs:12-109, thick.rs:12-29,86-111,
// simple.rs:39-48,81-83,133-222 at c02e0cb).

const gib = uint64(1) << 30

// mpool is one pool of a model test: capacity and used in bytes.
type mpool struct {
	id, node       string
	capacity, used uint64
	status         mayastor.PoolStatus
	labels         map[string]string
	committed      *uint64
	replicas       int
}

type mcluster struct {
	pools    []mpool
	cordoned []string // nodes carrying a cordon label
	offline  []string
	nodeLbls map[string]map[string]string
}

// input builds a PlacementInput: a volume of size bytes with replicas on the
// given pools (by id).
func (c mcluster) input(size uint64, thin bool, replicaPools ...string) PlacementInput {
	in := PlacementInput{PoolReplicas: map[string]int{}}
	v := &mayastor.Volume{
		Spec:  mayastor.VolumeSpec{UUID: "v", Size: size, Thin: thin, NumReplicas: uint8(len(replicaPools))},
		State: mayastor.VolumeState{UUID: "v", Status: mayastor.VolumeStatusOnline, ReplicaTopology: map[string]mayastor.ReplicaTopology{}},
	}
	nodes := map[string]bool{}
	for _, p := range c.pools {
		st := p.status
		if st == "" {
			st = mayastor.PoolStatusOnline
		}
		in.Pools = append(in.Pools, mayastor.Pool{ID: p.id,
			Spec:  &mayastor.PoolSpec{ID: p.id, Node: p.node, Labels: p.labels},
			State: &mayastor.PoolState{ID: p.id, Node: p.node, Capacity: p.capacity, Used: p.used, Status: st, Committed: p.committed}})
		in.PoolReplicas[p.id] = p.replicas
		if slices.Contains(replicaPools, p.id) {
			v.State.ReplicaTopology["r-"+p.id] = mayastor.ReplicaTopology{Node: p.node, Pool: p.id, State: mayastor.ReplicaStateOnline}
		}
		if !nodes[p.node] {
			nodes[p.node] = true
			n := mayastor.Node{ID: p.node, Spec: &mayastor.NodeSpec{ID: p.node, Labels: c.nodeLbls[p.node]}, State: &mayastor.NodeState{ID: p.node, Status: mayastor.NodeStatusOnline}}
			if slices.Contains(c.offline, p.node) {
				n.State.Status = mayastor.NodeStatusOffline
			}
			if slices.Contains(c.cordoned, p.node) {
				n.Spec.CordonDrainState = &mayastor.CordonDrainState{CordonedState: &mayastor.CordonedState{CordonLabels: []string{"someone-else"}}}
			}
			in.Nodes = append(in.Nodes, n)
		}
	}
	in.Volume = v
	return in
}

func candidateIDs(in PlacementInput) []string {
	var out []string
	for _, p := range PlacementCandidates(in) {
		out = append(out, p.ID)
	}
	return out
}

func TestPlacementModelFilters(t *testing.T) {
	cases := []struct {
		name string
		// Upstream rule the row reproduces, and the sim test it comes from.
		c        mcluster
		size     uint64
		thin     bool
		on       []string // pools holding the volume's replicas
		want     []string // candidates, best first
		inclNode map[string]string
	}{
		{
			// node.rs:23-32: a node already holding a replica is never chosen
			// (sim TestIncreaseNeverUsesANodeThatHoldsAReplica).
			name: "node holding a replica",
			c: mcluster{pools: []mpool{
				{id: "n1-src", node: "n1", capacity: 100 * gib},
				{id: "n1-big", node: "n1", capacity: 10240 * gib},
				{id: "n2-small", node: "n2", capacity: 50 * gib, used: 30 * gib},
			}},
			size: 10 * gib, on: []string{"n1-src"}, want: []string{"n2-small"},
		},
		{
			// node.rs:13-41: cordoned and offline nodes are skipped
			// (sim TestIncreaseSkipsCordonedAndOfflineNodes).
			name: "cordoned and offline nodes",
			c: mcluster{cordoned: []string{"n2"}, offline: []string{"n3"}, pools: []mpool{
				{id: "p1", node: "n1", capacity: 100 * gib},
				{id: "p2", node: "n2", capacity: 1024 * gib},
				{id: "p3", node: "n3", capacity: 1024 * gib},
				{id: "p4", node: "n4", capacity: 100 * gib},
			}},
			size: gib, on: []string{"p1"}, want: []string{"p4"},
		},
		{
			// pool.rs:17-109: Faulted and Unknown pools are unusable
			// (sim TestIncreaseSkipsFaultedAndUnknownPools).
			name: "faulted and unknown pools",
			c: mcluster{pools: []mpool{
				{id: "p1", node: "n1", capacity: 100 * gib},
				{id: "p2", node: "n2", capacity: 1024 * gib, status: mayastor.PoolStatusFaulted},
				{id: "p3", node: "n3", capacity: 1024 * gib, status: mayastor.PoolStatusUnknown},
				{id: "p4", node: "n4", capacity: 100 * gib},
			}},
			size: gib, on: []string{"p1"}, want: []string{"p4"},
		},
		{
			// stor-port transport/pool.rs:122-151: Degraded sorts before Online
			// (sim TestDegradedPoolIsTriedBeforeOnlinePoolAsUpstream).
			name: "degraded before online",
			c: mcluster{pools: []mpool{
				{id: "p1", node: "n1", capacity: 100 * gib},
				{id: "p2", node: "n2", capacity: 1024 * gib},
				{id: "p3", node: "n3", capacity: 100 * gib, status: mayastor.PoolStatusDegraded},
			}},
			size: gib, on: []string{"p1"}, want: []string{"p3", "p2"},
		},
		{
			// thick.rs:22-29: a thick replica needs free space larger than the
			// volume (sim TestThickReplicaNeedsFreeSpaceLargerThanTheVolume).
			name: "thick free space",
			c: mcluster{pools: []mpool{
				{id: "p1", node: "n1", capacity: 100 * gib},
				{id: "exact", node: "n2", capacity: 100 * gib, used: 90 * gib},
				{id: "roomy", node: "n3", capacity: 100 * gib, used: 90*gib - 1},
			}},
			size: 10 * gib, on: []string{"p1"}, want: []string{"roomy"},
		},
		{
			// pool.rs: capacity must exceed the volume size.
			name: "capacity",
			c: mcluster{pools: []mpool{
				{id: "p1", node: "n1", capacity: 100 * gib},
				{id: "tiny", node: "n2", capacity: 10 * gib},
				{id: "ok", node: "n3", capacity: 11 * gib},
			}},
			size: 10 * gib, on: []string{"p1"}, want: []string{"ok"},
		},
		{
			// pool.rs: the pool spec must carry the volume's inclusion labels,
			// an empty value matching any (sim TestIncreaseHonoursPoolInclusionLabels).
			name: "inclusion labels",
			c: mcluster{pools: []mpool{
				{id: "hot-1", node: "n1", capacity: 100 * gib, labels: map[string]string{"tier": "hot"}},
				{id: "cold-2", node: "n2", capacity: 10240 * gib, labels: map[string]string{"tier": "cold"}},
				{id: "bare-3", node: "n3", capacity: 10240 * gib},
				{id: "hot-4", node: "n4", capacity: 100 * gib, labels: map[string]string{"tier": "hot"}},
			}},
			size: gib, on: []string{"hot-1"}, want: []string{"hot-4"}, inclNode: map[string]string{"tier": "hot"},
		},
		{
			name: "inclusion key with any value",
			c: mcluster{pools: []mpool{
				{id: "hot-1", node: "n1", capacity: 100 * gib, labels: map[string]string{"tier": "hot"}},
				{id: "cold-2", node: "n2", capacity: 10240 * gib, labels: map[string]string{"tier": "cold"}},
				{id: "bare-3", node: "n3", capacity: 10240 * gib},
				{id: "hot-4", node: "n4", capacity: 100 * gib, labels: map[string]string{"tier": "hot"}},
			}},
			size: gib, on: []string{"hot-1"}, want: []string{"cold-2", "hot-4"}, inclNode: map[string]string{"tier": ""},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.c.input(tc.size, tc.thin, tc.on...)
			if tc.inclNode != nil {
				in.Volume.Spec.Topology = &mayastor.Topology{PoolTopology: &mayastor.PoolTopology{Labelled: &mayastor.LabelledTopology{Inclusion: tc.inclNode}}}
			}
			if got := candidateIDs(in); !slices.Equal(got, tc.want) {
				t.Fatalf("candidates %v, want %v", got, tc.want)
			}
		})
	}
}

// pool.rs:12-15,44-49 and simple.rs:163-222: thin replicas need more than 16 MiB free,
// free space above min(allocated + 40 % of the size, size), and the pool's
// commitment after the replica below 250 % of its capacity (defaults: core/main.rs:141-164)
// (sim TestThinReplicaCommitmentAndFreeSpaceChecks, same numbers).
func TestPlacementModelThinChecks(t *testing.T) {
	u := func(n uint64) *uint64 { return &n }
	cases := []struct {
		name                      string
		size, allocated           uint64
		capacity, used, committed uint64
		fits                      bool
	}{
		{"commitment reached", 10 * gib, gib, 100 * gib, gib, 240 * gib, false},
		{"commitment below 250%", 10 * gib, gib, 100 * gib, gib, 239 * gib, true},
		{"free == allocated + 40% of size", 10 * gib, gib, 100 * gib, 95 * gib, 0, false},
		{"free > allocated + 40% of size", 10 * gib, gib, 100 * gib, 102005473279, 0, true},
		{"free at the 16MiB watermark", 20 << 20, 1, 100 * gib, 107357405184, 0, false},
		{"free above the watermark", 20 << 20, 1, 100 * gib, 107357405183, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := mcluster{pools: []mpool{
				{id: "p1", node: "n1", capacity: 100 * gib},
				{id: "cand", node: "n2", capacity: tc.capacity, used: tc.used, committed: u(tc.committed)},
			}}
			in := c.input(tc.size, true, "p1")
			for id, r := range in.Volume.State.ReplicaTopology {
				r.Usage = &mayastor.ReplicaUsage{Capacity: tc.size, Allocated: tc.allocated}
				in.Volume.State.ReplicaTopology[id] = r
			}
			got := candidateIDs(in)
			if fits := slices.Equal(got, []string{"cand"}); fits != tc.fits {
				t.Fatalf("candidates %v, want fits=%v", got, tc.fits)
			}
		})
	}
}

// thick.rs:12-13,86-111: fewer replicas weigh 40, more free space
// 60 (sim TestIncreaseSortsByReplicaCountAndFreeSpace, same pools).
func TestPlacementModelScore(t *testing.T) {
	cases := []struct {
		name  string
		pools []mpool
		want  string
	}{
		{"fewer replicas win over a little more free space", []mpool{
			{id: "busy", node: "n2", capacity: 1024 * gib, used: 3 * gib, replicas: 3},
			{id: "idle", node: "n3", capacity: 1024 * gib, used: 100 * gib},
		}, "idle"},
		{"far more free space outweighs one more replica", []mpool{
			{id: "idle", node: "n3", capacity: 1024 * gib, used: 924 * gib},
			{id: "busy", node: "n2", capacity: 1024 * gib, used: gib, replicas: 1},
		}, "busy"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := mcluster{pools: append([]mpool{{id: "src", node: "n1", capacity: 100 * gib}}, tc.pools...)}
			got := candidateIDs(c.input(gib, false, "src"))
			if len(got) == 0 || got[0] != tc.want {
				t.Fatalf("candidates %v, want %s first", got, tc.want)
			}
			// Both orders of the input give the same pick: not a tie.
			rev := c
			rev.pools = append([]mpool{c.pools[0]}, c.pools[2], c.pools[1])
			if got := candidateIDs(rev.input(gib, false, "src")); got[0] != tc.want {
				t.Fatalf("reversed input: candidates %v, want %s first", got, tc.want)
			}
		})
	}
}

// thin score (simple.rs:81-83,133-159): replicas 25, free space 40,
// over-commitment 35. Two pools equal in replicas and free space: the one
// less over-committed wins; with the thick weights the two would tie.
func TestPlacementModelThinScoreWeighsOverCommitment(t *testing.T) {
	u := func(n uint64) *uint64 { return &n }
	c := mcluster{pools: []mpool{
		{id: "src", node: "n1", capacity: 100 * gib},
		{id: "over", node: "n2", capacity: 100 * gib, used: 10 * gib, committed: u(200 * gib)},
		{id: "lean", node: "n3", capacity: 100 * gib, used: 10 * gib, committed: u(50 * gib)},
	}}
	if got := candidateIDs(c.input(gib, true, "src")); !slices.Equal(got, []string{"lean", "over"}) {
		t.Fatalf("thin candidates %v, want [lean over]", got)
	}
	if d := comparePoolsForPlacement(false, &c.input(gib, false).Pools[1], &c.input(gib, false).Pools[2], nil); d != 0 {
		t.Fatalf("thick weights should tie these pools, got %d", d)
	}
}

// The fewest-nodes rule for cordons (a cordon blocks placement on its node for
// every volume): a node is cordoned only if the scheduler would otherwise prefer one of
// its pools to every target pool.
func TestCordonPlanFewestNodes(t *testing.T) {
	hot := map[string]string{"tier": "hot"}
	cold := map[string]string{"tier": "cold"}
	t.Run("target already wins: no cordon", func(t *testing.T) {
		c := mcluster{pools: []mpool{
			{id: "sata-a", node: "sata-a", capacity: 2048 * gib, labels: cold},
			{id: "sata-b", node: "sata-b", capacity: 100 * gib, labels: cold},
			{id: "nvme-a", node: "nvme-a", capacity: 400 * gib, labels: hot},
		}}
		in := c.input(10*gib, false, "sata-a")
		nodes, _, predicted := cordonPlan(in, []*mayastor.Pool{&in.Pools[2]}, 0)
		if len(nodes) != 0 || !predicted {
			t.Fatalf("cordons %v (predicted %v), want none", nodes, predicted)
		}
	})
	t.Run("only the competitor that wins is cordoned", func(t *testing.T) {
		c := mcluster{pools: []mpool{
			{id: "sata-a", node: "sata-a", capacity: 2048 * gib, labels: cold},
			{id: "sata-b", node: "sata-b", capacity: 2048 * gib, labels: cold},
			{id: "sata-c", node: "sata-c", capacity: 100 * gib, labels: cold},
			{id: "nvme-a", node: "nvme-a", capacity: 200 * gib, labels: hot},
		}}
		in := c.input(10*gib, false, "sata-a")
		nodes, _, predicted := cordonPlan(in, []*mayastor.Pool{&in.Pools[3]}, 0)
		if !slices.Equal(nodes, []string{"sata-b"}) || !predicted {
			t.Fatalf("cordons %v (predicted %v), want [sata-b]", nodes, predicted)
		}
		in.Cordoned = map[string]bool{"sata-b": true}
		if got := candidateIDs(in); got[0] != "nvme-a" {
			t.Fatalf("after the plan the model picks %v", got)
		}
	})
	t.Run("a target sharing its node with a preferred pool cannot be made sure", func(t *testing.T) {
		c := mcluster{pools: []mpool{
			{id: "sata-1", node: "n1", capacity: 2048 * gib, labels: cold},
			{id: "nvme-2", node: "n2", capacity: 400 * gib, labels: hot},
			{id: "sata-2", node: "n2", capacity: 2048 * gib, labels: cold},
			{id: "nvme-3", node: "n3", capacity: 400 * gib, labels: hot},
			{id: "sata-3", node: "n3", capacity: 2048 * gib, labels: cold},
			{id: "sata-4", node: "n4", capacity: 2048 * gib, labels: cold},
		}}
		in := c.input(10*gib, false, "sata-1")
		targets := []*mayastor.Pool{&in.Pools[1], &in.Pools[3]}
		first, steer, predicted := cordonPlan(in, targets, 0)
		if predicted {
			t.Fatalf("predicted a sure placement with %v", first)
		}
		second, _, _ := cordonPlan(in, targets, 1)
		if !slices.Equal(first, []string{"n3", "n4"}) || !slices.Equal(second, []string{"n2", "n4"}) {
			t.Fatalf("attempt 0 cordons %v, attempt 1 %v: want one target node left open, a different one each attempt", first, second)
		}
		// 2048 GiB against 400 GiB free is more than 5x: the replica-count term (40 of 100 for a
		// thick volume) cannot overturn it, however many placeholders.
		if len(steer) != 0 {
			t.Fatalf("placeholders %v planned where none can make the target win", steer)
		}
	})
	// A placeholder counts as a replica on its pool in the scheduler's score
	// (control-plane/agents/src/bin/core/controller/scheduling/volume_policy/thick.rs:12-13
	// weighs the replica count 40 and free space 60; pairwise shares,
	// utils/weighted-scoring/src/value.rs:19-38): one on the competing pool
	// makes the target on the same node win when the free-space advantage is
	// small enough.
	t.Run("placeholders on the competing pool of the target's node make it win", func(t *testing.T) {
		c := mcluster{pools: []mpool{
			{id: "sata-1", node: "n1", capacity: 1024 * gib, labels: cold},
			{id: "nvme-2", node: "n2", capacity: 400 * gib, labels: hot},
			{id: "sata-2", node: "n2", capacity: 1024 * gib, labels: cold},
			{id: "nvme-3", node: "n3", capacity: 400 * gib, labels: hot},
			{id: "sata-3", node: "n3", capacity: 1024 * gib, labels: cold},
			{id: "sata-4", node: "n4", capacity: 1024 * gib, labels: cold},
		}}
		in := c.input(10*gib, false, "sata-1")
		targets := []*mayastor.Pool{&in.Pools[1], &in.Pools[3]}
		nodes, steer, predicted := cordonPlan(in, targets, 0)
		if !predicted || !slices.Equal(nodes, []string{"n3", "n4"}) || !slices.Equal(steer, []string{"sata-2"}) {
			t.Fatalf("cordons %v, placeholders %v (predicted %v); want n3, n4 cordoned and one placeholder on sata-2", nodes, steer, predicted)
		}
		in.Cordoned = map[string]bool{"n3": true, "n4": true}
		if got := candidateIDs(in); got[0] != "sata-2" {
			t.Fatalf("setup: without the placeholder the model picks %v", got)
		}
		in.PoolReplicas = map[string]int{"sata-2": 1}
		if got := candidateIDs(in); got[0] != "nvme-2" {
			t.Fatalf("with one placeholder on sata-2 the model picks %v", got)
		}
	})
}
