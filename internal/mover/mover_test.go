package mover

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/billyronks/couchestor/internal/mayastor"
	"k8s.io/apimachinery/pkg/labels"
)

// vol builds a published volume whose nexus is on nexusNode ("" for
// unpublished) from replica specs "id@node:childState[:progress]".
func vol(nexusNode string, replicas ...string) *mayastor.Volume {
	v := &mayastor.Volume{Spec: mayastor.VolumeSpec{UUID: "v", NumReplicas: uint8(len(replicas))},
		State: mayastor.VolumeState{UUID: "v", Status: mayastor.VolumeStatusOnline, ReplicaTopology: map[string]mayastor.ReplicaTopology{}}}
	if nexusNode != "" {
		v.State.Target = &mayastor.Nexus{Node: nexusNode, State: mayastor.NexusStateOnline}
	}
	for _, r := range replicas {
		id, rest, _ := strings.Cut(r, "@")
		parts := strings.Split(rest, ":")
		rt := mayastor.ReplicaTopology{Node: parts[0], Pool: "pool-" + parts[0], State: mayastor.ReplicaStateOnline}
		if len(parts) > 1 {
			rt.ChildStatus = mayastor.ChildState(parts[1])
		}
		if len(parts) > 2 {
			var p int
			_, _ = fmt.Sscan(parts[2], &p)
			rt.RebuildProgress = &p
		}
		v.State.ReplicaTopology[id] = rt
		if nexusNode != "" {
			ch := mayastor.Child{URI: "nvmf://" + id, State: rt.ChildStatus, RebuildProgress: rt.RebuildProgress}
			v.State.Target.Children = append(v.State.Target.Children, ch)
		}
	}
	return v
}

