package integration

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

// countingProxy forwards to a server and counts the requests by method and path.
type countingProxy struct {
	*httptest.Server
	mu     sync.Mutex
	counts map[string]int
}

func newCountingProxy(t *testing.T, target string) *countingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{counts: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.counts[r.Method+" "+r.URL.Path]++
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *countingProxy) snapshot() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.counts))
	for k, v := range p.counts {
		out[k] = v
	}
	return out
}

// Three policies selecting the same volumes are decided from ONE observation per cycle: the
// Mayastor requests per cycle are the volume pages plus the pools list, and Prometheus answers
// one (window, query) per cycle (two instant queries), however many policies there are; the
// overlapping volumes are reported on every policy and moved by none.
func TestThreeOverlappingPoliciesDecideFromOneSnapshot(t *testing.T) {
	const sc = "e2e-observer"
	st := startWorld(t, sc)
	mayastor := newCountingProxy(t, st.SimURL)
	prometheus := newCountingProxy(t, st.PrometheusURL)
	const interval = 2 * time.Second
	// The later flags win: the operator talks to both through the counting proxies. Global
	// dry-run: nothing but the observer reads Mayastor (no cordon sweeper, no Mover).
	runOperator(t, st, "--max-concurrent-migrations=10", "--observe-interval="+interval.String(), "--dry-run",
		"--mayastor-url="+mayastor.URL, "--prometheus-url="+prometheus.URL)
	c := ctx(t)
	names := []string{"e2e-observer-a", "e2e-observer-b", "e2e-observer-c"}
	for _, name := range names {
		p := policyFor(name, sc, true, "15s")
		if err := k8sClient.Create(c, p); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), p) })
	}

	// Every policy decides with IOPS known (only the unpublished volume stays Unknown): the hot
	// and cold volumes would move, were they not selected three times.
	for _, name := range names {
		eventually(t, 90*time.Second, 500*time.Millisecond, name+" evaluated with IOPS known", func() (bool, string) {
			var p storagev1.StoragePolicy
			_ = k8sClient.Get(c, types.NamespacedName{Name: name}, &p)
			r := meta.FindStatusCondition(p.Status.Conditions, storagev1.ConditionReady)
			return r != nil && r.Status == "True" && p.Status.VolumesWatched == 14 && p.Status.UnknownVolumes == 1, statusLine(&p)
		})
	}

	// Requests over several cycles.
	before := mayastor.snapshot()
	promBefore := prometheus.snapshot()
	const span = 5 * interval
	time.Sleep(span) // a fixed measuring window, not a wait for a condition
	after := mayastor.snapshot()
	promAfter := prometheus.snapshot()
	delta := map[string]int{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			delta[k] = d
		}
	}
	cycles := delta["GET /v0/pools"]
	pages := delta["GET /v0/volumes"] // 14 volumes: one page per walk
	t.Logf("Mayastor requests over %s with %d policies: %v", span, len(names), delta)
	if cycles < 2 || cycles > int(span/interval)+2 {
		t.Fatalf("%d pools lists in %s at --observe-interval=%s: want one per cycle, not one per policy (%v)", cycles, span, interval, delta)
	}
	if pages < cycles-1 || pages > cycles+1 {
		t.Errorf("%d volume pages for %d cycles: want one walk (one page) per cycle (%v)", pages, cycles, delta)
	}
	for k, n := range delta {
		if k != "GET /v0/pools" && k != "GET /v0/volumes" {
			t.Errorf("unexpected Mayastor request %s ×%d", k, n)
		}
	}
	queries := 0
	for k, v := range promAfter {
		if strings.Contains(k, "/api/v1/query") {
			queries += v - promBefore[k]
		}
	}
	t.Logf("Prometheus queries over %s: %d (%d cycles)", span, queries, cycles)
	if queries > 2*(cycles+1) {
		t.Errorf("%d Prometheus queries for %d cycles: want 2 per cycle for the one distinct (window, query)", queries, cycles)
	}

	// Reported on every policy, moved by none.
	var evs eventsv1.EventList
	if err := k8sClient.List(c, &evs); err != nil {
		t.Fatal(err)
	}
	reported := map[string]bool{}
	for _, e := range evs.Items {
		if e.Reason == "OverlappingPolicies" && strings.Contains(e.Note, "14 volumes") {
			reported[e.Regarding.Name] = true
		}
	}
	for _, name := range names {
		if !reported[name] {
			t.Errorf("policy %s: no OverlappingPolicies Event naming the 14 shared volumes", name)
		}
		if got := migrationsOf(t, name); len(got) != 0 {
			t.Errorf("policy %s started %d migrations of volumes two other policies also select", name, len(got))
		}
	}
	var all storagev1.TierMigrationList
	if err := k8sClient.List(c, &all, client.MatchingLabels{}); err != nil {
		t.Fatal(err)
	}
	for _, tm := range all.Items {
		if strings.HasPrefix(tm.Spec.PolicyName, "e2e-observer") {
			t.Errorf("TierMigration %s of an overlapping volume", tm.Name)
		}
	}
}
