package sim

import (
	"time"
)

// State and options of the rules in attach.go, disown.go, late.go, cache.go,
// ha.go, affinity.go, snapshots.go and enospc.go: partial failures, late
// effects, HA, affinity groups, snapshots, ENOSPC. Every field is guarded by
// Sim.mu, like the rest of the model.

// DefaultHAFailoverDelay is how long after its node went down a target is
// moved to another node when HA is enabled and the scenario does not say.
// This is an assumption of the simulator: upstream the HA node agent notices
// the lost path and the HA cluster agent asks the core agent to republish;
// how long that takes depends on NVMe timeouts on the application node.
const DefaultHAFailoverDelay = 30 * time.Second

type extras struct {
	// maxRebuilds is the core agent's --max-rebuilds (0: no limit).
	maxRebuilds int
	// haEnabled is false when the core agent runs with HA disabled.
	haEnabled     bool
	failoverDelay time.Duration
	// ancestryFix says the io-engine nodes carry the NexusRebuildReplicaAncestry fix.
	ancestryFix bool

	// disowned replicas: taken out of their volume by a decrease while their
	// node was offline; destroyed when the node returns.
	disowned []*simReplica

	// replicaGCAt is when the replica garbage collector next runs, if queued
	// (poolreplica.go).
	replicaGCAt time.Time

	late   []*lateOp
	guards map[string]*lateOp // operation guard key → the pending late op holding it

	cache *regCache
}

// volExtras is the part of a volume the rules above need.
type volExtras struct {
	affinityGroup string
	numSnapshots  int
	// failNextAttach, when set, refuses the next attach of a replica to the
	// volume's nexus (FailNextAttach).
	failNextAttach bool
	// failNextRepublish, when set, fails the next republish after the old
	// target was shut down (FailNextRepublish).
	failNextRepublish bool
}

// loadExtras applies the scenario's cluster-wide options.
func (s *Sim) loadExtras(sc *Scenario) {
	s.maxRebuilds = sc.MaxRebuilds
	s.haEnabled = sc.HAEnabled == nil || *sc.HAEnabled
	s.failoverDelay = sc.HAFailoverDelay.Duration
	if s.failoverDelay <= 0 {
		s.failoverDelay = DefaultHAFailoverDelay
	}
	s.ancestryFix = sc.RebuildAncestryFix
	if s.guards == nil {
		s.guards = map[string]*lateOp{}
	}
}

func volExtrasFrom(vs *ScenarioVolume) volExtras {
	return volExtras{affinityGroup: vs.AffinityGroup, numSnapshots: vs.NumSnapshots}
}

// opDone is called at the end of every operation of the REST API (under the
// lock): the registry cache, when enabled, is refreshed.
func (s *Sim) opDone() {
	if s.cache != nil {
		s.refreshCache()
	}
}
