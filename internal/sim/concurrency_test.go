package sim

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// Concurrent API calls, scrapes, faults and clock steps must be safe (run
// with -race) and leave a consistent model.
func TestConcurrentUse(t *testing.T) {
	sc, err := LoadScenario("small")
	if err != nil {
		t.Fatal(err)
	}
	s, clk := newTestSimFromScenario(t, sc)
	ts := serve(t, s)
	ids := []string{}
	for _, v := range s.ListVolumes(0, 0).Entries {
		ids = append(ids, v.Spec.UUID)
	}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				id := ids[(w*7+i)%len(ids)]
				_, _, _ = ts.do("PUT", fmt.Sprintf("/v0/volumes/%s/replica_count/%d", id, 1+i%3), "")
				_, _, _ = ts.do("GET", "/v0/volumes?max_entries=4", "")
				_, _, _ = ts.do("GET", "/metrics", "")
				_ = s.InjectFault(Fault{Operation: "get_pools", Mode: FaultStatus, Count: 1})
				_, _, _ = ts.do("GET", "/v0/pools", "")
			}
		}(w)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 50; i++ {
			clk.Step(3 * time.Second)
		}
	}()
	wg.Wait()
	clk.Step(time.Hour)
	s.ClearFaults()
	ts.must("GET", "/v0/pools", "", http.StatusOK)
	// Pool accounting still equals the replicas it holds.
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pools {
		var alloc, committed int64
		n := 0
		for _, r := range s.replicas {
			if r.pool == p {
				alloc += r.allocated
				committed += r.size
				n++
			}
		}
		if alloc != p.allocated || committed != p.committed || n != p.replicas {
			t.Errorf("pool %s accounting %d/%d/%d, replicas say %d/%d/%d", p.id, p.allocated, p.committed, p.replicas, alloc, committed, n)
		}
	}
	for _, v := range s.volumes {
		if v.target != nil && len(v.target.children) > v.numReplicas {
			t.Errorf("volume %s has %d children for %d replicas", v.uuid, len(v.target.children), v.numReplicas)
		}
	}
}
