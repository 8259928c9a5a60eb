package mayastor

// ReplicaOrder is where one volume's replicas sit in the core agent's global
// replica map, read from GET /v0/specs.
type ReplicaOrder struct {
	// Index is each replica's position in the map (0 first).
	Index map[string]int
	// Len is the number of replicas in the whole map (every volume's).
	Len int
	// Shared says whether a replica's spec is shared (share != none). A
	// replica missing here is treated by node: local when on the nexus node.
	Shared map[string]bool
	// Tail is the uuid of the map's last entry: the one a removal anywhere
	// in the map moves into the freed slot (swap_remove).
	Tail string
	// TailVolume is the volume owning Tail ("" when it belongs to none).
	TailVolume string
	// BeforeTail is the uuid of the entry just ahead of Tail: the map's last
	// entry once Tail is moved away by a removal.
	BeforeTail string
	// Unowned are the replicas that belong to no volume (created on a pool
	// through PUT /v0/pools/{pool}/replicas/{id}), by uuid, with their position.
	Unowned map[string]int
}

// OrderOf extracts volumeID's replicas from specs, in map order.
func OrderOf(specs *Specs, volumeID string) ReplicaOrder {
	o := ReplicaOrder{Index: map[string]int{}, Shared: map[string]bool{}, Len: len(specs.Replicas), Unowned: map[string]int{}}
	if n := len(specs.Replicas); n > 0 {
		o.Tail, o.TailVolume = specs.Replicas[n-1].UUID, specs.Replicas[n-1].Owners.Volume
		if n > 1 {
			o.BeforeTail = specs.Replicas[n-2].UUID
		}
	}
	for i, r := range specs.Replicas {
		if r.Owners.Volume != volumeID {
			if r.Owners.Volume == "" && !r.Managed {
				o.Unowned[r.UUID] = i
			}
			continue
		}
		o.Index[r.UUID] = i
		o.Shared[r.UUID] = r.Share != "" && r.Share != ProtocolNone
	}
	return o
}
