package mayastor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/billyronks/couchestor/internal/jsonscan"
)

// Defaults of Config.
const (
	DefaultTimeout        = 10 * time.Second
	DefaultMaxRetries     = 3
	DefaultRetryBaseDelay = 200 * time.Millisecond
	DefaultRetryMaxDelay  = 5 * time.Second
	DefaultPageSize       = 500
	// DefaultPageConcurrency is how many pages WalkVolumeBriefs fetches at once.
	DefaultPageConcurrency = 4
)

// maxErrorBody bounds how much of a non-JSON error answer is kept.
const maxErrorBody = 512

// Config configures a Client.
type Config struct {
	// BaseURL of the REST API, e.g. "http://mayastor-api-rest.mayastor:8081".
	// "/v0" is appended unless the URL already ends with it.
	BaseURL string
	// HTTPClient sends the requests; when nil, a client of its own over a clone of
	// http.DefaultTransport that keeps a walk's connections open (newTransport).
	HTTPClient *http.Client
	// Timeout bounds each call, retries included (DefaultTimeout when 0,
	// no client-side bound when negative). The caller's context deadline
	// applies as well.
	Timeout time.Duration
	// MaxRetries is how many times a GET is retried after a connection error
	// or a 5xx answer (DefaultMaxRetries when 0, none when negative).
	// Writes are never retried.
	MaxRetries int
	// RetryBaseDelay and RetryMaxDelay shape the exponential backoff with
	// full jitter between retries.
	RetryBaseDelay time.Duration
	RetryMaxDelay  time.Duration
	// PageSize is max_entries for ListAllVolumes (DefaultPageSize when 0).
	PageSize int
	// PageConcurrency bounds how many pages WalkVolumeBriefs has in flight at once
	// (DefaultPageConcurrency when 0; one at a time when negative).
	PageConcurrency int
	// UserAgent is sent with every request when set.
	UserAgent string
	// Observer, when set, is told about every request (metrics: operation, duration, error).
	Observer RequestObserver
}

// Client is a Mayastor control-plane REST v0 client. It is safe for
// concurrent use.
type Client struct {
	base       *url.URL
	http       *http.Client
	timeout    time.Duration
	maxRetries int
	baseDelay  time.Duration
	maxDelay   time.Duration
	pageSize   int
	pageConc   int
	// lastPageOffset is the starting_token of the last page of the latest concurrent walk, -1
	// before the first.
	lastPageOffset atomic.Int64
	// lastSpecsSize is the size of the latest GET /v0/specs answer: the next one is read into
	// a buffer that size at once.
	lastSpecsSize atomic.Int64
	// lastReplicasSize is the size of the latest GET /v0/replicas answer (CountReplicasByPool).
	lastReplicasSize atomic.Int64
	// shared joins concurrent whole-cluster reads for predictions (SharedReplicaOrder,
	// SharedReplicaCounts).
	shared    singleflight.Group
	userAgent string
	observer  RequestObserver
	// sleep waits between retries; replaced in tests.
	sleep func(ctx context.Context, d time.Duration) error
}

