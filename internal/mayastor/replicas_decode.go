package mayastor

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
)

// CountReplicasByPool counts the replicas io-engine reports on each pool (GET /v0/replicas),
// reading only each replica's pool: at 10,000 volumes the answer is ~8 MB of replicas whose
// other fields the count never reads.
func (c *Client) CountReplicasByPool(ctx context.Context) (map[string]int, error) {
	counts := map[string]int{}
	err := c.do(ctx, call{op: "list replicas", method: http.MethodGet, path: "/replicas", decode: func(r io.Reader) error {
		clear(counts)
		return decodePoolCounts(r, counts, &c.lastReplicasSize)
	}})
	if err != nil {
		return nil, err
	}
	return counts, nil
}

// decodePoolCounts reads a GET /v0/replicas answer (an array of Replica) in one pass and
// counts its replicas by pool; every other field is stepped over. An answer that is not a
// well-formed JSON array of objects is an error. lastSize holds the size of the previous
// answer (nil: none kept).
func decodePoolCounts(r io.Reader, counts map[string]int, lastSize *atomic.Int64) error {
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
	sc := &briefScanner{b: buf.Bytes()}
	pools := map[string]string{} // a handful of pools: one string each
	err := sc.array(func() error {
		var pool string
		err := sc.object(func(key []byte) error {
			if string(key) != "pool" {
				return sc.skip()
			}
			var err error
			pool, err = sc.internedStr(pools)
			return err
		})
		if err == nil {
			counts[pool]++
		}
		return err
	})
	if err == nil {
		if sc.ws(); sc.i != len(sc.b) {
			err = sc.fail("data after the answer")
		}
	}
	if err != nil {
		return fmt.Errorf("%w: %w", errDecode, err)
	}
	return nil
}
