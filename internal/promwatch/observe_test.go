package promwatch

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

type recordingObserver struct {
	mu   sync.Mutex
	ops  []string
	errs int
}

func (r *recordingObserver) ObserveRequest(op string, _ time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, op)
	if err != nil {
		r.errs++
	}
}

// One Evaluate sends two queries, reported as iops and coverage; a refused query is an error.
func TestObserverSeesBothQueries(t *testing.T) {
	var status int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if status != 0 {
			http.Error(w, "nope", status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[]}}`))
	}))
	defer srv.Close()
	obs := &recordingObserver{}
	cfg := DefaultConfig()
	cfg.URL, cfg.Observer = srv.URL, obs
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Evaluate(context.Background(), Request{Window: time.Hour}); err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(slices.Values(obs.ops))
	if !slices.Equal(got, []string{OperationCoverage, OperationIOPS}) || obs.errs != 0 {
		t.Fatalf("observed %q with %d errors, want one coverage and one iops query, no error", obs.ops, obs.errs)
	}
	obs.ops = nil
	status = http.StatusForbidden
	if _, err := w.Evaluate(context.Background(), Request{Window: time.Hour}); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("want a 403 error, got %v", err)
	}
	if obs.errs == 0 || !slices.Contains(obs.ops, OperationIOPS) {
		t.Fatalf("a refused query: observed %q with %d errors", obs.ops, obs.errs)
	}
}
