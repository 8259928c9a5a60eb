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
}

// OrderOf extracts volumeID's replicas from specs, in map order.
func OrderOf(specs *Specs, volumeID string) ReplicaOrder {
	o := ReplicaOrder{Index: map[string]int{}, Shared: map[string]bool{}, Len: len(specs.Replicas)}
	for i, r := range specs.Replicas {
		if r.Owners.Volume != volumeID {
			continue
		}
		o.Index[r.UUID] = i
		o.Shared[r.UUID] = r.Share != "" && r.Share != ProtocolNone
	}
	return o
}
