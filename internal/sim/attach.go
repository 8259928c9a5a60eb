package sim

import (
	"net/http"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// An attach that fails after the replica was created.
//
// Upstream (read at c02e0cb): an increase creates the replica, then attaches
// it to the volume's nexus (core/volume/operations_helper.rs:175-204). The
// attach first asks rebuild_allowed (core/nexus/operations_helper.rs:26-46),
// which refuses with MaxRebuilds while the cluster-wide count of running
// rebuilds has reached --max-rebuilds (core/controller/registry.rs:480-495).
// MaxRebuilds is ResourceExhausted, HTTP 507
// (control-plane/agents/src/common/errors.rs:298-302, 897-902). The update
// step fails, so complete_update does not commit the new num_replicas, but the
// replica already created stays owned by the volume, not a nexus child.

// runningRebuilds counts the rebuilds the nodes report: every rebuilding
// child of a target whose node is up.
func (s *Sim) runningRebuilds() int {
	n := 0
	for _, v := range s.volumes {
		if nx := v.servingNexus(); nx != nil {
			for _, c := range nx.children {
				if c.rebuild != nil {
					n++
				}
			}
		}
	}
	return n
}

// rebuildAllowed is upstream's rebuild_allowed (registry.rs:480-495).
func (s *Sim) rebuildAllowed() *APIError {
	if s.maxRebuilds > 0 && s.runningRebuilds() >= s.maxRebuilds {
		return svcError(http.StatusInsufficientStorage, mayastor.ErrorKindResourceExhausted, "MaxRebuilds",
			"Unable to start rebuild. Maximum number of rebuilds permitted is %d", s.maxRebuilds)
	}
	return nil
}

// attachChecked attaches r to v's serving nexus unless the attach is refused
// (max_rebuilds, or an injected FailNextAttach). On refusal r stays a replica
// of v that is not a child, and v is queued for the reconcilers.
func (s *Sim) attachChecked(v *simVolume, r *simReplica) *APIError {
	if v.failNextAttach {
		v.failNextAttach = false
		s.markDirty(v)
		// Shaped as upstream's MaxRebuilds refusal, the attach failure a
		// caller meets in practice.
		return svcError(http.StatusInsufficientStorage, mayastor.ErrorKindResourceExhausted, "MaxRebuilds",
			"Unable to start rebuild (injected attach failure of volume %s)", v.uuid)
	}
	if err := s.rebuildAllowed(); err != nil {
		s.markDirty(v)
		return err
	}
	s.attach(v, r)
	return nil
}

// FailNextAttach makes the next attach of a replica to the volume's nexus
// fail after the replica was created (as max_rebuilds would): the increase
// answers 507, the new replica stays owned by the volume but is not a child,
// and num_replicas is unchanged.
func (s *Sim) FailNextAttach(volumeID string) error {
	return s.updateVolume(volumeID, func(v *simVolume) { v.failNextAttach = true })
}

// SetMaxRebuilds changes the cluster-wide --max-rebuilds (0: no limit).
func (s *Sim) SetMaxRebuilds(n int) error {
	if n < 0 {
		return errInvalidArgument("max_rebuilds must not be negative, got %d", n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sync()
	s.maxRebuilds = n
	s.markAllDegraded()
	return nil
}
