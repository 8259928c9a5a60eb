package tiering

import (
	"slices"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// ObserveVolume reduces a Mayastor volume to what a decision reads, so a walk keeps no wire
// struct. Replica pools are sorted (the topology is a map).
func ObserveVolume(v *mayastor.Volume) VolumeObservation {
	o := VolumeObservation{
		ID: v.Spec.UUID, SizeBytes: v.Spec.Size, NumReplicas: int(v.Spec.NumReplicas),
		Published: v.State.Target != nil, Healthy: v.State.Status == mayastor.VolumeStatusOnline,
		Snapshots: int(v.Spec.NumSnapshots),
	}
	if v.Spec.AffinityGroup != nil {
		o.AffinityGroup = v.Spec.AffinityGroup.ID
	}
	if n := len(v.State.ReplicaTopology); n > 0 {
		o.ReplicaPools = make([]string, 0, n)
		for _, r := range v.State.ReplicaTopology {
			o.ReplicaPools = append(o.ReplicaPools, r.Pool)
		}
		slices.Sort(o.ReplicaPools)
	}
	return o
}

// ObservePool reduces a Mayastor pool to what a decision reads; labels are the pool's spec
// labels (pass others, e.g. merged with the DiskPool's own, by setting Labels afterwards).
func ObservePool(p *mayastor.Pool) PoolObservation {
	o := PoolObservation{ID: p.ID}
	if p.Spec != nil {
		o.Labels, o.Node = p.Spec.Labels, p.Spec.Node
	}
	if s := p.State; s != nil {
		o.Online = s.Status == mayastor.PoolStatusOnline
		o.CapacityBytes, o.UsedBytes = s.Capacity, s.Used
		if s.Node != "" {
			o.Node = s.Node
		}
	}
	return o
}
