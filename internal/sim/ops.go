package sim

import (
	"fmt"
	"net/http"
	"slices"
	"sort"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// The control-plane operations behind the REST v0 endpoints. Each takes the
// lock, catches the model up with the clock, and answers in wire types.

// SetReplicaCount is PUT /v0/volumes/{id}/replica_count/{n}.
func (s *Sim) SetReplicaCount(id string, n int) (mayastor.Volume, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sync()
	defer s.opDone()
	v, ok := s.volumes[id]
	if !ok {
		return mayastor.Volume{}, errVolumeNotFound(id)
	}
	if err := s.guard(volumeKey(id)); err != nil {
		return mayastor.Volume{}, err
	}
	if err := s.setReplicaCount(v, n); err != nil {
		return mayastor.Volume{}, err
	}
	return s.wireVolume(v), nil
}

func (s *Sim) setReplicaCount(v *simVolume, n int) *APIError {
	// The spec's target and the nexus actually running must agree first.
	if v.target != nil && v.servingNexus() == nil {
		return svcError(http.StatusServiceUnavailable, mayastor.ErrorKindUnavailable, "NotReady",
			"Volume Resource id %s needs to be reconciled. Please retry", v.uuid)
	}
	switch {
	case n == v.numReplicas:
		return errPrecondition("ReplicaCountAchieved", "Replica count of Volume '%s' is already '%d'", v.uuid, n)
	case n < 1:
		return errPrecondition("LastReplica", "Cannot remove the last replica '' of volume '%s'", v.uuid)
	case n-v.numReplicas > 1 || v.numReplicas-n > 1:
		return errPrecondition("ReplicaChangeCount", "Replica count only allowed to change by a maximum of one at a time")
	case n > v.numReplicas && v.status() != mayastor.VolumeStatusOnline:
		return errPrecondition("ReplicaIncrease", "Unable to increase replica count due to volume '%s' in state '%s'", v.uuid, v.status())
	}
	if err := s.affinityGroupRule(v, n); err != nil {
		return err
	}
	if err := s.snapshotRule(v, n); err != nil {
		return err
	}
	if n > v.numReplicas {
		pools := s.poolCandidates(v)
		if len(pools) == 0 {
			return errNotEnoughPools(0, 1)
		}
		r := s.createReplica(v, pools[0])
		if nx := v.servingNexus(); nx != nil {
			// An attach refused after the create leaves the replica owned by
			// the volume, not a child, and the count unchanged (attach.go).
			if err := s.attachChecked(v, r); err != nil {
				return err
			}
		}
		v.numReplicas = n
		return nil
	}
	old := v.numReplicas
	v.numReplicas = n
	if r := s.removalCandidate(v); r != nil {
		// On an offline node the replica is disowned and the call fails with
		// the count unchanged (disown.go).
		if err := s.destroyVolumeReplica(r); err != nil {
			v.numReplicas = old
			return err
		}
	}
	// Otherwise upstream treats the desired count as already met: the count
	// changes, and no healthy replica is removed below it.
	s.markDirty(v)
	return nil
}

// PublishRequest is the part of PublishVolumeBody the simulator honours.
type PublishRequest struct {
	Node          string
	Republish     bool
	ReuseExisting bool
	Context       map[string]string
	Protocol      string
}

// Publish is PUT /v0/volumes/{id}/target.
func (s *Sim) Publish(id string, req PublishRequest) (mayastor.Volume, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sync()
	defer s.opDone()
	v, ok := s.volumes[id]
	if !ok {
		return mayastor.Volume{}, errVolumeNotFound(id)
	}
	if err := s.guard(volumeKey(id)); err != nil {
		return mayastor.Volume{}, err
	}
	if err := s.publish(v, req); err != nil {
		return mayastor.Volume{}, err
	}
	return s.wireVolume(v), nil
}

func (s *Sim) publish(v *simVolume, req PublishRequest) *APIError {
	if req.Republish && !s.haEnabled {
		return errSwitchoverWithoutHA() // ha.go
	}
	if req.Protocol != string(mayastor.VolumeShareProtocolNvmf) {
		return errInvalidArgument("Volume %s cannot be shared over invalid protocol '%s'", v.uuid, req.Protocol)
	}
	if v.target != nil && !req.Republish {
		if req.ReuseExisting && (req.Node == "" || req.Node == v.target.node.id) {
			return nil
		}
		return svcError(http.StatusPreconditionFailed, mayastor.ErrorKindAlreadyPublished, "VolumeAlreadyPublished",
			"Volume '%s' is already published on node '%s' with protocol 'Some(Nvmf)'", v.uuid, v.target.node.id)
	}
	if v.target == nil && req.Republish {
		return svcError(http.StatusPreconditionFailed, mayastor.ErrorKindNotPublished, "VolumeNotPublished",
			"Volume '%s' not published", v.uuid)
	}
	var node *simNode
	if req.Node != "" {
		n, ok := s.nodes[req.Node]
		if !ok {
			return errNodeNotFound(req.Node)
		}
		// An explicitly requested node is only checked for being online.
		if !n.online {
			return errPrecondition("NodeNotOnline", "Node '%s' is not online", n.id)
		}
		node = n
	} else {
		node = s.targetNode(v)
		if node == nil {
			return svcError(http.StatusInsufficientStorage, mayastor.ErrorKindResourceExhausted, "NotEnoughResources",
				"Not enough nodes available, 0/1")
		}
	}
	children := s.nexusChildren(v, node)
	if len(children) == 0 {
		return errPrecondition("NoOnlineReplicas", "No online replicas are available for Volume '%s'", v.uuid)
	}
	if v.target != nil {
		// Shut down first; the create may then fail (ha.go).
		if err := s.republishShutdown(v); err != nil {
			return err
		}
	}
	nx := s.openNexus(v, node, children, req.Context)
	s.ioResume(v)
	if len(nx.children) != v.numReplicas || len(v.replicas) != v.numReplicas {
		s.markDirty(v)
	}
	return nil
}

// targetNode chooses where a nexus goes when the caller names no node: an
// online, uncordoned node other than the current target, fewest nexuses
// first; a 1-replica volume is pinned to its replica's node when it can be.
func (s *Sim) targetNode(v *simVolume) *simNode {
	var cands []*simNode
	for _, id := range s.nodeOrder {
		n := s.nodes[id]
		if !n.online || len(n.cordons) > 0 || (v.target != nil && v.target.node == n) {
			continue
		}
		cands = append(cands, n)
	}
	if len(cands) == 0 {
		return nil
	}
	s.rng.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].nexuses < cands[j].nexuses })
	if v.numReplicas == 1 && len(v.replicas) > 0 {
		home := v.replicas[len(v.replicas)-1].node()
		if slices.Contains(cands, home) {
			return home
		}
	}
	return cands[0]
}

