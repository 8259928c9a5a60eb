package sim

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// Operations that take effect after the client gave up, and
// the operation guard they hold meanwhile.
//
// Upstream (read at c02e0cb): the core agent runs each volume operation in a
// spawned task (Context::spawn, core/volume/service.rs:152-163, the
// set_replica handler), so it goes on after the REST client's timeout, and
// may complete after the client saw an error. While it runs it holds the
// resource's operation guard; another operation waits a few tries for it and
// then fails with Conflict, 409 (operation_guard_mode_wait,
// core/controller/resources/operations_helper.rs:830-860;
// control-plane/agents/src/common/errors.rs:232-233, 535-540). Nodes have
// operation guards too (cordon and uncordon take them).
//
// FaultLate reproduces it: the call answers 504 (or its connection drops)
// without any effect, and the effect lands later, when Delay of simulation
// time has passed or After more REST calls were served. The effect is the
// operation run then, with the validations of that moment; its own error, if
// any, is lost with the client. Until it lands, other operations on the same
// volume (replica count, publish, unpublish) or node (cordon, uncordon)
// answer 409; reads are not guarded.

// lateOps lists the operations FaultLate supports.
var lateOps = map[string]bool{
	"put_volume_replica_count": true,
	"put_volume_target":        true,
	"put_node_cordon":          true,
	"delete_node_cordon":       true,
}

func validateLate(f *Fault) error {
	if !lateOps[f.Operation] {
		return fmt.Errorf("operation: mode late supports put_volume_replica_count, put_volume_target, put_node_cordon and delete_node_cordon, got %q", f.Operation)
	}
	if (f.Delay.Duration > 0) == (f.After > 0) {
		return fmt.Errorf("late: set exactly one of delay (a positive duration) and after (a number of calls)")
	}
	if f.Delay.Duration < 0 || f.After < 0 {
		return fmt.Errorf("late: delay and after must not be negative")
	}
	if f.Status == 0 {
		f.Status = http.StatusGatewayTimeout
	}
	if f.Status < 400 || f.Status > 599 {
		return fmt.Errorf("status: want a 4xx or 5xx code, got %d", f.Status)
	}
	return nil
}

type lateOp struct {
	op, key string
	apply   func() // runs under the lock, the model caught up
	after   int    // calls still to serve before it lands; 0: timed
	done    bool
}

func volumeKey(id string) string { return "volume/" + id }
func nodeKey(id string) string   { return "node/" + id }

// guard answers 409 while a late operation holds key's operation guard.
func (s *Sim) guard(key string) *APIError {
	if _, busy := s.guards[key]; busy {
		return svcError(http.StatusConflict, mayastor.ErrorKindConflict, "Conflict",
			"Conflicts with existing operation - please retry")
	}
	return nil
}

// prepareLate parses a call of op and returns the guard it takes and its
// effect, to run later under the lock.
func (s *Sim) prepareLate(op string, r *http.Request) (string, func(), error) {
	switch op {
	case "put_volume_replica_count":
		id, err := volumeID(r)
		if err != nil {
			return "", nil, err
		}
		n, err := strconv.ParseUint(r.PathValue("replica_count"), 10, 8)
		if err != nil {
			return "", nil, errDeserialize(fmt.Sprintf("can not parse %q to a u8", r.PathValue("replica_count")))
		}
		return volumeKey(id), func() {
			if v, ok := s.volumes[id]; ok {
				_ = s.setReplicaCount(v, int(n))
			}
		}, nil
	case "put_volume_target":
		id, req, err := parsePublish(r)
		if err != nil {
			return "", nil, err
		}
		return volumeKey(id), func() {
			if v, ok := s.volumes[id]; ok {
				_ = s.publish(v, req)
			}
		}, nil
	case "put_node_cordon":
		id, label := r.PathValue("id"), r.PathValue("label")
		return nodeKey(id), func() { _, _ = s.cordon(id, label) }, nil
	case "delete_node_cordon":
		id, label := r.PathValue("id"), r.PathValue("label")
		return nodeKey(id), func() { _, _ = s.uncordon(id, label) }, nil
	}
	return "", nil, fmt.Errorf("no late mode for %s", op)
}

// serveLate answers a call hit by a FaultLate and queues its effect.
func (s *Sim) serveLate(w http.ResponseWriter, r *http.Request, op string, f Fault) {
	key, apply, err := s.prepareLate(op, r)
	if err != nil {
		writeError(w, err)
		return
	}
	s.mu.Lock()
	s.sync()
	if gerr := s.guard(key); gerr != nil {
		s.mu.Unlock()
		writeError(w, gerr)
		return
	}
	lo := &lateOp{op: op, key: key, apply: apply, after: f.After}
	s.late = append(s.late, lo)
	s.guards[key] = lo
	if f.After <= 0 {
		s.schedule(&event{at: s.cur.Add(f.Delay.Duration), apply: func() { s.land(lo) }})
	}
	s.mu.Unlock()
	if f.Drop {
		dropConnection(w)
		return
	}
	writeError(w, &APIError{Status: f.Status, Kind: kindForStatus(f.Status),
		Message: "injected late operation", Details: fmt.Sprintf("%s timed out; it will take effect later", op)})
}

// land applies a late operation's effect and releases its guard.
func (s *Sim) land(lo *lateOp) {
	if lo.done {
		return
	}
	lo.done = true
	delete(s.guards, lo.key)
	for i, x := range s.late {
		if x == lo {
			s.late = append(s.late[:i], s.late[i+1:]...)
			break
		}
	}
	lo.apply()
	s.opDone()
}

// countLateCalls counts one served REST call toward the late operations
// waiting for After calls, and lands those that are due.
func (s *Sim) countLateCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.late) == 0 {
		return
	}
	s.sync()
	var due []*lateOp
	for _, lo := range s.late {
		switch {
		case lo.after <= 0:
		default:
			lo.after--
			if lo.after == 0 {
				due = append(due, lo)
			}
		}
	}
	for _, lo := range due {
		s.land(lo)
	}
}

// PendingLate lists the operations of late faults that have not landed yet.
func (s *Sim) PendingLate() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sync()
	out := make([]string, 0, len(s.late))
	for _, lo := range s.late {
		out = append(out, lo.op+" "+lo.key)
	}
	return out
}
