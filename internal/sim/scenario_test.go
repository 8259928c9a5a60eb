package sim

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/billyronks/couchestor/internal/mayastor"
)

func TestEmbeddedSmallScenarioHasWorkForATieringOperator(t *testing.T) {
	sc, err := LoadScenario("small")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(sc)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Nodes()) != 3 {
		t.Fatalf("%d nodes, want 3", len(s.Nodes()))
	}
	pools, _ := s.Pools("")
	tiers := map[string]string{}
	for _, p := range pools {
		tiers[p.ID] = p.Spec.Labels["tier"]
	}
	vols := s.ListVolumes(0, 0).Entries
	if len(vols) != 14 {
		t.Fatalf("%d volumes, want 14", len(vols))
	}
	fams := scrape(t, s, "")
	rate := map[string]float64{}
	s.mu.Lock()
	for _, v := range s.volumes {
		if v.io.model != nil {
			r, w := v.io.model.rates(0)
			rate[v.uuid] = r + w
		}
	}
	s.mu.Unlock()
	hotOnCold, coldOnHot := 0, 0
	for _, v := range vols {
		onHot := true
		for _, r := range v.State.ReplicaTopology {
			onHot = onHot && tiers[r.Pool] == "hot"
		}
		iops := rate[v.Spec.UUID]
		switch {
		case iops > 1000 && !onHot:
			hotOnCold++
		case iops < 50 && onHot:
			coldOnHot++
		}
		if v.State.Status != mayastor.VolumeStatusOnline {
			t.Errorf("volume %s starts %s, want Online", v.Spec.UUID, v.State.Status)
		}
	}
	if hotOnCold < 3 || coldOnHot < 3 {
		t.Fatalf("hot volumes on SATA: %d, cold on NVMe: %d; want several of each", hotOnCold, coldOnHot)
	}
	if len(samples(fams, "volume_num_read_ops")) != 13 {
		t.Fatalf("want 13 published volumes exported")
	}
}

func TestEmbeddedScaleScenario(t *testing.T) {
	sc, err := LoadScenario("scale-10k.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(sc)
	if err != nil {
		t.Fatal(err)
	}
	if n := s.VolumeCount(); n != 10000 {
		t.Fatalf("%d volumes, want 10000", n)
	}
	page := s.ListVolumes(1000, 9500)
	if len(page.Entries) != 500 || page.NextToken != nil {
		t.Fatalf("last page: %d entries, next %v", len(page.Entries), page.NextToken)
	}
	// Same seed, same cluster.
	s2, _ := New(sc)
	if a, b := s.ListVolumes(1, 0).Entries[0].Spec.UUID, s2.ListVolumes(1, 0).Entries[0].Spec.UUID; a != b {
		t.Fatalf("the same scenario produced different uuids %s and %s", a, b)
	}
}

func TestScenarioFromPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mine.yaml")
	if err := os.WriteFile(path, []byte("nodes: [{id: a}]\npools: [{id: p, node: a, capacity: 1GiB}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadScenario(path); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadScenario(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "small") {
		t.Fatalf("missing scenario: %v, want an error naming the embedded ones", err)
	}
}

func TestMalformedScenarioNamesFileLineAndField(t *testing.T) {
	cases := []struct {
		name, doc string
		line      int
		field     string
		msg       string
	}{
		{"unknown field", `
nodes: [{id: n1}]
pools:
  - id: p1
    node: n1
    capcity: 1GiB
`, 6, "pools[0].capcity", "unknown field"},
		{"bad size", `
nodes: [{id: n1}]
pools:
  - {id: p1, node: n1, capacity: lots}
`, 4, "pools[0].capacity", "want a size"},
		{"wrong type", `
seed: [1, 2]
`, 2, "seed", "want a single value"},
		{"not a number", `
nodes: [{id: n1}]
pools: [{id: p1, node: n1, capacity: 1GiB}]
volumes:
  - {size: 1GiB, replicas: [p1], num_replicas: two}
`, 5, "volumes[0].num_replicas", "cannot unmarshal"},
		{"unknown node", `
nodes: [{id: n1}]
pools:
  - {id: p1, node: n1, capacity: 1GiB}
  - {id: p2, node: n9, capacity: 1GiB}
`, 5, "pools[1].node", `unknown node "n9"`},
		{"duplicate node", `
nodes:
  - id: n1
  - id: n1
`, 4, "nodes[1].id", "duplicate node"},
		{"replicas on one node", `
nodes: [{id: n1}]
pools:
  - {id: p1, node: n1, capacity: 10GiB}
  - {id: p2, node: n1, capacity: 10GiB}
volumes:
  - size: 1GiB
    replicas: [p1, p2]
`, 8, "volumes[0].replicas[1]", "already holds replica 0"},
		{"bad workload", `
nodes: [{id: n1}]
pools: [{id: p1, node: n1, capacity: 10GiB}]
volumes:
  - size: 1GiB
    replicas: [p1]
    published: true
    workload:
      pattern: zigzag
`, 9, "volumes[0].workload.pattern", "unknown pattern"},
		{"bad duration", `
reconcile_interval: soon
`, 2, "reconcile_interval", "want a duration"},
		{"no room", `
nodes: [{id: n1}]
pools: [{id: p1, node: n1, capacity: 1GiB}]
volumes:
  - size: 1GiB
    replicas: [p1]
  - size: 1GiB
    replicas: [p1]
`, 8, "volumes[1].replicas[0]", "no room"},
		{"syntax", "seed: 1\n\tnodes: []\n", 2, "(document)", "tab character"},
		{"duplicate key", "seed: 1\nseed: 2\n", 2, "seed", "already defined"},
		{"generator pool", `
nodes: [{id: n1}]
pools: [{id: p1, node: n1, capacity: 1TiB}]
generate:
  - count: 10
    size: 1GiB
    pools: [p1, nope]
`, 7, "generate[0].pools[1]", "unknown pool"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadForTest(tc.doc)
			var se *ScenarioError
			if !errors.As(err, &se) {
				t.Fatalf("want a ScenarioError, got %v", err)
			}
			if se.File != "bad.yaml" || se.Line != tc.line || se.Field != tc.field || !strings.Contains(se.Msg, tc.msg) {
				t.Fatalf("got %q (line %d field %q), want line %d field %q with %q", err, se.Line, se.Field, tc.line, tc.field, tc.msg)
			}
			if !strings.HasPrefix(err.Error(), "bad.yaml:") {
				t.Fatalf("error %q does not start with file:line", err)
			}
		})
	}
}

// loadForTest parses and builds, as the binary does.
func loadForTest(doc string) (*Sim, error) {
	sc, err := ParseScenario("bad.yaml", []byte(doc))
	if err != nil {
		return nil, err
	}
	return New(sc)
}
