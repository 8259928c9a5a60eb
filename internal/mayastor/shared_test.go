package mayastor_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// Predictions asking for the replica map or the per-pool counts while one read is on its way
// share it; a caller that gives up does not cancel it for the others; once it has answered,
// the next caller reads afresh (nothing is kept).
func TestSharedReadsJoinTheReadOnItsWay(t *testing.T) {
	var specs, replicas atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v0/specs":
			specs.Add(1)
			<-release
			_, _ = w.Write([]byte(`{"volumes":[],"nexuses":[],"pools":[],"replicas":[
			  {"uuid":"r1","pool":"p1","owners":{"volume":"v1"},"share":"none","managed":true,"thin":true,"size":1,"status":"Created"},
			  {"uuid":"r2","pool":"p2","owners":{"volume":"v2"},"share":"nvmf","managed":true,"thin":true,"size":1,"status":"Created"}]}`))
		case "/v0/replicas":
			replicas.Add(1)
			<-release
			_, _ = w.Write([]byte(`[{"uuid":"r1","pool":"p1"},{"uuid":"r2","pool":"p2"},{"uuid":"r3","pool":"p2"}]`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c, err := mayastor.New(mayastor.Config{BaseURL: srv.URL, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}

	const callers = 5
	var wg sync.WaitGroup
	orders := make([]mayastor.ReplicaOrder, callers)
	counts := make([]map[string]int, callers)
	errs := make([]error, 2*callers)
	gaveUp, cancel := context.WithCancel(context.Background())
	for i := range callers {
		ctx := context.Background()
		if i == 0 {
			ctx = gaveUp // the first caller gives up while the read is on its way
		}
		wg.Add(2)
		go func() { defer wg.Done(); orders[i], errs[i] = c.SharedReplicaOrder(ctx, "v2") }()
		go func() { defer wg.Done(); counts[i], errs[callers+i] = c.SharedReplicaCounts(ctx) }()
	}
	deadline := time.Now().Add(5 * time.Second)
	for specs.Load() == 0 || replicas.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no read reached the server")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(time.Second) // every caller has asked by now
	cancel()
	close(release)
	wg.Wait()
	if n, m := specs.Load(), replicas.Load(); n != 1 || m != 1 {
		t.Fatalf("%d GET /v0/specs and %d GET /v0/replicas for %d callers each, want 1 and 1", n, m, callers)
	}
	for i := 1; i < callers; i++ {
		if errs[i] != nil || errs[callers+i] != nil {
			t.Fatalf("caller %d: %v, %v", i, errs[i], errs[callers+i])
		}
		if orders[i].Index["r2"] != 1 || orders[i].Len != 2 || counts[i]["p2"] != 2 || counts[i]["p1"] != 1 {
			t.Fatalf("caller %d: order %+v, counts %v", i, orders[i], counts[i])
		}
	}
	if errs[0] == nil || errs[callers] == nil {
		t.Fatalf("the caller that gave up got %v, %v; want its context's error", errs[0], errs[callers])
	}
	if _, err := c.SharedReplicaOrder(context.Background(), "v2"); err != nil || specs.Load() != 2 {
		t.Fatalf("a later caller: %v after %d reads, want a read of its own", err, specs.Load())
	}
}
