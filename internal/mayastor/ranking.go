package mayastor

// removalCandidates are the replicas a decrease may remove, as far as the
// REST state shows the core agent's ranking: unhealthy first, then by child
// state (Faulted, Unknown, Degraded, Online), then remote before the
// nexus-local replica; ties are unpredictable, so all tied replicas are
// candidates.
func removalCandidates(v *Volume) []string {
	type key struct{ healthy, child, local int }
	childRank := map[ChildState]int{ChildStateFaulted: 0, ChildStateUnknown: 1, ChildStateDegraded: 2, ChildStateOnline: 3}
	nn := nexusNode(v)
	published := v.State.Target != nil
	rank := func(r ReplicaTopology) key {
		k := key{healthy: 1, child: 3}
		if r.State != ReplicaStateOnline || r.RebuildProgress != nil || published && r.ChildStatus != ChildStateOnline {
			k.healthy = 0
		}
		if published {
			c, ok := childRank[r.ChildStatus]
			if !ok {
				c = 1
			}
			k.child = c
		}
		if nn != "" && r.Node == nn {
			k.local = 1
		}
		return k
	}
	less := func(a, b key) bool {
		if a.healthy != b.healthy {
			return a.healthy < b.healthy
		}
		if a.child != b.child {
			return a.child < b.child
		}
		return a.local < b.local
	}
	var best *key
	var out []string
	for _, id := range replicaIDs(v) {
		k := rank(v.State.ReplicaTopology[id])
		switch {
		case best == nil || less(k, *best):
			best, out = &k, []string{id}
		case !less(*best, k):
			out = append(out, id)
		}
	}
	return out
}
