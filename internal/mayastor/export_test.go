package mayastor

import "io"

// DecodeBriefPage exposes the page decoder of WalkVolumeBriefs to the benchmarks.
func DecodeBriefPage(r io.Reader) ([]VolumeBrief, *uint64, error) {
	var p briefPage
	err := decodeBriefPage(r, &p)
	return p.entries, p.next, err
}

// DecodeReplicaSpecs is decodeReplicaSpecs for tests.
func DecodeReplicaSpecs(r io.Reader) ([]ReplicaSpec, error) {
	var out []ReplicaSpec
	err := decodeReplicaSpecs(r, &out, nil)
	return out, err
}

// DecodePoolCounts is decodePoolCounts for tests.
func DecodePoolCounts(r io.Reader) (map[string]int, error) {
	counts := map[string]int{}
	err := decodePoolCounts(r, counts, nil)
	return counts, err
}
