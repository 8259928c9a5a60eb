package sim

import (
	"fmt"
	"net/http"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// ---- transport faults: what the next calls of an operation suffer ----

// FaultMode is how an injected fault hits a call.
type FaultMode string

// Fault modes.
const (
	// FaultStatus answers with Status (default 503) and a RestJsonError,
	// without executing the call.
	FaultStatus FaultMode = "status"
	// FaultDrop closes the connection without an answer, without executing the call.
	FaultDrop FaultMode = "drop"
	// FaultDropAfter executes the call, then closes the connection without an
	// answer: the client cannot know the call took effect.
	FaultDropAfter FaultMode = "drop-after"
	// FaultLatency delays the call by Latency, then executes it.
	FaultLatency FaultMode = "latency"
	// FaultLate answers Status (default 504), or drops the connection with
	// Drop, without executing the call now: its effect lands Delay later
	// (simulation time) or once After more REST calls were served, as an
	// operation that outlives its client's timeout. Until then the
	// operation guard of its volume or node answers 409 to other operations
	// on it (late.go).
	FaultLate FaultMode = "late"
)

// Fault is an injected failure of the next Count calls of Operation (the
// spec's operationId, e.g. put_volume_replica_count, or "*" for every REST
// call). Count <= 0 means every call until the faults are cleared.
type Fault struct {
	Operation string    `json:"operation"`
	Mode      FaultMode `json:"mode"`
	Count     int       `json:"count,omitempty"`
	Status    int       `json:"status,omitempty"`
	Latency   Duration  `json:"latency,omitzero"`
	// Delay (mode late): the effect lands this long after the call.
	Delay Duration `json:"delay,omitzero"`
	// After (mode late): the effect lands once this many more REST calls
	// were served (right after the After-th one's own effect).
	After int `json:"after,omitempty"`
	// Drop (mode late): close the connection instead of answering Status.
	Drop bool `json:"drop,omitempty"`
}

func (f *Fault) validate() error {
	if f.Operation == "" {
		return fmt.Errorf("operation: name a spec operationId or \"*\"")
	}
	switch f.Mode {
	case FaultStatus:
		if f.Status == 0 {
			f.Status = http.StatusServiceUnavailable
		}
		if f.Status < 400 || f.Status > 599 {
			return fmt.Errorf("status: want a 4xx or 5xx code, got %d", f.Status)
		}
	case FaultDrop, FaultDropAfter:
	case FaultLatency:
		if f.Latency.Duration <= 0 {
			return fmt.Errorf("latency: must be positive")
		}
	case FaultLate:
		if err := validateLate(f); err != nil { // late.go
			return err
		}
	default:
		return fmt.Errorf("mode: want status, drop, drop-after, latency or late, got %q", f.Mode)
	}
	return nil
}

type faultTable struct {
	rules []*Fault
}

// take returns the faults that hit one call of op, consuming their counts.
func (t *faultTable) take(op string) []Fault {
	var hit []Fault
	kept := t.rules[:0]
	for _, f := range t.rules {
		if f.Operation == op || f.Operation == "*" {
			hit = append(hit, *f)
			if f.Count > 0 {
				f.Count--
				if f.Count == 0 {
					continue
				}
			}
		}
		kept = append(kept, f)
	}
	t.rules = kept
	return hit
}

// InjectFault adds a transport fault.
func (s *Sim) InjectFault(f Fault) error {
	if err := f.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.rules = append(s.faults.rules, &f)
	return nil
}

// ClearFaults removes every pending transport fault.
func (s *Sim) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.rules = nil
}

// Faults lists the pending transport faults.
func (s *Sim) Faults() []Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Fault, 0, len(s.faults.rules))
	for _, f := range s.faults.rules {
		out = append(out, *f)
	}
	return out
}

// ---- cluster faults ----

// FaultReplica faults a replica now (as a data-plane I/O error would): its
// nexus child becomes Faulted, a running rebuild onto it fails, and self-heal
// replaces it.
func (s *Sim) FaultReplica(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sync()
	r, ok := s.replicas[id]
	if !ok || r.specOnly {
		return errReplicaNotFound(id)
	}
	r.faulted = true
	if r.volume != nil {
		s.replicaLost(r)
	}
	return nil
}

