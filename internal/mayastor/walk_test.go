package mayastor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// countingServer serves h and records the starting_token of every GET /v0/volumes.
type countingServer struct {
	h      http.Handler
	mu     sync.Mutex
	tokens []int
}

func (c *countingServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v0/volumes" {
		tok, _ := strconv.Atoi(r.URL.Query().Get("starting_token"))
		c.mu.Lock()
		c.tokens = append(c.tokens, tok)
		c.mu.Unlock()
	}
	c.h.ServeHTTP(w, r)
}

func (c *countingServer) take() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.tokens
	c.tokens = nil
	slices.Sort(t)
	return t
}

func sortedBrief(b mayastor.VolumeBrief) mayastor.VolumeBrief {
	b.ReplicaPools = slices.Clone(b.ReplicaPools)
	slices.Sort(b.ReplicaPools)
	return b
}

func walkBriefs(t *testing.T, c *mayastor.Client) []mayastor.VolumeBrief {
	t.Helper()
	var got []mayastor.VolumeBrief
	if err := c.WalkVolumeBriefs(context.Background(), func(page []mayastor.VolumeBrief) error {
		for _, b := range page {
			got = append(got, sortedBrief(b))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

// The lean decode reads what the full decode reads, volume for volume and in order, from the
// simulator's 10,000 volumes; pages are fetched four at a time, and once the walk knows where the
// last page is, no request goes past it.
func TestWalkVolumeBriefsMatchesFullDecode(t *testing.T) {
	s := scaleSim(t)
	cs := &countingServer{h: s.Handler()}
	srv := httptest.NewServer(cs)
	defer srv.Close()
	c, err := mayastor.New(mayastor.Config{BaseURL: srv.URL, PageSize: 500})
	if err != nil {
		t.Fatal(err)
	}
	full, err := c.ListAllVolumes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cs.take()
	want := make([]mayastor.VolumeBrief, len(full))
	var published, online, unpublished int
	for i := range full {
		want[i] = sortedBrief(mayastor.BriefOf(&full[i]))
		if want[i].Published {
			published++
		} else {
			unpublished++
		}
		if want[i].Online {
			online++
		}
	}
	if published == 0 || unpublished == 0 || online == 0 {
		t.Fatalf("scenario has no variety: %d published, %d unpublished, %d online", published, unpublished, online)
	}
	var pages []int
	for walk := 1; walk <= 2; walk++ {
		got := walkBriefs(t, c)
		if len(got) != len(want) {
			t.Fatalf("walk %d: %d briefs, want %d", walk, len(got), len(want))
		}
		for i := range want {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("walk %d: volume %d:\n got %+v\nwant %+v", walk, i, got[i], want[i])
			}
		}
		pages = cs.take()
	}
	var wantTokens []int
	for tok := 0; tok < len(want); tok += 500 {
		wantTokens = append(wantTokens, tok)
	}
	if !slices.Equal(pages, wantTokens) {
		t.Fatalf("second walk asked for starting tokens %v, want %v", pages, wantTokens)
	}
}

// pagedServer serves n volumes in pages; nextToken says what next_token a page starting at
// offset start of length size carries (the offset of the next page by default).
type pagedServer struct {
	n         int
	nextToken func(start, size int) int
	// offsetOf maps a starting_token to an offset (identity by default).
	offsetOf func(token int) int
	delay    time.Duration
	fail     map[int]int // starting_token → HTTP status
	body     map[int]string
	inFlight atomic.Int32
	maxSeen  atomic.Int32
	requests atomic.Int32
}

func (p *pagedServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	now := p.inFlight.Add(1)
	defer p.inFlight.Add(-1)
	for {
		m := p.maxSeen.Load()
		if now <= m || p.maxSeen.CompareAndSwap(m, now) {
			break
		}
	}
	time.Sleep(p.delay)
	size, _ := strconv.Atoi(r.URL.Query().Get("max_entries"))
	tok, _ := strconv.Atoi(r.URL.Query().Get("starting_token"))
	if st, ok := p.fail[tok]; ok {
		w.WriteHeader(st)
		return
	}
	if b, ok := p.body[tok]; ok {
		_, _ = w.Write([]byte(b))
		return
	}
	start := tok
	if p.offsetOf != nil {
		start = p.offsetOf(tok)
	}
	var sb strings.Builder
	sb.WriteString(`{"entries":[`)
	end := min(start+size, p.n)
	for i := start; i < end; i++ {
		if i > start {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `{"spec":{"uuid":"vol-%d","size":%d,"num_replicas":1,"num_snapshots":0,"status":"Created","policy":{"self_heal":true},"thin":false},`+
			`"state":{"uuid":"vol-%d","size":1,"status":"Online","replica_topology":{"r-%d":{"pool":"pool-%d","state":"Online"}}}}`, i, i, i, i, i%3)
	}
	sb.WriteString("]")
	if end < p.n {
		next := end
		if p.nextToken != nil {
			next = p.nextToken(start, size)
		}
		fmt.Fprintf(&sb, `,"next_token":%d`, next)
	}
	sb.WriteString("}")
	_, _ = w.Write([]byte(sb.String()))
}

func briefIDs(t *testing.T, c *mayastor.Client) ([]string, error) {
	t.Helper()
	var ids []string
	err := c.WalkVolumeBriefs(context.Background(), func(page []mayastor.VolumeBrief) error {
		for _, b := range page {
			ids = append(ids, b.UUID)
		}
		return nil
	})
	return ids, err
}

func wantIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("vol-%d", i)
	}
	return ids
}

func newPagedClient(t *testing.T, url string, pageSize, conc int) *mayastor.Client {
	t.Helper()
	c, err := mayastor.New(mayastor.Config{BaseURL: url, PageSize: pageSize, PageConcurrency: conc, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Pages are fetched up to PageConcurrency at a time (one at a time when told so) and handed over
// in order.
func TestWalkVolumeBriefsFetchesPagesConcurrentlyInOrder(t *testing.T) {
	for _, conc := range []int{-1, 4} {
		p := &pagedServer{n: 103, delay: 20 * time.Millisecond}
		srv := httptest.NewServer(p)
		c := newPagedClient(t, srv.URL, 10, conc)
		ids, err := briefIDs(t, c)
		srv.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids, wantIDs(103)) {
			t.Fatalf("concurrency %d: volumes out of order or missing: %v", conc, ids)
		}
		wantMax := int32(max(conc, 1))
		if got := p.maxSeen.Load(); got != wantMax {
			t.Errorf("concurrency %d: at most %d requests in flight, want %d", conc, got, wantMax)
		}
	}
}

// A second walk reuses the first walk's connections: with PageConcurrency pages in flight the
// client keeps them all open (http.DefaultTransport kept 2 and opened the others again).
func TestWalksReuseTheirConnections(t *testing.T) {
	p := &pagedServer{n: 103, delay: 20 * time.Millisecond}
	srv := httptest.NewUnstartedServer(p)
	var opened atomic.Int32
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := newPagedClient(t, srv.URL, 10, 4)
	// The first walk asks for pages past the end and drops them (their connections close);
	// the second walk knows where the end is.
	for range 2 {
		if _, err := briefIDs(t, c); err != nil {
			t.Fatal(err)
		}
	}
	first := opened.Load()
	if first < 4 {
		t.Fatalf("two walks opened %d connections, want at least 4 (4 pages in flight)", first)
	}
	for range 3 {
		if _, err := briefIDs(t, c); err != nil {
			t.Fatal(err)
		}
	}
	if got := opened.Load(); got != first {
		t.Errorf("3 more walks opened %d more connections, want none", got-first)
	}
}

// A server whose next_token is not offset + max_entries is walked by next_token, one page at a
// time, and nothing fetched ahead is handed over.
func TestWalkVolumeBriefsFollowsNextTokenThatIsNotAnOffset(t *testing.T) {
	// Tokens are offset+1000 after the first page: a page at offset o is asked for with o+1000.
	p := &pagedServer{n: 45,
		nextToken: func(start, size int) int { return start + size + 1000 },
		offsetOf: func(tok int) int {
			if tok >= 1000 {
				return tok - 1000
			}
			return tok
		}}
	srv := httptest.NewServer(p)
	defer srv.Close()
	c := newPagedClient(t, srv.URL, 10, 4)
	ids, err := briefIDs(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, wantIDs(45)) {
		t.Fatalf("volumes: %v", ids)
	}
	if n := p.requests.Load(); n != 5 {
		t.Errorf("%d requests, want 5 (one per page)", n)
	}
	// A server that pages by offset but changes its mind mid-walk.
	// Its plain offsets 30 and 40 are not tokens any more.
	p2 := &pagedServer{n: 45, fail: map[int]int{30: http.StatusBadRequest, 40: http.StatusBadRequest}, nextToken: func(start, size int) int {
		if start >= 20 {
			return start + size + 1000
		}
		return start + size
	}, offsetOf: func(tok int) int {
		if tok >= 1000 {
			return tok - 1000
		}
		return tok
	}}
	srv2 := httptest.NewServer(p2)
	defer srv2.Close()
	ids, err = briefIDs(t, newPagedClient(t, srv2.URL, 10, 4))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, wantIDs(45)) {
		t.Fatalf("volumes after a change of token: %v", ids)
	}
}

// A failed page fails the walk; a callback's error stops it and is returned as is; an answer
// that is not a Volumes page is a decode error.
func TestWalkVolumeBriefsErrors(t *testing.T) {
	p := &pagedServer{n: 100, fail: map[int]int{30: http.StatusInternalServerError}}
	srv := httptest.NewServer(p)
	defer srv.Close()
	_, err := briefIDs(t, newPagedClient(t, srv.URL, 10, 4))
	if ae, ok := mayastor.AsAPIError(err); !ok || ae.StatusCode != 500 || !strings.Contains(err.Error(), "starting_token 30") {
		t.Fatalf("walk over a failing page: %v", err)
	}

	stop := errors.New("enough")
	pages := 0
	err = newPagedClient(t, srv.URL, 10, 4).WalkVolumeBriefs(context.Background(), func([]mayastor.VolumeBrief) error {
		pages++
		if pages == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || pages != 2 {
		t.Fatalf("callback error: %v after %d pages", err, pages)
	}

	for _, body := range []string{`[]`, `{"entries":{}}`, `{"entries":[{"spec":{"size":"big"}}]}`, `{"entries":[`} {
		p := &pagedServer{n: 5, body: map[int]string{0: body}}
		srv := httptest.NewServer(p)
		_, err := briefIDs(t, newPagedClient(t, srv.URL, 10, 4))
		srv.Close()
		if err == nil || !strings.Contains(err.Error(), "list volumes") {
			t.Errorf("answer %s: err %v, want a list volumes error", body, err)
		}
	}
}

// Fields absent, null or unknown decode as in the full decode; unknown top-level keys are skipped.
func TestWalkVolumeBriefsDecodesEdgeCases(t *testing.T) {
	body := `{"extra":{"a":[1,2]},"entries":[` +
		`{"spec":{"uuid":"a","size":5,"num_replicas":2,"num_snapshots":3,"affinity_group":{"id":"g"}},` +
		`"state":{"status":"Degraded","target":{"node":"n1","children":[]},"replica_topology":{"r1":{"pool":"p2"},"r2":{"pool":"p1"}}}},` +
		`{"spec":{"uuid":"b\u0041","size":1,"num_replicas":1,"affinity_group":null},"state":{"status":"Online","target":null}},` +
		`{"spec":{"uuid":"c"},"state":{"status":"Online","replica_topology":{}}}` +
		`],"next_token":null}`
	p := &pagedServer{n: 3, body: map[int]string{0: body}}
	srv := httptest.NewServer(p)
	defer srv.Close()
	var got []mayastor.VolumeBrief
	err := newPagedClient(t, srv.URL, 10, 4).WalkVolumeBriefs(context.Background(), func(page []mayastor.VolumeBrief) error {
		for _, b := range page {
			got = append(got, sortedBrief(b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []mayastor.VolumeBrief{
		{UUID: "a", Size: 5, NumReplicas: 2, NumSnapshots: 3, AffinityGroup: "g", Published: true, ReplicaPools: []string{"p1", "p2"}},
		{UUID: "bA", Size: 1, NumReplicas: 1, Online: true},
		{UUID: "c", Online: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("briefs:\n got %+v\nwant %+v", got, want)
	}
}

// Whatever answer the full decode reads, the brief decoder reads the same, volume for volume:
// the fixture page and thousands of corruptions of it (bytes changed, dropped, inserted, the
// answer cut short). Where the full decode refuses an answer the brief decoder may accept it
// only when the fields it reads are sound.
func TestDecodeBriefPageAgreesWithFullDecode(t *testing.T) {
	page := mayastor.Volumes{NextToken: ptr.To(uint64(3))}
	for i := range 3 {
		v := benchVolume(i)
		if i == 1 {
			v.State.Target = nil
			v.Spec.AffinityGroup = &mayastor.AffinityGroup{ID: "ag-\u00e9\"x"}
			v.Spec.NumSnapshots = 4
			v.State.Status = mayastor.VolumeStatusDegraded
		}
		page.Entries = append(page.Entries, v)
	}
	body, err := json.Marshal(page)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte(`{}[]":,\ 0123456789-.eEnulltrfas`)
	agreed, refusedBoth := 0, 0
	for n := range 5000 {
		b := append([]byte(nil), body...)
		if n > 0 {
			for range 1 + rng.IntN(2) {
				at := rng.IntN(len(b))
				switch rng.IntN(4) {
				case 0:
					b[at] = alphabet[rng.IntN(len(alphabet))]
				case 1:
					b = append(b[:at], b[at+1:]...)
				case 2:
					b = append(b[:at], append([]byte{alphabet[rng.IntN(len(alphabet))]}, b[at:]...)...)
				case 3:
					b = b[:at]
				}
			}
		}
		var full mayastor.Volumes
		fullErr := json.Unmarshal(b, &full)
		briefs, next, briefErr := mayastor.DecodeBriefPage(bytes.NewReader(b))
		switch {
		case fullErr == nil && briefErr != nil:
			t.Fatalf("brief decode refuses what the full decode reads: %v\n%s", briefErr, b)
		case fullErr == nil:
			if len(briefs) != len(full.Entries) || (next == nil) != (full.NextToken == nil) || next != nil && *next != *full.NextToken {
				t.Fatalf("%d briefs, next %v; full: %d volumes, next %v\n%s", len(briefs), next, len(full.Entries), full.NextToken, b)
			}
			for i := range briefs {
				if got, want := sortedBrief(briefs[i]), sortedBrief(mayastor.BriefOf(&full.Entries[i])); !reflect.DeepEqual(got, want) {
					t.Fatalf("volume %d:\n got %+v\nwant %+v\n%s", i, got, want, b)
				}
			}
			agreed++
		case briefErr != nil:
			refusedBoth++
		}
	}
	if agreed < 50 || refusedBoth < 1000 {
		t.Fatalf("too few cases: %d read alike, %d refused by both", agreed, refusedBoth)
	}
}
