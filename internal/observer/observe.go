package observer

import (
	"slices"

	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/tiering"
)

// ObserveVolume reduces a Mayastor volume to what a decision reads, so a walk keeps no wire
// struct. Replica pools are sorted (the topology is a map).
func ObserveVolume(v *mayastor.Volume) tiering.VolumeObservation {
	return ObserveBrief(mayastor.BriefOf(v))
}

// ObserveBrief is ObserveVolume from a volume decoded as a brief; it takes b's ReplicaPools and
// sorts them.
func ObserveBrief(b mayastor.VolumeBrief) tiering.VolumeObservation {
	o := tiering.VolumeObservation{
		ID: b.UUID, SizeBytes: b.Size, NumReplicas: b.NumReplicas, Published: b.Published, Healthy: b.Online,
		Snapshots: b.NumSnapshots, AffinityGroup: b.AffinityGroup, ReplicaPools: b.ReplicaPools,
	}
	slices.Sort(o.ReplicaPools)
	return o
}

// ObservePool reduces a Mayastor pool to what a decision reads; labels are the pool's spec
// labels (pass others, e.g. merged with the DiskPool's own, by setting Labels afterwards).
func ObservePool(p *mayastor.Pool) tiering.PoolObservation {
	o := tiering.PoolObservation{ID: p.ID}
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
