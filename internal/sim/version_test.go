package sim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// Each node's io-engine version is reported in GET /v0/nodes, in the spec and the state, as the
// scenario names it or DefaultIOEngineVersion.
func TestNodesReportTheirIOEngineVersion(t *testing.T) {
	s, _ := newTestSim(t, `
nodes:
  - id: n1
  - id: n2
    version: v2.5.1
pools:
  - {id: p1, node: n1, capacity: 1GiB}
`)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/v0/nodes")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var nodes []mayastor.Node
	if err := json.NewDecoder(resp.Body).Decode(&nodes); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"n1": DefaultIOEngineVersion, "n2": "v2.5.1"}
	if len(nodes) != len(want) {
		t.Fatalf("got %d nodes, want %d", len(nodes), len(want))
	}
	for _, n := range nodes {
		if n.Spec == nil || n.State == nil || n.Spec.Version != want[n.ID] || n.State.Version != want[n.ID] {
			t.Errorf("node %s reports spec %+v state %+v, want version %q in both", n.ID, n.Spec, n.State, want[n.ID])
		}
	}
}
