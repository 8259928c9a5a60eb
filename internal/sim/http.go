package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// Handler serves the REST v0 subset under /v0, the io-engine exporters'
// series on /metrics (?node=<id> for one node's exporter), and fault
// injection and control under /admin.
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	api := func(pattern, op string, h func(*http.Request) (any, error)) {
		mux.Handle(pattern, s.withFaults(op, h))
	}
	api("GET /v0/volumes", "get_volumes", s.httpListVolumes)
	api("GET /v0/volumes/{volume_id}", "get_volume", func(r *http.Request) (any, error) {
		id, err := volumeID(r)
		if err != nil {
			return nil, err
		}
		return s.Volume(id)
	})
	api("PUT /v0/volumes/{volume_id}/replica_count/{replica_count}", "put_volume_replica_count", s.httpReplicaCount)
	api("PUT /v0/volumes/{volume_id}/target", "put_volume_target", s.httpPublish)
	api("DELETE /v0/volumes/{volume_id}/target", "del_volume_target", func(r *http.Request) (any, error) {
		id, err := volumeID(r)
		if err != nil {
			return nil, err
		}
		force := false
		if f := r.URL.Query().Get("force"); f != "" {
			if force, err = strconv.ParseBool(f); err != nil {
				return nil, errDeserialize("Query deserialize error: invalid value for `force`: " + f)
			}
		}
		return s.Unpublish(id, force)
	})
	api("GET /v0/volumes/{volume_id}/rebuild-history", "get_rebuild_history", func(r *http.Request) (any, error) {
		id, err := volumeID(r)
		if err != nil {
			return nil, err
		}
		return s.RebuildHistory(id)
	})
	api("GET /v0/pools", "get_pools", func(r *http.Request) (any, error) { return s.Pools("") })
	api("GET /v0/pools/{pool_id}", "get_pool", func(r *http.Request) (any, error) { return s.Pool(r.PathValue("pool_id")) })
	api("PUT /v0/pools/{pool_id}/label/{label}", "put_pool_label", func(r *http.Request) (any, error) {
		key, value, ok := strings.Cut(r.PathValue("label"), "=")
		if !ok {
			return nil, errDeserialize("can not parse the label '" + r.PathValue("label") + "': want key=value")
		}
		overwrite := false
		if o := r.URL.Query().Get("overwrite"); o != "" {
			var err error
			if overwrite, err = strconv.ParseBool(o); err != nil {
				return nil, errDeserialize("Query deserialize error: invalid value for `overwrite`: " + o)
			}
		}
		return s.LabelPool(r.PathValue("pool_id"), key, value, overwrite)
	})
	api("DELETE /v0/pools/{pool_id}/label/{key}", "del_pool_label", func(r *http.Request) (any, error) {
		return s.UnlabelPool(r.PathValue("pool_id"), r.PathValue("key"))
	})
	api("GET /v0/nodes", "get_nodes", func(r *http.Request) (any, error) {
		if id := r.URL.Query().Get("node_id"); id != "" {
			n, err := s.Node(id)
			if err != nil {
				return nil, err
			}
			return []mayastor.Node{n}, nil
		}
		return s.Nodes(), nil
	})
	api("GET /v0/nodes/{id}", "get_node", func(r *http.Request) (any, error) { return s.Node(r.PathValue("id")) })
	api("GET /v0/nodes/{id}/pools", "get_node_pools", func(r *http.Request) (any, error) { return s.Pools(r.PathValue("id")) })
	api("PUT /v0/nodes/{id}/cordon/{label}", "put_node_cordon", func(r *http.Request) (any, error) {
		return s.Cordon(r.PathValue("id"), r.PathValue("label"))
	})
	api("DELETE /v0/nodes/{id}/cordon/{label}", "delete_node_cordon", func(r *http.Request) (any, error) {
		return s.Uncordon(r.PathValue("id"), r.PathValue("label"))
	})
	api("GET /v0/specs", "get_specs", func(r *http.Request) (any, error) { return s.Specs(), nil })
	api("GET /v0/replicas", "get_replicas", func(r *http.Request) (any, error) { return s.Replicas(), nil })
	api("GET /v0/replicas/{id}", "get_replica", func(r *http.Request) (any, error) { return s.Replica(r.PathValue("id")) })
	api("PUT /v0/pools/{pool_id}/replicas/{replica_id}", "put_pool_replica", func(r *http.Request) (any, error) {
		id, req, err := parseCreateReplica(r)
		if err != nil {
			return nil, err
		}
		return s.CreatePoolReplica(r.PathValue("pool_id"), id, req)
	})
	api("DELETE /v0/pools/{pool_id}/replicas/{replica_id}", "del_pool_replica", func(r *http.Request) (any, error) {
		id, err := replicaID(r)
		if err != nil {
			return nil, err
		}
		return noContent{}, s.DeletePoolReplica(r.PathValue("pool_id"), id)
	})
	api("PUT /v0/nodes/{id}/pools/{pool_id}/replicas/{replica_id}", "put_node_pool_replica", func(r *http.Request) (any, error) {
		id, req, err := parseCreateReplica(r)
		if err != nil {
			return nil, err
		}
		return s.CreateNodePoolReplica(r.PathValue("id"), r.PathValue("pool_id"), id, req)
	})
	api("DELETE /v0/nodes/{id}/pools/{pool_id}/replicas/{replica_id}", "del_node_pool_replica", func(r *http.Request) (any, error) {
		id, err := replicaID(r)
		if err != nil {
			return nil, err
		}
		return noContent{}, s.DeleteNodePoolReplica(r.PathValue("id"), r.PathValue("pool_id"), id)
	})

	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_ = s.WriteMetrics(w, r.URL.Query().Get("node"))
	})
	s.adminRoutes(mux)
	return mux
}

