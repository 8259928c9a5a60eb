package mayastor

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"
)

type recordingObserver struct {
	mu   sync.Mutex
	ops  []string
	errs int
}

func (r *recordingObserver) ObserveRequest(op string, took time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, op)
	if err != nil {
		r.errs++
	}
	if took < 0 {
		panic("negative duration")
	}
}

// Every call of the Client is reported under one of Operations, with identifiers templated
// out, each retry counted, and failures reported as errors.
func TestObserverSeesEveryOperation(t *testing.T) {
	fail := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/v0/volumes" {
			_, _ = w.Write([]byte(`{"entries":[]}`))
			return
		}
		_, _ = w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	obs := &recordingObserver{}
	c, err := New(Config{BaseURL: srv.URL, Observer: obs, MaxRetries: 2, RetryBaseDelay: time.Millisecond, RetryMaxDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, _ = c.ListVolumes(ctx, 10, 3)
	_, _ = c.GetVolume(ctx, "v-1")
	_, _ = c.SetReplicaCount(ctx, "v-1", 3)
	_, _ = c.PublishVolume(ctx, "v-1", PublishVolumeBody{})
	_, _ = c.UnpublishVolume(ctx, "v-1", true)
	_, _ = c.GetRebuildHistory(ctx, "v-1")
	_, _ = c.GetReplicaSpecs(ctx)
	_, _ = c.ListPools(ctx)
	_, _ = c.ListNodes(ctx)
	_, _ = c.GetNode(ctx, "n-1")
	_, _ = c.CordonNode(ctx, "n-1", "couchestor-migration-x")
	_, _ = c.UncordonNode(ctx, "n-1", "couchestor-migration-x")
	got := slices.Clone(obs.ops)
	slices.Sort(got)
	want := slices.Clone(Operations)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("observed operations\n%q\nwant Operations\n%q", got, want)
	}

	obs.ops, obs.errs = nil, 0
	fail = true
	if _, err := c.GetVolume(ctx, "v-2"); err == nil {
		t.Fatal("want an error from a 503")
	}
	if len(obs.ops) != 3 || obs.errs != 3 || obs.ops[0] != "GET /volumes/{id}" {
		t.Fatalf("a GET failing with 503 and 2 retries: observed %q with %d errors, want 3 requests, 3 errors", obs.ops, obs.errs)
	}
}
