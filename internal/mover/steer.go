package mover

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"k8s.io/utils/ptr"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// canRepublish: the plan may move the volume target.
func (m *Mover) canRepublish() bool { return m.opts.AllowRepublish && !m.opts.HADisabled }

// forecastInputOf describes v's layout for the forecast. sources are the
// replicas still to move; pending is the current round's new replica ("" at
// the start of a round).
// own are the move's placeholders, depth its GuardDepth.
func forecastInputOf(v *mayastor.Volume, o mayastor.ReplicaOrder, sources []ReplicaRef, pending string, republish bool, own []ReplicaRef, depth int) ForecastInput {
	in := ForecastInput{MapLen: o.Len, Pending: pending, Republish: republish, Placeholders: true, Guard: true, FirstNewLocal: v.State.Target == nil, GuardDepth: depth}
	for _, p := range own {
		if i, ok := o.Unowned[p.ID]; ok {
			in.Own = append(in.Own, i)
		}
	}
	next := o.Len
	for _, id := range replicaIDs(v) {
		r := v.State.ReplicaTopology[id]
		idx, ok := o.Index[id]
		if !ok {
			// Not in the specs read (created since): it is at the end.
			idx = next
			next++
		}
		in.Replicas = append(in.Replicas, ForecastReplica{
			ID:     id,
			Node:   r.Node,
			Source: slices.ContainsFunc(sources, func(s ReplicaRef) bool { return s.ID == id }),
			Local:  v.State.Target != nil && replicaLocal(v, id, r, o),
			Index:  idx,
		})
	}
	in.MapLen = max(in.MapLen, next)
	return in
}

// forecast plans the rest of the move, or refuses with a reason that says
// which layouts cannot be moved and why.
func (m *Mover) forecast(v *mayastor.Volume, o mayastor.ReplicaOrder, sources []ReplicaRef, pending string, own []ReplicaRef) (Forecast, error) {
	id := v.Spec.UUID
	in := forecastInputOf(v, o, sources, pending, m.canRepublish(), own, m.opts.GuardDepth)
	if f, ok := PlanMove(in); ok {
		return f, nil
	}
	local := ""
	for _, r := range in.Replicas {
		if r.Local && r.Source {
			local = r.ID
		}
	}
	why := fmt.Sprintf("with %d replica(s) and %d source replica(s) still to move", len(in.Replicas), len(sources))
	if pending != "" {
		why = fmt.Sprintf("with the new replica %s added, %d replica(s) and %d source replica(s) still to move", pending, len(in.Replicas), len(sources))
	}
	if !in.Republish {
		in.Republish = true
		if _, ok := PlanMove(in); ok {
			switch {
			case m.opts.HADisabled:
				return Forecast{}, refuse(id, ReasonLayoutNotMovable,
					"%s, the move needs the volume target republished (moved to another node), and the control plane refuses republishes while HA is disabled", why)
			case local != "":
				return Forecast{}, refuse(id, ReasonNexusLocalSource,
					"source replica %s is local to the volume target on node %s, and a replica-count decrease never removes the replica local to the target; moving it needs a republish (brief I/O pause), which is not allowed (spec.allowRepublish)", local, nexusNode(v))
			}
			return Forecast{}, refuse(id, ReasonLayoutNotMovable,
				"%s, a decrease would remove a replica already on the target tier unless the volume target is republished (brief I/O pause), which is not allowed (spec.allowRepublish)%s",
				why, localNote(local, v))
		}
	}
	return Forecast{}, refuse(id, ReasonLayoutNotMovable,
		"%s, no order of rounds removes every source without removing a replica already moved, even with placeholder replicas steering the core agent's replica map: the replica map order was changed by another actor, or the layout has more replicas local to the target than one", why)
}

func localNote(local string, v *mayastor.Volume) string {
	if local == "" {
		return ""
	}
	return fmt.Sprintf("; source replica %s is also local to the target on node %s", local, nexusNode(v))
}

// republishTo moves the volume target onto node and verifies it is there.
func (m *Mover) republishTo(ctx context.Context, plan Plan, v *mayastor.Volume, node string) (*mayastor.Volume, error) {
	if !m.canRepublish() {
		return v, refuse(plan.VolumeID, ReasonRepublishRefused, "the plan needs the target moved to node %s, but republishing is not allowed", node)
	}
	body := mayastor.PublishVolumeBody{
		PublishContext: map[string]string{},
		Node:           node,
		Protocol:       m.opts.PublishProtocol,
		Republish:      ptr.To(true),
		ReuseExisting:  ptr.To(false),
	}
	if tg := v.Spec.Target; tg != nil {
		if tg.Protocol != "" {
			body.Protocol = tg.Protocol
		}
		if len(tg.FrontendNodes) > 0 {
			body.FrontendNode = tg.FrontendNodes[0].Name
		}
	}
	// A republish creates a nexus, which a cordoned node refuses: wait for any other move's
	// cordon window to close first, so that none of them blocks the new target.
	if err := m.opts.CordonGate.Lock(ctx); err != nil {
		return v, err
	}
	_, err := m.c.PublishVolume(ctx, plan.VolumeID, body)
	m.opts.CordonGate.Unlock()
	if err != nil {
		if mayastor.IsKind(err, mayastor.ErrorKindFailedPrecondition) {
			return v, refuse(plan.VolumeID, ReasonRepublishRefused, "moving the target to node %s was refused: %v", node, err)
		}
		return v, fmt.Errorf("scale down volume %s: republish onto node %s: %w", plan.VolumeID, node, err)
	}
	after, err := m.c.GetVolume(ctx, plan.VolumeID)
	if err != nil {
		return v, fmt.Errorf("scale down volume %s: verify republish: %w", plan.VolumeID, err)
	}
	if got := nexusNode(after); got != node {
		return after, fmt.Errorf("scale down volume %s: republished target is on node %q, want %s", plan.VolumeID, got, node)
	}
	return after, nil
}

func describeRanking(v *mayastor.Volume, o mayastor.ReplicaOrder) string {
	ranked := RemovalRanking(v, o)
	parts := make([]string, len(ranked))
	for i, id := range ranked {
		r := v.State.ReplicaTopology[id]
		parts[i] = fmt.Sprintf("%s@%s", id, r.Pool)
	}
	return strings.Join(parts, " > ")
}