// nexusChildren picks the replicas a new nexus on node opens: online ones
// that the persisted NexusInfo deems healthy (all of them if the volume was
// never published), one per node, at most num_replicas.
func (s *Sim) nexusChildren(v *simVolume, node *simNode) []*simReplica {
	var out []*simReplica
	seen := map[*simNode]bool{}
	for _, r := range v.replicas {
		if r.state() != mayastor.ReplicaStateOnline || !v.healthy(r) || seen[r.node()] {
			continue
		}
		seen[r.node()] = true
		out = append(out, r)
	}
	if len(out) > v.numReplicas {
		out = out[:v.numReplicas]
	}
	return out
}

// shutdownTarget destroys v's nexus, keeping NexusInfo (rebuilding children
// stay unhealthy there).
func (s *Sim) shutdownTarget(v *simVolume) {
	nx := v.target
	if nx.shutdown {
		v.target = nil
		return // already shut down by a republish that failed half-way (ha.go)
	}
	s.ioPause(v)
	for _, c := range nx.children {
		s.stopRebuild(v, c, mayastor.RebuildJobStateStopped) // records into nx's history
	}
	v.target = nil
	nx.node.nexuses--
}

// Unpublish is DELETE /v0/volumes/{id}/target.
func (s *Sim) Unpublish(id string, force bool) (mayastor.Volume, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sync()
	defer s.opDone()
	v, ok := s.volumes[id]
	if !ok {
		return mayastor.Volume{}, errVolumeNotFound(id)
	}
	if err := s.guard(volumeKey(id)); err != nil {
		return mayastor.Volume{}, err
	}
	if v.target == nil {
		return mayastor.Volume{}, svcError(http.StatusPreconditionFailed, mayastor.ErrorKindNotPublished,
			"VolumeNotPublished", "Volume '%s' not published", v.uuid)
	}
	if !v.target.node.online && !force {
		return mayastor.Volume{}, errPrecondition("NodeNotOnline", "Node '%s' is not online", v.target.node.id)
	}
	s.shutdownTarget(v)
	return s.wireVolume(v), nil
}

