package mayastor

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/utils/ptr"
)

func newTestClient(t *testing.T, url string, cfg Config) *Client {
	t.Helper()
	cfg.BaseURL = url
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.sleep = func(ctx context.Context, d time.Duration) error { return ctx.Err() }
	return c
}

func TestNewValidatesBaseURL(t *testing.T) {
	for _, bad := range []string{"", "mayastor:8081", "ftp://x/", "http://"} {
		if _, err := New(Config{BaseURL: bad}); err == nil {
			t.Errorf("New(%q) accepted", bad)
		}
	}
	for in, want := range map[string]string{
		"http://rest:8081":         "http://rest:8081/v0",
		"http://rest:8081/":        "http://rest:8081/v0",
		"http://rest:8081/v0":      "http://rest:8081/v0",
		"https://gw/mayastor/v0/":  "https://gw/mayastor/v0",
		"https://gw/mayastor/api/": "https://gw/mayastor/api/v0",
	} {
		c, err := New(Config{BaseURL: in})
		if err != nil {
			t.Fatalf("New(%q): %v", in, err)
		}
		if got := c.base.String(); got != want {
			t.Errorf("base of %q = %q, want %q", in, got, want)
		}
	}
}

func TestListAllVolumesWalksPagesWithMaxEntries(t *testing.T) {
	f := newFixtureServer(7)
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := newTestClient(t, srv.URL, Config{PageSize: 3})
	vols, err := c.ListAllVolumes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(vols) != 7 {
		t.Fatalf("got %d volumes, want 7", len(vols))
	}
	for i, v := range vols {
		if v.Spec.UUID != fixtureUUID(i+1) {
			t.Fatalf("volume %d is %s, want %s (order or duplicates wrong)", i, v.Spec.UUID, fixtureUUID(i+1))
		}
	}
	want := []string{
		"GET /v0/volumes?max_entries=3",
		"GET /v0/volumes?max_entries=3&starting_token=3",
		"GET /v0/volumes?max_entries=3&starting_token=6",
	}
	if got := f.requests(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestListAllVolumesStopsOnTokenThatDoesNotAdvance(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSONTest(w, 200, Volumes{Entries: []Volume{fixtureVolume(1, 1)}, NextToken: ptr.To[uint64](1)})
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, Config{PageSize: 1})
	done := make(chan error, 1)
	go func() { _, err := c.ListAllVolumes(context.Background()); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "does not advance") {
			t.Fatalf("want a non-advancing token error, got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ListAllVolumes loops on a repeated next_token")
	}
}

func errorServer(t *testing.T, status int, body string, calls *atomic.Int32, okAfter int32) *httptest.Server {
	t.Helper()
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		if okAfter > 0 && n > okAfter {
			writeJSONTest(w, 200, fixtureVolume(1, 1))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
}

func TestGetRetriesOn5xxThenSucceeds(t *testing.T) {
	var calls atomic.Int32
	srv := errorServer(t, 503, `{"details":"etcd unavailable","message":"","kind":"Unavailable"}`, &calls, 2)
	defer srv.Close()
	c := newTestClient(t, srv.URL, Config{MaxRetries: 3})
	var delays []time.Duration
	c.sleep = func(ctx context.Context, d time.Duration) error { delays = append(delays, d); return nil }
	v, err := c.GetVolume(context.Background(), fixtureUUID(1))
	if err != nil {
		t.Fatalf("GET after two 503s: %v", err)
	}
	if v.Spec.UUID != fixtureUUID(1) {
		t.Fatalf("wrong volume %s", v.Spec.UUID)
	}
	if calls.Load() != 3 || len(delays) != 2 {
		t.Fatalf("calls %d, backoffs %d; want 3 calls and 2 backoffs", calls.Load(), len(delays))
	}
}

func TestGetGivesUpAfterMaxRetries(t *testing.T) {
	var calls atomic.Int32
	srv := errorServer(t, 500, `{"details":"boom","message":"","kind":"Internal"}`, &calls, 0)
	defer srv.Close()
	c := newTestClient(t, srv.URL, Config{MaxRetries: 2})
	_, err := c.GetVolume(context.Background(), "v1")
	if calls.Load() != 3 {
		t.Fatalf("calls %d, want 1 + 2 retries", calls.Load())
	}
	if ae, ok := AsAPIError(err); !ok || ae.StatusCode < 500 {
		t.Fatalf("want a server error, got %v", err)
	}
}

func TestGetIsNotRetriedOn4xx(t *testing.T) {
	var calls atomic.Int32
	srv := errorServer(t, 404, `{"details":"Volume 'v1' not found","message":"","kind":"NotFound"}`, &calls, 0)
	defer srv.Close()
	c := newTestClient(t, srv.URL, Config{MaxRetries: 5})
	_, err := c.GetVolume(context.Background(), "v1")
	if calls.Load() != 1 {
		t.Fatalf("a 404 was retried: %d calls", calls.Load())
	}
	if !IsNotFound(err) {
		t.Fatalf("IsNotFound(%v) = false", err)
	}
	if IsNotFound(errors.New("volume not found")) {
		t.Fatal("IsNotFound matched a plain error")
	}
}

func TestWritesAreNeverRetried(t *testing.T) {
	c0 := func(t *testing.T, url string) *Client { return newTestClient(t, url, Config{MaxRetries: 5}) }
	writes := map[string]func(c *Client) error{
		"replica count": func(c *Client) error { _, err := c.SetReplicaCount(context.Background(), "v1", 2); return err },
		"publish": func(c *Client) error {
			_, err := c.PublishVolume(context.Background(), "v1", PublishVolumeBody{Protocol: VolumeShareProtocolNvmf})
			return err
		},
		"unpublish": func(c *Client) error { _, err := c.UnpublishVolume(context.Background(), "v1", false); return err },
		"cordon":    func(c *Client) error { _, err := c.CordonNode(context.Background(), "n1", "l"); return err },
		"uncordon":  func(c *Client) error { _, err := c.UncordonNode(context.Background(), "n1", "l"); return err },
	}
	for name, write := range writes {
		t.Run(name+" on 503", func(t *testing.T) {
			var calls atomic.Int32
			srv := errorServer(t, 503, `{"details":"busy","message":"","kind":"Unavailable"}`, &calls, 0)
			defer srv.Close()
			if ae, ok := AsAPIError(write(c0(t, srv.URL))); !ok || ae.StatusCode != 503 {
				t.Fatalf("want the 503, got %+v", ae)
			}
			if calls.Load() != 1 {
				t.Fatalf("write sent %d times", calls.Load())
			}
		})
		t.Run(name+" on dropped connection", func(t *testing.T) {
			var calls atomic.Int32
			srv := droppingServer(t, &calls, 100)
			defer srv.Close()
			err := write(c0(t, srv.URL))
			var te *TransportError
			if !errors.As(err, &te) {
				t.Fatalf("want a transport error, got %v", err)
			}
			if calls.Load() != 1 {
				t.Fatalf("write sent %d times", calls.Load())
			}
		})
	}
}

// droppingServer closes the connection without answering the first drops requests.
func droppingServer(t *testing.T, calls *atomic.Int32, drops int32) *httptest.Server {
	t.Helper()
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= drops {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			_ = conn.Close()
			return
		}
		writeJSONTest(w, 200, fixtureVolume(1, 1))
	}))
}

