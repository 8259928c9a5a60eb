package sim

import (
	"time"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// Nexus children: attaching, rebuilding and losing them.

func (s *Sim) rebuildDuration(size int64) time.Duration {
	return time.Duration(float64(size) / float64(s.rebuildBandwidth) * float64(time.Second))
}

// shareFor is the share a replica spec gets when a nexus on node opens it as
// a child: unshared (loopback bdev) on the nexus's own node, shared over nvmf
// from any other (make_replica_accessible, core/nexus/operations_helper.rs:131-171,
// read upstream).
func shareFor(r *simReplica, node *simNode) mayastor.Protocol {
	if r.node() == node {
		return mayastor.ProtocolNone
	}
	return mayastor.ProtocolNvmf
}

// attach adds r to v's nexus as a child and starts its full rebuild.
func (s *Sim) attach(v *simVolume, r *simReplica) {
	nx := v.target
	r.share = shareFor(r, nx.node)
	c := &simChild{replica: r, state: mayastor.ChildStateDegraded}
	nx.children = append(nx.children, c)
	if v.nexusInfo == nil {
		v.nexusInfo = map[string]bool{}
	}
	v.nexusInfo[r.uuid] = false
	s.startRebuild(v, c, v.size, false)
}

// startRebuild starts a rebuild of child c copying bytes (the whole volume
// for a full rebuild, the I/O log's share of it for a partial one).
func (s *Sim) startRebuild(v *simVolume, c *simChild, bytes int64, partial bool) {
	nx := v.target
	src := ""
	for _, o := range nx.children {
		if o != c && childState(o) == mayastor.ChildStateOnline {
			src = o.replica.uri(nx.node)
			break
		}
	}
	c.state = mayastor.ChildStateDegraded
	job := &rebuildJob{start: s.cur, end: s.cur.Add(s.rebuildDuration(bytes)), srcURI: src,
		partial: partial, bytes: bytes}
	c.rebuild = job
	s.schedule(&event{at: job.end, kind: evRebuildDone, vol: v, child: c, job: job})
	if v.faultNextRebuild >= 0 {
		job.faultAt = job.start.Add(time.Duration(float64(job.end.Sub(job.start)) * v.faultNextRebuild))
		v.faultNextRebuild = -1
		s.schedule(&event{at: job.faultAt, kind: evRebuildFault, vol: v, child: c, job: job})
	}
}

func (s *Sim) completeRebuild(v *simVolume, c *simChild) {
	job := c.rebuild
	c.rebuild = nil
	c.state = mayastor.ChildStateOnline
	c.faultedAt, c.ioLog = time.Time{}, false
	v.nexusInfo[c.replica.uuid] = true
	// The data plane rebuilds fully: a thin replica ends fully allocated.
	c.replica.setAllocated(v.size)
	s.record(v, c, job, mayastor.RebuildJobStateCompleted, job.bytes)
	// A healthy child more may let the hot spare reconciler act (an excess
	// child the healthy-replica guard protected until now).
	s.markDirty(v)
}

// stopRebuild ends c's running rebuild with state st, if there is one.
func (s *Sim) stopRebuild(v *simVolume, c *simChild, st mayastor.RebuildJobState) {
	job := c.rebuild
	if job == nil {
		return
	}
	c.rebuild = nil
	done := job.bytes * int64(job.progress(s.cur)) / 100
	s.record(v, c, job, st, done)
}

func (s *Sim) record(v *simVolume, c *simChild, job *rebuildJob, st mayastor.RebuildJobState, done int64) {
	v.target.history = append(v.target.history, rebuildRecord{
		childURI: c.replica.uri(v.target.node), srcURI: job.srcURI, state: st, partial: job.partial,
		bytesTotal: job.bytes, bytesDone: done, start: job.start, end: s.cur,
	})
}

// replicaLost reacts to r becoming unreachable or faulted: its nexus child
// faults (and stays in the nexus as Faulted until the reconciler handles it),
// a running rebuild fails, and NexusInfo marks it unhealthy. A child that was
// in sync (Online, no rebuild) keeps an I/O log: it may be partially rebuilt
// if its replica returns within faulted_child_wait_period.
func (s *Sim) replicaLost(r *simReplica) {
	v := r.volume
	if v.target != nil {
		if c := v.target.child(r); c != nil && c.state != mayastor.ChildStateFaulted {
			c.ioLog = c.state == mayastor.ChildStateOnline && c.rebuild == nil
			s.stopRebuild(v, c, mayastor.RebuildJobStateFailed)
			c.state = mayastor.ChildStateFaulted
			c.faultedAt = s.cur
			if v.nexusInfo != nil {
				v.nexusInfo[r.uuid] = false
			}
			if c.ioLog {
				s.schedule(&event{at: c.faultedAt.Add(s.faultedChildWait), kind: evChildWaitOver, vol: v, child: c})
			}
		}
	}
	s.markDirty(v)
}

func (s *Sim) markDirty(v *simVolume) { s.dirty[v] = struct{}{} }
