package sim

import (
	"container/heap"
	"time"
)

// The event queue and the lazy clock catch-up of the model.

type eventKind int

const (
	evRebuildDone eventKind = iota
	evRebuildFault
	// evChildWaitOver is the end of a faulted child's faulted_child_wait_period:
	// the reconciler must look at the volume again.
	evChildWaitOver
)

type event struct {
	at    time.Time
	seq   uint64
	kind  eventKind
	vol   *simVolume
	child *simChild
	job   *rebuildJob
	// apply, when set, is the whole event (late operations, HA failover,
	// registry cache refresh, ENOSPC moves: extras.go).
	apply func()
}

type eventQueue struct {
	items []*event
	seq   uint64
}

func (q *eventQueue) Len() int { return len(q.items) }
func (q *eventQueue) Less(i, j int) bool {
	a, b := q.items[i], q.items[j]
	if !a.at.Equal(b.at) {
		return a.at.Before(b.at)
	}
	return a.seq < b.seq
}
func (q *eventQueue) Swap(i, j int) { q.items[i], q.items[j] = q.items[j], q.items[i] }
func (q *eventQueue) Push(x any)    { q.items = append(q.items, x.(*event)) }
func (q *eventQueue) Pop() any {
	n := len(q.items)
	e := q.items[n-1]
	q.items = q.items[:n-1]
	return e
}

func (s *Sim) schedule(e *event) {
	s.events.seq++
	e.seq = s.events.seq
	heap.Push(&s.events, e)
}

// sync advances the model to the clock's present. Callers hold s.mu.
func (s *Sim) sync() {
	now := s.clock.Now()
	if now.Before(s.cur) {
		return // a clock never runs backwards for the model
	}
	for {
		var next time.Time
		have, reconcile := false, false
		if s.events.Len() > 0 {
			next, have = s.events.items[0].at, true
		}
		if len(s.dirty) > 0 {
			rt := s.nextReconcile()
			if !have || rt.Before(next) {
				next, have, reconcile = rt, true, true
			}
		}
		if !have || next.After(now) {
			break
		}
		s.cur = next
		if reconcile {
			s.lastReconcile = next
			changed := s.reconcile()
			if changed {
				s.opDone() // the reconcilers' operations refresh the registry cache too
			}
			if !changed {
				// Nothing can change until the next event: skip idle ticks.
				until := now
				if s.events.Len() > 0 && s.events.items[0].at.Before(until) {
					until = s.events.items[0].at
				}
				s.lastReconcile = s.alignDown(until)
			}
			continue
		}
		e := heap.Pop(&s.events).(*event)
		s.handle(e)
	}
	s.cur = now
}

func (s *Sim) alignDown(t time.Time) time.Time {
	k := t.Sub(s.start) / s.reconcileInterval
	return s.start.Add(k * s.reconcileInterval)
}

// nextReconcile is the first reconcile tick (a multiple of the interval since
// start) not before cur and after the last one run.
func (s *Sim) nextReconcile() time.Time {
	rt := s.alignDown(s.cur)
	if rt.Before(s.cur) {
		rt = rt.Add(s.reconcileInterval)
	}
	if !rt.After(s.lastReconcile) {
		rt = s.lastReconcile.Add(s.reconcileInterval)
	}
	return rt
}

func (s *Sim) handle(e *event) {
	if e.apply != nil {
		e.apply()
		return
	}
	v, c := e.vol, e.child
	if e.kind == evChildWaitOver {
		if v.target != nil && v.target.child(c.replica) == c {
			s.markDirty(v)
		}
		return
	}
	if v.target == nil || v.target.child(c.replica) != c || c.rebuild != e.job {
		return // the job was stopped or superseded
	}
	switch e.kind {
	case evRebuildDone:
		s.completeRebuild(v, c)
	case evRebuildFault:
		c.replica.faulted = true
		s.replicaLost(c.replica)
	}
}