func TestRemovalCandidatesFollowTheCoreAgentRanking(t *testing.T) {
	cases := []struct {
		name string
		v    *mayastor.Volume
		want []string
	}{
		{"rebuilding new replica goes first", vol("a", "src@a:Online", "new@b:Degraded:40"), []string{"new"}},
		{"nexus-local replica is protected", vol("a", "src@a:Online", "new@b:Online"), []string{"new"}},
		{"republished: the source is now remote", vol("b", "src@a:Online", "new@b:Online"), []string{"src"}},
		{"remote ties are all candidates", vol("c", "s1@a:Online", "s2@b:Online", "new@c:Online", "s3@d:Online"), []string{"s1", "s2", "s3"}},
		{"faulted before degraded", vol("a", "x@a:Online", "y@b:Degraded", "z@c:Faulted"), []string{"z"}},
		{"unpublished: all tie", vol("", "x@a", "y@b"), []string{"x", "y"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := removalCandidates(tc.v); !slices.Equal(got, tc.want) {
				t.Fatalf("candidates %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSyncFromVolume(t *testing.T) {
	cases := []struct {
		name     string
		v        *mayastor.Volume
		done     bool
		progress int
		failed   string
	}{
		{"rebuilding", vol("a", "src@a:Online", "new@b:Degraded:40"), false, 40, ""},
		{"child not yet online", vol("a", "src@a:Online", "new@b:Degraded"), false, 0, ""},
		{"rebuilt", vol("a", "src@a:Online", "new@b:Online"), true, 100, ""},
		{"gone", vol("a", "src@a:Online"), false, 0, "no longer part"},
		{"faulted", vol("a", "src@a:Online", "new@b:Faulted"), false, 0, "faulted"},
		{"unpublished", vol("", "src@a", "new@b"), false, 0, "unpublished"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := syncFromVolume(tc.v, "new")
			if st.Done != tc.done || st.Progress != tc.progress || (tc.failed == "") != (st.Failed == "") ||
				!strings.Contains(st.Failed, tc.failed) {
				t.Fatalf("got %+v", st)
			}
		})
	}
	// Another child still rebuilding keeps the move waiting.
	v := vol("a", "src@a:Online", "new@b:Online", "other@c:Degraded:10")
	if st := syncFromVolume(v, "new"); st.Done {
		t.Fatalf("done while another child rebuilds: %+v", st)
	}
	v = vol("a", "src@a:Online", "new@b:Online")
	v.State.Status = mayastor.VolumeStatusDegraded
	if st := syncFromVolume(v, "new"); st.Done {
		t.Fatal("done while the volume is Degraded")
	}
	// Done means exactly what ScaleDown will demand (healthProblem at the volume's count):
	// another replica not Online, or a count the topology does not show, keeps it waiting.
	v = vol("a", "src@a:Online", "new@b:Online")
	r := v.State.ReplicaTopology["src"]
	r.State = mayastor.ReplicaStateUnknown
	v.State.ReplicaTopology["src"] = r
	if st := syncFromVolume(v, "new"); st.Done || healthProblemReason(v) == "" {
		t.Fatalf("done while another replica is %s: %+v", r.State, st)
	}
	v = vol("a", "src@a:Online", "new@b:Online")
	v.Spec.NumReplicas = 3
	if st := syncFromVolume(v, "new"); st.Done {
		t.Fatalf("done with num_replicas 3 and 2 replicas: %+v", st)
	}
}

func healthProblemReason(v *mayastor.Volume) Reason {
	r, _ := healthProblem(v, int(v.Spec.NumReplicas))
	return r
}

func TestHealthProblem(t *testing.T) {
	if r, d := healthProblem(vol("a", "x@a:Online", "y@b:Online"), 2); r != "" {
		t.Fatalf("healthy volume refused: %s %s", r, d)
	}
	if r, _ := healthProblem(vol("a", "x@a:Online", "y@b:Degraded:5"), 2); r != ReasonRebuildInProgress {
		t.Fatalf("rebuild not detected: %s", r)
	}
	if r, _ := healthProblem(vol("a", "x@a:Online"), 2); r != ReasonVolumeNotHealthy {
		t.Fatalf("missing replica not detected: %s", r)
	}
	v := vol("a", "x@a:Online")
	v.State.Status = mayastor.VolumeStatusDegraded
	if r, _ := healthProblem(v, 1); r != ReasonVolumeNotHealthy {
		t.Fatalf("degraded volume not detected: %s", r)
	}
}

func TestHasRoomKeepsHeadroom(t *testing.T) {
	m := NewMover(nil, MoverOptions{HeadroomPercent: 10})
	pool := func(capacity, used uint64) *mayastor.Pool {
		return &mayastor.Pool{ID: "p", State: &mayastor.PoolState{Capacity: capacity, Used: used, Status: mayastor.PoolStatusOnline}}
	}
	cases := []struct {
		capacity, used, size uint64
		want                 bool
	}{
		{1000, 0, 100, true},
		{1000, 800, 100, true},  // 900 ≤ 90%
		{1000, 801, 100, false}, // past the headroom
		{1000, 900, 100, false}, // free == size: the scheduler needs more
		{1000, 1200, 1, false},  // over-used pool
	}
	for _, tc := range cases {
		if got := m.hasRoom(pool(tc.capacity, tc.used), tc.size); got != tc.want {
			t.Errorf("capacity %d used %d size %d: room %v, want %v", tc.capacity, tc.used, tc.size, got, tc.want)
		}
	}
}

func TestCordonLabelFor(t *testing.T) {
	l := CordonLabelFor("Default/TM_1 x")
	if l != "couchestor-migration-default-tm-1-x" {
		t.Fatalf("label %q", l)
	}
	if long := CordonLabelFor(strings.Repeat("a", 100)); len(long) != 63 {
		t.Fatalf("label length %d", len(long))
	}
	if CordonLabelFor("a") == CordonLabelFor("b") {
		t.Fatal("labels of distinct migrations collide")
	}
}

func TestRefusalErrorMatching(t *testing.T) {
	err := fmt.Errorf("phase Analyze: %w", refuse("v1", ReasonUnpublished, "no target"))
	if !errors.Is(err, ErrUnpublished) || errors.Is(err, ErrNexusLocalSource) {
		t.Fatal("errors.Is does not match by reason")
	}
	var re *RefusalError
	if !errors.As(err, &re) || re.VolumeID != "v1" || re.Reason != ReasonUnpublished {
		t.Fatalf("errors.As: %+v", re)
	}
	if got := re.Error(); got != "mayastor: volume v1: VolumeUnpublished: no target" {
		t.Fatalf("text %q", got)
	}
}

func TestPlanRoundTripsThroughJSON(t *testing.T) {
	p := Plan{
		MigrationID: "tm-1", VolumeID: "v", TargetSelector: "tier=hot", SourceSelector: "tier=cold",
		Replicas: 2, VolumeSize: 10, BaseReplicaIDs: []string{"a", "b"},
		SourceReplicas: []ReplicaRef{{ID: "a", Node: "n1", Pool: "p1"}},
		NewReplica:     &ReplicaRef{ID: "c", Node: "n3", Pool: "p3"},
		CordonLabel:    "couchestor-migration-tm-1", Cordons: []Cordon{{Node: "n2", Label: "couchestor-migration-tm-1"}},
		PlacementAttempts: 1, RemovalAttempts: 2,
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back Plan
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p, back) {
		t.Fatalf("round trip lost data:\n%+v\n%+v", p, back)
	}
	if _, err := labels.Parse(back.TargetSelector); err != nil {
		t.Fatalf("persisted selector does not parse: %v", err)
	}
}

func TestPlanDeepCopySharesNothing(t *testing.T) {
	p := Plan{BaseReplicaIDs: []string{"a"}, SourceReplicas: []ReplicaRef{{ID: "a"}}, MovedReplicas: []ReplicaRef{{ID: "m"}},
		RemovedSourceReplicas: []ReplicaRef{{ID: "r"}}, PreservedSourceReplicas: []ReplicaRef{{ID: "k"}},
		TargetPools: []string{"p"}, Cordons: []Cordon{{Node: "n"}}, NewReplica: &ReplicaRef{ID: "x"}}
	q := *p.DeepCopy()
	q.BaseReplicaIDs[0], q.SourceReplicas[0].ID, q.MovedReplicas[0].ID = "z", "z", "z"
	q.RemovedSourceReplicas[0].ID, q.PreservedSourceReplicas[0].ID = "z", "z"
	q.TargetPools[0], q.Cordons[0].Node, q.NewReplica.ID = "z", "z", "z"
	if !reflect.DeepEqual(p, Plan{BaseReplicaIDs: []string{"a"}, SourceReplicas: []ReplicaRef{{ID: "a"}}, MovedReplicas: []ReplicaRef{{ID: "m"}},
		RemovedSourceReplicas: []ReplicaRef{{ID: "r"}}, PreservedSourceReplicas: []ReplicaRef{{ID: "k"}},
		TargetPools: []string{"p"}, Cordons: []Cordon{{Node: "n"}}, NewReplica: &ReplicaRef{ID: "x"}}) {
		t.Fatalf("copy shares memory with the original: %+v", p)
	}
}
