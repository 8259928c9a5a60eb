package mayastor

import (
	"context"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/billyronks/couchestor/internal/jsonscan"
)

// CountReplicasByPool counts the replicas io-engine reports on each pool (GET /v0/replicas),
// reading only each replica's pool: at 10,000 volumes the answer is ~5 MB of replicas whose
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
	pools := map[string]string{} // a handful of pools: one string each
	return scanAnswer(r, lastSize, func(sc *jsonscan.Scanner) error {
		return sc.Array(func() error {
			var pool string
			err := sc.Object(func(key []byte) error {
				if string(key) != "pool" {
					return sc.Skip()
				}
				var err error
				pool, err = sc.InternedStr(pools)
				return err
			})
			if err == nil {
				counts[pool]++
			}
			return err
		})
	})
}
