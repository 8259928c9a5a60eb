package sim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/mayastor/mayastorspec"
)

// TestContractResponsesMatchTheUpstreamSpec drives the simulator through
// every endpoint it serves, in every state the model has (published,
// rebuilding, degraded, unpublished, node down, errors), and validates each
// answer against the upstream OpenAPI document. It skips when the spec file
// is absent ($MAYASTOR_OPENAPI_SPEC or <repo>/../shared/mayastor/v0_api_spec.yaml).
func TestContractResponsesMatchTheUpstreamSpec(t *testing.T) {
	spec := mayastorspec.Load(t)
	sc, err := LoadScenario("small")
	if err != nil {
		t.Fatal(err)
	}
	s, clk := newTestSimFromScenario(t, sc)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	const (
		published   = "0c4f3a52-7d1e-4b6a-9a0e-000000000001"
		twoReplicas = "0c4f3a52-7d1e-4b6a-9a0e-000000000002"
		unpublished = "0c4f3a52-7d1e-4b6a-9a0e-000000000011"
		missing     = "0c4f3a52-7d1e-4b6a-9a0e-0000000000ff"
	)
	checked := map[string]bool{}
	// validateAs, when set, is a same-shaped request the spec router can
	// route, used to validate an answer the router cannot match itself.
	var validateAs *http.Request
	call := func(method, path, body string, want int, validRequest bool) []byte {
		t.Helper()
		var rd io.Reader
		var raw []byte
		if body != "" {
			raw = []byte(body)
			rd = bytes.NewReader(raw)
		}
		req, err := http.NewRequest(method, srv.URL+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if validRequest {
			if err := spec.ValidateRequest(req, raw); err != nil {
				t.Fatalf("test request off the spec: %v", err)
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, got, want)
		}
		vreq := req
		if validateAs != nil {
			vreq = validateAs
		}
		if err := spec.ValidateResponse(vreq, resp.StatusCode, resp.Header, got); err != nil {
			t.Errorf("%v\nbody: %s", err, got)
		}
		checked[spec.OperationID(req)] = true
		return got
	}
	publishBody := func(node string, republish bool) string {
		b, _ := json.Marshal(mayastor.PublishVolumeBody{Node: node, Protocol: mayastor.VolumeShareProtocolNvmf,
			Republish: &republish, PublishContext: map[string]string{"ioTimeout": "30"}})
		return string(b)
	}

	// Listing, paginated and not; the 400 of a request without max_entries.
	call("GET", "/v0/volumes?max_entries=0", "", 200, true)
	call("GET", "/v0/volumes?max_entries=5", "", 200, true)
	call("GET", "/v0/volumes?max_entries=5&starting_token=10", "", 200, true)
	call("GET", "/v0/volumes?max_entries=1&volume_id="+missing, "", 200, true)
	call("GET", "/v0/volumes", "", 400, false)
	call("GET", "/v0/volumes/"+published, "", 200, true)
	call("GET", "/v0/volumes/"+unpublished, "", 200, true)
	call("GET", "/v0/volumes/"+missing, "", 404, true)
	call("GET", "/v0/volumes/not-a-uuid", "", 400, false)

	// Scale up a published volume: rebuilding, Degraded, progress visible.
	call("PUT", "/v0/volumes/"+twoReplicas+"/replica_count/3", "", 200, true)
	clk.Step(30 * time.Second)
	call("GET", "/v0/volumes/"+twoReplicas, "", 200, true)
	call("PUT", "/v0/volumes/"+twoReplicas+"/replica_count/4", "", 412, true)
	call("GET", "/v0/volumes/"+twoReplicas+"/rebuild-history", "", 200, true)
	clk.Step(5 * time.Minute)
	call("GET", "/v0/volumes/"+twoReplicas+"/rebuild-history", "", 200, true)
	call("PUT", "/v0/volumes/"+twoReplicas+"/replica_count/2", "", 200, true)
	call("PUT", "/v0/volumes/"+twoReplicas+"/replica_count/2", "", 412, true)
	call("PUT", "/v0/volumes/"+missing+"/replica_count/2", "", 404, true)
	// Every node holds a replica of this 3-replica volume: no pool left.
	call("PUT", "/v0/volumes/0c4f3a52-7d1e-4b6a-9a0e-000000000007/replica_count/4", "", 507, true)

	// Publish, republish, unpublish; the unpublished volume's history.
	call("GET", "/v0/volumes/"+unpublished+"/rebuild-history", "", 412, true)
	call("PUT", "/v0/volumes/"+unpublished+"/target", publishBody("io-engine-1", false), 200, true)
	call("PUT", "/v0/volumes/"+unpublished+"/target", publishBody("io-engine-2", false), 412, true)
	call("PUT", "/v0/volumes/"+unpublished+"/target", publishBody("io-engine-2", true), 200, true)
	call("PUT", "/v0/volumes/"+unpublished+"/target", publishBody("io-engine-9", true), 404, true)
	call("PUT", "/v0/volumes/"+unpublished+"/target", `{"protocol": "nvmf"}`, 400, false)
	call("DELETE", "/v0/volumes/"+unpublished+"/target", "", 200, true)
	call("DELETE", "/v0/volumes/"+unpublished+"/target?force=true", "", 412, true)

	// Pools, nodes, cordons, replicas.
	call("GET", "/v0/pools", "", 200, true)
	call("GET", "/v0/pools/pool-nvme-1", "", 200, true)
	call("GET", "/v0/pools/nope", "", 404, true)
	// The spec router cannot match the path template .../label/{key}={value}
	// (one segment holding two parameters): validate those answers as
	// get_pool's, which has the same 200 (Pool) and 4XX (RestJsonError) shapes.
	validateAs, _ = http.NewRequest("GET", srv.URL+"/v0/pools/pool-nvme-1", nil)
	call("PUT", "/v0/pools/pool-nvme-1/label/rack=r1", "", 200, false)
	call("PUT", "/v0/pools/pool-nvme-1/label/rack=r2", "", 412, false)
	call("PUT", "/v0/pools/pool-nvme-1/label/rack=r2?overwrite=true", "", 200, false)
	validateAs = nil
	checked["put_pool_label"] = true
	call("DELETE", "/v0/pools/pool-nvme-1/label/rack", "", 200, true)
	call("DELETE", "/v0/pools/pool-nvme-1/label/rack", "", 412, true)
	call("GET", "/v0/nodes", "", 200, true)
	call("GET", "/v0/nodes?node_id=io-engine-2", "", 200, true)
	call("GET", "/v0/nodes/io-engine-1", "", 200, true)
	call("GET", "/v0/nodes/nope", "", 404, true)
	call("GET", "/v0/nodes/io-engine-1/pools", "", 200, true)
	call("PUT", "/v0/nodes/io-engine-1/cordon/migration-1", "", 200, true)
	call("PUT", "/v0/nodes/io-engine-1/cordon/migration-1", "", 412, true)
	call("GET", "/v0/nodes/io-engine-1", "", 200, true)
	call("DELETE", "/v0/nodes/io-engine-1/cordon/migration-1", "", 200, true)
	call("DELETE", "/v0/nodes/io-engine-1/cordon/migration-1", "", 412, true)
	call("GET", "/v0/replicas", "", 200, true)
	call("GET", "/v0/replicas/"+missing, "", 404, true)
	// The core agent's specs, replicas in its map order (published, shared
	// and unshared replicas, a nexus per published volume).
	call("GET", "/v0/specs", "", 200, true)

	// Replicas created directly on a pool: unmanaged, no owners; their errors.
	const (
		placeholder = "0c4f3a52-7d1e-4b6a-9a0e-0000000000a1"
		other       = "0c4f3a52-7d1e-4b6a-9a0e-0000000000a2"
		onNode      = "0c4f3a52-7d1e-4b6a-9a0e-0000000000a3"
		fresh       = "0c4f3a52-7d1e-4b6a-9a0e-0000000000a4"
		small       = `{"size": 8388608, "thin": false}`
	)
	call("PUT", "/v0/pools/pool-nvme-1/replicas/"+placeholder,
		`{"size": 8388608, "thin": false, "share": "nvmf", "allowed-hosts": ["nqn.2014-08.org.nvmexpress:uuid:1"]}`, 200, true)
	call("PUT", "/v0/pools/pool-nvme-1/replicas/"+placeholder, small, 422, true)
	call("PUT", "/v0/pools/nope/replicas/"+other, small, 404, true)
	call("PUT", "/v0/pools/pool-nvme-1/replicas/"+other, `{"size": 8388608}`, 400, false)
	call("PUT", "/v0/pools/pool-nvme-1/replicas/"+other, `{"size": 8388608, "thin": false, "share": "iscsi"}`, 400, false)
	call("PUT", "/v0/pools/pool-nvme-1/replicas/not-a-uuid", small, 400, false)
	call("PUT", "/v0/pools/pool-nvme-1/replicas/"+other, `{"size": 2199023255552, "thin": true}`, 400, true)
	if err := s.FillPool("pool-nvme-3", 1023<<30); err != nil {
		t.Fatal(err)
	}
	call("PUT", "/v0/pools/pool-nvme-3/replicas/"+other, `{"size": 2147483648, "thin": false}`, 507, true)
	call("PUT", "/v0/pools/pool-nvme-2/replicas/"+other, small, 409, true) // its spec is Deleting
	call("GET", "/v0/replicas/"+placeholder, "", 200, true)
	call("GET", "/v0/replicas", "", 200, true)
	call("GET", "/v0/specs", "", 200, true) // an unmanaged spec and a Deleting one
	call("PUT", "/v0/nodes/io-engine-2/pools/pool-nvme-2/replicas/"+onNode, small, 200, true)
	call("PUT", "/v0/nodes/io-engine-2/pools/pool-nvme-1/replicas/"+fresh, small, 404, true)
	call("PUT", "/v0/nodes/io-engine-2/cordon/migration-2", "", 200, true)
	call("PUT", "/v0/pools/pool-nvme-2/replicas/"+other, small, 412, true)
	call("DELETE", "/v0/nodes/io-engine-2/cordon/migration-2", "", 200, true)
	volReplica := replicaOnPool(getVolume(t, s, published), "pool-sata-1")
	call("DELETE", "/v0/pools/pool-sata-1/replicas/"+volReplica, "", 409, true)
	call("DELETE", "/v0/nodes/io-engine-1/pools/pool-nvme-2/replicas/"+onNode, "", 412, true)
	call("DELETE", "/v0/nodes/io-engine-2/pools/pool-nvme-2/replicas/"+onNode, "", 204, true)
	call("DELETE", "/v0/nodes/nope/pools/pool-nvme-2/replicas/"+onNode, "", 404, true)
	call("DELETE", "/v0/pools/pool-nvme-1/replicas/"+placeholder, "", 204, true)
	call("DELETE", "/v0/pools/pool-nvme-1/replicas/"+placeholder, "", 404, true)
	call("DELETE", "/v0/pools/pool-nvme-1/replicas/not-a-uuid", "", 400, false)

	// A node down: its pools lose their state, volumes targeted there are Unknown.
	if err := s.SetNodeOnline("io-engine-1", false); err != nil {
		t.Fatal(err)
	}
	call("GET", "/v0/pools", "", 200, true)
	call("GET", "/v0/nodes", "", 200, true)
	call("GET", "/v0/volumes?max_entries=0", "", 200, true)
	call("PUT", "/v0/volumes/"+published+"/replica_count/2", "", 503, true)
	call("DELETE", "/v0/volumes/"+published+"/target", "", 412, true)
	call("DELETE", "/v0/volumes/"+published+"/target?force=true", "", 200, true)

	// An injected fault answers with a spec-shaped error.
	if err := s.InjectFault(Fault{Operation: "get_pools", Mode: FaultStatus, Count: 1}); err != nil {
		t.Fatal(err)
	}
	call("GET", "/v0/pools", "", 503, true)

	for _, op := range []string{"get_volumes", "get_volume", "put_volume_replica_count", "put_volume_target",
		"del_volume_target", "get_rebuild_history", "get_pools", "get_pool", "get_nodes", "get_node",
		"get_node_pools", "put_node_cordon", "delete_node_cordon", "get_replicas", "get_replica",
		"put_pool_label", "del_pool_label", "get_specs", "put_pool_replica", "del_pool_replica",
		"put_node_pool_replica", "del_node_pool_replica"} {
		if !checked[op] {
			t.Errorf("operation %s was not exercised", op)
		}
	}
}
