package mayastor

// The REST v0 operations, one method each, over the request frame of client.go (do: retries,
// timeouts, decoding).

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

func esc(s string) string { return url.PathEscape(s) }

// ListVolumes returns one page of volumes: at most maxEntries (the spec
// requires the parameter; 0 asks the server for all), starting at
// startingToken (0 for the first page). The page's NextToken is nil on the
// last page.
func (c *Client) ListVolumes(ctx context.Context, maxEntries int, startingToken uint64) (*Volumes, error) {
	q := url.Values{"max_entries": {strconv.Itoa(maxEntries)}}
	if startingToken > 0 {
		q.Set("starting_token", strconv.FormatUint(startingToken, 10))
	}
	var page Volumes
	op := fmt.Sprintf("list volumes (max_entries %d, starting_token %d)", maxEntries, startingToken)
	if err := c.do(ctx, call{op: op, method: http.MethodGet, path: "/volumes", query: q, out: &page}); err != nil {
		return nil, err
	}
	return &page, nil
}

// ListAllVolumes walks every page of GET /v0/volumes with Config.PageSize
// entries per page and returns all volumes.
func (c *Client) ListAllVolumes(ctx context.Context) ([]Volume, error) {
	var all []Volume
	err := c.WalkVolumes(ctx, func(page []Volume) error {
		if all == nil {
			all = make([]Volume, 0, len(page))
		}
		all = append(all, page...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return all, nil
}

// WalkVolumes calls fn with each page of GET /v0/volumes (Config.PageSize
// entries per page) in order, so that a caller can reduce volumes to what it
// needs without holding every page. An error from fn stops the walk and is
// returned as is.
func (c *Client) WalkVolumes(ctx context.Context, fn func(page []Volume) error) error {
	var token uint64
	for {
		page, err := c.ListVolumes(ctx, c.pageSize, token)
		if err != nil {
			return err
		}
		if err := fn(page.Entries); err != nil {
			return err
		}
		if page.NextToken == nil {
			return nil
		}
		if *page.NextToken <= token {
			return fmt.Errorf("mayastor: list volumes: next_token %d does not advance past %d", *page.NextToken, token)
		}
		token = *page.NextToken
	}
}

// GetVolume returns one volume.
func (c *Client) GetVolume(ctx context.Context, volumeID string) (*Volume, error) {
	var v Volume
	err := c.do(ctx, call{op: "get volume " + volumeID, method: http.MethodGet, path: "/volumes/" + esc(volumeID), out: &v})
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// SetReplicaCount asks for n replicas (PUT /volumes/{id}/replica_count/{n}).
// The control plane changes the count by one at a time.
func (c *Client) SetReplicaCount(ctx context.Context, volumeID string, n int) (*Volume, error) {
	var v Volume
	err := c.do(ctx, call{
		op:     fmt.Sprintf("set replica count of volume %s to %d", volumeID, n),
		method: http.MethodPut,
		path:   fmt.Sprintf("/volumes/%s/replica_count/%d", esc(volumeID), n),
		out:    &v,
	})
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// PublishVolume creates (or, with body.Republish, moves) the volume's target
// (PUT /volumes/{id}/target).
func (c *Client) PublishVolume(ctx context.Context, volumeID string, body PublishVolumeBody) (*Volume, error) {
	verb := "publish"
	if body.Republish != nil && *body.Republish {
		verb = "republish"
	}
	op := fmt.Sprintf("%s volume %s", verb, volumeID)
	if body.Node != "" {
		op += " on node " + body.Node
	}
	var v Volume
	err := c.do(ctx, call{op: op, method: http.MethodPut, path: "/volumes/" + esc(volumeID) + "/target", body: body, out: &v})
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// UnpublishVolume removes the volume's target (DELETE /volumes/{id}/target).
func (c *Client) UnpublishVolume(ctx context.Context, volumeID string, force bool) (*Volume, error) {
	var q url.Values
	if force {
		q = url.Values{"force": {"true"}}
	}
	var v Volume
	err := c.do(ctx, call{op: "unpublish volume " + volumeID, method: http.MethodDelete, path: "/volumes/" + esc(volumeID) + "/target", query: q, out: &v})
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// GetRebuildHistory returns the rebuild records of a published volume's target.
func (c *Client) GetRebuildHistory(ctx context.Context, volumeID string) (*RebuildHistory, error) {
	var h RebuildHistory
	err := c.do(ctx, call{op: "get rebuild history of volume " + volumeID, method: http.MethodGet, path: "/volumes/" + esc(volumeID) + "/rebuild-history", out: &h})
	if err != nil {
		return nil, err
	}
	return &h, nil
}

// GetReplicaOrder reads where volumeID's replicas sit in the core agent's replica map
// (GET /v0/specs). Only the replica specs are decoded: a 10,000-volume cluster's volume, nexus
// and pool specs are skipped, not allocated.
func (c *Client) GetReplicaOrder(ctx context.Context, volumeID string) (ReplicaOrder, error) {
	specs, err := c.GetReplicaSpecs(ctx)
	if err != nil {
		return ReplicaOrder{}, err
	}
	return OrderOf(specs, volumeID), nil
}

// GetReplicaSpecs reads GET /v0/specs decoding only the replica specs, in the core agent's
// replica map order, each with uuid, pool, share, managed, thin, size and owners.volume set
// (decodeReplicaSpecs; every other field is left empty).
func (c *Client) GetReplicaSpecs(ctx context.Context) (*Specs, error) {
	var s Specs
	err := c.do(ctx, call{op: "get specs", method: http.MethodGet, path: "/specs", decode: func(r io.Reader) error {
		s.Replicas = s.Replicas[:0]
		return decodeReplicaSpecs(r, &s.Replicas, &c.lastSpecsSize)
	}})
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// CreatePoolReplica creates a replica on a pool that belongs to no volume
// (PUT /v0/pools/{pool_id}/replicas/{replica_id}).
func (c *Client) CreatePoolReplica(ctx context.Context, poolID, replicaID string, body CreateReplicaBody) (*Replica, error) {
	var r Replica
	err := c.do(ctx, call{
		op:     fmt.Sprintf("create replica %s on pool %s", replicaID, poolID),
		method: http.MethodPut,
		path:   "/pools/" + esc(poolID) + "/replicas/" + esc(replicaID),
		body:   body,
		out:    &r,
	})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// DeletePoolReplica destroys a replica on a pool (DELETE /v0/pools/{pool_id}/replicas/{replica_id}).
func (c *Client) DeletePoolReplica(ctx context.Context, poolID, replicaID string) error {
	return c.do(ctx, call{
		op:     fmt.Sprintf("delete replica %s on pool %s", replicaID, poolID),
		method: http.MethodDelete,
		path:   "/pools/" + esc(poolID) + "/replicas/" + esc(replicaID),
	})
}

// ListPools returns every pool.
func (c *Client) ListPools(ctx context.Context) ([]Pool, error) {
	var pools []Pool
	if err := c.do(ctx, call{op: "list pools", method: http.MethodGet, path: "/pools", out: &pools}); err != nil {
		return nil, err
	}
	return pools, nil
}

// ListNodes returns every io-engine node.
func (c *Client) ListNodes(ctx context.Context) ([]Node, error) {
	var nodes []Node
	if err := c.do(ctx, call{op: "list nodes", method: http.MethodGet, path: "/nodes", out: &nodes}); err != nil {
		return nil, err
	}
	return nodes, nil
}

// GetNode returns one node.
func (c *Client) GetNode(ctx context.Context, nodeID string) (*Node, error) {
	var n Node
	if err := c.do(ctx, call{op: "get node " + nodeID, method: http.MethodGet, path: "/nodes/" + esc(nodeID), out: &n}); err != nil {
		return nil, err
	}
	return &n, nil
}

// CordonNode adds a cordon label to a node: the node then takes no new
// replica or nexus until every cordon label is removed.
func (c *Client) CordonNode(ctx context.Context, nodeID, label string) (*Node, error) {
	var n Node
	err := c.do(ctx, call{
		op:     fmt.Sprintf("cordon node %s with label %s", nodeID, label),
		method: http.MethodPut,
		path:   "/nodes/" + esc(nodeID) + "/cordon/" + esc(label),
		out:    &n,
	})
	if err != nil {
		return nil, err
	}
	return &n, nil
}

// UncordonNode removes one cordon label from a node.
func (c *Client) UncordonNode(ctx context.Context, nodeID, label string) (*Node, error) {
	var n Node
	err := c.do(ctx, call{
		op:     fmt.Sprintf("uncordon node %s from label %s", nodeID, label),
		method: http.MethodDelete,
		path:   "/nodes/" + esc(nodeID) + "/cordon/" + esc(label),
		out:    &n,
	})
	if err != nil {
		return nil, err
	}
	return &n, nil
}