// Cordon is PUT /v0/nodes/{id}/cordon/{label}.
func (s *Sim) Cordon(id, label string) (mayastor.Node, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sync()
	defer s.opDone()
	if err := s.guard(nodeKey(id)); err != nil {
		return mayastor.Node{}, err
	}
	n, err := s.cordon(id, label)
	if err != nil {
		return mayastor.Node{}, err
	}
	return s.wireNode(n), nil
}

func (s *Sim) cordon(id, label string) (*simNode, *APIError) {
	n, ok := s.nodes[id]
	if !ok {
		return nil, errNodeNotFound(id)
	}
	if slices.Contains(n.cordons, label) {
		return nil, errPrecondition("CordonLabel", "Node %s is already cordoned with label '%s'", id, label)
	}
	n.cordons = append(n.cordons, label)
	return n, nil
}

// Uncordon is DELETE /v0/nodes/{id}/cordon/{label}.
func (s *Sim) Uncordon(id, label string) (mayastor.Node, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sync()
	defer s.opDone()
	if err := s.guard(nodeKey(id)); err != nil {
		return mayastor.Node{}, err
	}
	n, err := s.uncordon(id, label)
	if err != nil {
		return mayastor.Node{}, err
	}
	return s.wireNode(n), nil
}

func (s *Sim) uncordon(id, label string) (*simNode, *APIError) {
	n, ok := s.nodes[id]
	if !ok {
		return nil, errNodeNotFound(id)
	}
	i := slices.Index(n.cordons, label)
	if i < 0 {
		return nil, errPrecondition("UncordonLabel", "Node %s does not have a cordon label '%s'", id, label)
	}
	n.cordons = slices.Delete(n.cordons, i, i+1)
	// Volumes waiting for a pool may now heal.
	s.markAllDegraded()
	return n, nil
}

// markAllDegraded queues every published volume short of replicas for the
// self-heal reconciler (after a change that may unblock placement).
func (s *Sim) markAllDegraded() {
	for _, v := range s.volumes {
		if v.target != nil && len(v.target.children) < v.numReplicas {
			s.markDirty(v)
		}
	}
}

// LabelPool is PUT /v0/pools/{id}/label/{key}={value}?overwrite=. A key the
// pool already has is refused without overwrite: 412 when the value differs,
// 422 AlreadyExists when it is the same.
func (s *Sim) LabelPool(id, key, value string, overwrite bool) (mayastor.Pool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sync()
	defer s.opDone()
	p, ok := s.pools[id]
	if !ok {
		return mayastor.Pool{}, errPoolNotFound(id)
	}
	if key == "" {
		return mayastor.Pool{}, errInvalidArgument("Invalid label '%s' for Pool", key)
	}
	if old, exists := p.labels[key]; exists && !overwrite {
		d := fmt.Sprintf("Pool %s is already labelled with labels '{%q: %q}'", id, key, old)
		if old == value {
			return mayastor.Pool{}, &APIError{Status: http.StatusUnprocessableEntity, Kind: mayastor.ErrorKindAlreadyExists,
				Message: "LabelsExists: " + d, Details: d}
		}
		return mayastor.Pool{}, errPrecondition("LabelsExists", "%s", d)
	}
	if p.labels == nil {
		p.labels = map[string]string{}
	}
	p.labels[key] = value
	s.markAllDegraded() // a pool may now match volumes waiting for one
	return s.wirePool(p), nil
}

// UnlabelPool is DELETE /v0/pools/{id}/label/{key}.
func (s *Sim) UnlabelPool(id, key string) (mayastor.Pool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sync()
	defer s.opDone()
	p, ok := s.pools[id]
	if !ok {
		return mayastor.Pool{}, errPoolNotFound(id)
	}
	if key == createdByLabel {
		return mayastor.Pool{}, errInvalidArgument("The label key '%s' cannot be removed from a Pool", key)
	}
	if _, exists := p.labels[key]; !exists {
		return mayastor.Pool{}, errPrecondition("LabelNotFound", "Pool %s doesn't have the label key '%s'", id, key)
	}
	delete(p.labels, key)
	return s.wirePool(p), nil
}

// createdByLabel is the label CSI adds to every volume's pool inclusion and
// the DiskPool operator to every pool; upstream forbids removing it.
const createdByLabel = "openebs.io/created-by"