// withFaults applies the injected transport faults of op, then serves the call.
func (s *Sim) withFaults(op string, h func(*http.Request) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		faults := s.faults.take(op)
		s.mu.Unlock()
		// late.go: effects due after N more calls. The call that registers a late operation
		// does not count for it (counted here, not after the answer, it could race with the
		// client's next call once the connection is dropped).
		served := false
		defer func() {
			if !served {
				s.countLateCalls()
			}
		}()
		dropAfter := false
		for _, f := range faults {
			switch f.Mode {
			case FaultLate:
				s.countLateCalls()
				served = true
				s.serveLate(w, r, op, f) // late.go
				return
			case FaultLatency:
				s.sleep(f.Latency.Duration)
			case FaultStatus:
				writeError(w, &APIError{Status: f.Status, Kind: kindForStatus(f.Status),
					Message: "injected fault", Details: fmt.Sprintf("simulated failure of %s", op)})
				return
			case FaultDrop:
				dropConnection(w)
				return
			case FaultDropAfter:
				dropAfter = true
			}
		}
		body, err := h(r)
		if dropAfter {
			dropConnection(w)
			return
		}
		if err != nil {
			writeError(w, err)
			return
		}
		if _, ok := body.(noContent); ok {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeJSON(w, http.StatusOK, body)
	})
}

// noContent is the answer of a call that succeeds with 204 and no body.
type noContent struct{}

func kindForStatus(code int) mayastor.ErrorKind {
	switch code {
	case http.StatusNotFound:
		return mayastor.ErrorKindNotFound
	case http.StatusPreconditionFailed:
		return mayastor.ErrorKindFailedPrecondition
	case http.StatusConflict:
		return mayastor.ErrorKindConflict
	case http.StatusRequestTimeout:
		return mayastor.ErrorKindTimeout
	case http.StatusGatewayTimeout:
		return mayastor.ErrorKindDeadlineExceeded
	case http.StatusInsufficientStorage:
		return mayastor.ErrorKindResourceExhausted
	case http.StatusServiceUnavailable:
		return mayastor.ErrorKindUnavailable
	}
	if code < 500 {
		return mayastor.ErrorKindInvalidArgument
	}
	return mayastor.ErrorKindInternal
}

// dropConnection closes the client's connection without an answer.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler) // the server aborts the response and closes the connection
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, &APIError{Status: 500, Kind: mayastor.ErrorKindInternal, Details: err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, err error) {
	var ae *APIError
	if !errors.As(err, &ae) {
		ae = &APIError{Status: 500, Kind: mayastor.ErrorKindInternal, Details: err.Error()}
	}
	writeJSON(w, ae.Status, ae.Body())
}

func volumeID(r *http.Request) (string, error) {
	id := r.PathValue("volume_id")
	if !uuidPattern.MatchString(id) {
		return "", errDeserialize(fmt.Sprintf("can not parse %q to a Uuid", id))
	}
	return id, nil
}

