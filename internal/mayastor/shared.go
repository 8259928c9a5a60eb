package mayastor

import (
	"context"
)

// SharedReplicaOrder is GetReplicaOrder for a prediction (a migration's analysis): callers that
// ask while a GET /v0/specs is already on its way for another prediction get that answer
// instead of sending their own. At 100,000 volumes the answer is ~150 MB, and ten analyses at
// once each reading it starve everything else; an answer shared this way started at most one
// request earlier than the caller asked. Steps that act on the map (scale up, scale down,
// abort) read it themselves (GetReplicaOrder).
func (c *Client) SharedReplicaOrder(ctx context.Context, volumeID string) (ReplicaOrder, error) {
	specs, err := shared(ctx, c, "specs", c.GetReplicaSpecs)
	if err != nil {
		return ReplicaOrder{}, err
	}
	return OrderOf(specs, volumeID), nil
}

// SharedReplicaCounts is CountReplicasByPool for a prediction, shared like SharedReplicaOrder.
// The map is shared by its callers: they only read it.
func (c *Client) SharedReplicaCounts(ctx context.Context) (map[string]int, error) {
	return shared(ctx, c, "replicas", c.CountReplicasByPool)
}

// shared runs read once for every caller asking under key while it runs. The read is not
// cancelled by one caller giving up (the others may still want it); each caller waits only as
// long as its own ctx allows. The read has the client's own timeout.
func shared[T any](ctx context.Context, c *Client, key string, read func(context.Context) (T, error)) (T, error) {
	ch := c.shared.DoChan(key, func() (any, error) {
		return read(context.WithoutCancel(ctx))
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			var zero T
			return zero, r.Err
		}
		return r.Val.(T), nil
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}
