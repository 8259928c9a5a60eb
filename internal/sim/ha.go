package sim

import (
	"net/http"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// HA: republish refused without HA, a republish failing half-way, and the
// failover of a target whose node went down.
//
// Upstream (read at c02e0cb):
//   - republish is refused with SwitchoverNotAllowedWhenHAisDisabled when the
//     core agent runs with HA disabled (core/volume/operations.rs:453-456),
//     FailedPrecondition 412 (control-plane/agents/src/common/errors.rs:386-387,
//     1072-1077);
//   - it shuts the old nexus down before creating the new one
//     (core/volume/operations.rs:541-552); when the create fails the spec
//     still names the old target, which is shut down: the volume has no
//     live target;
//   - a nexus created after an unclean shutdown (NexusInfo.clean_shutdown
//     false: the target's node died) opens ONE healthy child
//     (core/volume/scheduling.rs:66-78); the others are attached later by the
//     hot-spare reconciler, each with a full rebuild.
// Not read upstream, assumed here: the HA cluster agent moves a target whose
// node went down (or that a failed republish left shut down) to another
// online, uncordoned node ha_failover_delay after the event (default 30s),
// and retries every ha_failover_delay while it cannot. Without HA the target
// stays on its node until the node returns.

func errSwitchoverWithoutHA() *APIError {
	return errPrecondition("SwitchoverNotAllowedWhenHAisDisabled", "Target switchover is not allowed without HA")
}

// republishShutdown shuts v's target down for a republish. With an injected
// FailNextRepublish the new target is then not created: the target stays
// shut down (the spec still names it) until the HA failover recreates it.
func (s *Sim) republishShutdown(v *simVolume) *APIError {
	if !v.failNextRepublish {
		s.shutdownTarget(v)
		return nil
	}
	v.failNextRepublish = false
	nx := v.target
	s.ioPause(v)
	for _, c := range nx.children {
		s.stopRebuild(v, c, mayastor.RebuildJobStateStopped)
	}
	nx.node.nexuses--
	nx.shutdown = true
	s.scheduleFailover(v)
	return svcError(http.StatusInternalServerError, mayastor.ErrorKindInternal, "NexusCreate",
		"injected failure: the new target of volume '%s' was not created after the old one was shut down", v.uuid)
}

// scheduleFailovers queues an HA failover for every target on node n, which
// just went down.
func (s *Sim) scheduleFailovers(n *simNode) {
	if !s.haEnabled {
		return
	}
	for _, id := range s.volOrder {
		if v := s.volumes[id]; v.target != nil && v.target.node == n {
			s.scheduleFailover(v)
		}
	}
}

func (s *Sim) scheduleFailover(v *simVolume) {
	nx := v.target
	s.schedule(&event{at: s.cur.Add(s.failoverDelay), apply: func() { s.failover(v, nx) }})
}

// failover moves v's target nx, down or shut down, to another node.
func (s *Sim) failover(v *simVolume, nx *simNexus) {
	if v.target != nx || !s.haEnabled {
		return // republished, unpublished or failed over since; or HA turned off
	}
	clean := nx.shutdown
	if !clean && nx.node.online {
		return // the node came back: the target resumed there
	}
	node := s.targetNode(v)
	var children []*simReplica
	if node != nil {
		children = s.nexusChildren(v, node)
	}
	if len(children) == 0 {
		s.scheduleFailover(v) // nowhere to go yet: retry
		return
	}
	if !clean {
		// Unclean shutdown: the new nexus opens one healthy child
		// (volume/scheduling.rs:66-78); which one follows the candidate
		// order here (upstream's candidate sort not reproduced).
		children = children[:1]
	}
	if !nx.shutdown {
		nx.node.nexuses--
	}
	s.ioPause(v)
	// The new nexus's NexusInfo knows only its children (openNexus): every
	// other replica counts as unhealthy from now on; shares follow the new node.
	s.openNexus(v, node, children, nx.context)
	s.ioResume(v)
	s.markDirty(v) // hot spare attaches the others, each with a full rebuild
}

// SetHAEnabled turns the core agent's HA on or off. Turned on, targets that
// are down are failed over after ha_failover_delay.
func (s *Sim) SetHAEnabled(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sync()
	if s.haEnabled == on {
		return
	}
	s.haEnabled = on
	if !on {
		return
	}
	for _, id := range s.volOrder {
		v := s.volumes[id]
		if v.target != nil && (v.target.shutdown || !v.target.node.online) {
			s.scheduleFailover(v)
		}
	}
}

// HAEnabled says whether HA is on.
func (s *Sim) HAEnabled() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.haEnabled
}

// FailNextRepublish makes the next republish of the volume fail half-way:
// the old target is shut down, the new one is not created (500), and the
// volume has no live target until the HA failover recreates it.
func (s *Sim) FailNextRepublish(volumeID string) error {
	return s.updateVolume(volumeID, func(v *simVolume) { v.failNextRepublish = true })
}
