package mayastor_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/sim"
)

// scaleSpecs encodes the simulator's 10,000-volume scenario's GET /v0/specs answer, with a
// few unowned replicas (created on a pool) at the map's end.
func scaleSpecs(tb testing.TB) []byte {
	tb.Helper()
	s := scaleSim(tb)
	pool := s.Specs().Pools[0].ID
	for _, id := range []string{"c0c4e570-0000-8000-8000-000000000001", "5b0c0a4e-1111-4222-8333-444455556666"} {
		if _, err := s.CreatePoolReplica(pool, id, sim.CreateReplicaRequest{Size: 4 << 20, Thin: true}); err != nil {
			tb.Fatal(err)
		}
	}
	body, err := json.Marshal(s.Specs())
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

// keptFields is what decodeReplicaSpecs keeps of a replica spec.
func keptFields(r mayastor.ReplicaSpec) mayastor.ReplicaSpec {
	return mayastor.ReplicaSpec{UUID: r.UUID, Pool: r.Pool, Share: r.Share, Managed: r.Managed, Thin: r.Thin, Size: r.Size,
		Owners: mayastor.ReplicaSpecOwners{Volume: r.Owners.Volume}}
}

// The lean decode of GET /v0/specs keeps every replica spec, in the answer's order, with the
// same kept fields as encoding/json decoding the whole answer.
func TestDecodeReplicaSpecsMatchesTheFullDecode(t *testing.T) {
	body := scaleSpecs(t)
	var full mayastor.Specs
	if err := json.Unmarshal(body, &full); err != nil {
		t.Fatal(err)
	}
	lean, err := mayastor.DecodeReplicaSpecs(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(lean) != len(full.Replicas) || len(lean) < 10_000 {
		t.Fatalf("%d replica specs decoded, the answer has %d", len(lean), len(full.Replicas))
	}
	unowned := 0
	for i := range lean {
		if want := keptFields(full.Replicas[i]); !reflect.DeepEqual(lean[i], want) {
			t.Fatalf("replica spec %d: %+v, want %+v", i, lean[i], want)
		}
		if lean[i].Owners.Volume == "" {
			unowned++
		}
	}
	if unowned != 2 {
		t.Fatalf("%d unowned replica specs, want the 2 created on a pool", unowned)
	}
}

// Escapes, nulls, unknown fields and keys in any order decode as encoding/json does; an
// answer that is not JSON of the Specs shape is an error.
func TestDecodeReplicaSpecsEdgeCases(t *testing.T) {
	body := `{"volumes":[{"uuid":"x","nested":{"a":[1,2,{"b":null}]}}],"replicas":[
	  {"uuid":"r\u0031","pool":"p\"1","share":"nvmf","managed":true,"thin":false,"size":1048576,
	   "owners":{"nexuses":["n1"],"volume":"v1"},"status":"Created","operation":{"operation":"Create","result":null},"extra":[true,false,-1.5e3]},
	  {"owners":null,"share":null,"pool":"p\"1","uuid":"r2","size":0,"managed":false,"thin":true},
	  {"uuid":"r3","pool":"p2","share":"iscsi","owners":{}}],
	  "nexuses":[],"pools":null}`
	var full mayastor.Specs
	if err := json.Unmarshal([]byte(body), &full); err != nil {
		t.Fatal(err)
	}
	lean, err := mayastor.DecodeReplicaSpecs(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(lean) != 3 {
		t.Fatalf("%d replica specs, want 3", len(lean))
	}
	for i := range lean {
		if want := keptFields(full.Replicas[i]); !reflect.DeepEqual(lean[i], want) {
			t.Errorf("replica spec %d: %+v, want %+v", i, lean[i], want)
		}
	}
	for _, bad := range []string{
		``, `[]`, `{"replicas":{}}`, `{"replicas":[{"uuid":1}]}`, `{"replicas":[{"managed":"yes"}]}`,
		`{"replicas":[{"size":-1}]}`, `{"replicas":[]} x`, `{"replicas":[{"uuid":"a"}`,
	} {
		if _, err := mayastor.DecodeReplicaSpecs(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: decoded without error", bad)
		}
	}
}

// BenchmarkDecodeSpecs10k decodes the GET /v0/specs answer of 10,000 volumes (11,002 replica
// specs): "full" as encoding/json into the replica specs (what GetReplicaSpecs did before),
// "lean" as GetReplicaSpecs does now.
func BenchmarkDecodeSpecs10k(b *testing.B) {
	body := scaleSpecs(b)
	b.Run("full", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var s struct {
				Replicas []mayastor.ReplicaSpec `json:"replicas"`
			}
			if err := json.Unmarshal(body, &s); err != nil || len(s.Replicas) == 0 {
				b.Fatal(err)
			}
		}
	})
	b.Run("lean", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			r, err := mayastor.DecodeReplicaSpecs(bytes.NewReader(body))
			if err != nil || len(r) == 0 {
				b.Fatal(err)
			}
		}
	})
}
