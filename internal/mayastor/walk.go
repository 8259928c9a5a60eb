package mayastor

// The lean walk of GET /v0/volumes: every page decoded by a single-pass scanner straight into
// the fields a tiering decision reads (VolumeBrief), pages fetched concurrently in order.

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"sync"

	"github.com/billyronks/couchestor/internal/jsonscan"
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

// decodeBriefPage reads a Volumes answer, appending a brief per volume to page.entries. It
// scans the answer once and decodes only the fields of a VolumeBrief: everything else is stepped
// over, never allocated. An answer that is not well-formed JSON of the Volumes shape is an error.
func decodeBriefPage(r io.Reader, page *briefPage) error {
	return scanAnswer(r, nil, func(sc *jsonscan.Scanner) error {
		return sc.Object(func(key []byte) error {
			switch string(key) {
			case "entries":
				if sc.Null() {
					return nil
				}
				return sc.Array(func() error {
					var b VolumeBrief
					if err := scanVolume(sc, &b); err != nil {
						return err
					}
					page.entries = append(page.entries, b)
					return nil
				})
			case "next_token":
				if sc.Null() {
					page.next = nil
					return nil
				}
				n, err := sc.Uint()
				page.next = &n
				return err
			}
			return sc.Skip()
		})
	})
}

// volume decodes one Volume into b.
func scanVolume(s *jsonscan.Scanner, b *VolumeBrief) error {
	return s.Object(func(key []byte) error {
		switch string(key) {
		case "spec":
			return s.Object(func(key []byte) error {
				var err error
				var n uint64
				switch string(key) {
				case "uuid":
					b.UUID, err = s.Str()
				case "size":
					b.Size, err = s.Uint()
				case "num_replicas":
					n, err = s.Uint()
					b.NumReplicas = int(min(n, math.MaxUint8))
				case "num_snapshots":
					n, err = s.Uint()
					b.NumSnapshots = int(min(n, math.MaxUint32))
				case "affinity_group":
					if s.Null() {
						return nil
					}
					return s.Object(func(key []byte) error {
						if string(key) == "id" {
							b.AffinityGroup, err = s.Str()
							return err
						}
						return s.Skip()
					})
				default:
					err = s.Skip()
				}
				return err
			})
		case "state":
			return s.Object(func(key []byte) error {
				switch string(key) {
				case "status":
					if s.Null() {
						return nil
					}
					raw, _, err := s.RawString()
					b.Online = string(raw) == string(VolumeStatusOnline)
					return err
				case "target":
					if s.Null() {
						return nil
					}
					b.Published = true
					return s.Skip()
				case "replica_topology":
					if s.Null() {
						return nil
					}
					return s.Object(func([]byte) error {
						var pool string
						err := s.Object(func(key []byte) error {
							if string(key) == "pool" {
								var err error
								pool, err = s.Str()
								return err
							}
							return s.Skip()
						})
						b.ReplicaPools = append(b.ReplicaPools, pool)
						return err
					})
				}
				return s.Skip()
			})
		}
		return s.Skip()
	})
}
