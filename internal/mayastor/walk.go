package mayastor

// The lean walk of GET /v0/volumes: every page decoded by a single-pass scanner straight into
// the fields a tiering decision reads (VolumeBrief), pages fetched concurrently in order.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// WalkVolumeBriefs calls fn with each page of GET /v0/volumes (Config.PageSize entries per
// page), in order, each volume decoded straight into a VolumeBrief as the answer arrives. Up to
// Config.PageConcurrency pages are fetched at once: starting_token is an offset into the volume
// specs and next_token is starting_token + max_entries
// (control-plane/agents/src/bin/core/volume/specs.rs:400-414, volume/service.rs:309-315), so
// the starting token of every page is known in advance. The first page is fetched alone; if its
// next_token is not max_entries (a server that does not paginate by offset), the walk follows
// next_token one page at a time. fn is never called concurrently, and an error from it stops
// the walk and is returned as is.
func (c *Client) WalkVolumeBriefs(ctx context.Context, fn func(page []VolumeBrief) error) error {
	first, err := c.listBriefs(ctx, 0)
	if err != nil {
		return err
	}
	if err := fn(first.entries); err != nil {
		return err
	}
	if first.next == nil {
		return nil
	}
	if c.pageConc <= 1 || *first.next != uint64(c.pageSize) {
		return c.walkBriefsFrom(ctx, 0, *first.next, fn)
	}
	return c.walkBriefsConcurrently(ctx, uint64(c.pageSize), fn)
}

// walkBriefsFrom follows next_token one page at a time from token (prev is the token of the
// page that gave it).
func (c *Client) walkBriefsFrom(ctx context.Context, prev, token uint64, fn func(page []VolumeBrief) error) error {
	for {
		if token <= prev {
			return fmt.Errorf("mayastor: list volumes: next_token %d does not advance past %d", token, prev)
		}
		page, err := c.listBriefs(ctx, token)
		if err != nil {
			return err
		}
		if err := fn(page.entries); err != nil {
			return err
		}
		if page.next == nil {
			return nil
		}
		prev, token = token, *page.next
	}
}

// walkBriefsConcurrently fetches the pages at start, start+PageSize, … with up to PageConcurrency
// in flight, and hands them to fn in order until the last page (no next_token). Pages are asked
// for ahead only up to the last page of the previous walk (the page after the one just handed
// over is always asked for), so a walk of an unchanged cluster sends no request past the end;
// the first walk may send up to PageConcurrency-1. A page whose next_token is not its offset +
// PageSize ends the concurrent walk: the pages fetched ahead are dropped and the walk follows
// next_token from there.
func (c *Client) walkBriefsConcurrently(parent context.Context, start uint64, fn func(page []VolumeBrief) error) error {
	ctx, cancel := context.WithCancel(parent)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	type result struct {
		page briefPage
		err  error
	}
	step := uint64(c.pageSize)
	lastSeen := c.lastPageOffset.Load() // -1: no walk yet
	var inFlight []chan result
	next := start // the offset of the next page to ask for
	fill := func(after uint64) {
		for len(inFlight) < c.pageConc && (next <= after+step || lastSeen < 0 || next <= uint64(lastSeen)) {
			ch := make(chan result, 1)
			inFlight = append(inFlight, ch)
			wg.Add(1)
			go func(token uint64) {
				defer wg.Done()
				p, err := c.listBriefs(ctx, token)
				ch <- result{p, err}
			}(next)
			next += step
		}
	}
	fill(start - step)
	for token := start; ; token += step {
		r := <-inFlight[0]
		inFlight = inFlight[1:]
		if r.err != nil {
			return r.err
		}
		if err := fn(r.page.entries); err != nil {
			return err
		}
		switch {
		case r.page.next == nil:
			c.lastPageOffset.Store(int64(token))
			return nil
		case *r.page.next != token+step:
			cancel()
			wg.Wait()
			return c.walkBriefsFrom(parent, token, *r.page.next, fn)
		}
		fill(token)
	}
}

// briefPage is one page of GET /v0/volumes decoded into briefs.
type briefPage struct {
	entries []VolumeBrief
	next    *uint64
}

func (c *Client) listBriefs(ctx context.Context, token uint64) (briefPage, error) {
	q := url.Values{"max_entries": {strconv.Itoa(c.pageSize)}}
	if token > 0 {
		q.Set("starting_token", strconv.FormatUint(token, 10))
	}
	var page briefPage
	op := fmt.Sprintf("list volumes (max_entries %d, starting_token %d)", c.pageSize, token)
	err := c.do(ctx, call{op: op, method: http.MethodGet, path: "/volumes", query: q, decode: func(r io.Reader) error {
		page = briefPage{entries: make([]VolumeBrief, 0, c.pageSize)}
		return decodeBriefPage(r, &page)
	}})
	return page, err
}

// DecodeBriefPage is the page decoder of WalkVolumeBriefs on one Volumes answer: the briefs and
// next_token. The walk benchmarks of internal/observer measure it without HTTP.
func DecodeBriefPage(r io.Reader) ([]VolumeBrief, *uint64, error) {
	var p briefPage
	err := decodeBriefPage(r, &p)
	return p.entries, p.next, err
}

// decodeBriefPage reads a Volumes answer, appending a brief per volume to page.entries. It
// scans the answer once and decodes only the fields of a VolumeBrief: everything else is stepped
// over, never allocated. An answer that is not well-formed JSON of the Volumes shape is an error.
func decodeBriefPage(r io.Reader, page *briefPage) error {
	return scanAnswer(r, nil, func(sc *briefScanner) error {
		return sc.object(func(key []byte) error {
			switch string(key) {
			case "entries":
				if sc.null() {
					return nil
				}
				return sc.array(func() error {
					var b VolumeBrief
					if err := sc.volume(&b); err != nil {
						return err
					}
					page.entries = append(page.entries, b)
					return nil
				})
			case "next_token":
				if sc.null() {
					page.next = nil
					return nil
				}
				n, err := sc.uint()
				page.next = &n
				return err
			}
			return sc.skip()
		})
	})
}