func TestGetRetriesOnConnectionErrors(t *testing.T) {
	var calls atomic.Int32
	srv := droppingServer(t, &calls, 2)
	defer srv.Close()
	c := newTestClient(t, srv.URL, Config{MaxRetries: 3})
	if _, err := c.GetVolume(context.Background(), fixtureUUID(1)); err != nil {
		t.Fatalf("GET after two dropped connections: %v", err)
	}
	if calls.Load() != 3 {
		t.Fatalf("calls %d, want 3", calls.Load())
	}
}

func TestGetRetriesWhenNothingListens(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	c := newTestClient(t, "http://"+addr, Config{MaxRetries: 2})
	var sleeps int
	c.sleep = func(ctx context.Context, d time.Duration) error { sleeps++; return nil }
	_, err = c.ListPools(context.Background())
	var te *TransportError
	if !errors.As(err, &te) || sleeps != 2 {
		t.Fatalf("want a transport error after 2 retries, got %v after %d", err, sleeps)
	}
	if !strings.HasPrefix(err.Error(), "mayastor: list pools: ") {
		t.Fatalf("error does not say which operation failed: %v", err)
	}
}

func TestAPIErrorTextAndFields(t *testing.T) {
	var calls atomic.Int32
	body := `{"details":"volume 1234 replica count change in progress","message":"SvcError::Conflict","kind":"AlreadyExists"}`
	srv := errorServer(t, 409, body, &calls, 0)
	defer srv.Close()
	c := newTestClient(t, srv.URL, Config{})
	_, err := c.SetReplicaCount(context.Background(), "1234", 3)
	want := "mayastor: set replica count of volume 1234 to 3: 409 Conflict (kind AlreadyExists): volume 1234 replica count change in progress: SvcError::Conflict"
	if err == nil || err.Error() != want {
		t.Fatalf("error text\n got %v\nwant %s", err, want)
	}
	ae, ok := AsAPIError(err)
	if !ok {
		t.Fatalf("not an *APIError: %T", err)
	}
	if ae.StatusCode != 409 || ae.Kind() != ErrorKindAlreadyExists || ae.Body.Message != "SvcError::Conflict" ||
		ae.Method != "PUT" || ae.Path != "/volumes/1234/replica_count/3" {
		t.Fatalf("APIError fields: %+v", ae)
	}
	if IsNotFound(err) || !IsKind(err, ErrorKindAlreadyExists) {
		t.Fatal("helpers misclassify a 409 AlreadyExists")
	}
}

