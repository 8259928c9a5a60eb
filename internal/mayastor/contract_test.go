package mayastor

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"k8s.io/utils/ptr"

	"github.com/billyronks/couchestor/internal/mayastor/mayastorspec"
)

// contractServer serves h behind the spec validator and collects every
// violation and the operation id of every request.
type contractServer struct {
	*httptest.Server
	mu         sync.Mutex
	violations []error
	ops        []string
}

func newContractServer(t *testing.T, spec *mayastorspec.Spec, h http.Handler) *contractServer {
	t.Helper()
	cs := &contractServer{}
	validated := spec.Handler(h, func(err error) {
		cs.mu.Lock()
		cs.violations = append(cs.violations, err)
		cs.mu.Unlock()
	})
	cs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if op := spec.OperationID(r); op != "" {
			cs.mu.Lock()
			cs.ops = append(cs.ops, op)
			cs.mu.Unlock()
		}
		validated.ServeHTTP(w, r)
	}))
	t.Cleanup(cs.Close)
	return cs
}

func (cs *contractServer) check(t *testing.T) {
	t.Helper()
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, v := range cs.violations {
		t.Errorf("off the Mayastor v0 spec: %v", v)
	}
}

// TestClientRequestsMatchSpec sends every request the client can make and
// validates method, path, parameters (max_entries included) and body against
// the upstream spec; the fixture's answers, built from this package's types,
// are validated too, so the types serialise the spec's shapes.
func TestClientRequestsMatchSpec(t *testing.T) {
	spec := mayastorspec.Load(t)
	f := newFixtureServer(5)
	cs := newContractServer(t, spec, f)
	c := newTestClient(t, cs.URL, Config{PageSize: 2})
	ctx := context.Background()
	id := fixtureUUID(1)
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	_, err := c.ListAllVolumes(ctx)
	must("list all volumes", err)
	_, err = c.ListVolumes(ctx, 0, 0)
	must("list volumes max_entries=0", err)
	_, err = c.GetVolume(ctx, id)
	must("get volume", err)
	_, err = c.SetReplicaCount(ctx, id, 2)
	must("set replica count", err)
	_, err = c.PublishVolume(ctx, id, PublishVolumeBody{Node: "io-engine-1", Protocol: VolumeShareProtocolNvmf})
	must("publish", err)
	_, err = c.PublishVolume(ctx, id, PublishVolumeBody{
		Node: "io-engine-2", Protocol: VolumeShareProtocolNvmf, Republish: ptr.To(true), ReuseExisting: ptr.To(false),
		FrontendNode: "worker-1", PublishContext: map[string]string{"io_timeout": "30"},
	})
	must("republish", err)
	_, err = c.UnpublishVolume(ctx, id, true)
	must("unpublish", err)
	_, err = c.GetRebuildHistory(ctx, id)
	must("rebuild history", err)
	_, err = c.ListPools(ctx)
	must("list pools", err)
	_, err = c.ListNodes(ctx)
	must("list nodes", err)
	_, err = c.GetNode(ctx, "io-engine-1")
	must("get node", err)
	_, err = c.CordonNode(ctx, "io-engine-2", "couchestor-migration-tm-1")
	must("cordon", err)
	_, err = c.UncordonNode(ctx, "io-engine-2", "couchestor-migration-tm-1")
	must("uncordon", err)
	if _, err := c.GetVolume(ctx, fixtureUUID(99)); !IsNotFound(err) {
		t.Fatalf("missing volume: %v", err)
	}
	cs.check(t)

	wantOps := []string{
		"get_volumes", "get_volume", "put_volume_replica_count", "put_volume_target", "del_volume_target",
		"get_rebuild_history", "get_pools", "get_nodes", "get_node",
		"put_node_cordon", "delete_node_cordon",
	}
	for _, op := range wantOps {
		if !slices.Contains(cs.ops, op) {
			t.Errorf("operation %s never called (called: %v)", op, cs.ops)
		}
	}
}

// TestContractCheckCatchesOffSpecRequests proves the contract check can fail.
func TestContractCheckCatchesOffSpecRequests(t *testing.T) {
	spec := mayastorspec.Load(t)
	cs := newContractServer(t, spec, newFixtureServer(1))
	for _, u := range []string{"/v0/volumes", "/v0/volumes/not-a-uuid"} {
		resp, err := http.Get(cs.URL + u)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if len(cs.violations) < 2 {
		t.Fatalf("off-spec requests not reported: %v", cs.violations)
	}
}

// TestTypesMarshalSpecShapes validates zero-ish values of the response
// types: required arrays and maps must be [] and {} rather than null.
func TestTypesMarshalSpecShapes(t *testing.T) {
	spec := mayastorspec.Load(t)
	id := fixtureUUID(1)
	cases := []struct {
		path string
		body any
	}{
		{"/v0/volumes?max_entries=10", Volumes{}},
		{"/v0/volumes/" + id, Volume{
			Spec:  VolumeSpec{UUID: id, Status: SpecStatusCreated, NumReplicas: 1, Size: 1, Topology: &Topology{PoolTopology: &PoolTopology{Labelled: &LabelledTopology{}}}},
			State: VolumeState{UUID: id, Status: VolumeStatusOnline, Size: 1, Target: &Nexus{UUID: id, Node: "n", State: NexusStateOnline, Protocol: ProtocolNvmf}},
		}},
		{"/v0/volumes/" + id + "/rebuild-history", RebuildHistory{TargetUUID: id}},
		{"/v0/pools/p", Pool{ID: "p", Spec: &PoolSpec{ID: "p", Node: "n", Status: SpecStatusCreated}, State: &PoolState{ID: "p", Node: "n", Status: PoolStatusOnline}}},
		{"/v0/nodes/n", Node{ID: "n", Spec: &NodeSpec{ID: "n", GRPCEndpoint: "e", CordonDrainState: &CordonDrainState{CordonedState: &CordonedState{}}}}},
	}
	for _, tc := range cases {
		b, err := json.Marshal(tc.body)
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest("GET", tc.path, nil)
		if err := spec.ValidateResponse(req, 200, http.Header{"Content-Type": {"application/json"}}, b); err != nil {
			t.Errorf("%T marshals off the spec: %v\n%s", tc.body, err, b)
		}
	}
}