// FaultNextRebuild makes the next rebuild of the volume fail when it reaches
// atPercent of its duration (the replica being rebuilt faults).
func (s *Sim) FaultNextRebuild(volumeID string, atPercent float64) error {
	if atPercent < 0 || atPercent >= 100 {
		return errInvalidArgument("at_percent must be within [0, 100), got %g", atPercent)
	}
	return s.updateVolume(volumeID, func(v *simVolume) { v.faultNextRebuild = atPercent / 100 })
}

// SetPoolStatus sets the status io-engine reports for a pool: Faulted or
// Unknown takes it out of placement and faults the replicas on it; Online
// brings it back.
func (s *Sim) SetPoolStatus(id string, st mayastor.PoolStatus) error {
	switch st {
	case mayastor.PoolStatusOnline, mayastor.PoolStatusDegraded, mayastor.PoolStatusFaulted, mayastor.PoolStatusUnknown:
	default:
		return errInvalidArgument("pool status must be Online, Degraded, Faulted or Unknown, got %q", st)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sync()
	p, ok := s.pools[id]
	if !ok {
		return errPoolNotFound(id)
	}
	p.status = st
	for _, r := range s.replicasOn(func(r *simReplica) bool { return r.pool == p }) {
		if r.state() != mayastor.ReplicaStateOnline {
			s.replicaLost(r)
		} else {
			s.markDirty(r.volume)
		}
	}
	s.markAllDegraded()
	return nil
}

// FillPool sets the bytes a pool has used outside its replicas (0 empties it).
func (s *Sim) FillPool(id string, bytes int64) error {
	if bytes < 0 {
		return errInvalidArgument("bytes must not be negative")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sync()
	p, ok := s.pools[id]
	if !ok {
		return errPoolNotFound(id)
	}
	p.filler = bytes
	s.markAllDegraded()
	s.checkENOSPC() // enospc.go
	return nil
}

// SetNodeOnline drops a node (its pools stop reporting, its replicas become
// unreachable, a nexus on it stops serving) or brings it back.
func (s *Sim) SetNodeOnline(id string, online bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sync()
	n, ok := s.nodes[id]
	if !ok {
		return errNodeNotFound(id)
	}
	if n.online == online {
		return nil
	}
	if !online {
		for _, v := range s.volumes {
			if v.target != nil && v.target.node == n && !v.target.shutdown {
				s.ioPause(v)
				for _, c := range v.target.children {
					s.stopRebuild(v, c, mayastor.RebuildJobStateFailed)
					if c.state == mayastor.ChildStateDegraded {
						v.nexusInfo[c.replica.uuid] = false
					}
				}
			}
		}
	}
	n.online = online
	for _, r := range s.replicasOn(func(r *simReplica) bool { return r.node() == n }) {
		// A nexus on the same node goes down with the replica and records
		// nothing: its NexusInfo still trusts the replica when the node returns.
		if !online && (r.volume.target == nil || r.volume.target.node != n) {
			s.replicaLost(r)
		}
		s.markDirty(r.volume)
	}
	if online {
		for _, v := range s.volumes {
			if v.target != nil && v.target.node == n && !v.target.shutdown {
				// A child that was rebuilding when the target went away restarts.
				kept := v.target.children[:0]
				for _, c := range v.target.children {
					if c.state == mayastor.ChildStateDegraded && c.rebuild == nil {
						continue
					}
					kept = append(kept, c)
				}
				v.target.children = kept
				s.ioResume(v)
				s.markDirty(v)
			}
		}
		s.markAllDegraded()
		s.destroyDisowned(n) // disown.go
		if s.deletingOn(n) {
			s.scheduleReplicaGC() // poolreplica.go
		}
	} else {
		s.scheduleFailovers(n) // ha.go
	}
	return nil
}

func (s *Sim) replicasOn(match func(*simReplica) bool) []*simReplica {
	var out []*simReplica
	for _, id := range s.volOrder {
		for _, r := range s.volumes[id].replicas {
			if match(r) {
				out = append(out, r)
			}
		}
	}
	return out
}

// SetWorkload replaces a volume's workload from now on; the counters keep
// what was accrued.
func (s *Sim) SetWorkload(volumeID string, w Workload) error {
	if err := w.Validate(); err != nil {
		return errInvalidArgument("workload: %v", err)
	}
	return s.updateVolume(volumeID, func(v *simVolume) { s.setWorkload(v, w.resolve(s.rng)) })
}