func TestAPIErrorWithoutJSONBody(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "upstream connect error", http.StatusBadGateway)
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, Config{MaxRetries: -1})
	_, err := c.GetNode(context.Background(), "io-engine-1")
	want := "mayastor: get node io-engine-1: 502 Bad Gateway: upstream connect error"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	if calls.Load() != 1 {
		t.Fatalf("MaxRetries -1 still retried: %d calls", calls.Load())
	}
}

func TestEveryCallHasADeadline(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	c, err := New(Config{BaseURL: srv.URL, Timeout: 100 * time.Millisecond, MaxRetries: 3, RetryBaseDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.GetVolume(context.Background(), "v1")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want a deadline error, got %v", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("call took %v despite a 100ms timeout", el)
	}
	if calls.Load() != 1 {
		t.Fatalf("retried after its own deadline passed: %d calls", calls.Load())
	}
	// The caller's deadline applies too, when shorter.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	c2, _ := New(Config{BaseURL: srv.URL, Timeout: time.Hour})
	if _, err := c2.SetReplicaCount(ctx, "v1", 2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("caller deadline ignored: %v", err)
	}
}

func TestBackoffIsBoundedExponentialWithJitter(t *testing.T) {
	c, _ := New(Config{BaseURL: "http://x", RetryBaseDelay: 100 * time.Millisecond, RetryMaxDelay: time.Second})
	next := c.backoff().DelayFunc()
	for attempt := 0; attempt < 40; attempt++ {
		ceiling := min(time.Second, 100*time.Millisecond<<min(attempt, 20))
		if step := next(); step != ceiling {
			t.Fatalf("attempt %d: ceiling %v, want %v", attempt, step, ceiling)
		}
		seen := map[time.Duration]bool{}
		for i := 0; i < 50; i++ {
			d := fullJitter(ceiling)
			if d < 0 || d > ceiling {
				t.Fatalf("attempt %d: backoff %v outside [0, %v]", attempt, d, ceiling)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Fatalf("attempt %d: backoff shows no jitter (%d distinct values)", attempt, len(seen))
		}
	}
	// A base above the maximum starts at the maximum.
	c, _ = New(Config{BaseURL: "http://x", RetryBaseDelay: time.Minute, RetryMaxDelay: time.Second})
	if d := c.backoff().DelayFunc()(); d != time.Second {
		t.Fatalf("first ceiling %v with base 1m and max 1s, want 1s", d)
	}
}

// The delays a call sleeps are the jittered schedule: each within its attempt's ceiling.
func TestRetriesSleepWithinTheSchedule(t *testing.T) {
	var calls atomic.Int32
	srv := errorServer(t, 503, `{"details":"busy","message":"","kind":"Unavailable"}`, &calls, 0)
	defer srv.Close()
	c := newTestClient(t, srv.URL, Config{MaxRetries: 6, RetryBaseDelay: 10 * time.Millisecond, RetryMaxDelay: 50 * time.Millisecond})
	var delays []time.Duration
	c.sleep = func(ctx context.Context, d time.Duration) error { delays = append(delays, d); return nil }
	_, _ = c.GetVolume(context.Background(), "v1")
	if len(delays) != 6 {
		t.Fatalf("%d sleeps, want 6", len(delays))
	}
	for i, d := range delays {
		if ceiling := min(50*time.Millisecond, 10*time.Millisecond<<i); d < 0 || d > ceiling {
			t.Errorf("sleep %d: %v outside [0, %v]", i, d, ceiling)
		}
	}
}

func TestPathSegmentsAreEscaped(t *testing.T) {
	f := newFixtureServer(0)
	var raw []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw = append(raw, r.URL.EscapedPath())
		f.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, Config{})
	_, _ = c.CordonNode(context.Background(), "io-engine-1", "a/b c")
	if len(raw) != 1 || raw[0] != "/v0/nodes/io-engine-1/cordon/a%2Fb%20c" {
		t.Fatalf("escaped path %v", raw)
	}
}

func TestClientCallsAgainstFixture(t *testing.T) {
	f := newFixtureServer(2)
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := newTestClient(t, srv.URL, Config{})
	ctx := context.Background()
	id := fixtureUUID(1)
	if _, err := c.GetVolume(ctx, fixtureUUID(9)); !IsNotFound(err) {
		t.Fatalf("missing volume: %v", err)
	}
	v, err := c.SetReplicaCount(ctx, id, 2)
	if err != nil || v.Spec.NumReplicas != 2 {
		t.Fatalf("set replica count: %v %+v", err, v)
	}
	v, err = c.PublishVolume(ctx, id, PublishVolumeBody{Node: "io-engine-2", Protocol: VolumeShareProtocolNvmf, Republish: ptr.To(true)})
	if err != nil || v.Spec.Target == nil || v.Spec.Target.Node != "io-engine-2" {
		t.Fatalf("republish: %v %+v", err, v.Spec.Target)
	}
	n, err := c.CordonNode(ctx, "io-engine-2", "couchestor-x")
	if err != nil || !n.Cordoned() || n.CordonLabels()[0] != "couchestor-x" {
		t.Fatalf("cordon: %v %+v", err, n)
	}
	n, err = c.UncordonNode(ctx, "io-engine-2", "couchestor-x")
	if err != nil || n.Cordoned() {
		t.Fatalf("uncordon: %v %+v", err, n)
	}
	h, err := c.GetRebuildHistory(ctx, id)
	if err != nil || len(h.Records) != 1 || h.Records[0].RebuildJobState != RebuildJobStateCompleted {
		t.Fatalf("rebuild history: %v %+v", err, h)
	}
}

func TestWalkVolumesStopsOnCallbackError(t *testing.T) {
	f := newFixtureServer(10)
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := newTestClient(t, srv.URL, Config{PageSize: 4})
	stop := errors.New("enough")
	var seen []int
	err := c.WalkVolumes(context.Background(), func(page []Volume) error {
		seen = append(seen, len(page))
		if len(seen) == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || len(seen) != 2 || seen[0] != 4 || seen[1] != 4 {
		t.Fatalf("walk: err %v, pages %v", err, seen)
	}
	if n := len(f.requests()); n != 2 {
		t.Fatalf("%d requests after the callback stopped the walk at page 2", n)
	}
}