// New returns a Client for cfg.
func New(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		return nil, errors.New("mayastor: base URL is required")
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("mayastor: parse base URL %q: %w", cfg.BaseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("mayastor: base URL %q must be http(s)://host[:port][/path]", cfg.BaseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	if !strings.HasSuffix(u.Path, "/v0") {
		u.Path += "/v0"
	}
	c := &Client{
		base:       u,
		http:       cfg.HTTPClient,
		timeout:    cfg.Timeout,
		maxRetries: cfg.MaxRetries,
		baseDelay:  cfg.RetryBaseDelay,
		maxDelay:   cfg.RetryMaxDelay,
		pageSize:   cfg.PageSize,
		pageConc:   cfg.PageConcurrency,
		userAgent:  cfg.UserAgent,
		observer:   cfg.Observer,
		sleep:      sleepCtx,
	}
	c.lastPageOffset.Store(-1)
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if c.maxRetries == 0 {
		c.maxRetries = DefaultMaxRetries
	} else if c.maxRetries < 0 {
		c.maxRetries = 0
	}
	if c.baseDelay <= 0 {
		c.baseDelay = DefaultRetryBaseDelay
	}
	if c.maxDelay <= 0 {
		c.maxDelay = DefaultRetryMaxDelay
	}
	if c.pageSize <= 0 {
		c.pageSize = DefaultPageSize
	}
	if c.pageConc == 0 {
		c.pageConc = DefaultPageConcurrency
	} else if c.pageConc < 0 {
		c.pageConc = 1
	}
	if c.http == nil {
		c.http = &http.Client{Transport: newTransport(c.pageConc)}
	}
	return c, nil
}

// newTransport is http.DefaultTransport with room for a walk's connections and a larger read
// buffer. DefaultTransport keeps 2 idle connections per host: after each walk with pageConc
// pages in flight the others were closed and opened again by the next walk (a TLS handshake
// each, against an https REST API). Its 4 KiB read buffer is small for pages of ~1 MB.
func newTransport(pageConc int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = max(pageConc+2, http.DefaultMaxIdleConnsPerHost)
	t.ReadBufferSize = 64 << 10
	return t
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// call is one API operation.
type call struct {
	op     string // for error messages: "get volume 1234"
	method string
	path   string // below the base URL, already escaped, e.g. "/volumes/1234"
	query  url.Values
	body   any // JSON-encoded when non-nil
	out    any // JSON-decoded from a 2xx answer when non-nil
	// decode, when set instead of out, decodes a 2xx answer's body itself. It is called
	// afresh on each attempt, so it must forget what an earlier attempt decoded.
	decode func(r io.Reader) error
}

// do runs c with the per-call deadline, retrying idempotent reads.
func (c *Client) do(ctx context.Context, cl call) error {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	var payload []byte
	if cl.body != nil {
		var err error
		if payload, err = json.Marshal(cl.body); err != nil {
			return &TransportError{Op: cl.op, Method: cl.method, Path: cl.path, Err: fmt.Errorf("encode request: %w", err)}
		}
	}
	retries := 0
	if cl.method == http.MethodGet {
		retries = c.maxRetries
	}
	next := c.backoff().DelayFunc()
	for attempt := 0; ; attempt++ {
		err := c.observedOnce(ctx, cl, payload)
		if err == nil || attempt >= retries || !retryable(ctx, err) {
			return err
		}
		if serr := c.sleep(ctx, fullJitter(next())); serr != nil {
			return err
		}
	}
}

// backoff is the ceiling of each wait between retries: RetryBaseDelay, doubling, at most
// RetryMaxDelay.
func (c *Client) backoff() wait.Backoff {
	return wait.Backoff{Duration: min(c.baseDelay, c.maxDelay), Factor: 2, Cap: c.maxDelay, Steps: math.MaxInt32}
}

// fullJitter is uniform in [0, d], so that clients retrying after the same failure spread out.
func fullJitter(d time.Duration) time.Duration {
	return time.Duration(rand.Int64N(int64(d) + 1))
}

// retryable: connection-level failures and 5xx answers, unless the call's own
// context is done.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if ae, ok := AsAPIError(err); ok {
		return ae.StatusCode >= 500
	}
	var te *TransportError
	if errors.As(err, &te) {
		return !errors.Is(te.Err, errDecode)
	}
	return false
}

var errDecode = errors.New("decode answer")

// observedOnce is once, reported to the Observer.
func (c *Client) observedOnce(ctx context.Context, cl call, payload []byte) error {
	if c.observer == nil {
		return c.once(ctx, cl, payload)
	}
	start := time.Now()
	err := c.once(ctx, cl, payload)
	c.observer.ObserveRequest(operation(cl.method, cl.path), time.Since(start), err)
	return err
}

func (c *Client) once(ctx context.Context, cl call, payload []byte) error {
	target := c.base.String() + cl.path
	if len(cl.query) > 0 {
		target += "?" + cl.query.Encode()
	}
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, target, body)
	if err != nil {
		return &TransportError{Op: cl.op, Method: cl.method, Path: cl.path, Err: err}
	}
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return &TransportError{Op: cl.op, Method: cl.method, Path: cl.path, Err: err}
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return newAPIError(cl, resp)
	}
	if cl.decode != nil {
		// An answer that does not decode wraps errDecode (not retried); a read error does not.
		if err := cl.decode(resp.Body); err != nil {
			return &TransportError{Op: cl.op, Method: cl.method, Path: cl.path, Err: err}
		}
		return nil
	}
	if cl.out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	err = readPooled(resp.Body, nil, func(b []byte) error {
		if err := json.Unmarshal(b, cl.out); err != nil {
			return fmt.Errorf("%w: %w", errDecode, err)
		}
		return nil
	})
	if err != nil {
		return &TransportError{Op: cl.op, Method: cl.method, Path: cl.path, Err: err}
	}
	return nil
}

// readPooled reads r whole into a recycled buffer and calls use with its bytes, valid only
// during the call. With lastSize, the buffer is first given room for an answer the size of the
// previous one (growing by doubling to ~16 MB allocates and clears twice that), and this
// answer's size is recorded.
func readPooled(r io.Reader, lastSize *atomic.Int64, use func([]byte) error) error {
	buf := bodyBuffers.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledBuffer {
			buf.Reset()
			bodyBuffers.Put(buf)
		}
	}()
	if lastSize != nil {
		buf.Grow(int(lastSize.Load()) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(r); err != nil {
		return err
	}
	if lastSize != nil {
		lastSize.Store(int64(buf.Len()))
	}
	return use(buf.Bytes())
}

// scanAnswer reads r whole (readPooled) and scans it with scan, which must consume exactly
// one JSON value: anything malformed, or data after the value, is an errDecode.
func scanAnswer(r io.Reader, lastSize *atomic.Int64, scan func(*jsonscan.Scanner) error) error {
	return readPooled(r, lastSize, func(b []byte) error {
		sc := jsonscan.New(b)
		err := scan(sc)
		if err == nil {
			err = sc.End()
		}
		if err != nil {
			return fmt.Errorf("%w: %w", errDecode, err)
		}
		return nil
	})
}

// bodyBuffers recycles answer buffers: a page of volumes is around a
// megabyte, and a reconcile reads many pages.
var bodyBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuffer is the largest buffer kept for the next answer: room for a page of volumes.
// The whole-cluster answers an analysis reads (9–16 MB of specs, ~5 MB of replicas at 10,000
// volumes) are rare, and a pooled buffer that size stayed in the heap (11 MB in use at the end
// of a profiled scale run).
const maxPooledBuffer = 4 << 20

func newAPIError(cl call, resp *http.Response) *APIError {
	ae := &APIError{Op: cl.op, Method: cl.method, Path: cl.path, StatusCode: resp.StatusCode, Status: resp.Status}
	if ae.Status == "" {
		ae.Status = strconv.Itoa(resp.StatusCode) + " " + http.StatusText(resp.StatusCode)
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var body RestJsonError
	if err := json.Unmarshal(raw, &body); err == nil && (body.Kind != "" || body.Details != "" || body.Message != "") {
		ae.Body = body
		return ae
	}
	s := strings.TrimSpace(string(raw))
	if len(s) > maxErrorBody {
		s = s[:maxErrorBody] + "…"
	}
	ae.Raw = s
	return ae
}