// briefScanner steps through a JSON answer held in memory.
type briefScanner struct {
	b []byte
	i int
}

func (s *briefScanner) fail(what string) error {
	return fmt.Errorf("%s at offset %d", what, s.i)
}

func (s *briefScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek skips white space and returns the next byte, 0 at the end.
func (s *briefScanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *briefScanner) null() bool {
	if s.peek() == 'n' && bytes.HasPrefix(s.b[s.i:], []byte("null")) {
		s.i += 4
		return true
	}
	return false
}

// object calls fn with each key of an object; fn consumes the value.
func (s *briefScanner) object(fn func(key []byte) error) error {
	if s.peek() != '{' {
		return s.fail("want an object")
	}
	s.i++
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		key, escaped, err := s.rawString()
		if err != nil {
			return err
		}
		if escaped {
			key = nil // no key this decoder reads has an escape: the value is skipped
		}
		if s.peek() != ':' {
			return s.fail("want ':'")
		}
		s.i++
		if err := fn(key); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return s.fail("want ',' or '}'")
		}
	}
}

// array calls fn for each element of an array; fn consumes the element.
func (s *briefScanner) array(fn func() error) error {
	if s.peek() != '[' {
		return s.fail("want an array")
	}
	s.i++
	if s.peek() == ']' {
		s.i++
		return nil
	}
	for {
		if err := fn(); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return s.fail("want ',' or ']'")
		}
	}
}

// rawString returns the bytes between the quotes of a string and whether they hold an escape.
func (s *briefScanner) rawString() ([]byte, bool, error) {
	if s.peek() != '"' {
		return nil, false, s.fail("want a string")
	}
	s.i++
	start, escaped := s.i, false
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return s.b[start : s.i-1], escaped, nil
		case c == '\\':
			escaped = true
			s.i += 2
		case c < 0x20:
			return nil, false, s.fail("control character in a string")
		default:
			s.i++
		}
	}
	return nil, false, s.fail("unterminated string")
}

// str decodes a string (null is "").
func (s *briefScanner) str() (string, error) {
	if s.null() {
		return "", nil
	}
	start := s.i
	raw, escaped, err := s.rawString()
	if err != nil || !escaped {
		return string(raw), err
	}
	var v string
	if err := json.Unmarshal(s.b[start:s.i], &v); err != nil {
		return "", err
	}
	return v, nil
}

// uint decodes a non-negative integer.
func (s *briefScanner) uint() (uint64, error) {
	s.ws()
	start := s.i
	var n uint64
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		d := uint64(s.b[s.i] - '0')
		if n > (math.MaxUint64-d)/10 {
			return 0, s.fail("integer overflows 64 bits")
		}
		n = n*10 + d
		s.i++
	}
	if s.i == start || s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		return 0, s.fail("want a non-negative integer")
	}
	return n, nil
}

// skip steps over one value of any kind.
func (s *briefScanner) skip() error {
	switch c := s.peek(); {
	case c == '{':
		return s.object(func([]byte) error { return s.skip() })
	case c == '[':
		return s.array(s.skip)
	case c == '"':
		_, _, err := s.rawString()
		return err
	case c == '-' || c >= '0' && c <= '9':
		start := s.i
		for s.i < len(s.b) && strings.IndexByte("+-.eE0123456789", s.b[s.i]) >= 0 {
			s.i++
		}
		if !json.Valid(s.b[start:s.i]) {
			return s.fail("malformed number")
		}
		return nil
	default:
		for _, lit := range []string{"true", "false", "null"} {
			if bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
				s.i += len(lit)
				return nil
			}
		}
		return s.fail("want a value")
	}
}

// volume decodes one Volume into b.
func (s *briefScanner) volume(b *VolumeBrief) error {
	return s.object(func(key []byte) error {
		switch string(key) {
		case "spec":
			return s.object(func(key []byte) error {
				var err error
				var n uint64
				switch string(key) {
				case "uuid":
					b.UUID, err = s.str()
				case "size":
					b.Size, err = s.uint()
				case "num_replicas":
					n, err = s.uint()
					b.NumReplicas = int(min(n, math.MaxUint8))
				case "num_snapshots":
					n, err = s.uint()
					b.NumSnapshots = int(min(n, math.MaxUint32))
				case "affinity_group":
					if s.null() {
						return nil
					}
					return s.object(func(key []byte) error {
						if string(key) == "id" {
							b.AffinityGroup, err = s.str()
							return err
						}
						return s.skip()
					})
				default:
					err = s.skip()
				}
				return err
			})
		case "state":
			return s.object(func(key []byte) error {
				switch string(key) {
				case "status":
					if s.null() {
						return nil
					}
					raw, _, err := s.rawString()
					b.Online = string(raw) == string(VolumeStatusOnline)
					return err
				case "target":
					if s.null() {
						return nil
					}
					b.Published = true
					return s.skip()
				case "replica_topology":
					if s.null() {
						return nil
					}
					return s.object(func([]byte) error {
						var pool string
						err := s.object(func(key []byte) error {
							if string(key) == "pool" {
								var err error
								pool, err = s.str()
								return err
							}
							return s.skip()
						})
						b.ReplicaPools = append(b.ReplicaPools, pool)
						return err
					})
				}
				return s.skip()
			})
		}
		return s.skip()
	})
}