func replicaID(r *http.Request) (string, error) {
	id := r.PathValue("replica_id")
	if !uuidPattern.MatchString(id) {
		return "", errDeserialize(fmt.Sprintf("can not parse %q to a Uuid", id))
	}
	return id, nil
}

// parseCreateReplica reads the replica id and the CreateReplicaBody of PUT
// .../replicas/{replica_id}: size and thin are required; allowed-hosts is a
// list of NQNs (not validated); CreatePoolReplica checks the share.
func parseCreateReplica(r *http.Request) (string, CreateReplicaRequest, error) {
	id, err := replicaID(r)
	if err != nil {
		return "", CreateReplicaRequest{}, err
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return "", CreateReplicaRequest{}, errDeserialize("Json deserialize error: " + err.Error())
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return "", CreateReplicaRequest{}, errDeserialize("Json deserialize error: " + err.Error())
	}
	for _, f := range []string{"size", "thin"} {
		if _, ok := fields[f]; !ok {
			return "", CreateReplicaRequest{}, errDeserialize(fmt.Sprintf("Json deserialize error: missing field `%s`", f))
		}
	}
	var body struct {
		Size         uint64            `json:"size"`
		Thin         bool              `json:"thin"`
		Share        mayastor.Protocol `json:"share"`
		AllowedHosts []string          `json:"allowed-hosts"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return "", CreateReplicaRequest{}, errDeserialize("Json deserialize error: " + err.Error())
	}
	return id, CreateReplicaRequest{Size: body.Size, Thin: body.Thin, Share: body.Share, AllowedHosts: body.AllowedHosts}, nil
}

func (s *Sim) httpListVolumes(r *http.Request) (any, error) {
	q := r.URL.Query()
	if !q.Has("max_entries") {
		return nil, errDeserialize("Query deserialize error: missing field `max_entries`")
	}
	max, err := strconv.ParseInt(q.Get("max_entries"), 10, 64)
	if err != nil {
		return nil, errDeserialize("Query deserialize error: invalid digit found in string")
	}
	start := int64(0)
	if q.Has("starting_token") {
		if start, err = strconv.ParseInt(q.Get("starting_token"), 10, 64); err != nil {
			return nil, errDeserialize("Query deserialize error: invalid digit found in string")
		}
	}
	if id := q.Get("volume_id"); id != "" {
		if !uuidPattern.MatchString(id) {
			return nil, errDeserialize(fmt.Sprintf("Query deserialize error: can not parse %q to a Uuid", id))
		}
		v, err := s.Volume(id)
		if err != nil {
			// The filter "bypasses" the 404: no such volume is an empty page.
			return mayastor.Volumes{Entries: []mayastor.Volume{}}, nil
		}
		return mayastor.Volumes{Entries: []mayastor.Volume{v}}, nil
	}
	return s.ListVolumes(int(max), int(start)), nil
}

func (s *Sim) httpReplicaCount(r *http.Request) (any, error) {
	id, err := volumeID(r)
	if err != nil {
		return nil, err
	}
	n, err := strconv.ParseUint(r.PathValue("replica_count"), 10, 8)
	if err != nil {
		return nil, errDeserialize(fmt.Sprintf("can not parse %q to a u8", r.PathValue("replica_count")))
	}
	return s.SetReplicaCount(id, int(n))
}

func (s *Sim) httpPublish(r *http.Request) (any, error) {
	id, req, err := parsePublish(r)
	if err != nil {
		return nil, err
	}
	return s.Publish(id, req)
}

// parsePublish reads PUT /v0/volumes/{id}/target.
func parsePublish(r *http.Request) (string, PublishRequest, error) {
	id, err := volumeID(r)
	if err != nil {
		return "", PublishRequest{}, err
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return "", PublishRequest{}, errDeserialize("Json deserialize error: " + err.Error())
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return "", PublishRequest{}, errDeserialize("Json deserialize error: " + err.Error())
	}
	for _, req := range []string{"publish_context", "protocol"} {
		if _, ok := fields[req]; !ok {
			return "", PublishRequest{}, errDeserialize(fmt.Sprintf("Json deserialize error: missing field `%s`", req))
		}
	}
	var body mayastor.PublishVolumeBody
	if err := json.Unmarshal(raw, &body); err != nil {
		return "", PublishRequest{}, errDeserialize("Json deserialize error: " + err.Error())
	}
	req := PublishRequest{Node: body.Node, Context: body.PublishContext, Protocol: string(body.Protocol)}
	if body.Republish != nil {
		req.Republish = *body.Republish
	}
	if body.ReuseExisting != nil {
		req.ReuseExisting = *body.ReuseExisting
	}
	return id, req, nil
}

// ---- admin ----

// Stepper is a clock the admin endpoint can advance (the fake clock and the
// binary's scaled clock).
type Stepper interface{ Step(time.Duration) }

func (s *Sim) adminRoutes(mux *http.ServeMux) {
	admin := func(pattern string, h func(*http.Request) (any, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			out, err := h(r)
			if err != nil {
				var ae *APIError
				if !errors.As(err, &ae) {
					ae = &APIError{Status: http.StatusBadRequest, Kind: mayastor.ErrorKindInvalidArgument, Details: err.Error()}
				}
				writeError(w, ae)
				return
			}
			if out == nil {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			writeJSON(w, http.StatusOK, out)
		})
	}
	decode := func(r *http.Request, v any) error {
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			return fmt.Errorf("body: %w", err)
		}
		return nil
	}
	s.extraAdminRoutes(admin, decode) // admin.go
	admin("GET /admin/faults", func(r *http.Request) (any, error) { return s.Faults(), nil })
	admin("POST /admin/faults", func(r *http.Request) (any, error) {
		var f Fault
		if err := decode(r, &f); err != nil {
			return nil, err
		}
		return nil, s.InjectFault(f)
	})
	admin("DELETE /admin/faults", func(r *http.Request) (any, error) { s.ClearFaults(); return nil, nil })
	admin("POST /admin/replicas/{id}/fault", func(r *http.Request) (any, error) {
		return nil, s.FaultReplica(r.PathValue("id"))
	})
	admin("POST /admin/volumes/{id}/fault-next-rebuild", func(r *http.Request) (any, error) {
		var b struct {
			AtPercent float64 `json:"at_percent"`
		}
		if err := decode(r, &b); err != nil {
			return nil, err
		}
		return nil, s.FaultNextRebuild(r.PathValue("id"), b.AtPercent)
	})
	admin("PUT /admin/volumes/{id}/workload", func(r *http.Request) (any, error) {
		var wl Workload
		if err := decode(r, &wl); err != nil {
			return nil, err
		}
		return nil, s.SetWorkload(r.PathValue("id"), wl)
	})
	admin("PUT /admin/pools/{id}/status", func(r *http.Request) (any, error) {
		var b struct {
			Status mayastor.PoolStatus `json:"status"`
		}
		if err := decode(r, &b); err != nil {
			return nil, err
		}
		return nil, s.SetPoolStatus(r.PathValue("id"), b.Status)
	})
	admin("PUT /admin/pools/{id}/fill", func(r *http.Request) (any, error) {
		var b struct {
			Bytes ByteSize `json:"bytes"`
		}
		if err := decode(r, &b); err != nil {
			return nil, err
		}
		return nil, s.FillPool(r.PathValue("id"), int64(b.Bytes))
	})
	admin("POST /admin/nodes/{id}/drop", func(r *http.Request) (any, error) {
		return nil, s.SetNodeOnline(r.PathValue("id"), false)
	})
	admin("POST /admin/nodes/{id}/restore", func(r *http.Request) (any, error) {
		return nil, s.SetNodeOnline(r.PathValue("id"), true)
	})
	admin("POST /admin/core/restart", func(r *http.Request) (any, error) {
		s.RestartCoreAgent()
		return nil, nil
	})
	admin("GET /admin/clock", func(r *http.Request) (any, error) {
		return map[string]string{"now": s.Now().UTC().Format(time.RFC3339Nano)}, nil
	})
	admin("POST /admin/clock/advance", func(r *http.Request) (any, error) {
		var b struct {
			Duration Duration `json:"duration"`
		}
		if err := decode(r, &b); err != nil {
			return nil, err
		}
		st, ok := s.clock.(Stepper)
		if !ok {
			return nil, &APIError{Status: http.StatusConflict, Kind: mayastor.ErrorKindConflict,
				Details: "this simulator's clock cannot be advanced"}
		}
		if b.Duration.Duration <= 0 {
			return nil, fmt.Errorf("duration: must be positive")
		}
		st.Step(b.Duration.Duration)
		return map[string]string{"now": s.Now().UTC().Format(time.RFC3339Nano)}, nil
	})
}

// Now is the simulation's present.
func (s *Sim) Now() time.Time { return s.clock.Now() }
