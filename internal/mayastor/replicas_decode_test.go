package mayastor_test

import (
	"bytes"
	"encoding/json"
	"maps"
	"strings"
	"testing"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// The lean count of GET /v0/replicas by pool is the count of the whole answer decoded by
// encoding/json, on the simulator's 10,000-volume scenario.
func TestDecodePoolCountsMatchesTheFullDecode(t *testing.T) {
	s := scaleSim(t)
	body, err := json.Marshal(s.Replicas())
	if err != nil {
		t.Fatal(err)
	}
	var full []mayastor.Replica
	if err := json.Unmarshal(body, &full); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	for _, r := range full {
		want[r.Pool]++
	}
	got, err := mayastor.DecodePoolCounts(strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	if len(full) < 10_000 || !maps.Equal(got, want) {
		t.Fatalf("counts %v, want %v (%d replicas)", got, want, len(full))
	}
}

// Escapes, nulls, nested values and keys in any order count as encoding/json reads them; an
// answer that is not a JSON array of objects is an error.
func TestDecodePoolCountsEdgeCases(t *testing.T) {
	body := `[{"uuid":"r1","pool":"p\"1","space":{"capacity_bytes":1,"x":[1,{"y":null}]},"allowed-hosts":["a"]},
	  {"pool":"p\"1","uuid":"r2","state":"Online"},
	  {"node":"n","pool":"p\u0032"},
	  {"uuid":"r4","pool":"p2","kind":"Regular"}]`
	got, err := mayastor.DecodePoolCounts(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{`p"1`: 2, "p2": 2}; !maps.Equal(got, want) {
		t.Fatalf("counts %v, want %v", got, want)
	}
	for _, bad := range []string{``, `{}`, `[1]`, `[{"pool":1}]`, `[{"pool":"a"}] x`, `[{"pool":"a"}`} {
		if _, err := mayastor.DecodePoolCounts(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: decoded without error", bad)
		}
	}
}

// BenchmarkCountReplicasByPool10k counts the GET /v0/replicas answer of 10,000 volumes by
// pool: "full" decodes it with encoding/json into []Replica and counts (what the Mover did
// before), "lean" is CountReplicasByPool's decode.
func BenchmarkCountReplicasByPool10k(b *testing.B) {
	s := scaleSim(b)
	body, err := json.Marshal(s.Replicas())
	if err != nil {
		b.Fatal(err)
	}
	b.Run("full", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var rs []mayastor.Replica
			if err := json.Unmarshal(body, &rs); err != nil {
				b.Fatal(err)
			}
			counts := map[string]int{}
			for _, r := range rs {
				counts[r.Pool]++
			}
		}
	})
	b.Run("lean", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := mayastor.DecodePoolCounts(bytes.NewReader(body)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
